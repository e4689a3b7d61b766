//! One validated configuration for the engine.

use crate::clock::{Clock, SystemClock};
use crate::engine::CartLimits;
use crate::store::Durability;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to open a [`crate::Mercato`]. `Config::new(dir)` gives the defaults.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub durability: Durability,
    /// Actor threads (actix arbiters); default one per core.
    pub arbiters: usize,
    pub passivate_after: Duration,
    pub idle_check_every: Duration,
    pub mailbox_capacity: usize,
    pub cart_limits: CartLimits,
    pub reservation_ttl_default_ms: u64,
    pub reservation_ttl_max_ms: u64,
    pub settled_hold_retention_ms: u64,
    /// How long a deal claim holds its units (API.md: 600 s by default).
    pub deal_claim_ttl_ms: u64,
    /// Shards a deal's stock is split over; `None`: one per arbiter.
    pub deal_shards: Option<u32>,
    /// How long a waitlist offer holds its units.
    pub waitlist_offer_ttl_ms: u64,
    /// How often ended deals are checked for unsold units to give back to
    /// their SKU's stock.
    pub deal_close_every: Duration,
    /// How often state past its retention is deleted (remembered
    /// idempotent responses, expired sessions): [`crate::Mercato::sweep`].
    pub sweep_every: Duration,
    /// Days a guest cart may go unused before the sweep deletes it
    /// (customers' carts are never deleted). Default 30.
    pub guest_cart_idle_days: u32,
    pub cache_capacity_bytes: u64,
    /// How expensive password hashing is; `Fast` only for load-test servers.
    pub password_cost: PasswordCost,
    /// The server's secret key (see [`crate::secret`]); `None`: the one in
    /// the data directory, created on first open.
    pub secret_key: Option<crate::secret::SecretKey>,
    /// The server was started for load tests (`--load-test-mode`): shown by
    /// `/health`, so nobody mistakes it for a real store.
    pub load_test_mode: bool,
    /// Tax and shipping rate tables used by checkouts.
    pub pricing: crate::engine::Pricing,
    /// How orders are scored for fraud at place.
    pub fraud: crate::engine::FraudRules,
    /// Search index, ranking weights and projection timing.
    pub search: crate::search::SearchConfig,
    /// Prime plan prices (defaults: monthly 14.99 USD, annual 139.00 USD).
    pub prime_prices: crate::engine::membership::PlanPrices,
    /// How often memberships due for renewal are charged.
    pub renew_every: Duration,
    /// Where time comes from (the system clock unless a test drives it).
    pub clock: Arc<dyn Clock>,
    /// Where ids, tokens and salts come from: the operating system's entropy
    /// when `None`; a seeded generator, repeating from run to run, when set
    /// (tests and simulations only: whoever knows the seed knows every
    /// session token).
    pub seed: Option<u64>,
}

/// The cost of argon2id password hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// The argon2 crate's defaults (19 MiB, 2 passes): for real accounts.
    #[default]
    Standard,
    /// 64 KiB, 1 pass: lets a load test register thousands of customers in
    /// seconds. Never for real accounts.
    Fast,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("durability", &self.durability)
            .field("arbiters", &self.arbiters)
            .field("passivate_after", &self.passivate_after)
            .field("mailbox_capacity", &self.mailbox_capacity)
            .field("cart_limits", &self.cart_limits)
            .finish_non_exhaustive()
    }
}

/// Default hold time of a reservation (API.md: 600 s).
pub const RESERVATION_TTL_DEFAULT_MS: u64 = 600_000;
/// Longest hold time (API.md: 3600 s).
pub const RESERVATION_TTL_MAX_MS: u64 = 3_600_000;

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            durability: Durability::Strict,
            arbiters: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            passivate_after: Duration::from_secs(300),
            idle_check_every: Duration::from_secs(30),
            mailbox_capacity: 1024,
            cart_limits: CartLimits::default(),
            reservation_ttl_default_ms: RESERVATION_TTL_DEFAULT_MS,
            reservation_ttl_max_ms: RESERVATION_TTL_MAX_MS,
            settled_hold_retention_ms: 24 * 3600 * 1000,
            deal_claim_ttl_ms: 600_000,
            waitlist_offer_ttl_ms: 300_000,
            deal_close_every: Duration::from_secs(1),
            sweep_every: Duration::from_secs(60),
            guest_cart_idle_days: 30,
            deal_shards: None,
            cache_capacity_bytes: 256 << 20,
            password_cost: PasswordCost::Standard,
            load_test_mode: false,
            secret_key: None,
            pricing: crate::engine::Pricing::default(),
            fraud: crate::engine::FraudRules::default(),
            search: crate::search::SearchConfig::default(),
            prime_prices: crate::engine::membership::PlanPrices::default(),
            renew_every: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            seed: None,
        }
    }

    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Ids, tokens and salts from `seed` (see [`Config::seed`](Config#structfield.seed)).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the values once, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.arbiters == 0 || self.arbiters > 256 {
            return Err(format!("arbiters must be 1..=256, got {}", self.arbiters));
        }
        if self.mailbox_capacity == 0 {
            return Err("mailbox_capacity must be at least 1".to_owned());
        }
        if self.idle_check_every.is_zero() {
            return Err("idle_check_every must be positive".to_owned());
        }
        let ttl = self.reservation_ttl_default_ms;
        if ttl == 0 || ttl > self.reservation_ttl_max_ms {
            return Err(format!("reservation_ttl_default_ms must be 1..={}", self.reservation_ttl_max_ms));
        }
        self.pricing.validate().map_err(|err| err.to_string())?;
        self.search.validate()?;
        if self.prime_prices.monthly.cents <= 0 || self.prime_prices.annual.cents <= 0 {
            return Err("prime plan prices must be positive".to_owned());
        }
        if self.renew_every.is_zero() {
            return Err("renew_every must be positive".to_owned());
        }
        if self.cart_limits.quantity_per_line_max == 0 || self.cart_limits.lines_max == 0 {
            return Err("cart limits must be positive".to_owned());
        }
        Ok(())
    }
}
