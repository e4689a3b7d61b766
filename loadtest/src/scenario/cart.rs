//! `cart`: add one unit at a time to guest carts, the write path of shopping.
//!
//! Setup creates the carts (one per connection, or [`OPEN_LOOP_CARTS`] in an
//! open loop) and picks SKUs from the catalog. Ticket k adds one unit of SKU
//! `(k / carts) % skus` to cart `k % carts`, so every (cart, SKU) line gets
//! the same share. A line holds at most 999 units and a cart at most 200
//! lines, so the run is sized before it starts: enough SKUs that no line can
//! pass 999 units in the most requests the run can send, or a refusal to start.
//! The same bound caps the run's request count, so it holds whatever the
//! server's speed.
//!
//! Check: at most 1% of the adds may fail (any answer but 2xx, or none).

use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;

use crate::config::{Pacing, RunConfig};
use crate::http::{encode_query_value, Client, Request, Target};
use crate::report::Check;
use crate::scenario::catalog;
use crate::tally::Tally;

/// Units per cart line (API.md).
pub const LINE_UNITS_MAX: u64 = 999;
/// Lines per cart (API.md).
pub const CART_LINES_MAX: u64 = 200;
/// SKUs used when the run needs no more.
pub const SKUS_PREFERRED: u64 = 20;
/// Carts of an open-loop run.
pub const OPEN_LOOP_CARTS: usize = 64;
/// Most adds that may fail before the check fails: 1%.
pub const FAILED_PERCENT_MAX: u64 = 1;

#[derive(Deserialize)]
struct Created {
    cart_id: String,
}

/// `cart`, set up.
#[derive(Debug)]
pub struct Cart {
    /// `/v1/carts/{id}/items` of each cart.
    item_paths: Vec<String>,
    /// `{"sku": ..., "quantity": 1}` of each SKU used.
    bodies: Vec<Bytes>,
    skus_found: usize,
}

impl Cart {
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<Cart> {
        catalog::check_server(target).await?;
        let products = catalog::discover(target).await?;
        let skus: Vec<String> = products.into_iter().flat_map(|product| product.skus).collect();
        let carts = match config.pacing {
            Pacing::Closed => config.connections,
            Pacing::Open { .. } => OPEN_LOOP_CARTS,
        };
        let skus_used = skus_needed(config.requests_bound(), carts, skus.len())?;
        let client = Client::new(Arc::clone(target));
        let mut item_paths = Vec::with_capacity(carts);
        for _ in 0..carts {
            let cart_id = create_cart(&client).await?;
            item_paths.push(format!("/v1/carts/{}/items", encode_query_value(&cart_id)));
        }
        let bodies = skus
            .iter()
            .take(skus_used)
            .map(|sku| serde_json::to_vec(&serde_json::json!({"sku": sku, "quantity": 1})).map(Bytes::from))
            .collect::<Result<_, _>>()?;
        Ok(Cart { item_paths, bodies, skus_found: skus.len() })
    }

    pub fn next_request(&self, ticket: u64) -> Request {
        let carts = len_u64(self.item_paths.len());
        let cart = index(ticket % carts);
        let sku = index((ticket / carts) % len_u64(self.bodies.len()));
        Request::post_json(self.item_paths[cart].clone(), self.bodies[sku].clone())
    }

    /// Beyond this many requests some line would pass 999 units.
    pub fn requests_max(&self) -> u64 {
        len_u64(self.item_paths.len()) * len_u64(self.bodies.len()) * LINE_UNITS_MAX
    }

    pub fn checks(&self, tally: &Tally) -> Vec<Check> {
        let failed = tally.requests.saturating_sub(tally.successes());
        vec![Check::at_most_percent("cart-adds", "were not 2xx", failed, tally.requests, FAILED_PERCENT_MAX)]
    }

    pub fn describe(&self) -> String {
        format!(
            "{} carts x {} SKUs (of {} found), at most {} requests ({LINE_UNITS_MAX} units per line)",
            self.item_paths.len(),
            self.bodies.len(),
            self.skus_found,
            self.requests_max()
        )
    }
}

async fn create_cart(client: &Client) -> anyhow::Result<String> {
    let response =
        client.send(&Request::post_json("/v1/carts".to_owned(), Bytes::new())).await.context("POST /v1/carts")?;
    if response.status != StatusCode::CREATED {
        bail!("POST /v1/carts answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    let created: Created = serde_json::from_slice(&response.body).context("POST /v1/carts: no cart_id")?;
    Ok(created.cart_id)
}

/// How many SKUs keep every line at or under 999 units when `requests_bound`
/// requests are spread over `carts` carts: at least [`SKUS_PREFERRED`] when the
/// catalog has them. Fails when the run would need more SKUs than the catalog
/// has, or more lines than a cart holds.
pub fn skus_needed(requests_bound: u64, carts: usize, skus_found: usize) -> anyhow::Result<usize> {
    ensure!(carts > 0, "the cart scenario needs at least one cart");
    let per_sku = len_u64(carts) * LINE_UNITS_MAX;
    let needed = requests_bound.div_ceil(per_sku).max(1);
    ensure!(
        needed <= CART_LINES_MAX,
        "up to {requests_bound} requests over {carts} carts need {needed} lines per cart, above the \
         {CART_LINES_MAX}-line limit: use more --connections (carts), or a lower --duration, --rate or --requests"
    );
    let found = len_u64(skus_found);
    ensure!(
        needed <= found,
        "up to {requests_bound} requests over {carts} carts need {needed} SKUs, the catalog has {found}: \
         lower --duration, --rate or --requests"
    );
    Ok(index(needed.max(SKUS_PREFERRED.min(found))))
}

/// Collection lengths fit in u64 on every supported target.
fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Values below a collection's length fit in usize.
fn index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cart(carts: usize, skus: usize) -> Cart {
        Cart {
            item_paths: (0..carts).map(|cart| format!("/v1/carts/c{cart}/items")).collect(),
            bodies: (0..skus).map(|sku| Bytes::from(format!("S{sku}"))).collect(),
            skus_found: skus,
        }
    }

    #[test]
    fn the_spread_uses_twenty_skus_unless_the_run_needs_more() {
        assert_eq!(skus_needed(1_000, 64, 1_500).expect("fits"), 20);
        assert_eq!(skus_needed(1_000, 64, 3).expect("fits"), 3);
        // 64 carts absorb 63,936 units per SKU: 1,000,000 requests need 16 SKUs, 2,000,000 need 32.
        assert_eq!(skus_needed(1_000_000, 64, 1_500).expect("fits"), 20);
        assert_eq!(skus_needed(2_000_000, 64, 1_500).expect("fits"), 32);
        assert!(skus_needed(2_000_000, 64, 31).is_err(), "not enough SKUs");
        assert!(skus_needed(64 * 200 * 999 + 1, 64, 100_000).is_err(), "more lines than a cart holds");
        assert_eq!(skus_needed(64 * 200 * 999, 64, 100_000).expect("fits"), 200);
    }

    #[test]
    fn no_line_passes_999_units_within_the_request_limit() {
        let cart = cart(3, 4);
        let mut units = std::collections::HashMap::new();
        for ticket in 0..cart.requests_max() {
            let request = cart.next_request(ticket);
            *units.entry((request.path, request.body)).or_insert(0_u64) += 1;
        }
        assert_eq!(units.len(), 12, "every cart gets every SKU");
        assert!(units.values().all(|count| *count == LINE_UNITS_MAX), "every line ends at exactly 999");
    }
}
