//! Setup's view of the catalog: is the server up, and which products and SKUs
//! does it have?
//!
//! The contract has no product list yet, so discovery probes the demo
//! catalog's ids (`P-1000` to `P-1599`) and keeps those that answer 200.

use std::sync::Arc;

use anyhow::{bail, Context};
use hyper::StatusCode;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::http::{Client, Request, Target};

/// The demo catalog's product ids, `P-1000` to `P-1599`.
pub const DEMO_IDS: std::ops::RangeInclusive<u32> = 1000..=1599;
/// Probes in flight during discovery.
const PROBES_IN_FLIGHT: u32 = 16;

/// A product found at setup, with its SKUs in catalog order.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub skus: Vec<String>,
}

#[derive(Deserialize)]
struct ProductBody {
    variants: Vec<VariantBody>,
}

#[derive(Deserialize)]
struct VariantBody {
    sku: String,
}

/// Fails unless `GET /v1/categories` answers 200: the server is up and speaks the contract.
pub async fn check_server(target: &Arc<Target>) -> anyhow::Result<()> {
    let client = Client::new(Arc::clone(target));
    let response = client
        .send(&Request::get("/v1/categories".to_owned()))
        .await
        .with_context(|| format!("server unreachable at {}", target.base()))?;
    if response.status != StatusCode::OK {
        bail!("GET /v1/categories answered {} (expected 200): is {} a Mercato server?", response.status, target.base());
    }
    Ok(())
}

/// The products among the demo ids, in id order; fails when there are none.
pub async fn discover(target: &Arc<Target>) -> anyhow::Result<Vec<Product>> {
    let mut probes = JoinSet::new();
    for lane in 0..PROBES_IN_FLIGHT {
        let client = Client::new(Arc::clone(target));
        let ids: Vec<u32> = DEMO_IDS.filter(|number| number % PROBES_IN_FLIGHT == lane).collect();
        probes.spawn(async move {
            let mut found = Vec::new();
            for number in ids {
                if let Some(product) = probe(&client, number).await? {
                    found.push((number, product));
                }
            }
            anyhow::Ok(found)
        });
    }
    let mut products = Vec::new();
    while let Some(joined) = probes.join_next().await {
        products.extend(joined.context("a discovery probe panicked")??);
    }
    products.sort_by_key(|(number, _)| *number);
    if products.is_empty() {
        bail!(
            "no products: none of P-{}..P-{} answered 200 (start the server with its demo catalog)",
            DEMO_IDS.start(),
            DEMO_IDS.end()
        );
    }
    Ok(products.into_iter().map(|(_, product)| product).collect())
}

/// The first SKU of the demo catalog: the first variant of `P-1000`, or when
/// that product is missing, of the first product discovery finds.
pub async fn first_sku(target: &Arc<Target>) -> anyhow::Result<String> {
    let client = Client::new(Arc::clone(target));
    if let Some(product) = probe(&client, *DEMO_IDS.start()).await? {
        if let Some(sku) = product.skus.into_iter().next() {
            return Ok(sku);
        }
    }
    let products = discover(target).await?;
    products
        .into_iter()
        .find_map(|product| product.skus.into_iter().next())
        .context("no SKUs: the products found have no variants")
}

async fn probe(client: &Client, number: u32) -> anyhow::Result<Option<Product>> {
    let id = format!("P-{number}");
    let path = format!("/v1/products/{id}");
    let response = client.send(&Request::get(path.clone())).await.with_context(|| format!("GET {path}"))?;
    if response.status != StatusCode::OK {
        return Ok(None);
    }
    let body: ProductBody =
        serde_json::from_slice(&response.body).with_context(|| format!("GET {path}: not a product"))?;
    Ok(Some(Product { id, skus: body.variants.into_iter().map(|variant| variant.sku).collect() }))
}
