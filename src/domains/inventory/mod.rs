//! Inventory: stock buckets per (SKU, warehouse), holds, the units flash
//! deals hold in each bucket, the warehouses, and who made each
//! reservation. Owns the keys `b`, `h`, `S`, `o` and `w`.

mod board;
pub mod bucket;
mod recovery;
pub mod reservations;
mod warehouses;

pub use recovery::OpenReport;
pub use reservations::{Holder, Ownership, Placed, ReservationIndex};

/// Held reservations a customer may have made at once (API.md, Reservations).
pub const CUSTOMER_HOLDS_MAX: u32 = 20;
/// Units a customer may hold in one reservation.
pub const CUSTOMER_HOLD_UNITS_MAX: u32 = 999;

use crate::actors::{ActorSetup, Crash, Registry};
use crate::domains::deals::shard::ShardCommand;
use crate::engine::{
    BucketKey, CustomerId, Hold, HoldStatus, InventoryCounts, InventoryError, ReservationId, Sku, Timestamp, Warehouse,
    WarehouseId,
};
use crate::store::{keys, Batch, Keyspace, Settlement};
use crate::{Error, Mercato};
pub use bucket::DealUnitsOp;
use bucket::{
    BucketActor, BucketSnapshot, Commit, DealUnits, Observe, ReadCounts, ReadHold, Release, Reserve, Restock, SetStock,
    Ship,
};
use dashmap::DashMap;
use futures::future::join_all;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the inventory domain keeps.
pub(crate) struct State {
    store: Keyspace,
    buckets: Registry<BucketActor>,
    shared: bucket::Shared,
    /// SKU -> the warehouses that have a bucket for it.
    locations: DashMap<Sku, BTreeSet<WarehouseId>>,
    warehouses: parking_lot::RwLock<BTreeMap<WarehouseId, Warehouse>>,
    /// Buckets found with live holds at open. Their actors start (and their
    /// expiry timers write) only once the search index has caught up with
    /// the log, which it does on the premise that no writer runs yet.
    live: parking_lot::Mutex<Vec<BucketKey>>,
    opened: OpenReport,
    /// The deals' units per bucket as found at open, for the deals domain
    /// (taken once, when it opens).
    stakes: parking_lot::Mutex<Vec<(BucketKey, crate::engine::DealId, u64)>>,
}

impl State {
    /// Rebuilds every bucket from the store and checks its invariants.
    pub(crate) fn open(store: Keyspace, actors: &ActorSetup) -> Result<State, Error> {
        let recovered = recovery::recover(&store)?;
        let warehouses = warehouses::load(&store)?;
        let shared =
            bucket::Shared { reservations: Arc::new(recovered.reservations), board: Arc::new(recovered.board) };
        Ok(State {
            buckets: actors.registry("bucket", store.clone(), shared.clone()),
            store,
            shared,
            locations: recovered.locations,
            warehouses: parking_lot::RwLock::new(warehouses),
            live: parking_lot::Mutex::new(recovered.buckets_with_holds),
            opened: recovered.report,
            stakes: parking_lot::Mutex::new(recovered.stakes),
        })
    }

    /// The units each deal held in each bucket at open (once: the deals
    /// domain rebuilds its picture from them).
    pub(crate) fn take_stakes(&self) -> Vec<(BucketKey, crate::engine::DealId, u64)> {
        std::mem::take(&mut *self.stakes.lock())
    }

    /// The reservation index, which the deals domain places its claims in.
    pub(crate) fn reservations(&self) -> Arc<ReservationIndex> {
        self.shared.reservations.clone()
    }

    pub(crate) fn opened(&self) -> OpenReport {
        self.opened
    }

    pub(crate) fn actor_stats(&self) -> crate::actors::ActorStatsSnapshot {
        self.buckets.stats()
    }

    /// The buckets of `sku`, one per warehouse that stocks it, in warehouse order.
    fn buckets_of(&self, sku: &Sku) -> Vec<BucketKey> {
        self.locations
            .get(sku)
            .map(|warehouses| {
                warehouses.iter().map(|warehouse| BucketKey::new(sku.clone(), warehouse.clone())).collect()
            })
            .unwrap_or_default()
    }

    /// Units of `sku` available now over all its warehouses (stock board).
    pub(crate) fn available(&self, sku: &Sku) -> u64 {
        self.buckets_of(sku).iter().map(|bucket| self.shared.board.available(bucket)).sum()
    }

    /// A counter that moves whenever any bucket's availability changes.
    pub(crate) fn availability_changes(&self) -> u64 {
        self.shared.board.availability_changes()
    }
}

/// Inventory, reached as `mercato.inventory()`.
#[derive(Clone, Copy)]
pub struct Inventory<'a> {
    m: &'a Mercato,
    s: &'a State,
}

/// A request to put units on hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    /// The caller's id for idempotent retries; generated when `None`.
    pub id: Option<ReservationId>,
    pub sku: Sku,
    pub quantity: u32,
    /// Hold time; the configured default when `None`.
    pub ttl_ms: Option<u64>,
    /// Restricts the hold to one warehouse; otherwise the engine picks the
    /// warehouse with the most available stock.
    pub warehouse: Option<WarehouseId>,
}

impl ReserveRequest {
    pub fn new(sku: Sku, quantity: u32) -> Self {
        ReserveRequest { id: None, sku, quantity, ttl_ms: None, warehouse: None }
    }

    pub fn id(mut self, id: ReservationId) -> Self {
        self.id = Some(id);
        self
    }

    pub fn ttl_ms(mut self, ttl_ms: u64) -> Self {
        self.ttl_ms = Some(ttl_ms);
        self
    }

    pub fn warehouse(mut self, warehouse: WarehouseId) -> Self {
        self.warehouse = Some(warehouse);
        self
    }
}

/// A reservation as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub sku: Sku,
    pub warehouse: WarehouseId,
    pub quantity: u32,
    pub status: HoldStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Reservation {
    fn new(id: ReservationId, bucket: BucketKey, hold: Hold) -> Self {
        Reservation {
            id,
            sku: bucket.sku,
            warehouse: bucket.warehouse,
            quantity: hold.quantity,
            status: hold.status,
            created_at: hold.created_at,
            expires_at: hold.expires_at,
        }
    }
}

/// One warehouse's counts for a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarehouseInventory {
    pub warehouse: WarehouseId,
    pub counts: InventoryCounts,
}

/// A SKU's counts over all its warehouses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkuInventory {
    pub sku: Sku,
    pub totals: InventoryCounts,
    pub warehouses: Vec<WarehouseInventory>,
}

/// Inventory admin: new on hand and/or safety stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StockUpdate {
    pub on_hand: Option<u64>,
    pub safety_stock: Option<u64>,
}

impl StockUpdate {
    pub fn on_hand(on_hand: u64) -> Self {
        StockUpdate { on_hand: Some(on_hand), safety_stock: None }
    }
}

impl<'a> Inventory<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Inventory { m, s }
    }

    /// Starts the buckets that hold live holds, so their expiry timers run.
    pub(crate) fn activate_live(self) {
        for bucket in std::mem::take(&mut *self.s.live.lock()) {
            self.s.buckets.activate(&bucket);
        }
    }

    /// Puts `quantity` units of a SKU on hold. Idempotent by `request.id`: a
    /// retry returns the same reservation; a different request under the same
    /// id is [`InventoryError::IdempotencyConflict`].
    pub async fn reserve(self, request: ReserveRequest) -> Result<Reservation, Error> {
        let _pass = self.m.enter()?;
        if request.quantity == 0 {
            return Err(InventoryError::InvalidQuantity.into());
        }
        let config = &self.m.config();
        let ttl_ms = request.ttl_ms.unwrap_or(config.reservation_ttl_default_ms);
        if ttl_ms == 0 || ttl_ms > config.reservation_ttl_max_ms {
            return Err(Error::InvalidInput(format!("ttl must be 1..={} ms", config.reservation_ttl_max_ms)));
        }
        let id = request.id.unwrap_or_else(|| ReservationId::generate(self.m.source().u128()));
        match self.s.shared.reservations.holder(&id) {
            Some(Holder::Bucket(bucket)) => return self.reserve_in(bucket, id, request.quantity, ttl_ms).await,
            Some(Holder::Deal(_)) => return Err(InventoryError::IdempotencyConflict { id }.into()),
            None => {}
        }
        let candidates = match request.warehouse {
            Some(warehouse) => vec![BucketKey::new(request.sku.clone(), warehouse)],
            None => self.candidates(&request.sku, request.quantity),
        };
        let mut best_available = 0;
        for bucket in candidates {
            match self.reserve_in(bucket, id.clone(), request.quantity, ttl_ms).await {
                Err(Error::Inventory(InventoryError::InsufficientStock { available, .. })) => {
                    best_available = best_available.max(available);
                }
                other => return other,
            }
        }
        Err(InventoryError::InsufficientStock { requested: u64::from(request.quantity), available: best_available }
            .into())
    }

    /// Puts a hold on one bucket (the place saga's holds are planned per bucket).
    pub(crate) async fn reserve_in(
        self,
        bucket: BucketKey,
        id: ReservationId,
        quantity: u32,
        ttl_ms: u64,
    ) -> Result<Reservation, Error> {
        let hold = self.bucket_call(&bucket, Reserve { id: id.clone(), quantity, ttl_ms }).await?;
        Ok(Reservation::new(id, bucket, hold))
    }

    /// One message to a bucket's actor, through the shutdown gate; its answer
    /// once durable (or, inside a durability scope, at once).
    async fn bucket_call<M, T>(self, bucket: &BucketKey, message: M) -> Result<T, Error>
    where
        M: actix::Message<Result = bucket::BucketReply<T>> + Clone + Send + 'static,
        T: Send + 'static,
        BucketActor: actix::Handler<M>,
    {
        let _pass = self.m.enter()?;
        let reply = self.s.buckets.call(bucket, message).await?;
        self.m.settle(reply).await
    }

    /// The buckets to try for a SKU, most available first, ranked from the
    /// stock board (no round trip). A stale board only costs a retry: a bucket
    /// that turns out short is skipped for the next one.
    fn candidates(self, sku: &Sku, quantity: u32) -> Vec<BucketKey> {
        let ranked = self.ranked(sku);
        let fitting = ranked.iter().filter(|(available, _)| *available >= u64::from(quantity)).count();
        // Try the buckets that fit; if none does, one attempt reports the shortfall.
        ranked.into_iter().take(fitting.max(1)).map(|(_, bucket)| bucket).collect()
    }

    /// Units of `sku` available now over all its warehouses, from the stock
    /// board: no message to any actor (product pages, cart lines).
    pub fn available(self, sku: &Sku) -> u64 {
        self.s.available(sku)
    }

    /// The buckets of `sku` with the units each has available now (stock
    /// board), most available first, ties in warehouse order.
    pub(crate) fn ranked(self, sku: &Sku) -> Vec<(u64, BucketKey)> {
        let board = &self.s.shared.board;
        let mut ranked: Vec<(u64, BucketKey)> =
            self.s.buckets_of(sku).into_iter().map(|bucket| (board.available(&bucket), bucket)).collect();
        // Stable: equal availabilities keep the warehouse order.
        ranked.sort_by_key(|(available, _)| std::cmp::Reverse(*available));
        ranked
    }

    /// The bucket holding reservation `id`, if a bucket does.
    pub(crate) fn holder_of(self, id: &ReservationId) -> Option<BucketKey> {
        self.s.shared.reservations.bucket(id)
    }

    /// Reserves on behalf of a customer and records them as its owner (one
    /// more durable record), so only they (and the admin) can see or settle
    /// it. An id that names someone else's reservation (or the admin's) is
    /// an [`InventoryError::IdempotencyConflict`]: a retry is the owner's own.
    /// A customer holds at most [`CUSTOMER_HOLDS_MAX`] such reservations at
    /// once, of at most [`CUSTOMER_HOLD_UNITS_MAX`] units each
    /// ([`InventoryError::LimitExceeded`]); deal claims do not count.
    pub async fn reserve_for(self, owner: &CustomerId, request: ReserveRequest) -> Result<Reservation, Error> {
        let index = &self.s.shared.reservations;
        if let Some(id) = &request.id {
            if index.holder(id).is_some() && index.owner(id).as_ref() != Some(owner) {
                return Err(InventoryError::IdempotencyConflict { id: id.clone() }.into());
            }
        }
        if request.quantity > CUSTOMER_HOLD_UNITS_MAX {
            return Err(InventoryError::LimitExceeded {
                what: "units per reservation",
                limit: u64::from(CUSTOMER_HOLD_UNITS_MAX),
            }
            .into());
        }
        if !index.take_slot(owner, CUSTOMER_HOLDS_MAX) {
            return Err(InventoryError::LimitExceeded {
                what: "held reservations",
                limit: u64::from(CUSTOMER_HOLDS_MAX),
            }
            .into());
        }
        let reserved = self.reserve(request).await;
        let ownership = reserved.as_ref().ok().map(|reservation| index.take_ownership(&reservation.id, owner));
        if ownership != Some(Ownership::Taken { slot: true }) {
            index.give_slot(owner);
        }
        let reservation = reserved?;
        match ownership {
            Some(Ownership::Taken { .. }) => {}
            Some(Ownership::Already) => return Ok(reservation),
            // Another customer took the same new id a moment before.
            _ => return Err(InventoryError::IdempotencyConflict { id: reservation.id }.into()),
        }
        let _pass = self.m.enter()?;
        let ticket = self.s.store.write(Batch::new_put(keys::owner(&reservation.id), owner)?)?;
        self.s.store.durable(ticket).await?;
        Ok(reservation)
    }

    /// Held reservations `owner` made (deal claims not counted).
    pub fn held_by(self, owner: &CustomerId) -> u32 {
        self.s.shared.reservations.slots_taken(owner)
    }

    /// The customer who made a reservation or deal claim (`None` for the
    /// admin's and for an unknown id).
    pub fn owner_of(self, id: &ReservationId) -> Option<CustomerId> {
        self.s.shared.reservations.owner(id)
    }

    /// The buckets of `sku`, one per warehouse that stocks it.
    pub(crate) fn buckets_of(self, sku: &Sku) -> Vec<BucketKey> {
        self.s.buckets_of(sku)
    }

    /// Sells a held reservation (idempotent).
    pub async fn commit(self, id: &ReservationId) -> Result<Reservation, Error> {
        let claim = ShardCommand::Commit { id: id.clone(), order: None };
        self.at_holder(id, Commit { id: id.clone() }, claim).await
    }

    /// Returns a reservation's units (idempotent).
    pub async fn release(self, id: &ReservationId) -> Result<Reservation, Error> {
        self.at_holder(id, Release { id: id.clone() }, ShardCommand::Release { id: id.clone() }).await
    }

    /// Reads a reservation (expiring it first if it is due).
    pub async fn reservation(self, id: &ReservationId) -> Result<Reservation, Error> {
        self.at_holder(id, ReadHold { id: id.clone() }, ShardCommand::Read { id: id.clone() }).await
    }

    /// Sends reservation `id`'s holder what it understands: a bucket
    /// `to_bucket`, a deal shard (the reservation is a claim) `to_shard`.
    async fn at_holder<M>(self, id: &ReservationId, to_bucket: M, to_shard: ShardCommand) -> Result<Reservation, Error>
    where
        M: actix::Message<Result = bucket::BucketReply<Hold>> + Clone + Send + 'static,
        BucketActor: actix::Handler<M>,
    {
        let holder = self.s.shared.reservations.holder(id);
        match holder.ok_or_else(|| InventoryError::ReservationNotFound { id: id.clone() })? {
            Holder::Bucket(bucket) => {
                let hold = self.bucket_call(&bucket, to_bucket).await?;
                Ok(Reservation::new(id.clone(), bucket, hold))
            }
            Holder::Deal(shard) => self.m.deals().claim_as_reservation(&shard, id, to_shard).await,
        }
    }

    /// A SKU's counts per warehouse and in total (all zero for an unstocked SKU).
    pub async fn levels(self, sku: &Sku) -> Result<SkuInventory, Error> {
        let _pass = self.m.enter()?;
        let buckets = self.buckets_of(sku);
        let counts = join_all(buckets.iter().map(|bucket| self.bucket_call(bucket, ReadCounts))).await;
        let mut totals = InventoryCounts::default();
        let mut warehouses = Vec::with_capacity(buckets.len());
        for (bucket, counts) in buckets.into_iter().zip(counts) {
            let counts = counts?;
            totals = totals.plus(counts);
            warehouses.push(WarehouseInventory { warehouse: bucket.warehouse, counts });
        }
        Ok(SkuInventory { sku: sku.clone(), totals, warehouses })
    }

    /// Sets on hand and/or safety stock of one bucket (creating it).
    pub async fn set_stock(self, bucket: BucketKey, update: StockUpdate) -> Result<InventoryCounts, Error> {
        let message = SetStock { on_hand: update.on_hand, safety_stock: update.safety_stock };
        let counts = self.bucket_call(&bucket, message).await?;
        self.s.locations.entry(bucket.sku).or_default().insert(bucket.warehouse);
        Ok(counts)
    }

    /// Adds received units to a bucket.
    pub async fn restock(self, bucket: &BucketKey, quantity: u64) -> Result<InventoryCounts, Error> {
        let counts = self.bucket_call(bucket, Restock { quantity }).await?;
        self.s.locations.entry(bucket.sku.clone()).or_default().insert(bucket.warehouse.clone());
        Ok(counts)
    }

    /// Changes a flash deal's units in a bucket (see [`DealUnitsOp`]); with
    /// `settles`, exactly once: the deal's record of the change is deleted
    /// in the same write, and a change whose record is gone is not made.
    pub(crate) async fn deal_units(
        self,
        bucket: &BucketKey,
        deal: &crate::engine::DealId,
        op: DealUnitsOp,
        settles: Option<Settlement>,
    ) -> Result<InventoryCounts, Error> {
        self.bucket_call(bucket, DealUnits { deal: deal.clone(), op, settles }).await
    }

    /// Committed units leave a warehouse.
    pub async fn ship(self, bucket: &BucketKey, quantity: u64) -> Result<InventoryCounts, Error> {
        self.bucket_call(bucket, Ship { quantity }).await
    }

    /// A serializable copy of a bucket's state, holds included.
    pub async fn observe_bucket(self, bucket: &BucketKey) -> Result<BucketSnapshot, Error> {
        self.bucket_call(bucket, Observe).await
    }

    /// Restocks unsold units of an ended deal, deleting the deal's return
    /// record (`settles`) in the same write.
    pub(crate) async fn restock_return(
        self,
        bucket: &BucketKey,
        quantity: u64,
        settles: Settlement,
    ) -> Result<InventoryCounts, Error> {
        self.bucket_call(bucket, bucket::RestockReturn { quantity, settles }).await
    }

    /// Applies a stock change an order owes, deleting its task record
    /// (`settles`) in the same write: a retried task changes stock once.
    pub(crate) async fn settle_task(
        self,
        bucket: &BucketKey,
        op: crate::engine::order::StockOp,
        settles: Settlement,
    ) -> Result<InventoryCounts, Error> {
        self.bucket_call(bucket, bucket::SettleTask { op, settles }).await
    }

    /// Returns a committed hold's units to its bucket (a no-op otherwise).
    pub(crate) async fn return_committed(self, id: &ReservationId) -> Result<(), Error> {
        let Some(bucket) = self.holder_of(id) else { return Ok(()) };
        match self.bucket_call(&bucket, bucket::ReturnCommitted { id: id.clone() }).await {
            Ok(_) | Err(Error::Inventory(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Fault injection: stops a bucket's actor as if it crashed, so the next
    /// call exercises supervision (re-activation from durable state).
    pub async fn crash_bucket_actor(self, bucket: &BucketKey) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        self.s.buckets.call(bucket, Crash).await?;
        Ok(())
    }
}
