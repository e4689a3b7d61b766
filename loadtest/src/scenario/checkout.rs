//! `checkout`: signed-in customers buy 2 lines each: a new guest cart gets two
//! SKUs, then checkout -> address -> shipping -> payment -> place (with an
//! `Idempotency-Key`). One ticket is one whole purchase (8 requests); the
//! place request's latency is also recorded on its own and reported as
//! `place_p99_ms`, with `orders_per_s`.
//!
//! Setup (untimed) raises the stock of the two SKUs by a million units, signs
//! the customers in (`--load-test-mode --password-cost fast` on the server) and tokenizes one
//! distinct card per customer. After the load it checks that a sample of the
//! placed orders exist and are paid and that the SKUs' stock adds up with no
//! hold left behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::config::RunConfig;
use crate::drive::Driven;
use crate::http::{classify, encode_query_value, Client, Failure, Outcome, Request, Target};
use crate::report::{Check, Figure};
use crate::scenario::flash_sale::setup::{expect, read_inventory};
use crate::scenario::{catalog, customers};

/// Units added to each SKU's stock at setup.
const STOCK_UNITS: u64 = 1_000_000;
/// Placed orders read back after the load.
const ORDERS_SAMPLED: usize = 50;

#[derive(Debug)]
struct Shopper {
    token: String,
    card: String,
}

/// `checkout`, set up.
#[derive(Debug)]
pub struct CheckoutScenario {
    skus: [String; 2],
    shoppers: Vec<Shopper>,
    /// Place latency in microseconds.
    place_micros: Mutex<hdrhistogram::Histogram<u64>>,
    placed: Mutex<Vec<(usize, String)>>,
    refused: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

/// A Luhn-valid 16-digit Visa number, distinct per `seed`.
pub fn card_number(seed: u64) -> String {
    let body = format!("4{:014}", seed % 100_000_000_000_000);
    let check = mercato::engine::payment::luhn_check_digit(&body);
    format!("{body}{check}")
}

impl CheckoutScenario {
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<CheckoutScenario> {
        catalog::check_server(target).await?;
        let products = catalog::discover(target).await?;
        let mut skus: Vec<String> = products.iter().flat_map(|product| product.skus.first().cloned()).take(2).collect();
        ensure!(skus.len() == 2, "the checkout scenario needs two products in the catalog");
        let client = Client::new(Arc::clone(target));
        for sku in &skus {
            let inventory = read_inventory(&client, sku).await?;
            let (warehouse, on_hand) = inventory
                .warehouses
                .first()
                .map(|kept| (kept.warehouse.clone(), kept.counts.on_hand))
                .context("a SKU without a warehouse")?;
            let path = format!("/v1/admin/inventory/{}/{}", encode_query_value(sku), encode_query_value(&warehouse));
            let body = serde_json::to_vec(&json!({"on_hand": on_hand + STOCK_UNITS}))?;
            let response = client.send(&Request::put_json(path.clone(), Bytes::from(body)).as_admin()).await?;
            let _: Value = expect(&response, StatusCode::OK, &format!("PUT {path}"))?;
        }
        let count = config.connections.max(1) * 2;
        let run_id = format!("{:016x}", rand::random::<u64>());
        let signed_in = customers::sign_up(target, &run_id, count, config.connections, None).await?;
        let mut shoppers = Vec::with_capacity(count);
        for (index, customer) in signed_in.into_iter().enumerate() {
            let number = card_number(rand::random::<u64>() ^ u64::try_from(index).unwrap_or(0));
            let body = json!({"type": "card", "number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"});
            let request = Request::post_json("/v1/payment-methods".to_owned(), Bytes::from(serde_json::to_vec(&body)?))
                .as_customer(&customer.token);
            let response = client.send(&request).await?;
            let card: Value = expect(&response, StatusCode::CREATED, "POST /v1/payment-methods")?;
            let card = card["token"].as_str().context("a card without a token")?.to_owned();
            shoppers.push(Shopper { token: customer.token, card });
        }
        let histogram = hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3)?;
        let second = skus.pop().context("two skus")?;
        let first = skus.pop().context("two skus")?;
        Ok(CheckoutScenario {
            skus: [first, second],
            shoppers,
            place_micros: Mutex::new(histogram),
            placed: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
            started: std::sync::OnceLock::new(),
        })
    }

    /// One purchase: cart, checkout, the three steps, place.
    pub async fn buy(&self, ticket: u64, client: &Client) -> Outcome {
        self.started.get_or_init(Instant::now);
        let index = usize::try_from(ticket).unwrap_or(0) % self.shoppers.len().max(1);
        let Some(shopper) = self.shoppers.get(index) else { return Outcome::Failed(Failure::Request) };
        match self.purchase(ticket, shopper, client).await {
            Ok((outcome, Some(order))) => {
                if let Ok(mut placed) = self.placed.lock() {
                    placed.push((index, order));
                }
                outcome
            }
            Ok((outcome, None)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                outcome
            }
            Err(outcome) => outcome,
        }
    }

    async fn purchase(
        &self,
        ticket: u64,
        shopper: &Shopper,
        client: &Client,
    ) -> Result<(Outcome, Option<String>), Outcome> {
        let send = |request: Request| async move {
            let request = request.as_customer(&shopper.token);
            match client.send(&request).await {
                Ok(response) if response.status.is_success() => {
                    Ok(serde_json::from_slice::<Value>(&response.body).unwrap_or(Value::Null))
                }
                Ok(response) => Err(classify(&response)),
                Err(error) => Err(Outcome::Failed(error.failure)),
            }
        };
        let json = |value: Value| Bytes::from(value.to_string());
        let cart = send(Request::post_json("/v1/carts".to_owned(), Bytes::new())).await?;
        let cart_id = cart["cart_id"].as_str().unwrap_or_default().to_owned();
        for (sku, quantity) in self.skus.iter().zip([1, 2]) {
            let path = format!("/v1/carts/{cart_id}/items");
            send(Request::post_json(path, json(json!({"sku": sku, "quantity": quantity})))).await?;
        }
        let started = send(Request::post_json("/v1/checkouts".to_owned(), json(json!({"cart_id": cart_id})))).await?;
        let id = started["checkout_id"].as_str().unwrap_or_default().to_owned();
        let address = json!({"name": "Load Test", "line1": "1 Main St", "city": "Newark", "region": "NJ",
            "postal_code": "07102", "country": "US"});
        send(Request::put_json(format!("/v1/checkouts/{id}/address"), json(address))).await?;
        send(Request::put_json(format!("/v1/checkouts/{id}/shipping"), json(json!({"option_id": "standard"})))).await?;
        send(Request::put_json(format!("/v1/checkouts/{id}/payment"), json(json!({"token": shopper.card})))).await?;
        let place = Request::post_json(format!("/v1/checkouts/{id}/place"), Bytes::new())
            .with_idempotency_key(&format!("lt-place-{ticket}-{id}"))
            .as_customer(&shopper.token);
        let at = Instant::now();
        let response = client.send(&place).await.map_err(|error| Outcome::Failed(error.failure))?;
        let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut histogram) = self.place_micros.lock() {
            let _ = histogram.record(micros.min(60_000_000));
        }
        let outcome = classify(&response);
        if response.status != StatusCode::CREATED {
            return Ok((outcome, None));
        }
        let order: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((outcome, order["order_id"].as_str().map(str::to_owned)))
    }

    /// Orders exist and are paid; no hold is left; stock adds up.
    pub async fn verify(&self, target: &Arc<Target>, driven: &Driven) -> (Vec<Check>, Vec<Figure>) {
        let client = Client::new(Arc::clone(target));
        let placed = self.placed.lock().map(|placed| placed.clone()).unwrap_or_default();
        let mut checks = Vec::new();
        let mut unpaid = 0;
        for (index, order) in placed.iter().take(ORDERS_SAMPLED) {
            let request = Request::get(format!("/v1/orders/{order}")).as_customer(&self.shoppers[*index].token);
            let paid = match client.send(&request).await {
                Ok(response) if response.status == StatusCode::OK => {
                    serde_json::from_slice::<Value>(&response.body).is_ok_and(|order| order["status"] == "paid")
                }
                _ => false,
            };
            unpaid += usize::from(!paid);
        }
        let sampled = placed.len().min(ORDERS_SAMPLED);
        checks.push(Check {
            name: "orders_exist",
            passed: unpaid == 0 && !placed.is_empty(),
            detail: format!("{} of {sampled} sampled placed orders read back paid", sampled - unpaid),
        });
        // Holds of places still in flight at the end settle within a moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for sku in &self.skus {
            let check = match read_inventory(&client, sku).await {
                Ok(inventory) => {
                    let counts = inventory.totals;
                    let adds_up = counts.on_hand
                        == counts.available + counts.held + counts.committed + counts.safety_stock
                        || counts.available == 0;
                    Check {
                        name: "stock_adds_up",
                        passed: adds_up && counts.held == 0,
                        detail: format!(
                            "{sku}: on_hand {} = available {} + held {} + committed {} + safety {}",
                            counts.on_hand, counts.available, counts.held, counts.committed, counts.safety_stock
                        ),
                    }
                }
                Err(error) => Check { name: "stock_adds_up", passed: false, detail: error.to_string() },
            };
            checks.push(check);
        }
        let elapsed = driven.elapsed.as_secs_f64().max(f64::EPSILON);
        let count = u32::try_from(placed.len()).unwrap_or(u32::MAX);
        let p99 = self.place_micros.lock().map(|h| h.value_at_quantile(0.99)).unwrap_or(0);
        let p50 = self.place_micros.lock().map(|h| h.value_at_quantile(0.5)).unwrap_or(0);
        let figures = vec![
            Figure { name: "orders_per_s", value: f64::from(count) / elapsed },
            Figure { name: "place_p50_ms", value: u32::try_from(p50).map_or(f64::MAX, f64::from) / 1000.0 },
            Figure { name: "place_p99_ms", value: u32::try_from(p99).map_or(f64::MAX, f64::from) / 1000.0 },
            Figure {
                name: "place_refused",
                value: u32::try_from(self.refused.load(Ordering::Relaxed)).map_or(f64::MAX, f64::from),
            },
        ];
        (checks, figures)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} customers each buy 2 lines ({} x1, {} x2) per ticket: cart -> checkout -> address -> shipping -> payment -> place",
            self.shoppers.len(),
            self.skus[0],
            self.skus[1]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_card_numbers_pass_luhn() {
        for seed in [0, 1, 42, 99_999_999_999_999] {
            let number = card_number(seed);
            assert_eq!(number.len(), 16);
            assert!(mercato::engine::payment::luhn_valid(&number), "{number}");
        }
    }
}
