//! Prices of an order: tax, shipping and totals.
//!
//! Money stays in integer minor units; every sum and product is checked, and
//! overflow is [`PricingError::Money`] (`MoneyError::Overflow`), never a panic.
//!
//! **Rounding.** Tax is computed per line: `unit_price * quantity * rate_ppm /
//! 1_000_000`, rounded half-up (half a cent goes up) to the minor unit on each
//! line, and the order's tax is the sum of the line taxes. Per line, so that a
//! return refunds exactly the tax that line was charged and the refunds of all
//! lines add up to the tax collected; half-up because that is the commercial
//! rounding most US states and EU VAT rules prescribe. Shipping is not taxed
//! (a simplification), and tax is computed on undiscounted prices.
//!
//! **Shipping.** The price depends on the option, the zone (by great-circle
//! distance from the shipping warehouse to the destination's region centroid,
//! see [`ShippingTable`]) and the weight in started kilograms (at least one).
//! Prime members ship standard and two-day for free; next day is charged.
//! `delivery_by` is the end of the UTC day a number of business days ahead.

mod shipping;
mod tax;
#[cfg(test)]
mod tests;

pub use shipping::{delivery_by, distance_km, is_weekend, ShippingOption, ShippingRate, ShippingTable, DAY_MS};
pub use tax::{TaxRates, TaxTable, PPM};

use super::address::Address;
use super::catalog::TaxCategory;
use super::ids::Sku;
use super::money::{Currency, Money, MoneyError};
use super::time::Timestamp;
use super::warehouse::GeoPoint;
use serde::{Deserialize, Serialize};

/// Why a quote cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("no tax rates for jurisdiction {jurisdiction}")]
    UnknownJurisdiction { jurisdiction: String },
    #[error("unknown shipping option {option:?}")]
    UnknownShippingOption { option: String },
    #[error("nothing to price")]
    NoLines,
    #[error("quantity of {sku} must be at least 1")]
    ZeroQuantity { sku: Sku },
    #[error("discount {discount} is more than the subtotal {subtotal}")]
    DiscountTooLarge { discount: Money, subtotal: Money },
    #[error("invalid pricing configuration: {reason}")]
    InvalidConfig { reason: String },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A line to price: what the checkout froze from the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Money,
    pub tax_category: TaxCategory,
    pub weight_grams: u32,
}

/// The money of an order. `total = subtotal + tax + shipping - discount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub tax: Money,
    pub shipping: Money,
    pub discount: Money,
    pub total: Money,
}

/// The tax of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTax {
    pub sku: Sku,
    /// `unit_price * quantity`.
    pub line_total: Money,
    pub rate_ppm: u32,
    pub tax: Money,
}

/// One way to ship, priced (`GET .../shipping-options` items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingQuote {
    pub option: ShippingOption,
    pub name: String,
    pub price: Money,
    pub delivery_by: Timestamp,
    /// 0-based zone of the distance.
    pub zone: u32,
}

/// A priced order: line taxes, the chosen shipping and the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub lines: Vec<LineTax>,
    pub shipping: ShippingQuote,
    pub totals: Totals,
}

/// Where from, for whom and when a quote is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuoteContext {
    /// The location of the warehouse that ships.
    pub origin: GeoPoint,
    /// Whether the customer is an active Prime member.
    pub prime: bool,
    pub now: Timestamp,
}

/// `amount * rate_ppm / 1_000_000`, rounded half-up to the minor unit.
/// Negative amounts round half away from zero (symmetric).
pub fn tax_on(amount: Money, rate_ppm: u32) -> Result<Money, MoneyError> {
    let product = i128::from(amount.cents) * i128::from(rate_ppm);
    let ppm = i128::from(PPM);
    let half = ppm / 2;
    let rounded = if product >= 0 { (product + half) / ppm } else { (product - half) / ppm };
    let cents = i64::try_from(rounded).map_err(|_| MoneyError::Overflow)?;
    Ok(Money::new(cents, amount.currency))
}

/// The rate tables; deserializable from configuration, with realistic defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pricing {
    pub tax: TaxTable,
    pub shipping: ShippingTable,
}

impl Pricing {
    pub fn validate(&self) -> Result<(), PricingError> {
        self.tax.validate()?;
        self.shipping.validate()
    }

    /// Tax of every line for a destination, in line order.
    pub fn line_taxes(&self, lines: &[PricedLine], destination: &Address) -> Result<Vec<LineTax>, PricingError> {
        let rates = self.tax.rates_for(destination.country(), destination.region())?;
        lines
            .iter()
            .map(|line| {
                let line_total = line.unit_price.checked_mul(line.quantity)?;
                let rate_ppm = rates.rate_ppm(line.tax_category);
                Ok(LineTax { sku: line.sku.clone(), line_total, rate_ppm, tax: tax_on(line_total, rate_ppm)? })
            })
            .collect()
    }

    /// Every configured option for these lines and destination, cheapest
    /// option first (table order).
    pub fn shipping_options(
        &self,
        lines: &[PricedLine],
        destination: &Address,
        context: &QuoteContext,
    ) -> Result<Vec<ShippingQuote>, PricingError> {
        let currency = currency_of(lines)?;
        self.shipping
            .rates
            .iter()
            .map(|rate| self.shipping_quote(rate.option, lines, currency, destination, context))
            .collect()
    }

    /// The price and date of one option.
    pub fn shipping_quote(
        &self,
        option: ShippingOption,
        lines: &[PricedLine],
        currency: Currency,
        destination: &Address,
        context: &QuoteContext,
    ) -> Result<ShippingQuote, PricingError> {
        let rate = self.shipping.rate(option)?;
        let zone = self.shipping.zone(distance_km(context.origin, destination.location()));
        let (Some(base), Some(days)) = (rate.base_cents.get(zone), rate.business_days.get(zone)) else {
            return Err(PricingError::InvalidConfig { reason: "shipping rate without this zone".to_owned() });
        };
        let grams = lines.iter().try_fold(0u64, |sum, line| {
            u64::from(line.weight_grams)
                .checked_mul(u64::from(line.quantity))
                .and_then(|weight| sum.checked_add(weight))
        });
        let kilograms = grams.ok_or(MoneyError::Overflow)?.div_ceil(1_000).max(1);
        let extra_kg = i64::try_from(kilograms - 1).map_err(|_| MoneyError::Overflow)?;
        let cents = rate.per_kg_cents.checked_mul(extra_kg).and_then(|extra| extra.checked_add(*base));
        let charged = if context.prime && option.free_with_prime() { Some(0) } else { cents };
        Ok(ShippingQuote {
            option,
            name: rate.name.clone(),
            price: Money::new(charged.ok_or(MoneyError::Overflow)?, currency),
            delivery_by: delivery_by(context.now, *days),
            zone: u32::try_from(zone).map_err(|_| MoneyError::Overflow)?,
        })
    }

    /// Prices lines shipped to `destination` with `option`, less `discount`
    /// (at most the subtotal).
    pub fn quote(
        &self,
        lines: &[PricedLine],
        destination: &Address,
        option: ShippingOption,
        discount: Option<Money>,
        context: &QuoteContext,
    ) -> Result<Quote, PricingError> {
        let currency = currency_of(lines)?;
        let line_taxes = self.line_taxes(lines, destination)?;
        let shipping = self.shipping_quote(option, lines, currency, destination, context)?;
        let zero = Money::zero(currency);
        let subtotal = line_taxes.iter().try_fold(zero, |sum, line| sum.checked_add(line.line_total))?;
        let tax = line_taxes.iter().try_fold(zero, |sum, line| sum.checked_add(line.tax))?;
        let discount = discount.unwrap_or(zero);
        if discount.currency != currency || discount.cents < 0 || discount.cents > subtotal.cents {
            return Err(PricingError::DiscountTooLarge { discount, subtotal });
        }
        let gross = subtotal.checked_add(tax)?.checked_add(shipping.price)?;
        let total = gross.checked_add(Money::new(-discount.cents, currency))?;
        let totals = Totals { subtotal, tax, shipping: shipping.price, discount, total };
        Ok(Quote { lines: line_taxes, shipping, totals })
    }
}

/// The one currency of the lines; every quantity must be at least 1.
fn currency_of(lines: &[PricedLine]) -> Result<Currency, PricingError> {
    let first = lines.first().ok_or(PricingError::NoLines)?;
    for line in lines {
        if line.quantity == 0 {
            return Err(PricingError::ZeroQuantity { sku: line.sku.clone() });
        }
        if line.unit_price.currency != first.unit_price.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: first.unit_price.currency,
                right: line.unit_price.currency,
            }
            .into());
        }
    }
    Ok(first.unit_price.currency)
}
