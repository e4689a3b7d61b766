//! Search requests and their execution.
//!
//! A query's words (analyzed like the indexed text) are OR-ed. Each word
//! scores once however many fields hold it: the best of its term queries on
//! the text fields (each with that field's boost) plus `field_tie_breaker`
//! times the others (a disjunction max), so a word repeated in a short field
//! (a brand that is also the title's first word) does not count twice and
//! outweigh the query's other words. A query of two words or more adds the
//! whole query as a phrase (slop 1) on the title with the phrase boost, and
//! a query of three words or more each pair of neighbouring words as a
//! phrase (slop [`PAIR_SLOP`]) with the proximity boost, so titles holding
//! the words together, or some of them, rank first. A product holding every
//! word of a query of two words or more (in any of its fields) scores those
//! words again times `all_words_boost` (default 0.5): it answers the whole query, where the
//! plain sum lets one rare word outweigh the query's other words together.
//! Every product the text matches, with its BM25 score, goes through one
//! pass in document order, in chunks: filters, disjunctive facets and the
//! commerce score read the facts of its document, and the best `page *
//! per_page` of each kind are kept (see [`super::facets`] and
//! [`super::ranking`]); sorting, sponsored placement and pagination then
//! work on those few, and only the page's hits read their entries. An
//! empty query browses every product.

use super::analysis::main_words;
use super::facets::{FacetCounter, Facts, Filters, Selection};
use super::index::{Fields, Snapshot};
use super::ranking::{place_page, popularity_scale};
use super::suggest::Suggestion;
use super::{spelling, SearchError, SearchIndex};
use crate::engine::Money;
use serde::Serialize;
use std::cmp::Ordering;
use tantivy::query::{
    BooleanQuery, BoostQuery, DisjunctionMaxQuery, EnableScoring, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, Term};

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
/// Words between the two words of a neighbouring pair (or their swap) still
/// counted as near.
pub const PAIR_SLOP: u32 = 2;

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
    #[schema(value_type = MoneySchema)]
    pub price: Money,
    pub rating: Option<f64>,
    pub in_stock: bool,
    pub variant_count: u32,
    pub score: f64,
    pub sponsored: bool,
}

// The JSON of a hit's `Money`, for the OpenAPI document only: the search
// index is below the HTTP layer and names none of its types.
/// An amount in minor units (cents) of one currency.
#[derive(utoipa::ToSchema)]
#[schema(as = Money)]
#[allow(dead_code)] // never built: it only describes `Money`'s JSON
pub struct MoneySchema {
    pub cents: i64,
    #[schema(example = "USD")]
    pub currency: String,
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

/// A product that passed the filters, as the ranking sees it: 32 bytes
/// with everything the order needs, so ranking tens of thousands of them
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

/// Matches handled together: the facts of a chunk's later matches are
/// requested from memory while the earlier ones are counted.
const CHUNK: usize = 256;

impl SearchIndex {
    /// Runs `request` against the current snapshot.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, SearchError> {
        request.validate()?;
        let snapshot = self.snapshot();
        let (query, did_you_mean) = self.text_query_of(&snapshot, &request.q)?;
        let mut pass = Pass::new(request, &snapshot, &self.config);
        let mut chunk: Vec<(DocId, Score)> = Vec::with_capacity(CHUNK);
        let weight = match &query {
            Some(query) => Some(query.weight(EnableScoring::enabled_from_searcher(&snapshot.searcher))?),
            None => None,
        };
        for (ordinal, reader) in snapshot.searcher.segment_readers().iter().enumerate() {
            let Some(facts) = snapshot.segments.get(ordinal) else { continue };
            let mut visit = |doc: DocId, score: Score| {
                chunk.push((doc, score));
                if chunk.len() == CHUNK {
                    pass.add(facts, &chunk);
                    chunk.clear();
                }
            };
            match (&weight, reader.alive_bitset()) {
                (Some(weight), Some(alive)) => weight.for_each(reader, &mut |doc, score| {
                    if alive.is_alive(doc) {
                        visit(doc, score);
                    }
                })?,
                (Some(weight), None) => weight.for_each(reader, &mut visit)?,
                // No words: browse every product.
                (None, _) => reader.doc_ids_alive().for_each(|doc| visit(doc, 1.0)),
            }
            pass.add(facts, &chunk);
            chunk.clear();
        }
        Ok(pass.finish(did_you_mean))
    }

    /// Completions of `query` (at most `limit`, capped at 10).
    pub fn suggest(&self, query: &str, limit: usize) -> Vec<Suggestion> {
        if query.chars().count() > QUERY_CHARS_MAX {
            return Vec::new();
        }
        self.snapshot().suggester.suggest(query, limit)
    }

    /// The text query of `q` (spelling corrected), or `None` to browse
    /// everything (no words); and the corrected query.
    fn text_query_of(
        &self,
        snapshot: &Snapshot,
        q: &str,
    ) -> Result<(Option<BooleanQuery>, Option<String>), SearchError> {
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
        Ok((Some(query), correction.map(|correction| correction.text)))
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
        let word_query = |term: &str| -> Option<Box<dyn Query>> {
            let mut per_field: Vec<Box<dyn Query>> = Vec::new();
            for (field, boost) in boosted {
                if boost <= 0.0 {
                    continue;
                }
                let query = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
                per_field.push(Box::new(BoostQuery::new(Box::new(query), boost)));
            }
            match per_field.len() {
                0 => None,
                1 => per_field.pop(),
                _ => Some(Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, config.field_tie_breaker))),
            }
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for term in unique {
            if let Some(word) = word_query(term) {
                clauses.push((Occur::Should, word));
            }
        }
        let mut distinct: Vec<&String> = phrase.iter().collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() >= 2 && config.all_words_boost > 0.0 {
            let all: Vec<(Occur, Box<dyn Query>)> =
                distinct.iter().filter_map(|term| word_query(term)).map(|word| (Occur::Must, word)).collect();
            if all.len() == distinct.len() {
                let all = BooleanQuery::new(all);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(all), config.all_words_boost))));
            }
        }
        let phrase_of = |words: &[String], slop: u32, boost: f32| -> (Occur, Box<dyn Query>) {
            let terms: Vec<Term> = words.iter().map(|word| Term::from_field_text(title, word)).collect();
            let mut query = PhraseQuery::new(terms);
            query.set_slop(slop);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost)))
        };
        if phrase.len() >= 2 && config.phrase_boost > 0.0 {
            clauses.push(phrase_of(phrase, 1, config.phrase_boost));
        }
        if phrase.len() >= 3 && config.proximity_boost > 0.0 {
            let mut pairs: Vec<&[String]> = phrase.windows(2).filter(|pair| pair[0] != pair[1]).collect();
            pairs.sort();
            pairs.dedup();
            for pair in pairs {
                clauses.push(phrase_of(pair, PAIR_SLOP, config.proximity_boost));
            }
        }
        BooleanQuery::new(clauses)
    }
}

/// One pass over the matches of a query: filters, facet counts, scores and
/// the best of each kind so far (see the module docs).
struct Pass<'a> {
    request: &'a SearchRequest,
    snapshot: &'a Snapshot,
    config: &'a super::SearchConfig,
    selection: Selection<'a>,
    counter: FacetCounter,
    /// Ad positions on a page (relevance sort only).
    ad_slots: usize,
    organic: TopK,
    /// Whether a sponsored product is placed as an ad depends on the best
    /// text score, known at the end: they wait aside (a small share).
    sponsored: Vec<Ranked>,
    total: u64,
    best_text: f32,
    /// See [`popularity_scale`].
    popularity_scale: f64,
}

impl<'a> Pass<'a> {
    fn new(request: &'a SearchRequest, snapshot: &'a Snapshot, config: &'a super::SearchConfig) -> Pass<'a> {
        // Only the first `page * per_page` of each kind can reach the page.
        let needed = request.page as usize * request.per_page as usize;
        Pass {
            request,
            snapshot,
            config,
            selection: request.filters.resolve(&snapshot.vocab),
            counter: FacetCounter::new(&snapshot.vocab),
            ad_slots: if request.sort == Sort::Relevance { config.sponsored_per_page } else { 0 },
            organic: TopK::new(needed),
            sponsored: Vec::new(),
            total: 0,
            best_text: 0.0,
            popularity_scale: popularity_scale(snapshot.units_max),
        }
    }

    /// Counts and ranks `matches`, documents of the segment whose facts
    /// are `facts`, with their text scores.
    fn add(&mut self, facts: &[Facts], matches: &[(DocId, Score)]) {
        for (index, &(doc, text_score)) in matches.iter().enumerate() {
            if let Some(&(ahead, _)) = matches.get(index + PREFETCH_AHEAD) {
                prefetch(facts.get(ahead as usize));
            }
            let Some(facts) = facts.get(doc as usize) else { continue };
            let passes = self.selection.passes(facts);
            self.counter.add(facts, passes, &self.selection);
            if !passes.all() {
                continue;
            }
            self.total += 1;
            self.best_text = self.best_text.max(text_score);
            let ranked = Ranked {
                key: sort_key(facts, self.request.sort),
                score: self.config.score(f64::from(text_score), facts, self.popularity_scale),
                text_score,
                slot: facts.slot,
                sponsored: facts.sponsored,
            };
            if self.ad_slots > 0 && ranked.sponsored {
                self.sponsored.push(ranked);
            } else {
                self.organic.push(ranked);
            }
        }
    }

    /// Places the ads, pages the results and reads the page's entries.
    fn finish(mut self, did_you_mean: Option<String>) -> SearchResults {
        let request = self.request;
        let threshold = f64::from(self.best_text) * self.config.sponsored_min_relevance;
        let mut ads: Vec<Ranked> = Vec::new();
        for ranked in std::mem::take(&mut self.sponsored) {
            if f64::from(ranked.text_score) >= threshold {
                ads.push(ranked);
            } else {
                self.organic.push(ranked);
            }
        }
        top(&mut ads, self.organic.needed);
        let ad_count = ads.len();
        let mut ranked = ads;
        ranked.extend(self.organic.into_sorted());
        let order: Vec<usize> = (0..ranked.len()).collect();
        let page = request.page as usize;
        let placed = place_page(&order, &|index| index < ad_count, self.ad_slots, page, request.per_page as usize);
        let table = &self.snapshot.table;
        let hits = placed
            .into_iter()
            .filter_map(|(index, sponsored)| {
                let Ranked { score, slot, .. } = ranked[index];
                let entry = table.get(slot as usize)?.as_deref()?;
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
            total: self.total,
            page: request.page,
            per_page: request.per_page,
            hits,
            facets: self.counter.finish(&self.snapshot.vocab, &request.filters),
            did_you_mean,
        }
    }
}

/// How many matches ahead the facts of a product are asked for: the
/// matches are sparse in document order, which the hardware's own
/// prefetching does not follow, and each product's facts are one read from
/// memory.
const PREFETCH_AHEAD: usize = 8;

/// Asks the CPU to start loading `facts` into its cache, without waiting
/// for it: a hint with no effect on any result (nothing on other
/// architectures).
#[inline(always)]
fn prefetch(facts: Option<&Facts>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(facts) = facts {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has (it
        // is in the target's baseline); a prefetch never faults, writes
        // nothing and is given a valid reference besides.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(facts).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = facts;
}

/// The key `sort` orders by, smaller first (exact: every value is an
/// integer below 2^53 or a rating).
fn sort_key(facts: &Facts, sort: Sort) -> f64 {
    match sort {
        Sort::Relevance => 0.0,
        Sort::PriceAsc => facts.price_cents as f64,
        Sort::PriceDesc => -(facts.price_cents as f64),
        Sort::Rating => -f64::from(facts.bayes),
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

/// The first `needed` items in [`compare`] order, without keeping every
/// candidate: items gather in a buffer of twice that size which, when full,
/// is cut back to its best `needed`; the worst of those is then the bar a
/// new item must beat. Linear in the candidates, whatever their number.
struct TopK {
    needed: usize,
    items: Vec<Ranked>,
    bar: Option<Ranked>,
}

impl TopK {
    fn new(needed: usize) -> TopK {
        TopK { needed, items: Vec::new(), bar: None }
    }

    #[inline(always)]
    fn push(&mut self, item: Ranked) {
        if self.needed == 0 || self.bar.as_ref().is_some_and(|bar| compare(&item, bar) != Ordering::Less) {
            return;
        }
        self.items.push(item);
        if self.items.len() >= self.needed.saturating_mul(2).max(TOP_BUFFER_MIN) {
            self.items.select_nth_unstable_by(self.needed - 1, compare);
            self.items.truncate(self.needed);
            self.bar = self.items.last().copied();
        }
    }

    fn into_sorted(mut self) -> Vec<Ranked> {
        top(&mut self.items, self.needed);
        self.items
    }
}

/// Smallest buffer of a [`TopK`] (cutting back is not worth it below).
const TOP_BUFFER_MIN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn top_k_keeps_exactly_the_first_items_of_a_full_sort() {
        let mut rng = StdRng::seed_from_u64(5);
        for round in 0..40 {
            let count = rng.random_range(0..3_000usize);
            // Few distinct keys and scores: ties are broken by slot.
            let items: Vec<Ranked> = (0..count)
                .map(|slot| Ranked {
                    key: f64::from(rng.random_range(0..4u8)),
                    score: f64::from(rng.random_range(0..50u8)) / 7.0,
                    text_score: 1.0,
                    slot: u32::try_from(slot).unwrap(),
                    sponsored: false,
                })
                .collect();
            let needed = [0, 1, 20, 100, 700][round % 5];
            let mut kept = TopK::new(needed);
            for item in &items {
                kept.push(*item);
            }
            let mut sorted = items.clone();
            sorted.sort_by(compare);
            sorted.truncate(needed);
            let slots = |items: &[Ranked]| items.iter().map(|item| item.slot).collect::<Vec<_>>();
            assert_eq!(slots(&kept.into_sorted()), slots(&sorted), "round {round}, {count} items, {needed} needed");
        }
    }

    /// An index of products (id, title, brand) opened with `config`.
    fn index_of(config: SearchConfig, products: &[(&str, &str, Option<&str>)]) -> std::sync::Arc<SearchIndex> {
        use super::super::Location;
        use crate::engine::{CategoryPath, Currency, Product, ProductDraft, ProductId, Sku, Timestamp};
        let (index, mut indexer, _) = SearchIndex::open(&Location::Ram, config).expect("open");
        for (id, title, brand) in products {
            let category = CategoryPath::parse(vec!["Tools".to_owned()]).unwrap();
            let sku = Sku::parse(&format!("{id}-A")).unwrap();
            let mut draft = ProductDraft::single(
                ProductId::parse(id).unwrap(),
                title,
                category,
                sku,
                Money::new(1_000, Currency::USD),
            );
            draft.brand = brand.map(str::to_owned);
            indexer.upsert(&Product::create(draft, Timestamp::from_millis(0)).unwrap(), &|_: &str| 1u64);
        }
        indexer.commit().expect("commit");
        index
    }

    fn score_of(index: &SearchIndex, q: &str, id: &str) -> f64 {
        let results = index.search(&SearchRequest::text(q)).expect("search");
        results.hits.iter().find(|hit| hit.product_id == id).map(|hit| hit.score).expect("found")
    }

    use super::super::SearchConfig;

    #[test]
    fn a_word_in_several_fields_scores_its_best_field_plus_the_tie_breaker_share_of_the_others() {
        let products = [
            ("P-1", "Acme Claw Hammer", Some("Acme")),
            ("P-2", "Steel Claw Hammer", Some("Stanley")),
            ("P-3", "Acme Tape Measure", None),
            ("P-4", "Wood Saw", Some("Stanley")),
        ];
        let with = |title_boost: f32, brand_boost: f32, field_tie_breaker: f32| {
            let config = SearchConfig { title_boost, brand_boost, field_tie_breaker, ..SearchConfig::default() };
            score_of(&index_of(config, &products), "acme", "P-1")
        };
        let title = with(3.0, 0.0, 0.1);
        let brand = with(0.0, 2.0, 0.1);
        assert!(title > 0.0 && brand > 0.0);
        let (best, other) = (title.max(brand), title.min(brand));
        // Hit scores are rounded to 3 decimals.
        let close = |a: f64, b: f64| (a - b).abs() < 0.003;
        assert!(close(with(3.0, 2.0, 0.0), best), "best field only");
        assert!(close(with(3.0, 2.0, 0.1), best + 0.1 * other), "default share");
        assert!(close(with(3.0, 2.0, 1.0), title + brand), "the sum");
    }

    #[test]
    fn the_default_does_not_let_a_brand_repeated_in_the_title_outweigh_the_other_words() {
        // "acme" is the brand of P-1 and the first word of both titles; the
        // query's other word, "hammer", is only in P-2 (too far from "acme"
        // for the phrase).
        let products = [
            ("P-1", "Acme Steel Claw Bar", Some("Acme")),
            ("P-2", "Acme Steel Claw Hammer", None),
            ("P-3", "Steel Claw Hammer", Some("Stanley")),
            ("P-4", "Steel Wood Saw", Some("Stanley")),
            ("P-5", "Steel Tape Measure", Some("Stanley")),
        ];
        let index = index_of(SearchConfig::default(), &products);
        let ids: Vec<String> = index
            .search(&SearchRequest::text("acme hammer"))
            .expect("search")
            .hits
            .into_iter()
            .map(|hit| hit.product_id)
            .collect();
        assert_eq!(ids.first().map(String::as_str), Some("P-2"), "{ids:?}");
    }

    #[test]
    fn neighbouring_query_words_near_in_the_title_rank_first() {
        // The same words and length; only P-1 holds two neighbouring query
        // words together ("cordless drill"), neither holds the whole query.
        let products = [
            ("P-1", "Cordless Drill Case Tool Box Bag Driver", None),
            ("P-2", "Driver Cordless Case Tool Box Bag Drill", None),
            ("P-3", "Garden Hose", None),
        ];
        let q = "cordless drill driver";
        let index = index_of(SearchConfig::default(), &products);
        assert!(score_of(&index, q, "P-1") > score_of(&index, q, "P-2"));
        let flat = index_of(SearchConfig { proximity_boost: 0.0, ..SearchConfig::default() }, &products);
        assert_eq!(score_of(&flat, q, "P-1"), score_of(&flat, q, "P-2"));
        // Two words: the whole-query phrase covers the pair.
        assert_eq!(score_of(&index, "cordless drill", "P-1"), score_of(&flat, "cordless drill", "P-1"));
    }

    #[test]
    fn a_product_holding_every_word_scores_the_words_again_times_the_all_words_boost() {
        // "oak" and "shelf" too far apart in P-1 for the phrase.
        let products = [
            ("P-1", "Oak Wall Bracket Shelf", None),
            ("P-2", "Oak Board", None),
            ("P-3", "Pine Shelf", None),
            ("P-4", "Steel Hook", None),
        ];
        let q = "oak shelf";
        let index = index_of(SearchConfig { all_words_boost: 0.5, ..SearchConfig::default() }, &products);
        let flat = index_of(SearchConfig { all_words_boost: 0.0, ..SearchConfig::default() }, &products);
        let (all, without) = (score_of(&index, q, "P-1"), score_of(&flat, q, "P-1"));
        assert!((all - 1.5 * without).abs() < 0.003, "{all} against {without}");
        // A product with one of the words only is not boosted.
        assert_eq!(score_of(&index, q, "P-2"), score_of(&flat, q, "P-2"));
        assert_eq!(score_of(&index, q, "P-3"), score_of(&flat, q, "P-3"));
        // A single word has nothing to add.
        assert_eq!(score_of(&index, "oak", "P-1"), score_of(&flat, "oak", "P-1"));
    }
}
