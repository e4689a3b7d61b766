//! Snapshots: a frozen fixture of format version 1 stays in
//! `tests/fixtures/snapshot-v1.bin`; it must keep importing into a working
//! store, and exporting that store must give back the same records.
//!
//! The fixture was written by `write_snapshot_fixture` (ignored; run it with
//! `cargo test --test it snapshot:: -- --ignored` only when the format changes,
//! together with a new version number).

use crate::common::{sku, START};
use mercato::clock::ManualClock;
use mercato::engine::{BucketKey, CartId, GeoPoint, HoldStatus, ReservationId, Warehouse, WarehouseId};
use mercato::http::product_dto::ProductBody;
use mercato::store::snapshot::{self, SnapshotPayload};
use mercato::store::{Store, StoreConfig};
use mercato::{Config, Durability, Mercato, ReserveRequest, StockUpdate};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CENTURY_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot-v1.bin")
}

fn open_at_start(dir: &Path) -> Mercato {
    let mut config = Config::new(dir).durability(Durability::Strict).clock(Arc::new(ManualClock::new(START)));
    config.reservation_ttl_max_ms = CENTURY_MS;
    Mercato::open(config).unwrap()
}

#[tokio::test]
#[ignore = "writes the frozen fixture; run only when the snapshot format changes"]
async fn write_snapshot_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = open_at_start(dir.path());
    let warehouse =
        Warehouse::new(WarehouseId::parse("W-FIX").unwrap(), "Fixture", GeoPoint { lat: 1.0, lon: 2.0 }, "US-NJ");
    mercato.inventory().create_warehouse(warehouse.unwrap()).await.unwrap();
    let product: ProductBody = serde_json::from_value(serde_json::json!({
        "id": "P-FIX", "title": "Fixture Kettle", "brand": "Fixco", "category": ["Home", "Kitchen", "Kettles"],
        "variants": [
            {"sku": "FIX-1", "options": {"color": "Steel"}, "price": {"cents": 1999, "currency": "USD"}, "weight_grams": 900},
            {"sku": "FIX-2", "options": {"color": "Red"}, "price": {"cents": 2199, "currency": "USD"}, "weight_grams": 900}
        ]
    }))
    .unwrap();
    mercato.catalog().create_product(product.parse().unwrap().draft).await.unwrap();
    let bucket = BucketKey::new(sku("FIX-1"), WarehouseId::parse("W-FIX").unwrap());
    mercato.inventory().set_stock(bucket, StockUpdate { on_hand: Some(10), safety_stock: Some(1) }).await.unwrap();
    let held = ReservationId::parse("res_fix_held").unwrap();
    mercato.inventory().reserve(ReserveRequest::new(sku("FIX-1"), 3).id(held).ttl_ms(CENTURY_MS)).await.unwrap();
    let sold = ReservationId::parse("res_fix_sold").unwrap();
    mercato
        .inventory()
        .reserve(ReserveRequest::new(sku("FIX-1"), 1).id(sold.clone()).ttl_ms(CENTURY_MS))
        .await
        .unwrap();
    mercato.inventory().commit(&sold).await.unwrap();
    let cart = CartId::parse("cart_fix").unwrap();
    mercato.carts().open(&cart).await.unwrap();
    mercato.carts().add(&cart, sku("FIX-1"), 2).await.unwrap();
    mercato.carts().add(&cart, sku("FIX-2"), 1).await.unwrap();
    mercato.carts().save_for_later(&cart, sku("FIX-2")).await.unwrap();
    mercato.customers().register("fix@example.com", "fixture password", "Fixture Buyer").await.unwrap();
    mercato.shutdown().await.unwrap();
    drop(mercato);
    mercato::snapshot::export(dir.path(), &fixture_path(), &ManualClock::new(START)).unwrap();
}

#[tokio::test]
async fn the_frozen_fixture_imports_into_a_working_store_and_exports_back_unchanged() {
    let fixture = std::fs::read(fixture_path()).unwrap();
    let payload = snapshot::decode(&fixture).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = mercato::snapshot::import(&fixture_path(), dir.path()).await.unwrap();
    assert_eq!((report.buckets, report.holds_active, report.holds_settled), (1, 1, 1));

    let store = Store::open(&StoreConfig {
        path: dir.path().to_path_buf(),
        durability: Durability::Strict,
        cache_capacity_bytes: 8 << 20,
    })
    .unwrap();
    let records = store.export_records().unwrap();
    store.close().unwrap();
    drop(store);
    assert_eq!(records, payload.records, "import then export gives back the same records");
    let again = SnapshotPayload { records, ..payload.clone() };
    assert_eq!(snapshot::encode(&again).unwrap(), fixture, "and the same bytes");

    let mercato = open_at_start(dir.path());
    assert!(mercato.inventory().warehouse(&WarehouseId::parse("W-FIX").unwrap()).is_some());
    let product = mercato.catalog().product(&mercato::engine::ProductId::parse("P-FIX").unwrap()).unwrap();
    assert_eq!((product.title.as_str(), product.variants.len()), ("Fixture Kettle", 2));
    let counts = mercato.inventory().levels(&sku("FIX-1")).await.unwrap().totals;
    assert_eq!(
        (counts.on_hand, counts.held, counts.committed, counts.safety_stock, counts.available),
        (10, 3, 1, 1, 5)
    );
    let held = mercato.inventory().reservation(&ReservationId::parse("res_fix_held").unwrap()).await.unwrap();
    assert_eq!(held.status, HoldStatus::Held);
    let sold = mercato.inventory().reservation(&ReservationId::parse("res_fix_sold").unwrap()).await.unwrap();
    assert_eq!(sold.status, HoldStatus::Committed);
    let cart = mercato.carts().get(&CartId::parse("cart_fix").unwrap()).await.unwrap();
    assert_eq!((cart.lines.len(), cart.saved.len(), cart.item_count), (1, 1, 2));
    let (_, customer) = mercato.customers().sign_in("FIX@example.com", "fixture password").await.unwrap();
    assert_eq!(customer.name, "Fixture Buyer");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_import_refuses_a_corrupt_file_and_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut corrupt = std::fs::read(fixture_path()).unwrap();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x55;
    let corrupt_path = dir.path().join("corrupt.bin");
    std::fs::write(&corrupt_path, corrupt).unwrap();
    let target = dir.path().join("data");
    let refused = mercato::snapshot::import(&corrupt_path, &target).await;
    assert!(matches!(refused, Err(mercato::Error::Snapshot(snapshot::SnapshotError::BadChecksum))), "{refused:?}");

    mercato::snapshot::import(&fixture_path(), &target).await.unwrap();
    let twice = mercato::snapshot::import(&fixture_path(), &target).await;
    assert!(matches!(twice, Err(mercato::Error::Snapshot(snapshot::SnapshotError::NotEmpty))), "{twice:?}");
}

/// A guest cart of a data directory made before carts recorded the day
/// they were used is stamped by the first sweep, and deleted 30 idle days
/// later like any other; opening the directory alone changes nothing.
#[tokio::test]
async fn guest_carts_of_older_data_are_swept_after_the_idle_time_too() {
    let dir = tempfile::tempdir().unwrap();
    mercato::snapshot::import(&fixture_path(), dir.path()).await.unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let mut config = Config::new(dir.path()).durability(Durability::Strict).clock(clock.clone());
    config.reservation_ttl_max_ms = CENTURY_MS;
    let mercato = Mercato::open(config).unwrap();
    let guest = CartId::parse("cart_fix").unwrap();
    assert!(mercato.carts().exists(&guest));
    assert_eq!(mercato.sweep().await.unwrap().guest_carts, 0, "stamped as used today");
    clock.advance_millis(31 * 24 * 3_600_000);
    assert_eq!(mercato.sweep().await.unwrap().guest_carts, 1);
    assert!(!mercato.carts().exists(&guest));
    mercato.shutdown().await.unwrap();
}
