//! `browse`: what shoppers do most: read products, search, and type into the
//! search box.
//!
//! Product reads go to ids discovered at setup. Search and suggest queries come
//! from the WANDS query set (`query.csv`: query_id, query, query_class,
//! tab-separated, with a header); suggest sends a prefix of a query, as typed.
//! A server without search answers those with 404: they count as outcomes like
//! any other, and `browse` has no check of its own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::RunConfig;
use crate::http::{encode_query_value, Request, Target};
use crate::scenario::catalog;

/// The repository's copy of the WANDS queries (may be absent).
pub const DEFAULT_QUERIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/wands/query.csv");
/// Queries used when the default file is absent.
const BUILT_IN_QUERIES: &[&str] = &[
    "wireless headphones",
    "noise cancelling earbuds",
    "coffee table",
    "office chair",
    "running shoes",
    "baby formula",
    "desk lamp",
    "bluetooth speaker",
    "area rug",
    "kitchen knife set",
    "stainless steel water bottle",
    "phone case",
];
/// Queries drawn with `--generated-queries`.
const GENERATED_QUERIES: usize = 2_000;
/// Shortest prefix sent to suggest (unless the query itself is shorter).
const SUGGEST_PREFIX_CHARS_MIN: usize = 2;

/// Relative weights of the three kinds of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub products: u32,
    pub search: u32,
    pub suggest: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { products: 80, search: 15, suggest: 5 }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "products={},search={},suggest={}", self.products, self.search, self.suggest)
    }
}

/// One kind of browse request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Product,
    Search,
    Suggest,
}

impl Mix {
    pub fn validate(&self) -> Result<(), String> {
        if self.total() == 0 {
            return Err("the mix needs at least one positive weight".to_owned());
        }
        Ok(())
    }

    fn total(&self) -> u64 {
        u64::from(self.products) + u64::from(self.search) + u64::from(self.suggest)
    }

    /// The kind for a roll in `0..total`.
    fn pick(&self, roll: u64) -> Kind {
        if roll < u64::from(self.products) {
            Kind::Product
        } else if roll < u64::from(self.products) + u64::from(self.search) {
            Kind::Search
        } else {
            Kind::Suggest
        }
    }
}

/// `browse`, set up.
#[derive(Debug)]
pub struct Browse {
    product_ids: Vec<String>,
    queries: Vec<String>,
    queries_from: String,
    mix: Mix,
}

impl Browse {
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<Browse> {
        config.mix.validate().map_err(anyhow::Error::msg)?;
        let (queries, queries_from) = if config.generated_queries {
            let mut rng = StdRng::seed_from_u64(config.seed);
            let queries = (0..GENERATED_QUERIES).map(|_| mercato::generate::query(&mut rng)).collect();
            (queries, "generated from the catalog vocabularies".to_owned())
        } else {
            load_queries(config.queries.as_deref())?
        };
        catalog::check_server(target).await?;
        let products = catalog::discover(target).await?;
        Ok(Browse {
            product_ids: products.into_iter().map(|product| product.id).collect(),
            queries,
            queries_from,
            mix: config.mix,
        })
    }

    pub fn next_request(&self, rng: &mut StdRng) -> Request {
        match self.mix.pick(rng.random_range(0..self.mix.total())) {
            Kind::Product => {
                let id = &self.product_ids[rng.random_range(0..self.product_ids.len())];
                Request::get(format!("/v1/products/{id}"))
            }
            Kind::Search => {
                let query = &self.queries[rng.random_range(0..self.queries.len())];
                Request::get(format!("/v1/search?q={}", encode_query_value(query)))
            }
            Kind::Suggest => {
                let query = &self.queries[rng.random_range(0..self.queries.len())];
                let chars = query.chars().count();
                let typed = rng.random_range(chars.min(SUGGEST_PREFIX_CHARS_MIN)..=chars);
                let prefix: String = query.chars().take(typed).collect();
                Request::get(format!("/v1/suggest?q={}", encode_query_value(&prefix)))
            }
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} products, {} queries ({}), mix {}",
            self.product_ids.len(),
            self.queries.len(),
            self.queries_from,
            self.mix
        )
    }
}

/// The queries and where they came from: the given file (which must exist),
/// else the repository's WANDS file, else the built-in list.
fn load_queries(explicit: Option<&Path>) -> anyhow::Result<(Vec<String>, String)> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_QUERIES).is_file() => {
            // Canonical, so the report names it without `loadtest/../..`.
            std::fs::canonicalize(DEFAULT_QUERIES).unwrap_or_else(|_| PathBuf::from(DEFAULT_QUERIES))
        }
        None => {
            let queries = BUILT_IN_QUERIES.iter().map(|query| (*query).to_owned()).collect();
            return Ok((queries, "built-in list".to_owned()));
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading queries from {}", path.display()))?;
    let queries = parse_queries(&text);
    ensure!(!queries.is_empty(), "no queries in {}", path.display());
    Ok((queries, path.display().to_string()))
}

/// The `query` column of a WANDS `query.csv` (tab-separated, header first).
fn parse_queries(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| line.split('\t').nth(1))
        .map(str::trim)
        .filter(|query| !query.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_the_second_column_after_the_header() {
        let text =
            "query_id\tquery\tquery_class\n0\tsalon chair\tMassage Chairs\n1\t \tEmpty\n2\tsmart coffee table\t\n";
        assert_eq!(parse_queries(text), vec!["salon chair".to_owned(), "smart coffee table".to_owned()]);
    }

    #[test]
    fn a_missing_default_falls_back_but_a_missing_file_is_an_error() {
        assert!(load_queries(Some(Path::new("/nonexistent/query.csv"))).is_err());
        let (queries, from) = load_queries(None).expect("queries");
        assert!(!queries.is_empty());
        assert!(from == "built-in list" || from.ends_with("query.csv"), "{from}");
    }

    #[test]
    fn the_mix_is_followed() {
        let browse = Browse {
            product_ids: vec!["P-1000".to_owned()],
            queries: vec!["wireless headphones".to_owned()],
            queries_from: "test".to_owned(),
            mix: Mix::default(),
        };
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = [0_u32; 3];
        for _ in 0..10_000 {
            let request = browse.next_request(&mut rng);
            let slot = if request.path.starts_with("/v1/products/") {
                0
            } else if request.path.starts_with("/v1/search?q=wireless%20headphones") {
                1
            } else {
                assert!(request.path.starts_with("/v1/suggest?q=wi"), "{}", request.path);
                2
            };
            counts[slot] += 1;
        }
        assert!((7_700..8_300).contains(&counts[0]), "{counts:?}");
        assert!((1_300..1_700).contains(&counts[1]), "{counts:?}");
        assert!((350..650).contains(&counts[2]), "{counts:?}");
    }
}
