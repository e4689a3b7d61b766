//! The deal shard actor: one per (deal, shard), holding a [`DealShard`].
//!
//! Writes are per change: a claim writes its record; a stock move writes the
//! shard's moved counter. A shard's free stock is derived on load:
//! `initial + moved - held - sold`. Claims expire by timer and on access,
//! like bucket holds; a shard with live claims never passivates.

use crate::actors::expiry::{Expiring, ExpiryTimer};
use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Failure, Reply};

/// A deal shard's environment: the deal book it keeps current.
pub type Env = crate::actors::Env<Arc<DealBook>>;
use crate::domains::inventory::{Holder, ReservationIndex};
use crate::engine::deal::{Claim, DealError, DealEvent, DealShard, DealTerms, ShardCounts};
use crate::engine::{Claimant, CustomerId, DealId, HoldStatus, OrderId, ReservationId, Timestamp};
use crate::store::{keys, Batch, Keyspace, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A deal as stored: its terms and how many shards split its stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRecord {
    pub terms: DealTerms,
    pub shards: u32,
    pub created_at: Timestamp,
}

/// The terms a deal record of the first layout cannot hold (`O`), written
/// with the record when a deal sets one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealOptions {
    pub claim_ttl_ms: Option<u64>,
}

/// Every deal, its lock-free sold-out flag, and where each claim lives.
#[derive(Debug, Default)]
pub struct DealBook {
    pub deals: DashMap<DealId, Arc<DealRecord>, foldhash::fast::RandomState>,
    pub sold_out: DashMap<DealId, Arc<AtomicBool>, foldhash::fast::RandomState>,
    /// Every reservation's holder and owner (the inventory domain's index,
    /// shared): a claim is placed there with its shard and customer.
    pub reservations: Arc<ReservationIndex>,
    /// Customer -> the claims they may still hold (checkout uses them);
    /// settled ones are dropped when next looked at.
    pub held_by: DashMap<CustomerId, Vec<ReservationId>, foldhash::fast::RandomState>,
    pub waitlists: DashMap<DealId, crate::engine::waitlist::Waitlist, foldhash::fast::RandomState>,
    /// The claim offered to a waitlisted customer.
    pub offers: DashMap<(DealId, CustomerId), ReservationId, foldhash::fast::RandomState>,
    /// Deals that ended and gave back every unsold unit.
    pub closed: DashMap<DealId, (), foldhash::fast::RandomState>,
    /// Deals whose units came back while customers wait (served in order).
    pub returns: parking_lot::Mutex<Option<tokio::sync::mpsc::UnboundedSender<DealId>>>,
}

impl DealBook {
    /// Knows claim `id` of `customer`, kept by `shard`, from now on;
    /// `held`: the customer may still use it.
    pub fn remember_claim(&self, id: ReservationId, shard: DealShardKey, customer: &CustomerId, held: bool) {
        let placed = self.reservations.place(id.clone(), Holder::Deal(shard), Some(customer.clone()), held);
        // Known once: a claim already placed is already in the list.
        if held && placed == crate::domains::inventory::Placed::New {
            self.held_by.entry(customer.clone()).or_default().push(id);
        }
    }

    pub fn flag(&self, deal: &DealId) -> Arc<AtomicBool> {
        self.sold_out.entry(deal.clone()).or_default().clone()
    }

    /// Units of `deal` came back: clear the sold-out flag, unless customers
    /// wait, who are then offered the units first (the flag stays up so the
    /// deal is active again only for them).
    pub fn units_returned(&self, deal: &DealId) {
        let waiting = self.waitlists.get(deal).is_some_and(|list| !list.is_empty());
        if !waiting {
            self.flag(deal).store(false, Ordering::Release);
            return;
        }
        if let Some(sender) = self.returns.lock().as_ref() {
            let _ = sender.send(deal.clone());
        }
    }
}

/// One shard of one deal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DealShardKey {
    pub deal: DealId,
    pub shard: u32,
}

impl fmt::Display for DealShardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.deal, self.shard)
    }
}

/// An operation on a shard.
#[derive(Debug, Clone)]
pub enum ShardCommand {
    Claim {
        id: ReservationId,
        customer: CustomerId,
        quantity: u32,
        ttl_ms: u64,
    },
    /// Commit for `order` (`None`: the raw reservation commit).
    Commit {
        id: ReservationId,
        order: Option<crate::engine::OrderId>,
    },
    /// The units of a claim committed for `order` come back (its order was
    /// cancelled or its saga compensated). After the deal's end they go
    /// straight on to the SKU's stock, recorded as a [`DealReturn`].
    ReturnCommitted {
        id: ReservationId,
        order: Option<crate::engine::OrderId>,
    },
    Release {
        id: ReservationId,
    },
    Read {
        id: ReservationId,
    },
    /// Hand up to `wanted` free units to shard `to`, recorded as a
    /// transfer (in the same write) until `to` takes them.
    Give {
        wanted: u32,
        to: u32,
    },
    /// Receive the units of a transfer (the key [`ShardAnswer::transfer`]
    /// gave), once: a transfer already taken, or folded in when this shard
    /// was loaded, adds nothing.
    Take {
        transfer: Vec<u8>,
        units: u32,
    },
    /// After the deal's end: every free unit leaves the deal, recorded as a
    /// [`DealReturn`] (in the same write) until the SKU's stock takes it.
    ReturnUnsold,
    Counts,
}

/// Unsold units on their way back to the SKU's stock: written by the shard
/// that gave them up, deleted by the bucket that takes them, in the same
/// write as its restock, so the units come back exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealReturn {
    pub sku: crate::engine::Sku,
    pub units: u32,
}

/// What a shard answers: the claim concerned, units given, and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardAnswer {
    pub claim: Option<Claim>,
    pub given: u32,
    pub counts: ShardCounts,
    /// `ReturnUnsold`: the store key of the [`DealReturn`] written, if any.
    pub returned: Option<Vec<u8>>,
    /// `Give`: the store key of the transfer written, if units were given.
    pub transfer: Option<Vec<u8>>,
    /// `Claim`: the claim existed already (a retry with its id).
    pub replayed: bool,
}

#[derive(Debug, Clone, Message)]
#[rtype(result = "Reply<ShardAnswer, DealError>")]
pub struct ShardMessage(pub ShardCommand);

pub struct DealShardActor {
    activation: Activation<DealShardActor>,
    env: Env,
    state: Result<(DealShard, Arc<DealRecord>, i64), StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
    expiry_timer: ExpiryTimer,
}

impl Actor for DealShardActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let config = self.env.config.clone();
        crate::actors::expiry::start(self, ctx, &config);
    }
}

impl Activate for DealShardActor {
    type Key = DealShardKey;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = load(&env, activation.key());
        if let Err(err) = &state {
            tracing::error!(shard = %activation.key(), error = %err, "cannot load deal shard");
        }
        DealShardActor {
            activation,
            env,
            state,
            last_ticket: Ticket::NONE,
            last_active: Instant::now(),
            expiry_timer: ExpiryTimer::default(),
        }
    }
}

/// Rebuilds a shard: its claims, its moved counter, and its free stock.
pub fn load(env: &Env, key: &DealShardKey) -> Result<(DealShard, Arc<DealRecord>, i64), StoreError> {
    let corrupt = |reason: String| StoreError::Decode { key: key.to_string(), reason };
    let record = env.shared.deals.get(&key.deal).map(|entry| entry.value().clone());
    let record = record.ok_or_else(|| corrupt("no such deal".to_owned()))?;
    let mut moved: i64 = env.store.get(&keys::deal_moved(&key.deal, key.shard))?.unwrap_or(0);
    // Transfers to this shard that a crash (or a passivation) left untaken
    // are taken now, in one write with the new counter.
    let transfers = env.store.scan_prefix::<u32>(&keys::deal_transfers_to(&key.deal, key.shard))?;
    if !transfers.is_empty() {
        let mut batch = Batch::new();
        for (raw, units) in transfers {
            moved += i64::from(units);
            batch.delete(raw);
        }
        batch.put(keys::deal_moved(&key.deal, key.shard), &moved)?;
        env.store.write(batch)?;
    }
    let mut claims = Vec::new();
    // Claims stored by older builds (keyed without the time placed) move to
    // the current layout, all in one write.
    let mut relayout = Batch::new();
    for (raw, claim) in scan_claims(&env.store, &keys::claims_of(&key.deal, key.shard))? {
        let Some((_, _, id)) = keys::parse_claim(&raw) else { continue };
        let current = keys::claim(&key.deal, key.shard, claim.created_at, &id);
        if current != raw {
            relayout.put(current, &StoredClaim::from(&claim))?;
            relayout.delete(raw);
        }
        claims.push((id, claim));
    }
    if !relayout.is_empty() {
        env.store.write(relayout)?;
    }
    let allocated: i64 = claims
        .iter()
        .filter(|(_, claim)| matches!(claim.status, HoldStatus::Held | HoldStatus::Committed))
        .map(|(_, claim)| i64::from(claim.quantity))
        .sum();
    let initial = i64::from(record.terms.initial_stock(key.shard, record.shards));
    let stock = u32::try_from(initial + moved - allocated)
        .map_err(|_| corrupt(format!("negative stock {initial}+{moved}-{allocated}")))?;
    Ok((DealShard::restore(key.shard, stock, claims), record, moved))
}

impl DealShardActor {
    fn execute(&mut self, command: ShardCommand, ctx: &mut Context<Self>) -> Reply<ShardAnswer, DealError> {
        self.last_active = Instant::now();
        let now = self.env.source.now();
        self.expire_now(now, ctx);
        let ticket = self.last_ticket;
        let (shard, record, _) = match &mut self.state {
            Ok(state) => state,
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err.clone())), ticket };
            }
        };
        // The deal's terms as they are now (an admin may have ended it).
        if let Some(current) = self.env.shared.deals.get(&self.activation.key().deal) {
            if !Arc::ptr_eq(current.value(), record) {
                *record = current.value().clone();
            }
        }
        let limit = record.terms.per_customer_limit;
        let ended = record.terms.phase(now) == crate::engine::deal::DealPhase::Ended;
        let sku = record.terms.sku.clone();
        // Whether the units given leave the deal for the SKU's stock.
        let mut leaving = false;
        let claiming = matches!(command, ShardCommand::Claim { .. });
        // Records written in the same write as the shard's change.
        let mut extra = Batch::new();
        let mut transfer = None;
        let outcome: Result<(Option<Claim>, u32, Vec<DealEvent>), DealError> = match command {
            ShardCommand::Claim { id, customer, quantity, ttl_ms } => shard
                .place_claim(id, customer, quantity, limit, ttl_ms, now)
                .map(|(claim, events)| (Some(claim), 0, events)),
            ShardCommand::Commit { id, order } => {
                shard.commit(&id, order.as_ref(), now).map(|(claim, events)| (Some(claim), 0, events))
            }
            ShardCommand::Release { id } => shard.release(&id, now).map(|(claim, events)| (Some(claim), 0, events)),
            ShardCommand::Read { id } => shard
                .claim(&id)
                .cloned()
                .map(|claim| (Some(claim), 0, Vec::new()))
                .ok_or(DealError::ClaimNotFound { id }),
            ShardCommand::Give { wanted, to } => {
                let (given, events) = shard.give(wanted);
                if given > 0 {
                    let key = keys::deal_transfer(&self.activation.key().deal, to, self.env.source.u128());
                    if self.env.store.keeps_records() {
                        if let Err(err) = extra.put(key.clone(), &given) {
                            return Reply { result: Err(Failure::Store(err)), ticket };
                        }
                    }
                    transfer = Some(key);
                }
                Ok((None, given, events))
            }
            ShardCommand::Take { transfer, units } => {
                // The record says whether the units are still to be taken
                // (without records nothing outlives the process: the
                // message is the transfer).
                let units = if self.env.store.keeps_records() {
                    match self.env.store.get::<u32>(&transfer) {
                        Ok(pending) => pending.unwrap_or(0),
                        Err(err) => return Reply { result: Err(Failure::Store(err)), ticket },
                    }
                } else {
                    units
                };
                if units > 0 {
                    extra.delete(transfer);
                }
                Ok((None, 0, shard.take(units)))
            }
            ShardCommand::ReturnCommitted { id, order } => {
                shard.return_committed(&id, order.as_ref(), now).map(|(claim, mut events)| {
                    // After the end, the units do not stay with the deal.
                    if !ended || events.is_empty() {
                        return (Some(claim), 0, events);
                    }
                    let (given, gave) = shard.give(u32::MAX);
                    events.extend(gave);
                    leaving = true;
                    (Some(claim), given, events)
                })
            }
            ShardCommand::ReturnUnsold if !ended => Err(DealError::NotActive),
            ShardCommand::ReturnUnsold => {
                let (given, events) = shard.give(u32::MAX);
                leaving = true;
                Ok((None, given, events))
            }
            ShardCommand::Counts => Ok((None, 0, Vec::new())),
        };
        let (claim, given, events) = match outcome {
            Ok(done) => done,
            Err(rejection) => return Reply { result: Err(Failure::Rejected(rejection)), ticket },
        };
        let returned = match leaving.then(|| record_return(&self.env, self.activation.key(), &mut extra, sku, given)) {
            Some(Err(err)) => return Reply { result: Err(Failure::Store(err)), ticket },
            Some(Ok(key)) => key,
            None => None,
        };
        if let Err(err) = self.persist(&events, extra) {
            ctx.stop();
            return Reply { result: Err(Failure::Store(err)), ticket };
        }
        crate::actors::expiry::arm(self, ctx);
        let counts = self.state.as_ref().map(|(shard, _, _)| shard.counts()).unwrap_or_default();
        let replayed = claiming && events.is_empty();
        let answer = ShardAnswer { claim, given, counts, returned, transfer, replayed };
        Reply { result: Ok(answer), ticket: self.last_ticket }
    }

    /// Writes what `events` changed, plus `batch` (records that must land in
    /// the same write).
    fn persist(&mut self, events: &[DealEvent], mut batch: Batch) -> Result<(), StoreError> {
        let key = self.activation.key().clone();
        let Ok((shard, _, moved)) = &mut self.state else { return Ok(()) };
        if events.is_empty() {
            return Ok(());
        }
        let records = self.env.store.keeps_records();
        let mut units_back = false;
        for event in events {
            match event {
                DealEvent::Claimed { id, claim } => {
                    self.env.shared.remember_claim(id.clone(), key.clone(), claim.customer(), true);
                    put_claim(&mut batch, records, &key, shard, id)?;
                }
                DealEvent::Committed { id, .. } => put_claim(&mut batch, records, &key, shard, id)?,
                DealEvent::Released { id, .. } | DealEvent::Expired { id, .. } | DealEvent::Returned { id, .. } => {
                    units_back = true;
                    put_claim(&mut batch, records, &key, shard, id)?;
                }
                DealEvent::Gave { units } => *moved -= i64::from(*units),
                DealEvent::Took { units } => *moved += i64::from(*units),
            }
        }
        if records && events.iter().any(|event| matches!(event, DealEvent::Gave { .. } | DealEvent::Took { .. })) {
            batch.put(keys::deal_moved(&key.deal, key.shard), moved)?;
        }
        if !batch.is_empty() {
            self.last_ticket = self.env.store.write(batch)?;
        }
        if units_back && shard.counts().stock > 0 {
            self.env.shared.units_returned(&key.deal);
        }
        Ok(())
    }

    fn expire_now(&mut self, now: Timestamp, ctx: &mut Context<Self>) {
        let Ok((shard, _, _)) = &mut self.state else { return };
        if shard.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        let events = shard.expire(now);
        if let Err(err) = self.persist(&events, Batch::new()) {
            tracing::error!(error = %err, "cannot persist expired claims; restarting shard");
            ctx.stop();
        }
    }
}

/// Records `units` a shard gave up for the SKU's stock (a [`DealReturn`] in
/// `batch`); the record's key, for the bucket that takes them.
fn record_return(
    env: &Env,
    key: &DealShardKey,
    batch: &mut Batch,
    sku: crate::engine::Sku,
    units: u32,
) -> Result<Option<Vec<u8>>, StoreError> {
    if units == 0 {
        return Ok(None);
    }
    let record_key = keys::deal_return(&key.deal, key.shard, env.source.u128());
    if env.store.keeps_records() {
        batch.put(record_key.clone(), &DealReturn { sku, units })?;
    }
    Ok(Some(record_key))
}

/// A claim as stored (`c` records): the layout claims had before they were
/// holds of the ledger, customer first and order last, kept so that
/// existing data directories read as they are. Written from borrowed
/// parts (`StoredClaim<&CustomerId, &Option<OrderId>>`), read owned.
#[derive(Serialize, Deserialize)]
pub struct StoredClaim<C, O> {
    customer: C,
    quantity: u32,
    ttl_ms: u64,
    created_at: Timestamp,
    expires_at: Timestamp,
    status: HoldStatus,
    settled_at: Option<Timestamp>,
    order: O,
}

impl<'a> From<&'a Claim> for StoredClaim<&'a CustomerId, &'a Option<OrderId>> {
    fn from(claim: &'a Claim) -> Self {
        StoredClaim {
            customer: &claim.party.customer,
            quantity: claim.quantity,
            ttl_ms: claim.ttl_ms,
            created_at: claim.created_at,
            expires_at: claim.expires_at,
            status: claim.status,
            settled_at: claim.settled_at,
            order: &claim.party.order,
        }
    }
}

impl From<StoredClaim<CustomerId, Option<OrderId>>> for Claim {
    fn from(stored: StoredClaim<CustomerId, Option<OrderId>>) -> Self {
        Claim {
            quantity: stored.quantity,
            ttl_ms: stored.ttl_ms,
            created_at: stored.created_at,
            expires_at: stored.expires_at,
            status: stored.status,
            settled_at: stored.settled_at,
            party: Claimant { customer: stored.customer, order: stored.order },
        }
    }
}

/// Every claim stored under `prefix`, with its key.
pub(crate) fn scan_claims(store: &Keyspace, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Claim)>, StoreError> {
    let stored = store.scan_prefix::<StoredClaim<CustomerId, Option<OrderId>>>(prefix)?;
    Ok(stored.into_iter().map(|(key, claim)| (key, Claim::from(claim))).collect())
}

fn put_claim(
    batch: &mut Batch,
    records: bool,
    key: &DealShardKey,
    shard: &DealShard,
    id: &ReservationId,
) -> Result<(), StoreError> {
    if let (true, Some(claim)) = (records, shard.claim(id)) {
        batch.put(keys::claim(&key.deal, key.shard, claim.created_at, id), &StoredClaim::from(claim))?;
    }
    Ok(())
}

impl Handler<ShardMessage> for DealShardActor {
    type Result = MessageResult<ShardMessage>;
    fn handle(&mut self, msg: ShardMessage, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.execute(msg.0, ctx))
    }
}

impl Handler<Crash> for DealShardActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Expiring for DealShardActor {
    fn expiry_timer(&mut self) -> &mut ExpiryTimer {
        &mut self.expiry_timer
    }

    fn next_expiry(&self) -> Option<Timestamp> {
        self.state.as_ref().ok().and_then(|(shard, _, _)| shard.next_expiry())
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
        let held = self.state.as_ref().map_or(0, |(shard, _, _)| shard.counts().held);
        let idle = self.env.config.passivate_after.is_some_and(|after| self.last_active.elapsed() >= after);
        if idle && held == 0 {
            self.activation.passivate(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim as the engine defined it before claims were ledger holds.
    #[derive(Serialize)]
    struct ClaimBeforeTheLedger {
        customer: CustomerId,
        quantity: u32,
        ttl_ms: u64,
        created_at: Timestamp,
        expires_at: Timestamp,
        status: HoldStatus,
        settled_at: Option<Timestamp>,
        order: Option<OrderId>,
    }

    #[test]
    fn a_claim_is_stored_as_before_and_reads_back() {
        let customer = CustomerId::parse("cus_alice").unwrap();
        let order = Some(OrderId::parse("ord_1").unwrap());
        let mut claim = Claim::new(2, 60_000, Timestamp::from_millis(5), Claimant { customer, order });
        claim.status = HoldStatus::Committed;
        claim.settled_at = Some(Timestamp::from_millis(9));
        let before = ClaimBeforeTheLedger {
            customer: claim.party.customer.clone(),
            quantity: 2,
            ttl_ms: 60_000,
            created_at: Timestamp::from_millis(5),
            expires_at: Timestamp::from_millis(60_005),
            status: HoldStatus::Committed,
            settled_at: Some(Timestamp::from_millis(9)),
            order: claim.party.order.clone(),
        };
        let bytes = crate::store::codec::encode(&StoredClaim::from(&claim)).unwrap();
        assert_eq!(bytes, crate::store::codec::encode(&before).unwrap());
        let stored: StoredClaim<CustomerId, Option<OrderId>> = crate::store::codec::decode(b"c", &bytes).unwrap();
        assert_eq!(Claim::from(stored), claim);
    }
}
