//! Reservation throughput of the embedded engine: 256 concurrent callers
//! reserving one unit at a time, on one hot SKU or spread over 10,000 SKUs,
//! in each durability mode. A hot-SKU round is a sell-out: a fresh SKU is
//! stocked with exactly the round's 51,200 units (so one bucket never
//! carries millions of holds, which no real sale does). Criterion measures throughput; an HdrHistogram
//! of every call's latency gives p50/p99, printed after each benchmark.
//!
//! `cargo bench --bench reservations`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hdrhistogram::Histogram;
use mercato::engine::{BucketKey, Sku, WarehouseId};
use mercato::{Config, Durability, Mercato, ReserveRequest, StockUpdate};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALLERS: usize = 256;
const CALLS_PER_CALLER: usize = 200;
const SPREAD_SKUS: usize = 10_000;

#[derive(Clone, Copy)]
enum Shape {
    Hot,
    Spread,
}

fn sku(n: usize) -> Sku {
    Sku::parse(&format!("BENCH-{n}")).expect("sku")
}

fn open(dir: &std::path::Path, durability: Durability) -> Mercato {
    let mut config = Config::new(dir).durability(durability);
    config.reservation_ttl_default_ms = 3_600_000;
    Mercato::open(config).expect("open")
}

async fn stock(mercato: &Mercato, skus: std::ops::Range<usize>, on_hand: u64) {
    let warehouse = WarehouseId::parse("W-1").expect("warehouse");
    let updates = skus.map(|n| {
        let bucket = BucketKey::new(sku(n), warehouse.clone());
        mercato.inventory().set_stock(bucket, StockUpdate::on_hand(on_hand))
    });
    for result in futures::future::join_all(updates).await {
        result.expect("stock");
    }
}

/// One round: every caller makes its calls one after another; returns the
/// wall time of the round.
async fn round(mercato: &Mercato, shape: Shape, latencies: &Arc<Mutex<Histogram<u64>>>, seed: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CALLERS);
    for caller in 0..CALLERS {
        let mercato = mercato.clone();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            for call in 0..CALLS_PER_CALLER {
                let target = match shape {
                    Shape::Hot => sku(SPREAD_SKUS + seed),
                    Shape::Spread => sku((seed + caller * CALLS_PER_CALLER + call) * 7919 % SPREAD_SKUS),
                };
                let sent = Instant::now();
                mercato.inventory().reserve(ReserveRequest::new(target, 1)).await.expect("reserve");
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                local.record(micros.max(1)).expect("record");
            }
            latencies.lock().expect("latencies").add(&local).expect("merge");
        }));
    }
    for task in tasks {
        task.await.expect("caller");
    }
    started.elapsed()
}

fn scenario(c: &mut Criterion, runtime: &tokio::runtime::Runtime, name: &str, durability: Durability, shape: Shape) {
    // Criterion filters benchmarks by name; skip the set-up of filtered-out ones too.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    if filter.is_some_and(|filter| !name.contains(&filter)) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mercato = open(dir.path(), durability);
    if let Shape::Spread = shape {
        runtime.block_on(stock(&mercato, 0..SPREAD_SKUS, 1 << 40));
    }
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let mut group = c.benchmark_group("reservations");
    group.throughput(Throughput::Elements(u64::try_from(CALLERS * CALLS_PER_CALLER).unwrap_or(0)));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    let mut rounds = 0;
    group.bench_function(name, |bencher| {
        bencher.to_async(runtime).iter_custom(|iterations| {
            let mercato = mercato.clone();
            let latencies = latencies.clone();
            rounds += 1;
            let seed = rounds;
            async move {
                let mut total = Duration::ZERO;
                for iteration in 0..iterations {
                    let seed = seed * 1_000 + usize::try_from(iteration).unwrap_or(0);
                    if let Shape::Hot = shape {
                        let units = u64::try_from(CALLERS * CALLS_PER_CALLER).unwrap_or(0);
                        stock(&mercato, SPREAD_SKUS + seed..SPREAD_SKUS + seed + 1, units).await;
                    }
                    total += round(&mercato, shape, &latencies, seed).await;
                }
                total
            }
        });
    });
    group.finish();
    let histogram = latencies.lock().expect("latencies");
    println!(
        "{name}: reply latency p50 {} µs, p99 {} µs, max {} µs over {} calls",
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.max(),
        histogram.len()
    );
    let stats = mercato.stats();
    let flushes = stats.store.flush_batch_size.snapshot();
    if flushes.count > 0 {
        let micros = stats.store.flush_micros.snapshot();
        println!(
            "{name}: {} flushes, {:.1} waiters per flush, {:.0} µs mean flush",
            flushes.count,
            flushes.sum as f64 / flushes.count as f64,
            micros.sum as f64 / micros.count.max(1) as f64
        );
    }
    runtime.block_on(mercato.shutdown()).expect("shutdown");
}

fn reservations(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    scenario(c, &runtime, "hot_sku_memory", Durability::Memory, Shape::Hot);
    scenario(c, &runtime, "hot_sku_relaxed", Durability::Relaxed { flush_every_ms: 100 }, Shape::Hot);
    scenario(c, &runtime, "hot_sku_strict", Durability::Strict, Shape::Hot);
    scenario(c, &runtime, "spread_10k_skus_strict", Durability::Strict, Shape::Spread);
}

criterion_group!(benches, reservations);
criterion_main!(benches);
