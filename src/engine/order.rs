//! The order aggregate: status machine, payments record, shipments, returns.
//!
//! Transition table (every other (status, action) pair is
//! [`OrderError::InvalidTransition`] and changes nothing):
//!
//! | from              | action            | to                |
//! |-------------------|-------------------|-------------------|
//! | `pending_payment` | `mark_paid`       | `paid`            |
//! | `pending_payment` | `hold`            | `on_hold`         |
//! | `pending_payment` | `cancel`          | `cancelled`       |
//! | `on_hold`         | `mark_paid`       | `paid`            |
//! | `on_hold`         | `cancel`          | `cancelled`       |
//! | `paid`            | `start_fulfilment`| `fulfilling`      |
//! | `paid`            | `cancel`          | `cancelled`       |
//! | `fulfilling`      | `ship`            | `shipped`         |
//! | `fulfilling`      | `cancel`          | `cancelled`       |
//! | `shipped`         | `deliver`         | `delivered`       |
//! | `delivered`       | `request_return`  | `return_requested`|
//! | `return_requested`| `receive_return`  | `returned`        |
//! | `returned`        | `refund_return`   | `refunded`        |
//!
//! `cancelled` and `refunded` are final. Cancelling is allowed until the order
//! ships; the `Cancelled` event tells the caller what to undo: release the
//! holds (before payment) or restock the committed units (on hold and after),
//! and void the authorization (before capture: pending or on hold) or refund
//! the card and credit the gift card (after). One return per order; shipping
//! is not refunded.
//!
//! `on_hold` is an order fraud screening sent to review: its units are
//! committed and its card authorized, never captured, and nothing ships
//! until the admin approves it (`mark_paid`, which owes the capture) or
//! cancels it.
//!
//! Invariants ([`Order::check_invariants`]): `order.history_ends_in_status`,
//! `order.totals_add_up`, `order.refunds_within_captured`,
//! `order.returns_within_lines`, `order.shipments_cover_lines`,
//! `order.held_not_captured`.

mod listing;
mod movements;
mod place;
mod record;
mod routing;
#[cfg(test)]
mod tests;

pub use listing::{FilterError, OrderCursor, OrderFilter, OrderSummary, ORDER_QUERY_CHARS_MAX};
pub use movements::{MovementKind, MovementMethod, PaymentMovement};
pub use place::{prepare_place, PlaceError, PlaceInput, SagaRecord};
pub use record::{plan_holds, stock_tasks, OrderCommand, OrderRecord, PlannedHold, StockOp, StockTask};
pub use routing::{
    plan_shipments, RoutingError, ShipmentLine, ShipmentPlan, StockByWarehouse, ROUTING_EXACT_WAREHOUSES_MAX,
};

use super::catalog::TaxCategory;
use super::ids::{CustomerId, GiftCardCode, OrderId, PaymentId, ProductId, Sku};
use super::money::{Money, MoneyError};
use super::pricing::Totals;
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest return reason.
pub const RETURN_REASON_CHARS_MAX: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Fulfilling,
    Shipped,
    Delivered,
    Cancelled,
    ReturnRequested,
    Returned,
    Refunded,
    /// Sent to review by fraud screening (appended last: the encoding of
    /// the other variants never changes).
    OnHold,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::PendingPayment,
        OrderStatus::OnHold,
        OrderStatus::Paid,
        OrderStatus::Fulfilling,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::ReturnRequested,
        OrderStatus::Returned,
        OrderStatus::Refunded,
    ];
}

/// What can be done to an order (for the transition table and errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    MarkPaid,
    StartFulfilment,
    Ship,
    Deliver,
    Cancel,
    RequestReturn,
    ReceiveReturn,
    RefundReturn,
    Hold,
}

impl OrderAction {
    pub const ALL: [OrderAction; 9] = [
        OrderAction::Hold,
        OrderAction::MarkPaid,
        OrderAction::StartFulfilment,
        OrderAction::Ship,
        OrderAction::Deliver,
        OrderAction::Cancel,
        OrderAction::RequestReturn,
        OrderAction::ReceiveReturn,
        OrderAction::RefundReturn,
    ];
}

/// The transition table of the module docs: `(from, action, to)`.
pub const TRANSITIONS: &[(OrderStatus, OrderAction, OrderStatus)] = &[
    (OrderStatus::PendingPayment, OrderAction::MarkPaid, OrderStatus::Paid),
    (OrderStatus::PendingPayment, OrderAction::Hold, OrderStatus::OnHold),
    (OrderStatus::PendingPayment, OrderAction::Cancel, OrderStatus::Cancelled),
    (OrderStatus::OnHold, OrderAction::MarkPaid, OrderStatus::Paid),
    (OrderStatus::OnHold, OrderAction::Cancel, OrderStatus::Cancelled),
    (OrderStatus::Paid, OrderAction::StartFulfilment, OrderStatus::Fulfilling),
    (OrderStatus::Paid, OrderAction::Cancel, OrderStatus::Cancelled),
    (OrderStatus::Fulfilling, OrderAction::Ship, OrderStatus::Shipped),
    (OrderStatus::Fulfilling, OrderAction::Cancel, OrderStatus::Cancelled),
    (OrderStatus::Shipped, OrderAction::Deliver, OrderStatus::Delivered),
    (OrderStatus::Delivered, OrderAction::RequestReturn, OrderStatus::ReturnRequested),
    (OrderStatus::ReturnRequested, OrderAction::ReceiveReturn, OrderStatus::Returned),
    (OrderStatus::Returned, OrderAction::RefundReturn, OrderStatus::Refunded),
];

/// The status `action` leads to from `from`, if allowed.
pub fn next_status(from: OrderStatus, action: OrderAction) -> Option<OrderStatus> {
    TRANSITIONS.iter().find(|(status, act, _)| *status == from && *act == action).map(|(_, _, to)| *to)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("cannot {action:?} an order that is {status:?}")]
    InvalidTransition { status: OrderStatus, action: OrderAction },
    #[error("an order needs at least one line")]
    NoLines,
    #[error("totals do not match the lines: {detail}")]
    TotalsMismatch { detail: String },
    #[error("invalid return: {reason}")]
    InvalidReturn { reason: String },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// One bought line, with the tax it was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: Sku,
    pub product_id: ProductId,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub tax_category: TaxCategory,
    /// The tax of the whole line (see pricing's rounding rule).
    pub tax: Money,
}

impl OrderLine {
    pub fn line_total(&self) -> Result<Money, MoneyError> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// How the order is paid and what happened to the money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub authorization: Option<PaymentId>,
    /// What the card pays (authorized at placement, captured when paid).
    pub card_amount: Money,
    pub gift_card: Option<(GiftCardCode, Money)>,
    pub captured: Money,
    pub gift_card_debited: Money,
    pub refunded: Money,
    pub gift_card_credited: Money,
}

/// What the caller must do about stock after a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockAction {
    /// Before payment: the holds are still holds.
    ReleaseHolds,
    /// After payment: the holds were committed; return the units to stock.
    Restock,
}

/// What the caller must do about money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentAction {
    Void { authorization: PaymentId },
    RefundCard { authorization: PaymentId, amount: Money },
    CreditGiftCard { code: GiftCardCode, amount: Money },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnItem {
    pub sku: Sku,
    pub quantity: u32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRequest {
    pub items: Vec<ReturnItem>,
    /// Price plus the proportional tax of the returned units.
    pub refund: Money,
    pub requested_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub at: Timestamp,
}

/// What happened to an order; [`Order::apply`] replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    Placed {
        order: Box<Order>,
    },
    Paid {
        at: Timestamp,
    },
    FulfilmentStarted {
        at: Timestamp,
    },
    Shipped {
        at: Timestamp,
    },
    Delivered {
        at: Timestamp,
    },
    Cancelled {
        reason: String,
        stock: StockAction,
        payments: Vec<PaymentAction>,
        at: Timestamp,
    },
    ReturnRequested {
        request: ReturnRequest,
        at: Timestamp,
    },
    ReturnReceived {
        at: Timestamp,
    },
    Refunded {
        payments: Vec<PaymentAction>,
        at: Timestamp,
    },
    /// Sent to review: authorized and committed, not captured.
    Held {
        at: Timestamp,
    },
}

/// The input of [`Order::place`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDraft {
    pub id: OrderId,
    pub customer: CustomerId,
    pub lines: Vec<OrderLine>,
    pub totals: Totals,
    pub authorization: Option<PaymentId>,
    pub gift_card: Option<(GiftCardCode, Money)>,
    pub shipments: Vec<ShipmentPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer: CustomerId,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub totals: Totals,
    pub payment: PaymentRecord,
    pub shipments: Vec<ShipmentPlan>,
    pub return_request: Option<ReturnRequest>,
    pub history: Vec<StatusChange>,
    pub created_at: Timestamp,
}

impl Order {
    /// A new order in `pending_payment`. The lines must add up to the totals;
    /// the card pays `total` minus the gift card part.
    pub fn place(draft: OrderDraft, now: Timestamp) -> Result<(Order, Vec<OrderEvent>), OrderError> {
        if draft.lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        let currency = draft.totals.total.currency;
        let gift = draft.gift_card.as_ref().map_or(0, |(_, amount)| amount.cents);
        let zero = Money::zero(currency);
        let order = Order {
            id: draft.id,
            customer: draft.customer,
            status: OrderStatus::PendingPayment,
            lines: draft.lines,
            totals: draft.totals,
            payment: PaymentRecord {
                authorization: draft.authorization,
                card_amount: Money::new(draft.totals.total.cents - gift, currency),
                gift_card: draft.gift_card,
                captured: zero,
                gift_card_debited: zero,
                refunded: zero,
                gift_card_credited: zero,
            },
            shipments: draft.shipments,
            return_request: None,
            history: vec![StatusChange { from: None, to: OrderStatus::PendingPayment, at: now }],
            created_at: now,
        };
        order.check_totals()?;
        if order.payment.card_amount.cents < 0 {
            return Err(OrderError::TotalsMismatch { detail: "gift card pays more than the total".to_owned() });
        }
        if let Err(violation) = order.check_invariants() {
            return Err(OrderError::TotalsMismatch { detail: violation.detail });
        }
        let events = vec![OrderEvent::Placed { order: Box::new(order.clone()) }];
        Ok((order, events))
    }

    fn allow(&self, action: OrderAction) -> Result<OrderStatus, OrderError> {
        next_status(self.status, action).ok_or(OrderError::InvalidTransition { status: self.status, action })
    }

    fn emit(&mut self, event: OrderEvent) -> Vec<OrderEvent> {
        self.apply(&event);
        vec![event]
    }

    /// Fraud screening sent the order to review: it waits, authorized and
    /// not captured, for the admin.
    pub fn hold(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::Hold)?;
        Ok(self.emit(OrderEvent::Held { at: now }))
    }

    /// The payment was captured (card) and debited (gift card).
    pub fn mark_paid(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::MarkPaid)?;
        Ok(self.emit(OrderEvent::Paid { at: now }))
    }

    pub fn start_fulfilment(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::StartFulfilment)?;
        Ok(self.emit(OrderEvent::FulfilmentStarted { at: now }))
    }

    pub fn ship(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::Ship)?;
        Ok(self.emit(OrderEvent::Shipped { at: now }))
    }

    pub fn deliver(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::Deliver)?;
        Ok(self.emit(OrderEvent::Delivered { at: now }))
    }

    /// Cancels before shipping; the event lists the stock and money to undo.
    pub fn cancel(&mut self, reason: &str, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::Cancel)?;
        let stock = match self.status {
            OrderStatus::PendingPayment => StockAction::ReleaseHolds,
            _ => StockAction::Restock,
        };
        let payments = match self.status {
            OrderStatus::PendingPayment | OrderStatus::OnHold => self.void_all(),
            _ => self.give_back(self.payment.captured, self.payment.gift_card_debited),
        };
        let reason = reason.chars().take(RETURN_REASON_CHARS_MAX).collect();
        Ok(self.emit(OrderEvent::Cancelled { reason, stock, payments, at: now }))
    }

    /// Requests the return of delivered items (each SKU of the order, at most
    /// its quantity, a reason of 1..=500 characters).
    pub fn request_return(&mut self, items: Vec<ReturnItem>, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::RequestReturn)?;
        let refund = self.return_refund(&items)?;
        let request = ReturnRequest { items, refund, requested_at: now };
        Ok(self.emit(OrderEvent::ReturnRequested { request, at: now }))
    }

    pub fn receive_return(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::ReceiveReturn)?;
        Ok(self.emit(OrderEvent::ReturnReceived { at: now }))
    }

    /// Refunds the returned items: the card first, then the gift card.
    pub fn refund_return(&mut self, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        self.allow(OrderAction::RefundReturn)?;
        let refund = self.return_request.as_ref().map_or(0, |request| request.refund.cents);
        let to_card = refund.min(self.payment.captured.cents);
        let currency = self.totals.total.currency;
        let payments = self.give_back(Money::new(to_card, currency), Money::new(refund - to_card, currency));
        Ok(self.emit(OrderEvent::Refunded { payments, at: now }))
    }

    /// Before capture: the authorization is voided (which also credits back
    /// a gift card debited under the same reference); a gift card alone is
    /// credited back.
    fn void_all(&self) -> Vec<PaymentAction> {
        match (&self.payment.authorization, &self.payment.gift_card) {
            (Some(authorization), _) => vec![PaymentAction::Void { authorization: authorization.clone() }],
            (None, Some((code, amount))) if self.status == OrderStatus::OnHold => {
                vec![PaymentAction::CreditGiftCard { code: code.clone(), amount: *amount }]
            }
            (None, _) => Vec::new(),
        }
    }

    fn give_back(&self, card: Money, gift: Money) -> Vec<PaymentAction> {
        let mut payments = Vec::new();
        if let (Some(authorization), true) = (&self.payment.authorization, card.cents > 0) {
            payments.push(PaymentAction::RefundCard { authorization: authorization.clone(), amount: card });
        }
        if let (Some((code, _)), true) = (&self.payment.gift_card, gift.cents > 0) {
            payments.push(PaymentAction::CreditGiftCard { code: code.clone(), amount: gift });
        }
        payments
    }

    /// Price plus proportional tax (`line_tax * returned / quantity`, rounded
    /// half-up) of the items; the whole line returned refunds its whole tax.
    fn return_refund(&self, items: &[ReturnItem]) -> Result<Money, OrderError> {
        let invalid = |reason: String| Err(OrderError::InvalidReturn { reason });
        if items.is_empty() {
            return invalid("no items".to_owned());
        }
        let mut returned: BTreeMap<&Sku, u32> = BTreeMap::new();
        let mut refund = Money::zero(self.totals.total.currency);
        for item in items {
            let reason = item.reason.trim();
            if reason.is_empty() || reason.chars().count() > RETURN_REASON_CHARS_MAX {
                return invalid(format!("reason for {} must be 1..={RETURN_REASON_CHARS_MAX} characters", item.sku));
            }
            let Some(line) = self.lines.iter().find(|line| line.sku == item.sku) else {
                return invalid(format!("{} is not in this order", item.sku));
            };
            let total = returned.entry(&item.sku).or_default();
            *total = total.saturating_add(item.quantity);
            if item.quantity == 0 || *total > line.quantity {
                return invalid(format!("{} units of {} were delivered", line.quantity, item.sku));
            }
            let price = line.unit_price.checked_mul(item.quantity)?;
            let share = i128::from(line.tax.cents) * i128::from(item.quantity);
            let quantity = i128::from(line.quantity);
            let tax = i64::try_from((2 * share + quantity) / (2 * quantity)).map_err(|_| MoneyError::Overflow)?;
            refund = refund.checked_add(price)?.checked_add(Money::new(tax, refund.currency))?;
        }
        Ok(refund)
    }

    /// Replays one event; events were valid when produced.
    pub fn apply(&mut self, event: &OrderEvent) {
        let (action, at) = match event {
            OrderEvent::Placed { order } => {
                *self = (**order).clone();
                return;
            }
            OrderEvent::Paid { at } => {
                self.payment.captured = self.payment.card_amount;
                let zero = Money::zero(self.totals.total.currency);
                self.payment.gift_card_debited = self.payment.gift_card.as_ref().map_or(zero, |(_, amount)| *amount);
                (OrderAction::MarkPaid, *at)
            }
            OrderEvent::Held { at } => {
                let zero = Money::zero(self.totals.total.currency);
                self.payment.gift_card_debited = self.payment.gift_card.as_ref().map_or(zero, |(_, amount)| *amount);
                (OrderAction::Hold, *at)
            }
            OrderEvent::FulfilmentStarted { at } => (OrderAction::StartFulfilment, *at),
            OrderEvent::Shipped { at } => (OrderAction::Ship, *at),
            OrderEvent::Delivered { at } => (OrderAction::Deliver, *at),
            OrderEvent::Cancelled { payments, at, .. } => {
                self.record_payments(payments);
                (OrderAction::Cancel, *at)
            }
            OrderEvent::ReturnRequested { request, at } => {
                self.return_request = Some(request.clone());
                (OrderAction::RequestReturn, *at)
            }
            OrderEvent::ReturnReceived { at } => (OrderAction::ReceiveReturn, *at),
            OrderEvent::Refunded { payments, at } => {
                self.record_payments(payments);
                (OrderAction::RefundReturn, *at)
            }
        };
        if let Some(to) = next_status(self.status, action) {
            self.history.push(StatusChange { from: Some(self.status), to, at });
            self.status = to;
        }
    }

    fn record_payments(&mut self, payments: &[PaymentAction]) {
        for payment in payments {
            match payment {
                PaymentAction::Void { .. } => {}
                PaymentAction::RefundCard { amount, .. } => {
                    self.payment.refunded.cents = self.payment.refunded.cents.saturating_add(amount.cents);
                }
                PaymentAction::CreditGiftCard { amount, .. } => {
                    self.payment.gift_card_credited.cents =
                        self.payment.gift_card_credited.cents.saturating_add(amount.cents);
                }
            }
        }
    }

    fn check_totals(&self) -> Result<(), OrderError> {
        let totals = &self.totals;
        let zero = Money::zero(totals.total.currency);
        let mut subtotal = zero;
        let mut tax = zero;
        for line in &self.lines {
            subtotal = subtotal.checked_add(line.line_total()?)?;
            tax = tax.checked_add(line.tax)?;
        }
        let total = subtotal
            .checked_add(tax)?
            .checked_add(totals.shipping)?
            .checked_add(Money::new(-totals.discount.cents, zero.currency))?;
        if subtotal != totals.subtotal || tax != totals.tax || total != totals.total {
            return Err(OrderError::TotalsMismatch {
                detail: format!("lines give {subtotal} + {tax} tax, totals say {} + {}", totals.subtotal, totals.tax),
            });
        }
        Ok(())
    }

    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let violation = |name: &'static str, detail: String| {
            Err(InvariantViolation { name, detail: format!("order {}: {detail}", self.id) })
        };
        if self.history.last().map(|change| change.to) != Some(self.status) {
            return violation("order.history_ends_in_status", format!("status {:?}", self.status));
        }
        if let Err(error) = self.check_totals() {
            return violation("order.totals_add_up", error.to_string());
        }
        let payment = &self.payment;
        let gift = payment.gift_card.as_ref().map_or(0, |(_, amount)| amount.cents);
        if payment.refunded.cents > payment.captured.cents || payment.gift_card_credited.cents > gift {
            return violation("order.refunds_within_captured", format!("{payment:?}"));
        }
        if self.status == OrderStatus::OnHold && payment.captured.cents != 0 {
            return violation("order.held_not_captured", format!("captured {}", payment.captured));
        }
        if let Some(request) = &self.return_request {
            for item in &request.items {
                if !self.lines.iter().any(|line| line.sku == item.sku && item.quantity <= line.quantity) {
                    return violation("order.returns_within_lines", format!("{} x{}", item.sku, item.quantity));
                }
            }
        }
        if !self.shipments.is_empty() {
            let mut shipped: BTreeMap<&Sku, u64> = BTreeMap::new();
            for line in self.shipments.iter().flat_map(|plan| &plan.lines) {
                *shipped.entry(&line.sku).or_default() += u64::from(line.quantity);
            }
            let mut ordered: BTreeMap<&Sku, u64> = BTreeMap::new();
            for line in &self.lines {
                *ordered.entry(&line.sku).or_default() += u64::from(line.quantity);
            }
            if shipped != ordered {
                return violation("order.shipments_cover_lines", format!("shipped {shipped:?}, ordered {ordered:?}"));
            }
        }
        Ok(())
    }
}
