//! The integration tests: one binary, one module per subject, one shared
//! in-process app (`common::app`) and the shared helpers in `common`.
//!
//! Run one subject with `cargo test --test it <module>::`, for example
//! `cargo test --test it checkout::`.

mod common;
/// The relevance evaluation's code, shared with `examples/homedepot_eval.rs`.
#[path = "../../examples/homedepot/relevance.rs"]
mod homedepot_relevance;

mod carts;
mod catalog_model;
mod checkout;
mod checkout_crash;
mod crash;
mod deal_crash;
mod deal_inventory;
mod deal_model;
mod deals;
mod engine_model;
mod http;
mod membership;
mod orders;
mod relevance;
mod reopen_model;
mod reservations;
mod search;
mod security;
mod server_process;
mod simulation;
mod snapshot;
mod store_crash;
