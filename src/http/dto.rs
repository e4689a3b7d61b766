//! Wire shapes. Requests are parsed strictly (`deny_unknown_fields`) and
//! turned into engine types with `TryFrom`-style functions, so bad input is a
//! 4xx before any actor sees it.

use super::error::Problem;
use super::product_dto::MoneyBody;
use crate::engine::cart::{PricedCart, PricedCartLine};
use crate::engine::{InventoryCounts, Money, Sku, Timestamp, WarehouseId};
use crate::{Reservation, SkuInventory};
use serde::{Deserialize, Serialize};

/// Parses an id from a path or body, as 422 `invalid-input` when malformed.
pub fn sku(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|err| Problem::invalid(err.to_string()))
}

pub fn warehouse(raw: &str) -> Result<WarehouseId, Problem> {
    WarehouseId::parse(raw).map_err(|err| Problem::invalid(err.to_string()))
}

/// A quantity from a JSON number: 1..=`max` (zero, negative and absurd
/// quantities are 422).
pub fn quantity(raw: i64, max: u32) -> Result<u32, Problem> {
    u32::try_from(raw)
        .ok()
        .filter(|quantity| (1..=max).contains(quantity))
        .ok_or_else(|| Problem::invalid(format!("quantity must be 1..={max}, got {raw}")))
}

/// RFC 3339 UTC text of a timestamp.
pub fn rfc3339(at: Timestamp) -> String {
    let millis = i64::try_from(at.as_millis()).unwrap_or(i64::MAX);
    let seconds = millis.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60,
        millis.rem_euclid(1000)
    )
}

/// Parses RFC 3339 text (`2026-11-21T12:00:00Z`, fractional seconds and
/// `+hh:mm` offsets allowed) into a UTC timestamp.
pub fn parse_rfc3339(raw: &str) -> Option<Timestamp> {
    let bytes = raw.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't') {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| raw.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &raw[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[3..4], ":") => {
            let sign = match &rest[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            sign * (rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1000 + millis).ok().map(Timestamp::from_millis)
}

/// A proleptic Gregorian date to days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    pub sku: String,
    pub quantity: i64,
    pub ttl_seconds: Option<i64>,
    pub warehouse: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReservationView {
    pub reservation_id: String,
    pub sku: String,
    pub warehouse: String,
    pub quantity: u32,
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: String,
}

impl From<Reservation> for ReservationView {
    fn from(reservation: Reservation) -> Self {
        ReservationView {
            reservation_id: reservation.id.to_string(),
            sku: reservation.sku.to_string(),
            warehouse: reservation.warehouse.to_string(),
            quantity: reservation.quantity,
            status: reservation.status.as_str(),
            created_at: rfc3339(reservation.created_at),
            expires_at: rfc3339(reservation.expires_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    pub on_hand: Option<i64>,
    pub safety_stock: Option<i64>,
}

/// A count from JSON: non-negative and within 2^53 (exact in every client).
pub fn count(name: &str, raw: i64) -> Result<u64, Problem> {
    u64::try_from(raw)
        .ok()
        .filter(|count| *count <= (1 << 53))
        .ok_or_else(|| Problem::invalid(format!("{name} must be 0..=2^53, got {raw}")))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    /// Physical stock: drops when units ship.
    pub on_hand: u64,
    /// Under holds, flash deals' units included (`deal_held`).
    pub held: u64,
    /// Sold, not yet shipped.
    pub committed: u64,
    pub safety_stock: u64,
    /// `max(0, on_hand - held - committed - safety_stock)`.
    pub available: u64,
    /// The part of `held` that flash deals took, claimed or not, until sold
    /// or given back when the deal ends.
    pub deal_held: u64,
}

impl From<InventoryCounts> for CountsView {
    fn from(counts: InventoryCounts) -> Self {
        CountsView {
            on_hand: counts.on_hand,
            held: counts.held,
            committed: counts.committed,
            safety_stock: counts.safety_stock,
            available: counts.available,
            deal_held: counts.deal_held,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarehouseCountsView {
    pub warehouse: String,
    #[serde(flatten)]
    pub counts: CountsView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InventoryView {
    pub sku: String,
    #[serde(flatten)]
    pub totals: CountsView,
    pub warehouses: Vec<WarehouseCountsView>,
}

impl From<SkuInventory> for InventoryView {
    fn from(inventory: SkuInventory) -> Self {
        InventoryView {
            sku: inventory.sku.to_string(),
            totals: inventory.totals.into(),
            warehouses: inventory
                .warehouses
                .into_iter()
                .map(|row| WarehouseCountsView { warehouse: row.warehouse.to_string(), counts: row.counts.into() })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemBody {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantityBody {
    pub quantity: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartLineView {
    pub sku: String,
    pub product_id: Option<String>,
    pub title: Option<String>,
    pub quantity: u32,
    /// The current catalog price (`null` if the SKU left the catalog).
    #[schema(value_type = Option<MoneyBody>)]
    pub unit_price: Option<Money>,
    #[schema(value_type = Option<MoneyBody>)]
    pub line_total: Option<Money>,
    /// Whether the line can be bought now (stock is enforced at reservation).
    pub available: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CartView {
    pub cart_id: String,
    pub lines: Vec<CartLineView>,
    pub saved: Vec<CartLineView>,
    /// The sum of the priced lines (saved lines excluded).
    #[schema(value_type = MoneyBody)]
    pub subtotal: Money,
    pub item_count: u64,
}

impl From<PricedCart> for CartView {
    fn from(cart: PricedCart) -> Self {
        let view = |line: PricedCartLine| CartLineView {
            sku: line.sku.to_string(),
            product_id: line.product_id.map(|id| id.to_string()),
            title: line.title,
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total: line.line_total,
            available: line.available,
        };
        CartView {
            cart_id: cart.id.to_string(),
            lines: cart.lines.into_iter().map(view).collect(),
            saved: cart.saved.into_iter().map(view).collect(),
            subtotal: cart.subtotal,
            item_count: cart.item_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(Timestamp::from_millis(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Timestamp::from_millis(1_800_000_000_123)), "2027-01-15T08:00:00.123Z");
        assert_eq!(rfc3339(Timestamp::from_millis(951_782_400_000)), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_text_parses_back_to_the_same_instant() {
        for millis in [0, 951_782_400_000, 1_800_000_000_123, 4_102_444_800_000] {
            let at = Timestamp::from_millis(millis);
            assert_eq!(parse_rfc3339(&rfc3339(at)), Some(at));
        }
        assert_eq!(parse_rfc3339("2026-11-21T13:00:00+01:00"), parse_rfc3339("2026-11-21T12:00:00Z"));
        assert_eq!(parse_rfc3339("2026-11-21T12:00:00.5Z").map(|at| at.as_millis() % 1000), Some(500));
        for bad in ["", "2026-11-21", "2026-13-01T00:00:00Z", "2026-11-21T12:00:00", "2026-11-21T25:00:00Z", "tomorrow"]
        {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn quantities_outside_the_range_are_invalid() {
        assert_eq!(quantity(1, 999), Ok(1));
        assert!(quantity(0, 999).is_err());
        assert!(quantity(-3, 999).is_err());
        assert!(quantity(1_000, 999).is_err());
        assert!(quantity(i64::MAX, 999).is_err());
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseBody {
    pub id: String,
    pub name: String,
    pub location: LocationBody,
    pub region: String,
}

/// Most items one list page returns (API.md, Conventions).
pub const PAGE_MAX: usize = 100;
/// Items a list page returns when `limit` is not given.
pub const PAGE_DEFAULT: usize = 20;

/// A list's `?limit=`: 1..=100, 20 when absent; anything else is 422.
pub fn page_limit(limit: Option<i64>) -> Result<usize, Problem> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(limit) => usize::try_from(limit)
            .ok()
            .filter(|limit| (1..=PAGE_MAX).contains(limit))
            .ok_or_else(|| Problem::invalid(format!("limit must be 1..={PAGE_MAX}"))),
    }
}
