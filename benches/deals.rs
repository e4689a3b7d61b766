//! Flash-deal claims through the embedded engine: each round is a stampede
//! (a fresh deal of 5,000 units, 10,000 customers claiming one unit each,
//! 256 at a time), so half the claims succeed and half are answered
//! sold out. Compares the deal's stock on one shard with one shard per
//! arbiter, in memory and strict durability.
//!
//! `cargo bench --bench deals`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hdrhistogram::Histogram;
use mercato::engine::deal::{DealError, DealTerms};
use mercato::engine::{
    BucketKey, CategoryPath, Currency, CustomerId, DealId, Money, ProductDraft, ProductId, Sku, Timestamp, WarehouseId,
};
use mercato::{Config, Durability, Error, Mercato};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 10_000;
const QUANTITY: u32 = 5_000;
const CALLERS: usize = 256;

fn open(dir: &std::path::Path, durability: Durability, shards: u32) -> Mercato {
    let mut config = Config::new(dir).durability(durability);
    config.deal_shards = Some(shards);
    Mercato::open(config).expect("open")
}

async fn new_deal(mercato: &Mercato, round: usize) -> DealId {
    let sku = Sku::parse("BENCH-DEAL").expect("sku");
    let bucket = BucketKey::new(sku.clone(), WarehouseId::parse("W-1").expect("warehouse"));
    let product = ProductDraft::single(
        ProductId::parse("P-BENCH").expect("product id"),
        "Bench deal",
        CategoryPath::parse(vec!["Deals".to_owned()]).expect("category"),
        sku.clone(),
        Money::new(100, Currency::USD),
    );
    mercato.catalog().upsert_products(vec![product]).await.expect("catalog").remove(0).expect("product");
    mercato.inventory().restock(&bucket, u64::from(QUANTITY)).await.expect("restock");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let now = Timestamp::from_millis(u64::try_from(now).unwrap_or(0));
    let terms = DealTerms {
        id: DealId::parse(&format!("deal_bench_{round}")).expect("deal id"),
        sku,
        price: Money::new(100, Currency::USD),
        quantity: QUANTITY,
        starts_at: Timestamp::from_millis(now.as_millis().saturating_sub(60_000)),
        ends_at: now.plus_millis(3_600_000),
        per_customer_limit: 1,
        prime_early_access_ms: 0,
        claim_ttl_ms: None,
    };
    mercato.deals().create(terms).await.expect("deal").terms.id.clone()
}

/// One stampede; returns its wall time.
async fn stampede(mercato: &Mercato, deal: DealId, round: usize, latencies: &Arc<Mutex<Histogram<u64>>>) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (mercato, deal, next, latencies) = (mercato.clone(), deal.clone(), next.clone(), latencies.clone());
            tokio::spawn(async move {
                let mut local = Histogram::<u64>::new(3).expect("histogram");
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= CUSTOMERS {
                        break;
                    }
                    let customer = CustomerId::parse(&format!("cus_{round}_{n}")).expect("customer");
                    let sent = Instant::now();
                    match mercato.deals().claim(&deal, &customer, 1, false).await {
                        Ok(_) | Err(Error::Deal(DealError::SoldOut)) => {}
                        Err(other) => panic!("unexpected {other}"),
                    }
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    local.record(micros.max(1)).expect("record");
                }
                latencies.lock().expect("latencies").add(&local).expect("merge");
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    started.elapsed()
}

fn scenario(c: &mut Criterion, runtime: &tokio::runtime::Runtime, name: &str, durability: Durability, shards: u32) {
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    if filter.is_some_and(|filter| !name.contains(&filter)) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mercato = open(dir.path(), durability, shards);
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let rounds = Arc::new(AtomicUsize::new(0));
    let mut group = c.benchmark_group("deal_claims");
    group.throughput(Throughput::Elements(u64::try_from(CUSTOMERS).unwrap_or(0)));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(name, |bencher| {
        bencher.to_async(runtime).iter_custom(|iterations| {
            let (mercato, latencies, rounds) = (mercato.clone(), latencies.clone(), rounds.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let round = rounds.fetch_add(1, Ordering::Relaxed);
                    let deal = new_deal(&mercato, round).await;
                    total += stampede(&mercato, deal, round, &latencies).await;
                }
                total
            }
        });
    });
    group.finish();
    let histogram = latencies.lock().expect("latencies");
    println!(
        "{name}: claim latency p50 {} µs, p99 {} µs over {} claims",
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.len()
    );
    runtime.block_on(mercato.shutdown()).expect("shutdown");
}

fn deals(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    scenario(c, &runtime, "memory_one_shard", Durability::Memory, 1);
    scenario(c, &runtime, "memory_two_shards", Durability::Memory, 2);
    scenario(c, &runtime, "strict_one_shard", Durability::Strict, 1);
    scenario(c, &runtime, "strict_two_shards", Durability::Strict, 2);
}

criterion_group!(benches, deals);
criterion_main!(benches);
