//! The order record: one record actor per order ([`crate::actors::record`]),
//! wrapping the engine's [`Order`].
//!
//! A transition writes, in one batch, the order record, its events to the
//! event log, and the stock tasks it owes buckets (`T` records: units to ship
//! or to take back). The record also remembers the last event whose effects
//! (returning holds, refunds, stock tasks) the orders domain still has to carry out
//! (`pending`); the domain clears it with `EffectsDone` once they are done,
//! and a restart carries out whatever is still pending.

use crate::actors::record::{Record, RecordActor};
use crate::domains::inventory::bucket::{StockOp, StockTask};
use crate::engine::order::{ReturnItem, StockAction};
use crate::engine::{BucketKey, DomainEvent, Order, OrderError, OrderEvent, OrderId, ReservationId, Timestamp};
use crate::store::{keys, Batch, StoreError};
use serde::{Deserialize, Serialize};

/// The actor of one order.
pub type OrderActor = RecordActor<OrderRecord>;

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

impl Record for OrderRecord {
    type Key = OrderId;
    type Command = OrderCommand;
    type Outcome = Vec<OrderEvent>;
    type Rejection = OrderRejection;

    fn store_key(key: &OrderId) -> Vec<u8> {
        keys::order(key)
    }

    fn created_by(command: &OrderCommand) -> Option<OrderRecord> {
        match command {
            OrderCommand::Create(record) => Some((**record).clone()),
            _ => None,
        }
    }

    fn execute(&mut self, command: OrderCommand, now: Timestamp) -> Result<Vec<OrderEvent>, OrderRejection> {
        Ok(execute(self, command, now)?)
    }

    fn not_found(key: &OrderId) -> OrderRejection {
        OrderRejection::NotFound { id: key.clone() }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.order.check_invariants().map_err(|violation| violation.to_string())
    }

    /// The `Placed` event when the order is created; each event with the
    /// stock tasks it owes.
    fn effects(
        id: &OrderId,
        record: &OrderRecord,
        created: bool,
        events: &Vec<OrderEvent>,
        batch: &mut Batch,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if created {
            let placed = OrderEvent::Placed { order: Box::new(record.order.clone()) };
            batch.event(&DomainEvent::Order { order: id.clone(), event: Box::new(placed), at: now })?;
        }
        for event in events {
            for (name, task) in stock_tasks(record, event) {
                batch.put(keys::order_task(id, &name), &task)?;
            }
            batch.event(&DomainEvent::Order { order: id.clone(), event: Box::new(event.clone()), at: now })?;
        }
        Ok(())
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
