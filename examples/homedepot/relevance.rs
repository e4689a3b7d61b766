//! The Home Depot relevance protocol on the product's own path: judged
//! pairs read from the CSV, the titles imported as a catalog through the
//! catalog import (`POST /v1/admin/catalog/import` parses each NDJSON line
//! into a `ProductBody` and hands the drafts to `catalog().upsert_products`,
//! as here), and every judged term searched with
//! `mercato.search().query`, what `GET /v1/search?q=...` runs, with the
//! request's defaults. Shared by `examples/homedepot_eval.rs` (the whole
//! file) and the integration test `relevance::` (a slice of it).

use anyhow::{bail, Context};
use mercato::http::product_dto::ProductBody;
use mercato::search::SearchRequest;
use mercato::Mercato;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The category every imported product carries (the file has none).
pub const CATEGORY: &str = "Home Improvement";
/// Products per `upsert_products` call, as the import route sends them.
const IMPORT_CHUNK: usize = 1_000;
/// Ranks scored.
const CUTOFF: usize = 10;

/// The judgements of a file (or a slice of one).
#[derive(Debug, Default)]
pub struct Judged {
    /// product_uid -> title (the first title seen).
    pub titles: BTreeMap<u64, String>,
    /// search term -> product_uid -> gain (`relevance - 1`).
    pub gains: BTreeMap<String, HashMap<u64, f64>>,
}

/// Splits one CSV line (fields may be double-quoted, "" is a quote).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut current)),
            (other, _) => current.push(other),
        }
    }
    out.push(current);
    out
}

/// Reads `train.csv` bytes (Latin-1, header row; columns id, product_uid,
/// product_title, search_term, relevance).
pub fn parse(bytes: &[u8]) -> anyhow::Result<Judged> {
    // Latin-1: every byte is the code point of the same value.
    let text: String = bytes.iter().map(|&byte| char::from(byte)).collect();
    let mut judged = Judged::default();
    for line in text.lines().skip(1) {
        let row = fields(line);
        if row.len() != 5 {
            bail!("bad line: {line}");
        }
        let uid: u64 = row[1].parse().with_context(|| format!("product_uid {}", row[1]))?;
        let relevance: f64 = row[4].parse().with_context(|| format!("relevance {}", row[4]))?;
        judged.titles.entry(uid).or_insert_with(|| row[2].clone());
        judged.gains.entry(row[3].clone()).or_default().insert(uid, relevance - 1.0);
    }
    Ok(judged)
}

/// The product id of a product_uid.
pub fn product_id(uid: u64) -> String {
    format!("P-{uid}")
}

/// One NDJSON line of the import: the title, its first word as the brand
/// (how this data is usually read), one category, one variant.
pub fn import_line(uid: u64, title: &str) -> serde_json::Value {
    let brand = title.split_whitespace().next();
    serde_json::json!({
        "id": product_id(uid),
        "title": title,
        "brand": brand,
        "category": [CATEGORY],
        "variants": [{"sku": format!("HD-{uid}"), "price": {"cents": 1_000, "currency": "USD"}}],
    })
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Imported {
    pub imported: usize,
    /// (product_uid, why) of each product the import refused.
    pub refused: Vec<(u64, String)>,
}

/// Imports every title as a product through the catalog import, then waits
/// until search sees all of them.
pub async fn import(mercato: &Mercato, judged: &Judged) -> anyhow::Result<Imported> {
    let mut report = Imported::default();
    let titles: Vec<(&u64, &String)> = judged.titles.iter().collect();
    for chunk in titles.chunks(IMPORT_CHUNK) {
        let mut uids = Vec::with_capacity(chunk.len());
        let mut drafts = Vec::with_capacity(chunk.len());
        for (uid, title) in chunk {
            let line = import_line(**uid, title).to_string();
            let parsed = serde_json::from_str::<ProductBody>(&line)
                .map_err(|err| err.to_string())
                .and_then(|body| body.parse().map_err(|problem| problem.detail));
            match parsed {
                Ok(parsed) => {
                    uids.push(**uid);
                    drafts.push(parsed.draft);
                }
                Err(why) => report.refused.push((**uid, why)),
            }
        }
        for (uid, result) in uids.into_iter().zip(mercato.catalog().upsert_products(drafts).await?) {
            match result {
                Ok(_) => report.imported += 1,
                Err(err) => report.refused.push((uid, err.to_string())),
            }
        }
    }
    let started = Instant::now();
    loop {
        let total = mercato.search().query(&SearchRequest::default())?.total;
        if total == report.imported as u64 {
            return Ok(report);
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("search shows {total} of {} imported products after 10 minutes", report.imported);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// NDCG@10 of a ranking: gain of an unjudged product 0, ideal DCG from the
/// judged gains; `None` when the ideal DCG is 0.
pub fn ndcg(ranked: &[u64], gains: &HashMap<u64, f64>) -> Option<f64> {
    let discount = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(CUTOFF)
        .enumerate()
        .map(|(rank, uid)| gains.get(uid).copied().unwrap_or(0.0) * discount(rank))
        .sum();
    let mut ideal: Vec<f64> = gains.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(CUTOFF).enumerate().map(|(rank, gain)| gain * discount(rank)).sum();
    (idcg > 0.0).then(|| dcg / idcg)
}

/// The search's first ten product_uids for `term`, as `GET /v1/search?q=term`
/// returns them (default parameters).
pub fn ranked(mercato: &Mercato, term: &str) -> anyhow::Result<Vec<u64>> {
    let results = mercato.search().query(&SearchRequest::text(term))?;
    Ok(results
        .hits
        .iter()
        .take(CUTOFF)
        .filter_map(|hit| hit.product_id.strip_prefix("P-").and_then(|uid| uid.parse().ok()))
        .collect())
}

/// The mean NDCG@10 over the judged terms and how many were scored.
#[derive(Debug)]
pub struct Scored {
    pub ndcg: f64,
    pub terms: usize,
    /// Terms with at least one judged product in their first ten.
    pub with_judged_hit: usize,
}

/// Runs every judged term through the search and scores it.
pub fn evaluate(mercato: &Mercato, judged: &Judged) -> anyhow::Result<Scored> {
    let (mut sum, mut terms, mut with_judged_hit) = (0.0, 0usize, 0usize);
    for (term, gains) in &judged.gains {
        let ranked = ranked(mercato, term)?;
        if let Some(score) = ndcg(&ranked, gains) {
            sum += score;
            terms += 1;
            if ranked.iter().any(|uid| gains.contains_key(uid)) {
                with_judged_hit += 1;
            }
        }
    }
    Ok(Scored { ndcg: if terms == 0 { 0.0 } else { sum / terms as f64 }, terms, with_judged_hit })
}
