//! Relevance evaluation on the Home Depot judgements (shared/data/homedepot),
//! through the product's own path.
//!
//! ```text
//! cargo run --release --example homedepot_eval -- ../shared/data/homedepot/train.csv
//! ```
//!
//! Protocol (shared/data/README.md, Search): every distinct product title
//! (54,667) is imported as a product through the catalog import, as a real
//! catalog carries it (the title's first word as its brand, one category
//! for all), into an embedded `Mercato`; every distinct search term is run
//! through `mercato.search().query`, what `GET /v1/search` calls, with the
//! default parameters; the first 10 hits are scored with gain = relevance -
//! 1 (unjudged: 0), terms whose ideal DCG is 0 are dropped, and NDCG@10 is
//! the mean over the rest (see `homedepot/relevance.rs`). The baseline is
//! plain BM25 on titles: lowercase alphanumeric tokens, no stemming, terms
//! OR-ed. Nothing here is tuned on this data: it measures.

#[path = "homedepot/relevance.rs"]
mod relevance;

use mercato::{Config, Durability, Mercato};
use relevance::{ndcg, Judged};
use std::time::Instant;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Schema, Value, STORED, TEXT};
use tantivy::{Index, TantivyDocument, Term};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/homedepot/train.csv".to_owned());
    let bytes = std::fs::read(&path).map_err(|err| anyhow::anyhow!("reading {path}: {err}"))?;
    let judged = relevance::parse(&bytes)?;
    println!("{} products, {} distinct terms", judged.titles.len(), judged.gains.len());
    let (base, base_count) = baseline(&judged)?;
    println!("baseline  (BM25 on titles, no stemming): NDCG@10 {base:.4} over {base_count} terms");

    let dir = tempfile::tempdir()?;
    let mercato = Mercato::open(Config::new(dir.path()).durability(Durability::Memory))?;
    let started = Instant::now();
    let imported = relevance::import(&mercato, &judged).await?;
    println!(
        "imported {} products through the catalog import ({} refused) and indexed in {:.2?}",
        imported.imported,
        imported.refused.len(),
        started.elapsed()
    );
    for (uid, why) in imported.refused.iter().take(5) {
        println!("  refused {uid}: {why}");
    }
    let started = Instant::now();
    let scored = tokio::task::block_in_place(|| relevance::evaluate(&mercato, &judged))?;
    let per_query_ms = started.elapsed().as_secs_f64() * 1000.0 / judged.gains.len() as f64;
    println!(
        "mercato   (catalog import + search):     NDCG@10 {:.5} over {} terms ({:.0}% with a judged hit in the top 10; {per_query_ms:.2} ms/query)",
        scored.ndcg,
        scored.terms,
        100.0 * scored.with_judged_hit as f64 / scored.terms as f64,
    );
    mercato.shutdown().await?;
    Ok(())
}
