//! The relevance evaluation's path (`examples/homedepot_eval.rs`): a slice of
//! the Home Depot judgements imported through the catalog import and scored
//! through the real search. The full figure needs a release build; here the
//! slice checks that the products land as the eval imports them, that the
//! eval's ranking is what `search().query` returns with default
//! parameters, and that its NDCG follows from that ranking.

use crate::homedepot_relevance as eval;
use mercato::search::SearchRequest;
use mercato::{Config, Durability, Mercato};
use std::collections::HashMap;
use std::path::Path;

const DATA: &str = "../shared/data/homedepot/train.csv";
/// Judged pairs read from the head of the file.
const SLICE_LINES: usize = 3_000;

/// The file's header and first lines, or `None` when the shared data is not
/// beside the checkout.
fn slice() -> Option<eval::Judged> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA);
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipped: {} not found", path.display());
        return None;
    };
    let end =
        bytes.iter().enumerate().filter(|(_, byte)| **byte == b'\n').nth(SLICE_LINES).map_or(bytes.len(), |(at, _)| at);
    Some(eval::parse(&bytes[..end]).expect("the slice parses"))
}

#[test]
fn ndcg_follows_the_protocol() {
    let gains: HashMap<u64, f64> = [(1, 2.0), (2, 1.0), (3, 0.0)].into_iter().collect();
    assert_eq!(eval::ndcg(&[1, 2, 3], &gains), Some(1.0));
    // Unjudged products gain nothing; the ideal still counts the judged.
    let swapped = eval::ndcg(&[9, 2, 1], &gains).unwrap();
    let ideal = 2.0 + 1.0 / 3f64.log2();
    assert!((swapped - (1.0 / 3f64.log2() + 2.0 / 4f64.log2()) / ideal).abs() < 1e-12);
    // Ideal DCG 0: the term is not scored.
    assert_eq!(eval::ndcg(&[3], &[(3, 0.0)].into_iter().collect()), None);
    // Only the first ten count.
    let late: Vec<u64> = (100..110).chain([1]).collect();
    assert_eq!(eval::ndcg(&late, &gains), Some(0.0));
}

#[test]
fn the_import_line_carries_the_first_word_as_brand() {
    let line = eval::import_line(100001, "Simpson Strong-Tie 12-Gauge Angle");
    assert_eq!(line["brand"], "Simpson");
    assert_eq!(line["category"][0], eval::CATEGORY);
    assert_eq!(line["id"], "P-100001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_of_the_judgements_is_scored_through_the_import_and_the_search() {
    let Some(judged) = slice() else { return };
    assert!(judged.titles.len() > 1_000, "{} products", judged.titles.len());
    let dir = tempfile::tempdir().unwrap();
    let mercato = Mercato::open(Config::new(dir.path()).durability(Durability::Memory)).unwrap();
    let imported = eval::import(&mercato, &judged).await.unwrap();
    assert_eq!(imported.imported, judged.titles.len(), "refused: {:?}", imported.refused);

    // The products are the catalog's, as the import made them.
    let (uid, title) = judged.titles.iter().next().unwrap();
    let product = mercato.catalog().product(&mercato::engine::ProductId::parse(&eval::product_id(*uid)).unwrap());
    let product = product.expect("imported");
    assert_eq!(&product.title, title);
    assert_eq!(product.brand.as_deref(), title.split_whitespace().next());

    let scored = tokio::task::block_in_place(|| {
        // The eval's ranking is the search's first page, default parameters.
        for term in judged.gains.keys().take(50) {
            let hits = mercato.search().query(&SearchRequest::text(term)).unwrap().hits;
            let expected: Vec<u64> =
                hits.iter().take(10).map(|hit| hit.product_id.strip_prefix("P-").unwrap().parse().unwrap()).collect();
            assert_eq!(eval::ranked(&mercato, term).unwrap(), expected, "{term}");
        }
        eval::evaluate(&mercato, &judged).unwrap()
    });
    let scorable = judged.gains.values().filter(|gains| gains.values().any(|gain| *gain > 0.0)).count();
    assert_eq!(scored.terms, scorable);
    // Over a slice a twentieth of the size, every judged product competes
    // with fewer others: the search finds judged products for most terms.
    assert!(scored.with_judged_hit * 2 > scored.terms, "{scored:?}");
    assert!(scored.ndcg > 0.3 && scored.ndcg <= 1.0, "{scored:?}");
    mercato.shutdown().await.unwrap();
}
