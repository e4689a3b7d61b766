//! Sales tax and VAT rates by jurisdiction.

use super::PricingError;
use crate::engine::catalog::TaxCategory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One million: rates are integers in parts per million (7.25% = 72_500).
pub const PPM: u32 = 1_000_000;

/// The rates of one jurisdiction, in parts per million of the price.
/// The `zero` category is always 0 and has no entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRates {
    pub standard_ppm: u32,
    /// Groceries, books, clothing (simplified: one reduced rate per jurisdiction).
    pub reduced_ppm: u32,
}

impl TaxRates {
    pub const fn percent_hundredths(standard: u32, reduced: u32) -> TaxRates {
        TaxRates { standard_ppm: standard * 100, reduced_ppm: reduced * 100 }
    }

    pub fn rate_ppm(&self, category: TaxCategory) -> u32 {
        match category {
            TaxCategory::Standard => self.standard_ppm,
            TaxCategory::Reduced => self.reduced_ppm,
            TaxCategory::Zero => 0,
        }
    }
}

/// Tax rates keyed by jurisdiction: `US-CA` (country-region) or `DE` (country).
///
/// Lookup of an address's jurisdiction tries `CC-RR`, then `CC`, then
/// `fallback`. With no match and no fallback the lookup fails with
/// [`PricingError::UnknownJurisdiction`]: Mercato refuses to quote rather than
/// silently charge no tax. The default table covers every country and US state
/// of [`crate::engine::address::COUNTRIES`] and has no fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxTable {
    pub rates: BTreeMap<String, TaxRates>,
    #[serde(default)]
    pub fallback: Option<TaxRates>,
}

impl TaxTable {
    /// The rates for `country` (uppercase ISO code) and optional `region`.
    pub fn rates_for(&self, country: &str, region: Option<&str>) -> Result<TaxRates, PricingError> {
        let regional = region.and_then(|region| self.rates.get(&format!("{country}-{region}")));
        regional
            .or_else(|| self.rates.get(country))
            .copied()
            .or(self.fallback)
            .ok_or_else(|| PricingError::UnknownJurisdiction { jurisdiction: country.to_owned() })
    }

    /// Refuses rates above 100%.
    pub fn validate(&self) -> Result<(), PricingError> {
        let too_high = |rates: &TaxRates| rates.standard_ppm > PPM || rates.reduced_ppm > PPM;
        match self.rates.iter().find(|(_, rates)| too_high(rates)) {
            Some((key, _)) => Err(PricingError::InvalidConfig { reason: format!("tax rate of {key} above 100%") }),
            None if self.fallback.as_ref().is_some_and(too_high) => {
                Err(PricingError::InvalidConfig { reason: "fallback tax rate above 100%".to_owned() })
            }
            None => Ok(()),
        }
    }
}

/// State sales tax (state level only; local taxes are left out). `reduced` is
/// the grocery/clothing rate, simplified: 0 where groceries are exempt.
const US_RATES: &[(&str, u32, u32)] = &[
    ("AL", 400, 300),
    ("AK", 0, 0),
    ("AZ", 560, 0),
    ("AR", 650, 13),
    ("CA", 725, 0),
    ("CO", 290, 0),
    ("CT", 635, 0),
    ("DE", 0, 0),
    ("DC", 600, 0),
    ("FL", 600, 0),
    ("GA", 400, 0),
    ("HI", 400, 400),
    ("ID", 600, 600),
    ("IL", 625, 100),
    ("IN", 700, 0),
    ("IA", 600, 0),
    ("KS", 650, 0),
    ("KY", 600, 0),
    ("LA", 500, 0),
    ("ME", 550, 0),
    ("MD", 600, 0),
    ("MA", 625, 0),
    ("MI", 600, 0),
    ("MN", 688, 0),
    ("MS", 700, 500),
    ("MO", 423, 123),
    ("MT", 0, 0),
    ("NE", 550, 0),
    ("NV", 685, 0),
    ("NH", 0, 0),
    ("NJ", 663, 0),
    ("NM", 488, 0),
    ("NY", 400, 0),
    ("NC", 475, 0),
    ("ND", 500, 0),
    ("OH", 575, 0),
    ("OK", 450, 0),
    ("OR", 0, 0),
    ("PA", 600, 0),
    ("RI", 700, 0),
    ("SC", 600, 0),
    ("SD", 420, 420),
    ("TN", 700, 400),
    ("TX", 625, 0),
    ("UT", 485, 175),
    ("VT", 600, 0),
    ("VA", 430, 100),
    ("WA", 650, 0),
    ("WV", 600, 0),
    ("WI", 500, 0),
    ("WY", 400, 0),
];

/// EU VAT: standard and main reduced rate, in hundredths of a percent.
const EU_RATES: &[(&str, u32, u32)] = &[
    ("AT", 2000, 1000),
    ("BE", 2100, 600),
    ("DE", 1900, 700),
    ("ES", 2100, 1000),
    ("FI", 2550, 1400),
    ("FR", 2000, 550),
    ("IE", 2300, 1350),
    ("IT", 2200, 1000),
    ("LU", 1700, 800),
    ("NL", 2100, 900),
    ("PL", 2300, 800),
    ("PT", 2300, 600),
];

impl Default for TaxTable {
    /// Realistic rates for every shipping destination. New Jersey's 6.625% is
    /// exact (66_250 ppm); other US rates are rounded to a hundredth of a percent.
    fn default() -> Self {
        let mut rates: BTreeMap<String, TaxRates> = US_RATES
            .iter()
            .map(|(state, standard, reduced)| {
                (format!("US-{state}"), TaxRates::percent_hundredths(*standard, *reduced))
            })
            .collect();
        rates.insert("US-NJ".to_owned(), TaxRates { standard_ppm: 66_250, reduced_ppm: 0 });
        rates.insert("US-MN".to_owned(), TaxRates { standard_ppm: 68_750, reduced_ppm: 0 });
        rates.extend(EU_RATES.iter().map(|(country, standard, reduced)| {
            ((*country).to_owned(), TaxRates::percent_hundredths(*standard, *reduced))
        }));
        TaxTable { rates, fallback: None }
    }
}
