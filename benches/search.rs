//! Search benchmarks over 100,000 generated products (seeded, realistic
//! vocabularies): indexing throughput from empty, query latency with facets,
//! and suggest latency. p50/p99 come from HdrHistogram over many runs and
//! are printed before criterion's own figures.
//!
//! ```text
//! cargo bench --bench search
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use mercato::engine::Product;
use mercato::generate::{self, pick, BRANDS, NOUNS, TREE};
use mercato::search::facets::Filters;
use mercato::search::{Location, SearchConfig, SearchIndex, SearchRequest, Sort};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

const PRODUCTS: usize = 100_000;
const SAMPLES: usize = 2_000;

fn build() -> Arc<SearchIndex> {
    let mut rng = StdRng::seed_from_u64(7);
    let products: Vec<Product> = (0..PRODUCTS).map(|n| generate::product(&mut rng, n)).collect();
    let config = SearchConfig { writer_threads: 2, writer_memory_bytes: 256 << 20, ..SearchConfig::default() };
    let (index, mut indexer, _) = SearchIndex::open(&Location::Ram, config).expect("open");
    let stock = |sku: &str| u64::from(!sku.ends_with("-0") || !sku.len().is_multiple_of(3));
    let started = Instant::now();
    for product in &products {
        indexer.upsert(product, &stock);
    }
    indexer.commit().expect("commit");
    let elapsed = started.elapsed();
    println!(
        "indexing from empty: {PRODUCTS} products in {elapsed:.2?} = {:.0} products/s",
        PRODUCTS as f64 / elapsed.as_secs_f64()
    );
    index
}

fn query(rng: &mut StdRng) -> SearchRequest {
    let words = generate::query(rng);
    let mut filters = Filters::default();
    if rng.random_bool(0.3) {
        filters.brands = vec![pick(rng, BRANDS).to_owned()];
    }
    if rng.random_bool(0.3) {
        filters.category = Some(vec![TREE[rng.random_range(0..TREE.len())].0.to_owned()]);
    }
    if rng.random_bool(0.2) {
        filters.in_stock = true;
    }
    let sort = if rng.random_bool(0.8) { Sort::Relevance } else { Sort::PriceAsc };
    SearchRequest { q: words, filters, sort, page: 1, per_page: 20 }
}

fn prefix(rng: &mut StdRng) -> String {
    let word = pick(rng, NOUNS);
    let length = rng.random_range(2..=word.len().min(7));
    word.chars().take(length).collect()
}

fn report(name: &str, histogram: &Histogram<u64>) {
    println!(
        "{name}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} runs",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        histogram.len()
    );
}

fn benches(c: &mut Criterion) {
    let index = build();
    let mut rng = StdRng::seed_from_u64(11);
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut slowest: Vec<(u128, String, u64)> = Vec::new();
    for _ in 0..SAMPLES {
        let request = query(&mut rng);
        let started = Instant::now();
        let results = index.search(&request).expect("search");
        let micros = started.elapsed().as_micros();
        histogram.record(micros as u64).expect("record");
        slowest.push((micros, format!("{:?} {:?}", request.q, request.filters), results.total));
    }
    report("query with facets (100k products)", &histogram);
    slowest.sort_by_key(|slow| std::cmp::Reverse(slow.0));
    for (micros, request, total) in slowest.iter().take(5) {
        println!("  slow: {micros} us, {total} matches: {request}");
    }
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    for _ in 0..SAMPLES {
        let q = prefix(&mut rng);
        let started = Instant::now();
        let suggestions = index.suggest(&q, 10);
        histogram.record(started.elapsed().as_micros() as u64).expect("record");
        std::hint::black_box(suggestions);
    }
    report("suggest (100k products)", &histogram);

    let mut group = c.benchmark_group("search");
    group.sample_size(30);
    let mut rng = StdRng::seed_from_u64(13);
    group.bench_function("query_with_facets", |b| {
        b.iter_batched(|| query(&mut rng), |request| index.search(&request), criterion::BatchSize::SmallInput)
    });
    group.bench_function("suggest", |b| {
        b.iter_batched(|| prefix(&mut rng), |q| index.suggest(&q, 10), criterion::BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(search, benches);
criterion_main!(search);
