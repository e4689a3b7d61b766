//! The preparation of a place, as one pure function: from the checkout at
//! review, the stock picture, the warehouses, the prices, the gift card's
//! balance and the ids chosen for it, the order draft with its planned holds
//! and the saga that will take them, or the typed reason it cannot start.
//! The orders domain reads those inputs, calls [`prepare_place`], and runs
//! the saga.

use super::{plan_holds, Order, OrderDraft, OrderError, OrderLine, OrderRecord, RoutingError, StockByWarehouse};
use crate::engine::checkout::{Checkout, CheckoutError, CheckoutStep, PriceChange};
use crate::engine::ids::{CardToken, CartId, CheckoutId, CustomerId, GiftCardCode, OrderId, PaymentId};
use crate::engine::ids::{ReservationId, Sku, WarehouseId};
use crate::engine::money::Money;
use crate::engine::payment::{PaymentError, PaymentPlan};
use crate::engine::pricing::Pricing;
use crate::engine::saga::PlaceOrderSaga;
use crate::engine::time::Timestamp;
use crate::engine::warehouse::Warehouse;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A running place-order saga with what it needs to finish or compensate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaRecord {
    pub saga: PlaceOrderSaga,
    pub checkout: CheckoutId,
    pub cart: CartId,
    /// The order MarkPaid creates (already paid), or the hold on review
    /// (kept without its address: see [`super::record::saga_layout`]).
    #[serde(with = "super::record::saga_layout")]
    pub order: OrderRecord,
    pub card: Option<(CardToken, Money)>,
    pub gift_card: Option<(GiftCardCode, Money)>,
    pub payment_id: PaymentId,
    pub shipping_country: String,
}

/// Why a place cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error("{} price(s) changed since the checkout started", .0.len())]
    PriceChanged(Vec<PriceChange>),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Order(#[from] OrderError),
}

/// What a place is prepared from.
pub struct PlaceInput<'a> {
    pub checkout: &'a Checkout,
    pub customer: &'a CustomerId,
    /// The lines whose price changed since the checkout started: a place
    /// starts only when there are none.
    pub price_changes: Vec<PriceChange>,
    /// Available units per warehouse of the catalog-price lines' SKUs.
    pub stock: &'a StockByWarehouse,
    /// The warehouses with a bucket of each deal-claim line's SKU.
    pub stocking: &'a BTreeMap<Sku, Vec<WarehouseId>>,
    pub warehouses: &'a [Warehouse],
    pub pricing: &'a Pricing,
    /// The gift card of the payment and its balance, when one is used.
    pub gift_card_balance: Option<(GiftCardCode, Money)>,
    pub order_id: OrderId,
    pub payment_id: PaymentId,
    pub now: Timestamp,
}

/// Prepares the place of `input.checkout`: checks it is at review with
/// unchanged prices, routes its lines ([`plan_holds`], hold ids from
/// `new_hold_id`), splits the payment between gift card and card, taxes
/// the lines, drafts the order and starts its saga.
pub fn prepare_place(
    input: PlaceInput<'_>,
    new_hold_id: impl FnMut() -> ReservationId,
) -> Result<SagaRecord, PlaceError> {
    let checkout = input.checkout;
    let (Some(address), Some(totals), Some(payment), CheckoutStep::Review) =
        (&checkout.address, checkout.totals, &checkout.payment, checkout.step)
    else {
        return Err(CheckoutError::StepSkipped { required: CheckoutStep::Review, current: checkout.step }.into());
    };
    if !input.price_changes.is_empty() {
        return Err(PlaceError::PriceChanged(input.price_changes));
    }
    let (plans, holds) =
        plan_holds(&checkout.lines, input.stock, input.stocking, input.warehouses, address.location(), new_hold_id)?;
    let split = PaymentPlan::split(totals.total, input.gift_card_balance, payment.card.clone())?;
    let taxes = input.pricing.line_taxes(&checkout.priced_lines(), address).map_err(CheckoutError::from)?;
    let lines = checkout
        .lines
        .iter()
        .zip(taxes)
        .map(|(line, tax)| OrderLine {
            sku: line.sku.clone(),
            product_id: line.product_id.clone(),
            title: line.title.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            tax_category: line.tax_category,
            tax: tax.tax,
        })
        .collect();
    let draft = OrderDraft {
        id: input.order_id.clone(),
        customer: input.customer.clone(),
        lines,
        totals,
        authorization: split.card.as_ref().map(|_| input.payment_id.clone()),
        gift_card: split.gift_card.clone(),
        shipments: plans,
    };
    let (order, _) = Order::place(draft, input.now)?;
    let (claims, reservations): (Vec<_>, Vec<_>) = holds.iter().partition(|hold| hold.deal.is_some());
    let ids = |holds: Vec<&super::PlannedHold>| holds.into_iter().map(|hold| hold.id.clone()).collect();
    let saga = PlaceOrderSaga::start(input.order_id, ids(reservations), ids(claims));
    Ok(SagaRecord {
        saga,
        checkout: checkout.id.clone(),
        cart: checkout.cart_id.clone(),
        order: OrderRecord { order, holds, pending: None, shipping_address: Some(address.clone()) },
        card: split.card,
        gift_card: split.gift_card,
        payment_id: input.payment_id,
        shipping_country: address.country().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::address::{Address, AddressInput};
    use crate::engine::catalog::TaxCategory;
    use crate::engine::checkout::{CheckoutLine, PaymentChoice};
    use crate::engine::ids::ProductId;
    use crate::engine::money::Currency;
    use crate::engine::pricing::{QuoteContext, ShippingOption};
    use crate::engine::warehouse::GeoPoint;

    const NOW: Timestamp = Timestamp::from_millis(1_704_103_200_000);

    fn sku(raw: &str) -> Sku {
        Sku::parse(raw).unwrap()
    }

    fn line(raw: &str, quantity: u32) -> CheckoutLine {
        CheckoutLine {
            sku: sku(raw),
            product_id: ProductId::parse("P-1").unwrap(),
            title: raw.to_owned(),
            quantity,
            unit_price: Money::new(1_000, Currency::USD),
            tax_category: TaxCategory::Standard,
            weight_grams: 500,
            claims: Vec::new(),
        }
    }

    /// A checkout of 2 × A and 1 × B at review, paid by card.
    fn at_review(pricing: &Pricing) -> Checkout {
        let lines = vec![line("A", 2), line("B", 1)];
        let mut checkout =
            Checkout::start(CheckoutId::generate(1), CartId::parse("cart-1").unwrap(), lines, NOW).unwrap().0;
        let address = Address::parse(&AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "New York".into(),
            region: Some("NY".into()),
            postal_code: "10001".into(),
            country: "US".into(),
            ..AddressInput::default()
        })
        .unwrap();
        checkout.set_address(address, pricing).unwrap();
        let context = QuoteContext { origin: GeoPoint { lat: 40.5, lon: -74.4 }, prime: false, now: NOW };
        checkout.set_shipping(ShippingOption::Standard, pricing, &context).unwrap();
        checkout.set_payment(PaymentChoice { card: Some(CardToken::generate(1)), gift_card: None }).unwrap();
        checkout
    }

    fn prepare(checkout: &Checkout, stock_a: u64, price_changes: Vec<PriceChange>) -> Result<SagaRecord, PlaceError> {
        let warehouse =
            Warehouse::new(WarehouseId::parse("W-1").unwrap(), "W-1", GeoPoint { lat: 40.7, lon: -74.0 }, "US");
        let warehouses = [warehouse.unwrap()];
        let mut stock = StockByWarehouse::new();
        let shelf = stock.entry(WarehouseId::parse("W-1").unwrap()).or_default();
        shelf.insert(sku("A"), stock_a);
        shelf.insert(sku("B"), 5);
        let customer = CustomerId::generate(3);
        let input = PlaceInput {
            checkout,
            customer: &customer,
            price_changes,
            stock: &stock,
            stocking: &BTreeMap::new(),
            warehouses: &warehouses,
            pricing: &Pricing::default(),
            gift_card_balance: None,
            order_id: OrderId::generate(7),
            payment_id: PaymentId::generate(8),
            now: NOW,
        };
        let mut n = 0;
        prepare_place(input, || {
            n += 1;
            ReservationId::generate(n)
        })
    }

    #[test]
    fn a_checkout_at_review_becomes_an_order_draft_with_its_holds_and_saga() {
        let pricing = Pricing::default();
        let checkout = at_review(&pricing);
        let record = prepare(&checkout, 10, Vec::new()).unwrap();
        assert_eq!(record.order.order.id, OrderId::generate(7));
        let quantities: Vec<(&str, u32)> =
            record.order.holds.iter().map(|hold| (hold.bucket.sku.as_str(), hold.quantity)).collect();
        assert_eq!(quantities, [("A", 2), ("B", 1)]);
        let holds: Vec<ReservationId> = record.order.holds.iter().map(|hold| hold.id.clone()).collect();
        assert_eq!(record.saga.reservations, holds, "the saga takes exactly the planned holds");
        assert!(record.saga.claims.is_empty());
        let total = checkout.totals.unwrap().total;
        assert_eq!(record.card, Some((CardToken::generate(1), total)), "the card pays everything");
        assert_eq!(
            (record.checkout.clone(), record.cart.clone(), record.shipping_country.as_str()),
            (checkout.id.clone(), checkout.cart_id.clone(), "US")
        );
        assert!(record.order.order.lines.iter().all(|line| line.tax.cents > 0), "NY taxes every line");
        assert_eq!(record.order.shipping_address.as_ref(), checkout.address.as_ref(), "the order keeps its address");

        // A saga is stored with its order as older builds wrote it: without
        // the address (taken from the checkout again when the order is made).
        let bytes = crate::store::codec::encode(&record).unwrap();
        let read: SagaRecord = crate::store::codec::decode(b"j", &bytes).unwrap();
        let mut without_address = record.clone();
        without_address.order.shipping_address = None;
        assert_eq!(read, without_address);
    }

    #[test]
    fn a_place_that_cannot_start_says_why() {
        let pricing = Pricing::default();
        let lines = vec![line("A", 2)];
        let started = Checkout::start(CheckoutId::generate(2), CartId::parse("cart-2").unwrap(), lines, NOW).unwrap().0;
        assert!(matches!(
            prepare(&started, 10, Vec::new()),
            Err(PlaceError::Checkout(CheckoutError::StepSkipped { .. }))
        ));
        let checkout = at_review(&pricing);
        let change = PriceChange { sku: sku("A"), was: Money::new(1_000, Currency::USD), now: None };
        assert_eq!(prepare(&checkout, 10, vec![change.clone()]), Err(PlaceError::PriceChanged(vec![change])));
        assert!(matches!(
            prepare(&checkout, 1, Vec::new()),
            Err(PlaceError::Routing(RoutingError::InsufficientStock { requested: 2, available: 1, .. }))
        ));
    }
}
