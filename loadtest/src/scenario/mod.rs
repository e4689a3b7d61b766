//! The workloads. Each scenario is a module here, a [`ScenarioKind`] (its name
//! on the command line) and a [`Scenario`] variant (its state after setup).
//!
//! A scenario has three parts: `setup`, run once before the clock starts
//! (discover ids, create carts or deals, sign customers in, size the run);
//! `call`, the request(s) of each ticket of the load, which must stay cheap
//! beyond the HTTP exchange itself; and after the load, `findings`: the
//! checks (pass/fail verdicts, which may read the server's state back) and
//! any figures of its own.
//!
//! `checkout` buys two lines per ticket, from cart to placed order, as
//! signed-in shoppers (see [`customers`]). `sign-in` floods the sign-in
//! route with right and wrong passwords from many client addresses.

pub mod browse;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod customers;
pub mod flash_sale;
pub mod sign_in;

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;

use crate::config::RunConfig;
use crate::drive::Driven;
use crate::http::{Client, Outcome, Target};
use crate::report::Findings;

use self::browse::Browse;
use self::cart::Cart;
use self::checkout::CheckoutScenario;
use self::flash_sale::FlashSale;
use self::sign_in::SignIn;

/// A scenario's name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioKind {
    /// Product reads, searches and suggestions (80/15/5 by default).
    Browse,
    /// Adds one unit to guest carts, round-robin over carts and SKUs.
    Cart,
    /// Signed-in customers each claim one unit of one deal; checks it never oversells.
    FlashSale,
    /// Signed-in customers buy 2 lines per ticket: cart -> checkout -> place.
    Checkout,
    /// Sign-ins from many client addresses, right and wrong passwords mixed.
    SignIn,
}

impl ScenarioKind {
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Browse => "browse",
            ScenarioKind::Cart => "cart",
            ScenarioKind::FlashSale => "flash-sale",
            ScenarioKind::Checkout => "checkout",
            ScenarioKind::SignIn => "sign-in",
        }
    }

    /// How long the load runs when `--duration` is not given. A flash sale
    /// ends once every customer has claimed; its bound only caps a slow server
    /// and stays well inside a claim's 10 minutes, so the claims are still
    /// held when they are verified. A sign-in flood runs 30 s.
    pub fn default_duration(self) -> Duration {
        match self {
            ScenarioKind::Browse | ScenarioKind::Cart | ScenarioKind::Checkout => Duration::from_secs(10),
            ScenarioKind::SignIn => Duration::from_secs(30),
            ScenarioKind::FlashSale => Duration::from_secs(5 * 60),
        }
    }
}

/// A scenario, set up and ready to produce requests.
#[derive(Debug)]
pub enum Scenario {
    Browse(Browse),
    Cart(Cart),
    FlashSale(FlashSale),
    Checkout(CheckoutScenario),
    SignIn(SignIn),
}

impl Scenario {
    /// Prepares `config.scenario` against the server (untimed).
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<Scenario> {
        match config.scenario {
            ScenarioKind::Browse => Ok(Scenario::Browse(Browse::setup(config, target).await?)),
            ScenarioKind::Cart => Ok(Scenario::Cart(Cart::setup(config, target).await?)),
            ScenarioKind::FlashSale => Ok(Scenario::FlashSale(FlashSale::setup(config, target).await?)),
            ScenarioKind::Checkout => Ok(Scenario::Checkout(CheckoutScenario::setup(config, target).await?)),
            ScenarioKind::SignIn => Ok(Scenario::SignIn(SignIn::setup(config, target).await?)),
        }
    }

    /// Sends the request of `ticket`.
    pub async fn call(&self, ticket: u64, client: &Client, rng: &mut StdRng) -> Outcome {
        match self {
            Scenario::Browse(browse) => client.call(&browse.next_request(rng)).await,
            Scenario::Cart(cart) => client.call(&cart.next_request(ticket)).await,
            Scenario::FlashSale(sale) => sale.claim(ticket, client).await,
            Scenario::Checkout(checkout) => checkout.buy(ticket, client).await,
            Scenario::SignIn(sign_in) => sign_in.attempt(ticket, client, rng).await,
        }
    }

    /// Sends the follow-up of `ticket` (a `flash-sale` retry), if it has one.
    pub async fn follow_up(&self, ticket: u64, client: &Client) -> Option<Outcome> {
        match self {
            Scenario::Browse(_) | Scenario::Cart(_) | Scenario::Checkout(_) | Scenario::SignIn(_) => None,
            Scenario::FlashSale(sale) => sale.retry(ticket, client).await,
        }
    }

    /// The most tickets the scenario can take: a server limit (`cart`), or the
    /// end of its work (`flash-sale`: one claim per customer).
    pub fn requests_max(&self) -> Option<u64> {
        match self {
            Scenario::Browse(_) | Scenario::Checkout(_) | Scenario::SignIn(_) => None,
            Scenario::Cart(cart) => Some(cart.requests_max()),
            Scenario::FlashSale(sale) => Some(sale.requests_max()),
        }
    }

    /// Whether the report splits latency by HTTP status (`flash-sale`: 201
    /// vs 409; `sign-in`: 200, 401 and 429).
    pub fn latency_by_status(&self) -> bool {
        matches!(self, Scenario::FlashSale(_) | Scenario::SignIn(_))
    }

    /// The scenario's verdicts on a finished load, and its own figures.
    pub async fn findings(&self, target: &Arc<Target>, driven: &Driven, setup: Duration) -> Findings {
        let (checks, figures) = match self {
            Scenario::Browse(_) => (Vec::new(), Vec::new()),
            Scenario::Cart(cart) => (cart.checks(&driven.tally), Vec::new()),
            Scenario::FlashSale(sale) => sale.verify(target, driven).await,
            Scenario::Checkout(checkout) => checkout.verify(target, driven).await,
            Scenario::SignIn(sign_in) => sign_in.verify(driven),
        };
        Findings { workload: self.describe(), setup, checks, figures }
    }

    /// One line on what setup found.
    pub fn describe(&self) -> String {
        match self {
            Scenario::Browse(browse) => browse.describe(),
            Scenario::Cart(cart) => cart.describe(),
            Scenario::FlashSale(sale) => sale.describe(),
            Scenario::Checkout(checkout) => checkout.describe(),
            Scenario::SignIn(sign_in) => sign_in.describe(),
        }
    }
}
