//! Relevance evaluation on the Home Depot judgements (shared/data/homedepot).
//!
//! ```text
//! cargo run --release --example homedepot_eval -- ../shared/data/homedepot/train.csv
//! ```
//!
//! Protocol (shared/data/README.md): every distinct product title is
//! indexed as a product (54,667), every distinct search term is run against
//! the whole index, the top 10 are scored with gain = relevance - 1
//! (unjudged: 0), terms whose ideal DCG is 0 are dropped, and NDCG@10 is
//! the mean over the rest. The engine under test is `mercato::search`
//! itself (same analysis, query, spelling and ranking code as the server).
//! The baseline is plain BM25 on titles: lowercase alphanumeric tokens, no
//! stemming, terms OR-ed. Nothing here is tuned on this data: it measures.

use anyhow::{bail, Context};
use mercato::engine::{CategoryPath, Currency, Money, Product, ProductDraft, ProductId, SellerId, Sku, Timestamp};
use mercato::search::{Location, SearchConfig, SearchIndex, SearchRequest};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, Value, STORED, TEXT};
use tantivy::{Index, TantivyDocument, Term};

struct Judged {
    titles: BTreeMap<u64, String>,
    /// term -> product -> gain
    gains: BTreeMap<String, HashMap<u64, f64>>,
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

fn read(path: &str) -> anyhow::Result<Judged> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    // Latin-1: every byte is the code point of the same value.
    let text: String = bytes.iter().map(|&byte| char::from(byte)).collect();
    let mut judged = Judged { titles: BTreeMap::new(), gains: BTreeMap::new() };
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

fn product(uid: u64, title: &str) -> anyhow::Result<Product> {
    let id = ProductId::parse(&format!("P-{uid}"))?;
    let sku = Sku::parse(&format!("HD-{uid}"))?;
    let category = CategoryPath::parse(vec!["Home Improvement".to_owned()])?;
    let mut draft = ProductDraft::single(id, title, category, sku, Money::new(1_000, Currency::USD));
    draft.seller_id = SellerId::parse("S-HOMEDEPOT")?;
    Ok(Product::create(draft, Timestamp::from_millis(0))?)
}

fn ndcg(ranked: &[u64], gains: &HashMap<u64, f64>) -> Option<f64> {
    let discount = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(rank, uid)| gains.get(uid).copied().unwrap_or(0.0) * discount(rank))
        .sum();
    let mut ideal: Vec<f64> = gains.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(rank, gain)| gain * discount(rank)).sum();
    (idcg > 0.0).then(|| dcg / idcg)
}

fn mercato_ranking(judged: &Judged) -> anyhow::Result<(f64, usize, f64)> {
    let config = SearchConfig { writer_threads: 2, writer_memory_bytes: 200 << 20, ..SearchConfig::default() };
    let (index, mut indexer, _) = SearchIndex::open(&Location::Ram, config)?;
    let started = Instant::now();
    let in_stock = |_: &str| 1u64;
    for (uid, title) in &judged.titles {
        indexer.upsert(&product(*uid, title)?, &in_stock);
    }
    indexer.commit()?;
    println!("indexed {} products in {:.2?}", judged.titles.len(), started.elapsed());
    let started = Instant::now();
    let (mut sum, mut count) = (0.0, 0usize);
    for (term, gains) in &judged.gains {
        let results = index.search(&SearchRequest { per_page: 10, ..SearchRequest::text(term) })?;
        let ranked: Vec<u64> = results
            .hits
            .iter()
            .filter_map(|hit| hit.product_id.strip_prefix("P-").and_then(|uid| uid.parse().ok()))
            .collect();
        if let Some(score) = ndcg(&ranked, gains) {
            sum += score;
            count += 1;
        }
    }
    let per_query_ms = started.elapsed().as_secs_f64() * 1000.0 / judged.gains.len() as f64;
    Ok((sum / count as f64, count, per_query_ms))
}

fn baseline(judged: &Judged) -> anyhow::Result<(f64, usize)> {
    let mut builder = Schema::builder();
    let uid_field = builder.add_u64_field("uid", STORED);
    let title_field = builder.add_text_field("title", TEXT);
    let index = Index::create_in_ram(builder.build());
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(2, 200 << 20)?;
    for (uid, title) in &judged.titles {
        let mut doc = TantivyDocument::default();
        doc.add_u64(uid_field, *uid);
        doc.add_text(title_field, title);
        writer.add_document(doc)?;
    }
    writer.commit()?;
    let searcher = index.reader()?.searcher();
    let mut analyzer = index.tokenizer_for_field(title_field)?;
    let (mut sum, mut count) = (0.0, 0usize);
    for (term, gains) in &judged.gains {
        let mut stream = analyzer.token_stream(term);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        while let Some(token) = stream.next() {
            let query = TermQuery::new(Term::from_field_text(title_field, &token.text), IndexRecordOption::WithFreqs);
            clauses.push((Occur::Should, Box::new(query)));
        }
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(10).order_by_score())?;
        let mut ranked = Vec::new();
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(uid) = doc.get_first(uid_field).and_then(|value| value.as_u64()) {
                ranked.push(uid);
            }
        }
        if let Some(score) = ndcg(&ranked, gains) {
            sum += score;
            count += 1;
        }
    }
    Ok((sum / count as f64, count))
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/homedepot/train.csv".to_owned());
    let judged = read(&path)?;
    println!("{} products, {} distinct terms", judged.titles.len(), judged.gains.len());
    let (base, base_count) = baseline(&judged)?;
    println!("baseline  (BM25 on titles, no stemming): NDCG@10 {base:.4} over {base_count} terms");
    let (score, count, per_query_ms) = mercato_ranking(&judged)?;
    println!(
        "mercato   (mercato::search):            NDCG@10 {score:.4} over {count} terms ({per_query_ms:.2} ms/query)"
    );
    Ok(())
}
