//! Everything a call to the engine can fail with.

use crate::actors::Unavailable;
use crate::domains::carts::actor::CartRejection;
use crate::engine::{CartError, InventoryError, WarehouseId};
use crate::store::StoreError;

/// Everything a call to the engine can fail with.
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
    Secret(#[from] crate::secret::SecretError),
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
    /// A job of a thread pool (password hashing) panicked or found the pool
    /// gone: a bug, never the caller's input.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
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
