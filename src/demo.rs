//! The demo catalog shipped in `snapshots/` and compiled into the binary, so
//! `mercato serve` on an empty data directory is a working store at once.

use crate::engine::{BucketKey, GeoPoint, Warehouse, WarehouseId};
use crate::http::product_dto::ProductBody;
use crate::{Error, Mercato, StockUpdate};
use serde::Deserialize;

/// One product per line, in the API's product shape.
pub const DEMO_CATALOG_NDJSON: &str = include_str!("../snapshots/demo-catalog.ndjson");
/// The demo warehouses, as a JSON array.
pub const DEMO_WAREHOUSES_JSON: &str = include_str!("../snapshots/warehouses.json");

#[derive(Deserialize)]
struct DemoWarehouse {
    id: String,
    name: String,
    location: DemoLocation,
    region: String,
}

#[derive(Deserialize)]
struct DemoLocation {
    lat: f64,
    lon: f64,
}

/// What loading the demo put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoLoaded {
    pub warehouses: usize,
    pub products: usize,
    pub buckets: usize,
}

/// Creates the demo warehouses (those that exist already are kept); their ids.
async fn create_warehouses(mercato: &Mercato) -> Result<Vec<WarehouseId>, Error> {
    let warehouses: Vec<DemoWarehouse> = serde_json::from_str(DEMO_WAREHOUSES_JSON)
        .map_err(|err| Error::InvalidInput(format!("demo warehouses: {err}")))?;
    let mut ids = Vec::new();
    for demo in warehouses {
        let location = GeoPoint { lat: demo.location.lat, lon: demo.location.lon };
        let id = WarehouseId::parse(&demo.id)?;
        let warehouse = Warehouse::new(id.clone(), &demo.name, location, &demo.region)?;
        match mercato.inventory().create_warehouse(warehouse).await {
            Ok(_) | Err(Error::WarehouseExists(_)) => ids.push(id),
            Err(err) => return Err(err),
        }
    }
    Ok(ids)
}

/// Creates the demo warehouses, imports the demo products and stocks every
/// variant in its warehouses.
pub async fn load_demo(mercato: &Mercato) -> Result<DemoLoaded, Error> {
    let mut loaded = DemoLoaded { warehouses: create_warehouses(mercato).await?.len(), ..DemoLoaded::default() };
    let mut drafts = Vec::new();
    let mut stock = Vec::new();
    for (index, line) in DEMO_CATALOG_NDJSON.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let parsed = serde_json::from_str::<ProductBody>(line)
            .map_err(|err| err.to_string())
            .and_then(|body| body.parse().map_err(|problem| problem.detail))
            .map_err(|detail| Error::InvalidInput(format!("demo catalog line {}: {detail}", index + 1)))?;
        drafts.push(parsed.draft);
        stock.extend(parsed.stock);
    }
    for result in mercato.catalog().upsert_products(drafts).await? {
        result?;
        loaded.products += 1;
    }
    for (bucket, quantity) in stock {
        mercato.inventory().set_stock(bucket, StockUpdate::on_hand(quantity)).await?;
        loaded.buckets += 1;
    }
    Ok(loaded)
}

/// Products upserted per catalog command when loading a generated catalog.
const GENERATED_BATCH: usize = 1_000;
/// Stock writes in flight when loading a generated catalog.
const STOCK_WRITES_IN_FLIGHT: usize = 256;

/// Creates the demo warehouses and `count` products of the seeded generator
/// ([`crate::generate`]); nine variants in ten get 1 to 500 units in one
/// warehouse, the rest none. For load tests that need a large catalog.
pub async fn load_generated(mercato: &Mercato, count: usize, seed: u64) -> Result<DemoLoaded, Error> {
    use futures::StreamExt;
    use rand::{Rng, SeedableRng};

    let warehouse_ids = create_warehouses(mercato).await?;
    let mut loaded = DemoLoaded { warehouses: warehouse_ids.len(), ..DemoLoaded::default() };
    if warehouse_ids.is_empty() {
        return Err(Error::InvalidInput("demo warehouses: none".to_owned()));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut stock = Vec::new();
    let mut first = 0;
    while first < count {
        let end = (first + GENERATED_BATCH).min(count);
        let drafts: Vec<_> = (first..end).map(|n| crate::generate::draft(&mut rng, n)).collect();
        for draft in &drafts {
            for variant in &draft.variants {
                if rng.random_bool(0.9) {
                    let warehouse = warehouse_ids[rng.random_range(0..warehouse_ids.len())].clone();
                    stock.push((BucketKey::new(variant.sku.clone(), warehouse), rng.random_range(1..=500u64)));
                }
            }
        }
        for result in mercato.catalog().upsert_products(drafts).await? {
            result?;
            loaded.products += 1;
        }
        first = end;
    }
    let inventory = mercato.inventory();
    let mut writes = futures::stream::iter(stock)
        .map(|(bucket, quantity)| inventory.set_stock(bucket, StockUpdate::on_hand(quantity)))
        .buffer_unordered(STOCK_WRITES_IN_FLIGHT);
    while let Some(result) = writes.next().await {
        result?;
        loaded.buckets += 1;
    }
    Ok(loaded)
}
