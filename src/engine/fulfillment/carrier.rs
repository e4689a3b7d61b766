//! Carriers as data: services with rate tables by zone and weight, transit
//! days, tracking numbers with check digits, the choice of a carrier for a
//! parcel, and delivery estimates from the rate table or from observed
//! deliveries.
//!
//! Zones are the shipping table's ([`crate::engine::ShippingTable::zone`]):
//! 0 is the nearest.

use crate::engine::pricing::{delivery_by, is_weekend, DAY_MS};
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How a carrier numbers its parcels; each format ends in a check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingFormat {
    /// `prefix` (two letters), 13 digits, a Luhn check digit: 16 characters.
    Luhn { prefix: [u8; 2] },
    /// The Universal Postal Union's S10: two letters, eight digits, a check
    /// digit (weights 8 6 4 2 3 5 9 7, mod 11), two letters of the country.
    S10 { service: [u8; 2], country: [u8; 2] },
    /// 17 digits and a GS1 mod-10 check digit (weights 3 and 1 from the
    /// right), as shipping container codes have: 18 digits.
    Gs1,
}

impl TrackingFormat {
    /// The tracking number of the carrier's parcel number `serial` (taken
    /// modulo the digits the format has).
    pub fn number(&self, serial: u64) -> String {
        match self {
            TrackingFormat::Luhn { prefix } => {
                let digits = format!("{:013}", serial % 10_u64.pow(13));
                format!("{}{digits}{}", letters(prefix), luhn_check(&digits))
            }
            TrackingFormat::S10 { service, country } => {
                let digits = format!("{:08}", serial % 100_000_000);
                format!("{}{digits}{}{}", letters(service), s10_check(&digits), letters(country))
            }
            TrackingFormat::Gs1 => {
                let digits = format!("{:017}", serial % 10_u64.pow(17));
                format!("{digits}{}", gs1_check(&digits))
            }
        }
    }

    /// Whether `raw` is a well-formed number of this format, check digit
    /// included.
    pub fn is_valid(&self, raw: &str) -> bool {
        let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        if !raw.is_ascii() {
            return false;
        }
        match self {
            TrackingFormat::Luhn { prefix } => {
                raw.len() == 16
                    && raw.as_bytes()[..2] == prefix[..]
                    && all_digits(&raw[2..])
                    && luhn_check(&raw[2..15]) == raw.as_bytes()[15] - b'0'
            }
            TrackingFormat::S10 { service, country } => {
                raw.len() == 13
                    && raw.as_bytes()[..2] == service[..]
                    && raw.as_bytes()[11..] == country[..]
                    && all_digits(&raw[2..11])
                    && s10_check(&raw[2..10]) == raw.as_bytes()[10] - b'0'
            }
            TrackingFormat::Gs1 => {
                raw.len() == 18 && all_digits(raw) && gs1_check(&raw[..17]) == raw.as_bytes()[17] - b'0'
            }
        }
    }
}

fn letters(pair: &[u8; 2]) -> String {
    String::from_utf8_lossy(pair).into_owned()
}

fn digit_values(digits: &str) -> impl DoubleEndedIterator<Item = u32> + '_ {
    digits.bytes().map(|byte| u32::from(byte - b'0'))
}

/// Luhn: from the right, every second digit doubled (less 9 above 9).
fn luhn_check(digits: &str) -> u8 {
    let sum: u32 = digit_values(digits)
        .rev()
        .enumerate()
        .map(|(index, digit)| {
            if index % 2 == 0 {
                if digit * 2 > 9 {
                    digit * 2 - 9
                } else {
                    digit * 2
                }
            } else {
                digit
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// S10: weights 8 6 4 2 3 5 9 7; 11 - sum mod 11, with 10 as 0 and 11 as 5.
fn s10_check(digits: &str) -> u8 {
    const WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
    let sum: u32 = digit_values(digits).zip(WEIGHTS).map(|(digit, weight)| digit * weight).sum();
    match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        check => u8::try_from(check).unwrap_or(0),
    }
}

/// GS1: from the right, weights 3, 1, 3, ...; the check makes the sum a
/// multiple of ten.
fn gs1_check(digits: &str) -> u8 {
    let sum: u32 = digit_values(digits)
        .rev()
        .enumerate()
        .map(|(index, digit)| if index % 2 == 0 { digit * 3 } else { digit })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// One service of a carrier: its price and transit time per zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierService {
    pub name: String,
    /// Price of the first kilogram, per zone, in cents.
    pub base_cents: Vec<i64>,
    /// Price of each further started kilogram, per zone.
    pub per_kg_cents: Vec<i64>,
    /// Business days from hand-over to delivery, per zone.
    pub transit_days: Vec<u32>,
}

impl CarrierService {
    /// The price of a parcel of `weight_grams` to `zone`, if the service
    /// serves that zone.
    pub fn price_cents(&self, zone: usize, weight_grams: u32) -> Option<i64> {
        let kilograms = i64::from(weight_grams.div_ceil(1_000).max(1));
        let base = *self.base_cents.get(zone)?;
        let per_kg = *self.per_kg_cents.get(zone)?;
        per_kg.checked_mul(kilograms - 1)?.checked_add(base)
    }
}

/// A carrier: who takes parcels, how fast, at what price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carrier {
    pub id: String,
    pub name: String,
    pub tracking: TrackingFormat,
    pub services: Vec<CarrierService>,
}

/// The carrier and service chosen for a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierChoice<'a> {
    pub carrier: &'a Carrier,
    pub service: &'a CarrierService,
    pub price_cents: i64,
    pub transit_days: u32,
    /// Whether it arrives within the promise (otherwise it is the fastest
    /// there is).
    pub meets_promise: bool,
}

/// The cheapest service whose transit time to `zone` meets `promise_days`
/// (ties: the faster, then the carrier listed first); when none meets it,
/// the fastest (ties: the cheaper). `None` when no service serves the zone.
pub fn choose_carrier(
    carriers: &[Carrier],
    zone: usize,
    weight_grams: u32,
    promise_days: u32,
) -> Option<CarrierChoice<'_>> {
    let offers = carriers.iter().flat_map(|carrier| {
        carrier.services.iter().filter_map(move |service| {
            let price_cents = service.price_cents(zone, weight_grams)?;
            let transit_days = *service.transit_days.get(zone)?;
            Some(CarrierChoice {
                carrier,
                service,
                price_cents,
                transit_days,
                meets_promise: transit_days <= promise_days,
            })
        })
    });
    offers.min_by_key(|offer| {
        if offer.meets_promise {
            (0, offer.price_cents, i64::from(offer.transit_days))
        } else {
            (1, i64::from(offer.transit_days), offer.price_cents)
        }
    })
}

/// The business days a customer was promised: those of the option bought,
/// and never more than Prime's promise for a Prime member.
pub fn promised_days(option_days: u32, prime: bool) -> u32 {
    if prime {
        option_days.min(PRIME_PROMISE_DAYS)
    } else {
        option_days
    }
}

/// Prime's delivery promise, in business days.
pub const PRIME_PROMISE_DAYS: u32 = 2;

/// When a parcel handed over at `shipped_at` is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryEstimate {
    /// End of the expected day.
    pub date: Timestamp,
    /// Start of the earliest likely day.
    pub from: Timestamp,
    /// End of the latest likely day.
    pub to: Timestamp,
    pub source: EstimateSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateSource {
    RateTable,
    Observed,
}

/// The first business day the carrier moves a parcel handed over at `at`:
/// the same day before the warehouse's cut-off (minutes after midnight,
/// UTC) on a weekday, else the next weekday.
pub fn departure_day(at: Timestamp, cutoff_minute: u32) -> Timestamp {
    let day = Timestamp::from_millis(at.as_millis() / DAY_MS * DAY_MS);
    let minute = (at.as_millis() % DAY_MS) / 60_000;
    if minute < u64::from(cutoff_minute) && !is_weekend(day) {
        return day;
    }
    let mut next = day.plus_millis(DAY_MS);
    while is_weekend(next) {
        next = next.plus_millis(DAY_MS);
    }
    next
}

/// Business days (Monday to Friday) from the day of `from` to the day of
/// `to`: 0 for the same day.
pub fn business_days_between(from: Timestamp, to: Timestamp) -> u32 {
    let (first, last) = (from.as_millis() / DAY_MS, to.as_millis() / DAY_MS);
    let weekdays = (first + 1..=last).filter(|day| !is_weekend(Timestamp::from_millis(day * DAY_MS))).count();
    u32::try_from(weekdays).unwrap_or(u32::MAX)
}

/// The estimate: from observed transit times when there are enough (p50 for
/// the date, p10 to p90 for the range), otherwise from the rate table (its
/// transit days for the date, one business day either side for the range).
pub fn estimate_delivery(
    shipped_at: Timestamp,
    cutoff_minute: u32,
    table_days: u32,
    observed: Option<&TransitStats>,
) -> DeliveryEstimate {
    let departure = departure_day(shipped_at, cutoff_minute);
    let start_of = |end: Timestamp| Timestamp::from_millis(end.as_millis() / DAY_MS * DAY_MS);
    match observed.and_then(TransitStats::percentiles) {
        Some((p10, p50, p90)) => DeliveryEstimate {
            date: delivery_by(departure, p50),
            from: start_of(delivery_by(departure, p10)),
            to: delivery_by(departure, p90),
            source: EstimateSource::Observed,
        },
        None => DeliveryEstimate {
            date: delivery_by(departure, table_days),
            from: start_of(delivery_by(departure, if table_days > 1 { table_days - 1 } else { table_days })),
            to: delivery_by(departure, table_days + 1),
            source: EstimateSource::RateTable,
        },
    }
}

/// Observed transit times of one carrier to one zone, in business days: the
/// newest [`TransitStats::KEPT`], so memory stays bounded and the estimate
/// follows the carrier's current speed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitStats {
    recent: VecDeque<u32>,
    /// Deliveries observed in all.
    pub observed: u64,
}

impl TransitStats {
    /// Observations kept.
    pub const KEPT: usize = 500;
    /// Observations needed before estimates use them.
    pub const ENOUGH: usize = 20;

    pub fn observe(&mut self, business_days: u32) {
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(business_days);
        self.observed += 1;
    }

    /// p10, p50 and p90 (nearest rank), once [`TransitStats::ENOUGH`] are
    /// kept.
    pub fn percentiles(&self) -> Option<(u32, u32, u32)> {
        if self.recent.len() < Self::ENOUGH {
            return None;
        }
        let mut sorted: Vec<u32> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let rank = |share: usize| sorted[(share * sorted.len()).div_ceil(100).max(1) - 1];
        Some((rank(10), rank(50), rank(90)))
    }
}

/// The built-in carrier network: three carriers with rates for the shipping
/// table's four zones (within 600 km, 1,600 km, 5,000 km, beyond).
pub fn simulated_carriers() -> Vec<Carrier> {
    let service = |name: &str, base: [i64; 4], per_kg: [i64; 4], days: [u32; 4]| CarrierService {
        name: name.to_owned(),
        base_cents: base.to_vec(),
        per_kg_cents: per_kg.to_vec(),
        transit_days: days.to_vec(),
    };
    vec![
        Carrier {
            id: "swiftship".to_owned(),
            name: "SwiftShip".to_owned(),
            tracking: TrackingFormat::Luhn { prefix: *b"SW" },
            services: vec![
                service("Ground", [520, 640, 860, 2_100], [90, 110, 140, 300], [2, 3, 5, 7]),
                service("Express", [1_350, 1_650, 2_050, 4_600], [200, 240, 290, 600], [1, 1, 2, 3]),
            ],
        },
        Carrier {
            id: "postal".to_owned(),
            name: "National Post".to_owned(),
            tracking: TrackingFormat::S10 { service: *b"LX", country: *b"US" },
            services: vec![
                service("Parcel", [450, 560, 740, 1_800], [80, 100, 120, 260], [3, 4, 6, 9]),
                service("Priority", [900, 1_100, 1_400, 3_100], [150, 170, 210, 450], [1, 2, 3, 4]),
            ],
        },
        Carrier {
            id: "cargoline".to_owned(),
            name: "CargoLine".to_owned(),
            tracking: TrackingFormat::Gs1,
            services: vec![
                service("Economy", [480, 600, 790, 1_950], [60, 80, 100, 220], [3, 4, 5, 8]),
                service("Two-day", [880, 1_080, 1_300, 2_950], [140, 160, 200, 420], [2, 2, 2, 4]),
            ],
        },
    ]
}
