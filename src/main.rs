#![recursion_limit = "256"]
//! The `mercato` command: `serve` runs the HTTP server; `check` verifies a
//! data directory.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mercato::engine::rate::RateLimit;
use mercato::http::feeds::StreamLimits;
use mercato::http::limits::ClaimLimitConfig;
use mercato::http::{AppState, ServerConfig, Transport};
use mercato::{Config, Durability, Mercato};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// mimalloc instead of the system allocator: the server allocates for every
/// request, actor message and sled node copy, and glibc's malloc and free
/// were about 15% of its CPU under the checkout load (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "mercato", version, about = "An actor-based, in-memory commerce engine for flash sales")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (demo catalog on an empty data directory).
    Serve(Box<ServeArgs>),
    /// Open a data directory, check every invariant, print a summary.
    Check {
        #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Rebuild the search index of a stopped server from the store and the event log.
    Reindex {
        #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Back up or restore the full state of a stopped server.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotAction {
    /// Write every state record of the data directory to FILE.
    Export {
        file: PathBuf,
        #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Restore FILE into an empty data directory and check every invariant.
    Import {
        file: PathBuf,
        #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[arg(long, env = "MERCATO_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, env = "MERCATO_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// strict (reply after fsync), relaxed (flush every 100 ms) or memory.
    #[arg(long, env = "MERCATO_DURABILITY", default_value = "strict")]
    durability: Durability,
    /// The admin bearer token; a random one is generated and printed if absent.
    #[arg(long, env = "MERCATO_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Start with an empty catalog instead of the demo catalog.
    #[arg(long, conflicts_with = "generated_products")]
    no_demo: bool,
    /// Instead of the demo catalog, load this many products from the seeded
    /// generator (realistic vocabularies, ids from P-1000), for load tests.
    #[arg(long, env = "MERCATO_GENERATED_PRODUCTS")]
    generated_products: Option<usize>,
    /// Actor threads (actix arbiters); default one per core.
    #[arg(long, env = "MERCATO_ARBITERS")]
    arbiters: Option<usize>,
    /// Allows the switches that make a server unfit for real customers
    /// (`--password-cost fast`, `--fraud-rules off`); without it they refuse
    /// to start. Shown in `/health`.
    #[arg(long, env = "MERCATO_LOAD_TEST_MODE")]
    load_test_mode: bool,
    /// Password hashing cost: standard, or fast for load-test servers only
    /// (needs --load-test-mode).
    #[arg(long, env = "MERCATO_PASSWORD_COST", default_value = "standard", value_parser = ["standard", "fast"])]
    password_cost: String,
    /// Fraud rules at checkout: standard, or off (approve every order: for
    /// load-test servers only, whose few customers order thousands of times;
    /// needs --load-test-mode).
    #[arg(long, env = "MERCATO_FRAUD_RULES", default_value = "standard", value_parser = ["standard", "off"])]
    fraud_rules: String,
    /// Deal claims per customer: RATE/BURST (tokens per second / bucket size).
    #[arg(long, env = "MERCATO_CLAIM_LIMIT_CUSTOMER", default_value = "5/10", value_parser = parse_limit)]
    claim_limit_customer: RateLimit,
    /// Deal claims per client address: RATE/BURST.
    #[arg(long, env = "MERCATO_CLAIM_LIMIT_ADDRESS", default_value = "200/400", value_parser = parse_limit)]
    claim_limit_address: RateLimit,
    /// Registrations and sign-ins per client address: RATE/BURST (the
    /// lockout after failed sign-ins, per email and address, stays).
    #[arg(long, env = "MERCATO_AUTH_LIMIT_ADDRESS", default_value = "10/20", value_parser = parse_limit)]
    auth_limit_address: RateLimit,
    /// A bearer token `/metrics` requires (the admin token works too);
    /// without it `/metrics` is open.
    #[arg(long, env = "MERCATO_METRICS_TOKEN")]
    metrics_token: Option<String>,
    /// A proxy (CIDR, e.g. 10.0.0.0/8; repeatable, or comma-separated in the
    /// environment) whose `Forwarded` / `X-Forwarded-For` name the client.
    #[arg(long, env = "MERCATO_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxy: Vec<ipnet::IpNet>,
    /// Seconds a client has to send a request's head; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "MERCATO_HEADER_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, env = "MERCATO_CONNECTIONS_MAX", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    connections_max: u64,
    /// Live-deal event streams per client address.
    #[arg(long, env = "MERCATO_STREAMS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    streams_per_address: u64,
    /// Live-deal event streams in all.
    #[arg(long, env = "MERCATO_STREAMS_MAX", default_value_t = 8_192, value_parser = clap::value_parser!(u64).range(1..))]
    streams_max: u64,
    /// Days a guest cart may go unused before it is deleted (customers'
    /// carts are kept).
    #[arg(long, env = "MERCATO_GUEST_CART_IDLE_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    guest_cart_idle_days: u32,
    /// Price of the monthly Prime plan, in US cents.
    #[arg(long, env = "MERCATO_PRIME_MONTHLY_CENTS", default_value_t = 1_499, value_parser = clap::value_parser!(i64).range(1..=100_000_000))]
    prime_monthly_cents: i64,
    /// Price of the annual Prime plan, in US cents.
    #[arg(long, env = "MERCATO_PRIME_ANNUAL_CENTS", default_value_t = 13_900, value_parser = clap::value_parser!(i64).range(1..=100_000_000))]
    prime_annual_cents: i64,
    /// Log lines as text or as one JSON object per line.
    #[arg(long, env = "MERCATO_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn parse_limit(raw: &str) -> Result<RateLimit, String> {
    let (rate, burst) = raw.split_once('/').ok_or("expected RATE/BURST, e.g. 5/10")?;
    let rate: u64 = rate.trim().parse().map_err(|_| format!("bad rate {rate:?}"))?;
    let burst: u64 = burst.trim().parse().map_err(|_| format!("bad burst {burst:?}"))?;
    if rate == 0 || burst == 0 {
        return Err("rate and burst must be at least 1".to_owned());
    }
    Ok(RateLimit { rate_per_second: rate, burst })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let json_logs = matches!(&cli.command, Command::Serve(args) if args.log_format == "json");
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sled=warn".into()),
        )
        .with_writer(std::io::stderr);
    if json_logs {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Check { data_dir } => check(data_dir),
        Command::Snapshot { action } => snapshot(action),
        Command::Reindex { data_dir } => reindex(data_dir),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let unfit: Vec<&str> =
        [(args.password_cost == "fast", "--password-cost fast"), (args.fraud_rules == "off", "--fraud-rules off")]
            .into_iter()
            .filter_map(|(set, flag)| set.then_some(flag))
            .collect();
    if !unfit.is_empty() && !args.load_test_mode {
        anyhow::bail!(
            "{} make the server unfit for real customers: add --load-test-mode (MERCATO_LOAD_TEST_MODE=true) \
             to run a load-test server",
            unfit.join(" and ")
        );
    }
    if args.load_test_mode {
        tracing::warn!(switches = ?unfit, "load-test mode: this server is not fit for real customers");
    }
    runtime.block_on(async move {
        let mut config = Config::new(&args.data_dir).durability(args.durability);
        config.load_test_mode = args.load_test_mode;
        config.guest_cart_idle_days = args.guest_cart_idle_days;
        config.prime_prices = mercato::engine::membership::PlanPrices {
            monthly: mercato::engine::Money::new(args.prime_monthly_cents, mercato::engine::Currency::USD),
            annual: mercato::engine::Money::new(args.prime_annual_cents, mercato::engine::Currency::USD),
        };
        if let Ok(raw) = std::env::var(mercato::secret::SECRET_KEY_ENV) {
            config.secret_key = Some(mercato::secret::SecretKey::parse_hex(&raw)?);
        }
        if let Some(arbiters) = args.arbiters {
            config.arbiters = arbiters;
        }
        if args.password_cost == "fast" {
            tracing::warn!("fast password hashing: for load tests only, never for real accounts");
            config.password_cost = mercato::PasswordCost::Fast;
        }
        if args.fraud_rules == "off" {
            tracing::warn!("fraud rules off: every order is approved; for load tests only");
            config.fraud = mercato::engine::FraudRules::approve_all();
        }
        let mercato = Mercato::open(config).with_context(|| format!("opening {}", args.data_dir.display()))?;
        let empty = mercato.open_report().buckets == 0 && mercato.catalog().count() == 0;
        if let (true, Some(count)) = (empty, args.generated_products) {
            let started = std::time::Instant::now();
            let loaded =
                mercato::demo::load_generated(&mercato, count, 7).await.context("loading the generated catalog")?;
            tracing::info!(
                warehouses = loaded.warehouses,
                products = loaded.products,
                buckets = loaded.buckets,
                seconds = started.elapsed().as_secs_f64(),
                "generated catalog loaded"
            );
        } else if empty && !args.no_demo {
            let loaded = mercato::demo::load_demo(&mercato).await.context("loading the demo catalog")?;
            tracing::info!(
                warehouses = loaded.warehouses,
                products = loaded.products,
                buckets = loaded.buckets,
                "demo catalog loaded"
            );
        }
        let admin_token = match args.admin_token {
            Some(token) => token,
            None => {
                let token = format!("adm_{:032x}", rand::random::<u128>());
                eprintln!("admin token: {token}");
                token
            }
        };
        let config = ServerConfig {
            limits: ClaimLimitConfig {
                per_customer: args.claim_limit_customer,
                per_address: args.claim_limit_address,
                auth_per_address: args.auth_limit_address,
                ..ClaimLimitConfig::default()
            },
            streams: StreamLimits {
                per_address: usize::try_from(args.streams_per_address)?,
                total: usize::try_from(args.streams_max)?,
            },
            transport: Transport {
                header_timeout: std::time::Duration::from_secs(args.header_timeout),
                connections_max: usize::try_from(args.connections_max)?,
                trusted_proxies: args.trusted_proxy,
                ..Transport::default()
            },
            metrics_token: args.metrics_token.filter(|token| !token.is_empty()),
        };
        let state = AppState::with_config(mercato.clone(), &admin_token, config)?;
        let (addr, server) = mercato::http::bind(state, args.addr, shutdown_signal())
            .with_context(|| format!("binding {}", args.addr))?;
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        server.await;
        tracing::info!("stopped accepting; flushing");
        mercato.shutdown().await?;
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn snapshot(action: SnapshotAction) -> anyhow::Result<()> {
    match action {
        SnapshotAction::Export { file, data_dir } => {
            if !data_dir.exists() {
                anyhow::bail!("data directory {} does not exist", data_dir.display());
            }
            let records = mercato::snapshot::export(&data_dir, &file, &mercato::clock::SystemClock)
                .with_context(|| format!("exporting {}", data_dir.display()))?;
            println!("exported {records} records to {}", file.display());
        }
        SnapshotAction::Import { file, data_dir } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime
                .block_on(mercato::snapshot::import(&file, &data_dir))
                .with_context(|| format!("importing {} into {}", file.display(), data_dir.display()))?;
            println!(
                "imported into {}: {} buckets over {} skus, {} active holds; every invariant holds",
                data_dir.display(),
                report.buckets,
                report.skus,
                report.holds_active
            );
        }
    }
    Ok(())
}

fn reindex(data_dir: PathBuf) -> anyhow::Result<()> {
    if !data_dir.exists() {
        anyhow::bail!("data directory {} does not exist", data_dir.display());
    }
    let index_dir = mercato::search_index_dir(&data_dir);
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir).with_context(|| format!("removing {}", index_dir.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // Opening finds no index and rebuilds it from the catalog and the log.
        let config = Config::new(&data_dir).durability(Durability::Strict);
        let mercato = Mercato::open(config).with_context(|| format!("opening {}", data_dir.display()))?;
        println!(
            "reindexed {}: {} products up to event {}",
            index_dir.display(),
            mercato.search().index().product_count(),
            mercato.search().offset()
        );
        mercato.shutdown().await?;
        Ok(())
    })
}

fn check(data_dir: PathBuf) -> anyhow::Result<()> {
    if !data_dir.exists() {
        anyhow::bail!("data directory {} does not exist", data_dir.display());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let config = Config::new(&data_dir).durability(Durability::Strict);
        let mercato = Mercato::open(config).with_context(|| format!("opening {}", data_dir.display()))?;
        let report = mercato.open_report();
        println!(
            "ok: {} buckets over {} skus, {} active holds, {} settled holds; every invariant holds",
            report.buckets, report.skus, report.holds_active, report.holds_settled
        );
        mercato.shutdown().await?;
        Ok(())
    })
}
