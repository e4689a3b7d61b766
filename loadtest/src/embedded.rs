//! `--embedded`: the `flash-sale` stampede against the engine in this process,
//! without HTTP, to tell the engine's cost from the HTTP server's.
//!
//! Setup opens a [`Mercato`] on a fresh directory (removed afterwards) with
//! the asked durability, stocks one SKU and creates the deal (started a minute
//! ago). The load is the HTTP scenario's: ticket k is customer k's one claim
//! of one unit; for a seeded share of the customers the claim is sent again
//! right after the first answer. Without HTTP there is no `Idempotency-Key`,
//! so the second claim is a second attempt by the same customer and must be
//! refused (`limit-exceeded`, or `sold-out` once the deal's flag is up).
//!
//! Each answer is counted as the HTTP server would have answered it (the same
//! status and problem type, through the server's own error mapping), so the
//! report reads like an HTTP run's. The checks: exactly the deal's quantity
//! claimed when demand exceeds it (never more in any case), no customer above
//! the limit, every second attempt refused, and the deal's own counts
//! (`remaining + held + sold == quantity`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use mercato::engine::deal::{DealError, DealTerms};
use mercato::engine::{
    BucketKey, CategoryPath, Currency, CustomerId, DealId, Money, ProductDraft, ProductId, Sku, Timestamp, WarehouseId,
};
use mercato::http::error::Problem;
use mercato::{Config, Durability, Error, Mercato};

use crate::config::RunConfig;
use crate::drive::{Call, Driven, Plan};
use crate::http::Outcome;
use crate::report::{Check, Figure, Findings, Report};
use crate::scenario::ScenarioKind;

/// How the in-process engine is opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    pub durability: Durability,
    /// Where the store lives; `None`: a fresh directory under the system's
    /// temporary directory, removed after the run.
    pub data_dir: Option<PathBuf>,
    /// Actor threads (`None`: the engine's default, one per core).
    pub arbiters: Option<usize>,
    /// Shards of the deal's stock (`None`: one per arbiter).
    pub deal_shards: Option<u32>,
}

/// The SKU the embedded deal sells.
const SKU: &str = "LOADTEST-DEAL";
const WAREHOUSE: &str = "W-LOADTEST";
/// The claim's answer when it succeeds, as the HTTP route would send it.
const CREATED: u16 = 201;

/// Runs the `flash-sale` stampede in process: setup, the timed load, the report.
pub async fn run(
    config: RunConfig,
    options: EmbeddedOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Report> {
    ensure!(config.scenario == ScenarioKind::FlashSale, "--embedded runs the flash-sale scenario only");
    let scratch = match &options.data_dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("mercato-loadtest-").tempdir().context("temporary directory")?),
    };
    let dir = options.data_dir.clone().or_else(|| scratch.as_ref().map(|dir| dir.path().to_path_buf()));
    let dir = dir.context("no data directory")?;

    let setup_began = Instant::now();
    let mut engine = Config::new(&dir).durability(options.durability);
    if let Some(arbiters) = options.arbiters {
        engine.arbiters = arbiters;
    }
    engine.deal_shards = options.deal_shards;
    let mercato = Mercato::open(engine).context("opening the engine")?;
    let sale = Arc::new(Sale::setup(&mercato, &config).await?);
    let setup = setup_began.elapsed();
    if config.progress {
        eprintln!("setup took {:.1} s: {}", setup.as_secs_f64(), sale.describe());
    }

    let requests_max = config.requests.unwrap_or(u64::MAX).min(sale.customers());
    let plan = Plan {
        pacing: config.pacing,
        workers: config.connections,
        run_for: config.duration,
        requests_max,
        latency_by_status: true,
    };
    let callers: Vec<Claimer> = (0..config.connections).map(|_| Claimer { sale: Arc::clone(&sale) }).collect();
    let driven = crate::load(&config, &plan, callers, shutdown).await?;

    let (checks, figures) = sale.verify(&driven).await;
    let findings = Findings { workload: sale.describe(), setup, checks, figures };
    let mut shown = config.clone();
    shown.url = format!("the embedded engine ({} durability)", options.durability.as_str());
    let report = Report::new(&shown, findings, driven);
    mercato.shutdown().await.context("shutting the engine down")?;
    drop(scratch);
    Ok(report)
}

/// The deal being claimed and what the load saw.
struct Sale {
    mercato: Mercato,
    deal: DealId,
    quantity: u64,
    limit: u32,
    customers: Vec<CustomerId>,
    /// Customer k's granted units, counted as the answers arrive.
    granted: Vec<AtomicU32>,
    /// Customer k gets a second attempt when `retry_below > hash(k)`.
    retry_below: u64,
    seed: u64,
    /// Second attempts that were granted: each one is a limit violation.
    second_granted: AtomicU64,
    second_sent: AtomicU64,
    sold_out_answers: AtomicU64,
}

impl Sale {
    async fn setup(mercato: &Mercato, config: &RunConfig) -> anyhow::Result<Sale> {
        let options = &config.sale;
        let quantity = u32::try_from(options.deal_quantity).context("--deal-quantity is too large")?;
        let limit = u32::try_from(options.per_customer_limit).context("--per-customer-limit is too large")?;
        let sku = Sku::parse(SKU)?;
        let bucket = BucketKey::new(sku.clone(), WarehouseId::parse(WAREHOUSE)?);
        let product = ProductDraft::single(
            ProductId::parse("P-LOADTEST")?,
            "Load test deal",
            CategoryPath::parse(vec!["Deals".to_owned()])?,
            sku.clone(),
            Money::new(100, Currency::USD),
        );
        mercato.catalog().upsert_products(vec![product]).await.context("listing the deal's SKU")?.remove(0)?;
        mercato.inventory().restock(&bucket, u64::from(quantity)).await.context("stocking the deal's SKU")?;
        let now = mercato.now();
        let terms = DealTerms {
            id: DealId::parse(&format!("deal_loadtest_{}", config.seed))?,
            sku,
            price: Money::new(100, Currency::USD),
            quantity,
            starts_at: Timestamp::from_millis(now.as_millis().saturating_sub(60_000)),
            ends_at: now.plus_millis(3_600_000),
            per_customer_limit: limit,
            prime_early_access_ms: 0,
            claim_ttl_ms: None,
        };
        let deal = mercato.deals().create(terms).await.context("creating the deal")?.terms.id.clone();
        let customers = (0..options.customers)
            .map(|n| CustomerId::parse(&format!("cus_loadtest_{n}")))
            .collect::<Result<Vec<_>, _>>()?;
        let granted = customers.iter().map(|_| AtomicU32::new(0)).collect();
        // retry_share is validated to 0..=1; the product fits u64 by construction.
        let retry_below = (options.retry_share * u64::MAX as f64) as u64;
        Ok(Sale {
            mercato: mercato.clone(),
            deal,
            quantity: u64::from(quantity),
            limit,
            customers,
            granted,
            retry_below,
            seed: config.seed,
            second_granted: AtomicU64::new(0),
            second_sent: AtomicU64::new(0),
            sold_out_answers: AtomicU64::new(0),
        })
    }

    fn customers(&self) -> u64 {
        u64::try_from(self.customers.len()).unwrap_or(u64::MAX)
    }

    fn describe(&self) -> String {
        format!(
            "deal {} of {} units, limit {} per customer, {} customers",
            self.deal,
            self.quantity,
            self.limit,
            self.customers.len()
        )
    }

    fn retries(&self, ticket: u64) -> bool {
        mix(ticket ^ self.seed) < self.retry_below
    }

    /// Customer `ticket` claims one unit; a granted unit is counted to them.
    async fn claim(&self, ticket: u64) -> (Outcome, bool) {
        let index = usize::try_from(ticket).unwrap_or(usize::MAX);
        let (Some(customer), Some(units)) = (self.customers.get(index), self.granted.get(index)) else {
            return (Outcome::Answered { status: 400, problem: Some("no such customer".to_owned()) }, false);
        };
        match self.mercato.deals().claim(&self.deal, customer, 1, false).await {
            Ok(_) => {
                units.fetch_add(1, Ordering::Relaxed);
                (Outcome::Answered { status: CREATED, problem: None }, true)
            }
            Err(err) => {
                if matches!(err, Error::Deal(DealError::SoldOut)) {
                    self.sold_out_answers.fetch_add(1, Ordering::Relaxed);
                }
                (refused(err), false)
            }
        }
    }

    async fn verify(&self, driven: &Driven) -> (Vec<Check>, Vec<Figure>) {
        let granted: u64 = self.granted.iter().map(|units| u64::from(units.load(Ordering::Relaxed))).sum();
        let above = self.granted.iter().filter(|units| units.load(Ordering::Relaxed) > self.limit).count();
        let claimed = driven.tally.requests;
        let demand_exceeds =
            self.customers() > self.quantity && claimed >= self.customers() && driven.tally.failed() == 0;
        let mut checks = vec![
            if demand_exceeds {
                Check {
                    name: "sold-exactly",
                    passed: granted == self.quantity,
                    detail: format!("{granted} units granted of {}", self.quantity),
                }
            } else {
                Check {
                    name: "sold-exactly",
                    passed: granted <= self.quantity,
                    detail: format!("{granted} units granted of {}", self.quantity),
                }
            },
            Check {
                name: "per-customer-limit",
                passed: above == 0,
                detail: format!("{above} customers above {} units", self.limit),
            },
            Check {
                name: "second-attempts-refused",
                passed: self.second_granted.load(Ordering::Relaxed) == 0,
                detail: format!(
                    "{} of {} second attempts granted",
                    self.second_granted.load(Ordering::Relaxed),
                    self.second_sent.load(Ordering::Relaxed)
                ),
            },
        ];
        match self.mercato.deals().get(&self.deal).await {
            Ok(view) => checks.push(Check {
                name: "deal-state",
                passed: view.remaining + view.held + view.sold == self.quantity && view.held + view.sold == granted,
                detail: format!(
                    "remaining {} + held {} + sold {} of {}; {granted} granted",
                    view.remaining, view.held, view.sold, self.quantity
                ),
            }),
            Err(err) => {
                checks.push(Check { name: "deal-state", passed: false, detail: format!("reading the deal: {err}") })
            }
        }
        let first_attempts = claimed.saturating_sub(self.second_sent.load(Ordering::Relaxed));
        let elapsed_s = driven.elapsed.as_secs_f64();
        let per_s = |count: u64| if elapsed_s > 0.0 { count as f64 / elapsed_s } else { 0.0 };
        let sold_out = self.sold_out_answers.load(Ordering::Relaxed);
        let figures = vec![
            Figure { name: "claims", value: first_attempts as f64 },
            Figure { name: "claims_created", value: granted as f64 },
            Figure { name: "claims_per_s", value: per_s(first_attempts) },
            Figure { name: "claims_created_per_s", value: per_s(granted) },
            Figure { name: "retries", value: self.second_sent.load(Ordering::Relaxed) as f64 },
            Figure { name: "sold_out_answers", value: sold_out as f64 },
        ];
        (checks, figures)
    }
}

/// What the HTTP server would have answered for `err`.
fn refused(err: Error) -> Outcome {
    let problem = Problem::from(err);
    Outcome::Answered { status: problem.status.as_u16(), problem: Some(problem.code.to_owned()) }
}

/// One worker.
struct Claimer {
    sale: Arc<Sale>,
}

impl Call for Claimer {
    async fn call(&mut self, ticket: u64) -> Outcome {
        self.sale.claim(ticket).await.0
    }

    async fn follow_up(&mut self, ticket: u64) -> Option<Outcome> {
        if !self.sale.retries(ticket) {
            return None;
        }
        self.sale.second_sent.fetch_add(1, Ordering::Relaxed);
        let (outcome, granted) = self.sale.claim(ticket).await;
        if granted {
            self.sale.second_granted.fetch_add(1, Ordering::Relaxed);
        }
        Some(outcome)
    }
}

/// A well-mixed 64-bit hash (splitmix64's finalizer).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
