//! The inventory bucket: one SKU's stock in one warehouse.
//!
//! Reservations follow a two-phase transfer: `reserve` puts units on hold under a
//! caller-chosen id with an expiry, then `commit` sells them or `release` (or
//! expiry) returns them. The holds are a [`HoldLedger`], the ledger deal
//! shards keep their claims in (its rules: `ledger.held_matches_holds`,
//! `ledger.expiry_index_matches_holds`, `ledger.no_due_hold` after
//! `expire(now)`). The bucket's own rule, checked by
//! [`Bucket::check_invariants`] with the ledger's:
//!
//! - `bucket.never_oversold`: `held + committed <= on_hand`. A hold is granted
//!   only when `on_hand - held - committed - safety_stock >= quantity`, and
//!   `set_on_hand` refuses to go below what is already held or sold.
//!
//! Idempotency by reservation id: the same id with the same request returns the
//! same hold; the same id with a different request is
//! [`InventoryError::IdempotencyConflict`]. An expired hold returns its units
//! exactly once (it leaves the `Held` status once, emitting one `Expired` event),
//! and a hold that has expired can no longer be committed.

use super::hold::HoldLedger;
pub use super::hold::{Hold, HoldError, HoldStatus};
use super::ids::{BucketKey, ReservationId};
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};

/// The persisted counters of a bucket (holds are persisted one record each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketCounters {
    pub on_hand: u64,
    pub safety_stock: u64,
    pub committed: u64,
}

/// The counts of API.md ("Inventory counts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InventoryCounts {
    pub on_hand: u64,
    pub held: u64,
    pub committed: u64,
    pub safety_stock: u64,
    /// `max(0, on_hand - held - committed - safety_stock)`.
    pub available: u64,
}

impl InventoryCounts {
    /// Sums counts of several buckets (a SKU over its warehouses).
    pub fn plus(self, other: InventoryCounts) -> InventoryCounts {
        InventoryCounts {
            on_hand: self.on_hand.saturating_add(other.on_hand),
            held: self.held.saturating_add(other.held),
            committed: self.committed.saturating_add(other.committed),
            safety_stock: self.safety_stock.saturating_add(other.safety_stock),
            available: self.available.saturating_add(other.available),
        }
    }
}

/// What happened to a bucket. `Reserved`, `Committed`, `Released` and `Expired`
/// change one hold; the others change the counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryEvent {
    Reserved {
        id: ReservationId,
        hold: Hold,
    },
    Committed {
        id: ReservationId,
        quantity: u32,
        at: Timestamp,
    },
    Released {
        id: ReservationId,
        quantity: u32,
        at: Timestamp,
    },
    Expired {
        id: ReservationId,
        quantity: u32,
        at: Timestamp,
    },
    Shipped {
        quantity: u64,
    },
    OnHandSet {
        on_hand: u64,
    },
    SafetyStockSet {
        safety_stock: u64,
    },
    Restocked {
        quantity: u64,
    },
    /// Units left for another owner (a flash deal's own stock).
    Withdrawn {
        quantity: u64,
    },
    /// A committed hold's units came back to stock (a cancelled or
    /// compensated order): `committed` drops, the hold becomes `Released`.
    Returned {
        id: ReservationId,
        quantity: u32,
        at: Timestamp,
    },
    /// Committed units came back to stock after their hold's record was
    /// pruned (an order cancelled after the settled-hold retention):
    /// `committed` drops by count.
    Unsold {
        quantity: u64,
    },
}

impl InventoryEvent {
    /// The hold this event changed, if any.
    pub fn reservation_id(&self) -> Option<&ReservationId> {
        match self {
            InventoryEvent::Reserved { id, .. }
            | InventoryEvent::Committed { id, .. }
            | InventoryEvent::Released { id, .. }
            | InventoryEvent::Expired { id, .. }
            | InventoryEvent::Returned { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether this event changed the persisted counters.
    pub fn changes_counters(&self) -> bool {
        !matches!(
            self,
            InventoryEvent::Reserved { .. } | InventoryEvent::Released { .. } | InventoryEvent::Expired { .. }
        )
    }
}

/// A business rejection by a bucket. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("quantity must be at least 1")]
    InvalidQuantity,
    #[error("a hold's time to live must be at least 1 ms")]
    InvalidTtl,
    #[error("insufficient stock: requested {requested}, available {available}")]
    InsufficientStock { requested: u64, available: u64 },
    #[error("reservation {id} is {status:?}, not held")]
    HoldNotActive { id: ReservationId, status: HoldStatus },
    #[error("reservation {id} not found")]
    ReservationNotFound { id: ReservationId },
    #[error("reservation {id} already exists with a different request")]
    IdempotencyConflict { id: ReservationId },
    #[error("cannot ship {requested}: only {committed} committed")]
    ShipExceedsCommitted { requested: u64, committed: u64 },
    #[error("cannot return {requested}: only {committed} committed")]
    ReturnExceedsCommitted { requested: u64, committed: u64 },
    #[error("on hand {requested} is below the {allocated} units held or sold")]
    OnHandBelowAllocated { requested: u64, allocated: u64 },
    #[error("counter overflow")]
    Overflow,
    /// A customer's own limit (API.md: 20 held reservations of at most 999
    /// units each).
    #[error("at most {limit} {what}")]
    LimitExceeded { what: &'static str, limit: u64 },
}

impl From<HoldError> for InventoryError {
    fn from(err: HoldError) -> Self {
        match err {
            HoldError::NotFound { id } => InventoryError::ReservationNotFound { id },
            HoldError::NotActive { id, status } => InventoryError::HoldNotActive { id, status },
            HoldError::Conflict { id } => InventoryError::IdempotencyConflict { id },
        }
    }
}

/// One SKU's stock in one warehouse, with its holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    key: BucketKey,
    counters: BucketCounters,
    holds: HoldLedger,
}

impl Bucket {
    /// An empty bucket (no stock).
    pub fn new(key: BucketKey) -> Self {
        Bucket { key, counters: BucketCounters::default(), holds: HoldLedger::default() }
    }

    /// Rebuilds a bucket from its persisted counters and hold records.
    pub fn restore(
        key: BucketKey,
        counters: BucketCounters,
        holds: impl IntoIterator<Item = (ReservationId, Hold)>,
    ) -> Self {
        Bucket { key, counters, holds: HoldLedger::restore(holds) }
    }

    pub fn key(&self) -> &BucketKey {
        &self.key
    }

    pub fn counters(&self) -> BucketCounters {
        self.counters
    }

    pub fn counts(&self) -> InventoryCounts {
        let BucketCounters { on_hand, safety_stock, committed } = self.counters;
        InventoryCounts { on_hand, held: self.holds.held(), committed, safety_stock, available: self.available() }
    }

    /// Units a new hold may take now.
    pub fn available(&self) -> u64 {
        self.counters
            .on_hand
            .saturating_sub(self.holds.held())
            .saturating_sub(self.counters.committed)
            .saturating_sub(self.counters.safety_stock)
    }

    pub fn hold(&self, id: &ReservationId) -> Option<&Hold> {
        self.holds.get(id)
    }

    pub fn holds(&self) -> impl Iterator<Item = (&ReservationId, &Hold)> {
        self.holds.iter()
    }

    /// Number of holds still `Held`.
    pub fn active_hold_count(&self) -> usize {
        self.holds.active_count()
    }

    /// The earliest expiry among `Held` holds: when the actor's timer should fire.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.holds.next_expiry()
    }

    /// Puts `quantity` units on hold under `id` until `now + ttl_ms`.
    ///
    /// A retry (same id, quantity and ttl) returns the existing hold, whatever
    /// its status now, and emits nothing. Callers run [`Bucket::expire`] first
    /// so that due holds have returned their units.
    pub fn reserve(
        &mut self,
        id: ReservationId,
        quantity: u32,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<(Hold, Vec<InventoryEvent>), InventoryError> {
        if let Some(existing) = self.holds.check_retry(&id, quantity, ttl_ms, |()| true)? {
            return Ok((existing.clone(), Vec::new()));
        }
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        if ttl_ms == 0 {
            // A hold due the moment it is granted could never be committed.
            return Err(InventoryError::InvalidTtl);
        }
        let available = self.available();
        if u64::from(quantity) > available {
            return Err(InventoryError::InsufficientStock { requested: u64::from(quantity), available });
        }
        let hold = Hold::new(quantity, ttl_ms, now, ());
        let event = InventoryEvent::Reserved { id, hold: hold.clone() };
        self.apply(&event);
        Ok((hold, vec![event]))
    }

    /// Sells the units of a `Held` hold. Committing a committed hold again is a
    /// no-op; a released or expired one is [`InventoryError::HoldNotActive`],
    /// and so is a `Held` hold that is already due at `now`.
    pub fn commit(
        &mut self,
        id: &ReservationId,
        now: Timestamp,
    ) -> Result<(Hold, Vec<InventoryEvent>), InventoryError> {
        if let Some(committed) = self.holds.check_commit(id, now, |()| true)? {
            return Ok((committed.clone(), Vec::new()));
        }
        let quantity = self.holds.existing(id)?.quantity;
        self.counters.committed.checked_add(u64::from(quantity)).ok_or(InventoryError::Overflow)?;
        self.emit(id, InventoryEvent::Committed { id: id.clone(), quantity, at: now })
    }

    /// Returns the units of a `Held` hold. Releasing a released or expired hold
    /// again is a no-op; a committed one is [`InventoryError::HoldNotActive`].
    pub fn release(
        &mut self,
        id: &ReservationId,
        now: Timestamp,
    ) -> Result<(Hold, Vec<InventoryEvent>), InventoryError> {
        if let Some(settled) = self.holds.check_release(id)? {
            return Ok((settled.clone(), Vec::new()));
        }
        let quantity = self.holds.existing(id)?.quantity;
        self.emit(id, InventoryEvent::Released { id: id.clone(), quantity, at: now })
    }

    /// Gives the units of a `Committed` hold back to stock, exactly once: the
    /// hold becomes `Released` and `committed` drops by its quantity. A hold
    /// that is not committed (held, released, expired, already returned) is
    /// left alone and nothing is emitted, so compensations may retry freely.
    pub fn return_committed(
        &mut self,
        id: &ReservationId,
        now: Timestamp,
    ) -> Result<(Hold, Vec<InventoryEvent>), InventoryError> {
        if let Some(unchanged) = self.holds.check_return(id, |()| true)? {
            return Ok((unchanged.clone(), Vec::new()));
        }
        let quantity = self.holds.existing(id)?.quantity;
        self.emit(id, InventoryEvent::Returned { id: id.clone(), quantity, at: now })
    }

    /// Applies `event` to hold `id`; the hold as it now is, and the event.
    fn emit(
        &mut self,
        id: &ReservationId,
        event: InventoryEvent,
    ) -> Result<(Hold, Vec<InventoryEvent>), InventoryError> {
        self.apply(&event);
        Ok((self.holds.existing(id)?.clone(), vec![event]))
    }

    /// The committed units of hold `id` come back to stock: as
    /// [`Bucket::return_committed`] while the hold's record exists (nothing
    /// when it already came back), and by count, `quantity` units out of
    /// `committed`, once the settled record was pruned. The caller makes it
    /// happen once per hold (an order's stock task does).
    pub fn return_committed_units(
        &mut self,
        id: &ReservationId,
        quantity: u64,
        now: Timestamp,
    ) -> Result<Vec<InventoryEvent>, InventoryError> {
        if self.holds.contains(id) {
            return self.return_committed(id, now).map(|(_, events)| events);
        }
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        if quantity > self.counters.committed {
            return Err(InventoryError::ReturnExceedsCommitted {
                requested: quantity,
                committed: self.counters.committed,
            });
        }
        let event = InventoryEvent::Unsold { quantity };
        self.apply(&event);
        Ok(vec![event])
    }

    /// Expires every `Held` hold due at `now` (`expires_at <= now`), returning
    /// its units. Each hold expires once: a second call emits nothing for it.
    pub fn expire(&mut self, now: Timestamp) -> Vec<InventoryEvent> {
        let events: Vec<InventoryEvent> = self
            .holds
            .due(now)
            .map(|(id, hold)| InventoryEvent::Expired { id: id.clone(), quantity: hold.quantity, at: now })
            .collect();
        for event in &events {
            self.apply(event);
        }
        events
    }

    /// Committed units leave the warehouse: `committed` and `on_hand` drop.
    pub fn ship(&mut self, quantity: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        if quantity > self.counters.committed {
            return Err(InventoryError::ShipExceedsCommitted {
                requested: quantity,
                committed: self.counters.committed,
            });
        }
        let event = InventoryEvent::Shipped { quantity };
        self.apply(&event);
        Ok(vec![event])
    }

    /// Sets the physical count. It may not drop below the units already held or
    /// sold, so a recount can never turn granted holds into an oversell.
    pub fn set_on_hand(&mut self, on_hand: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        let allocated = self.holds.held().saturating_add(self.counters.committed);
        if on_hand < allocated {
            return Err(InventoryError::OnHandBelowAllocated { requested: on_hand, allocated });
        }
        if on_hand == self.counters.on_hand {
            return Ok(Vec::new());
        }
        let event = InventoryEvent::OnHandSet { on_hand };
        self.apply(&event);
        Ok(vec![event])
    }

    /// Sets the units kept back from sale.
    pub fn set_safety_stock(&mut self, safety_stock: u64) -> Vec<InventoryEvent> {
        if safety_stock == self.counters.safety_stock {
            return Vec::new();
        }
        let event = InventoryEvent::SafetyStockSet { safety_stock };
        self.apply(&event);
        vec![event]
    }

    /// Adds received units to `on_hand`.
    pub fn restock(&mut self, quantity: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        self.counters.on_hand.checked_add(quantity).ok_or(InventoryError::Overflow)?;
        let event = InventoryEvent::Restocked { quantity };
        self.apply(&event);
        Ok(vec![event])
    }

    /// Units leave the bucket for another owner (a flash deal's own stock):
    /// `on_hand` drops, taken only from what is available, never from held,
    /// committed or safety stock.
    pub fn withdraw(&mut self, quantity: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        let available = self.available();
        if quantity > available {
            return Err(InventoryError::InsufficientStock { requested: quantity, available });
        }
        let event = InventoryEvent::Withdrawn { quantity };
        self.apply(&event);
        Ok(vec![event])
    }

    /// Forgets settled holds (not `Held`) that settled before `before`; returns
    /// their ids so the caller can delete their records. After this a retry of
    /// one of those ids is a new reservation.
    pub fn prune_settled(&mut self, before: Timestamp) -> Vec<ReservationId> {
        self.holds.prune_settled(before)
    }

    /// Applies an event produced by this bucket's operations. Used by the
    /// operations themselves and for replay; events are trusted here.
    pub fn apply(&mut self, event: &InventoryEvent) {
        match event {
            InventoryEvent::Reserved { id, hold } => self.holds.open(id.clone(), hold.clone()),
            InventoryEvent::Committed { id, quantity, at } => {
                if self.holds.settle(id, HoldStatus::Committed, *at).is_some() {
                    self.counters.committed = self.counters.committed.saturating_add(u64::from(*quantity));
                }
            }
            InventoryEvent::Released { id, at, .. } => {
                self.holds.settle(id, HoldStatus::Released, *at);
            }
            InventoryEvent::Expired { id, at, .. } => {
                self.holds.settle(id, HoldStatus::Expired, *at);
            }
            InventoryEvent::Shipped { quantity } => {
                self.counters.committed = self.counters.committed.saturating_sub(*quantity);
                self.counters.on_hand = self.counters.on_hand.saturating_sub(*quantity);
            }
            InventoryEvent::OnHandSet { on_hand } => self.counters.on_hand = *on_hand,
            InventoryEvent::SafetyStockSet { safety_stock } => self.counters.safety_stock = *safety_stock,
            InventoryEvent::Restocked { quantity } => {
                self.counters.on_hand = self.counters.on_hand.saturating_add(*quantity);
            }
            InventoryEvent::Withdrawn { quantity } => {
                self.counters.on_hand = self.counters.on_hand.saturating_sub(*quantity);
            }
            InventoryEvent::Returned { id, quantity, at } => {
                if self.holds.unsell(id, *at).is_some() {
                    self.counters.committed = self.counters.committed.saturating_sub(u64::from(*quantity));
                }
            }
            InventoryEvent::Unsold { quantity } => {
                self.counters.committed = self.counters.committed.saturating_sub(*quantity);
            }
        }
    }

    /// Checks the invariants named in the module docs, the hold ledger's
    /// among them.
    pub fn check_invariants(&self, now: Option<Timestamp>) -> Result<(), InvariantViolation> {
        self.holds.check_invariants(&self.key.to_string(), now)?;
        let held = self.holds.held();
        let allocated = held.saturating_add(self.counters.committed);
        if allocated > self.counters.on_hand {
            return Err(InvariantViolation {
                name: "bucket.never_oversold",
                detail: format!(
                    "{}: held {held} + committed {} > on hand {}",
                    self.key, self.counters.committed, self.counters.on_hand
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Sku, WarehouseId};

    #[test]
    fn a_committed_hold_returns_its_units_once() {
        let mut bucket = bucket(10, 0);
        let id = ReservationId::parse("r1").unwrap();
        let now = Timestamp::from_millis(1);
        bucket.reserve(id.clone(), 4, 1_000, now).unwrap();
        let (_, none) = bucket.return_committed(&id, now).unwrap();
        assert!(none.is_empty(), "a held hold is not returned");
        bucket.commit(&id, now).unwrap();
        assert_eq!(bucket.counts().committed, 4);
        let (hold, events) = bucket.return_committed(&id, now).unwrap();
        assert_eq!((hold.status, events.len()), (HoldStatus::Released, 1));
        assert_eq!((bucket.counts().committed, bucket.available()), (0, 10));
        let (_, again) = bucket.return_committed(&id, now).unwrap();
        assert!(again.is_empty());
        bucket.check_invariants(Some(now)).unwrap();
    }

    #[test]
    fn committed_units_come_back_by_hold_and_after_pruning_by_count() {
        let mut bucket = bucket(10, 0);
        let now = Timestamp::from_millis(1);
        let (kept, pruned) = (ReservationId::parse("kept").unwrap(), ReservationId::parse("pruned").unwrap());
        for (id, quantity) in [(&kept, 2), (&pruned, 3)] {
            bucket.reserve(id.clone(), quantity, 1_000, now).unwrap();
            bucket.commit(id, now).unwrap();
        }
        assert_eq!(bucket.counts().committed, 5);
        // The hold's record exists: it is marked returned, once.
        let events = bucket.return_committed_units(&kept, 2, now).unwrap();
        assert!(matches!(events[..], [InventoryEvent::Returned { .. }]));
        assert!(bucket.return_committed_units(&kept, 2, now).unwrap().is_empty());
        assert_eq!(bucket.counts().committed, 3);
        // Settled and pruned: the units still come back, by count.
        bucket.prune_settled(Timestamp::from_millis(2));
        let events = bucket.return_committed_units(&pruned, 3, now).unwrap();
        assert_eq!(events, [InventoryEvent::Unsold { quantity: 3 }]);
        assert_eq!((bucket.counts().committed, bucket.available()), (0, 10));
        // Never more than is committed, never nothing; neither changes anything.
        let gone = ReservationId::parse("gone").unwrap();
        assert!(matches!(
            bucket.return_committed_units(&gone, 1, now),
            Err(InventoryError::ReturnExceedsCommitted { requested: 1, committed: 0 })
        ));
        assert_eq!(bucket.return_committed_units(&gone, 0, now), Err(InventoryError::InvalidQuantity));
        assert_eq!((bucket.counts().committed, bucket.available()), (0, 10));
        bucket.check_invariants(Some(now)).unwrap();
    }

    fn bucket(on_hand: u64, safety_stock: u64) -> Bucket {
        let key = BucketKey::new(Sku::parse("S").unwrap(), WarehouseId::parse("W").unwrap());
        Bucket::restore(key, BucketCounters { on_hand, safety_stock, committed: 0 }, Vec::new())
    }

    #[test]
    fn a_withdrawal_takes_only_available_units() {
        let mut bucket = bucket(10, 2);
        let now = Timestamp::from_millis(0);
        bucket.reserve(ReservationId::parse("res_1").unwrap(), 3, 1_000, now).unwrap();
        assert_eq!(
            bucket.withdraw(6),
            Err(InventoryError::InsufficientStock { requested: 6, available: 5 }),
            "held and safety stock stay"
        );
        assert_eq!(bucket.withdraw(5).unwrap(), vec![InventoryEvent::Withdrawn { quantity: 5 }]);
        let counts = bucket.counts();
        assert_eq!((counts.on_hand, counts.held, counts.available), (5, 3, 0));
        assert_eq!(bucket.withdraw(0), Err(InventoryError::InvalidQuantity));
        bucket.check_invariants(Some(now)).unwrap();
    }
}
