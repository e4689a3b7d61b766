//! The commerce rules as plain data and pure functions.
//!
//! Nothing in this module does I/O, spawns tasks, reads a clock or draws random
//! numbers: time (`now`) and randomness (for ids) are passed in. Every operation
//! returns the events it produced, and every aggregate can check its own
//! invariants (`check_invariants`), which tests run after every step.

pub mod address;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod customer;
pub mod deal;
pub mod fulfillment;
pub mod hold;
pub mod ids;
pub mod inventory;
pub mod lockout;
pub mod membership;
pub mod money;
pub mod order;
pub mod payment;
pub mod pricing;
pub mod rate;
pub mod saga;
pub mod split_map;
pub mod time;
pub mod waitlist;
pub mod warehouse;

pub use address::{Address, AddressError, AddressInput};
pub use cart::{Cart, CartError, CartEvent, CartLimits, CartLine, CartList};
pub use catalog::{
    Catalog, CatalogError, CatalogEvent, CategoryNode, CategoryPath, Product, ProductDraft, ProductPatch, TaxCategory,
    Variant, VariantPatch,
};
pub use checkout::{
    apply_claims, Checkout, CheckoutError, CheckoutEvent, CheckoutLine, CheckoutStep, ClaimUse, CurrentPrices,
    HeldClaim, PaymentChoice, PriceChange,
};
pub use customer::{Customer, CustomerError, Email, Membership, Plan, Role, Session};
pub use hold::{Claimant, Hold, HoldError, HoldLedger, HoldStatus};
pub use ids::{
    hex_lower, AuthorizationId, BucketKey, CardToken, CartId, CheckoutId, CustomerId, DealId, GiftCardCode, IdError,
    OrderId, PaymentId, ProductId, ReservationId, SellerId, ShipmentId, Sku, WarehouseId,
};
pub use inventory::{Bucket, BucketCounters, InventoryCounts, InventoryError, InventoryEvent};
pub use money::{Currency, Money, MoneyError};
pub use order::{
    plan_shipments, Order, OrderAction, OrderDraft, OrderError, OrderEvent, OrderLine, OrderStatus, ShipmentPlan,
};
pub use payment::{
    CardInput, CardRecord, FraudDecision, FraudHistory, FraudRules, GiftCardLedger, PaymentError, PaymentGateway,
    PaymentPlan, SimulatedGateway,
};
pub use pricing::{Pricing, PricingError, Quote, QuoteContext, ShippingOption, Totals};
pub use saga::{PlaceOrderSaga, SagaAction, SagaOutcome, SagaStep};
pub use time::Timestamp;
pub use warehouse::{GeoPoint, Warehouse, WarehouseError};

/// A broken invariant: a bug, never a business rejection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant {name} violated: {detail}")]
pub struct InvariantViolation {
    /// Stable name of the invariant, cited by tests (e.g. `ledger.held_matches_holds`).
    pub name: &'static str,
    pub detail: String,
}

/// An entry of the event log: what projections (search, recommendations,
/// notifications) consume.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DomainEvent {
    /// A change to a bucket's counters (commit, ship, stock changes).
    Inventory { bucket: BucketKey, event: InventoryEvent, at: Timestamp },
    /// A product created or changed (the whole product after the change).
    Catalog { event: CatalogEvent, at: Timestamp },
    /// An order placed or changed (appended last: earlier encodings stay valid).
    Order { order: OrderId, event: Box<OrderEvent>, at: Timestamp },
}
