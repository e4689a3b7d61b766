//! Carts through the `Mercato` handle: every operation, limits, merge,
//! durability across reopen, passivation and supervision.

use crate::common::{self, open_manual, open_passivating, sku};
use mercato::domains::carts::actor::CartSnapshot;
use mercato::engine::{CartError, CartId, CartList};
use mercato::{Durability, Error};
use std::time::Duration;

/// Every SKU these tests put in carts ("NOT-THERE" is never for sale).
fn skus_sold() -> Vec<String> {
    let named = ["A", "B", "C", "D", "M", "Z", "ONE-TOO-MANY"].map(str::to_owned);
    let lines = (1..200).map(|n| format!("L-{n}"));
    let racing = (0..50).map(|n| format!("R-{n}")).chain((0..4).map(|n| format!("S-{n}")));
    named.into_iter().chain(lines).chain(racing).collect()
}

/// An engine on a manual clock whose catalog sells [`skus_sold`].
async fn open_selling(dir: &std::path::Path) -> (mercato::Mercato, std::sync::Arc<mercato::clock::ManualClock>) {
    let (mercato, clock) = open_manual(dir, Durability::Strict);
    common::for_sale(&mercato, &skus_sold()).await;
    (mercato, clock)
}

fn quantities(lines: &[mercato::engine::CartLine]) -> Vec<(String, u32)> {
    lines.iter().map(|line| (line.sku.to_string(), line.quantity)).collect()
}

fn pairs(raw: &[(&str, u32)]) -> Vec<(String, u32)> {
    raw.iter().map(|(sku, quantity)| (sku.to_string(), *quantity)).collect()
}

#[tokio::test]
async fn every_cart_operation_changes_exactly_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let cart = mercato.carts().create().await.unwrap();
    assert!(cart.id.as_str().starts_with("cart_") && cart.id.as_str().len() == 37, "unguessable id: {}", cart.id);
    let id = cart.id;
    mercato.carts().add(&id, sku("A"), 2).await.unwrap();
    mercato.carts().add(&id, sku("B"), 1).await.unwrap();
    let view = mercato.carts().add(&id, sku("A"), 3).await.unwrap();
    assert_eq!(quantities(&view.lines), pairs(&[("A", 5), ("B", 1)]));
    assert_eq!(view.item_count, 6);
    let view = mercato.carts().set_quantity(&id, sku("B"), 4).await.unwrap();
    assert_eq!(quantities(&view.lines), pairs(&[("A", 5), ("B", 4)]));
    let view = mercato.carts().save_for_later(&id, sku("A")).await.unwrap();
    assert_eq!((quantities(&view.lines), quantities(&view.saved)), (pairs(&[("B", 4)]), pairs(&[("A", 5)])));
    let view = mercato.carts().move_to_cart(&id, sku("A")).await.unwrap();
    assert_eq!((quantities(&view.lines), view.saved.len()), (pairs(&[("B", 4), ("A", 5)]), 0));
    let view = mercato.carts().remove(&id, sku("B")).await.unwrap();
    assert_eq!(quantities(&view.lines), pairs(&[("A", 5)]));
    let view = mercato.carts().set_quantity(&id, sku("A"), 0).await.unwrap();
    assert!(view.lines.is_empty());
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn limits_are_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let id = mercato.carts().create().await.unwrap().id;
    mercato.carts().add(&id, sku("A"), 998).await.unwrap();
    let over = mercato.carts().add(&id, sku("A"), 2).await;
    assert!(matches!(over, Err(Error::Cart(CartError::LineQuantityExceeded { requested: 1000, max: 999, .. }))));
    assert!(matches!(mercato.carts().add(&id, sku("B"), 0).await, Err(Error::Cart(CartError::InvalidQuantity { .. }))));
    assert!(matches!(
        mercato.carts().add(&id, sku("B"), 1000).await,
        Err(Error::Cart(CartError::InvalidQuantity { .. }))
    ));
    for n in 1..200 {
        mercato.carts().add(&id, sku(&format!("L-{n}")), 1).await.unwrap();
    }
    let full = mercato.carts().add(&id, sku("ONE-TOO-MANY"), 1).await;
    assert!(matches!(full, Err(Error::Cart(CartError::TooManyLines { list: CartList::Lines, max: 200 }))));
    let missing = mercato.carts().remove(&id, sku("NOT-THERE")).await;
    assert!(matches!(missing, Err(Error::Cart(CartError::LineNotFound { .. }))));
    let view = mercato.carts().get(&id).await.unwrap();
    assert_eq!(view.lines.len(), 200);
    assert_eq!(view.lines[0].quantity, 998);
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_cart_is_not_found_until_opened() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let id = CartId::parse("cart_customer_7").unwrap();
    assert_eq!(mercato.carts().get(&id).await, Err(Error::CartNotFound(id.clone())));
    assert_eq!(mercato.carts().add(&id, sku("A"), 1).await, Err(Error::CartNotFound(id.clone())));
    mercato.carts().open(&id).await.unwrap();
    mercato.carts().add(&id, sku("A"), 1).await.unwrap();
    assert_eq!(mercato.carts().open(&id).await.unwrap().item_count, 1, "opening again keeps the lines");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn merging_a_guest_cart_adds_quantities_caps_them_and_empties_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let guest = mercato.carts().create().await.unwrap().id;
    let customer = CartId::parse("cart_customer_1").unwrap();
    mercato.carts().open(&customer).await.unwrap();
    mercato.carts().add(&customer, sku("A"), 900).await.unwrap();
    mercato.carts().add(&customer, sku("B"), 1).await.unwrap();
    mercato.carts().add(&guest, sku("A"), 200).await.unwrap();
    mercato.carts().add(&guest, sku("C"), 2).await.unwrap();
    mercato.carts().add(&guest, sku("D"), 1).await.unwrap();
    mercato.carts().save_for_later(&guest, sku("D")).await.unwrap();

    let merged = mercato.carts().merge(&guest, &customer).await.unwrap();
    assert_eq!(quantities(&merged.lines), pairs(&[("A", 999), ("B", 1), ("C", 2)]));
    assert_eq!(quantities(&merged.saved), pairs(&[("D", 1)]));
    let guest_view = mercato.carts().get(&guest).await.unwrap();
    assert!(guest_view.lines.is_empty() && guest_view.saved.is_empty());
    let again = mercato.carts().merge(&guest, &customer).await.unwrap();
    assert_eq!(quantities(&again.lines), quantities(&merged.lines), "merging an empty guest changes nothing");
    assert!(matches!(mercato.carts().merge(&customer, &customer).await, Err(Error::InvalidInput(_))));
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn cart_lines_survive_a_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let before: CartSnapshot;
    {
        let (mercato, _clock) = open_selling(dir.path()).await;
        let id = CartId::parse("cart_durable").unwrap();
        mercato.carts().open(&id).await.unwrap();
        for (name, quantity) in [("Z", 1), ("A", 2), ("M", 3)] {
            mercato.carts().add(&id, sku(name), quantity).await.unwrap();
        }
        mercato.carts().save_for_later(&id, sku("A")).await.unwrap();
        before = mercato.carts().get(&id).await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    let (mercato, _clock) = open_selling(dir.path()).await;
    let after = mercato.carts().get(&before.id).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(quantities(&after.lines), pairs(&[("Z", 1), ("M", 3)]));
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_passivated_or_killed_cart_actor_comes_back_with_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = open_passivating(dir.path(), Duration::from_millis(40));
    common::for_sale(&mercato, &skus_sold()).await;
    let id = mercato.carts().create().await.unwrap().id;
    mercato.carts().add(&id, sku("A"), 3).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while mercato.stats().carts.passivations == 0 {
        assert!(std::time::Instant::now() < deadline, "the idle cart never passivated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(quantities(&mercato.carts().get(&id).await.unwrap().lines), pairs(&[("A", 3)]));
    mercato.carts().crash_actor(&id).await.unwrap();
    let view = mercato.carts().add(&id, sku("A"), 1).await.unwrap();
    assert_eq!(quantities(&view.lines), pairs(&[("A", 4)]));
    assert_eq!(mercato.stats().carts.restarts, 1);
    mercato.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_to_one_cart_lose_no_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let id = mercato.carts().create().await.unwrap().id;
    let mut tasks = Vec::new();
    for n in 0..400u32 {
        let mercato = mercato.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move { mercato.carts().add(&id, sku(&format!("S-{}", n % 4)), 2).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let view = mercato.carts().get(&id).await.unwrap();
    assert_eq!(view.item_count, 800);
    assert!(view.lines.iter().all(|line| line.quantity == 200));
    mercato.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_messages_activate_exactly_one_actor() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let id = CartId::parse("cart_contended").unwrap();
    let before = mercato.stats().carts.activations;
    let mut tasks = Vec::new();
    for n in 0..500u32 {
        let mercato = mercato.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            mercato.carts().open(&id).await?;
            mercato.carts().add(&id, sku(&format!("R-{}", n % 50)), 1).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(mercato.stats().carts.activations - before, 1, "one live activation per key");
    assert_eq!(mercato.carts().get(&id).await.unwrap().item_count, 500, "no add went to a second activation");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_embedded_cart_is_priced_as_the_http_view_prices_it() {
    use mercato::engine::{BucketKey, Currency, Money, WarehouseId};
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let body = serde_json::json!({"id": "P-A", "title": "Item A", "category": ["Test"],
        "variants": [{"sku": "A", "price": {"cents": 1250, "currency": "USD"}}]});
    let parsed: mercato::http::product_dto::ProductBody = serde_json::from_value(body).unwrap();
    mercato.catalog().upsert_products(vec![parsed.parse().unwrap().draft]).await.unwrap().remove(0).unwrap();
    let bucket = BucketKey::new(sku("A"), WarehouseId::parse("W-1").unwrap());
    mercato.inventory().set_stock(bucket, mercato::StockUpdate::on_hand(2)).await.unwrap();
    let id = mercato.carts().create().await.unwrap().id;
    mercato.carts().add(&id, sku("A"), 2).await.unwrap();
    // A line whose SKU then leaves the catalog (its product sells another now).
    common::on_sale(&mercato, &["GONE"]).await;
    mercato.carts().add(&id, sku("GONE"), 1).await.unwrap();
    let draft = common::draft("P-GONE", "GONE-NEXT");
    mercato.catalog().upsert_products(vec![draft]).await.unwrap().remove(0).unwrap();
    assert!(mercato.catalog().product_of(&sku("GONE")).is_none());

    let priced = mercato.carts().priced(&id).await.unwrap();
    assert_eq!(priced.subtotal, Money::new(2500, Currency::USD));
    assert_eq!(priced.item_count, 3);
    let first = &priced.lines[0];
    assert_eq!(
        (first.product_id.as_ref().map(|id| id.as_str()), first.title.as_deref()),
        (Some("P-A"), Some("Item A"))
    );
    assert_eq!((first.unit_price, first.available), (Some(Money::new(1250, Currency::USD)), true));
    assert_eq!((priced.lines[1].unit_price, priced.lines[1].available), (None, false), "not in the catalog");
    mercato.carts().add(&id, sku("A"), 1).await.unwrap();
    assert!(!mercato.carts().priced(&id).await.unwrap().lines[0].available, "3 wanted, 2 on hand");
    mercato.shutdown().await.unwrap();
}

/// The embedded API keeps the rule an HTTP client meets: only a SKU the
/// catalog sells goes in a cart, and a refusal changes nothing.
#[tokio::test]
async fn a_sku_the_catalog_does_not_sell_is_refused_and_changes_nothing() {
    use mercato::engine::CatalogError;
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_selling(dir.path()).await;
    let id = mercato.carts().create().await.unwrap().id;
    mercato.carts().add(&id, sku("A"), 1).await.unwrap();
    let before = mercato.carts().get(&id).await.unwrap();
    let unknown = Err(Error::Catalog(CatalogError::SkuNotFound { sku: sku("NOT-THERE") }));
    assert_eq!(mercato.carts().add(&id, sku("NOT-THERE"), 1).await.map(drop), unknown);
    assert_eq!(mercato.carts().set_quantity(&id, sku("NOT-THERE"), 2).await.map(drop), unknown);
    assert_eq!(mercato.carts().get(&id).await.unwrap(), before);
    mercato.shutdown().await.unwrap();
}

/// Requests for cart ids that were never created (a bot probing) are
/// answered without starting an actor or reading the store; created carts
/// are known again after a reopen.
#[tokio::test]
async fn unknown_cart_ids_start_no_actor() {
    let dir = tempfile::tempdir().unwrap();
    let created;
    {
        let (mercato, _clock) = open_selling(dir.path()).await;
        created = mercato.carts().create().await.unwrap().id;
        let live = mercato.carts().live_actors();
        for n in 0..1_000 {
            let probe = CartId::parse(&format!("cart_probe_{n}")).unwrap();
            assert_eq!(mercato.carts().get(&probe).await, Err(Error::CartNotFound(probe.clone())));
            assert!(matches!(mercato.carts().add(&probe, sku("A"), 1).await, Err(Error::CartNotFound(_))));
        }
        assert_eq!(mercato.carts().live_actors(), live, "no actor was started");
        mercato.shutdown().await.unwrap();
    }
    let (mercato, _clock) = open_selling(dir.path()).await;
    assert!(mercato.carts().exists(&created));
    mercato.carts().add(&created, sku("A"), 1).await.unwrap();
    mercato.shutdown().await.unwrap();
}
