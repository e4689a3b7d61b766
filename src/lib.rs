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
//! mercato.set_stock(bucket, mercato::StockUpdate::on_hand(100)).await?;
//! let hold = mercato.reserve(ReserveRequest::new(sku, 2)).await?;
//! mercato.commit(&hold.id).await?;
//! mercato.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`engine`]: the commerce rules as plain data and pure functions (no
//!   async, no I/O, time passed in): inventory buckets, carts, money, ids.
//! - [`store`]: sled keyspace, record codec, group commit, event log.
//! - [`actors`]: the registry (activation, passivation, supervision, sharding
//!   over arbiters) and the bucket and cart actors.
//! - [`Mercato`] (this file and `handle/`): the embedding API; the HTTP server
//!   is one caller of it.
//! - [`search`]: the tantivy product index (analysis, queries, facets,
//!   ranking, spelling, suggest), fed from the event log by the projection
//!   thread in `actors/search.rs`.
//! - [`clock`], [`metrics`]: time sources and lock-free counters.

pub mod actors;
pub mod clock;
pub mod demo;
pub mod engine;
pub mod generate;
mod handle;
pub mod http;
pub mod metrics;
pub mod search;
pub mod snapshot;
pub mod store;

pub use handle::search_index_dir;
pub use handle::{
    Claim, Claimed, Config, DealView, EngineStats, Error, Mercato, OpenReport, PasswordCost, Remembered, Reservation,
    ReserveRequest, RunGuard, SkuInventory, StockUpdate, WaitlistSpot, WarehouseInventory, CUSTOMER_CART_PREFIX,
    IDEMPOTENCY_RETENTION_MS,
};
pub use store::Durability;

impl From<engine::IdError> for Error {
    fn from(err: engine::IdError) -> Self {
        Error::InvalidInput(err.to_string())
    }
}
