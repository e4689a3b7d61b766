//! The demo catalog shipped in `snapshots/` and compiled into the binary, so
//! `mercato serve` on an empty data directory is a working store at once.

use crate::engine::{BucketKey, GeoPoint, Sku, Warehouse, WarehouseId};
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

#[derive(Deserialize)]
struct ProductStock {
    variants: Vec<VariantStock>,
}

#[derive(Deserialize)]
struct VariantStock {
    sku: String,
    #[serde(default)]
    stock: Vec<StockEntry>,
}

#[derive(Deserialize)]
struct StockEntry {
    warehouse: String,
    quantity: u64,
}

/// What loading the demo put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoLoaded {
    pub warehouses: usize,
    pub products: usize,
    pub buckets: usize,
}

/// Creates the demo warehouses and stocks every variant of the demo catalog.
pub async fn load_demo_stock(mercato: &Mercato) -> Result<DemoLoaded, Error> {
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
    for (index, line) in DEMO_CATALOG_NDJSON.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let product: ProductStock = serde_json::from_str(line)
            .map_err(|err| Error::InvalidInput(format!("demo catalog line {}: {err}", index + 1)))?;
        loaded.products += 1;
        for variant in product.variants {
            let sku = Sku::parse(&variant.sku)?;
            for entry in variant.stock {
                let bucket = BucketKey::new(sku.clone(), WarehouseId::parse(&entry.warehouse)?);
                mercato.set_stock(bucket, StockUpdate::on_hand(entry.quantity)).await?;
                loaded.buckets += 1;
            }
        }
    }
    Ok(loaded)
}
