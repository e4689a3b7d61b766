//! Flash deals: limited stock at a deal price in a time window, claimed by a
//! stampede of customers.
//!
//! A deal's units are split over K shards so that claims use every core. A
//! customer always claims through the shard `shard_of(customer, K)`, so that
//! one shard holds all of a customer's claims and the per-customer limit is
//! checked atomically there, even for parallel claims. A shard whose stock
//! runs dry takes units from the others ([`DealShard::give`] /
//! [`DealShard::take`]); units only move, so across the shards of a deal:
//!
//! - `deal.units_conserved`: sum of (stock + held + sold) == quantity, always;
//!   hence never more than `quantity` sold.
//! - `shard.tally_matches_claims` (per shard): a customer's tally is the sum
//!   of their held and committed claims, and never exceeds the limit.
//! - `shard.sold_matches_claims` (per shard): `sold` is the sum of the
//!   committed claims;
//! - and the rules of the [`HoldLedger`] the claims are kept in, as for
//!   buckets.
//!
//! A claim is a hold with a customer ([`Claim`]), settled by commit (the
//! order paid), release, or expiry, each exactly once. Check order for a claim
//! (API.md): `deal-not-active`, then `limit-exceeded`, then `sold-out`.

use super::hold::{Claimant, Hold, HoldError, HoldLedger, HoldStatus};
use super::ids::{CustomerId, DealId, OrderId, ReservationId, Sku};
use super::money::Money;
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What an admin sets when creating a deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealTerms {
    pub id: DealId,
    pub sku: Sku,
    pub price: Money,
    pub quantity: u32,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub per_customer_limit: u32,
    /// The first minutes after `starts_at` are for Prime members only.
    pub prime_early_access_ms: u64,
    /// How long a claim holds its units before it expires (`None`: the
    /// engine's default). Kept in its own record by the deals domain, so
    /// that deals stored before it read as they are.
    #[serde(skip)]
    pub claim_ttl_ms: Option<u64>,
}

/// The shortest and longest claim hold a deal may set (API.md: 10..=3600 s).
pub const CLAIM_TTL_MS_RANGE: std::ops::RangeInclusive<u64> = 10_000..=3_600_000;

/// Why deal terms are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the deal is not active")]
    NotActive,
    #[error("the deal is for Prime members only until {until_ms}")]
    PrimeOnly { until_ms: u64 },
    #[error("the per-customer limit of {limit} would be exceeded (already {claimed})")]
    LimitExceeded { limit: u32, claimed: u32 },
    #[error("sold out")]
    SoldOut,
    #[error("claim {id} not found")]
    ClaimNotFound { id: ReservationId },
    #[error("claim {id} is {status:?}, not held")]
    ClaimNotActive { id: ReservationId, status: HoldStatus },
    #[error("claim {id} already exists with a different request")]
    IdempotencyConflict { id: ReservationId },
    #[error("the deal has units: claim instead of joining the waitlist")]
    NotSoldOut,
}

/// Where a deal stands for a customer at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealPhase {
    Upcoming,
    /// Open to Prime members only.
    PrimeOnly,
    Open,
    Ended,
}

/// The status of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Upcoming,
    Active,
    SoldOut,
    Ended,
}

impl DealTerms {
    /// Validates the terms: a positive quantity and limit, a window that ends
    /// after it starts, early access within the window.
    pub fn validate(&self) -> Result<(), DealError> {
        let invalid = |field, reason: &str| Err(DealError::Invalid { field, reason: reason.to_owned() });
        if self.quantity == 0 {
            return invalid("quantity", "must be at least 1");
        }
        if self.per_customer_limit == 0 {
            return invalid("per_customer_limit", "must be at least 1");
        }
        if self.ends_at <= self.starts_at {
            return invalid("ends_at", "must be after starts_at");
        }
        if self.prime_early_access_ms > self.ends_at.millis_since(self.starts_at) {
            return invalid("prime_early_access_minutes", "must end before the deal does");
        }
        if self.price.cents < 0 {
            return invalid("price", "must not be negative");
        }
        if self.claim_ttl_ms.is_some_and(|ttl| !CLAIM_TTL_MS_RANGE.contains(&ttl)) {
            return invalid("claim_ttl_seconds", "must be 10..=3600");
        }
        Ok(())
    }

    pub fn phase(&self, now: Timestamp) -> DealPhase {
        if now < self.starts_at {
            DealPhase::Upcoming
        } else if now >= self.ends_at {
            DealPhase::Ended
        } else if now < self.starts_at.plus_millis(self.prime_early_access_ms) {
            DealPhase::PrimeOnly
        } else {
            DealPhase::Open
        }
    }

    /// The status from time and the units still claimable.
    pub fn status(&self, now: Timestamp, remaining: u64) -> DealStatus {
        match self.phase(now) {
            DealPhase::Upcoming => DealStatus::Upcoming,
            DealPhase::Ended => DealStatus::Ended,
            DealPhase::PrimeOnly | DealPhase::Open if remaining == 0 => DealStatus::SoldOut,
            DealPhase::PrimeOnly | DealPhase::Open => DealStatus::Active,
        }
    }

    /// May `prime` customer claim at `now`?
    pub fn check_open(&self, now: Timestamp, prime: bool) -> Result<(), DealError> {
        match self.phase(now) {
            DealPhase::Upcoming | DealPhase::Ended => Err(DealError::NotActive),
            DealPhase::PrimeOnly if !prime => Err(DealError::PrimeOnly {
                until_ms: self.starts_at.plus_millis(self.prime_early_access_ms).as_millis(),
            }),
            DealPhase::PrimeOnly | DealPhase::Open => Ok(()),
        }
    }

    /// The units shard `index` of `shards` starts with: an even split, the
    /// remainder to the first shards.
    pub fn initial_stock(&self, index: u32, shards: u32) -> u32 {
        let shards = shards.max(1);
        self.quantity / shards + u32::from(index < self.quantity % shards)
    }
}

/// The shard a customer's claims always go to (FNV-1a: stable across
/// processes, so the limit stays exact across restarts).
pub fn shard_of(customer: &CustomerId, shards: u32) -> u32 {
    let hash = customer
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    u32::try_from(hash % u64::from(shards.max(1))).unwrap_or(0)
}

/// One customer's claim: a hold on deal units, for them.
pub type Claim = Hold<Claimant>;

impl Claim {
    pub fn customer(&self) -> &CustomerId {
        &self.party.customer
    }

    /// The order the claim was committed for (`None` while held, and for a
    /// raw commit).
    pub fn order(&self) -> Option<&OrderId> {
        self.party.order.as_ref()
    }

    /// Whether `customer` may still use this claim (`id`) at `now`: theirs,
    /// held and not due. Otherwise the reason, as a rejection: another
    /// customer's claim is not found for them; a held claim past its
    /// deadline counts as expired.
    pub fn check_held_for(&self, id: &ReservationId, customer: &CustomerId, now: Timestamp) -> Result<(), DealError> {
        if self.party.customer != *customer {
            return Err(DealError::ClaimNotFound { id: id.clone() });
        }
        match self.status_at(now) {
            HoldStatus::Held => Ok(()),
            status => Err(DealError::ClaimNotActive { id: id.clone(), status }),
        }
    }
}

impl From<HoldError> for DealError {
    fn from(err: HoldError) -> Self {
        match err {
            HoldError::NotFound { id } => DealError::ClaimNotFound { id },
            HoldError::NotActive { id, status } => DealError::ClaimNotActive { id, status },
            HoldError::Conflict { id } => DealError::IdempotencyConflict { id },
        }
    }
}

/// What happened to a shard; each names the claim or the units it moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DealEvent {
    Claimed {
        id: ReservationId,
        claim: Claim,
    },
    Committed {
        id: ReservationId,
        at: Timestamp,
        order: Option<OrderId>,
    },
    /// A committed claim's order was cancelled (or its saga compensated):
    /// its units are free again and the customer's tally drops.
    Returned {
        id: ReservationId,
        at: Timestamp,
    },
    Released {
        id: ReservationId,
        at: Timestamp,
    },
    Expired {
        id: ReservationId,
        at: Timestamp,
    },
    /// Units moved to another shard.
    Gave {
        units: u32,
    },
    /// Units received from another shard.
    Took {
        units: u32,
    },
}

/// One shard of a deal's stock, with the claims of the customers it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealShard {
    index: u32,
    stock: u32,
    sold: u32,
    claims: HoldLedger<Claimant>,
    tally: HashMap<CustomerId, u32>,
}

/// A shard's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShardCounts {
    pub stock: u32,
    pub held: u32,
    pub sold: u32,
}

impl DealShard {
    /// A shard holding `stock` units and no claims.
    pub fn new(index: u32, stock: u32) -> Self {
        DealShard { index, stock, sold: 0, claims: HoldLedger::default(), tally: HashMap::new() }
    }

    /// Rebuilds a shard from its stock counter (persisted) and its claims.
    pub fn restore(index: u32, stock: u32, claims: impl IntoIterator<Item = (ReservationId, Claim)>) -> Self {
        let mut shard = DealShard::new(index, stock);
        for (id, claim) in claims {
            if claim.status == HoldStatus::Committed {
                shard.sold = shard.sold.saturating_add(claim.quantity);
            }
            if matches!(claim.status, HoldStatus::Held | HoldStatus::Committed) {
                *shard.tally.entry(claim.party.customer.clone()).or_default() += claim.quantity;
            }
            shard.claims.open(id, claim);
        }
        shard
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// Units in held claims (a shard's claims fit in its `u32` quantity).
    fn held(&self) -> u32 {
        u32::try_from(self.claims.held()).unwrap_or(u32::MAX)
    }

    pub fn counts(&self) -> ShardCounts {
        ShardCounts { stock: self.stock, held: self.held(), sold: self.sold }
    }

    pub fn claim(&self, id: &ReservationId) -> Option<&Claim> {
        self.claims.get(id)
    }

    pub fn claims(&self) -> impl Iterator<Item = (&ReservationId, &Claim)> {
        self.claims.iter()
    }

    /// Applies `event` to claim `id`; the claim as it now is, and the event.
    fn emit(&mut self, id: &ReservationId, event: DealEvent) -> Result<(Claim, Vec<DealEvent>), DealError> {
        self.apply(&event);
        Ok((self.claims.existing(id)?.clone(), vec![event]))
    }

    /// Units a customer holds or bought here.
    pub fn tally(&self, customer: &CustomerId) -> u32 {
        self.tally.get(customer).copied().unwrap_or(0)
    }

    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.claims.next_expiry()
    }

    /// Claims `quantity` units for `customer` (whose claims all come to this
    /// shard). The caller checked the deal is open (`DealTerms::check_open`).
    /// A retry with the same id and request returns the existing claim.
    pub fn place_claim(
        &mut self,
        id: ReservationId,
        customer: CustomerId,
        quantity: u32,
        limit: u32,
        ttl_ms: u64,
        now: Timestamp,
    ) -> Result<(Claim, Vec<DealEvent>), DealError> {
        let same_customer = |party: &Claimant| party.customer == customer;
        if let Some(existing) = self.claims.check_retry(&id, quantity, ttl_ms, same_customer)? {
            return Ok((existing.clone(), Vec::new()));
        }
        if quantity == 0 || ttl_ms == 0 {
            return Err(DealError::Invalid {
                field: "quantity",
                reason: "quantity and hold time must be positive".into(),
            });
        }
        let claimed = self.tally(&customer);
        if claimed.saturating_add(quantity) > limit {
            return Err(DealError::LimitExceeded { limit, claimed });
        }
        if quantity > self.stock {
            return Err(DealError::SoldOut);
        }
        let claim = Hold::new(quantity, ttl_ms, now, Claimant { customer, order: None });
        let event = DealEvent::Claimed { id, claim: claim.clone() };
        self.apply(&event);
        Ok((claim, vec![event]))
    }

    /// The order that holds the claim was placed: its units are sold.
    /// Idempotent for the same `order`; a claim committed for another order,
    /// released or expired cannot be committed (so one claim never pays for
    /// two orders).
    pub fn commit(
        &mut self,
        id: &ReservationId,
        order: Option<&OrderId>,
        now: Timestamp,
    ) -> Result<(Claim, Vec<DealEvent>), DealError> {
        let same_order = |party: &Claimant| party.order.as_ref() == order;
        if let Some(committed) = self.claims.check_commit(id, now, same_order)? {
            return Ok((committed.clone(), Vec::new()));
        }
        self.emit(id, DealEvent::Committed { id: id.clone(), at: now, order: order.cloned() })
    }

    /// Gives the units of a claim committed for `order` back to the deal,
    /// exactly once: the claim becomes `Released`, `sold` and the customer's
    /// tally drop. Anything else (a claim held, released, expired, already
    /// returned, or committed for another order) is left alone and nothing
    /// is emitted, so compensations may retry freely.
    pub fn return_committed(
        &mut self,
        id: &ReservationId,
        order: Option<&OrderId>,
        now: Timestamp,
    ) -> Result<(Claim, Vec<DealEvent>), DealError> {
        let same_order = |party: &Claimant| party.order.as_ref() == order;
        if let Some(unchanged) = self.claims.check_return(id, same_order)? {
            return Ok((unchanged.clone(), Vec::new()));
        }
        self.emit(id, DealEvent::Returned { id: id.clone(), at: now })
    }

    /// Gives the claim's units back (idempotent for released or expired).
    pub fn release(&mut self, id: &ReservationId, now: Timestamp) -> Result<(Claim, Vec<DealEvent>), DealError> {
        if let Some(settled) = self.claims.check_release(id)? {
            return Ok((settled.clone(), Vec::new()));
        }
        self.emit(id, DealEvent::Released { id: id.clone(), at: now })
    }

    /// Expires every held claim due at `now`: its units return once.
    pub fn expire(&mut self, now: Timestamp) -> Vec<DealEvent> {
        let due: Vec<DealEvent> =
            self.claims.due(now).map(|(id, _)| DealEvent::Expired { id: id.clone(), at: now }).collect();
        for event in &due {
            self.apply(event);
        }
        due
    }

    /// Hands up to `wanted` free units to another shard.
    pub fn give(&mut self, wanted: u32) -> (u32, Vec<DealEvent>) {
        let units = wanted.min(self.stock);
        if units == 0 {
            return (0, Vec::new());
        }
        let event = DealEvent::Gave { units };
        self.apply(&event);
        (units, vec![event])
    }

    /// Receives units given by another shard.
    pub fn take(&mut self, units: u32) -> Vec<DealEvent> {
        if units == 0 {
            return Vec::new();
        }
        let event = DealEvent::Took { units };
        self.apply(&event);
        vec![event]
    }

    /// Replays one event (trusted).
    pub fn apply(&mut self, event: &DealEvent) {
        match event {
            DealEvent::Claimed { id, claim } => {
                self.stock = self.stock.saturating_sub(claim.quantity);
                *self.tally.entry(claim.party.customer.clone()).or_default() += claim.quantity;
                self.claims.open(id.clone(), claim.clone());
            }
            DealEvent::Committed { id, at, order } => {
                if let Some(claim) = self.claims.settle(id, HoldStatus::Committed, *at) {
                    claim.party.order.clone_from(order);
                    self.sold = self.sold.saturating_add(claim.quantity);
                }
            }
            DealEvent::Returned { id, at } => {
                if let Some(claim) = self.claims.unsell(id, *at) {
                    let (quantity, customer) = (claim.quantity, claim.party.customer.clone());
                    self.sold = self.sold.saturating_sub(quantity);
                    self.free(&customer, quantity);
                }
            }
            DealEvent::Released { id, at } => self.lapse(id, HoldStatus::Released, *at),
            DealEvent::Expired { id, at } => self.lapse(id, HoldStatus::Expired, *at),
            DealEvent::Gave { units } => self.stock = self.stock.saturating_sub(*units),
            DealEvent::Took { units } => self.stock = self.stock.saturating_add(*units),
        }
    }

    /// A held claim ends unsold (released or expired): its units are free.
    fn lapse(&mut self, id: &ReservationId, status: HoldStatus, at: Timestamp) {
        if let Some(claim) = self.claims.settle(id, status, at) {
            let (quantity, customer) = (claim.quantity, claim.party.customer.clone());
            self.free(&customer, quantity);
        }
    }

    /// Units of `customer`'s go back to the shard's stock and off their tally.
    fn free(&mut self, customer: &CustomerId, quantity: u32) {
        self.stock = self.stock.saturating_add(quantity);
        if let Some(tally) = self.tally.get_mut(customer) {
            *tally = tally.saturating_sub(quantity);
            if *tally == 0 {
                self.tally.remove(customer);
            }
        }
    }

    /// Checks the shard's own invariants (see the module docs); the
    /// conservation of units needs every shard: [`check_units_conserved`].
    pub fn check_invariants(&self, limit: u32, now: Option<Timestamp>) -> Result<(), InvariantViolation> {
        let violation = |name, detail: String| Err(InvariantViolation { name, detail });
        self.claims.check_invariants(&format!("shard {}", self.index), now)?;
        let claims = || self.claims.iter().map(|(_, claim)| claim);
        let sold: u32 = claims().filter(|c| c.status == HoldStatus::Committed).map(|c| c.quantity).sum();
        if sold != self.sold {
            return violation("shard.sold_matches_claims", format!("shard {}: sold {}/{sold}", self.index, self.sold));
        }
        let mut tally: HashMap<&CustomerId, u32> = HashMap::new();
        for claim in claims().filter(|c| matches!(c.status, HoldStatus::Held | HoldStatus::Committed)) {
            *tally.entry(&claim.party.customer).or_default() += claim.quantity;
        }
        let same = tally.len() == self.tally.len()
            && tally.iter().all(|(customer, units)| self.tally.get(*customer) == Some(units));
        if !same || tally.values().any(|units| *units > limit) {
            return violation("shard.tally_matches_claims", format!("shard {}: tallies {:?}", self.index, self.tally));
        }
        Ok(())
    }
}

/// `deal.units_conserved`: across all shards, stock + held + sold == quantity.
pub fn check_units_conserved(quantity: u32, shards: &[DealShard]) -> Result<(), InvariantViolation> {
    let total: u64 =
        shards.iter().map(|shard| u64::from(shard.stock) + shard.claims.held() + u64::from(shard.sold)).sum();
    if total != u64::from(quantity) {
        return Err(InvariantViolation {
            name: "deal.units_conserved",
            detail: format!("shards account for {total} units of {quantity}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
