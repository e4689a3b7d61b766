//! `flash-sale` setup: stock the SKU and create the deal, or look up the
//! deal to reuse; and the server views setup and verification both read.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::SaleOptions;
use crate::http::{encode_query_value, Client, Request, Response, Target};
use crate::scenario::catalog;

/// The warehouse stocked for the deal when the SKU is kept there (the demo
/// catalog's first); otherwise the first warehouse that keeps the SKU.
pub const STOCK_WAREHOUSE: &str = "W-EAST";
/// Units stocked beyond the deal's quantity, so that holds other clients
/// place at the same moment cannot make the deal's creation fail.
pub const STOCK_MARGIN_UNITS: u64 = 100;
/// A created deal started this long ago, so that it is active whatever the
/// clock difference between this machine and the server (up to a minute).
pub const DEAL_STARTED_AGO: Duration = Duration::from_secs(60);
/// A created deal ends this long after the run's longest possible end.
pub const DEAL_OPEN_AFTER_RUN: Duration = Duration::from_secs(60 * 60);
/// The deal's price is nominal: what is measured is the claim, not the sale.
pub const DEAL_PRICE_CENTS: u64 = 999;
pub const DEAL_CURRENCY: &str = "USD";

/// Stock counts of a SKU or one of its warehouses (`GET /v1/inventory/{sku}`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub on_hand: u64,
    pub held: u64,
    pub committed: u64,
    pub safety_stock: u64,
    pub available: u64,
    /// The part of `held` flash deals took (absent from older servers).
    #[serde(default)]
    pub deal_held: Option<u64>,
}

impl Counts {
    /// The counts add up (API.md, "Inventory counts"): never more held and
    /// committed than on hand, `available = max(0, on_hand - held -
    /// committed - safety_stock)`, hence `on_hand = held + committed +
    /// available + safety_stock` whenever stock is sufficient (during a
    /// deal too: its units are part of `held`, as `deal_held`).
    pub fn is_consistent(&self) -> bool {
        let (on_hand, held, committed) = (u128::from(self.on_hand), u128::from(self.held), u128::from(self.committed));
        let (safety, available) = (u128::from(self.safety_stock), u128::from(self.available));
        let sufficient = held + committed + safety <= on_hand;
        let identity = if sufficient { held + committed + available + safety == on_hand } else { available == 0 };
        held + committed <= on_hand && identity && self.deal_held.is_none_or(|deal_held| deal_held <= self.held)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct WarehouseCounts {
    pub warehouse: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Inventory {
    #[serde(flatten)]
    pub totals: Counts,
    pub warehouses: Vec<WarehouseCounts>,
}

/// `GET /v1/deals/{id}`.
#[derive(Clone, Debug, Deserialize)]
pub struct DealView {
    pub sku: String,
    pub remaining: u64,
    pub status: String,
    /// In the server's view, though not (yet) in the contract's.
    pub per_customer_limit: Option<u64>,
}

/// The deal a run claims from.
#[derive(Clone, Debug)]
pub struct Deal {
    pub id: String,
    pub sku: String,
    /// Units left when the load starts: the checks expect exactly these to sell.
    pub offered: u64,
    pub per_customer_limit: u64,
    pub origin: Origin,
}

#[derive(Clone, Debug)]
pub enum Origin {
    /// Created by this setup, after raising `warehouse`'s on-hand count.
    Created { warehouse: String, on_hand_before: u64, on_hand: u64 },
    /// `--deal-id`: an existing deal, in this status at setup.
    Reused { status: String },
}

/// The deal of the run: `--deal-id`'s, or a new one on a freshly stocked SKU,
/// open until well after the run (`run_for`) can have ended.
pub async fn prepare(options: &SaleOptions, run_for: Duration, target: &Arc<Target>) -> anyhow::Result<Deal> {
    let client = Client::new(Arc::clone(target));
    if let Some(id) = &options.deal_id {
        let view = read_deal(&client, id).await?;
        ensure!(
            matches!(view.status.as_str(), "active" | "sold_out"),
            "deal {id} is {}: only an active or sold-out deal can take claims",
            view.status
        );
        return Ok(Deal {
            id: id.clone(),
            sku: view.sku,
            offered: view.remaining,
            per_customer_limit: view.per_customer_limit.unwrap_or(options.per_customer_limit),
            origin: Origin::Reused { status: view.status },
        });
    }
    let sku = match &options.sku {
        Some(sku) => sku.clone(),
        None => catalog::first_sku(target).await?,
    };
    let (warehouse, on_hand_before, on_hand) = stock_up(&client, &sku, options.deal_quantity).await?;
    let id = create_deal(&client, &sku, options, run_for).await?;
    let view = read_deal(&client, &id).await?;
    ensure!(
        view.remaining == options.deal_quantity && view.status == "active",
        "deal {id} was created with {} units but reads {} remaining, status {}",
        options.deal_quantity,
        view.remaining,
        view.status
    );
    Ok(Deal {
        id,
        sku,
        offered: view.remaining,
        per_customer_limit: options.per_customer_limit,
        origin: Origin::Created { warehouse, on_hand_before, on_hand },
    })
}

/// Raises the SKU's stock in one warehouse by `units` and a margin, so the
/// deal can take `units` from what is available. Returns the warehouse and
/// its on-hand count before and after.
async fn stock_up(client: &Client, sku: &str, units: u64) -> anyhow::Result<(String, u64, u64)> {
    let inventory = read_inventory(client, sku).await?;
    let kept = inventory.warehouses.iter().find(|kept| kept.warehouse == STOCK_WAREHOUSE);
    let (warehouse, on_hand_before) = match kept.or(inventory.warehouses.first()) {
        Some(kept) => (kept.warehouse.clone(), kept.counts.on_hand),
        None => (STOCK_WAREHOUSE.to_owned(), 0),
    };
    let on_hand = on_hand_before
        .checked_add(units)
        .and_then(|on_hand| on_hand.checked_add(STOCK_MARGIN_UNITS))
        .context("the stock count overflows")?;
    let path = format!("/v1/admin/inventory/{}/{}", encode_query_value(sku), encode_query_value(&warehouse));
    let body = serde_json::to_vec(&serde_json::json!({"on_hand": on_hand}))?;
    let response =
        client.send(&Request::put_json(path.clone(), Bytes::from(body)).as_admin()).await.context("PUT stock")?;
    let counts: Counts = expect(&response, StatusCode::OK, &format!("PUT {path}"))?;
    ensure!(counts.on_hand == on_hand, "PUT {path} set on_hand {on_hand}, the answer shows {}", counts.on_hand);
    Ok((warehouse, on_hand_before, on_hand))
}

async fn create_deal(client: &Client, sku: &str, options: &SaleOptions, run_for: Duration) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Created {
        deal_id: String,
    }
    let now = SystemTime::now();
    let body = serde_json::json!({
        "sku": sku,
        "price": {"cents": DEAL_PRICE_CENTS, "currency": DEAL_CURRENCY},
        "quantity": options.deal_quantity,
        "starts_at": rfc3339(now.checked_sub(DEAL_STARTED_AGO).unwrap_or(now)),
        "ends_at": rfc3339(now + run_for + DEAL_OPEN_AFTER_RUN),
        "per_customer_limit": options.per_customer_limit,
    });
    let request = Request::post_json("/v1/admin/deals".to_owned(), Bytes::from(serde_json::to_vec(&body)?)).as_admin();
    let response = client.send(&request).await.context("POST /v1/admin/deals")?;
    let created: Created = expect(&response, StatusCode::CREATED, "POST /v1/admin/deals")?;
    Ok(created.deal_id)
}

pub async fn read_deal(client: &Client, id: &str) -> anyhow::Result<DealView> {
    let path = format!("/v1/deals/{}", encode_query_value(id));
    let response = client.send(&Request::get(path.clone())).await.with_context(|| format!("GET {path}"))?;
    expect(&response, StatusCode::OK, &format!("GET {path}"))
}

pub async fn read_inventory(client: &Client, sku: &str) -> anyhow::Result<Inventory> {
    let path = format!("/v1/inventory/{}", encode_query_value(sku));
    let response = client.send(&Request::get(path.clone())).await.with_context(|| format!("GET {path}"))?;
    expect(&response, StatusCode::OK, &format!("GET {path}"))
}

/// The body of an answer with the expected status, or why not.
pub fn expect<T: DeserializeOwned>(response: &Response, status: StatusCode, what: &str) -> anyhow::Result<T> {
    if response.status != status {
        bail!("{what} answered {} (expected {status}): {}", response.status, String::from_utf8_lossy(&response.body));
    }
    serde_json::from_slice(&response.body).with_context(|| format!("{what}: unexpected body"))
}

/// `time` in RFC 3339, UTC, to the second: `2023-11-14T22:13:20Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Year, month and day of a day counted from 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for dates from 1970 on).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn counts_are_consistent_without_negative_availability() {
        let counts = Counts { on_hand: 10, held: 3, committed: 2, safety_stock: 1, available: 4, deal_held: Some(2) };
        assert!(counts.is_consistent());
        assert!(!Counts { available: 5, ..counts }.is_consistent());
        assert!(!Counts { available: 3, ..counts }.is_consistent(), "units unaccounted for break the identity");
        assert!(!Counts { deal_held: Some(4), ..counts }.is_consistent(), "deal units are part of held");
        assert!(!Counts { on_hand: 4, available: 0, ..counts }.is_consistent(), "oversold");
        let short = Counts { on_hand: 5, held: 3, committed: 1, safety_stock: 3, available: 0, deal_held: None };
        assert!(short.is_consistent(), "stock below the safety stock: nothing available");
    }

    #[test]
    fn the_inventory_reads_totals_and_warehouses() {
        let body = br#"{"sku":"S","on_hand":5,"held":1,"committed":0,"safety_stock":0,"available":4,
            "warehouses":[{"warehouse":"W-EAST","on_hand":5,"held":1,"committed":0,"safety_stock":0,"available":4}]}"#;
        let inventory: Inventory = serde_json::from_slice(body).expect("parses");
        assert_eq!(inventory.totals.available, 4);
        assert_eq!(inventory.warehouses[0].warehouse, "W-EAST");
        assert_eq!(inventory.warehouses[0].counts.held, 1);
    }
}
