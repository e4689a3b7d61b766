//! The order as it is stored: the engine's [`Order`] with the holds its
//! units were reserved under and the effects still owed, the commands an
//! order takes, and the stock tasks each event owes its buckets (`T`
//! records: units to ship or to take back). Pure: the orders domain's actor
//! applies these and writes what they return.

use super::{Order, OrderError, OrderEvent, ReturnItem, StockAction};
use crate::engine::ids::{DealId, ReservationId};
use crate::engine::time::Timestamp;
use crate::engine::BucketKey;
use serde::{Deserialize, Serialize};

/// A hold the order's units were reserved under: a bucket's, or a deal
/// claim the customer held (`deal`), whose units already left the bucket
/// when the deal took its stock; `bucket` then names where they ship from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHold {
    pub id: ReservationId,
    pub bucket: BucketKey,
    pub quantity: u32,
    pub deal: Option<DealId>,
}

/// What is stored per order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: Order,
    pub holds: Vec<PlannedHold>,
    /// The event whose effects are still owed, if any.
    pub pending: Option<OrderEvent>,
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

/// A stock change an order owes a bucket (its `T` record).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockTask {
    pub bucket: BucketKey,
    pub op: StockOp,
}

/// The stock change of a task (applied by the bucket's `SettleTask`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StockOp {
    /// Committed units leave the warehouse.
    Ship { quantity: u64 },
    /// Returned units are received back.
    Restock { quantity: u64 },
    /// The committed units of an order's hold come back (the order was
    /// cancelled before shipping), whether or not the hold's settled record
    /// is still kept ([`crate::engine::Bucket::return_committed_units`]).
    ReturnCommitted { id: ReservationId, quantity: u64 },
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

impl OrderRecord {
    /// Applies `command` at `now`; the events it caused. An event whose
    /// effects the domain still owes (cancel, ship, refund) becomes `pending`.
    pub fn execute(&mut self, command: OrderCommand, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        let record = self;
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
}
