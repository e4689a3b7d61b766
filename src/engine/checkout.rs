//! The checkout: a cart's lines frozen at start, then address -> shipping ->
//! payment -> review -> placed.
//!
//! `step` names what the checkout needs next. A step cannot be skipped: setting
//! shipping without an address, or payment without shipping, is
//! [`CheckoutError::StepSkipped`]. Going back is allowed until the order is
//! placed, and **setting a step clears every later step** (a new address clears
//! shipping and payment, since the shipping price, delivery date and tax depend
//! on it; new shipping clears payment), so the customer always reviews totals
//! computed from the current choices. Prices are frozen at start;
//! [`Checkout::revalidate`] reports changes against current prices without
//! applying them, and [`Checkout::accept_prices`] applies them and clears
//! shipping and payment (the totals changed).
//!
//! Deal claims: units the customer already holds through a flash deal are
//! bought at the deal's price. [`apply_claims`] splits a cart line into one
//! line per deal (made of whole claims, soonest to expire first) and the rest
//! at the catalog price. A claim that lapses before place (expired, released,
//! used by another order) is a price change like any other: the units fall
//! back to the catalog price once the customer accepts.
//!
//! Invariant `checkout.step_matches_choices`: the step is the first missing
//! choice (`placed` once placed), and the totals exist exactly when shipping does.

use super::address::Address;
use super::catalog::TaxCategory;
use super::ids::{CardToken, CartId, CheckoutId, DealId, GiftCardCode, OrderId, ProductId, ReservationId, Sku};
use super::money::Money;
use super::pricing::{PricedLine, Pricing, PricingError, QuoteContext, ShippingOption, ShippingQuote, Totals};
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod record;
pub use record::{CheckoutCommand, CheckoutMessage, CheckoutRecord, CheckoutRejection};

/// Most lines a checkout takes (a cart's limit).
pub const CHECKOUT_LINES_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutStep {
    Address,
    Shipping,
    Payment,
    Review,
    Placed,
}

/// A cart line with its price as of the start of checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLine {
    pub sku: Sku,
    pub product_id: ProductId,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub tax_category: TaxCategory,
    pub weight_grams: u32,
    /// The deal claims the line's units are (empty for a catalog-price line);
    /// their quantities add up to `quantity`.
    pub claims: Vec<ClaimUse>,
}

/// A deal claim used for some of a line's units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimUse {
    pub id: ReservationId,
    pub deal: DealId,
    pub quantity: u32,
}

/// A deal claim the customer holds and could use at checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldClaim {
    pub id: ReservationId,
    pub deal: DealId,
    pub sku: Sku,
    pub quantity: u32,
    /// The deal's unit price.
    pub price: Money,
    pub expires_at: Timestamp,
}

/// Puts the customer's held claims to use: each line of a SKU with claims
/// becomes one line per deal (whole claims that fit the line's quantity,
/// soonest to expire first) and a catalog-price line for the rest, if any.
/// Claims that do not fit are left alone (they stay held for the customer).
pub fn apply_claims(lines: Vec<CheckoutLine>, held: &[HeldClaim]) -> Vec<CheckoutLine> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let mut candidates: Vec<&HeldClaim> = held
            .iter()
            .filter(|claim| claim.sku == line.sku && claim.price.currency == line.unit_price.currency)
            .collect();
        candidates.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then_with(|| a.id.cmp(&b.id)));
        let mut left = line.quantity;
        let mut by_deal: BTreeMap<&DealId, (Money, Vec<ClaimUse>)> = BTreeMap::new();
        for claim in candidates {
            if claim.quantity == 0 || claim.quantity > left {
                continue;
            }
            left -= claim.quantity;
            let entry = by_deal.entry(&claim.deal).or_insert_with(|| (claim.price, Vec::new()));
            entry.1.push(ClaimUse { id: claim.id.clone(), deal: claim.deal.clone(), quantity: claim.quantity });
        }
        for (price, claims) in by_deal.into_values() {
            let quantity = claims.iter().map(|claim| claim.quantity).sum();
            out.push(CheckoutLine { quantity, unit_price: price, claims, ..line.clone() });
        }
        if left > 0 {
            out.push(CheckoutLine { quantity: left, ..line });
        }
    }
    out
}

/// What the lines would cost now: the catalog's prices, and the claims that
/// are no longer held for this customer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentPrices {
    pub catalog: BTreeMap<Sku, Money>,
    pub lapsed_claims: BTreeSet<ReservationId>,
}

/// The sum of `lines`' totals in their (one) currency.
fn subtotal(lines: &[CheckoutLine]) -> Result<Money, super::money::MoneyError> {
    let currency = lines.first().map_or(super::money::Currency::USD, |line| line.unit_price.currency);
    lines.iter().try_fold(Money::zero(currency), |sum, line| sum.checked_add(line.line_total()?))
}

impl CheckoutLine {
    /// `unit_price × quantity`.
    pub fn line_total(&self) -> Result<Money, super::money::MoneyError> {
        self.unit_price.checked_mul(self.quantity)
    }

    pub fn priced(&self) -> PricedLine {
        PricedLine {
            sku: self.sku.clone(),
            quantity: self.quantity,
            unit_price: self.unit_price,
            tax_category: self.tax_category,
            weight_grams: self.weight_grams,
        }
    }
}

/// How the customer pays: a card, a gift card, or both (gift card first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentChoice {
    pub card: Option<CardToken>,
    pub gift_card: Option<GiftCardCode>,
}

/// A price that differs from the frozen one; `now` is `None` when the SKU can
/// no longer be bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChange {
    pub sku: Sku,
    pub was: Money,
    pub now: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckoutEvent {
    Started { checkout: Box<Checkout> },
    AddressSet { address: Address },
    ShippingSet { shipping: ShippingQuote, totals: Totals },
    PaymentSet { payment: PaymentChoice },
    PricesAccepted { lines: Vec<CheckoutLine> },
    Placed { order_id: OrderId, at: Timestamp },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("the cart is empty")]
    EmptyCart,
    #[error("a checkout takes at most {CHECKOUT_LINES_MAX} lines")]
    TooManyLines,
    #[error("{required:?} must be set first (the checkout is at {current:?})")]
    StepSkipped { required: CheckoutStep, current: CheckoutStep },
    #[error("the checkout was already placed")]
    AlreadyPlaced,
    #[error("choose a card, a gift card or both")]
    NoPaymentMethod,
    #[error("{sku} can no longer be bought")]
    Unavailable { sku: Sku },
    #[error(transparent)]
    Pricing(#[from] PricingError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub id: CheckoutId,
    pub cart_id: CartId,
    pub lines: Vec<CheckoutLine>,
    pub step: CheckoutStep,
    pub address: Option<Address>,
    pub shipping: Option<ShippingQuote>,
    pub totals: Option<Totals>,
    pub payment: Option<PaymentChoice>,
    pub order_id: Option<OrderId>,
    pub created_at: Timestamp,
}

impl Checkout {
    /// Freezes the cart's lines (1..=200, one currency, quantities of at least 1).
    pub fn start(
        id: CheckoutId,
        cart_id: CartId,
        lines: Vec<CheckoutLine>,
        now: Timestamp,
    ) -> Result<(Checkout, Vec<CheckoutEvent>), CheckoutError> {
        if lines.is_empty() {
            return Err(CheckoutError::EmptyCart);
        }
        if lines.len() > CHECKOUT_LINES_MAX {
            return Err(CheckoutError::TooManyLines);
        }
        let priced: Vec<PricedLine> = lines.iter().map(CheckoutLine::priced).collect();
        let first = priced[0].unit_price.currency;
        if let Some(line) = priced.iter().find(|line| line.quantity == 0) {
            return Err(PricingError::ZeroQuantity { sku: line.sku.clone() }.into());
        }
        if let Some(line) = priced.iter().find(|line| line.unit_price.currency != first) {
            let mismatch = super::money::MoneyError::CurrencyMismatch { left: first, right: line.unit_price.currency };
            return Err(PricingError::Money(mismatch).into());
        }
        subtotal(&lines).map_err(PricingError::Money)?;
        let checkout = Checkout {
            id,
            cart_id,
            lines,
            step: CheckoutStep::Address,
            address: None,
            shipping: None,
            totals: None,
            payment: None,
            order_id: None,
            created_at: now,
        };
        let events = vec![CheckoutEvent::Started { checkout: Box::new(checkout.clone()) }];
        Ok((checkout, events))
    }

    /// The sum of the line totals (checked at start, so it fits).
    pub fn subtotal(&self) -> Result<Money, super::money::MoneyError> {
        subtotal(&self.lines)
    }

    pub fn priced_lines(&self) -> Vec<PricedLine> {
        self.lines.iter().map(CheckoutLine::priced).collect()
    }

    fn open(&self) -> Result<(), CheckoutError> {
        if self.step == CheckoutStep::Placed {
            return Err(CheckoutError::AlreadyPlaced);
        }
        Ok(())
    }

    fn require(&self, required: CheckoutStep) -> Result<(), CheckoutError> {
        self.open()?;
        if self.step < required {
            return Err(CheckoutError::StepSkipped { required, current: self.step });
        }
        Ok(())
    }

    fn emit(&mut self, event: CheckoutEvent) -> Vec<CheckoutEvent> {
        self.apply(&event);
        vec![event]
    }

    /// Sets the address; clears shipping and payment. Refused when the
    /// destination has no tax rates (nothing could be quoted).
    pub fn set_address(&mut self, address: Address, pricing: &Pricing) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        self.open()?;
        pricing.tax.rates_for(address.country(), address.region())?;
        Ok(self.emit(CheckoutEvent::AddressSet { address }))
    }

    /// The priced options for the current address.
    pub fn shipping_options(
        &self,
        pricing: &Pricing,
        context: &QuoteContext,
    ) -> Result<Vec<ShippingQuote>, CheckoutError> {
        let address = self
            .address
            .as_ref()
            .ok_or(CheckoutError::StepSkipped { required: CheckoutStep::Shipping, current: self.step })?;
        Ok(pricing.shipping_options(&self.priced_lines(), address, context)?)
    }

    /// Chooses how to ship and computes the totals; clears payment.
    pub fn set_shipping(
        &mut self,
        option: ShippingOption,
        pricing: &Pricing,
        context: &QuoteContext,
    ) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        self.require(CheckoutStep::Shipping)?;
        let address = self
            .address
            .as_ref()
            .ok_or(CheckoutError::StepSkipped { required: CheckoutStep::Shipping, current: self.step })?;
        let quote = pricing.quote(&self.priced_lines(), address, option, None, context)?;
        Ok(self.emit(CheckoutEvent::ShippingSet { shipping: quote.shipping, totals: quote.totals }))
    }

    /// Chooses how to pay; the checkout moves to review.
    pub fn set_payment(&mut self, payment: PaymentChoice) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        self.require(CheckoutStep::Payment)?;
        if payment.card.is_none() && payment.gift_card.is_none() {
            return Err(CheckoutError::NoPaymentMethod);
        }
        Ok(self.emit(CheckoutEvent::PaymentSet { payment }))
    }

    /// The lines whose current price differs from the frozen one: a catalog
    /// line whose price moved, a deal line with a lapsed claim (its units now
    /// cost the catalog price). Nothing changes.
    pub fn revalidate(&self, current: &CurrentPrices) -> Vec<PriceChange> {
        self.lines
            .iter()
            .filter_map(|line| {
                let now = current.catalog.get(&line.sku).copied();
                let changed = if line.claims.is_empty() {
                    now != Some(line.unit_price)
                } else {
                    line.claims.iter().any(|claim| current.lapsed_claims.contains(&claim.id))
                };
                changed.then(|| PriceChange { sku: line.sku.clone(), was: line.unit_price, now })
            })
            .collect()
    }

    /// Takes the current prices; clears shipping and payment when any
    /// changed. The units of lapsed claims join the SKU's catalog-price line.
    pub fn accept_prices(&mut self, current: &CurrentPrices) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        self.open()?;
        if self.revalidate(current).is_empty() {
            return Ok(Vec::new());
        }
        let catalog_price =
            |sku: &Sku| current.catalog.get(sku).copied().ok_or(CheckoutError::Unavailable { sku: sku.clone() });
        let mut lines: Vec<CheckoutLine> = Vec::with_capacity(self.lines.len());
        let mut lapsed_units: Vec<(CheckoutLine, u32)> = Vec::new();
        for line in &self.lines {
            if line.claims.is_empty() {
                lines.push(CheckoutLine { unit_price: catalog_price(&line.sku)?, ..line.clone() });
                continue;
            }
            let (lapsed, held): (Vec<ClaimUse>, Vec<ClaimUse>) =
                line.claims.iter().cloned().partition(|claim| current.lapsed_claims.contains(&claim.id));
            let lapsed_quantity: u32 = lapsed.iter().map(|claim| claim.quantity).sum();
            if lapsed_quantity > 0 {
                lapsed_units.push((line.clone(), lapsed_quantity));
            }
            if !held.is_empty() {
                let quantity = held.iter().map(|claim| claim.quantity).sum();
                lines.push(CheckoutLine { quantity, claims: held, ..line.clone() });
            }
        }
        for (line, quantity) in lapsed_units {
            let unit_price = catalog_price(&line.sku)?;
            match lines.iter_mut().find(|kept| kept.sku == line.sku && kept.claims.is_empty()) {
                Some(kept) => kept.quantity = kept.quantity.saturating_add(quantity),
                None => lines.push(CheckoutLine { quantity, unit_price, claims: Vec::new(), ..line }),
            }
        }
        if let Some(line) = lines.iter().find(|line| line.unit_price.currency != self.lines[0].unit_price.currency) {
            return Err(CheckoutError::Unavailable { sku: line.sku.clone() });
        }
        Ok(self.emit(CheckoutEvent::PricesAccepted { lines }))
    }

    /// Every deal claim the lines use.
    pub fn claims(&self) -> impl Iterator<Item = &ClaimUse> {
        self.lines.iter().flat_map(|line| line.claims.iter())
    }

    /// Marks the checkout placed as `order_id` (after the saga completed).
    pub fn place(&mut self, order_id: OrderId, now: Timestamp) -> Result<Vec<CheckoutEvent>, CheckoutError> {
        self.require(CheckoutStep::Review)?;
        Ok(self.emit(CheckoutEvent::Placed { order_id, at: now }))
    }

    pub fn apply(&mut self, event: &CheckoutEvent) {
        match event {
            CheckoutEvent::Started { checkout } => *self = (**checkout).clone(),
            CheckoutEvent::AddressSet { address } => {
                self.address = Some(address.clone());
                self.clear_from(CheckoutStep::Shipping);
            }
            CheckoutEvent::ShippingSet { shipping, totals } => {
                self.shipping = Some(shipping.clone());
                self.totals = Some(*totals);
                self.clear_from(CheckoutStep::Payment);
            }
            CheckoutEvent::PaymentSet { payment } => {
                self.payment = Some(payment.clone());
                self.step = CheckoutStep::Review;
            }
            CheckoutEvent::PricesAccepted { lines } => {
                self.lines.clone_from(lines);
                let step = if self.address.is_some() { CheckoutStep::Shipping } else { CheckoutStep::Address };
                self.clear_from(step);
            }
            CheckoutEvent::Placed { order_id, .. } => {
                self.order_id = Some(order_id.clone());
                self.step = CheckoutStep::Placed;
            }
        }
    }

    /// Forgets the choices from `step` on and makes it the current step.
    fn clear_from(&mut self, step: CheckoutStep) {
        if step <= CheckoutStep::Shipping {
            self.shipping = None;
            self.totals = None;
        }
        if step <= CheckoutStep::Payment {
            self.payment = None;
        }
        self.step = step;
    }

    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let expected = match (&self.order_id, &self.address, &self.shipping, &self.payment) {
            (Some(_), _, _, _) => CheckoutStep::Placed,
            (None, None, _, _) => CheckoutStep::Address,
            (None, Some(_), None, _) => CheckoutStep::Shipping,
            (None, Some(_), Some(_), None) => CheckoutStep::Payment,
            (None, Some(_), Some(_), Some(_)) => CheckoutStep::Review,
        };
        let consistent = self.step == expected
            && self.shipping.is_some() == self.totals.is_some()
            && (self.address.is_some() || (self.shipping.is_none() && self.payment.is_none()))
            && (self.shipping.is_some() || self.payment.is_none());
        if !consistent {
            return Err(InvariantViolation {
                name: "checkout.step_matches_choices",
                detail: format!("checkout {} at {:?}, choices say {expected:?}", self.id, self.step),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
