//! Product search: a tantivy index that follows the catalog.
//!
//! The index is a projection of the event log. [`Indexer`] applies catalog
//! and inventory events in log order and commits them in batches; each
//! tantivy commit carries, in its payload, the sequence number of the last
//! event it covers, so the index and its offset are stored atomically and a
//! restart resumes exactly after the last committed event (nothing missed,
//! nothing counted twice).
//!
//! Each product is one document. Its text fields (title, brand, category
//! names, attributes, description) are analyzed by [`analysis`]; a stored
//! [`Entry`] keeps what hits, filters, facets and ranking need, including the
//! units sold (popularity) and availability the projection derived from the
//! log up to the committed offset. On open, those entries are read back from
//! the index into an in-memory table indexed by a per-product slot (a fast
//! field of the document). Each segment of the index also has its
//! [`facets::Facts`] (price, rating, brand and category ids, counters) in an
//! array by document id, so a query finds its text matches in tantivy and
//! does filters, facets, sorting and commerce ranking reading those arrays
//! in order; the table gives the page's hits their entries.
//!
//! # Layout
//!
//! - [`analysis`]: tokenizer, units, stop words, stemming.
//! - [`index`]: schema, open/create/rebuild, the writer side ([`Indexer`]).
//! - [`query`]: requests, text queries, execution.
//! - [`facets`]: filters and disjunctive facet counts (pure).
//! - [`ranking`]: the scoring formula, sorts and sponsored placement (pure).
//! - [`spelling`]: "did you mean" over the term dictionary.
//! - [`suggest`]: prefix completion.

pub mod analysis;
pub mod facets;
pub mod index;
pub mod query;
pub mod ranking;
pub mod spelling;
pub mod suggest;

use crate::engine::{Money, Product};
use serde::{Deserialize, Serialize};

pub use facets::{Facets, Filters};
pub use index::{Indexer, Location, Opened, SearchIndex};
pub use query::{Hit, SearchRequest, SearchResults, Sort};
pub use ranking::SearchConfig;
pub use suggest::{Suggestion, SuggestionKind};

/// A search failure: bad input, or the index itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("invalid search request: {0}")]
    Invalid(String),
    #[error("search index failure: {0}")]
    Index(String),
    #[error("search index is corrupt: {0}")]
    Corrupt(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(err: tantivy::TantivyError) -> Self {
        SearchError::Index(err.to_string())
    }
}

impl From<std::io::Error> for SearchError {
    fn from(err: std::io::Error) -> Self {
        SearchError::Index(err.to_string())
    }
}

/// Where availability comes from: units of a SKU available now.
pub trait StockSource: Send + Sync {
    fn available(&self, sku: &str) -> u64;
}

impl<F: Fn(&str) -> u64 + Send + Sync> StockSource for F {
    fn available(&self, sku: &str) -> u64 {
        self(sku)
    }
}

/// What the index keeps per product (stored in the document, and in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub product_id: String,
    pub title: String,
    pub brand: Option<String>,
    /// Category levels, root first.
    pub category: Vec<String>,
    /// The lowest variant price.
    pub price: Money,
    pub variant_count: u32,
    pub rating: Option<f64>,
    pub review_count: u64,
    pub sponsored: bool,
    pub created_at_ms: u64,
    pub skus: Vec<String>,
    /// Attribute values and description: indexed text, kept so the document
    /// can be rewritten when its counters change.
    pub attributes: String,
    pub description: String,
    /// Units sold (`Committed` events of its SKUs up to the offset).
    pub units_sold: u64,
    /// Whether any variant had units available when last checked.
    pub in_stock: bool,
}

/// Format version of a stored [`Entry`] (first byte of the stored bytes).
pub const ENTRY_FORMAT_VERSION: u8 = 1;

impl Entry {
    /// The entry of `product` (counters start at zero).
    pub fn from_product(product: &Product) -> Entry {
        let attributes: Vec<&str> = product.attributes.values().map(String::as_str).collect();
        Entry {
            product_id: product.id.to_string(),
            title: product.title.clone(),
            brand: product.brand.clone(),
            category: product.category.levels().to_vec(),
            price: product.lowest_price(),
            variant_count: u32::try_from(product.variants.len()).unwrap_or(u32::MAX),
            rating: product.rating,
            review_count: product.review_count,
            sponsored: product.sponsored,
            created_at_ms: product.created_at.as_millis(),
            skus: product.variants.iter().map(|variant| variant.sku.to_string()).collect(),
            attributes: attributes.join(" "),
            description: product.description.clone(),
            units_sold: 0,
            in_stock: false,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, SearchError> {
        let mut bytes = vec![ENTRY_FORMAT_VERSION];
        bincode::serde::encode_into_std_write(self, &mut bytes, bincode::config::standard())
            .map_err(|err| SearchError::Index(err.to_string()))?;
        Ok(bytes)
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, SearchError> {
        let Some((&version, payload)) = bytes.split_first() else {
            return Err(SearchError::Corrupt("empty stored entry".to_owned()));
        };
        if version != ENTRY_FORMAT_VERSION {
            return Err(SearchError::Corrupt(format!("stored entry has format version {version}")));
        }
        let (entry, _) = bincode::serde::decode_from_slice(payload, bincode::config::standard())
            .map_err(|err| SearchError::Corrupt(err.to_string()))?;
        Ok(entry)
    }

    /// Category names as one text.
    pub fn category_text(&self) -> String {
        self.category.join(" ")
    }
}
