//! The hold ledger: units put aside under an id until an expiry, then sold
//! (commit), given back (release), or given back by the clock (expiry), each
//! exactly once. Inventory buckets and deal shards keep their holds in one:
//! a bucket's hold is for nobody in particular (its party is `()`), a deal
//! claim is a hold with a customer (and, once sold, the order it paid for).
//!
//! The ledger decides what a request on an existing hold does
//! ([`HoldLedger::check_commit`], [`HoldLedger::check_release`],
//! [`HoldLedger::check_return`], [`HoldLedger::check_retry`]) and applies the
//! changes its owner's events make ([`HoldLedger::open`],
//! [`HoldLedger::settle`], [`HoldLedger::unsell`]). What the units are taken
//! from (a bucket's counters, a shard's stock) stays with the owner. The
//! ledger's own rules, checked by [`HoldLedger::check_invariants`]:
//!
//! - `ledger.held_matches_holds`: `held` is the sum of the quantities of the
//!   holds whose status is `Held`;
//! - `ledger.expiry_index_matches_holds`: the expiry index names exactly the
//!   `Held` holds, at their expiry;
//! - `ledger.no_due_hold`: after the owner expired what was due at `now`, no
//!   `Held` hold is due at `now`.

use super::ids::{CustomerId, OrderId, ReservationId};
use super::split_map::SplitMap;
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Where a hold stands. Only `Held` counts towards `held`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Held,
    Committed,
    Released,
    Expired,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Committed => "committed",
            HoldStatus::Released => "released",
            HoldStatus::Expired => "expired",
        }
    }
}

/// One hold, kept after it settles so that retries get the same answer
/// (until pruned). `P` is who it is for: `()` for a bucket's hold (the
/// domain keeps who asked for it), a [`Claimant`] for a deal claim.
///
/// A bucket's hold is stored as this struct (bincode writes nothing for
/// `()`, so the record has the fields above `party` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold<P = ()> {
    pub quantity: u32,
    /// The requested time to live; part of the request for idempotency.
    pub ttl_ms: u64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub status: HoldStatus,
    /// When the hold left `Held` (commit, release or expiry).
    pub settled_at: Option<Timestamp>,
    pub party: P,
}

/// Whose a deal claim is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimant {
    pub customer: CustomerId,
    /// The order the claim was committed for (`None` while held, and for a
    /// raw commit of the reservation).
    pub order: Option<OrderId>,
}

impl<P> Hold<P> {
    /// A new `Held` hold of `quantity` units until `now + ttl_ms`.
    pub fn new(quantity: u32, ttl_ms: u64, now: Timestamp, party: P) -> Self {
        Hold {
            quantity,
            ttl_ms,
            created_at: now,
            expires_at: now.plus_millis(ttl_ms),
            status: HoldStatus::Held,
            settled_at: None,
            party,
        }
    }

    /// `Held` and not yet due at `now`: the units are still set aside and
    /// may be sold.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.status == HoldStatus::Held && self.expires_at > now
    }

    /// The status a caller sees at `now`: a `Held` hold past its deadline is
    /// expired even before its owner's timer has run.
    pub fn status_at(&self, now: Timestamp) -> HoldStatus {
        match self.status {
            HoldStatus::Held if self.expires_at <= now => HoldStatus::Expired,
            status => status,
        }
    }
}

/// Why a request on a hold was refused. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("reservation {id} not found")]
    NotFound { id: ReservationId },
    #[error("reservation {id} is {status:?}, not held")]
    NotActive { id: ReservationId, status: HoldStatus },
    #[error("reservation {id} already exists with a different request")]
    Conflict { id: ReservationId },
}

/// The holds map: deterministic, fast hashing (ids are server-generated or
/// caller-chosen per owner; no untrusted flood reaches one map unchecked),
/// split so that growing it never stalls its owner (see [`SplitMap`]).
type Holds<P> = SplitMap<ReservationId, Hold<P>>;

/// The holds of one owner (a bucket, a deal shard), with the units they
/// keep and an index of when the live ones fall due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldLedger<P = ()> {
    holds: Holds<P>,
    held: u64,
    /// `(expires_at, id)` of every `Held` hold: expiry pops from the front
    /// instead of scanning all holds on every access.
    expiry_index: BTreeSet<(Timestamp, ReservationId)>,
}

impl<P> Default for HoldLedger<P> {
    fn default() -> Self {
        HoldLedger { holds: Holds::default(), held: 0, expiry_index: BTreeSet::new() }
    }
}

impl<P> HoldLedger<P> {
    /// A ledger of the given holds (as stored), whatever their status.
    pub fn restore(holds: impl IntoIterator<Item = (ReservationId, Hold<P>)>) -> Self {
        let mut ledger = HoldLedger::default();
        for (id, hold) in holds {
            ledger.open(id, hold);
        }
        ledger
    }

    pub fn get(&self, id: &ReservationId) -> Option<&Hold<P>> {
        self.holds.get(id)
    }

    pub fn contains(&self, id: &ReservationId) -> bool {
        self.holds.contains_key(id)
    }

    /// The hold `id`, or [`HoldError::NotFound`].
    pub fn existing(&self, id: &ReservationId) -> Result<&Hold<P>, HoldError> {
        self.holds.get(id).ok_or_else(|| HoldError::NotFound { id: id.clone() })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ReservationId, &Hold<P>)> {
        self.holds.iter()
    }

    /// Units in `Held` holds.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Number of holds still `Held`.
    pub fn active_count(&self) -> usize {
        self.expiry_index.len()
    }

    /// The earliest expiry among `Held` holds: when the owner's timer should fire.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry_index.first().map(|(at, _)| *at)
    }

    /// The `Held` holds due at `now` (`expires_at <= now`), earliest first.
    pub fn due(&self, now: Timestamp) -> impl Iterator<Item = (&ReservationId, &Hold<P>)> {
        self.expiry_index
            .iter()
            .take_while(move |(at, _)| *at <= now)
            .filter_map(|(_, id)| self.holds.get(id).map(|hold| (id, hold)))
    }

    /// A new hold's request against what `id` already names: `None` when
    /// `id` is new; the existing hold for a retry (same quantity, time to
    /// live and party, whatever its status now); [`HoldError::Conflict`] for
    /// a different request under the same id.
    pub fn check_retry(
        &self,
        id: &ReservationId,
        quantity: u32,
        ttl_ms: u64,
        same_party: impl FnOnce(&P) -> bool,
    ) -> Result<Option<&Hold<P>>, HoldError> {
        match self.holds.get(id) {
            None => Ok(None),
            Some(hold) if hold.quantity == quantity && hold.ttl_ms == ttl_ms && same_party(&hold.party) => {
                Ok(Some(hold))
            }
            Some(_) => Err(HoldError::Conflict { id: id.clone() }),
        }
    }

    /// May hold `id` be sold at `now`? `None`: yes, it is held and not due.
    /// The hold itself when it was already sold for the same purpose
    /// (`same`: the same order for a claim), so a retry changes nothing.
    /// Otherwise [`HoldError::NotActive`] with the status that stops it (a
    /// due hold counts as expired; a hold sold for another purpose as
    /// committed, so one claim never pays for two orders).
    pub fn check_commit(
        &self,
        id: &ReservationId,
        now: Timestamp,
        same: impl FnOnce(&P) -> bool,
    ) -> Result<Option<&Hold<P>>, HoldError> {
        let hold = self.existing(id)?;
        match hold.status_at(now) {
            HoldStatus::Held => Ok(None),
            HoldStatus::Committed if same(&hold.party) => Ok(Some(hold)),
            status => Err(HoldError::NotActive { id: id.clone(), status }),
        }
    }

    /// May hold `id` be given back? `None`: yes, it is held. The hold itself
    /// when it was already released or expired (a retry changes nothing);
    /// [`HoldError::NotActive`] when it was sold.
    pub fn check_release(&self, id: &ReservationId) -> Result<Option<&Hold<P>>, HoldError> {
        let hold = self.existing(id)?;
        match hold.status {
            HoldStatus::Held => Ok(None),
            HoldStatus::Released | HoldStatus::Expired => Ok(Some(hold)),
            HoldStatus::Committed => Err(HoldError::NotActive { id: id.clone(), status: HoldStatus::Committed }),
        }
    }

    /// May the units of sold hold `id` come back (its order was cancelled)?
    /// `None`: yes, it is committed (for the same purpose: `same`). The hold
    /// itself in every other case, where nothing is to be done, so that
    /// compensations may retry freely.
    pub fn check_return(
        &self,
        id: &ReservationId,
        same: impl FnOnce(&P) -> bool,
    ) -> Result<Option<&Hold<P>>, HoldError> {
        let hold = self.existing(id)?;
        if hold.status == HoldStatus::Committed && same(&hold.party) {
            return Ok(None);
        }
        Ok(Some(hold))
    }

    /// Records hold `id` as it is (a new hold, or one restored from the
    /// store); a `Held` one counts towards `held` and joins the expiry index.
    pub fn open(&mut self, id: ReservationId, hold: Hold<P>) {
        if hold.status == HoldStatus::Held {
            self.held = self.held.saturating_add(u64::from(hold.quantity));
            self.expiry_index.insert((hold.expires_at, id.clone()));
        }
        if let Some(previous) = self.holds.insert(id.clone(), hold) {
            // Trusted events never open an id twice; stay exact if one did.
            if previous.status == HoldStatus::Held {
                self.held = self.held.saturating_sub(u64::from(previous.quantity));
                self.expiry_index.remove(&(previous.expires_at, id));
            }
        }
    }

    /// Moves `Held` hold `id` to `status` at `at`. Returns the hold when it
    /// was held (its units now sold or free, for the owner to count); `None`
    /// when it was not, and nothing changed.
    pub fn settle(&mut self, id: &ReservationId, status: HoldStatus, at: Timestamp) -> Option<&mut Hold<P>> {
        let hold = self.holds.get_mut(id).filter(|hold| hold.status == HoldStatus::Held)?;
        hold.status = status;
        hold.settled_at = Some(at);
        self.held = self.held.saturating_sub(u64::from(hold.quantity));
        self.expiry_index.remove(&(hold.expires_at, id.clone()));
        Some(hold)
    }

    /// A sold hold's units come back: `Committed` becomes `Released` at
    /// `at`. Returns the hold when it was committed; `None` otherwise.
    pub fn unsell(&mut self, id: &ReservationId, at: Timestamp) -> Option<&Hold<P>> {
        let hold = self.holds.get_mut(id).filter(|hold| hold.status == HoldStatus::Committed)?;
        hold.status = HoldStatus::Released;
        hold.settled_at = Some(at);
        Some(hold)
    }

    /// Forgets settled holds (not `Held`) that settled before `before`;
    /// returns their ids, sorted, so the owner can delete their records.
    /// After this a retry of one of those ids is a new hold.
    pub fn prune_settled(&mut self, before: Timestamp) -> Vec<ReservationId> {
        let mut pruned: Vec<ReservationId> = self
            .holds
            .iter()
            .filter(|(_, hold)| hold.status != HoldStatus::Held && hold.settled_at.is_some_and(|at| at < before))
            .map(|(id, _)| id.clone())
            .collect();
        pruned.sort();
        for id in &pruned {
            self.holds.remove(id);
        }
        pruned
    }

    /// Checks the invariants named in the module docs; `owner` names the
    /// bucket or shard in the detail.
    pub fn check_invariants(&self, owner: &str, now: Option<Timestamp>) -> Result<(), InvariantViolation> {
        let violation = |name, detail: String| Err(InvariantViolation { name, detail: format!("{owner}: {detail}") });
        let live = || self.holds.values().filter(|hold| hold.status == HoldStatus::Held);
        let held: u64 = live().map(|hold| u64::from(hold.quantity)).sum();
        let indexed = self.expiry_index.iter().all(|(at, id)| {
            self.holds.get(id).is_some_and(|hold| hold.status == HoldStatus::Held && hold.expires_at == *at)
        });
        let active = live().count();
        if !indexed || active != self.expiry_index.len() {
            return violation(
                "ledger.expiry_index_matches_holds",
                format!("{active} held holds, {} indexed", self.expiry_index.len()),
            );
        }
        if held != self.held {
            return violation("ledger.held_matches_holds", format!("held {} but holds sum to {held}", self.held));
        }
        if let Some(now) = now {
            if let Some(due) = self.next_expiry().filter(|at| *at <= now) {
                return violation(
                    "ledger.no_due_hold",
                    format!("a hold due at {} is still held at {}", due.as_millis(), now.as_millis()),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
