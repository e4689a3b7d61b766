//! `mercato-loadtest` drives a Mercato server over HTTP and reports what it saw.
//!
//! A run has three phases. **Setup** (untimed) checks that the server answers,
//! discovers or creates what the scenario needs (product ids, SKUs, carts, a
//! deal, signed-in customers) and sizes the run so that it stays inside the
//! server's limits. **Load** (timed) sends requests
//! from a fixed number of connections, either in a closed loop (each connection
//! sends its next request when the previous answer arrives) or in an open loop
//! (requests are due at a constant rate, and latency is measured from when each
//! was due, so a slow server cannot hide its stalls: see [`drive`]). The load is
//! always bounded: by duration, by a request count, and by Ctrl-C. **Report**:
//! outcomes per status code and problem type, throughput, latency percentiles
//! from an HdrHistogram, and the scenario's checks (some read the server's
//! state back after the load), which decide the exit code.
//!
//! The tool speaks only the HTTP contract (API.md), so it drives any Mercato
//! server, local or remote.
//!
//! # Layout
//!
//! - [`config`]: the validated run configuration and its limits.
//! - [`cli`]: command-line flags (clap) turned into a [`config::RunConfig`].
//! - [`http`]: one keep-alive HTTP client per connection; outcomes and problem types.
//! - [`drive`]: the load loop: workers, the open-loop schedule, stopping.
//! - [`embedded`]: `--embedded`, the flash sale against the engine in process.
//! - [`tally`]: what the workers record (latency histogram, outcome counts).
//! - [`scenario`]: the workloads (`browse`, `cart`, `flash-sale`, `checkout`,
//!   `sign-in`), each in its own module.
//! - [`rss`]: `--server-pid`, the server's resident memory during the load.
//! - [`report`]: the summary table, the JSON report and the checks' verdict.
//! - [`hgrm`]: the HdrHistogram percentile distribution in the `.hgrm` text format.
//! - [`progress`]: the live progress bar on stderr.

pub mod cli;
pub mod config;
pub mod drive;
pub mod embedded;
pub mod hgrm;
pub mod http;
pub mod progress;
pub mod report;
pub mod rss;
pub mod scenario;
pub mod tally;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::watch;

use crate::config::RunConfig;
use crate::drive::{Call, Plan, Stop};
use crate::http::{Client, Outcome, Target};
use crate::report::Report;
use crate::scenario::Scenario;

/// Runs one load test: setup, the timed load, then the report.
///
/// `shutdown` ends the load early when it completes (the binary passes Ctrl-C;
/// tests pass a future that never completes). It is only watched during the
/// load: each of setup's requests is bounded by the request timeout.
///
/// A `sign-in` flood with a sale beside it (`config.beside`) sets both up,
/// then runs both loads at once under the same stop; the sale's report is
/// the flood report's `beside`.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Report> {
    config.validate()?;
    if let Some(options) = config.embedded.clone() {
        return embedded::run(config, options, shutdown).await;
    }
    let target = Arc::new(Target::new(&config.url, config.admin_token.clone(), config.timeout)?);
    let progress = config.progress;
    let main = Prepared::setup(config, &target, progress).await.context("setup failed")?;
    let beside = match main.config.beside_sale() {
        Some(sale_config) => Some(
            Prepared::setup(sale_config, &target, progress)
                .await
                .context("setup of the flash sale beside the load failed")?,
        ),
        None => None,
    };

    let memory = main.config.server_pid.map(rss::Sampler::start).transpose()?;
    let (stop, watcher) = stop_on(shutdown);
    let done = Arc::new(AtomicU64::new(0));
    let ticker = progress::Ticker::start(main.config.progress, main.config.duration, Arc::clone(&done));
    let beside_load = async {
        match &beside {
            Some(sale) => Some(sale.drive(&target, stop.clone(), Arc::new(AtomicU64::new(0))).await),
            None => None,
        }
    };
    let (driven, beside_driven) = tokio::join!(main.drive(&target, stop.clone(), done), beside_load);
    watcher.abort();
    ticker.finish();
    let memory = memory.map(rss::Sampler::finish);

    let beside_report = match (beside, beside_driven) {
        (Some(sale), Some(driven)) => Some(sale.report(&target, driven?).await),
        _ => None,
    };
    let driven = driven?;
    let mut findings = main.scenario.findings(&target, &driven, main.setup).await;
    if let Some(memory) = memory {
        findings.figures.extend(memory.figures());
        if let Some(max_mib) = main.config.rss_growth_max_mib {
            findings.checks.push(memory.check(max_mib));
        }
    }
    if let Some(sale) = &beside_report {
        let p99_ms = sale.latency_ms.p99;
        findings.figures.push(report::Figure { name: "flash_sale_p99_ms", value: p99_ms });
        if let Some(max_ms) = main.config.beside.as_ref().and_then(|beside| beside.p99_max_ms) {
            findings.checks.push(report::Check {
                name: "flash-sale-p99",
                passed: sale.requests > 0 && p99_ms <= max_ms,
                detail: format!(
                    "the {} claims beside the load: p99 {p99_ms:.3} ms (at most {max_ms} ms allowed)",
                    sale.requests
                ),
            });
        }
    }
    let mut report = Report::new(&main.config, findings, driven);
    if let Some(sale) = beside_report {
        report.set_beside(sale);
    }
    Ok(report)
}

/// A scenario set up, with its configuration and how long setup took.
struct Prepared {
    config: RunConfig,
    scenario: Arc<Scenario>,
    setup: std::time::Duration,
}

impl Prepared {
    /// Sets `config.scenario` up; with `progress`, says what it made on stderr.
    async fn setup(config: RunConfig, target: &Arc<Target>, progress: bool) -> anyhow::Result<Prepared> {
        let began = Instant::now();
        let scenario = Arc::new(Scenario::setup(&config, target).await?);
        let setup = began.elapsed();
        if progress {
            eprintln!("setup took {:.1} s: {}", setup.as_secs_f64(), scenario.describe());
        }
        Ok(Prepared { config, scenario, setup })
    }

    /// The timed load: one caller per connection, bounded by the run's
    /// duration and request count, by the scenario's own bound, and by `stop`.
    async fn drive(&self, target: &Arc<Target>, stop: Stop, done: Arc<AtomicU64>) -> anyhow::Result<drive::Driven> {
        let config = &self.config;
        let requests_max = match (config.requests, self.scenario.requests_max()) {
            (Some(asked), Some(allowed)) => asked.min(allowed),
            (asked, allowed) => asked.or(allowed).unwrap_or(u64::MAX),
        };
        let plan = Plan {
            pacing: config.pacing,
            workers: config.connections,
            run_for: config.duration,
            requests_max,
            latency_by_status: self.scenario.latency_by_status(),
        };
        let callers: Vec<ScenarioCall> = (0..config.connections)
            .map(|worker| ScenarioCall {
                scenario: Arc::clone(&self.scenario),
                client: Client::new(Arc::clone(target)),
                rng: StdRng::seed_from_u64(worker_seed(config.seed, worker)),
            })
            .collect();
        drive::drive(&plan, callers, stop, done).await
    }

    async fn report(&self, target: &Arc<Target>, driven: drive::Driven) -> Report {
        let findings = self.scenario.findings(target, &driven, self.setup).await;
        Report::new(&self.config, findings, driven)
    }
}

/// A stop that fires when `shutdown` completes, and the task that watches it
/// (to abort once the load is over).
fn stop_on(shutdown: impl Future<Output = ()> + Send + 'static) -> (Stop, tokio::task::JoinHandle<()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let watcher = tokio::spawn(async move {
        shutdown.await;
        // The receiver may be gone already when the run ended first.
        let _ = stop_tx.send(true);
    });
    (Stop::new(stop_rx), watcher)
}

/// The timed load: `callers` driven by `plan`, with the progress bar, ended
/// early when `shutdown` completes.
async fn load<C: drive::Call>(
    config: &RunConfig,
    plan: &Plan,
    callers: Vec<C>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<drive::Driven> {
    let (stop, watcher) = stop_on(shutdown);
    let done = Arc::new(AtomicU64::new(0));
    let ticker = progress::Ticker::start(config.progress, config.duration, Arc::clone(&done));
    let driven = drive::drive(plan, callers, stop, done).await;
    watcher.abort();
    ticker.finish();
    driven
}

/// Each worker draws from its own generator, derived from the run's seed.
fn worker_seed(seed: u64, worker: usize) -> u64 {
    // usize -> u64 is lossless on every supported target.
    seed.wrapping_add(u64::try_from(worker).unwrap_or(u64::MAX).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// One connection's view of the scenario: its client and its random stream.
struct ScenarioCall {
    scenario: Arc<Scenario>,
    client: Client,
    rng: StdRng,
}

impl Call for ScenarioCall {
    async fn call(&mut self, ticket: u64) -> Outcome {
        self.scenario.call(ticket, &self.client, &mut self.rng).await
    }

    async fn follow_up(&mut self, ticket: u64) -> Option<Outcome> {
        self.scenario.follow_up(ticket, &self.client).await
    }
}
