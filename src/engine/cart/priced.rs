//! A cart at the current prices: what a shopper sees (the HTTP view and
//! the embedded API give the same answer). Pure: the catalog's prices and
//! the stock board's availability come in as [`LineFacts`].

use super::CartLine;
use crate::engine::ids::{CartId, ProductId, Sku};
use crate::engine::money::{Currency, Money};

/// What the catalog and the stock board say of a line's SKU.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineFacts {
    /// `None` when no product sells the SKU any more.
    pub product_id: Option<ProductId>,
    pub title: Option<String>,
    pub unit_price: Option<Money>,
    pub available_units: u64,
}

/// One line at the current price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCartLine {
    pub sku: Sku,
    pub product_id: Option<ProductId>,
    pub title: Option<String>,
    pub quantity: u32,
    pub unit_price: Option<Money>,
    /// `unit_price × quantity`; `None` without a price (or on overflow).
    pub line_total: Option<Money>,
    /// Whether the line's quantity is available now (stock is enforced at
    /// reservation, not here).
    pub available: bool,
}

/// A cart at the current prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    pub id: CartId,
    pub lines: Vec<PricedCartLine>,
    /// Saved for later: priced, not in the subtotal.
    pub saved: Vec<PricedCartLine>,
    /// The sum of the priced lines, in the currency of the first priced
    /// line (USD for a cart without one).
    pub subtotal: Money,
    pub item_count: u64,
}

/// Prices `lines` and `saved` with `facts`.
pub fn price_cart(
    id: CartId,
    lines: &[CartLine],
    saved: &[CartLine],
    item_count: u64,
    facts: impl Fn(&CartLine) -> LineFacts,
) -> PricedCart {
    let price = |line: &CartLine| {
        let facts = facts(line);
        PricedCartLine {
            sku: line.sku.clone(),
            product_id: facts.product_id,
            title: facts.title,
            quantity: line.quantity,
            line_total: facts.unit_price.and_then(|price| price.checked_mul(line.quantity).ok()),
            unit_price: facts.unit_price,
            available: facts.available_units >= u64::from(line.quantity),
        }
    };
    let lines: Vec<PricedCartLine> = lines.iter().map(price).collect();
    let currency = lines.iter().find_map(|line| line.line_total).map_or(Currency::USD, |total| total.currency);
    let subtotal = lines
        .iter()
        .filter_map(|line| line.line_total)
        .try_fold(Money::zero(currency), Money::checked_add)
        .unwrap_or(Money::zero(currency));
    PricedCart { id, lines, saved: saved.iter().map(price).collect(), subtotal, item_count }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: u32) -> CartLine {
        CartLine { sku: Sku::parse(sku).unwrap(), quantity, seq: 0 }
    }

    #[test]
    fn lines_are_priced_and_summed_and_unpriced_lines_stay_out_of_the_subtotal() {
        let facts = |line: &CartLine| match line.sku.as_str() {
            "SKU-A" => LineFacts {
                product_id: Some(ProductId::parse("P-A").unwrap()),
                title: Some("A".into()),
                unit_price: Some(Money::new(250, Currency::USD)),
                available_units: 3,
            },
            _ => LineFacts { available_units: 0, ..LineFacts::default() },
        };
        let cart = price_cart(
            CartId::parse("cart_1").unwrap(),
            &[line("SKU-A", 3), line("SKU-GONE", 1)],
            &[line("SKU-A", 4)],
            4,
            facts,
        );
        assert_eq!(cart.lines[0].line_total, Some(Money::new(750, Currency::USD)));
        assert!(cart.lines[0].available);
        assert_eq!((cart.lines[1].unit_price, cart.lines[1].line_total, cart.lines[1].available), (None, None, false));
        assert_eq!(cart.subtotal, Money::new(750, Currency::USD), "saved lines are not in the subtotal");
        assert!(!cart.saved[0].available, "4 wanted, 3 available");
        let empty = price_cart(CartId::parse("cart_2").unwrap(), &[], &[], 0, facts);
        assert_eq!(empty.subtotal, Money::zero(Currency::USD));
    }
}
