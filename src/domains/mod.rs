//! The domains: one module per bounded context, each with its state owners
//! (actors or small owned structs), its writes through its own keyspace of
//! the store, and its facade type, reached from [`crate::Mercato`]
//! (`mercato.orders()`). A domain reaches another only through the other's
//! facade; the compiler holds that line (each domain's state is private to
//! its module) and so does the store (each domain's keyspace refuses every
//! key it does not own, see [`crate::store::OWNERS`]).

pub mod carts;
pub mod catalog;
pub mod checkout;
pub mod customers;
pub mod deals;
pub mod idempotency;
pub mod inventory;
pub mod orders;
pub mod payments;
