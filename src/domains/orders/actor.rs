//! The order actor: one record actor per order ([`crate::actors::record`])
//! over the engine's [`OrderRecord`].
//!
//! A transition writes, in one batch, the order record, its events to the
//! event log, its summary for lists (`V`), and the stock tasks it owes
//! buckets (`T` records: units to ship or to take back). The record also remembers the last event whose effects
//! (returning holds, refunds, stock tasks) the orders domain still has to carry out
//! (`pending`); the domain clears it with `EffectsDone` once they are done,
//! and a restart carries out whatever is still pending.

use crate::actors::record::{Record, RecordActor};
use crate::engine::order::{stock_tasks, OrderCommand, OrderRecord, OrderSummary};
use crate::engine::{DomainEvent, OrderError, OrderEvent, OrderId, Timestamp};
use crate::store::{keys, Batch, StoreError};

/// The actor of one order.
pub type OrderActor = RecordActor<OrderRecord>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRejection {
    #[error("order {id} not found")]
    NotFound { id: OrderId },
    #[error(transparent)]
    Rule(#[from] OrderError),
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
        Ok(OrderRecord::execute(self, command, now)?)
    }

    fn not_found(key: &OrderId) -> OrderRejection {
        OrderRejection::NotFound { id: key.clone() }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.order.check_invariants().map_err(|violation| violation.to_string())
    }

    /// The `Placed` event when the order is created; each event with the
    /// stock tasks it owes; the order's summary (`V`) whenever it changes
    /// status.
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
        if created || !events.is_empty() {
            let summary = OrderSummary::of(&record.order);
            batch.put(keys::order_summary(summary.created_at, id), &summary)?;
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
