//! Pick list planning: a wave of 200 shipments (one to four lines each) over
//! a 2,000-bin warehouse (20 aisles of 25 bays with 4 levels, one SKU per
//! bin) becomes a pick list: shipments chosen, units allocated to bins, the
//! route optimized. p50/p99 over many seeded waves come from HdrHistogram
//! and are printed before criterion's own figures.
//!
//! ```text
//! cargo bench --bench fulfillment
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use mercato::engine::fulfillment::{plan_wave, BinCode, BinStock, Layout, ReadyShipment};
use mercato::engine::{ShipmentId, Sku, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

const AISLES: u16 = 20;
const BAYS: u16 = 25;
const LEVELS: u8 = 4;
const SHIPMENTS: usize = 200;
const SAMPLES: usize = 300;

fn warehouse() -> Vec<BinStock> {
    let mut stock = Vec::new();
    for aisle in 0..AISLES {
        for bay in 1..=BAYS {
            for level in 1..=LEVELS {
                let bin = BinCode::new(aisle, bay, level).expect("bin");
                let sku = Sku::parse(&format!("SKU-{}", stock.len())).expect("sku");
                stock.push(BinStock { bin, sku, quantity: 20 });
            }
        }
    }
    stock
}

fn wave(rng: &mut StdRng, stock: &[BinStock], shipments: usize) -> Vec<ReadyShipment> {
    (0..shipments)
        .map(|n| ReadyShipment {
            id: ShipmentId::parse(&format!("shp_{n}")).expect("id"),
            ready_since: Timestamp::from_millis(rng.random_range(0..3_600_000)),
            prime: rng.random_bool(0.3),
            on_hold: false,
            lines: (0..rng.random_range(1..=4))
                .map(|_| (stock[rng.random_range(0..stock.len())].sku.clone(), rng.random_range(1..=3)))
                .collect(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let stock = warehouse();
    let layout = Layout::of_bins(stock.iter().map(|entry| entry.bin));
    let mut rng = StdRng::seed_from_u64(11);
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut stops = 0;
    let mut saved = 0.0;
    for _ in 0..SAMPLES {
        let ready = wave(&mut rng, &stock, SHIPMENTS);
        let started = Instant::now();
        let plan = plan_wave(&layout, &ready, &stock, SHIPMENTS).expect("plan");
        histogram.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)).expect("record");
        stops += plan.stops.len();
        saved += 1.0 - plan.walk_distance as f64 / plan.serpentine_distance as f64;
    }
    println!(
        "pick list, {SHIPMENTS} shipments over {} bins: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} stops on average, route {:.1}% shorter than the serpentine one",
        stock.len(),
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        stops / SAMPLES,
        100.0 * saved / SAMPLES as f64,
    );
    // Small waves leave most aisles half empty, where a route can beat the
    // serpentine walk (a dense wave visits nearly every bay of every aisle).
    for shipments in [5, 20] {
        let mut saved = 0.0;
        for _ in 0..SAMPLES {
            let plan = plan_wave(&layout, &wave(&mut rng, &stock, shipments), &stock, shipments).expect("plan");
            saved += 1.0 - plan.walk_distance as f64 / plan.serpentine_distance as f64;
        }
        println!(
            "waves of {shipments}: route {:.1}% shorter than the serpentine one on average",
            100.0 * saved / SAMPLES as f64
        );
    }
    let ready = wave(&mut rng, &stock, SHIPMENTS);
    c.bench_function("pick list: 200 shipments, 2,000 bins", |b| {
        b.iter(|| plan_wave(&layout, &ready, &stock, SHIPMENTS).expect("plan"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
