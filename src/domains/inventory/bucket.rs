//! The inventory bucket actor: one per (SKU, warehouse).
//!
//! Holds expire by a timer set for the earliest expiry and by an `expire(now)`
//! before every message, so a hold that fell due while the process was down
//! returns its units on the first access after restart. A bucket with active
//! holds never passivates (its timer must keep running).

use super::reservations::{Holder, Placed, ReservationIndex};
use crate::actors::expiry::{Expiring, ExpiryTimer};
use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Failure, Reply};
use crate::engine::order::{StockOp, StockTask};
use crate::engine::{
    BucketCounters, BucketKey, DealId, DomainEvent, Hold, InventoryCounts, InventoryError, InventoryEvent,
    ReservationId, Timestamp,
};
use crate::store::{keys, Batch, Settlement, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use std::sync::Arc;
use std::time::Instant;

/// What the inventory domain shares with its bucket actors.
#[derive(Clone)]
pub struct Shared {
    /// Where every reservation lives (bucket holds and deal claims) and
    /// whose it is; a bucket places its new holds and forgets pruned ones.
    pub reservations: Arc<ReservationIndex>,
    /// Every bucket's latest counts, for reads that need no exact cut.
    pub board: Arc<super::board::StockBoard>,
}

pub type Env = crate::actors::Env<Shared>;

pub type BucketReply<T> = Reply<T, InventoryError>;

/// Puts units on hold (idempotent by id).
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<Hold>")]
pub struct Reserve {
    pub id: ReservationId,
    pub quantity: u32,
    pub ttl_ms: u64,
}

/// Sells a hold's units.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<Hold>")]
pub struct Commit {
    pub id: ReservationId,
}

/// Returns a hold's units.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<Hold>")]
pub struct Release {
    pub id: ReservationId,
}

/// Reads one hold.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<Hold>")]
pub struct ReadHold {
    pub id: ReservationId,
}

/// Reads the counts.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct ReadCounts;

/// Inventory admin: sets on hand and/or safety stock, all or nothing.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct SetStock {
    pub on_hand: Option<u64>,
    pub safety_stock: Option<u64>,
}

/// Adds received units.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct Restock {
    pub quantity: u64,
}

/// Unsold units of an ended deal come back: a restock that deletes the
/// deal's return record (`settles`) in the same write, so it happens once.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct RestockReturn {
    pub quantity: u64,
    pub settles: Settlement,
}

/// A committed hold's units come back to stock (exactly once per hold).
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<Hold>")]
pub struct ReturnCommitted {
    pub id: ReservationId,
}

/// A stock change an order asked for ([`StockOp`]) (shipping, restocking returned units,
/// returning a cancelled order's committed units), guarded by its task
/// record `settles`: the change is applied only while the record exists, and
/// the record is deleted in the same write, so a retried task changes the
/// stock once.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct SettleTask {
    pub op: StockOp,
    pub settles: Settlement,
}

/// A change of a flash deal's units in this bucket ([`DealUnitsOp`]).
/// With `settles`, guarded like [`SettleTask`]: made only while the deal's
/// record of it exists, which is deleted in the same write (exactly once).
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct DealUnits {
    pub deal: DealId,
    pub op: DealUnitsOp,
    pub settles: Option<Settlement>,
}

/// What happens to a deal's units in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DealUnitsOp {
    /// Available units become the deal's (its creation).
    Hold(u64),
    /// The deal's units are sold: deal-held to committed.
    Sell(u64),
    /// Sold units come back to the deal: committed to deal-held.
    Unsell(u64),
    /// The deal's unsold units go back to stock: deal-held to available.
    Release(u64),
    /// Sold units of the deal ship: committed and on hand drop.
    Ship(u64),
}

/// Committed units leave the warehouse.
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<InventoryCounts>")]
pub struct Ship {
    pub quantity: u64,
}

/// A serializable copy of the bucket's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BucketSnapshot {
    pub key: BucketKey,
    pub counts: InventoryCounts,
    pub holds: Vec<(ReservationId, Hold)>,
}

/// Asks for a [`BucketSnapshot`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "BucketReply<BucketSnapshot>")]
pub struct Observe;

pub struct BucketActor {
    activation: Activation<BucketActor>,
    env: Env,
    /// The bucket, or why it could not be loaded.
    state: Result<crate::engine::Bucket, StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
    expiry_timer: ExpiryTimer,
    gauge: std::sync::Arc<super::board::Gauge>,
}

impl Actor for BucketActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let config = self.env.config.clone();
        crate::actors::expiry::start(self, ctx, &config);
    }
}

impl Activate for BucketActor {
    type Key = BucketKey;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = load(&env, activation.key());
        if let Err(err) = &state {
            tracing::error!(bucket = %activation.key(), error = %err, "cannot load bucket");
        }
        let gauge = env.shared.board.gauge(activation.key());
        if let Ok(bucket) = &state {
            gauge.publish(bucket.counts());
        }
        BucketActor {
            gauge,
            activation,
            env,
            state,
            last_ticket: Ticket::NONE,
            last_active: Instant::now(),
            expiry_timer: ExpiryTimer::default(),
        }
    }
}

/// Reads a bucket's counters and holds from the store.
pub fn load(env: &Env, key: &BucketKey) -> Result<crate::engine::Bucket, StoreError> {
    let counters: BucketCounters = env.store.get(&keys::bucket(key))?.unwrap_or_default();
    let holds = env
        .store
        .scan_prefix::<Hold>(&keys::holds_of(key))?
        .into_iter()
        .filter_map(|(raw, hold)| keys::parse_hold(&raw).map(|(_, id)| (id, hold)));
    let stakes = env
        .store
        .scan_prefix::<u64>(&keys::bucket_stakes_of(key))?
        .into_iter()
        .filter_map(|(raw, units)| keys::parse_bucket_stake(&raw).map(|(_, deal)| (deal, units)));
    let bucket = crate::engine::Bucket::restore(key.clone(), counters, holds).with_stakes(stakes);
    if let Err(violation) = bucket.check_invariants(None) {
        return Err(StoreError::Decode { key: key.to_string(), reason: violation.to_string() });
    }
    Ok(bucket)
}

impl BucketActor {
    /// Runs one engine operation: expire due holds, apply, persist, re-arm the
    /// timer. A storage failure stops the actor so that the next message
    /// re-activates it from durable state (memory and disk never diverge).
    fn run<T>(
        &mut self,
        ctx: &mut Context<Self>,
        operation: impl FnOnce(&mut crate::engine::Bucket, Timestamp) -> Result<(T, Vec<InventoryEvent>), InventoryError>,
    ) -> BucketReply<T> {
        self.run_with(ctx, Batch::new(), operation)
    }

    /// [`Self::run`], with `extra` records written together with the change.
    fn run_with<T>(
        &mut self,
        ctx: &mut Context<Self>,
        extra: Batch,
        operation: impl FnOnce(&mut crate::engine::Bucket, Timestamp) -> Result<(T, Vec<InventoryEvent>), InventoryError>,
    ) -> BucketReply<T> {
        self.last_active = Instant::now();
        let now = self.env.source.now();
        self.expire_now(now, ctx);
        let ticket = self.last_ticket;
        let bucket = match &mut self.state {
            Ok(bucket) => bucket,
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err.clone())), ticket };
            }
        };
        let (value, events) = match operation(bucket, now) {
            Ok(done) => done,
            Err(rejection) => return Reply { result: Err(Failure::Rejected(rejection)), ticket: self.last_ticket },
        };
        let changed = !events.is_empty();
        if let Err(err) = self.persist(&events, now, extra) {
            return self.fail(err, ctx);
        }
        if changed {
            self.publish();
        }
        crate::actors::expiry::arm(self, ctx);
        self.debug_check(now);
        Reply { result: Ok(value), ticket: self.last_ticket }
    }

    fn fail<T>(&mut self, err: StoreError, ctx: &mut Context<Self>) -> BucketReply<T> {
        ctx.stop();
        Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket }
    }

    fn persist(&mut self, events: &[InventoryEvent], now: Timestamp, mut batch: Batch) -> Result<(), StoreError> {
        let Ok(bucket) = &self.state else { return Ok(()) };
        if events.is_empty() {
            return Ok(());
        }
        let key = bucket.key();
        let records = self.env.store.keeps_records();
        let mut counters_changed = false;
        for event in events {
            if let InventoryEvent::Committed { id, .. }
            | InventoryEvent::Released { id, .. }
            | InventoryEvent::Expired { id, .. } = event
            {
                self.env.shared.reservations.settled(id);
            }
            if let Some(hold) =
                event.reservation_id().filter(|_| records).and_then(|id| bucket.hold(id).map(|hold| (id, hold)))
            {
                batch.put(keys::hold(key, hold.0), hold.1)?;
            }
            if let (Some(deal), true) = (event.deal(), records) {
                match bucket.stake(deal) {
                    0 => batch.delete(keys::bucket_stake(key, deal)),
                    units => batch.put(keys::bucket_stake(key, deal), &units)?,
                }
            }
            if event.changes_counters() {
                counters_changed = true;
                batch.event(&DomainEvent::Inventory { bucket: key.clone(), event: event.clone(), at: now })?;
            }
        }
        if counters_changed && records {
            batch.put(keys::bucket(key), &bucket.counters())?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.last_ticket = self.env.store.write(batch)?;
        Ok(())
    }

    /// Expires the holds due at `now` and persists their new status.
    fn expire_now(&mut self, now: Timestamp, ctx: &mut Context<Self>) {
        let Ok(bucket) = &mut self.state else { return };
        if bucket.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        let events = bucket.expire(now);
        if let Err(err) = self.persist(&events, now, Batch::new()) {
            tracing::error!(error = %err, "cannot persist expired holds; restarting bucket");
            ctx.stop();
            return;
        }
        self.publish();
    }

    fn publish(&self) {
        if let Ok(bucket) = &self.state {
            self.gauge.publish(bucket.counts());
        }
    }

    fn debug_check(&self, now: Timestamp) {
        if cfg!(debug_assertions) {
            if let Ok(bucket) = &self.state {
                if let Err(violation) = bucket.check_invariants(Some(now)) {
                    panic!("{violation}");
                }
            }
        }
    }
}

impl Handler<Reserve> for BucketActor {
    type Result = MessageResult<Reserve>;
    fn handle(&mut self, msg: Reserve, ctx: &mut Context<Self>) -> Self::Result {
        let reservations = self.env.shared.reservations.clone();
        let holder = Holder::Bucket(self.activation.key().clone());
        MessageResult(self.run(ctx, move |bucket, now| {
            // The id is taken in the index first, so that no other bucket
            // (and no deal claim) can hold it too; a refusal gives it back.
            let placed = reservations.place(msg.id.clone(), holder, None, true);
            if placed == Placed::Elsewhere {
                return Err(InventoryError::IdempotencyConflict { id: msg.id });
            }
            let reserved = bucket.reserve(msg.id.clone(), msg.quantity, msg.ttl_ms, now);
            if reserved.is_err() && placed == Placed::New {
                reservations.forget(&msg.id);
            }
            reserved
        }))
    }
}

impl Handler<Commit> for BucketActor {
    type Result = MessageResult<Commit>;
    fn handle(&mut self, msg: Commit, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, now| bucket.commit(&msg.id, now)))
    }
}

impl Handler<Release> for BucketActor {
    type Result = MessageResult<Release>;
    fn handle(&mut self, msg: Release, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, now| bucket.release(&msg.id, now)))
    }
}

impl Handler<ReadHold> for BucketActor {
    type Result = MessageResult<ReadHold>;
    fn handle(&mut self, msg: ReadHold, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| {
            let hold = bucket.hold(&msg.id).cloned();
            hold.map(|hold| (hold, Vec::new())).ok_or(InventoryError::ReservationNotFound { id: msg.id })
        }))
    }
}

impl Handler<ReadCounts> for BucketActor {
    type Result = MessageResult<ReadCounts>;
    fn handle(&mut self, _msg: ReadCounts, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| Ok((bucket.counts(), Vec::new()))))
    }
}

impl Handler<SetStock> for BucketActor {
    type Result = MessageResult<SetStock>;
    fn handle(&mut self, msg: SetStock, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| {
            let mut events = match msg.on_hand {
                Some(on_hand) => bucket.set_on_hand(on_hand)?,
                None => Vec::new(),
            };
            if let Some(safety_stock) = msg.safety_stock {
                events.extend(bucket.set_safety_stock(safety_stock));
            }
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<Restock> for BucketActor {
    type Result = MessageResult<Restock>;
    fn handle(&mut self, msg: Restock, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| {
            let events = bucket.restock(msg.quantity)?;
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<RestockReturn> for BucketActor {
    type Result = MessageResult<RestockReturn>;
    fn handle(&mut self, msg: RestockReturn, ctx: &mut Context<Self>) -> Self::Result {
        // Made once: a record already settled (a retry) restocks nothing.
        let pending = match self.env.store.keeps_records() {
            true => match self.env.store.is_due(&msg.settles) {
                Ok(due) => due,
                Err(err) => return MessageResult(self.fail(err, ctx)),
            },
            false => true,
        };
        let mut settled = Batch::new();
        settled.settle(msg.settles);
        MessageResult(self.run_with(ctx, settled, |bucket, _| {
            if !pending {
                return Ok((bucket.counts(), Vec::new()));
            }
            let events = bucket.restock(msg.quantity)?;
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<ReturnCommitted> for BucketActor {
    type Result = MessageResult<ReturnCommitted>;
    fn handle(&mut self, msg: ReturnCommitted, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, now| bucket.return_committed(&msg.id, now)))
    }
}

impl Handler<SettleTask> for BucketActor {
    type Result = MessageResult<SettleTask>;
    fn handle(&mut self, msg: SettleTask, ctx: &mut Context<Self>) -> Self::Result {
        let pending = if self.env.store.keeps_records() {
            match self.env.store.read_settled::<StockTask>(&msg.settles) {
                Ok(found) => found.is_some(),
                Err(err) => return MessageResult(self.fail(err, ctx)),
            }
        } else {
            true
        };
        let mut settled = Batch::new();
        settled.settle(msg.settles);
        MessageResult(self.run_with(ctx, settled, |bucket, now| {
            if !pending {
                return Ok((bucket.counts(), Vec::new()));
            }
            let events = match &msg.op {
                StockOp::Ship { quantity } => bucket.ship(*quantity)?,
                StockOp::Restock { quantity } => bucket.restock(*quantity)?,
                StockOp::ReturnCommitted { id, quantity } => bucket.return_committed_units(id, *quantity, now)?,
            };
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<Ship> for BucketActor {
    type Result = MessageResult<Ship>;
    fn handle(&mut self, msg: Ship, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| {
            let events = bucket.ship(msg.quantity)?;
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<DealUnits> for BucketActor {
    type Result = MessageResult<DealUnits>;
    fn handle(&mut self, msg: DealUnits, ctx: &mut Context<Self>) -> Self::Result {
        let mut settled = Batch::new();
        let mut pending = true;
        if let Some(settles) = msg.settles {
            if self.env.store.keeps_records() {
                match self.env.store.is_due(&settles) {
                    Ok(due) => pending = due,
                    Err(err) => return MessageResult(self.fail(err, ctx)),
                }
            }
            settled.settle(settles);
        }
        let deal = msg.deal;
        MessageResult(self.run_with(ctx, settled, |bucket, _| {
            if !pending {
                return Ok((bucket.counts(), Vec::new()));
            }
            let events = match msg.op {
                DealUnitsOp::Hold(units) => bucket.deal_hold(&deal, units)?,
                DealUnitsOp::Sell(units) => bucket.deal_sell(&deal, units)?,
                DealUnitsOp::Unsell(units) => bucket.deal_unsell(&deal, units)?,
                DealUnitsOp::Release(units) => bucket.deal_release(&deal, units)?,
                DealUnitsOp::Ship(units) => bucket.ship(units)?,
            };
            Ok((bucket.counts(), events))
        }))
    }
}

impl Handler<Observe> for BucketActor {
    type Result = MessageResult<Observe>;
    fn handle(&mut self, _msg: Observe, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.run(ctx, |bucket, _| {
            let mut holds: Vec<(ReservationId, Hold)> =
                bucket.holds().map(|(id, hold)| (id.clone(), hold.clone())).collect();
            holds.sort_by(|a, b| a.0.cmp(&b.0));
            Ok((BucketSnapshot { key: bucket.key().clone(), counts: bucket.counts(), holds }, Vec::new()))
        }))
    }
}

impl Handler<Crash> for BucketActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Expiring for BucketActor {
    fn expiry_timer(&mut self) -> &mut ExpiryTimer {
        &mut self.expiry_timer
    }

    fn next_expiry(&self) -> Option<Timestamp> {
        self.state.as_ref().ok().and_then(|bucket| bucket.next_expiry())
    }

    fn now(&self) -> Timestamp {
        self.env.source.now()
    }

    fn expire_due(&mut self, now: Timestamp, ctx: &mut Context<Self>) {
        self.expire_now(now, ctx);
    }

    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        let now = self.env.source.now();
        self.expire_now(now, ctx);
        let retention = self.env.config.settled_hold_retention_ms;
        if let Ok(bucket) = &mut self.state {
            let cutoff = Timestamp::from_millis(now.as_millis().saturating_sub(retention));
            let pruned = bucket.prune_settled(cutoff);
            if !pruned.is_empty() {
                let mut batch = Batch::new();
                for id in &pruned {
                    // The owner record goes with the hold's, or it would
                    // outlive it forever.
                    batch.delete(keys::hold(bucket.key(), id));
                    batch.delete(keys::owner(id));
                    self.env.shared.reservations.forget(id);
                }
                match self.env.store.write(batch) {
                    Ok(ticket) => self.last_ticket = ticket,
                    Err(err) => tracing::error!(error = %err, "cannot prune settled holds"),
                }
            }
        }
        let idle = self.env.config.passivate_after.is_some_and(|after| self.last_active.elapsed() >= after);
        let holds = self.state.as_ref().map_or(0, |bucket| bucket.active_hold_count());
        if idle && holds == 0 {
            self.activation.passivate(ctx);
        }
    }
}
