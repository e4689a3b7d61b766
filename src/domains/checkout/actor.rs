//! The checkout actor: one per checkout session, wrapping the engine's
//! [`Checkout`] step machine. Every change writes the whole (small) record.
//!
//! Placing is bracketed: `BeginPlace` records the order id being placed (a
//! second, concurrent place is refused while one runs), `EndPlace` either
//! marks the checkout placed or clears the attempt after a compensated saga.

use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Env, Failure, Reply};
use crate::engine::{
    Address, Checkout, CheckoutError, CheckoutId, CheckoutStep, CustomerId, OrderId, PaymentChoice, Pricing,
    QuoteContext, ShippingOption, Timestamp,
};
use crate::store::{keys, Batch, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

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
#[derive(Debug, Clone, Message)]
#[rtype(result = "Reply<CheckoutRecord, CheckoutRejection>")]
pub struct CheckoutMessage {
    pub command: CheckoutCommand,
    pub owner: Option<CustomerId>,
}

pub struct CheckoutActor {
    activation: Activation<CheckoutActor>,
    env: Env,
    state: Result<Option<CheckoutRecord>, StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
}

impl Actor for CheckoutActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::actors::passivate_when_idle(ctx, &self.env.config, |actor| (&actor.activation, actor.last_active));
    }
}

impl Activate for CheckoutActor {
    type Key = CheckoutId;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = env.store.get::<CheckoutRecord>(&keys::checkout(activation.key()));
        if let Err(err) = &state {
            tracing::error!(checkout = %activation.key(), error = %err, "cannot load checkout");
        }
        CheckoutActor { activation, env, state, last_ticket: Ticket::NONE, last_active: Instant::now() }
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

impl CheckoutActor {
    fn handle_command(
        &mut self,
        command: CheckoutCommand,
        owner: Option<CustomerId>,
        ctx: &mut Context<Self>,
    ) -> Reply<CheckoutRecord, CheckoutRejection> {
        self.last_active = Instant::now();
        let id = self.activation.key().clone();
        let ticket = self.last_ticket;
        let state = match &mut self.state {
            Ok(state) => state,
            Err(err) => {
                let err = err.clone();
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        };
        let created = match (&state, &command) {
            (None, CheckoutCommand::Create(record)) => {
                *state = Some((**record).clone());
                true
            }
            _ => false,
        };
        let Some(record) = state.as_mut().filter(|record| owner.is_none_or(|owner| record.customer == owner)) else {
            return Reply { result: Err(Failure::Rejected(CheckoutRejection::NotFound { id })), ticket };
        };
        let mut working = record.clone();
        let changed = match execute(&mut working, command) {
            Ok(changed) => changed || created,
            Err(rejection) => return Reply { result: Err(Failure::Rejected(rejection)), ticket },
        };
        if cfg!(debug_assertions) {
            if let Err(violation) = working.checkout.check_invariants() {
                panic!("{violation}");
            }
        }
        if changed && self.env.store.keeps_records() {
            let written = Batch::new_put(keys::checkout(&id), &working).and_then(|batch| self.env.store.write(batch));
            match written {
                Ok(ticket) => self.last_ticket = ticket,
                Err(err) => {
                    ctx.stop();
                    return Reply { result: Err(Failure::Store(err)), ticket };
                }
            }
        }
        *record = working.clone();
        Reply { result: Ok(working), ticket: self.last_ticket }
    }
}

impl Handler<CheckoutMessage> for CheckoutActor {
    type Result = MessageResult<CheckoutMessage>;
    fn handle(&mut self, msg: CheckoutMessage, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handle_command(msg.command, msg.owner, ctx))
    }
}

impl Handler<Crash> for CheckoutActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
