//! An order's money movements, as its `payments` list shows them: each
//! authorization, capture, void and refund of the card and of the gift
//! card, with its amount and time.
//!
//! They are read off what the order already keeps (its payment record and
//! its status history), so every order has them, older ones included:
//!
//! - placement (`created_at`): the card's authorization, and the gift card's
//!   part (debited at placement, shown as its authorization);
//! - reaching `paid`: the capture of both;
//! - `cancelled` from `pending_payment` or `on_hold`: both voided;
//! - `cancelled` after payment, or `refunded` after a return: the refunds
//!   (an order is cancelled before it ships and returned after it is
//!   delivered, so its refunds belong to one of the two).

use super::{Order, OrderStatus};
use crate::engine::money::Money;
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Authorization,
    Capture,
    Void,
    Refund,
}

/// What the money moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementMethod {
    Card,
    GiftCard,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMovement {
    pub kind: MovementKind,
    pub method: MovementMethod,
    pub amount: Money,
    pub at: Timestamp,
}

impl Order {
    /// Every money movement of the order, oldest first (see the module docs).
    pub fn payment_movements(&self) -> Vec<PaymentMovement> {
        let payment = &self.payment;
        let card = payment.authorization.as_ref().map(|_| payment.card_amount).filter(|amount| amount.cents > 0);
        let gift = payment.gift_card.as_ref().map(|(_, amount)| *amount).filter(|amount| amount.cents > 0);
        let both = |kind: MovementKind, at: Timestamp| {
            let card = card.map(|amount| PaymentMovement { kind, method: MovementMethod::Card, amount, at });
            let gift = gift.map(|amount| PaymentMovement { kind, method: MovementMethod::GiftCard, amount, at });
            card.into_iter().chain(gift)
        };
        let mut movements: Vec<PaymentMovement> = both(MovementKind::Authorization, self.created_at).collect();
        for change in &self.history {
            match (change.from, change.to) {
                (_, OrderStatus::Paid) => movements.extend(both(MovementKind::Capture, change.at)),
                (Some(OrderStatus::PendingPayment | OrderStatus::OnHold), OrderStatus::Cancelled) => {
                    movements.extend(both(MovementKind::Void, change.at));
                }
                (_, OrderStatus::Cancelled | OrderStatus::Refunded) => movements.extend(self.refunds(change.at)),
                _ => {}
            }
        }
        movements
    }

    fn refunds(&self, at: Timestamp) -> impl Iterator<Item = PaymentMovement> {
        let refund = |method: MovementMethod, amount: Money| {
            (amount.cents > 0).then_some(PaymentMovement { kind: MovementKind::Refund, method, amount, at })
        };
        let card = refund(MovementMethod::Card, self.payment.refunded);
        let gift = refund(MovementMethod::GiftCard, self.payment.gift_card_credited);
        card.into_iter().chain(gift)
    }
}
