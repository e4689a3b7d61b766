//! The `Mercato` handle: open, shut down, and one accessor per domain.
//!
//! `Mercato` owns no business state. Each domain (`crate::domains`) keeps
//! its own state and its own keyspace of the store, and is reached through
//! its facade: `mercato.inventory().reserve(..)`, `mercato.orders().place(..)`.
//! What is left here is what every domain shares: the actor runtime, the
//! shutdown gate, durability scopes, and the clock.

use crate::actors::runtime::{ActorRuntime, Gate, Pass};
use crate::actors::{ActorConfig, ActorSetup, ActorStatsSnapshot, Failure, Reply};
use crate::domains::carts::{self, Carts};
use crate::domains::catalog::{self, Catalog};
use crate::domains::checkout::{self, Checkouts};
use crate::domains::customers::{self, Customers};
use crate::domains::deals::{self, Deals};
use crate::domains::idempotency::{self, Idempotency};
use crate::domains::inventory::{self, Inventory, OpenReport};
use crate::domains::orders::{self, Orders};
use crate::domains::payments::{self, Payments};
use crate::engine::{Sku, Timestamp};
use crate::projections::runner::{Log, RunnerStats};
use crate::projections::search::feed::Feed;
use crate::projections::search::{self, Search};
use crate::source::Source;
use crate::store::{keys, Store, StoreConfig, StoreError, StoreStats, Ticket};
use crate::{Config, Error};
use actix::ArbiterHandle;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};

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
    /// Each projection's runner counters, by projection name.
    pub projections: Vec<(&'static str, Arc<RunnerStats>)>,
}

pub(crate) struct Inner {
    config: Config,
    source: Source,
    store: Store,
    gate: Gate,
    runtime: Mutex<Option<ActorRuntime>>,
    catalog: catalog::State,
    inventory: inventory::State,
    deals: deals::State,
    customers: customers::State,
    carts: carts::State,
    checkout: checkout::State,
    payments: payments::State,
    orders: orders::State,
    idempotency: idempotency::State,
    search: search::State,
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
        let runtime =
            ActorRuntime::start(config.arbiters).map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        let actors = ActorSetup {
            arbiters: runtime.handles(),
            source: Source::new(config.clock.clone(), config.seed),
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
        };
        let secret_key = match (&config.secret_key, config.durability) {
            (Some(key), _) => key.clone(),
            // Nothing outlives the process: neither need the key.
            (None, crate::store::Durability::Memory) => crate::secret::SecretKey::from_bytes(actors.source.bytes()),
            (None, _) => crate::secret::SecretKey::load_or_create(&config.data_dir, &actors.source)?,
        };
        let inventory = inventory::State::open(store.keyspace("inventory"), &actors)?;
        let catalog = catalog::State::open(store.keyspace("catalog"), &actors)?;
        let deals =
            deals::State::open(store.keyspace("deals"), &actors, inventory.reservations(), inventory.take_stakes())?;
        let customers = customers::State::open(store.keyspace("customers"), &config.prime_prices, actors.source.now())?;
        let carts = carts::State::open(store.keyspace("carts"), &actors)?;
        let checkout = checkout::State::open(store.keyspace("checkout"), &actors, &config);
        let payments = payments::State::open(store.keyspace("payments"), config.fraud, secret_key.clone())?;
        let orders = orders::State::open(store.keyspace("orders"), &actors)?;
        let idempotency = idempotency::State::open(store.keyspace("idempotency"), secret_key)?;
        let (search, indexer) = search::State::open(&config)?;
        let mercato = Mercato {
            inner: Arc::new(Inner {
                source: actors.source.clone(),
                config,
                store,
                gate: Gate::default(),
                runtime: Mutex::new(Some(runtime)),
                catalog,
                inventory,
                deals,
                customers,
                carts,
                checkout,
                payments,
                orders,
                idempotency,
                search,
            }),
        };
        mercato.search().start(indexer)?;
        mercato.inventory().activate_live();
        mercato.deals().activate_live();
        mercato.orders().start_recovery()?;
        mercato.deals().start_background()?;
        mercato.start_sweeper()?;
        mercato.start_renewals()?;
        Ok(mercato)
    }

    /// Deletes state past its retention: remembered idempotent responses
    /// older than 24 h, sessions past their end. Runs every
    /// `Config::sweep_every`; a test on a manual clock calls it directly.
    pub async fn sweep(&self) -> Result<SweepReport, Error> {
        let idle_days = self.config().guest_cart_idle_days;
        let before_day = keys::day(self.now()).saturating_sub(idle_days);
        Ok(SweepReport {
            idempotency_records: self.idempotency().sweep()?,
            sessions: self.customers().sweep().await?,
            guest_carts: self.carts().sweep_idle(before_day).await?,
        })
    }

    fn start_sweeper(&self) -> Result<(), Error> {
        let weak = self.downgrade();
        let every = self.config().sweep_every;
        self.arbiter(true)?.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(mercato) = weak.upgrade() else { return };
                match mercato.sweep().await {
                    Ok(_) | Err(Error::ShuttingDown) => {}
                    Err(err) => tracing::error!(error = %err, "cannot sweep expired state"),
                }
            }
        });
        Ok(())
    }

    /// Charges the Prime renewals due every `Config::renew_every` (each is
    /// also charged when its membership is read; a test on a manual clock
    /// calls `customers().renew_due()` directly).
    fn start_renewals(&self) -> Result<(), Error> {
        let weak = self.downgrade();
        let every = self.config().renew_every;
        self.arbiter(true)?.spawn(async move {
            loop {
                let Some(mercato) = weak.upgrade() else { return };
                match mercato.customers().renew_due().await {
                    Ok(_) | Err(Error::ShuttingDown) => {}
                    Err(err) => tracing::error!(error = %err, "cannot charge the Prime renewals due"),
                }
                drop(mercato);
                tokio::time::sleep(every).await;
            }
        });
        Ok(())
    }

    /// What the open found in the data directory (all invariants held).
    pub fn open_report(&self) -> OpenReport {
        self.inner.inventory.opened()
    }

    /// Whether the engine serves calls (open and not shutting down).
    pub fn is_ready(&self) -> bool {
        self.inner.gate.is_open()
    }

    pub fn catalog(&self) -> Catalog<'_> {
        Catalog::new(self, &self.inner.catalog)
    }

    pub fn inventory(&self) -> Inventory<'_> {
        Inventory::new(self, &self.inner.inventory)
    }

    pub fn deals(&self) -> Deals<'_> {
        Deals::new(self, &self.inner.deals)
    }

    pub fn customers(&self) -> Customers<'_> {
        Customers::new(self, &self.inner.customers)
    }

    pub fn carts(&self) -> Carts<'_> {
        Carts::new(self, &self.inner.carts)
    }

    pub fn checkouts(&self) -> Checkouts<'_> {
        Checkouts::new(self, &self.inner.checkout)
    }

    pub fn payments(&self) -> Payments<'_> {
        Payments::new(self, &self.inner.payments)
    }

    pub fn orders(&self) -> Orders<'_> {
        Orders::new(self, &self.inner.orders)
    }

    pub fn idempotency(&self) -> Idempotency<'_> {
        Idempotency::new(self, &self.inner.idempotency)
    }

    pub fn search(&self) -> Search<'_> {
        Search::new(self, &self.inner.search)
    }

    /// Runs `work` without waiting for its writes to be durable; returns its
    /// output and the ticket to wait for (with [`Mercato::wait_durable`])
    /// before acknowledging anything it did. Lets a caller add its own write
    /// (an idempotency record) to the same flush: one wait instead of two.
    ///
    /// Scopes nest: inside another scope, the work's tickets go to the
    /// outer scope and this one returns `None`, so only the outermost caller
    /// waits, once, for everything.
    pub async fn deferring_durability<F: std::future::Future>(&self, work: F) -> (F::Output, Option<Ticket>) {
        if DEFERRED.try_with(|_| ()).is_ok() {
            return (work.await, None);
        }
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
            Some(ticket) => Ok(self.inner.store.durable(ticket).await?),
            None => Ok(()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn now(&self) -> Timestamp {
        self.inner.source.now()
    }

    /// The engine's one source of time, ids, tokens and salts.
    pub fn source(&self) -> &Source {
        &self.inner.source
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            buckets: self.inner.inventory.actor_stats(),
            carts: self.inner.carts.actor_stats(),
            store: self.inner.store.stats().clone(),
            projections: self.search().projection_stats().map(|stats| ("search", stats)).into_iter().collect(),
        }
    }

    /// Refuses new calls, waits for those in flight (and their flushes),
    /// stops the actors and flushes the store one last time. The data
    /// directory's lock is released when the last clone of the handle drops.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.gate.close_and_drain().await;
        let runner = self.inner.search.take_runner();
        if let Some(runner) = runner {
            tokio::task::spawn_blocking(move || runner.stop())
                .await
                .map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        }
        let runtime = self.inner.runtime.lock().take();
        if let Some(runtime) = runtime {
            tokio::task::spawn_blocking(move || runtime.stop())
                .await
                .map_err(|err| Error::Store(StoreError::Io(err.to_string())))?;
        }
        self.inner.store.close()?;
        Ok(())
    }

    /// Lets a call in, or refuses it once shutdown began.
    pub(crate) fn enter(&self) -> Result<Pass<'_>, Error> {
        self.inner.gate.enter().ok_or(Error::ShuttingDown)
    }

    /// Waits until the reply's ticket is durable, then unwraps its result;
    /// inside [`Mercato::deferring_durability`], records the ticket instead
    /// so that the caller waits once for everything.
    pub(crate) async fn settle<T, E: Into<Error>>(&self, reply: Reply<T, E>) -> Result<T, Error> {
        self.settle_ticket(reply.ticket).await?;
        reply.result.map_err(|failure| match failure {
            Failure::Rejected(rejection) => rejection.into(),
            Failure::Store(err) => Error::Store(err),
        })
    }

    /// Waits until `ticket` is durable, unless a durability scope takes it.
    pub(crate) async fn settle_ticket(&self, ticket: Ticket) -> Result<(), Error> {
        if !defer(ticket) {
            self.inner.store.durable(ticket).await?;
        }
        Ok(())
    }

    /// The arbiter that runs background work of the engine (first or last).
    pub(crate) fn arbiter(&self, last: bool) -> Result<ArbiterHandle, Error> {
        let runtime = self.inner.runtime.lock();
        let handles = runtime.as_ref().map(|runtime| runtime.handles()).ok_or(Error::ShuttingDown)?;
        let handle = if last { handles.last() } else { handles.first() };
        handle.cloned().ok_or(Error::ShuttingDown)
    }

    /// What the search projection reads: the event log and the stock board.
    pub(crate) fn feed(&self) -> Arc<Inner> {
        self.inner.clone()
    }

    /// A handle that does not keep the engine alive (for background loops).
    pub(crate) fn downgrade(&self) -> WeakMercato {
        WeakMercato(Arc::downgrade(&self.inner))
    }
}

impl Log for Inner {
    fn store(&self) -> &Store {
        &self.store
    }
}

impl Feed for Inner {
    fn available(&self, sku: &str) -> u64 {
        Sku::parse(sku).map_or(0, |sku| self.inventory.available(&sku))
    }

    fn availability_changes(&self) -> u64 {
        self.inventory.availability_changes()
    }
}

/// Records `ticket` in the enclosing durability scope; `false` outside one.
pub(crate) fn defer(ticket: Ticket) -> bool {
    DEFERRED.try_with(|cell| cell.set(Some(cell.get().map_or(ticket, |t| t.max(ticket))))).is_ok()
}

/// A weak [`Mercato`]: background loops hold it so that dropping the last
/// handle stops them.
#[derive(Clone)]
pub(crate) struct WeakMercato(Weak<Inner>);

impl WeakMercato {
    pub(crate) fn upgrade(&self) -> Option<Mercato> {
        self.0.upgrade().map(|inner| Mercato { inner })
    }
}

/// What one [`Mercato::sweep`] deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct SweepReport {
    pub idempotency_records: usize,
    pub sessions: usize,
    /// Guest carts deleted after `Config::guest_cart_idle_days` unused.
    pub guest_carts: usize,
}
