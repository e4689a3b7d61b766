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
//! - `bucket.never_oversold`: `held + committed <= on_hand`, where `held`
//!   counts the holds and the flash deals' units (`deal_held`). A hold is
//!   granted only when `on_hand - held - committed - safety_stock >= quantity`,
//!   and `set_on_hand` refuses to go below what is already held or sold.
//! - `bucket.counts_identity` ([`InventoryCounts::check_identity`]):
//!   `available = max(0, on_hand - held - committed - safety_stock)`, so
//!   `on_hand = held + committed + available + safety_stock` whenever stock
//!   is sufficient (API.md, "Inventory counts").
//!
//! Flash deals: a deal's units stay in the bucket, held for the deal from
//! its creation (`deal_hold`) until they are sold (`deal_sell`: deal-held to
//! committed, shipped later like any sale) or go back to stock when the deal
//! ends (`deal_release`); a sale undone before shipping comes back to the
//! deal (`deal_unsell`). The bucket keeps one count per deal (its stake), so
//! the units of each deal go back where they came from; `on_hand` never
//! moves for a deal.
//!
//! Idempotency by reservation id: the same id with the same request returns the
//! same hold; the same id with a different request is
//! [`InventoryError::IdempotencyConflict`]. An expired hold returns its units
//! exactly once (it leaves the `Held` status once, emitting one `Expired` event),
//! and a hold that has expired can no longer be committed.

use super::hold::HoldLedger;
pub use super::hold::{Hold, HoldError, HoldStatus};
use super::ids::{BucketKey, DealId, ReservationId};
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Units under holds, flash deals' units included (`deal_held`).
    pub held: u64,
    pub committed: u64,
    pub safety_stock: u64,
    /// `max(0, on_hand - held - committed - safety_stock)`.
    pub available: u64,
    /// The part of `held` that flash deals took (claimed or not) and have
    /// neither sold nor given back.
    pub deal_held: u64,
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
            deal_held: self.deal_held.saturating_add(other.deal_held),
        }
    }

    /// `bucket.counts_identity` (API.md, "Inventory counts"): `available`
    /// is `max(0, on_hand - held - committed - safety_stock)`, hence
    /// `on_hand == held + committed + available + safety_stock` whenever
    /// stock is sufficient; never more held or sold than on hand; the deals'
    /// units are part of `held`. `what` names the counts in the detail.
    pub fn check_identity(&self, what: &str) -> Result<(), InvariantViolation> {
        let InventoryCounts { on_hand, held, committed, safety_stock, available, deal_held } = *self;
        let violation = |name, detail: String| Err(InvariantViolation { name, detail: format!("{what}: {detail}") });
        if deal_held > held {
            return violation("bucket.counts_identity", format!("deal_held {deal_held} > held {held}"));
        }
        let allocated = held.saturating_add(committed);
        if allocated > on_hand {
            return violation(
                "bucket.never_oversold",
                format!("held {held} + committed {committed} > on hand {on_hand}"),
            );
        }
        let expected = on_hand.saturating_sub(allocated).saturating_sub(safety_stock);
        let sum = allocated.saturating_add(available).saturating_add(safety_stock);
        let sufficient = allocated.saturating_add(safety_stock) <= on_hand;
        if available != expected || (sufficient && sum != on_hand) {
            return violation(
                "bucket.counts_identity",
                format!(
                    "on_hand {on_hand} != held {held} + committed {committed} + available {available} + safety_stock {safety_stock}"
                ),
            );
        }
        Ok(())
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
    /// Units left for another owner: a flash deal's own stock, as builds
    /// before deal-held units took it (kept so that their logs replay).
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
    /// Available units are held for a flash deal (its creation).
    DealHeld {
        deal: DealId,
        units: u64,
    },
    /// A deal's units were sold (a claim committed): deal-held to committed.
    DealSold {
        deal: DealId,
        units: u64,
    },
    /// Sold deal units came back to the deal (an order cancelled before
    /// shipping): committed to deal-held.
    DealUnsold {
        deal: DealId,
        units: u64,
    },
    /// A deal's unsold units went back to stock (the deal ended): deal-held
    /// to available.
    DealReleased {
        deal: DealId,
        units: u64,
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

    /// The deal whose stake in the bucket this event changed, if any.
    pub fn deal(&self) -> Option<&DealId> {
        match self {
            InventoryEvent::DealHeld { deal, .. }
            | InventoryEvent::DealSold { deal, .. }
            | InventoryEvent::DealUnsold { deal, .. }
            | InventoryEvent::DealReleased { deal, .. } => Some(deal),
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
    #[error("deal {deal} holds {held} units here, not {requested}")]
    DealUnitsShort { deal: DealId, requested: u64, held: u64 },
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
    /// Units each flash deal holds here (persisted one record per deal);
    /// `deal_held` is their sum.
    stakes: BTreeMap<DealId, u64>,
    deal_held: u64,
}

impl Bucket {
    /// An empty bucket (no stock).
    pub fn new(key: BucketKey) -> Self {
        Bucket::restore(key, BucketCounters::default(), Vec::new())
    }

    /// Rebuilds a bucket from its persisted counters and hold records.
    pub fn restore(
        key: BucketKey,
        counters: BucketCounters,
        holds: impl IntoIterator<Item = (ReservationId, Hold)>,
    ) -> Self {
        Bucket { key, counters, holds: HoldLedger::restore(holds), stakes: BTreeMap::new(), deal_held: 0 }
    }

    /// [`Bucket::restore`] with the units each deal holds here (persisted
    /// stakes; zero stakes are dropped).
    pub fn with_stakes(mut self, stakes: impl IntoIterator<Item = (DealId, u64)>) -> Self {
        self.stakes = stakes.into_iter().filter(|(_, units)| *units > 0).collect();
        self.deal_held = self.stakes.values().fold(0u64, |sum, units| sum.saturating_add(*units));
        self
    }

    /// Units `deal` holds in this bucket.
    pub fn stake(&self, deal: &DealId) -> u64 {
        self.stakes.get(deal).copied().unwrap_or(0)
    }

    /// Every deal's units held here.
    pub fn stakes(&self) -> impl Iterator<Item = (&DealId, u64)> {
        self.stakes.iter().map(|(deal, units)| (deal, *units))
    }

    /// Units under holds and held for deals.
    fn held(&self) -> u64 {
        self.holds.held().saturating_add(self.deal_held)
    }

    pub fn key(&self) -> &BucketKey {
        &self.key
    }

    pub fn counters(&self) -> BucketCounters {
        self.counters
    }

    pub fn counts(&self) -> InventoryCounts {
        let BucketCounters { on_hand, safety_stock, committed } = self.counters;
        InventoryCounts {
            on_hand,
            held: self.held(),
            committed,
            safety_stock,
            available: self.available(),
            deal_held: self.deal_held,
        }
    }

    /// Units a new hold may take now.
    pub fn available(&self) -> u64 {
        self.counters
            .on_hand
            .saturating_sub(self.held())
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
        let allocated = self.held().saturating_add(self.counters.committed);
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

    /// Holds `units` available units for `deal` (its creation): taken only
    /// from what is available, never from held, committed or safety stock.
    pub fn deal_hold(&mut self, deal: &DealId, units: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        if units == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        let available = self.available();
        if units > available {
            return Err(InventoryError::InsufficientStock { requested: units, available });
        }
        self.deal_event(InventoryEvent::DealHeld { deal: deal.clone(), units })
    }

    /// `units` of `deal`'s were sold: they move from deal-held to committed
    /// (and leave `on_hand` when they ship).
    pub fn deal_sell(&mut self, deal: &DealId, units: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        self.check_stake(deal, units)?;
        self.counters.committed.checked_add(units).ok_or(InventoryError::Overflow)?;
        self.deal_event(InventoryEvent::DealSold { deal: deal.clone(), units })
    }

    /// Sold units of `deal`'s come back to it (their order was cancelled
    /// before shipping): committed to deal-held.
    pub fn deal_unsell(&mut self, deal: &DealId, units: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        if units == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        if units > self.counters.committed {
            return Err(InventoryError::ReturnExceedsCommitted {
                requested: units,
                committed: self.counters.committed,
            });
        }
        self.deal_event(InventoryEvent::DealUnsold { deal: deal.clone(), units })
    }

    /// Unsold units of `deal`'s go back to stock (the deal ended).
    pub fn deal_release(&mut self, deal: &DealId, units: u64) -> Result<Vec<InventoryEvent>, InventoryError> {
        self.check_stake(deal, units)?;
        self.deal_event(InventoryEvent::DealReleased { deal: deal.clone(), units })
    }

    fn check_stake(&self, deal: &DealId, units: u64) -> Result<(), InventoryError> {
        if units == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        let held = self.stake(deal);
        if units > held {
            return Err(InventoryError::DealUnitsShort { deal: deal.clone(), requested: units, held });
        }
        Ok(())
    }

    fn deal_event(&mut self, event: InventoryEvent) -> Result<Vec<InventoryEvent>, InventoryError> {
        self.apply(&event);
        Ok(vec![event])
    }

    /// Moves `units` into (`grow`) or out of `deal`'s stake.
    fn move_stake(&mut self, deal: &DealId, units: u64, grow: bool) {
        let stake = self.stakes.entry(deal.clone()).or_default();
        let before = *stake;
        *stake = if grow { stake.saturating_add(units) } else { stake.saturating_sub(units) };
        let after = *stake;
        if after == 0 {
            self.stakes.remove(deal);
        }
        self.deal_held = self.deal_held.saturating_sub(before).saturating_add(after);
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
            InventoryEvent::DealHeld { deal, units } => self.move_stake(deal, *units, true),
            InventoryEvent::DealSold { deal, units } => {
                self.move_stake(deal, *units, false);
                self.counters.committed = self.counters.committed.saturating_add(*units);
            }
            InventoryEvent::DealUnsold { deal, units } => {
                self.counters.committed = self.counters.committed.saturating_sub(*units);
                self.move_stake(deal, *units, true);
            }
            InventoryEvent::DealReleased { deal, units } => self.move_stake(deal, *units, false),
        }
    }

    /// Checks the invariants named in the module docs, the hold ledger's
    /// among them.
    pub fn check_invariants(&self, now: Option<Timestamp>) -> Result<(), InvariantViolation> {
        self.holds.check_invariants(&self.key.to_string(), now)?;
        let stakes = self.stakes.values().fold(0u64, |sum, units| sum.saturating_add(*units));
        if stakes != self.deal_held || self.stakes.values().any(|units| *units == 0) {
            return Err(InvariantViolation {
                name: "bucket.counts_identity",
                detail: format!("{}: deal_held {} but the deals' stakes sum to {stakes}", self.key, self.deal_held),
            });
        }
        let held = self.held();
        let allocated = held.saturating_add(self.counters.committed);
        if allocated > self.counters.on_hand {
            return Err(InvariantViolation {
                name: "bucket.never_oversold",
                detail: format!(
                    "{}: held {held} (deals {}) + committed {} > on hand {}",
                    self.key, self.deal_held, self.counters.committed, self.counters.on_hand
                ),
            });
        }
        self.counts().check_identity(&self.key.to_string())
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

    fn deal(id: &str) -> DealId {
        DealId::parse(id).unwrap()
    }

    #[test]
    fn a_deal_holds_only_available_units_and_never_moves_on_hand() {
        let mut bucket = bucket(10, 2);
        let now = Timestamp::from_millis(0);
        bucket.reserve(ReservationId::parse("res_1").unwrap(), 3, 1_000, now).unwrap();
        let d = deal("deal_1");
        assert_eq!(
            bucket.deal_hold(&d, 6),
            Err(InventoryError::InsufficientStock { requested: 6, available: 5 }),
            "held and safety stock stay"
        );
        assert_eq!(bucket.deal_hold(&d, 5).unwrap(), vec![InventoryEvent::DealHeld { deal: d.clone(), units: 5 }]);
        let counts = bucket.counts();
        assert_eq!(
            (counts.on_hand, counts.held, counts.deal_held, counts.available, counts.committed),
            (10, 8, 5, 0, 0)
        );
        assert_eq!(bucket.deal_hold(&d, 0), Err(InventoryError::InvalidQuantity));
        bucket.check_invariants(Some(now)).unwrap();
    }

    #[test]
    fn deal_units_are_sold_shipped_unsold_and_released_with_the_identity_kept() {
        let mut bucket = bucket(300, 0);
        let d = deal("deal_1");
        let other = deal("deal_2");
        bucket.deal_hold(&d, 200).unwrap();
        bucket.deal_hold(&other, 50).unwrap();
        let counts = bucket.counts();
        assert_eq!((counts.on_hand, counts.held, counts.deal_held, counts.available), (300, 250, 250, 50));
        bucket.deal_sell(&d, 3).unwrap();
        let counts = bucket.counts();
        assert_eq!((counts.held, counts.deal_held, counts.committed, counts.available), (247, 247, 3, 50));
        assert_eq!(
            bucket.deal_sell(&other, 51),
            Err(InventoryError::DealUnitsShort { deal: other.clone(), requested: 51, held: 50 }),
            "a deal sells only its own units"
        );
        bucket.deal_unsell(&d, 1).unwrap();
        assert_eq!((bucket.stake(&d), bucket.counts().committed), (198, 2));
        bucket.ship(2).unwrap();
        assert_eq!((bucket.counts().on_hand, bucket.counts().committed), (298, 0));
        bucket.deal_release(&d, 198).unwrap();
        assert_eq!(bucket.stake(&d), 0);
        assert_eq!(bucket.stakes().count(), 1, "a drained stake is forgotten");
        let counts = bucket.counts();
        assert_eq!((counts.on_hand, counts.held, counts.deal_held, counts.available), (298, 50, 50, 248));
        bucket.check_invariants(None).unwrap();
        assert!(matches!(bucket.deal_release(&d, 1), Err(InventoryError::DealUnitsShort { .. })));
        assert!(matches!(bucket.deal_unsell(&d, 1), Err(InventoryError::ReturnExceedsCommitted { .. })));
        assert!(bucket.set_on_hand(49).is_err(), "on hand never drops below what deals hold");
    }

    #[test]
    fn a_broken_identity_is_reported() {
        let sound = InventoryCounts { on_hand: 10, held: 4, committed: 2, safety_stock: 1, available: 3, deal_held: 4 };
        sound.check_identity("s").unwrap();
        let short = InventoryCounts { on_hand: 5, held: 4, committed: 1, safety_stock: 3, available: 0, deal_held: 0 };
        short.check_identity("short: the identity holds only when stock is sufficient").unwrap();
        let bad = [
            InventoryCounts { available: 4, ..sound },
            InventoryCounts { deal_held: 5, ..sound },
            InventoryCounts { committed: 7, available: 0, ..sound },
        ];
        for counts in bad {
            assert!(counts.check_identity("b").is_err(), "{counts:?}");
        }
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        /// One operation on a bucket with one or two flash deals.
        #[derive(Debug, Clone)]
        enum Op {
            DealHold { deal: u8, units: u64 },
            DealSell { deal: u8, units: u64 },
            DealUnsell { deal: u8, units: u64 },
            DealRelease { deal: u8, units: u64 },
            Reserve { id: u8, quantity: u32 },
            Commit { id: u8 },
            Release { id: u8 },
            Ship { quantity: u64 },
            Restock { quantity: u64 },
            SetOnHand { on_hand: u64 },
            SetSafety { safety_stock: u64 },
            Tick { ms: u64 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..2, 1u64..40).prop_map(|(deal, units)| Op::DealHold { deal, units }),
                (0u8..2, 1u64..10).prop_map(|(deal, units)| Op::DealSell { deal, units }),
                (0u8..2, 1u64..10).prop_map(|(deal, units)| Op::DealUnsell { deal, units }),
                (0u8..2, 1u64..40).prop_map(|(deal, units)| Op::DealRelease { deal, units }),
                (0u8..6, 1u32..20).prop_map(|(id, quantity)| Op::Reserve { id, quantity }),
                (0u8..6).prop_map(|id| Op::Commit { id }),
                (0u8..6).prop_map(|id| Op::Release { id }),
                (1u64..15).prop_map(|quantity| Op::Ship { quantity }),
                (1u64..30).prop_map(|quantity| Op::Restock { quantity }),
                (0u64..150).prop_map(|on_hand| Op::SetOnHand { on_hand }),
                (0u64..10).prop_map(|safety_stock| Op::SetSafety { safety_stock }),
                (1u64..2_000).prop_map(|ms| Op::Tick { ms }),
            ]
        }

        /// What the deal side knows: its units in the bucket and its sales.
        #[derive(Default)]
        struct DealModel {
            held: [u64; 2],
            sold: [u64; 2],
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn the_identity_holds_and_nothing_is_oversold(ops in proptest::collection::vec(op(), 1..120)) {
                let mut bucket = bucket(60, 0);
                let deals = [deal("deal_a"), deal("deal_b")];
                let mut model = DealModel::default();
                let mut now = Timestamp::from_millis(1);
                let mut on_hand = 60u64;
                for op in ops {
                    let before = bucket.clone();
                    let result = match op.clone() {
                        Op::DealHold { deal, units } => bucket.deal_hold(&deals[usize::from(deal)], units).inspect(|_| {
                            model.held[usize::from(deal)] += units;
                        }),
                        Op::DealSell { deal, units } => bucket.deal_sell(&deals[usize::from(deal)], units).inspect(|_| {
                            model.held[usize::from(deal)] -= units;
                            model.sold[usize::from(deal)] += units;
                        }),
                        Op::DealUnsell { deal, units } => {
                            let d = usize::from(deal);
                            if model.sold[d] < units {
                                // The deal side never returns more than it sold.
                                continue;
                            }
                            bucket.deal_unsell(&deals[d], units).inspect(|_| {
                                model.held[d] += units;
                                model.sold[d] -= units;
                            })
                        }
                        Op::DealRelease { deal, units } => {
                            bucket.deal_release(&deals[usize::from(deal)], units).inspect(|_| {
                                model.held[usize::from(deal)] -= units;
                            })
                        }
                        Op::Reserve { id, quantity } => {
                            let id = ReservationId::parse(&format!("res_{id}_{}", now.as_millis())).unwrap();
                            bucket.reserve(id, quantity, 1_000, now).map(|(_, e)| e)
                        }
                        Op::Commit { id } | Op::Release { id } => {
                            let found = bucket
                                .holds()
                                .filter(|(key, _)| key.as_str().starts_with(&format!("res_{id}_")))
                                .map(|(key, _)| key.clone())
                                .next();
                            match found {
                                Some(key) if matches!(op, Op::Commit { .. }) => bucket.commit(&key, now).map(|(_, e)| e),
                                Some(key) => bucket.release(&key, now).map(|(_, e)| e),
                                None => continue,
                            }
                        }
                        Op::Ship { quantity } => bucket.ship(quantity).inspect(|_| on_hand -= quantity),
                        Op::Restock { quantity } => bucket.restock(quantity).inspect(|_| on_hand += quantity),
                        Op::SetOnHand { on_hand: count } => bucket.set_on_hand(count).inspect(|_| on_hand = count),
                        Op::SetSafety { safety_stock } => Ok(bucket.set_safety_stock(safety_stock)),
                        Op::Tick { ms } => {
                            now = now.plus_millis(ms);
                            Ok(bucket.expire(now))
                        }
                    };
                    if result.is_err() {
                        prop_assert_eq!(&bucket, &before, "a rejection changes nothing");
                    }
                    bucket.check_invariants(None).map_err(|v| TestCaseError::fail(v.to_string()))?;
                    let counts = bucket.counts();
                    counts.check_identity("model").map_err(|v| TestCaseError::fail(v.to_string()))?;
                    for (index, deal) in deals.iter().enumerate() {
                        prop_assert_eq!(bucket.stake(deal), model.held[index], "deal-held of {}", deal);
                    }
                    prop_assert_eq!(counts.deal_held, model.held[0] + model.held[1]);
                    prop_assert!(counts.held + counts.committed <= counts.on_hand, "oversold: {:?}", counts);
                    // Nothing but a count, a receipt or a shipment moves on_hand.
                    prop_assert_eq!(counts.on_hand, on_hand);
                    // Replaying the events gives the same bucket.
                    let events = result.unwrap_or_default();
                    let mut replayed = before.clone();
                    for event in &events {
                        replayed.apply(event);
                    }
                    prop_assert_eq!(&replayed, &bucket);
                }
            }
        }
    }
}
