#![recursion_limit = "256"]
//! Mercato: an actor-based, in-memory commerce engine for flash sales.
//!
//! Every SKU inventory bucket and every cart is an actix actor that owns its
//! state in memory; one actor handles one message at a time, so "check stock,
//! then hold it" is atomic without locks. sled is the write-ahead log, with
//! group commit so that durable replies do not cost one fsync each.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mercato::Error> {
//! use mercato::{Config, Mercato, ReserveRequest};
//! use mercato::engine::{BucketKey, Sku, WarehouseId};
//!
//! let mercato = Mercato::open(Config::new("./data"))?;
//! let sku = Sku::parse("P-1001-BLK")?;
//! let bucket = BucketKey::new(sku.clone(), WarehouseId::parse("W-EAST")?);
//! mercato.inventory().set_stock(bucket, mercato::StockUpdate::on_hand(100)).await?;
//! let hold = mercato.inventory().reserve(ReserveRequest::new(sku, 2)).await?;
//! mercato.inventory().commit(&hold.id).await?;
//! mercato.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! Dependencies point down only:
//!
//! - [`http`]: warp routes per domain, each declared once through the route
//!   builder (its filter and its OpenAPI operation), DTOs, auth, limits,
//!   problem+json. It translates and calls the facades; an embedder gets the
//!   same rules.
//! - [`Mercato`] (`mercato.rs`): open, shutdown, readiness, durability
//!   scopes, and one accessor per domain (`mercato.orders()`).
//! - [`domains`]: one module per bounded context (catalog, inventory, deals,
//!   customers, carts, checkout, payments, orders, idempotency), each with
//!   its state owners (actors or small owned structs), its facade, and its
//!   own keyspace of the store: a domain cannot touch another's keys.
//! - [`projections`]: read models fed by the event log through one runner
//!   (stored offset, batches, resume, rebuild, lag): the search index.
//! - [`actors`]: the actor toolkit: registry (activation, passivation,
//!   supervision, sharding over arbiters), the record actor that checkouts
//!   and orders use, expiry timers, the runtime.
//! - [`engine`]: the commerce rules as plain data and pure functions (no
//!   async, no I/O, time passed in).
//! - [`store`]: sled keyspace, per-domain keyspaces, record codec, group
//!   commit, event log, snapshots.
//! - [`search`]: the tantivy product index (analysis, queries, facets,
//!   ranking, spelling, suggest).
//! - [`source`], [`clock`], [`metrics`]: the one source of time and ids,
//!   clocks, and lock-free counters.

pub mod actors;
pub mod clock;
mod config;
pub mod demo;
pub mod domains;
pub mod engine;
mod error;
pub mod generate;
pub mod http;
mod mercato;
pub mod metrics;
pub mod pool;
pub mod projections;
pub mod search;
pub mod secret;
pub mod snapshot;
pub mod source;
pub mod store;

pub use config::{Config, PasswordCost};
pub use domains::carts::CUSTOMER_CART_PREFIX;
pub use domains::deals::{Claimed, DealView, WaitlistSpot};
pub use domains::idempotency::{Claim, Remembered, RunGuard, IDEMPOTENCY_RETENTION_MS};
pub use domains::inventory::{OpenReport, Reservation, ReserveRequest, SkuInventory, StockUpdate, WarehouseInventory};
pub use error::Error;
pub use mercato::{EngineStats, Mercato, SweepReport};
pub use projections::search::index_dir as search_index_dir;
pub use store::Durability;

impl From<engine::IdError> for Error {
    fn from(err: engine::IdError) -> Self {
        Error::InvalidInput(err.to_string())
    }
}
