//! Fulfillment as plain data: where units sit in a warehouse, how far a
//! picker walks to fetch them, and which shipments one walk serves.
//!
//! - [`BinCode`]: a bin's code, `AISLE-BAY-LEVEL` (`A-03-2`), and the walk
//!   order bins are listed in (API.md, Fulfillment).
//! - [`route`]: the walk model (aisles one unit apart, bays one unit apart,
//!   aisles entered only at their front or back, levels free) and the route
//!   optimizer: the shortest walk it finds through a set of bays, never
//!   longer than the serpentine walk.
//! - [`carrier`]: carriers' services, rates and tracking numbers, the
//!   choice of a carrier for a parcel, and delivery estimates.
//! - [`wave`]: a pick list's plan: the oldest ready shipments (Prime first,
//!   never an order on hold), the bins their units are taken from, and the
//!   stops in route order.

mod bins;
pub mod carrier;
pub mod route;
pub mod wave;

pub use bins::{BinCode, BinError};
pub use route::{Layout, Position};
pub use wave::{plan_wave, BinStock, PickPlan, PickStop, ReadyShipment, WaveError};

#[cfg(test)]
mod tests;
