//! The demo catalog shipped in `snapshots/` and compiled into the binary, so
//! `mercato serve` on an empty data directory is a working store at once.

use crate::engine::{GeoPoint, Warehouse, WarehouseId};
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

/// Creates the demo warehouses, imports the demo products and stocks every
/// variant in its warehouses.
pub async fn load_demo(mercato: &Mercato) -> Result<DemoLoaded, Error> {
    let mut loaded = DemoLoaded::default();
    let warehouses: Vec<DemoWarehouse> = serde_json::from_str(DEMO_WAREHOUSES_JSON)
        .map_err(|err| Error::InvalidInput(format!("demo warehouses: {err}")))?;
    for demo in warehouses {
        let location = GeoPoint { lat: demo.location.lat, lon: demo.location.lon };
        let warehouse = Warehouse::new(WarehouseId::parse(&demo.id)?, &demo.name, location, &demo.region)?;
        match mercato.create_warehouse(warehouse).await {
            Ok(_) | Err(Error::WarehouseExists(_)) => loaded.warehouses += 1,
            Err(err) => return Err(err),
        }
    }
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
    for result in mercato.upsert_products(drafts).await? {
        result?;
        loaded.products += 1;
    }
    for (bucket, quantity) in stock {
        mercato.set_stock(bucket, StockUpdate::on_hand(quantity)).await?;
        loaded.buckets += 1;
    }
    Ok(loaded)
}
