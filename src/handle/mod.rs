//! The `Mercato` handle: open, call, shut down.

mod carts;
mod catalog;
mod checkout;
mod config;
mod customers;
mod deals;
mod idempotency;
mod inventory;
mod orders;
mod recovery;
mod runtime;
mod search;
mod waitlist;
mod warehouses;

pub use config::{Config, PasswordCost};
pub use customers::CUSTOMER_CART_PREFIX;
pub use deals::{Claimed, DealView};
pub use idempotency::{Claim, Remembered, RunGuard, IDEMPOTENCY_RETENTION_MS};
pub use inventory::{Reservation, ReserveRequest, SkuInventory, StockUpdate, WarehouseInventory};
pub use recovery::OpenReport;
pub use search::index_dir as search_index_dir;
pub use waitlist::WaitlistSpot;

use crate::actors::bucket::BucketActor;
use crate::actors::cart::{CartActor, CartRejection};
use crate::actors::catalog::{CatalogActor, CatalogView};
use crate::actors::{ActorConfig, ActorStatsSnapshot, Env, Failure, Registry, Reply, Unavailable};
use crate::engine::{CartError, InventoryError, Sku, WarehouseId};
use crate::store::{Store, StoreConfig, StoreError, StoreStats, Ticket};
use dashmap::DashMap;
use parking_lot::Mutex;
use runtime::{ActorRuntime, Gate, Pass};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Everything a call through the handle can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error("cart {0} not found")]
    CartNotFound(crate::engine::CartId),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error(transparent)]
    Warehouse(#[from] crate::engine::WarehouseError),
    #[error(transparent)]
    Catalog(#[from] crate::engine::CatalogError),
    #[error(transparent)]
    Customer(#[from] crate::engine::CustomerError),
    #[error(transparent)]
    Deal(#[from] crate::engine::deal::DealError),
    #[error("deal {0} not found")]
    DealNotFound(crate::engine::DealId),
    #[error("warehouse {0} already exists")]
    WarehouseExists(WarehouseId),
    #[error("warehouse {0} not found")]
    WarehouseNotFound(WarehouseId),
    #[error("the data directory failed its invariant check: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Snapshot(#[from] crate::store::snapshot::SnapshotError),
    #[error("checkout {0} not found")]
    CheckoutNotFound(crate::engine::CheckoutId),
    #[error(transparent)]
    Checkout(#[from] crate::engine::CheckoutError),
    #[error("{0}")]
    PlaceInProgress(String),
    #[error("prices changed since the checkout started: {}", describe_changes(.0))]
    PriceChanged(Vec<crate::engine::PriceChange>),
    #[error(transparent)]
    Payment(#[from] crate::engine::PaymentError),
    #[error(transparent)]
    Card(#[from] crate::engine::payment::CardError),
    #[error("payment declined by fraud screening")]
    FraudDeclined,
    #[error("the order could not be placed")]
    PlaceInterrupted,
    #[error("order {0} not found")]
    OrderNotFound(crate::engine::OrderId),
    #[error(transparent)]
    Order(#[from] crate::engine::OrderError),
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
}

fn describe_changes(changes: &[crate::engine::PriceChange]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|change| match change.now {
            Some(now) => format!("{} {} -> {}", change.sku, change.was, now),
            None => format!("{} is no longer sold", change.sku),
        })
        .collect();
    parts.join(", ")
}

impl From<CartRejection> for Error {
    fn from(rejection: CartRejection) -> Self {
        match rejection {
            CartRejection::NotFound { id } => Error::CartNotFound(id),
            CartRejection::Rule(rule) => Error::Cart(rule),
        }
    }
}

tokio::task_local! {
    /// The latest ticket whose durability a caller chose to wait for itself.
    static DEFERRED: std::cell::Cell<Option<Ticket>>;
}

/// Counters for metrics: actors per kind and the store.
#[derive(Debug, Clone)]
pub struct EngineStats {
    pub buckets: ActorStatsSnapshot,
    pub carts: ActorStatsSnapshot,
    pub store: Arc<StoreStats>,
}

struct Inner {
    config: Config,
    env: Env,
    buckets: Registry<BucketActor>,
    carts: Registry<CartActor>,
    catalog: Registry<CatalogActor>,
    deal_shards: Registry<crate::actors::deal::DealShardActor>,
    checkouts: Registry<crate::actors::checkout::CheckoutActor>,
    orders: Registry<crate::actors::order::OrderActor>,
    payments: crate::actors::payments::Payments,
    pricing: Arc<crate::engine::Pricing>,
    order_index: DashMap<crate::engine::CustomerId, BTreeSet<orders::IndexKey>>,
    /// The typed error of a saga step that just failed, for its caller.
    last_failure: DashMap<crate::engine::OrderId, Error>,
    /// SKU -> the warehouses that have a bucket for it.
    locations: DashMap<Sku, BTreeSet<WarehouseId>>,
    directory: customers::Directory,
    /// Idempotency scopes being run now; duplicates wait on the notify.
    in_flight: DashMap<String, Arc<tokio::sync::Notify>>,
    /// `memory` durability keeps no records in the store: remembered
    /// responses live here instead (idempotency holds without a disk too).
    remembered: DashMap<String, idempotency::Remembered>,
    /// Which scopes have a remembered response in the store.
    stored_scopes: idempotency::StoredScopes,
    warehouses: parking_lot::RwLock<std::collections::BTreeMap<WarehouseId, crate::engine::Warehouse>>,
    gate: Gate,
    runtime: Mutex<Option<ActorRuntime>>,
    opened: OpenReport,
    /// The product search index (read side) and the thread that feeds it.
    search: Arc<crate::search::SearchIndex>,
    projection: Mutex<Option<crate::actors::search::SearchProjection>>,
}

/// The embedded engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Mercato {
    inner: Arc<Inner>,
}

impl Mercato {
    /// Opens (or creates) the data directory, rebuilds state from the store,
    /// checks every bucket's invariants, and starts the actor threads.
    pub fn open(config: Config) -> Result<Mercato, Error> {
        config.validate().map_err(Error::InvalidInput)?;
        let store = Store::open(&StoreConfig {
            path: config.data_dir.clone(),
            durability: config.durability,
            cache_capacity_bytes: config.cache_capacity_bytes,
        })?;
        let recovered = recovery::recover(&store)?;
        let warehouses = warehouses::load(&store)?;
        let directory = customers::load(&store)?;
        let catalog = crate::actors::catalog::load(&store).map_err(|err| Error::Corrupt(err.to_string()))?;
        let runtime =
            ActorRuntime::start(config.arbiters).map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        let arbiters = runtime.handles();
        let env = Env {
            store,
            clock: config.clock.clone(),
            config: Arc::new(ActorConfig {
                passivate_after: match config.durability {
                    crate::store::Durability::Memory => None,
                    _ => Some(config.passivate_after),
                },
                idle_check_every: config.idle_check_every,
                mailbox_capacity: config.mailbox_capacity,
                cart_limits: config.cart_limits,
                settled_hold_retention_ms: config.settled_hold_retention_ms,
            }),
            reservations: Arc::new(recovered.reservations),
            board: Arc::new(recovered.board),
            catalog: Arc::new(CatalogView::from_catalog(&catalog)),
            deals: Arc::new(crate::actors::deal::DealBook::default()),
        };
        let live_shards = deals::recover(&env.store, &env.deals)?;
        let payments = crate::actors::payments::Payments::open(env.store.clone(), config.fraud)?;
        let order_index = orders::load_index(&env.store)?;
        let stored_scopes = idempotency::StoredScopes::load(&env.store)?;
        let (search_index, indexer) = search::open_index(&config, &env.store)?;
        let mercato = Mercato {
            inner: Arc::new(Inner {
                buckets: Registry::new("bucket", arbiters.clone(), env.clone()),
                carts: Registry::new("cart", arbiters.clone(), env.clone()),
                catalog: Registry::new("catalog", arbiters.clone(), env.clone()),
                deal_shards: Registry::new("deal_shard", arbiters.clone(), env.clone()),
                checkouts: Registry::new("checkout", arbiters.clone(), env.clone()),
                orders: Registry::new("order", arbiters, env.clone()),
                payments,
                pricing: Arc::new(config.pricing.clone()),
                order_index,
                last_failure: DashMap::new(),
                locations: recovered.locations,
                env,
                config,
                directory,
                in_flight: DashMap::new(),
                remembered: DashMap::new(),
                stored_scopes,
                warehouses: parking_lot::RwLock::new(warehouses),
                gate: Gate::default(),
                runtime: Mutex::new(Some(runtime)),
                opened: recovered.report,
                search: search_index,
                projection: Mutex::new(None),
            }),
        };
        mercato.start_search(indexer)?;
        // Buckets with live holds run their expiry timers from the start.
        for bucket in recovered.buckets_with_holds {
            mercato.inner.buckets.activate(&bucket);
        }
        for shard in live_shards {
            mercato.inner.deal_shards.activate(&shard);
        }
        mercato.start_order_recovery()?;
        mercato.start_waitlist_dispatcher()?;
        mercato.start_deal_closer()?;
        Ok(mercato)
    }

    /// What the open found in the data directory (all invariants held).
    pub fn open_report(&self) -> OpenReport {
        self.inner.opened
    }

    /// Finishes or compensates the sagas a crash interrupted, on an arbiter.
    /// The checkouts a crash left marked as placing without a saga are found
    /// here, before any new place can begin.
    fn start_order_recovery(&self) -> Result<(), Error> {
        let stale = orders::stale_placings(&self.inner.env.store)?;
        let runtime = self.inner.runtime.lock();
        let Some(arbiter) = runtime.as_ref().and_then(|runtime| runtime.handles().first().cloned()) else {
            return Err(Error::ShuttingDown);
        };
        let mercato = self.clone();
        arbiter.spawn(async move {
            match mercato.recover_orders(stale).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(sagas = count, "interrupted orders recovered"),
                Err(err) => tracing::error!(error = %err, "cannot recover interrupted orders"),
            }
        });
        Ok(())
    }

    /// Serves waitlists on an arbiter: each deal whose units came back while
    /// customers wait is served in order (see `waitlist.rs`).
    fn start_waitlist_dispatcher(&self) -> Result<(), Error> {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<crate::engine::DealId>();
        *self.inner.env.deals.returns.lock() = Some(sender);
        let runtime = self.inner.runtime.lock();
        let Some(arbiter) = runtime.as_ref().and_then(|runtime| runtime.handles().first().cloned()) else {
            return Err(Error::ShuttingDown);
        };
        // A weak handle: the dispatcher must not keep the engine alive.
        let weak = Arc::downgrade(&self.inner);
        arbiter.spawn(async move {
            while let Some(deal) = receiver.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                let mercato = Mercato { inner };
                if let Err(err) = mercato.serve_waitlist(&deal).await {
                    tracing::error!(deal = %deal, error = %err, "cannot serve the waitlist");
                }
            }
        });
        Ok(())
    }

    /// Gives unsold units of ended deals back to their SKUs, on an arbiter:
    /// first the returns a crash interrupted, then every `deal_close_every`.
    fn start_deal_closer(&self) -> Result<(), Error> {
        let runtime = self.inner.runtime.lock();
        let Some(arbiter) = runtime.as_ref().and_then(|runtime| runtime.handles().last().cloned()) else {
            return Err(Error::ShuttingDown);
        };
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.config.deal_close_every;
        arbiter.spawn(async move {
            let mut first = true;
            loop {
                {
                    let Some(inner) = weak.upgrade() else { return };
                    let mercato = Mercato { inner };
                    if first {
                        match mercato.finish_returns().await {
                            Ok(()) => first = false,
                            Err(err) => tracing::error!(error = %err, "cannot finish unsold-unit returns"),
                        }
                    }
                    if let Err(err) = mercato.close_ended_deals().await {
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

    /// Runs `work` without waiting for its writes to be durable; returns its
    /// output and the ticket to wait for (with [`Mercato::wait_durable`])
    /// before acknowledging anything it did. Lets a caller add its own write
    /// (an idempotency record) to the same flush: one wait instead of two.
    pub async fn deferring_durability<F: std::future::Future>(&self, work: F) -> (F::Output, Option<Ticket>) {
        DEFERRED
            .scope(std::cell::Cell::new(None), async move {
                let output = work.await;
                (output, DEFERRED.with(std::cell::Cell::get))
            })
            .await
    }

    /// Waits until `ticket` (if any) is durable.
    pub async fn wait_durable(&self, ticket: Option<Ticket>) -> Result<(), Error> {
        match ticket {
            Some(ticket) => Ok(self.inner.env.store.durable(ticket).await?),
            None => Ok(()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            buckets: self.inner.buckets.stats(),
            carts: self.inner.carts.stats(),
            store: self.inner.env.store.stats().clone(),
        }
    }

    /// Refuses new calls, waits for those in flight (and their flushes),
    /// stops the actors and flushes the store one last time. The data
    /// directory's lock is released when the last clone of the handle drops.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.gate.close_and_drain().await;
        let projection = self.inner.projection.lock().take();
        if let Some(projection) = projection {
            tokio::task::spawn_blocking(move || projection.stop())
                .await
                .map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        }
        let runtime = self.inner.runtime.lock().take();
        if let Some(runtime) = runtime {
            tokio::task::spawn_blocking(move || runtime.stop())
                .await
                .map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        }
        self.inner.env.store.close()?;
        Ok(())
    }

    fn enter(&self) -> Result<Pass<'_>, Error> {
        self.inner.gate.enter().ok_or(Error::ShuttingDown)
    }

    /// Waits until the reply's ticket is durable, then unwraps its result;
    /// inside [`Mercato::deferring_durability`], records the ticket instead
    /// so that the caller waits once for everything.
    async fn settle<T, E: Into<Error>>(&self, reply: Reply<T, E>) -> Result<T, Error> {
        let deferred =
            DEFERRED.try_with(|cell| cell.set(Some(cell.get().map_or(reply.ticket, |t| t.max(reply.ticket)))));
        if deferred.is_err() {
            self.inner.env.store.durable(reply.ticket).await?;
        }
        reply.result.map_err(|failure| match failure {
            Failure::Rejected(rejection) => rejection.into(),
            Failure::Store(err) => Error::Store(err),
        })
    }
}
