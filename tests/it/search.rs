//! Product search over a fixed small catalog: relevance, filters, sorts,
//! facets against a brute-force count, spelling, suggest, freshness,
//! resume after reopen, rebuild of a lost or corrupt index, and the HTTP
//! routes with their 422s.

use crate::common::app::{Call, TestApp};
use mercato::engine::{BucketKey, GeoPoint, ProductId, ProductPatch, Sku, Warehouse, WarehouseId};
use mercato::search::facets::Filters;
use mercato::search::{SearchRequest, Sort};
use mercato::{Config, Durability, Mercato, ReserveRequest, StockUpdate};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// (id, title, brand, category, cents, rating, reviews, stock, sponsored, description)
type Row =
    (&'static str, &'static str, &'static str, &'static [&'static str], i64, Option<f64>, u64, u64, bool, &'static str);

const CATALOG: &[Row] = &[
    (
        "P-1",
        "Sony Wireless Headphones WH-1000",
        "Sony",
        &["Electronics", "Audio", "Headphones"],
        29_999,
        Some(4.7),
        900,
        10,
        false,
        "Noise cancelling over-ear headphones with bluetooth",
    ),
    (
        "P-2",
        "Bose QuietComfort Headphones",
        "Bose",
        &["Electronics", "Audio", "Headphones"],
        32_900,
        Some(4.6),
        500,
        0,
        false,
        "Wired and wireless listening",
    ),
    (
        "P-3",
        "JBL Bluetooth Speaker Flip",
        "JBL",
        &["Electronics", "Audio", "Speakers"],
        9_999,
        Some(4.5),
        300,
        5,
        false,
        "Portable waterproof speaker",
    ),
    (
        "P-4",
        "Sony Bluetooth Speaker Mini",
        "Sony",
        &["Electronics", "Audio", "Speakers"],
        4_999,
        Some(3.9),
        40,
        3,
        true,
        "Small speaker for travel",
    ),
    (
        "P-5",
        "Anker USB-C Charger 65W",
        "Anker",
        &["Electronics", "Accessories"],
        3_999,
        Some(4.4),
        1200,
        50,
        false,
        "Fast wall charger",
    ),
    (
        "P-6",
        "Oak Coffee Table",
        "Woodly",
        &["Home", "Furniture"],
        19_900,
        Some(4.1),
        80,
        2,
        false,
        "Solid oak table for the living room",
    ),
    (
        "P-7",
        "Ergonomic Office Chair",
        "Sitwell",
        &["Home", "Furniture"],
        24_900,
        Some(3.2),
        15,
        0,
        false,
        "Mesh back chair with lumbar support",
    ),
    (
        "P-8",
        "Stainless Steel Water Bottle",
        "Hydra",
        &["Home", "Kitchen"],
        2_499,
        None,
        0,
        7,
        false,
        "Keeps drinks cold",
    ),
    (
        "P-9",
        "Chef Kitchen Knife Set",
        "Cutwell",
        &["Home", "Kitchen"],
        8_900,
        Some(4.8),
        2,
        4,
        true,
        "Eight knives with a block",
    ),
    (
        "P-10",
        "Running Shoes Lightweight",
        "Stride",
        &["Sports", "Footwear"],
        11_000,
        Some(4.2),
        210,
        9,
        false,
        "Breathable running shoes",
    ),
];

async fn open(dir: &Path) -> Mercato {
    let mut config = Config::new(dir).durability(Durability::Strict);
    config.cache_capacity_bytes = 16 << 20;
    Mercato::open(config).expect("open")
}

fn sku(id: &str) -> String {
    format!("{id}-A")
}

async fn load(mercato: &Mercato) {
    let warehouse =
        Warehouse::new(WarehouseId::parse("W-1").unwrap(), "W-1", GeoPoint { lat: 40.0, lon: -74.0 }, "US-NJ");
    mercato.inventory().create_warehouse(warehouse.unwrap()).await.unwrap();
    let mut drafts = Vec::new();
    for (id, title, brand, category, cents, rating, reviews, _, sponsored, description) in CATALOG {
        let body = json!({"id": id, "title": title, "brand": brand, "category": category, "rating": rating,
            "review_count": reviews, "sponsored": sponsored, "description": description,
            "variants": [{"sku": sku(id), "price": {"cents": cents, "currency": "USD"}}]});
        let parsed: mercato::http::product_dto::ProductBody = serde_json::from_value(body).unwrap();
        drafts.push(parsed.parse().unwrap().draft);
    }
    for result in mercato.catalog().upsert_products(drafts).await.unwrap() {
        result.unwrap();
    }
    for (id, .., stock, _, _) in CATALOG {
        let bucket = BucketKey::new(Sku::parse(&sku(id)).unwrap(), WarehouseId::parse("W-1").unwrap());
        mercato.inventory().set_stock(bucket, StockUpdate::on_hand(*stock)).await.unwrap();
    }
}

/// Polls until `check` holds (at most `limit`); returns how long it took.
async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

async fn loaded(dir: &Path) -> Mercato {
    let mercato = open(dir).await;
    load(&mercato).await;
    // Every product in stock or not as loaded: the projection has caught up.
    let expected = CATALOG.iter().filter(|row| row.7 > 0).count();
    eventually(Duration::from_secs(5), || {
        let all = mercato.search().query(&SearchRequest {
            filters: Filters { in_stock: true, ..Filters::default() },
            ..SearchRequest::default()
        });
        all.is_ok_and(|results| results.total == expected as u64)
    })
    .await;
    mercato
}

fn ids(mercato: &Mercato, request: &SearchRequest) -> Vec<String> {
    mercato.search().query(request).unwrap().hits.into_iter().map(|hit| hit.product_id).collect()
}

fn request(q: &str, filters: Filters, sort: Sort) -> SearchRequest {
    SearchRequest { q: q.to_owned(), filters, sort, page: 1, per_page: 100 }
}

#[tokio::test]
async fn relevance_filters_sorts_and_spelling_on_a_small_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;

    let headphones = ids(&mercato, &SearchRequest::text("wireless headphones"));
    assert_eq!(headphones[0], "P-1", "{headphones:?}");
    assert!(headphones.contains(&"P-2".to_owned()));
    let speakers = ids(&mercato, &SearchRequest::text("speaker"));
    assert!(speakers.starts_with(&["P-4".to_owned()]) || speakers.starts_with(&["P-3".to_owned()]), "{speakers:?}");
    let sponsored = mercato.search().query(&SearchRequest::text("speaker")).unwrap();
    assert!(sponsored.hits.iter().filter(|hit| hit.sponsored).count() <= 2);
    assert!(sponsored.hits.iter().any(|hit| hit.product_id == "P-4" && hit.sponsored));
    assert_eq!(ids(&mercato, &SearchRequest::text("knives"))[0], "P-9", "stemming: knives -> knive");

    // Filters.
    let audio = Filters { category: Some(vec!["Electronics".into(), "Audio".into()]), ..Filters::default() };
    assert_eq!(sorted(ids(&mercato, &request("", audio, Sort::Relevance))), ["P-1", "P-2", "P-3", "P-4"]);
    let brands = Filters { brands: vec!["sony".into(), "JBL".into()], ..Filters::default() };
    assert_eq!(sorted(ids(&mercato, &request("", brands, Sort::Relevance))), ["P-1", "P-3", "P-4"]);
    let price = Filters { price_min_cents: Some(4_999), price_max_cents: Some(9_999), ..Filters::default() };
    assert_eq!(sorted(ids(&mercato, &request("", price, Sort::Relevance))), ["P-3", "P-4", "P-9"]);
    let rating = Filters { rating_min: Some(4.6), ..Filters::default() };
    assert_eq!(sorted(ids(&mercato, &request("", rating, Sort::Relevance))), ["P-1", "P-2", "P-9"]);
    let stock = Filters { in_stock: true, ..Filters::default() };
    let in_stock = ids(&mercato, &request("headphones", stock, Sort::Relevance));
    assert_eq!(in_stock, ["P-1"]);

    // Sorts.
    let cheapest = ids(&mercato, &request("", Filters::default(), Sort::PriceAsc));
    assert_eq!(cheapest.first().map(String::as_str), Some("P-8"));
    let dearest = ids(&mercato, &request("", Filters::default(), Sort::PriceDesc));
    assert_eq!(dearest.first().map(String::as_str), Some("P-2"));
    let rated = ids(&mercato, &request("", Filters::default(), Sort::Rating));
    assert_eq!(rated.first().map(String::as_str), Some("P-1"), "many reviews beat 4.8 from two");
    let newest = ids(&mercato, &request("", Filters::default(), Sort::Newest));
    assert_eq!(newest.len(), CATALOG.len());
    let popular = ids(&mercato, &request("", Filters::default(), Sort::Popularity));
    assert_eq!(popular.len(), CATALOG.len());

    // Out of stock sinks: Bose (no stock) after Sony for "headphones".
    let ranked = ids(&mercato, &SearchRequest::text("headphones"));
    assert_eq!(ranked, ["P-1", "P-2"]);

    // Spelling.
    let typo = mercato.search().query(&SearchRequest::text("hedphones")).unwrap();
    assert_eq!(typo.did_you_mean.as_deref(), Some("headphones"));
    assert_eq!(typo.hits.first().map(|hit| hit.product_id.as_str()), Some("P-1"));
    let typo = mercato.search().query(&SearchRequest::text("bluetoth speaker")).unwrap();
    assert_eq!(typo.did_you_mean.as_deref(), Some("bluetooth speaker"));
    let first_two: Vec<&str> = typo.hits.iter().take(2).map(|hit| hit.product_id.as_str()).collect();
    assert!(first_two.contains(&"P-3") && first_two.contains(&"P-4"), "{first_two:?}");
    assert_eq!(mercato.search().query(&SearchRequest::text("headphones")).unwrap().did_you_mean, None);

    // Suggest.
    let texts = |q: &str| mercato.search().suggest(q, 10).into_iter().map(|s| s.text).collect::<Vec<_>>();
    assert!(texts("wirel").contains(&"Sony Wireless Headphones WH-1000".to_owned()), "{:?}", texts("wirel"));
    assert!(texts("head").contains(&"Headphones".to_owned()));
    assert!(texts("hedp").contains(&"Headphones".to_owned()), "one typo from four letters: {:?}", texts("hedp"));
    assert!(texts("so").contains(&"Sony".to_owned()));
    assert!(texts("xq").is_empty());
    assert!(mercato.search().suggest("", 10).is_empty());
    mercato.shutdown().await.unwrap();
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_by_key(|id| id[2..].parse::<u32>().unwrap_or(0));
    ids
}

/// Brand, category, price-bucket and rating facet counts.
type Counts = (BTreeMap<String, u64>, BTreeMap<String, u64>, BTreeMap<i64, u64>, BTreeMap<u8, u64>);

/// Facet counts recomputed from the catalog rows, independently.
fn brute_force(rows: &[&Row], filters: &Filters) -> Counts {
    let category_ok = |row: &Row| {
        filters.category.as_ref().is_none_or(|prefix| {
            prefix.iter().zip(row.3.iter()).all(|(a, b)| a.eq_ignore_ascii_case(b)) && prefix.len() <= row.3.len()
        })
    };
    let brand_ok =
        |row: &Row| filters.brands.is_empty() || filters.brands.iter().any(|b| b.eq_ignore_ascii_case(row.2));
    let price_ok = |row: &Row| {
        filters.price_min_cents.is_none_or(|m| row.4 >= m) && filters.price_max_cents.is_none_or(|m| row.4 <= m)
    };
    let rating_ok = |row: &Row| filters.rating_min.is_none_or(|m| row.5.is_some_and(|r| r >= m));
    let stock_ok = |row: &Row| !filters.in_stock || row.7 > 0;
    let (mut brands, mut categories, mut prices, mut ratings) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let depth = filters.category.as_ref().map_or(0, Vec::len);
    for row in rows {
        if category_ok(row) && price_ok(row) && rating_ok(row) && stock_ok(row) {
            *brands.entry(row.2.to_owned()).or_default() += 1;
        }
        if brand_ok(row) && price_ok(row) && rating_ok(row) && stock_ok(row) && category_ok(row) {
            if let Some(child) = row.3.get(depth) {
                *categories.entry((*child).to_owned()).or_default() += 1;
            }
        }
        if category_ok(row) && brand_ok(row) && rating_ok(row) && stock_ok(row) {
            let bounds = mercato::search::facets::PRICE_BUCKETS_CENTS;
            let bucket = bounds.iter().rev().find(|from| row.4 >= **from).copied().unwrap_or(0);
            *prices.entry(bucket).or_default() += 1;
        }
        if category_ok(row) && brand_ok(row) && price_ok(row) && stock_ok(row) {
            for min in [4u8, 3, 2, 1] {
                if row.5.is_some_and(|r| r >= f64::from(min)) {
                    *ratings.entry(min).or_default() += 1;
                }
            }
        }
    }
    (brands, categories, prices, ratings)
}

#[tokio::test]
async fn facet_counts_equal_a_brute_force_count() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;
    let filter_sets = vec![
        Filters::default(),
        Filters { brands: vec!["Sony".into()], ..Filters::default() },
        Filters { category: Some(vec!["Electronics".into()]), in_stock: true, ..Filters::default() },
        Filters { category: Some(vec!["Home".into()]), price_max_cents: Some(20_000), ..Filters::default() },
        Filters { rating_min: Some(4.0), brands: vec!["Sony".into(), "Bose".into()], ..Filters::default() },
        Filters { price_min_cents: Some(5_000), rating_min: Some(3.0), in_stock: true, ..Filters::default() },
    ];
    for q in ["", "speaker", "headphones chair"] {
        let matched: Vec<String> = ids(&mercato, &request(q, Filters::default(), Sort::Relevance));
        let rows: Vec<&Row> = CATALOG.iter().filter(|row| matched.iter().any(|id| id == row.0)).collect();
        for filters in &filter_sets {
            let results = mercato.search().query(&request(q, filters.clone(), Sort::Relevance)).unwrap();
            let (brands, categories, prices, ratings) = brute_force(&rows, filters);
            let got_brands: BTreeMap<String, u64> =
                results.facets.brand.iter().map(|v| (v.value.clone(), v.count)).collect();
            let got_categories: BTreeMap<String, u64> =
                results.facets.category.iter().map(|v| (v.value.clone(), v.count)).collect();
            let got_prices: BTreeMap<i64, u64> = results.facets.price.iter().map(|v| (v.from, v.count)).collect();
            let got_ratings: BTreeMap<u8, u64> =
                results.facets.rating.iter().filter(|v| v.count > 0).map(|v| (v.min, v.count)).collect();
            assert_eq!(got_brands, brands, "brand facet for {q:?} {filters:?}");
            assert_eq!(got_categories, categories, "category facet for {q:?} {filters:?}");
            assert_eq!(got_prices, prices, "price facet for {q:?} {filters:?}");
            assert_eq!(got_ratings, ratings, "rating facet for {q:?} {filters:?}");
            let all = brute_force_total(&rows, filters);
            assert_eq!(results.total, all, "total for {q:?} {filters:?}");
        }
    }
    mercato.shutdown().await.unwrap();
}

fn brute_force_total(rows: &[&Row], filters: &Filters) -> u64 {
    rows.iter()
        .filter(|row| {
            filters.category.as_ref().is_none_or(|prefix| {
                prefix.len() <= row.3.len() && prefix.iter().zip(row.3.iter()).all(|(a, b)| a.eq_ignore_ascii_case(b))
            }) && (filters.brands.is_empty() || filters.brands.iter().any(|b| b.eq_ignore_ascii_case(row.2)))
                && filters.price_min_cents.is_none_or(|m| row.4 >= m)
                && filters.price_max_cents.is_none_or(|m| row.4 <= m)
                && filters.rating_min.is_none_or(|m| row.5.is_some_and(|r| r >= m))
                && (!filters.in_stock || row.7 > 0)
        })
        .count() as u64
}

fn units_sold(mercato: &Mercato, id: &str) -> u64 {
    let snapshot = mercato.search().index().snapshot();
    snapshot.table.iter().flatten().find(|entry| entry.product_id == id).map_or(0, |entry| entry.units_sold)
}

async fn sell(mercato: &Mercato, id: &str, quantity: u32) {
    let hold = mercato.inventory().reserve(ReserveRequest::new(Sku::parse(&sku(id)).unwrap(), quantity)).await.unwrap();
    mercato.inventory().commit(&hold.id).await.unwrap();
}

#[tokio::test]
async fn a_hold_on_the_last_units_takes_a_product_out_of_stock_and_its_release_brings_it_back() {
    // Holds are not events: the projection sees them through the stock board.
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;
    let (id, .., stock, _, _) = CATALOG.iter().find(|row| row.7 > 0).unwrap();
    let in_stock = request("", Filters { in_stock: true, ..Filters::default() }, Sort::Relevance);
    assert!(ids(&mercato, &in_stock).contains(&id.to_string()));
    let limit = mercato::projections::search::feed::STOCK_REFRESH + Duration::from_secs(2);
    let quantity = u32::try_from(*stock).unwrap();
    let hold = mercato.inventory().reserve(ReserveRequest::new(Sku::parse(&sku(id)).unwrap(), quantity)).await.unwrap();
    eventually(limit, || !ids(&mercato, &in_stock).contains(&id.to_string())).await;
    mercato.inventory().release(&hold.id).await.unwrap();
    eventually(limit, || ids(&mercato, &in_stock).contains(&id.to_string())).await;
    // A second time: the refresh runs on every change, not only the first.
    let hold = mercato.inventory().reserve(ReserveRequest::new(Sku::parse(&sku(id)).unwrap(), quantity)).await.unwrap();
    eventually(limit, || !ids(&mercato, &in_stock).contains(&id.to_string())).await;
    mercato.inventory().release(&hold.id).await.unwrap();
    eventually(limit, || ids(&mercato, &in_stock).contains(&id.to_string())).await;
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn changes_are_searchable_within_a_second_and_popularity_survives_reopen_and_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;
    let patch = ProductPatch { title: Some("Oak Coffee Table Zebrawood Edition".into()), ..ProductPatch::default() };
    mercato.catalog().patch_product(ProductId::parse("P-6").unwrap(), patch).await.unwrap();
    let took = eventually(Duration::from_secs(1), || ids(&mercato, &SearchRequest::text("zebrawood")) == ["P-6"]).await;
    assert!(took < Duration::from_secs(1));
    // Filters read the facts of the new document: a new brand (any case) and a lower rating.
    let patch =
        ProductPatch { brand: Some(Some("Zebra Works".into())), rating: Some(Some(1.5)), ..ProductPatch::default() };
    mercato.catalog().patch_product(ProductId::parse("P-6").unwrap(), patch).await.unwrap();
    let brand = Filters { brands: vec!["ZEBRA WORKS".into()], ..Filters::default() };
    eventually(Duration::from_secs(1), || ids(&mercato, &request("", brand.clone(), Sort::Relevance)) == ["P-6"]).await;
    let rated = Filters { rating_min: Some(2.0), ..Filters::default() };
    assert!(ids(&mercato, &request("zebrawood", rated, Sort::Relevance)).is_empty());
    let low = Filters { rating_min: Some(1.5), ..Filters::default() };
    assert_eq!(ids(&mercato, &request("zebrawood", low, Sort::Relevance)), ["P-6"]);

    sell(&mercato, "P-3", 2).await;
    sell(&mercato, "P-3", 1).await;
    eventually(Duration::from_secs(1), || units_sold(&mercato, "P-3") == 3).await;
    // The sort reads the documents' facts, which can be published a moment
    // after the table's counter: both within the second.
    let popular_first = || ids(&mercato, &request("", Filters::default(), Sort::Popularity)).first().cloned();
    eventually(Duration::from_secs(1), || popular_first().as_deref() == Some("P-3")).await;
    mercato.shutdown().await.unwrap();
    drop(mercato);

    let reopened = open(dir.path()).await;
    assert_eq!(units_sold(&reopened, "P-3"), 3, "no double counting after reopen");
    assert_eq!(ids(&reopened, &SearchRequest::text("zebrawood")), ["P-6"]);
    sell(&reopened, "P-3", 1).await;
    eventually(Duration::from_secs(1), || units_sold(&reopened, "P-3") == 4).await;
    reopened.shutdown().await.unwrap();
    drop(reopened);

    // The index directory is lost: rebuilt from the store and the log.
    std::fs::remove_dir_all(dir.path().join("search")).unwrap();
    let rebuilt = open(dir.path()).await;
    assert_eq!(units_sold(&rebuilt, "P-3"), 4);
    assert_eq!(ids(&rebuilt, &SearchRequest::text("zebrawood")), ["P-6"]);
    assert_eq!(rebuilt.search().query(&SearchRequest::default()).unwrap().total, CATALOG.len() as u64);
    rebuilt.shutdown().await.unwrap();
    drop(rebuilt);

    // The index is corrupt: rebuilt as well.
    std::fs::write(dir.path().join("search").join("meta.json"), b"{not json").unwrap();
    let repaired = open(dir.path()).await;
    assert_eq!(units_sold(&repaired, "P-3"), 4);
    assert_eq!(repaired.search().query(&SearchRequest::text("headphones")).unwrap().hits[0].product_id, "P-1");
    repaired.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_running_engine_rebuilds_its_index_from_the_log_without_double_counting() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;
    sell(&mercato, "P-3", 2).await;
    eventually(Duration::from_secs(2), || units_sold(&mercato, "P-3") == 2).await;
    let stats = mercato.search().projection_stats().expect("the runner is started");
    eventually(Duration::from_secs(2), || stats.lag() == 0).await;
    let everything = mercato.search().query(&SearchRequest::default()).unwrap().total;
    let head = stats.offset.load(std::sync::atomic::Ordering::Relaxed);
    assert!(head > 0);

    assert!(mercato.search().rebuild());
    eventually(Duration::from_secs(5), || {
        stats.rebuilds.load(std::sync::atomic::Ordering::Relaxed) == 1
            && stats.lag() == 0
            && mercato.search().offset() >= head
            && mercato.search().query(&SearchRequest::default()).is_ok_and(|results| results.total == everything)
    })
    .await;
    assert_eq!(units_sold(&mercato, "P-3"), 2, "sales replayed once");
    assert_eq!(ids(&mercato, &SearchRequest::text("wireless headphones"))[0], "P-1");
    assert_eq!(stats.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    mercato.shutdown().await.unwrap();
    assert!(!mercato.search().rebuild(), "no rebuild once stopped");
}

#[tokio::test]
async fn memory_mode_indexes_from_the_in_memory_log() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = Mercato::open(Config::new(dir.path()).durability(Durability::Memory)).unwrap();
    load(&mercato).await;
    eventually(Duration::from_secs(1), || {
        mercato.search().query(&SearchRequest::default()).is_ok_and(|results| results.total == CATALOG.len() as u64)
    })
    .await;
    assert!(!dir.path().join("search").exists());
    mercato.shutdown().await.unwrap();
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let reply = app.request(Call::new(hyper::Method::GET, path)).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn search_and_suggest_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = loaded(dir.path()).await;
    let app = TestApp::serve(mercato, dir, Default::default());

    let (status, body) = get(&app, "/v1/search?q=wireless%20headphones&per_page=5").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hits"][0]["product_id"], "P-1");
    for field in ["product_id", "title", "brand", "price", "rating", "in_stock", "variant_count", "score", "sponsored"]
    {
        assert!(body["hits"][0].get(field).is_some(), "hit field {field}");
    }
    assert_eq!(body["hits"][0]["price"], json!({"cents": 29_999, "currency": "USD"}));
    for field in ["total", "page", "per_page", "took_ms", "facets", "did_you_mean"] {
        assert!(body.get(field).is_some(), "field {field}");
    }
    assert_eq!(body["per_page"], 5);
    assert!(body["did_you_mean"].is_null());

    let (status, body) =
        get(&app, "/v1/search?category=Electronics/Audio&brand=Sony&brand=Bose&price_min=&price_max=&sort=price_asc")
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 3);
    assert_eq!(body["hits"][0]["product_id"], "P-4");
    let categories: Vec<&str> =
        body["facets"]["category"].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert_eq!(categories, ["Headphones", "Speakers"]);
    assert_eq!(body["facets"]["category"][0]["path"], json!(["Electronics", "Audio", "Headphones"]));
    let brands = body["facets"]["brand"].as_array().unwrap();
    assert!(brands.iter().any(|b| b["value"] == "JBL"), "disjunctive: other brands stay listed");
    let last_price = body["facets"]["price"].as_array().unwrap().last().unwrap().clone();
    assert!(last_price.get("to").is_some());
    assert_eq!(body["facets"]["rating"].as_array().unwrap().len(), 4);

    let (status, body) = get(&app, "/v1/search?q=hedphones").await;
    assert_eq!(status, 200);
    assert_eq!(body["did_you_mean"], "headphones");
    assert_eq!(body["hits"][0]["product_id"], "P-1");
    let (status, body) = get(&app, "/v1/search").await;
    assert_eq!((status, body["total"].as_u64()), (200, Some(CATALOG.len() as u64)));

    for bad in [
        "sort=cheapest",
        "per_page=101",
        "per_page=0",
        "price_min=500&price_max=100",
        "price_min=abc",
        "page=0",
        "rating_min=high",
        "in_stock=maybe",
        "category=%2F",
    ] {
        let (status, body) = get(&app, &format!("/v1/search?{bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["type"], "invalid-input", "{bad}");
    }

    let (status, body) = get(&app, "/v1/suggest?q=wirel").await;
    assert_eq!(status, 200);
    let suggestions = body["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty() && suggestions.len() <= 10);
    assert!(suggestions.iter().all(|s| ["product", "category", "brand"].contains(&s["kind"].as_str().unwrap())));
    let (status, body) = get(&app, "/v1/suggest").await;
    assert_eq!((status, body["suggestions"].as_array().map(Vec::len)), (200, Some(0)));

    app.shut_down().await;
}
