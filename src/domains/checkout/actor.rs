//! The checkout record: one record actor per checkout session
//! ([`crate::actors::record`]), wrapping the engine's [`Checkout`] step
//! machine. Every change writes the whole (small) record.
//!
//! Placing is bracketed: `BeginPlace` records the order id being placed (a
//! second, concurrent place is refused while one runs), `EndPlace` either
//! marks the checkout placed or clears the attempt after a compensated saga.

use crate::actors::record::{Record, RecordActor};
use crate::engine::{
    Address, Checkout, CheckoutError, CheckoutId, CheckoutStep, CustomerId, OrderId, PaymentChoice, Pricing,
    QuoteContext, ShippingOption, Timestamp,
};
use crate::store::keys;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The actor of one checkout.
pub type CheckoutActor = RecordActor<CheckoutRecord>;

/// Why a checkout operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutRejection {
    #[error("checkout {id} not found")]
    NotFound { id: CheckoutId },
    #[error("checkout {id} is being placed as order {order}")]
    PlaceInProgress { id: CheckoutId, order: OrderId },
    #[error(transparent)]
    Rule(#[from] CheckoutError),
}

/// What is stored per checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutRecord {
    pub checkout: Checkout,
    pub customer: CustomerId,
    /// The order a running place is creating.
    pub placing: Option<OrderId>,
}

#[derive(Debug, Clone)]
pub enum CheckoutCommand {
    /// Creates the checkout (a retry returns the existing one).
    Create(Box<CheckoutRecord>),
    Read,
    SetAddress {
        address: Address,
        pricing: Arc<Pricing>,
    },
    SetShipping {
        option: ShippingOption,
        pricing: Arc<Pricing>,
        context: QuoteContext,
    },
    SetPayment(PaymentChoice),
    AcceptPrices(crate::engine::CurrentPrices),
    /// Starts placing as `order`; refused unless the checkout is at review.
    BeginPlace {
        order: OrderId,
    },
    /// Ends the attempt of `order`: placed at `placed_at`, or given up.
    EndPlace {
        order: OrderId,
        placed_at: Option<Timestamp>,
    },
}

/// A command, and optionally the customer who must own the checkout (for
/// another customer's, the reply is `NotFound` and nothing changes).
#[derive(Debug, Clone)]
pub struct CheckoutMessage {
    pub command: CheckoutCommand,
    pub owner: Option<CustomerId>,
}

impl Record for CheckoutRecord {
    type Key = CheckoutId;
    type Command = CheckoutMessage;
    type Outcome = ();
    type Rejection = CheckoutRejection;

    fn store_key(key: &CheckoutId) -> Vec<u8> {
        keys::checkout(key)
    }

    fn created_by(message: &CheckoutMessage) -> Option<CheckoutRecord> {
        match &message.command {
            CheckoutCommand::Create(record) => Some((**record).clone()),
            _ => None,
        }
    }

    fn execute(&mut self, message: CheckoutMessage, _now: Timestamp) -> Result<(), CheckoutRejection> {
        if message.owner.is_some_and(|owner| owner != self.customer) {
            return Err(CheckoutRejection::NotFound { id: self.checkout.id.clone() });
        }
        execute(self, message.command).map(|_| ())
    }

    fn not_found(key: &CheckoutId) -> CheckoutRejection {
        CheckoutRejection::NotFound { id: key.clone() }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.checkout.check_invariants().map_err(|violation| violation.to_string())
    }
}

/// Applies one command; `Ok(true)` when the record changed.
fn execute(record: &mut CheckoutRecord, command: CheckoutCommand) -> Result<bool, CheckoutRejection> {
    let checkout = &mut record.checkout;
    if let Some(order) = &record.placing {
        if !matches!(
            command,
            CheckoutCommand::Read | CheckoutCommand::BeginPlace { .. } | CheckoutCommand::EndPlace { .. }
        ) {
            return Err(CheckoutRejection::PlaceInProgress { id: checkout.id.clone(), order: order.clone() });
        }
    }
    let events = match command {
        CheckoutCommand::Create(_) | CheckoutCommand::Read => Vec::new(),
        CheckoutCommand::SetAddress { address, pricing } => checkout.set_address(address, &pricing)?,
        CheckoutCommand::SetShipping { option, pricing, context } => {
            checkout.set_shipping(option, &pricing, &context)?
        }
        CheckoutCommand::SetPayment(payment) => checkout.set_payment(payment)?,
        CheckoutCommand::AcceptPrices(prices) => checkout.accept_prices(&prices)?,
        CheckoutCommand::BeginPlace { order } => {
            if checkout.step == CheckoutStep::Placed {
                return Ok(false);
            }
            if let Some(running) = &record.placing {
                if *running == order {
                    return Ok(false);
                }
                return Err(CheckoutRejection::PlaceInProgress { id: checkout.id.clone(), order: running.clone() });
            }
            if checkout.step < CheckoutStep::Review {
                let current = checkout.step;
                return Err(CheckoutError::StepSkipped { required: CheckoutStep::Review, current }.into());
            }
            record.placing = Some(order);
            return Ok(true);
        }
        CheckoutCommand::EndPlace { order, placed_at } => {
            if record.placing.as_ref() != Some(&order) {
                return Ok(false);
            }
            record.placing = None;
            if let Some(at) = placed_at {
                checkout.place(order, at)?;
            }
            return Ok(true);
        }
    };
    Ok(!events.is_empty())
}
