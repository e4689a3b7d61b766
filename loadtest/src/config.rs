//! The run configuration, validated once before anything is sent.
//!
//! Every dimension of a run has a limit: connections, rate, duration and the
//! request timeout. A run is always bounded by its duration, so it cannot run
//! forever even when no request count is given.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::embedded::EmbeddedOptions;
use crate::scenario::browse::Mix;
use crate::scenario::customers::{self, Space};
use crate::scenario::flash_sale::SaleOptions;
use crate::scenario::sign_in::{SaleBeside, SignInOptions};
use crate::scenario::ScenarioKind;

/// Most connections (closed loop) or requests in flight (open loop) of one run.
pub const CONNECTIONS_MAX: usize = 10_000;
/// Highest open-loop arrival rate.
pub const RATE_MAX_PER_S: u64 = 10_000_000;
/// Longest run.
pub const DURATION_MAX: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest wait for one answer (connect, send, whole body).
pub const TIMEOUT_MAX: Duration = Duration::from_secs(10 * 60);
/// An upper bound on what a closed loop can achieve, for sizing a run given
/// only a duration: a bare HTTP server on a small machine answers about
/// 100,000 requests/s, a Mercato write far fewer.
pub const CLOSED_LOOP_RATE_CEILING_PER_S: u64 = 100_000;

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// Each connection sends its next request as soon as the previous answer arrives.
    Closed,
    /// Requests are due at a constant rate, whatever the answers do.
    Open { rate_per_s: u64 },
}

/// Everything a run needs to know.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub scenario: ScenarioKind,
    /// Base URL of the server, `http://host:port`.
    pub url: String,
    /// Sent as `Authorization: Bearer` on the calls that need the admin.
    pub admin_token: Option<String>,
    pub pacing: Pacing,
    /// Connections (closed loop) or the most requests in flight (open loop).
    pub connections: usize,
    pub duration: Duration,
    /// Stop after this many requests, if the duration has not ended the run first.
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub seed: u64,
    /// `browse`: the query file (tab-separated WANDS `query.csv`); `None` picks
    /// the repository's copy, or a built-in list when it is missing.
    pub queries: Option<PathBuf>,
    /// `browse`: draw queries from the catalog generator's vocabularies
    /// (`mercato::generate`, for a server started with `--generated-products`)
    /// instead of a file.
    pub generated_queries: bool,
    /// `browse`: weights of product reads, searches and suggestions.
    pub mix: Mix,
    /// `flash-sale`: customers, the deal, the retried share (also the deal
    /// of a sale run beside a `sign-in` flood).
    pub sale: SaleOptions,
    /// `sign-in`: customers, client addresses, the share of right passwords.
    pub sign_in: SignInOptions,
    /// `sign-in`: the flash-sale claims run beside the flood, if any.
    pub beside: Option<SaleBeside>,
    /// The server's process id, when it runs on this machine: its resident
    /// memory is read at the start of the load, during it and at its end.
    pub server_pid: Option<u32>,
    /// With `server_pid`: a check that the server's resident memory grows by
    /// at most this many MiB during the load.
    pub rss_growth_max_mib: Option<u64>,
    /// Show the live progress bar (also needs stderr to be a terminal).
    pub progress: bool,
    /// Run against the engine in this process instead of `url` (`flash-sale` only).
    pub embedded: Option<EmbeddedOptions>,
}

impl RunConfig {
    /// A closed-loop run with the defaults of the command line.
    pub fn new(scenario: ScenarioKind, url: impl Into<String>) -> Self {
        RunConfig {
            scenario,
            url: url.into(),
            admin_token: None,
            pacing: Pacing::Closed,
            connections: 64,
            duration: scenario.default_duration(),
            requests: None,
            timeout: Duration::from_secs(10),
            seed: 0,
            queries: None,
            generated_queries: false,
            mix: Mix::default(),
            sale: SaleOptions::default(),
            sign_in: SignInOptions::default(),
            beside: None,
            server_pid: None,
            rss_growth_max_mib: None,
            progress: false,
            embedded: None,
        }
    }

    /// Checks every limit; [`crate::run`] calls it before anything is sent.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            (1..=CONNECTIONS_MAX).contains(&self.connections),
            "--connections must be between 1 and {CONNECTIONS_MAX}, got {}",
            self.connections
        );
        if let Pacing::Open { rate_per_s } = self.pacing {
            ensure!(
                (1..=RATE_MAX_PER_S).contains(&rate_per_s),
                "--rate must be between 1 and {RATE_MAX_PER_S} requests/s, got {rate_per_s}"
            );
        }
        ensure!(
            !self.duration.is_zero() && self.duration <= DURATION_MAX,
            "--duration must be above zero and at most {}h",
            DURATION_MAX.as_secs() / 3600
        );
        ensure!(
            !self.timeout.is_zero() && self.timeout <= TIMEOUT_MAX,
            "--timeout must be above zero and at most {}m",
            TIMEOUT_MAX.as_secs() / 60
        );
        if self.requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        if self.embedded.is_some() {
            ensure!(self.scenario == ScenarioKind::FlashSale, "--embedded runs the flash-sale scenario only");
        }
        if self.scenario == ScenarioKind::FlashSale {
            ensure!(
                self.admin_token.is_some() || self.embedded.is_some(),
                "flash-sale needs --admin-token (it stocks the SKU and creates the deal)"
            );
            self.sale.validate()?;
        }
        if self.scenario == ScenarioKind::SignIn {
            self.sign_in.validate()?;
        }
        if let Some(beside) = &self.beside {
            ensure!(self.scenario == ScenarioKind::SignIn, "--flash-sale-rate runs beside the sign-in scenario only");
            ensure!(
                self.admin_token.is_some(),
                "--flash-sale-rate needs --admin-token (the sale stocks the SKU and creates the deal)"
            );
            beside.validate()?;
            let customers = beside.customers(self.duration);
            ensure!(
                customers <= customers::CUSTOMERS_MAX,
                "--flash-sale-rate x --duration asks for {customers} customers, more than {}",
                customers::CUSTOMERS_MAX
            );
            self.sale.validate()?;
        }
        if self.server_pid.is_some() {
            ensure!(self.embedded.is_none(), "--server-pid reads a server's memory: not with --embedded");
        }
        if self.rss_growth_max_mib.is_some() {
            ensure!(self.server_pid.is_some(), "--rss-growth-max-mib needs --server-pid");
        }
        Ok(())
    }

    /// The run of the flash sale beside a `sign-in` flood: an open loop at its
    /// rate over the flood's duration, one customer per claim due in it,
    /// signed up on behalf of addresses of their own.
    pub fn beside_sale(&self) -> Option<RunConfig> {
        let beside = self.beside.as_ref()?;
        let sale = SaleOptions {
            customers: beside.customers(self.duration),
            sign_up_space: Some(Space::SaleSignUp),
            ..self.sale.clone()
        };
        Some(RunConfig {
            scenario: ScenarioKind::FlashSale,
            pacing: Pacing::Open { rate_per_s: beside.rate_per_s },
            connections: beside.connections,
            requests: None,
            seed: self.seed.wrapping_add(1),
            sale,
            beside: None,
            server_pid: None,
            rss_growth_max_mib: None,
            progress: false,
            embedded: None,
            ..self.clone()
        })
    }

    /// The most requests this run can send: the request count, the open-loop
    /// schedule, or for a closed loop what [`CLOSED_LOOP_RATE_CEILING_PER_S`]
    /// would send in the duration. Scenarios size their setup with it.
    pub fn requests_bound(&self) -> u64 {
        let rate_per_s = match self.pacing {
            Pacing::Closed => CLOSED_LOOP_RATE_CEILING_PER_S,
            Pacing::Open { rate_per_s } => rate_per_s,
        };
        let by_time = u128::from(rate_per_s) * self.duration.as_nanos();
        let by_time = u64::try_from(by_time.div_ceil(1_000_000_000)).unwrap_or(u64::MAX);
        self.requests.map_or(by_time, |requests| requests.min(by_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_bound_is_the_smaller_of_the_count_and_the_schedule() {
        let mut config = RunConfig::new(ScenarioKind::Cart, "http://127.0.0.1:1");
        config.pacing = Pacing::Open { rate_per_s: 300 };
        config.duration = Duration::from_millis(1500);
        assert_eq!(config.requests_bound(), 450);
        config.requests = Some(100);
        assert_eq!(config.requests_bound(), 100);
        config.pacing = Pacing::Closed;
        config.requests = None;
        assert_eq!(config.requests_bound(), 150_000);
    }

    #[test]
    fn limits_are_checked() {
        let mut config = RunConfig::new(ScenarioKind::Browse, "http://127.0.0.1:1");
        assert!(config.validate().is_ok());
        config.connections = 0;
        assert!(config.validate().is_err());
        config.connections = 1;
        config.pacing = Pacing::Open { rate_per_s: 0 };
        assert!(config.validate().is_err());
        config.pacing = Pacing::Closed;
        config.duration = Duration::ZERO;
        assert!(config.validate().is_err());
        config.duration = Duration::from_secs(1);
        config.requests = Some(0);
        assert!(config.validate().is_err());
        config.requests = None;
        config.rss_growth_max_mib = Some(200);
        assert!(config.validate().is_err(), "a memory bound needs the server's pid");
        config.server_pid = Some(1);
        assert!(config.validate().is_ok());
        config.beside = Some(SaleBeside { rate_per_s: 10, connections: 4, p99_max_ms: None });
        assert!(config.validate().is_err(), "a sale beside a browse run");
    }

    #[test]
    fn the_sale_beside_a_flood_claims_over_the_flood_duration() {
        let mut config = RunConfig::new(ScenarioKind::SignIn, "http://127.0.0.1:1");
        assert_eq!(config.duration, Duration::from_secs(30));
        assert!(config.beside_sale().is_none());
        config.beside = Some(SaleBeside { rate_per_s: 50, connections: 8, p99_max_ms: Some(50.0) });
        assert!(config.validate().is_err(), "the sale needs the admin token");
        config.admin_token = Some("T".to_owned());
        config.validate().expect("valid");
        let sale = config.beside_sale().expect("a sale beside");
        sale.validate().expect("valid");
        assert_eq!(sale.scenario, ScenarioKind::FlashSale);
        assert_eq!(sale.pacing, Pacing::Open { rate_per_s: 50 });
        assert_eq!((sale.connections, sale.duration), (8, Duration::from_secs(30)));
        assert_eq!(sale.sale.customers, 1_500);
        assert_eq!(sale.sale.sign_up_space, Some(Space::SaleSignUp));
        assert!(sale.beside.is_none() && sale.server_pid.is_none());
    }
}
