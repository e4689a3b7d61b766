//! The checkout as it is stored: the engine's [`Checkout`] with its
//! customer and the order a running place is creating, and the commands it
//! takes. Pure: the checkout domain's actor applies these and writes the
//! record.
//!
//! Placing is bracketed: `BeginPlace` records the order id being placed (a
//! second, concurrent place is refused while one runs), `EndPlace` either
//! marks the checkout placed or clears the attempt after a compensated saga.

use super::{Checkout, CheckoutError, CheckoutStep, CurrentPrices, PaymentChoice};
use crate::engine::address::Address;
use crate::engine::ids::{CheckoutId, CustomerId, OrderId};
use crate::engine::pricing::{Pricing, QuoteContext, ShippingOption};
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    AcceptPrices(CurrentPrices),
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

impl CheckoutRecord {
    /// Applies one command for its owner; `Ok(true)` when the record
    /// changed. A command naming another customer as owner finds nothing.
    pub fn apply(&mut self, message: CheckoutMessage) -> Result<bool, CheckoutRejection> {
        if message.owner.is_some_and(|owner| owner != self.customer) {
            return Err(CheckoutRejection::NotFound { id: self.checkout.id.clone() });
        }
        let command = message.command;
        let record = self;
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
}
