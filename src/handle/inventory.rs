//! Reservations and inventory through the handle.

use super::{Error, Mercato};
use crate::actors::bucket::{
    BucketSnapshot, Commit, Observe, ReadCounts, ReadHold, Release, Reserve, Restock, SetStock, Ship, Withdraw,
};
use crate::actors::deal::ShardCommand;
use crate::actors::Crash;
use crate::engine::{
    BucketKey, Hold, HoldStatus, InventoryCounts, InventoryError, ReservationId, Sku, Timestamp, WarehouseId,
};
use futures::future::join_all;
use serde::Serialize;

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

impl Mercato {
    /// Puts `quantity` units of a SKU on hold. Idempotent by `request.id`: a
    /// retry returns the same reservation; a different request under the same
    /// id is [`InventoryError::IdempotencyConflict`].
    pub async fn reserve(&self, request: ReserveRequest) -> Result<Reservation, Error> {
        let _pass = self.enter()?;
        if request.quantity == 0 {
            return Err(InventoryError::InvalidQuantity.into());
        }
        let config = &self.inner.config;
        let ttl_ms = request.ttl_ms.unwrap_or(config.reservation_ttl_default_ms);
        if ttl_ms == 0 || ttl_ms > config.reservation_ttl_max_ms {
            return Err(Error::InvalidInput(format!("ttl must be 1..={} ms", config.reservation_ttl_max_ms)));
        }
        let id = request.id.unwrap_or_else(|| ReservationId::generate(rand::random()));
        let known = self.inner.env.reservations.get(&id).map(|entry| entry.value().clone());
        if let Some(bucket) = known {
            return self.reserve_in(bucket, id, request.quantity, ttl_ms).await;
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

    pub(super) async fn reserve_in(
        &self,
        bucket: BucketKey,
        id: ReservationId,
        quantity: u32,
        ttl_ms: u64,
    ) -> Result<Reservation, Error> {
        let message = Reserve { id: id.clone(), quantity, ttl_ms };
        let reply = self.inner.buckets.call(&bucket, message).await?;
        let hold = self.settle(reply).await?;
        Ok(Reservation::new(id, bucket, hold))
    }

    /// The buckets to try for a SKU, most available first, ranked from the
    /// stock board (no round trip). A stale board only costs a retry: a bucket
    /// that turns out short is skipped for the next one.
    fn candidates(&self, sku: &Sku, quantity: u32) -> Vec<BucketKey> {
        let board = &self.inner.env.board;
        let mut ranked: Vec<(u64, BucketKey)> =
            self.buckets_of(sku).into_iter().map(|bucket| (board.available(&bucket), bucket)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let fitting = ranked.iter().filter(|(available, _)| *available >= u64::from(quantity)).count();
        // Try the buckets that fit; if none does, one attempt reports the shortfall.
        ranked.into_iter().take(fitting.max(1)).map(|(_, bucket)| bucket).collect()
    }

    /// Units of `sku` available now over all its warehouses, from the stock
    /// board: no message to any actor (product pages, cart lines).
    pub fn available(&self, sku: &Sku) -> u64 {
        let board = &self.inner.env.board;
        self.buckets_of(sku).iter().map(|bucket| board.available(bucket)).sum()
    }

    pub(super) fn buckets_of(&self, sku: &Sku) -> Vec<BucketKey> {
        self.inner
            .locations
            .get(sku)
            .map(|warehouses| {
                warehouses.iter().map(|warehouse| BucketKey::new(sku.clone(), warehouse.clone())).collect()
            })
            .unwrap_or_default()
    }

    fn bucket_of(&self, id: &ReservationId) -> Result<BucketKey, Error> {
        self.inner
            .env
            .reservations
            .get(id)
            .map(|entry| entry.value().clone())
            .ok_or_else(|| InventoryError::ReservationNotFound { id: id.clone() }.into())
    }

    /// Sells a held reservation (idempotent).
    pub async fn commit(&self, id: &ReservationId) -> Result<Reservation, Error> {
        let claim = ShardCommand::Commit { id: id.clone(), order: None };
        if let Some(reservation) = self.claim_as_reservation(id, claim).await? {
            return Ok(reservation);
        }
        let _pass = self.enter()?;
        let bucket = self.bucket_of(id)?;
        let reply = self.inner.buckets.call(&bucket, Commit { id: id.clone() }).await?;
        let hold = self.settle(reply).await?;
        Ok(Reservation::new(id.clone(), bucket, hold))
    }

    /// Returns a reservation's units (idempotent).
    pub async fn release(&self, id: &ReservationId) -> Result<Reservation, Error> {
        let claim = ShardCommand::Release { id: id.clone() };
        if let Some(reservation) = self.claim_as_reservation(id, claim).await? {
            return Ok(reservation);
        }
        let _pass = self.enter()?;
        let bucket = self.bucket_of(id)?;
        let reply = self.inner.buckets.call(&bucket, Release { id: id.clone() }).await?;
        let hold = self.settle(reply).await?;
        Ok(Reservation::new(id.clone(), bucket, hold))
    }

    /// Reads a reservation (expiring it first if it is due).
    pub async fn reservation(&self, id: &ReservationId) -> Result<Reservation, Error> {
        if let Some(reservation) = self.claim_as_reservation(id, ShardCommand::Read { id: id.clone() }).await? {
            return Ok(reservation);
        }
        let _pass = self.enter()?;
        let bucket = self.bucket_of(id)?;
        let reply = self.inner.buckets.call(&bucket, ReadHold { id: id.clone() }).await?;
        let hold = self.settle(reply).await?;
        Ok(Reservation::new(id.clone(), bucket, hold))
    }

    /// A SKU's counts per warehouse and in total (all zero for an unstocked SKU).
    pub async fn inventory(&self, sku: &Sku) -> Result<SkuInventory, Error> {
        let _pass = self.enter()?;
        let buckets = self.buckets_of(sku);
        let counts = join_all(buckets.iter().map(|bucket| self.bucket_counts(bucket))).await;
        let mut totals = InventoryCounts::default();
        let mut warehouses = Vec::with_capacity(buckets.len());
        for (bucket, counts) in buckets.into_iter().zip(counts) {
            let counts = counts?;
            totals = totals.plus(counts);
            warehouses.push(WarehouseInventory { warehouse: bucket.warehouse, counts });
        }
        Ok(SkuInventory { sku: sku.clone(), totals, warehouses })
    }

    async fn bucket_counts(&self, bucket: &BucketKey) -> Result<InventoryCounts, Error> {
        let reply = self.inner.buckets.call(bucket, ReadCounts).await?;
        self.settle(reply).await
    }

    /// Sets on hand and/or safety stock of one bucket (creating it).
    pub async fn set_stock(&self, bucket: BucketKey, update: StockUpdate) -> Result<InventoryCounts, Error> {
        let _pass = self.enter()?;
        let message = SetStock { on_hand: update.on_hand, safety_stock: update.safety_stock };
        let reply = self.inner.buckets.call(&bucket, message).await?;
        let counts = self.settle(reply).await?;
        self.inner.locations.entry(bucket.sku).or_default().insert(bucket.warehouse);
        Ok(counts)
    }

    /// Adds received units to a bucket.
    pub async fn restock(&self, bucket: &BucketKey, quantity: u64) -> Result<InventoryCounts, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.buckets.call(bucket, Restock { quantity }).await?;
        let counts = self.settle(reply).await?;
        self.inner.locations.entry(bucket.sku.clone()).or_default().insert(bucket.warehouse.clone());
        Ok(counts)
    }

    /// Units leave a bucket for a flash deal's own stock (only available units).
    pub async fn withdraw(&self, bucket: &BucketKey, quantity: u64) -> Result<InventoryCounts, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.buckets.call(bucket, Withdraw { quantity }).await?;
        self.settle(reply).await
    }

    /// Committed units leave a warehouse.
    pub async fn ship(&self, bucket: &BucketKey, quantity: u64) -> Result<InventoryCounts, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.buckets.call(bucket, Ship { quantity }).await?;
        self.settle(reply).await
    }

    /// A serializable copy of a bucket's state, holds included.
    pub async fn observe_bucket(&self, bucket: &BucketKey) -> Result<BucketSnapshot, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.buckets.call(bucket, Observe).await?;
        self.settle(reply).await
    }

    /// Fault injection: stops a bucket's actor as if it crashed, so the next
    /// call exercises supervision (re-activation from durable state).
    pub async fn crash_bucket_actor(&self, bucket: &BucketKey) -> Result<(), Error> {
        let _pass = self.enter()?;
        self.inner.buckets.call(bucket, Crash).await?;
        Ok(())
    }
}
