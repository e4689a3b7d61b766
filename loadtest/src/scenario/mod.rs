//! The workloads. Each scenario is a module here, a [`ScenarioKind`] (its name
//! on the command line) and a [`Scenario`] variant (its state after setup).
//!
//! A scenario has two halves: `setup`, run once before the clock starts
//! (discover ids, create carts, size the run), and `next_request`, called for
//! every ticket of the load, which must be cheap and never block. After the
//! load, `checks` turns the tally into pass/fail verdicts.
//!
//! `flash-sale` (claims against one deal) and `checkout` (cart to placed order)
//! are the next scenarios; each will join as a module and a variant here.

pub mod browse;
pub mod cart;
pub mod catalog;

use rand::rngs::StdRng;

use crate::config::RunConfig;
use crate::http::{Request, Target};
use crate::report::Check;
use crate::tally::Tally;

use self::browse::Browse;
use self::cart::Cart;

/// A scenario's name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioKind {
    /// Product reads, searches and suggestions (80/15/5 by default).
    Browse,
    /// Adds one unit to guest carts, round-robin over carts and SKUs.
    Cart,
}

impl ScenarioKind {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Browse => "browse",
            ScenarioKind::Cart => "cart",
        }
    }
}

/// A scenario, set up and ready to produce requests.
#[derive(Debug)]
pub enum Scenario {
    Browse(Browse),
    Cart(Cart),
}

impl Scenario {
    /// Prepares `config.scenario` against the server (untimed).
    pub async fn setup(config: &RunConfig, target: &std::sync::Arc<Target>) -> anyhow::Result<Scenario> {
        match config.scenario {
            ScenarioKind::Browse => Ok(Scenario::Browse(Browse::setup(config, target).await?)),
            ScenarioKind::Cart => Ok(Scenario::Cart(Cart::setup(config, target).await?)),
        }
    }

    /// The request of `ticket`.
    pub fn next_request(&self, ticket: u64, rng: &mut StdRng) -> Request {
        match self {
            Scenario::Browse(browse) => browse.next_request(rng),
            Scenario::Cart(cart) => cart.next_request(ticket),
        }
    }

    /// The most requests the scenario can take without breaking a server limit.
    pub fn requests_max(&self) -> Option<u64> {
        match self {
            Scenario::Browse(_) => None,
            Scenario::Cart(cart) => Some(cart.requests_max()),
        }
    }

    /// The scenario's verdicts on a finished load.
    pub fn checks(&self, tally: &Tally) -> Vec<Check> {
        match self {
            Scenario::Browse(_) => Vec::new(),
            Scenario::Cart(cart) => cart.checks(tally),
        }
    }

    /// One line on what setup found.
    pub fn describe(&self) -> String {
        match self {
            Scenario::Browse(browse) => browse.describe(),
            Scenario::Cart(cart) => cart.describe(),
        }
    }
}
