//! Search requests and their execution.
//!
//! A query's words (analyzed like the indexed text) are OR-ed: each word is
//! a term query on every text field with that field's boost, and a query of
//! two words or more adds the whole query as a phrase (slop 1) on the title
//! with the phrase boost, so titles holding the words together rank first.
//! Every product the text matches is collected with its BM25 score; filters,
//! disjunctive facets, the commerce score, sorting, sponsored placement and
//! pagination then run over the facts of those documents, in document
//! order (see [`super::facets`] and [`super::ranking`]); only the page's
//! hits read their entries. An empty query browses every product.

use super::analysis::main_words;
use super::facets::{FacetCounter, Facts, Filters};
use super::index::{Fields, Snapshot};
use super::ranking::place_page;
use super::suggest::Suggestion;
use super::{spelling, SearchError, SearchIndex};
use crate::engine::Money;
use serde::Serialize;
use std::cmp::Ordering;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, Term};

pub use super::facets::Facets;

/// Largest page size.
pub const PER_PAGE_MAX: u32 = 100;
/// Deepest result reachable by paging (`page * per_page`).
pub const RESULT_WINDOW_MAX: u64 = 10_000;
/// Longest query text, in characters.
pub const QUERY_CHARS_MAX: usize = 200;
/// Most `brand` filters in one request.
pub const BRANDS_MAX: usize = 50;
/// Query words beyond this many are ignored.
const QUERY_WORDS_MAX: usize = 32;

/// How hits are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Rating,
    Newest,
    Popularity,
}

impl Sort {
    pub fn parse(raw: &str) -> Result<Sort, SearchError> {
        match raw {
            "relevance" => Ok(Sort::Relevance),
            "price_asc" => Ok(Sort::PriceAsc),
            "price_desc" => Ok(Sort::PriceDesc),
            "rating" => Ok(Sort::Rating),
            "newest" => Ok(Sort::Newest),
            "popularity" => Ok(Sort::Popularity),
            other => Err(SearchError::Invalid(format!(
                "sort: unknown value {other:?}; expected relevance, price_asc, price_desc, rating, newest or popularity"
            ))),
        }
    }
}

/// A search, validated by [`SearchRequest::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub q: String,
    pub filters: Filters,
    pub sort: Sort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest { q: String::new(), filters: Filters::default(), sort: Sort::Relevance, page: 1, per_page: 20 }
    }
}

impl SearchRequest {
    /// A request for `q` with the defaults.
    pub fn text(q: &str) -> SearchRequest {
        SearchRequest { q: q.to_owned(), ..SearchRequest::default() }
    }

    /// Parses a category filter written `Electronics/Audio`.
    pub fn parse_category(raw: &str) -> Result<Vec<String>, SearchError> {
        let levels: Vec<String> = raw.split('/').map(|level| level.trim().to_owned()).collect();
        if levels.is_empty()
            || levels.len() > crate::engine::catalog::CATEGORY_LEVELS_MAX
            || levels.iter().any(String::is_empty)
        {
            return Err(SearchError::Invalid(format!("category: {raw:?} is not a path like Electronics/Audio")));
        }
        Ok(levels)
    }

    pub fn validate(&self) -> Result<(), SearchError> {
        let invalid = |detail: String| Err(SearchError::Invalid(detail));
        if self.q.chars().count() > QUERY_CHARS_MAX {
            return invalid(format!("q: longer than {QUERY_CHARS_MAX} characters"));
        }
        if self.per_page == 0 || self.per_page > PER_PAGE_MAX {
            return invalid(format!("per_page: must be 1..={PER_PAGE_MAX}"));
        }
        if self.page == 0 || u64::from(self.page) * u64::from(self.per_page) > RESULT_WINDOW_MAX {
            return invalid(format!("page: must be at least 1, and page * per_page at most {RESULT_WINDOW_MAX}"));
        }
        let filters = &self.filters;
        if filters.brands.len() > BRANDS_MAX {
            return invalid(format!("brand: at most {BRANDS_MAX} values"));
        }
        if filters.price_min_cents.is_some_and(|cents| cents < 0)
            || filters.price_max_cents.is_some_and(|cents| cents < 0)
        {
            return invalid("price_min, price_max: must not be negative".to_owned());
        }
        if let (Some(min), Some(max)) = (filters.price_min_cents, filters.price_max_cents) {
            if min > max {
                return invalid(format!("price_min ({min}) is above price_max ({max})"));
            }
        }
        if filters.rating_min.is_some_and(|rating| !(0.0..=5.0).contains(&rating)) {
            return invalid("rating_min: must be within 0..=5".to_owned());
        }
        Ok(())
    }
}

/// One product in the results.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub product_id: String,
    pub title: String,
    pub brand: Option<String>,
    #[schema(value_type = crate::http::product_dto::MoneyBody)]
    pub price: Money,
    pub rating: Option<f64>,
    pub in_stock: bool,
    pub variant_count: u32,
    pub score: f64,
    pub sponsored: bool,
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    pub did_you_mean: Option<String>,
}

/// A product that passed the filters, as the ranking sees it: 24 bytes
/// with everything the order needs, so sorting tens of thousands of them
/// reads no entry.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    /// The sort's own key, smaller first (0 for relevance).
    key: f64,
    score: f64,
    text_score: f32,
    slot: u32,
    sponsored: bool,
}

/// Text matches: per segment (its ordinal), each document and its score.
type Matches = Vec<(SegmentOrdinal, Vec<(DocId, Score)>)>;

impl SearchIndex {
    /// Runs `request` against the current snapshot.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        request.validate()?;
        let snapshot = self.snapshot();
        let (matches, did_you_mean) = self.text_matches(&snapshot, &request.q)?;
        let matches = matches.unwrap_or_else(|| {
            // No words: browse every product.
            let segments = snapshot.searcher.segment_readers().iter().enumerate();
            segments
                .map(|(ordinal, reader)| {
                    let ordinal = SegmentOrdinal::try_from(ordinal).unwrap_or(SegmentOrdinal::MAX);
                    (ordinal, reader.doc_ids_alive().map(|doc| (doc, 1.0)).collect())
                })
                .collect()
        });
        Ok(self.rank(&matches, request, &snapshot, did_you_mean))
    }

    /// Completions of `query` (at most `limit`, capped at 10).
    pub fn suggest(&self, query: &str, limit: usize) -> Vec<Suggestion> {
        if query.chars().count() > QUERY_CHARS_MAX {
            return Vec::new();
        }
        self.snapshot().suggester.suggest(query, limit)
    }

    /// The products the text of `q` matches with their BM25 scores, or
    /// `None` to browse everything (no words); and the corrected query.
    #[allow(clippy::type_complexity)]
    fn text_matches(&self, snapshot: &Snapshot, q: &str) -> Result<(Option<Matches>, Option<String>), SearchError> {
        let original: Vec<String> = main_words(q).into_iter().map(|word| word.text).collect();
        if original.is_empty() {
            return Ok((None, None));
        }
        let correction = spelling::correct(&snapshot.searcher, self.fields.spell, q, &snapshot.spelling)?;
        let (query_text, extra) = match &correction {
            Some(correction) => (correction.text.as_str(), correction.kept.join(" ")),
            None => (q, String::new()),
        };
        let mut terms: Vec<String> = main_words(query_text).into_iter().map(|word| word.text).collect();
        terms.truncate(QUERY_WORDS_MAX);
        let mut all_terms = terms.clone();
        all_terms.extend(main_words(&extra).into_iter().map(|word| word.text));
        let query = self.text_query(&all_terms, &terms);
        let scored = snapshot.searcher.search(&query, &DocScores)?;
        Ok((Some(scored), correction.map(|correction| correction.text)))
    }

    fn text_query(&self, terms: &[String], phrase: &[String]) -> BooleanQuery {
        let Fields { title, brand, category, attributes, description, .. } = self.fields;
        let config = &self.config;
        let boosted = [
            (title, config.title_boost),
            (brand, config.brand_boost),
            (category, config.category_boost),
            (attributes, config.attributes_boost),
            (description, config.description_boost),
        ];
        let mut unique: Vec<&String> = terms.iter().collect();
        unique.sort();
        unique.dedup();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in unique {
            for (field, boost) in boosted {
                if boost <= 0.0 {
                    continue;
                }
                let query = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost))));
            }
        }
        if phrase.len() >= 2 && config.phrase_boost > 0.0 {
            let phrase_terms: Vec<Term> = phrase.iter().map(|term| Term::from_field_text(title, term)).collect();
            let mut query = PhraseQuery::new(phrase_terms);
            query.set_slop(1);
            clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), config.phrase_boost))));
        }
        BooleanQuery::new(clauses)
    }

    /// Filters, facets, scores, sorts and pages the text matches.
    fn rank(
        &self,
        matches: &Matches,
        request: &SearchRequest,
        snapshot: &Snapshot,
        did_you_mean: Option<String>,
    ) -> SearchResults {
        let config = &self.config;
        let filters = &request.filters;
        let selection = filters.resolve(&snapshot.vocab);
        let mut counter = FacetCounter::new(&snapshot.vocab);
        let mut matching: Vec<Ranked> = Vec::new();
        let mut best_text: f32 = 0.0;
        for (ordinal, docs) in matches {
            let Some(segment) = snapshot.segments.get(*ordinal as usize) else { continue };
            for &(doc, text_score) in docs {
                let Some(facts) = segment.get(doc as usize) else { continue };
                let passes = selection.passes(facts);
                counter.add(facts, passes, &selection);
                if passes.all() {
                    best_text = best_text.max(text_score);
                    matching.push(Ranked {
                        key: sort_key(facts, request.sort, config),
                        score: config.score(f64::from(text_score), facts, snapshot.units_max),
                        text_score,
                        slot: facts.slot,
                        sponsored: facts.sponsored,
                    });
                }
            }
        }
        let total = matching.len() as u64;
        // Only the first `page * per_page` of each kind can reach the page.
        let needed = request.page as usize * request.per_page as usize;
        let slots = if request.sort == Sort::Relevance { config.sponsored_per_page } else { 0 };
        let threshold = f64::from(best_text) * config.sponsored_min_relevance;
        let is_ad = |ranked: &Ranked| slots > 0 && ranked.sponsored && f64::from(ranked.text_score) >= threshold;
        let mut ads: Vec<Ranked> = Vec::new();
        if slots > 0 {
            matching.retain(|ranked| {
                let ad = is_ad(ranked);
                if ad {
                    ads.push(*ranked);
                }
                !ad
            });
        }
        top(&mut ads, needed);
        top(&mut matching, needed);
        let ad_count = ads.len();
        let mut ranked = ads;
        ranked.extend(matching);
        let order: Vec<usize> = (0..ranked.len()).collect();
        let placed =
            place_page(&order, &|index| index < ad_count, slots, request.page as usize, request.per_page as usize);
        let hits = placed
            .into_iter()
            .filter_map(|(index, sponsored)| {
                let Ranked { score, slot, .. } = ranked[index];
                let entry = snapshot.table.get(slot as usize)?.as_deref()?;
                Some(Hit {
                    product_id: entry.product_id.clone(),
                    title: entry.title.clone(),
                    brand: entry.brand.clone(),
                    price: entry.price,
                    rating: entry.rating,
                    in_stock: entry.in_stock,
                    variant_count: entry.variant_count,
                    score: (score * 1000.0).round() / 1000.0,
                    sponsored,
                })
            })
            .collect();
        SearchResults {
            total,
            page: request.page,
            per_page: request.per_page,
            hits,
            facets: counter.finish(&snapshot.vocab, filters),
            did_you_mean,
        }
    }
}

/// The key `sort` orders by, smaller first (exact: every value is an
/// integer below 2^53 or a rating).
fn sort_key(facts: &Facts, sort: Sort, config: &super::SearchConfig) -> f64 {
    match sort {
        Sort::Relevance => 0.0,
        Sort::PriceAsc => facts.price_cents as f64,
        Sort::PriceDesc => -(facts.price_cents as f64),
        Sort::Rating => -config.bayes_rating(facts),
        Sort::Newest => -(facts.created_at_ms as f64),
        Sort::Popularity => -f64::from(facts.units_sold),
    }
}

/// The order of the results: the sort's key, then score (highest first),
/// then slot (the order products entered the index), so it is total.
fn compare(a: &Ranked, b: &Ranked) -> Ordering {
    a.key.total_cmp(&b.key).then_with(|| b.score.total_cmp(&a.score)).then_with(|| a.slot.cmp(&b.slot))
}

/// Keeps the first `needed` of `items` in order, sorted.
fn top(items: &mut Vec<Ranked>, needed: usize) {
    if needed == 0 {
        items.clear();
        return;
    }
    if items.len() > needed {
        items.select_nth_unstable_by(needed - 1, compare);
        items.truncate(needed);
    }
    items.sort_unstable_by(compare);
}

/// Collects every matching document and its score, per segment.
struct DocScores;

struct SegmentDocScores {
    ordinal: SegmentOrdinal,
    found: Vec<(DocId, Score)>,
}

impl Collector for DocScores {
    type Fruit = Matches;
    type Child = SegmentDocScores;

    fn for_segment(&self, ordinal: SegmentOrdinal, _reader: &SegmentReader) -> tantivy::Result<SegmentDocScores> {
        Ok(SegmentDocScores { ordinal, found: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<(SegmentOrdinal, Vec<(DocId, Score)>)>) -> tantivy::Result<Matches> {
        Ok(fruits)
    }
}

impl SegmentCollector for SegmentDocScores {
    type Fruit = (SegmentOrdinal, Vec<(DocId, Score)>);

    fn collect(&mut self, doc: DocId, score: Score) {
        self.found.push((doc, score));
    }

    fn harvest(self) -> Self::Fruit {
        (self.ordinal, self.found)
    }
}
