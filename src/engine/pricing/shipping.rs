//! Shipping options, zones by distance, and delivery dates in business days.

use super::PricingError;
use crate::engine::time::Timestamp;
use crate::engine::warehouse::GeoPoint;
use serde::{Deserialize, Serialize};

/// One day in milliseconds.
pub const DAY_MS: u64 = 24 * 3600 * 1000;
const EARTH_RADIUS_KM: f64 = 6371.0;

/// A shipping speed. Wire ids: `standard`, `two_day`, `next_day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShippingOption {
    Standard,
    TwoDay,
    NextDay,
}

impl ShippingOption {
    pub const ALL: [ShippingOption; 3] = [ShippingOption::Standard, ShippingOption::TwoDay, ShippingOption::NextDay];

    pub fn parse(raw: &str) -> Result<ShippingOption, PricingError> {
        ShippingOption::ALL
            .into_iter()
            .find(|option| option.as_str() == raw)
            .ok_or_else(|| PricingError::UnknownShippingOption { option: raw.chars().take(32).collect() })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ShippingOption::Standard => "standard",
            ShippingOption::TwoDay => "two_day",
            ShippingOption::NextDay => "next_day",
        }
    }

    /// Whether a Prime member ships this way for free (standard and two-day).
    pub fn free_with_prime(self) -> bool {
        matches!(self, ShippingOption::Standard | ShippingOption::TwoDay)
    }
}

/// The price and speed of one option, per zone (index 0 is the nearest zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingRate {
    pub option: ShippingOption,
    pub name: String,
    /// Price of the first kilogram, per zone, in minor units of the order's currency.
    pub base_cents: Vec<i64>,
    /// Price of each further started kilogram.
    pub per_kg_cents: i64,
    /// Business days to delivery, per zone.
    pub business_days: Vec<u32>,
}

/// Shipping rates by zone. A zone is the index of the first limit in
/// `zone_limits_km` that the warehouse-to-destination distance does not exceed,
/// or `zone_limits_km.len()` beyond the last limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingTable {
    /// Increasing upper bounds of the zones, in kilometres.
    pub zone_limits_km: Vec<u32>,
    pub rates: Vec<ShippingRate>,
}

impl Default for ShippingTable {
    /// Zones: within 600 km, 1,600 km, 5,000 km (the continental US), beyond.
    fn default() -> Self {
        let rate = |option, name: &str, base_cents: [i64; 4], per_kg_cents, business_days: [u32; 4]| ShippingRate {
            option,
            name: name.to_owned(),
            base_cents: base_cents.to_vec(),
            per_kg_cents,
            business_days: business_days.to_vec(),
        };
        ShippingTable {
            zone_limits_km: vec![600, 1_600, 5_000],
            rates: vec![
                rate(ShippingOption::Standard, "Standard", [499, 599, 799, 1_999], 100, [3, 4, 5, 8]),
                rate(ShippingOption::TwoDay, "Two-day", [899, 1_099, 1_299, 2_999], 150, [2, 2, 2, 4]),
                rate(ShippingOption::NextDay, "Next day", [1_499, 1_799, 2_199, 4_999], 250, [1, 1, 1, 2]),
            ],
        }
    }
}

impl ShippingTable {
    /// Checks that limits increase, every rate has one entry per zone, prices
    /// are non-negative and no option is listed twice.
    pub fn validate(&self) -> Result<(), PricingError> {
        let fail = |reason: &str| Err(PricingError::InvalidConfig { reason: reason.to_owned() });
        if self.zone_limits_km.windows(2).any(|pair| pair[0] >= pair[1]) {
            return fail("shipping zone limits must increase");
        }
        let zones = self.zone_limits_km.len() + 1;
        for (index, rate) in self.rates.iter().enumerate() {
            if rate.base_cents.len() != zones || rate.business_days.len() != zones {
                return fail("every shipping rate needs one price and one delay per zone");
            }
            if rate.per_kg_cents < 0 || rate.base_cents.iter().any(|cents| *cents < 0) {
                return fail("shipping prices must not be negative");
            }
            if self.rates[..index].iter().any(|earlier| earlier.option == rate.option) {
                return fail("a shipping option is listed twice");
            }
        }
        Ok(())
    }

    pub fn rate(&self, option: ShippingOption) -> Result<&ShippingRate, PricingError> {
        self.rates
            .iter()
            .find(|rate| rate.option == option)
            .ok_or_else(|| PricingError::UnknownShippingOption { option: option.as_str().to_owned() })
    }

    /// The zone (0-based) of a distance.
    pub fn zone(&self, distance_km: f64) -> usize {
        self.zone_limits_km
            .iter()
            .position(|limit| distance_km <= f64::from(*limit))
            .unwrap_or(self.zone_limits_km.len())
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(from: GeoPoint, to: GeoPoint) -> f64 {
    let (lat1, lat2) = (from.lat.to_radians(), to.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (to.lon - from.lon).to_radians();
    let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Whether the UTC day containing `at` is a Saturday or Sunday.
pub fn is_weekend(at: Timestamp) -> bool {
    // 1970-01-01 was a Thursday: day 0 has weekday index 3 (Monday = 0).
    let weekday = (at.as_millis() / DAY_MS + 3) % 7;
    weekday >= 5
}

/// The end (last millisecond, UTC) of the day `business_days` working days
/// (Monday to Friday) after the day of `now`; an order placed on a weekend
/// counts from the next Monday.
pub fn delivery_by(now: Timestamp, business_days: u32) -> Timestamp {
    let mut day_start = Timestamp::from_millis(now.as_millis() / DAY_MS * DAY_MS);
    while is_weekend(day_start) {
        day_start = day_start.plus_millis(DAY_MS);
    }
    for _ in 0..business_days {
        day_start = day_start.plus_millis(DAY_MS);
        while is_weekend(day_start) {
            day_start = day_start.plus_millis(DAY_MS);
        }
    }
    day_start.plus_millis(DAY_MS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T10:00:00Z, a Monday.
    const MONDAY: Timestamp = Timestamp::from_millis(1_704_103_200_000);

    #[test]
    fn delivery_skips_weekends() {
        let end_of = |days: u64| Timestamp::from_millis(1_704_067_200_000 + days * DAY_MS + DAY_MS - 1);
        assert_eq!(delivery_by(MONDAY, 1), end_of(1));
        assert_eq!(delivery_by(MONDAY, 4), end_of(4));
        assert_eq!(delivery_by(MONDAY, 5), end_of(7), "friday + 1 business day is monday");
        let saturday = MONDAY.plus_millis(5 * DAY_MS);
        assert_eq!(delivery_by(saturday, 1), end_of(8), "counted from monday: tuesday");
        assert_eq!(delivery_by(saturday, 0), end_of(7));
    }

    #[test]
    fn distances_are_great_circle() {
        let new_york = GeoPoint { lat: 40.7, lon: -74.0 };
        let los_angeles = GeoPoint { lat: 34.05, lon: -118.25 };
        let km = distance_km(new_york, los_angeles);
        assert!((3_900.0..4_000.0).contains(&km), "{km}");
        assert_eq!(distance_km(new_york, new_york), 0.0);
    }

    #[test]
    fn zones_follow_the_limits() {
        let table = ShippingTable::default();
        assert_eq!(table.zone(0.0), 0);
        assert_eq!(table.zone(600.0), 0);
        assert_eq!(table.zone(600.5), 1);
        assert_eq!(table.zone(4_000.0), 2);
        assert_eq!(table.zone(9_000.0), 3);
    }

    #[test]
    fn bad_tables_are_refused() {
        assert_eq!(ShippingTable::default().validate(), Ok(()));
        let table = ShippingTable { zone_limits_km: vec![600, 600, 900], ..ShippingTable::default() };
        assert!(table.validate().is_err());
        let mut table = ShippingTable::default();
        table.rates[0].base_cents.pop();
        assert!(table.validate().is_err());
        let mut table = ShippingTable::default();
        table.rates[1].option = ShippingOption::Standard;
        assert!(table.validate().is_err());
        assert_eq!(ShippingOption::parse("two_day"), Ok(ShippingOption::TwoDay));
        assert!(ShippingOption::parse("drone").is_err());
    }
}
