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
use mercato::engine::{
    CategoryPath, Currency, Money, Product, ProductId, SellerId, Sku, TaxCategory, Timestamp, Variant,
};
use mercato::search::facets::Filters;
use mercato::search::{Location, SearchConfig, SearchIndex, SearchRequest, Sort};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const PRODUCTS: usize = 100_000;
const SAMPLES: usize = 2_000;

const BRANDS: &[&str] = &[
    "Sony",
    "Bose",
    "JBL",
    "Anker",
    "Samsung",
    "Apple",
    "Logitech",
    "Philips",
    "Dyson",
    "Lenovo",
    "Dell",
    "Canon",
    "Nikon",
    "Garmin",
    "Fitbit",
    "Nike",
    "Adidas",
    "Puma",
    "Ikea",
    "Keurig",
    "Ninja",
    "Instant",
    "Cuisinart",
    "KitchenAid",
    "Oxo",
    "Lodge",
    "Stanley",
    "Yeti",
    "Hydro",
    "Coleman",
    "DeWalt",
    "Makita",
    "Bosch",
    "Ryobi",
    "Craftsman",
    "Black",
    "Lego",
    "Hasbro",
    "Mattel",
    "Crayola",
];
const TREE: &[(&str, &[&str])] = &[
    ("Electronics", &["Audio", "Computers", "Cameras", "Phones", "Wearables", "Accessories"]),
    ("Home", &["Kitchen", "Furniture", "Bedding", "Decor", "Lighting", "Storage"]),
    ("Sports", &["Footwear", "Camping", "Fitness", "Cycling", "Water"]),
    ("Tools", &["Power Tools", "Hand Tools", "Garden", "Hardware"]),
    ("Toys", &["Building", "Games", "Dolls", "Outdoor Play"]),
    ("Clothing", &["Men", "Women", "Kids", "Shoes"]),
];
const ADJECTIVES: &[&str] = &[
    "wireless",
    "portable",
    "compact",
    "premium",
    "ergonomic",
    "waterproof",
    "stainless",
    "cordless",
    "rechargeable",
    "smart",
    "classic",
    "modern",
    "heavy duty",
    "lightweight",
    "adjustable",
    "foldable",
    "insulated",
    "digital",
    "professional",
    "quiet",
    "fast",
    "large",
    "mini",
    "deluxe",
    "organic",
    "bamboo",
    "leather",
    "wooden",
    "ceramic",
    "cast iron",
    "noise cancelling",
    "ultra",
    "slim",
    "outdoor",
    "indoor",
    "vintage",
    "durable",
    "soft",
    "bright",
    "magnetic",
];
const NOUNS: &[&str] = &[
    "headphones",
    "speaker",
    "earbuds",
    "charger",
    "cable",
    "laptop",
    "keyboard",
    "mouse",
    "monitor",
    "camera",
    "lens",
    "tripod",
    "phone case",
    "watch",
    "tracker",
    "blender",
    "kettle",
    "toaster",
    "coffee maker",
    "knife set",
    "skillet",
    "pan",
    "pot",
    "mug",
    "water bottle",
    "tumbler",
    "chair",
    "desk",
    "table",
    "lamp",
    "shelf",
    "rug",
    "pillow",
    "blanket",
    "sheets",
    "tent",
    "sleeping bag",
    "backpack",
    "cooler",
    "lantern",
    "drill",
    "saw",
    "hammer",
    "wrench",
    "screwdriver",
    "sander",
    "hose",
    "mower",
    "building set",
    "board game",
    "puzzle",
    "doll",
    "ball",
    "scooter",
    "jacket",
    "sneakers",
    "boots",
    "hoodie",
    "socks",
    "gloves",
];
const COLORS: &[&str] = &["black", "white", "silver", "blue", "red", "green", "gray", "navy", "pink", "beige"];

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn product(rng: &mut StdRng, n: usize) -> Product {
    let brand = pick(rng, BRANDS);
    let (root, children) = TREE[rng.random_range(0..TREE.len())];
    let child = pick(rng, children);
    let title = format!(
        "{brand} {} {} {} {}",
        pick(rng, ADJECTIVES),
        pick(rng, ADJECTIVES),
        pick(rng, NOUNS),
        pick(rng, COLORS)
    );
    let description = format!(
        "A {} {} for everyday use, {} and {}.",
        pick(rng, ADJECTIVES),
        pick(rng, NOUNS),
        pick(rng, ADJECTIVES),
        pick(rng, ADJECTIVES)
    );
    let variants = (0..rng.random_range(1..4usize))
        .map(|v| Variant {
            sku: Sku::parse(&format!("B-{n}-{v}")).expect("sku"),
            options: BTreeMap::new(),
            price: Money::new(rng.random_range(500..200_000), Currency::USD),
            weight_grams: 500,
            tax_category: TaxCategory::Standard,
        })
        .collect();
    let mut attributes = BTreeMap::new();
    attributes.insert("color".to_owned(), pick(rng, COLORS).to_owned());
    Product {
        id: ProductId::parse(&format!("P-{n}")).expect("id"),
        title,
        description,
        brand: Some(brand.to_owned()),
        category: CategoryPath::parse(vec![root.to_owned(), child.to_owned()]).expect("category"),
        seller_id: SellerId::parse("S-BENCH").expect("seller"),
        attributes,
        images: Vec::new(),
        rating: rng.random_bool(0.8).then(|| f64::from(rng.random_range(10..=50u32)) / 10.0),
        review_count: rng.random_range(0..2_000),
        sponsored: rng.random_bool(0.02),
        variants,
        created_at: Timestamp::from_millis(1_700_000_000_000 + n as u64),
        updated_at: Timestamp::from_millis(1_700_000_000_000 + n as u64),
    }
}

fn build() -> Arc<SearchIndex> {
    let mut rng = StdRng::seed_from_u64(7);
    let products: Vec<Product> = (0..PRODUCTS).map(|n| product(&mut rng, n)).collect();
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
    let words = match rng.random_range(0..4) {
        0 => pick(rng, NOUNS).to_owned(),
        1 => format!("{} {}", pick(rng, ADJECTIVES), pick(rng, NOUNS)),
        2 => format!("{} {}", pick(rng, BRANDS), pick(rng, NOUNS)),
        _ => format!("{} {} {}", pick(rng, COLORS), pick(rng, ADJECTIVES), pick(rng, NOUNS)),
    };
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
