//! The order actor: one per order, wrapping the engine's [`Order`].
//!
//! A transition writes, in one batch, the order record, its events to the
//! event log, and the stock tasks it owes buckets (`T` records: units to ship
//! or to take back). The record also remembers the last event whose effects
//! (returning holds, refunds, stock tasks) the orders domain still has to carry out
//! (`pending`); the domain clears it with `EffectsDone` once they are done,
//! and a restart carries out whatever is still pending.

use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Env, Failure, Reply};
use crate::domains::inventory::bucket::{StockOp, StockTask};
use crate::engine::order::{ReturnItem, StockAction};
use crate::engine::{BucketKey, DomainEvent, Order, OrderError, OrderEvent, OrderId, ReservationId, Timestamp};
use crate::store::{keys, Batch, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A hold the order's units were reserved under: a bucket's, or a deal
/// claim the customer held (`deal`), whose units already left the bucket
/// when the deal took its stock; `bucket` then names where they ship from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHold {
    pub id: ReservationId,
    pub bucket: BucketKey,
    pub quantity: u32,
    pub deal: Option<crate::engine::DealId>,
}

/// What is stored per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: Order,
    pub holds: Vec<PlannedHold>,
    /// The event whose effects are still owed, if any.
    pub pending: Option<OrderEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRejection {
    #[error("order {id} not found")]
    NotFound { id: OrderId },
    #[error(transparent)]
    Rule(#[from] OrderError),
}

#[derive(Debug, Clone)]
pub enum OrderCommand {
    /// Creates the order from a completed saga, already paid (idempotent).
    Create(Box<OrderRecord>),
    Read,
    Cancel {
        reason: String,
    },
    /// Starts fulfilment and ships every shipment.
    Ship,
    Deliver,
    RequestReturn {
        items: Vec<ReturnItem>,
    },
    /// The returned units arrived: restock them and refund.
    ReceiveReturn,
    /// The pending effects were carried out.
    EffectsDone,
}

#[derive(Debug, Clone, Message)]
#[rtype(result = "Reply<OrderRecord, OrderRejection>")]
pub struct OrderMessage(pub OrderCommand);

pub struct OrderActor {
    activation: Activation<OrderActor>,
    env: Env,
    state: Result<Option<OrderRecord>, StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::actors::passivate_when_idle(ctx, &self.env.config, |actor| (&actor.activation, actor.last_active));
    }
}

impl Activate for OrderActor {
    type Key = OrderId;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = env.store.get::<OrderRecord>(&keys::order(activation.key()));
        if let Err(err) = &state {
            tracing::error!(order = %activation.key(), error = %err, "cannot load order");
        }
        OrderActor { activation, env, state, last_ticket: Ticket::NONE, last_active: Instant::now() }
    }
}

/// The stock tasks an event owes: `(task name, task)`.
pub fn stock_tasks(record: &OrderRecord, event: &OrderEvent) -> Vec<(String, StockTask)> {
    let order = &record.order;
    match event {
        // One hold per (warehouse, SKU) of the routing plan; a deal claim's
        // units are not on their bucket's books, so only bucket holds ship.
        OrderEvent::Shipped { .. } => record
            .holds
            .iter()
            .enumerate()
            .filter(|(_, hold)| hold.deal.is_none())
            .map(|(index, hold)| {
                let op = StockOp::Ship { quantity: u64::from(hold.quantity) };
                (format!("ship-{index}"), StockTask { bucket: hold.bucket.clone(), op })
            })
            .collect(),
        // The units of a cancelled order's bucket holds come back by a task
        // (exactly once, even after the hold's settled record was pruned);
        // deal claims go back to their deal in `carry_out`.
        OrderEvent::Cancelled { stock: StockAction::Restock, .. } => record
            .holds
            .iter()
            .enumerate()
            .filter(|(_, hold)| hold.deal.is_none())
            .map(|(index, hold)| {
                let op = StockOp::ReturnCommitted { id: hold.id.clone(), quantity: u64::from(hold.quantity) };
                (format!("return-{index}"), StockTask { bucket: hold.bucket.clone(), op })
            })
            .collect(),
        OrderEvent::ReturnReceived { .. } | OrderEvent::Refunded { .. } => order
            .return_request
            .iter()
            .flat_map(|request| request.items.iter())
            .enumerate()
            .filter_map(|(index, item)| {
                let plan = order.shipments.iter().find(|plan| plan.lines.iter().any(|line| line.sku == item.sku))?;
                let bucket = BucketKey::new(item.sku.clone(), plan.warehouse.clone());
                let op = StockOp::Restock { quantity: u64::from(item.quantity) };
                Some((format!("restock-{index}"), StockTask { bucket, op }))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn execute(record: &mut OrderRecord, command: OrderCommand, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
    let order = &mut record.order;
    let events = match command {
        OrderCommand::Create(_) | OrderCommand::Read => Vec::new(),
        OrderCommand::EffectsDone => {
            record.pending = None;
            return Ok(Vec::new());
        }
        OrderCommand::Cancel { reason } => order.cancel(&reason, now)?,
        OrderCommand::Ship => {
            let mut events = order.start_fulfilment(now)?;
            events.extend(order.ship(now)?);
            events
        }
        OrderCommand::Deliver => order.deliver(now)?,
        OrderCommand::RequestReturn { items } => order.request_return(items, now)?,
        OrderCommand::ReceiveReturn => {
            let mut events = order.receive_return(now)?;
            events.extend(order.refund_return(now)?);
            events
        }
    };
    if let Some(owed) = events.iter().rev().find(|event| {
        matches!(event, OrderEvent::Cancelled { .. } | OrderEvent::Shipped { .. } | OrderEvent::Refunded { .. })
    }) {
        record.pending = Some(owed.clone());
    }
    Ok(events)
}

impl OrderActor {
    fn handle_command(&mut self, command: OrderCommand, ctx: &mut Context<Self>) -> Reply<OrderRecord, OrderRejection> {
        self.last_active = Instant::now();
        let id = self.activation.key().clone();
        let ticket = self.last_ticket;
        let now = self.env.source.now();
        let state = match &mut self.state {
            Ok(state) => state,
            Err(err) => {
                let err = err.clone();
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        };
        let mut batch = Batch::new();
        if let (None, OrderCommand::Create(record)) = (&state, &command) {
            let result = record_creation(&mut batch, &id, record, now);
            if let Err(err) = result {
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
            *state = Some((**record).clone());
        }
        let Some(record) = state else {
            return Reply { result: Err(Failure::Rejected(OrderRejection::NotFound { id })), ticket };
        };
        let mut working = record.clone();
        let events = match execute(&mut working, command, now) {
            Ok(events) => events,
            Err(rule) => return Reply { result: Err(Failure::Rejected(OrderRejection::Rule(rule))), ticket },
        };
        if cfg!(debug_assertions) {
            if let Err(violation) = working.order.check_invariants() {
                panic!("{violation}");
            }
        }
        let written = persist(&mut batch, &id, &working, record != &working, &events, now).and_then(|()| {
            if batch.is_empty() {
                Ok(None)
            } else {
                self.env.store.write(batch).map(Some)
            }
        });
        match written {
            Ok(Some(ticket)) => self.last_ticket = ticket,
            Ok(None) => {}
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        }
        *record = working.clone();
        Reply { result: Ok(working), ticket: self.last_ticket }
    }
}

fn record_creation(batch: &mut Batch, id: &OrderId, record: &OrderRecord, now: Timestamp) -> Result<(), StoreError> {
    batch.put(keys::order(id), record)?;
    let placed = OrderEvent::Placed { order: Box::new(record.order.clone()) };
    batch.event(&DomainEvent::Order { order: id.clone(), event: Box::new(placed), at: now })
}

fn persist(
    batch: &mut Batch,
    id: &OrderId,
    record: &OrderRecord,
    changed: bool,
    events: &[OrderEvent],
    now: Timestamp,
) -> Result<(), StoreError> {
    for event in events {
        for (name, task) in stock_tasks(record, event) {
            batch.put(keys::order_task(id, &name), &task)?;
        }
        batch.event(&DomainEvent::Order { order: id.clone(), event: Box::new(event.clone()), at: now })?;
    }
    if changed {
        batch.put(keys::order(id), record)?;
    }
    Ok(())
}

impl Handler<OrderMessage> for OrderActor {
    type Result = MessageResult<OrderMessage>;
    fn handle(&mut self, msg: OrderMessage, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handle_command(msg.0, ctx))
    }
}

impl Handler<Crash> for OrderActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
