//! Flash deals: deals and their shards, claims, waitlists, where their
//! units are in the SKU's buckets ([`stakes`]), and the unsold units that go
//! back to the SKU's stock at the end. Owns the keys `d`, `q`, `g`, `l`,
//! `f`, `r`, `z`, `D`, `Q` and `P`.
//!
//! A claim goes to the customer's shard (`shard_of`), so the per-customer
//! limit is checked in one actor. A shard that runs dry takes units from the
//! others, then the claim is retried once; only when no shard has a free
//! unit is the deal flagged sold out, and that flag then answers further
//! claims without touching an actor until units come back.

pub mod shard;
pub mod stakes;
mod waitlist;

pub use waitlist::WaitlistSpot;

use crate::actors::{ActorSetup, Registry};
use crate::domains::inventory::Holder;
use crate::engine::deal::{shard_of, Claim, DealError, DealStatus, DealTerms};
use crate::engine::{CustomerId, DealId, HeldClaim, HoldStatus, OrderId, ReservationId, Timestamp, WarehouseId};
use crate::store::{keys, Batch, Keyspace};
use crate::{Error, Mercato};
use shard::{DealBook, DealRecord, DealReturn, DealShardActor, DealShardKey, ShardAnswer, ShardCommand, ShardMessage};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What the deals domain keeps: the deal book (every deal, its sold-out
/// flag, claims, waitlists) and the shard actors.
pub(crate) struct State {
    store: Keyspace,
    book: Arc<DealBook>,
    shards: Registry<DealShardActor>,
    /// Shards found with live claims at open (their expiry timers must run).
    live: parking_lot::Mutex<Vec<DealShardKey>>,
    /// Where the deals' units are in their buckets.
    ledger: stakes::Ledger,
}

impl State {
    /// Opens the deals; their claims join `reservations`, the inventory
    /// domain's index of every reservation; `stakes` are the units deals
    /// hold per bucket, as the inventory domain found them.
    pub(crate) fn open(
        store: Keyspace,
        actors: &ActorSetup,
        reservations: Arc<crate::domains::inventory::ReservationIndex>,
        stakes: Vec<(crate::engine::BucketKey, DealId, u64)>,
    ) -> Result<State, Error> {
        let book = Arc::new(DealBook { reservations, ..DealBook::default() });
        let (live, claims) = recover(&store, &book)?;
        let ledger = stakes::open_ledger(&store, stakes::Found { deals: &book.deals, claims: &claims, stakes })?;
        Ok(State {
            shards: actors.registry("deal_shard", store.clone(), book.clone()),
            store,
            book,
            live: parking_lot::Mutex::new(live),
            ledger,
        })
    }
}

/// Flash deals, reached as `mercato.deals()`.
#[derive(Clone, Copy)]
pub struct Deals<'a> {
    m: &'a Mercato,
    s: &'a State,
}

/// A deal with its live counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealView {
    pub record: Arc<DealRecord>,
    pub remaining: u64,
    pub held: u64,
    pub sold: u64,
    /// Unsold units given back to the SKU's stock after the end.
    pub returned: u64,
    pub status: DealStatus,
    /// How long its claims hold their units (its own, or the default).
    pub claim_ttl_ms: u64,
}

/// A granted claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: ReservationId,
    pub claim: Claim,
    pub terms: DealTerms,
    /// The claim existed already: a retry with its id got it back.
    pub replayed: bool,
}

impl Claimed {
    /// The shard's answer to a `Claim` command for claim `id`.
    fn from_answer(id: ReservationId, answer: ShardAnswer, terms: &DealTerms) -> Result<Claimed, Error> {
        let claim = answer.claim.ok_or_else(|| Error::InvalidInput("the shard returned no claim".to_owned()))?;
        Ok(Claimed { id, claim, terms: terms.clone(), replayed: answer.replayed })
    }
}

/// Every claim found at open: its deal, id, status and quantity.
type FoundClaims = Vec<(DealId, ReservationId, HoldStatus, u32)>;

/// Loads every deal record and locates every claim; returns the shards with
/// live claims (to activate, so their expiry timers run) and the claims.
fn recover(store: &Keyspace, book: &DealBook) -> Result<(Vec<DealShardKey>, FoundClaims), Error> {
    let mut options: std::collections::HashMap<DealId, shard::DealOptions> = std::collections::HashMap::new();
    for (raw, found) in store.scan_prefix::<shard::DealOptions>(&[keys::DEAL_OPTIONS])? {
        if let Some(deal) = keys::parse_deal_options(&raw) {
            options.insert(deal, found);
        }
    }
    for (_, mut record) in store.scan_prefix::<DealRecord>(&[keys::DEAL])? {
        if let Some(options) = options.get(&record.terms.id) {
            record.terms.claim_ttl_ms = options.claim_ttl_ms;
        }
        book.deals.insert(record.terms.id.clone(), Arc::new(record));
    }
    let mut entries: std::collections::HashMap<DealId, Vec<(u64, CustomerId)>> = std::collections::HashMap::new();
    for (raw, customer) in store.scan_prefix::<CustomerId>(&[keys::WAITLIST])? {
        if let Some((deal, ticket)) = keys::parse_waitlist_entry(&raw) {
            entries.entry(deal).or_default().push((ticket, customer));
        }
    }
    for (deal, entries) in entries {
        book.flag(&deal).store(true, Ordering::Release);
        book.waitlists.insert(deal, crate::engine::waitlist::Waitlist::restore(entries));
    }
    for (raw, _) in store.scan_prefix::<crate::engine::Timestamp>(&[keys::DEAL_CLOSED])? {
        if let Some(deal) = keys::parse_deal_closed(&raw) {
            book.closed.insert(deal, ());
        }
    }
    for (raw, claim) in store.scan_prefix::<ReservationId>(&[keys::WAITLIST_OFFER])? {
        if let Some(key) = keys::parse_waitlist_offer(&raw) {
            book.offers.insert(key, claim);
        }
    }
    let mut live = Vec::new();
    let mut claims = Vec::new();
    for (raw, claim) in shard::scan_claims(store, &[keys::CLAIM])? {
        let Some((deal, shard, id)) = keys::parse_claim(&raw) else { continue };
        claims.push((deal.clone(), id.clone(), claim.status, claim.quantity));
        let key = DealShardKey { deal, shard };
        if claim.status == HoldStatus::Held && !live.contains(&key) {
            live.push(key.clone());
        }
        let held = claim.status == HoldStatus::Held;
        book.remember_claim(id, key, claim.customer(), held);
    }
    Ok((live, claims))
}

impl<'a> Deals<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Deals { m, s }
    }

    /// Starts the shards that hold live claims, so their expiry timers run.
    pub(crate) fn activate_live(self) {
        for shard in std::mem::take(&mut *self.s.live.lock()) {
            self.s.shards.activate(&shard);
        }
    }

    /// Starts the deals' background work on the arbiters: the waitlist
    /// dispatcher (each deal whose units came back while customers wait is
    /// served in order), and the closer that gives unsold units of ended
    /// deals back to their SKUs (first the returns a crash interrupted, then
    /// every `deal_close_every`). Both hold a weak handle: they must not keep
    /// the engine alive.
    pub(crate) fn start_background(self) -> Result<(), Error> {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<DealId>();
        *self.s.book.returns.lock() = Some(sender);
        let weak = self.m.downgrade();
        self.m.arbiter(false)?.spawn(async move {
            while let Some(deal) = receiver.recv().await {
                let Some(mercato) = weak.upgrade() else { return };
                if let Err(err) = mercato.deals().serve_waitlist(&deal).await {
                    tracing::error!(deal = %deal, error = %err, "cannot serve the waitlist");
                }
            }
        });
        let weak = self.m.downgrade();
        let every = self.m.config().deal_close_every;
        self.m.arbiter(true)?.spawn(async move {
            let mut first = true;
            loop {
                {
                    let Some(mercato) = weak.upgrade() else { return };
                    let deals = mercato.deals();
                    if first {
                        match deals.finish_startup_work().await {
                            Ok(()) => first = false,
                            Err(err) => tracing::error!(error = %err, "cannot finish the deals' interrupted work"),
                        }
                    }
                    // Changes a crash or a failure left pending (none, mostly).
                    if let Err(err) = deals.finish_stake_ops().await {
                        tracing::error!(error = %err, "cannot finish pending changes of deal units");
                    }
                    if let Err(err) = deals.finish_returns().await {
                        tracing::error!(error = %err, "cannot finish unsold-unit returns");
                    }
                    if let Err(err) = deals.close_ended_deals().await {
                        if !matches!(err, Error::ShuttingDown) {
                            tracing::error!(error = %err, "cannot close ended deals");
                        }
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
        Ok(())
    }

    /// Creates a deal: its quantity is taken from the SKU's available stock
    /// (409 `insufficient-stock` if there is not enough) and held for the
    /// deal in the buckets it came from (their `deal_held`; `on_hand` does
    /// not move), written with the deal as its sources (`D`).
    pub async fn create(self, terms: DealTerms) -> Result<Arc<DealRecord>, Error> {
        terms.validate()?;
        self.m.catalog().require_sku(&terms.sku)?;
        if self.s.book.deals.contains_key(&terms.id) {
            return Err(Error::InvalidInput(format!("deal {} exists", terms.id)));
        }
        let taken = self.hold_stock(&terms.id, &terms.sku, u64::from(terms.quantity)).await?;
        let (id, sku) = (terms.id.clone(), terms.sku.clone());
        let (record, ticket) = match self.write_new_deal(terms, &taken) {
            Ok(done) => done,
            Err(err) => {
                // Not written: the units go back (or, after a crash, at the next open).
                self.give_back_taken(&id, &sku, &taken).await;
                return Err(err);
            }
        };
        self.s.store.durable(ticket).await?;
        Ok(record)
    }

    /// Writes a new deal with its sources and makes it known.
    fn write_new_deal(
        self,
        terms: DealTerms,
        taken: &[(WarehouseId, u64)],
    ) -> Result<(Arc<DealRecord>, crate::store::Ticket), Error> {
        let _pass = self.m.enter()?;
        let per_arbiter = u32::try_from(self.m.config().arbiters).unwrap_or(1);
        let shards = self.m.config().deal_shards.unwrap_or(per_arbiter).clamp(1, 256);
        let record = DealRecord { terms, shards, created_at: self.m.now() };
        let id = record.terms.id.clone();
        let mut batch = Batch::new_put(keys::deal(&id), &record)?;
        batch.put(keys::deal_sources(&id), &stakes::DealSources { taken: taken.to_vec() })?;
        if record.terms.claim_ttl_ms.is_some() {
            batch.put(keys::deal_options(&id), &shard::DealOptions { claim_ttl_ms: record.terms.claim_ttl_ms })?;
        }
        let ticket = self.s.store.write(batch)?;
        let held: std::collections::BTreeMap<WarehouseId, u64> = taken.iter().cloned().collect();
        self.s.ledger.stakes.insert(id.clone(), Arc::new(parking_lot::Mutex::new(held)));
        let record = Arc::new(record);
        self.s.book.deals.insert(id, record.clone());
        Ok((record, ticket))
    }

    /// How long the deal's claims hold their units: its own, or the default.
    fn claim_ttl_ms(self, record: &DealRecord) -> u64 {
        record.terms.claim_ttl_ms.unwrap_or(self.m.config().deal_claim_ttl_ms)
    }

    pub(crate) fn deal_record(self, id: &DealId) -> Result<Arc<DealRecord>, Error> {
        self.s.book.deals.get(id).map(|entry| entry.value().clone()).ok_or_else(|| Error::DealNotFound(id.clone()))
    }

    /// The deal with its live counts (one message per shard).
    pub async fn get(self, id: &DealId) -> Result<DealView, Error> {
        let record = self.deal_record(id)?;
        let (mut remaining, mut held, mut sold) = (0, 0, 0);
        for shard in 0..record.shards {
            let answer = self.shard(id, shard, ShardCommand::Counts).await?;
            remaining += u64::from(answer.counts.stock);
            held += u64::from(answer.counts.held);
            sold += u64::from(answer.counts.sold);
        }
        let status = record.terms.status(self.m.now(), remaining);
        let returned = u64::from(record.terms.quantity).saturating_sub(remaining + held + sold);
        let claim_ttl_ms = self.claim_ttl_ms(&record);
        Ok(DealView { record, remaining, held, sold, returned, status, claim_ttl_ms })
    }

    /// Ends a deal now (admin): its end time becomes now (its start too, if
    /// it had not started), written durably, then its unclaimed units go
    /// back to the SKU's stock at once ([`Deals::close`]). Claims already
    /// held stay valid until bought or expired; their units come back then.
    /// Idempotent: an ended deal is left as it is. The deal's new view.
    pub async fn end(self, deal: &DealId) -> Result<DealView, Error> {
        let record = self.deal_record(deal)?;
        let now = self.m.now();
        if record.terms.phase(now) != crate::engine::deal::DealPhase::Ended {
            let mut ended = (*record).clone();
            ended.terms.ends_at = now;
            ended.terms.starts_at = ended.terms.starts_at.min(now);
            let _pass = self.m.enter()?;
            let ticket = self.s.store.write(Batch::new_put(keys::deal(deal), &ended)?)?;
            self.s.book.deals.insert(deal.clone(), Arc::new(ended));
            self.s.store.durable(ticket).await?;
        }
        self.close(deal).await?;
        self.get(deal).await
    }

    /// Deals whose status is one of `statuses`, soonest ending first (ties
    /// by id), after `after` (the last of the previous page: its end and
    /// id); at most `limit`, and the cursor of the next page. The work per
    /// call is bounded: the statuses that depend on the units left (active,
    /// sold out, ended) cost one message per shard, and at most
    /// `limit + LIST_LOOKS` such deals are looked at; a page may then hold
    /// fewer than `limit` deals and still have a next one.
    pub async fn list(
        self,
        statuses: &[DealStatus],
        limit: usize,
        after: Option<&(Timestamp, DealId)>,
    ) -> Result<(Vec<DealView>, Option<(Timestamp, DealId)>), Error> {
        const LIST_LOOKS: usize = 50;
        let now = self.m.now();
        let mut deals: Vec<Arc<DealRecord>> = self
            .s
            .book
            .deals
            .iter()
            .filter(|entry| after.is_none_or(|after| (entry.value().terms.ends_at, entry.key()) > (after.0, &after.1)))
            .map(|entry| entry.value().clone())
            .collect();
        deals.sort_by(|a, b| (a.terms.ends_at, &a.terms.id).cmp(&(b.terms.ends_at, &b.terms.id)));
        let mut items = Vec::new();
        let mut looks = 0;
        // The last deal passed (listed or not): where the next page starts.
        let mut passed: Option<(Timestamp, DealId)> = None;
        for record in deals {
            if items.len() == limit || looks == limit + LIST_LOOKS {
                return Ok((items, passed));
            }
            passed = Some((record.terms.ends_at, record.terms.id.clone()));
            let by_time = record.terms.status(now, 1);
            let may_match = match by_time {
                DealStatus::Active => statuses.iter().any(|s| matches!(s, DealStatus::Active | DealStatus::SoldOut)),
                status => statuses.contains(&status),
            };
            if !may_match {
                continue;
            }
            looks += 1;
            let view = match self.get(&record.terms.id).await {
                Ok(view) => view,
                Err(Error::DealNotFound(_)) => continue,
                Err(other) => return Err(other),
            };
            if statuses.contains(&view.status) {
                items.push(view);
            }
        }
        Ok((items, None))
    }

    /// Claims deal units for a customer. Checks in the order of API.md:
    /// not active (or Prime-only for a non-member), limit, sold out.
    pub async fn claim(
        self,
        deal: &DealId,
        customer: &CustomerId,
        quantity: u32,
        prime: bool,
    ) -> Result<Claimed, Error> {
        self.claim_with_id(deal, customer, quantity, prime, None).await
    }

    /// Like [`Deals::claim`], under a given claim id (derived from an
    /// idempotency key, so that a retry names the same claim). A retry with
    /// the id of a claim of this deal gets that claim back (`replayed`),
    /// whatever the deal's state now; with another quantity or by another
    /// customer, `IdempotencyConflict`. No id: a new one is generated.
    pub async fn claim_with_id(
        self,
        deal: &DealId,
        customer: &CustomerId,
        quantity: u32,
        prime: bool,
        id: Option<ReservationId>,
    ) -> Result<Claimed, Error> {
        let record = self.deal_record(deal)?;
        let ttl_ms = self.claim_ttl_ms(&record);
        if let Some(id) = &id {
            match self.s.book.reservations.holder(id) {
                Some(Holder::Deal(shard)) if shard.deal == *deal => {
                    let command = ShardCommand::Claim { id: id.clone(), customer: customer.clone(), quantity, ttl_ms };
                    let answer = self.shard(deal, shard.shard, command).await?;
                    return Claimed::from_answer(id.clone(), answer, &record.terms);
                }
                Some(_) => return Err(DealError::IdempotencyConflict { id: id.clone() }.into()),
                None => {}
            }
        }
        let terms = &record.terms;
        terms.check_open(self.m.now(), prime)?;
        if quantity > terms.per_customer_limit {
            return Err(DealError::LimitExceeded { limit: terms.per_customer_limit, claimed: 0 }.into());
        }
        if self.s.book.flag(deal).load(Ordering::Acquire) {
            return Err(DealError::SoldOut.into());
        }
        self.claim_now(&record, customer, quantity, ttl_ms, id).await
    }

    /// Claims through the customer's shard, refilling it once from the
    /// others; sets the sold-out flag when no shard has a free unit.
    pub(crate) async fn claim_now(
        self,
        record: &DealRecord,
        customer: &CustomerId,
        quantity: u32,
        ttl_ms: u64,
        id: Option<ReservationId>,
    ) -> Result<Claimed, Error> {
        let deal = &record.terms.id;
        let terms = &record.terms;
        let flag = self.s.book.flag(deal);
        let shard = shard_of(customer, record.shards);
        let id = id.unwrap_or_else(|| ReservationId::generate(self.m.source().u128()));
        let command = ShardCommand::Claim { id: id.clone(), customer: customer.clone(), quantity, ttl_ms };
        let answer = match self.shard(deal, shard, command.clone()).await {
            Err(Error::Deal(DealError::SoldOut)) => {
                self.refill(record, shard, quantity).await?;
                match self.shard(deal, shard, command).await {
                    Err(Error::Deal(DealError::SoldOut)) => {
                        if self.get(deal).await.is_ok_and(|view| view.remaining == 0) {
                            flag.store(true, Ordering::Release);
                        }
                        return Err(DealError::SoldOut.into());
                    }
                    other => other?,
                }
            }
            other => other?,
        };
        Claimed::from_answer(id, answer, terms)
    }

    /// Moves free units from the other shards into `target` until it has
    /// `wanted` (or nobody has more).
    async fn refill(self, record: &DealRecord, target: u32, wanted: u32) -> Result<(), Error> {
        let deal = &record.terms.id;
        let mut have = self.shard(deal, target, ShardCommand::Counts).await?.counts.stock;
        for other in (0..record.shards).filter(|other| *other != target) {
            if have >= wanted {
                break;
            }
            let gave = self.shard(deal, other, ShardCommand::Give { wanted: wanted - have, to: target }).await?;
            if let Some(transfer) = gave.transfer {
                let take = ShardCommand::Take { transfer, units: gave.given };
                have = self.shard(deal, target, take).await?.counts.stock;
            }
        }
        Ok(())
    }

    /// A command on claim `id`, kept by `shard` (the reservation index says
    /// so), answered as a reservation: its "warehouse" is the deal's stock.
    pub(crate) async fn claim_as_reservation(
        self,
        shard: &DealShardKey,
        id: &ReservationId,
        command: ShardCommand,
    ) -> Result<crate::Reservation, Error> {
        let commit = matches!(command, ShardCommand::Commit { .. });
        let (claim, terms) = self.claim_at(shard, command).await?;
        if commit && claim.status == HoldStatus::Committed {
            self.sell(id, &terms.id, claim.quantity, None).await?;
        }
        Ok(crate::Reservation {
            id: id.clone(),
            sku: terms.sku,
            warehouse: crate::engine::WarehouseId::parse(&format!("deal.{}", terms.id))?,
            quantity: claim.quantity,
            status: claim.status,
            created_at: claim.created_at,
            expires_at: claim.expires_at,
        })
    }

    /// A command on a claim, if `id` is one: `None` for other reservations.
    pub(crate) async fn claim_command(
        self,
        id: &ReservationId,
        command: ShardCommand,
    ) -> Result<Option<(Claim, DealTerms)>, Error> {
        let Some(shard) = self.s.book.reservations.shard(id) else { return Ok(None) };
        self.claim_at(&shard, command).await.map(Some)
    }

    /// A command on a claim kept by `shard`: the claim after it, and its deal's terms.
    async fn claim_at(self, shard: &DealShardKey, command: ShardCommand) -> Result<(Claim, DealTerms), Error> {
        let record = self.deal_record(&shard.deal)?;
        let answer = self.shard(&shard.deal, shard.shard, command).await?;
        let claim = answer.claim.ok_or_else(|| Error::InvalidInput("the shard returned no claim".to_owned()))?;
        Ok((claim, record.terms.clone()))
    }

    /// The deal claims `customer` holds now (checkout buys them at the deal
    /// price); claims found settled are forgotten for the customer.
    pub async fn held_claims(self, customer: &CustomerId) -> Result<Vec<HeldClaim>, Error> {
        let ids = self.s.book.held_by.get(customer).map(|ids| ids.clone()).unwrap_or_default();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.m.now();
        let mut held = Vec::new();
        let mut settled = Vec::new();
        for id in ids {
            match self.claim_command(&id, ShardCommand::Read { id: id.clone() }).await? {
                Some((claim, terms)) if claim.check_held_for(&id, customer, now).is_ok() => {
                    held.push(HeldClaim {
                        id,
                        deal: terms.id,
                        sku: terms.sku,
                        quantity: claim.quantity,
                        price: terms.price,
                        expires_at: claim.expires_at,
                    });
                }
                _ => settled.push(id),
            }
        }
        if !settled.is_empty() {
            if let Some(mut ids) = self.s.book.held_by.get_mut(customer) {
                ids.retain(|id| !settled.contains(id));
            }
        }
        Ok(held)
    }

    /// Why `customer` can no longer use claim `id` (`None`: held for them
    /// and not yet due).
    pub(crate) async fn claim_lapse(
        self,
        id: &ReservationId,
        customer: &CustomerId,
    ) -> Result<Option<DealError>, Error> {
        let now = self.m.now();
        Ok(match self.claim_command(id, ShardCommand::Read { id: id.clone() }).await {
            Ok(Some((claim, _))) => claim.check_held_for(id, customer, now).err(),
            Ok(None) => Some(DealError::ClaimNotFound { id: id.clone() }),
            Err(Error::Deal(lapse)) => Some(lapse),
            Err(other) => return Err(other),
        })
    }

    /// Commits claim `id` for `order` (idempotent for that order only).
    /// Its units move from deal-held to committed in their buckets,
    /// `prefer`'s (the warehouse the order ships them from) first.
    pub(crate) async fn commit_claim(
        self,
        id: &ReservationId,
        order: &OrderId,
        prefer: Option<&WarehouseId>,
    ) -> Result<(), Error> {
        let command = ShardCommand::Commit { id: id.clone(), order: Some(order.clone()) };
        match self.claim_command(id, command).await? {
            Some((claim, terms)) => self.sell(id, &terms.id, claim.quantity, prefer).await,
            None => Err(DealError::ClaimNotFound { id: id.clone() }.into()),
        }
    }

    /// Gives the units of claim `id`, committed for `order`, back to its
    /// deal, exactly once (a no-op otherwise); after the deal's end they go
    /// on to the SKU's stock.
    pub(crate) async fn return_claim(self, id: &ReservationId, order: &OrderId) -> Result<(), Error> {
        let Some(key) = self.s.book.reservations.shard(id) else { return Ok(()) };
        let record = self.deal_record(&key.deal)?;
        let command = ShardCommand::ReturnCommitted { id: id.clone(), order: Some(order.clone()) };
        let answer = self.shard(&key.deal, key.shard, command).await?;
        if answer.claim.as_ref().is_some_and(|claim| claim.status != HoldStatus::Committed) {
            // Given back on its shard: no longer sold in its buckets either.
            self.unsell(id).await?;
        }
        if let Some(settles) = answer.returned {
            self.take_back(&record.terms.sku, answer.given, settles).await?;
        }
        Ok(())
    }

    /// Gives the unsold units of an ended deal back to its SKU's stock: every
    /// shard hands over its free units (recorded as a return), then a bucket
    /// of the SKU takes them (deleting the record in the same write). Claims
    /// still held stay until they are paid or expire; units of the ones that
    /// expire come back at a later call. Once nothing is held, the deal is
    /// marked closed and never looked at again. Not an error before the end:
    /// returns `false` (not closed).
    pub async fn close(self, deal: &DealId) -> Result<bool, Error> {
        let record = self.deal_record(deal)?;
        let book = &self.s.book;
        if book.closed.contains_key(deal) {
            return Ok(true);
        }
        if record.terms.phase(self.m.now()) != crate::engine::deal::DealPhase::Ended {
            return Ok(false);
        }
        let mut held = 0;
        for shard in 0..record.shards {
            let answer = self.shard(deal, shard, ShardCommand::ReturnUnsold).await?;
            if let Some(settles) = answer.returned {
                self.take_back(&record.terms.sku, answer.given, settles).await?;
            }
            held += answer.counts.held;
        }
        if held > 0 {
            return Ok(false);
        }
        let _pass = self.m.enter()?;
        let now = self.m.now();
        let ticket = self.s.store.write(Batch::new_put(keys::deal_closed(deal), &now)?)?;
        self.s.store.durable(ticket).await?;
        book.closed.insert(deal.clone(), ());
        Ok(true)
    }

    /// Restocks `units` of `sku` from an ended deal of the older kind (its
    /// units left `on_hand`) into the SKU's bucket with the most stock,
    /// settling the return record `settles`.
    async fn restock_legacy(self, sku: &crate::engine::Sku, units: u32, settles: Vec<u8>) -> Result<(), Error> {
        let inventory = self.m.inventory();
        let Some((_, bucket)) = inventory.ranked(sku).into_iter().next() else {
            return Err(Error::Corrupt(format!("deal stock of {sku} has no bucket to go back to")));
        };
        let settles = self.s.store.settlement(settles)?;
        inventory.restock_return(&bucket, u64::from(units), settles).await?;
        Ok(())
    }

    /// Finishes the returns a crash interrupted (recorded by a shard, not yet
    /// taken by a bucket).
    pub(crate) async fn finish_returns(self) -> Result<(), Error> {
        for (raw, pending) in self.s.store.scan_prefix::<DealReturn>(&[keys::DEAL_RETURN])? {
            self.take_back(&pending.sku, pending.units, raw).await?;
        }
        Ok(())
    }

    /// Closes every ended deal not closed yet (see [`Deals::close`]).
    pub async fn close_ended_deals(self) -> Result<usize, Error> {
        let now = self.m.now();
        let ended: Vec<DealId> = self
            .s
            .book
            .deals
            .iter()
            .filter(|entry| entry.value().terms.ends_at <= now && !self.s.book.closed.contains_key(entry.key()))
            .map(|entry| entry.key().clone())
            .collect();
        let mut closed = 0;
        for deal in ended {
            if self.close(&deal).await? {
                closed += 1;
            }
        }
        Ok(closed)
    }

    async fn shard(self, deal: &DealId, shard: u32, command: ShardCommand) -> Result<ShardAnswer, Error> {
        let _pass = self.m.enter()?;
        let key = DealShardKey { deal: deal.clone(), shard };
        let reply = self.s.shards.call(&key, ShardMessage(command)).await?;
        self.m.settle(reply).await
    }
}
