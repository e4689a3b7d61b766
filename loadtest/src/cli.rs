//! Command-line flags, parsed by clap and turned into a [`RunConfig`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use mercato::Durability;

use crate::config::{Pacing, RunConfig};
use crate::embedded::EmbeddedOptions;
use crate::scenario::browse::Mix;
use crate::scenario::flash_sale::SaleOptions;
use crate::scenario::sign_in::{SaleBeside, SignInOptions};
use crate::scenario::ScenarioKind;

/// Drive a Mercato server over HTTP and report throughput, outcomes and latency.
///
/// Closed loop by default (`--connections`); `--rate` switches to an open loop
/// at a constant arrival rate, with latency measured from when each request
/// was due. Exit code: 0 when the checks pass, 1 when they fail, 2 on errors
/// (server unreachable, bad flags, setup failed).
#[derive(Debug, Parser)]
#[command(name = "mercato-loadtest", version)]
pub struct Cli {
    /// The workload to run.
    #[arg(value_enum)]
    pub scenario: ScenarioKind,

    /// Base URL of the server.
    #[arg(long, env = "MERCATO_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// Admin token, for scenarios that need admin calls.
    #[arg(long, env = "MERCATO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Connections (closed loop), or the most requests in flight (open loop).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,

    /// Open loop: requests per second, sent on a fixed schedule.
    #[arg(long)]
    pub rate: Option<u64>,

    /// How long the load runs at most (`10s`, `500ms`, `2m`) [default: 10s;
    /// sign-in: 30s; flash-sale: 5m, and it ends sooner, once every customer
    /// has claimed].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many requests if the duration has not ended the run first.
    #[arg(long)]
    pub requests: Option<u64>,

    /// Longest wait for one answer; a request over it counts as a `timeout`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Write the latency distribution in HdrHistogram's `.hgrm` format to this file.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,

    /// `browse`: queries for search and suggest (WANDS `query.csv`, tab-separated).
    #[arg(long)]
    pub queries: Option<PathBuf>,

    /// `browse`: draw queries from the catalog generator's vocabularies, for a
    /// server started with `mercato serve --generated-products N`.
    #[arg(long, conflicts_with = "queries")]
    pub generated_queries: bool,

    /// `browse`: weights of product reads, searches and suggestions.
    #[arg(long, default_value = "products=80,search=15,suggest=5", value_parser = parse_mix)]
    pub mix: Mix,

    /// Customers registered at setup [flash-sale: each claims one unit once,
    /// default 10000; sign-in: whose passwords the flood tries, default 1000].
    #[arg(long)]
    pub customers: Option<u64>,

    /// `sign-in`: client addresses the sign-ins come from (`X-Forwarded-For`
    /// 10.0.0.0 and up; the server must trust this machine: `--trusted-proxy`).
    #[arg(long, default_value_t = SignInOptions::default().addresses)]
    pub addresses: u64,

    /// `sign-in`: one attempt in this many has the right password.
    #[arg(long, default_value_t = SignInOptions::default().right_one_in)]
    pub right_one_in: u64,

    /// `sign-in`: run flash-sale claims beside the flood, against the same
    /// server, at this many claims per second (open loop) for the flood's
    /// duration; one customer per claim (needs --admin-token). The deal flags
    /// (--deal-quantity, ...) apply to its deal.
    #[arg(long)]
    pub flash_sale_rate: Option<u64>,

    /// `--flash-sale-rate`: most claims in flight.
    #[arg(long, default_value_t = 64, requires = "flash_sale_rate")]
    pub flash_sale_connections: usize,

    /// `--flash-sale-rate`: check that the claims' p99 latency stays at or below this.
    #[arg(long, requires = "flash_sale_rate")]
    pub claim_p99_max_ms: Option<f64>,

    /// The server's process id, when it runs on this machine: its resident
    /// memory (VmRSS in /proc/PID/status) is read at the start of the load,
    /// every 100 ms during it and at its end, and reported.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// `--server-pid`: check that the server's resident memory grows by at
    /// most this many MiB during the load (its peak over its start).
    #[arg(long, requires = "server_pid")]
    pub rss_growth_max_mib: Option<u64>,

    /// `flash-sale`: units of the deal created at setup.
    #[arg(long, default_value_t = 5_000)]
    pub deal_quantity: u64,

    /// `flash-sale`: units one customer may claim from the deal created at setup.
    #[arg(long, default_value_t = 1)]
    pub per_customer_limit: u64,

    /// `flash-sale`: share of claims sent twice with the same Idempotency-Key (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    pub retry_share: f64,

    /// `flash-sale`: the deal's SKU [default: the first variant of the demo catalog's first product].
    #[arg(long)]
    pub sku: Option<String>,

    /// `flash-sale`: claim from this existing deal instead of creating one.
    #[arg(long)]
    pub deal_id: Option<String>,

    /// Seed of the random choices (printed in the report; random when absent).
    #[arg(long)]
    pub seed: Option<u64>,

    /// No progress bar (it is also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// `flash-sale`: run the engine in this process instead of calling `--url`
    /// (no HTTP: what the engine alone does).
    #[arg(long)]
    pub embedded: bool,

    /// `--embedded`: durability of the engine (strict, relaxed or memory).
    #[arg(long, default_value = "strict", requires = "embedded")]
    pub durability: Durability,

    /// `--embedded`: the engine's data directory [default: a fresh temporary one, removed after].
    #[arg(long, requires = "embedded")]
    pub data_dir: Option<PathBuf>,

    /// `--embedded`: actor threads [default: one per core].
    #[arg(long, requires = "embedded")]
    pub arbiters: Option<usize>,

    /// `--embedded`: shards of the deal's stock [default: one per actor thread].
    #[arg(long, requires = "embedded")]
    pub deal_shards: Option<u32>,
}

impl Cli {
    /// The run configuration, validated.
    pub fn to_config(&self) -> anyhow::Result<RunConfig> {
        let config = RunConfig {
            scenario: self.scenario,
            url: self.url.clone(),
            admin_token: self.admin_token.clone(),
            pacing: self.rate.map_or(Pacing::Closed, |rate_per_s| Pacing::Open { rate_per_s }),
            connections: self.connections,
            duration: self.duration.unwrap_or_else(|| self.scenario.default_duration()),
            requests: self.requests,
            timeout: self.timeout,
            seed: self.seed.unwrap_or_else(rand::random),
            queries: self.queries.clone(),
            generated_queries: self.generated_queries,
            mix: self.mix,
            sale: SaleOptions {
                customers: self
                    .customers
                    .filter(|_| self.scenario != ScenarioKind::SignIn)
                    .unwrap_or(SaleOptions::default().customers),
                deal_quantity: self.deal_quantity,
                per_customer_limit: self.per_customer_limit,
                retry_share: self.retry_share,
                sku: self.sku.clone(),
                deal_id: self.deal_id.clone(),
                sign_up_space: None,
            },
            sign_in: SignInOptions {
                customers: self
                    .customers
                    .filter(|_| self.scenario == ScenarioKind::SignIn)
                    .unwrap_or(SignInOptions::default().customers),
                addresses: self.addresses,
                right_one_in: self.right_one_in,
            },
            beside: self.flash_sale_rate.map(|rate_per_s| SaleBeside {
                rate_per_s,
                connections: self.flash_sale_connections,
                p99_max_ms: self.claim_p99_max_ms,
            }),
            server_pid: self.server_pid,
            rss_growth_max_mib: self.rss_growth_max_mib,
            progress: !self.no_progress,
            embedded: self.embedded.then(|| EmbeddedOptions {
                durability: self.durability,
                data_dir: self.data_dir.clone(),
                arbiters: self.arbiters,
                deal_shards: self.deal_shards,
            }),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Parses `500ms`, `10s`, `2m` or `1h`: a whole number and a unit.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let text = raw.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let expected = || format!("expected a duration like 500ms, 10s or 2m, got {raw:?}");
    let amount: u64 = number.parse().map_err(|_| expected())?;
    let seconds = |factor: u64| amount.checked_mul(factor).map(Duration::from_secs).ok_or_else(expected);
    match unit {
        "ms" => Ok(Duration::from_millis(amount)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        _ => Err(expected()),
    }
}

/// Parses `products=80,search=15,suggest=5` (any order; a missing kind weighs 0).
pub fn parse_mix(raw: &str) -> Result<Mix, String> {
    let mut mix = Mix { products: 0, search: 0, suggest: 0 };
    for part in raw.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let (kind, weight) = part.split_once('=').ok_or_else(|| format!("expected kind=weight, got {part:?}"))?;
        let weight: u32 = weight.trim().parse().map_err(|_| format!("bad weight in {part:?}"))?;
        match kind.trim() {
            "products" => mix.products = weight,
            "search" => mix.search = weight,
            "suggest" => mix.suggest = weight,
            other => return Err(format!("unknown kind {other:?}: expected products, search or suggest")),
        }
    }
    mix.validate()?;
    Ok(mix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "10", "s", "1.5s", "-1s", "10 parsecs", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn the_mix_names_each_kind_once() {
        assert_eq!(parse_mix("products=80,search=15,suggest=5"), Ok(Mix::default()));
        assert_eq!(parse_mix("search=1"), Ok(Mix { products: 0, search: 1, suggest: 0 }));
        assert!(parse_mix("products=0").is_err());
        assert!(parse_mix("carts=5").is_err());
        assert!(parse_mix("products").is_err());
    }

    #[test]
    fn the_command_line_becomes_a_config() {
        let cli = Cli::try_parse_from([
            "mercato-loadtest",
            "cart",
            "--url",
            "http://127.0.0.1:9",
            "--rate",
            "500",
            "--duration",
            "2m",
            "--seed",
            "7",
        ])
        .expect("parses");
        let config = cli.to_config().expect("valid");
        assert_eq!(config.scenario, ScenarioKind::Cart);
        assert_eq!(config.pacing, Pacing::Open { rate_per_s: 500 });
        assert_eq!(config.duration, Duration::from_secs(120));
        assert_eq!(config.connections, 64);
        assert_eq!(config.seed, 7);
        assert!(Cli::try_parse_from(["mercato-loadtest", "teleport"]).is_err());
    }

    #[test]
    fn a_flash_sale_needs_the_admin_token_and_runs_until_every_customer_claimed() {
        let sale = |extra: &[&str]| {
            let mut args = vec!["mercato-loadtest", "flash-sale", "--url", "http://127.0.0.1:9"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).expect("parses").to_config()
        };
        assert!(sale(&[]).is_err(), "no admin token");
        let config = sale(&["--admin-token", "T", "--customers", "300", "--retry-share", "0.1"]).expect("valid");
        assert_eq!(config.scenario, ScenarioKind::FlashSale);
        assert_eq!(config.duration, Duration::from_secs(300));
        assert_eq!((config.sale.customers, config.sale.deal_quantity, config.sale.per_customer_limit), (300, 5_000, 1));
        assert_eq!(config.sale.retry_share, 0.1);
        assert!(sale(&["--admin-token", "T", "--retry-share", "1.5"]).is_err());
        assert!(sale(&["--admin-token", "T", "--customers", "0"]).is_err());
        assert!(sale(&["--admin-token", "T", "--deal-quantity", "0"]).is_err());
        let embedded = sale(&["--embedded", "--durability", "memory"]).expect("no admin token needed in process");
        assert_eq!(embedded.embedded.map(|options| options.durability), Some(Durability::Memory));
        assert!(Cli::try_parse_from(["mercato-loadtest", "cart", "--embedded"]).expect("parses").to_config().is_err());
        assert!(Cli::try_parse_from(["mercato-loadtest", "cart", "--durability", "memory"]).is_err());
        let browse = Cli::try_parse_from(["mercato-loadtest", "browse"]).expect("parses").to_config().expect("valid");
        assert_eq!(browse.duration, Duration::from_secs(10));
    }

    #[test]
    fn a_sign_in_flood_takes_its_own_customers_and_a_sale_beside() {
        let flood = |extra: &[&str]| {
            let mut args = vec!["mercato-loadtest", "sign-in", "--url", "http://127.0.0.1:9"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).expect("parses").to_config()
        };
        let config = flood(&[]).expect("valid without an admin token");
        assert_eq!(config.scenario, ScenarioKind::SignIn);
        assert_eq!(config.duration, Duration::from_secs(30));
        assert_eq!(config.sign_in, SignInOptions::default());
        assert!(config.beside.is_none());
        let config = flood(&["--customers", "50", "--addresses", "300", "--right-one-in", "4", "--server-pid", "7"])
            .expect("valid");
        assert_eq!(config.sign_in, SignInOptions { customers: 50, addresses: 300, right_one_in: 4 });
        assert_eq!(config.sale.customers, SaleOptions::default().customers, "--customers is the flood's");
        assert_eq!(config.server_pid, Some(7));
        assert!(flood(&["--addresses", "0"]).is_err());
        assert!(flood(&["--flash-sale-rate", "100"]).is_err(), "the sale needs the admin token");
        let config =
            flood(&["--admin-token", "T", "--flash-sale-rate", "100", "--claim-p99-max-ms", "50"]).expect("valid");
        let beside = config.beside.clone().expect("a sale beside");
        assert_eq!((beside.rate_per_s, beside.connections, beside.p99_max_ms), (100, 64, Some(50.0)));
        assert_eq!(config.beside_sale().expect("sale").sale.customers, 3_000);
        assert!(Cli::try_parse_from(["mercato-loadtest", "sign-in", "--claim-p99-max-ms", "50"]).is_err());
        assert!(Cli::try_parse_from(["mercato-loadtest", "sign-in", "--rss-growth-max-mib", "200"]).is_err());
        let sale = Cli::try_parse_from(["mercato-loadtest", "flash-sale", "--admin-token", "T", "--customers", "9"])
            .expect("parses")
            .to_config()
            .expect("valid");
        assert_eq!((sale.sale.customers, sale.sign_in.customers), (9, SignInOptions::default().customers));
    }
}
