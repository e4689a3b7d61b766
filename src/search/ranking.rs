//! Ranking: text relevance combined with commerce signals.
//!
//! For a product with text score `t` (tantivy BM25, for each query word its
//! best field's score times that field's boost plus `field_tie_breaker` times
//! the other fields', summed over the words, plus the all-words, phrase and
//! proximity boosts, see [`super::query`]; `t = 1` when
//! browsing without a query):
//!
//! ```text
//! score = t * (1 + w_pop * popularity + w_rating * quality) * availability
//! popularity   = ln(1 + units_sold) / ln(1 + max units_sold in the index)   (0..=1; 0 if nothing sold)
//! quality      = bayes / 5, bayes = (v * rating + m * C) / (v + m)          (0..=1)
//!                v = review_count, m = rating_prior_reviews, C = rating_prior_mean
//! availability = 1 if in stock, out_of_stock_factor otherwise
//! ```
//!
//! Defaults: `w_pop = 0.3`, `w_rating = 0.2`, `m = 10`, `C = 3.5`,
//! `out_of_stock_factor = 0.25`. The signals multiply the text score, so they
//! reorder products of similar relevance but cannot lift a weak match above a
//! strong one by more than the bounded factor `1 + w_pop + w_rating`. The
//! Bayesian prior pulls a 5.0 from two reviews towards `C`, so it does not
//! outrank a 4.6 from five hundred.
//!
//! Sponsored placement (relevance sort only): each page's first
//! `sponsored_per_page` (default 2) positions go to sponsored products, in
//! score order, whose text score is at least `sponsored_min_relevance`
//! (default 0.5) of the best text score, so an ad is always a good match.
//! Those hits are marked `sponsored`; every other product keeps its place.
//! Across pages every matching product appears exactly once.

use super::facets::Facts;

/// Search tunables (part of the engine's configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    pub title_boost: f32,
    pub brand_boost: f32,
    pub category_boost: f32,
    pub attributes_boost: f32,
    pub description_boost: f32,
    /// Boost of the whole query as a phrase (slop 1) in the title.
    pub phrase_boost: f32,
    /// Boost of each pair of neighbouring query words as a phrase in the
    /// title (queries of three words or more).
    pub proximity_boost: f32,
    /// Factor of the words' score added again for a product holding every
    /// word of a query of two words or more (a coordination factor: a
    /// product that answers the whole query beats one that repeats part of
    /// it).
    pub all_words_boost: f32,
    /// Share of a word's score in its other fields added to its best
    /// field's (0: the best field only; 1: the sum over fields).
    pub field_tie_breaker: f32,
    pub popularity_weight: f64,
    pub rating_weight: f64,
    pub rating_prior_mean: f64,
    pub rating_prior_reviews: f64,
    pub out_of_stock_factor: f64,
    pub sponsored_per_page: usize,
    pub sponsored_min_relevance: f64,
    /// How often the projection reads the event log.
    pub poll_every_ms: u64,
    /// How long a hole in the log's sequence numbers is waited for before it
    /// is taken as a write that failed and skipped.
    pub gap_timeout_ms: u64,
    /// Memory budget of the tantivy writer.
    pub writer_memory_bytes: usize,
    pub writer_threads: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            title_boost: 3.0,
            brand_boost: 2.0,
            category_boost: 1.5,
            attributes_boost: 1.0,
            description_boost: 0.5,
            phrase_boost: 2.0,
            proximity_boost: 1.0,
            all_words_boost: 0.5,
            field_tie_breaker: 0.1,
            popularity_weight: 0.3,
            rating_weight: 0.2,
            rating_prior_mean: 3.5,
            rating_prior_reviews: 10.0,
            out_of_stock_factor: 0.25,
            sponsored_per_page: 2,
            sponsored_min_relevance: 0.5,
            poll_every_ms: 100,
            gap_timeout_ms: 2_000,
            writer_memory_bytes: 50 << 20,
            writer_threads: 1,
        }
    }
}

impl SearchConfig {
    pub fn validate(&self) -> Result<(), String> {
        let boosts = [
            self.title_boost,
            self.brand_boost,
            self.category_boost,
            self.attributes_boost,
            self.description_boost,
            self.phrase_boost,
            self.proximity_boost,
            self.all_words_boost,
        ];
        if boosts.iter().any(|boost| !boost.is_finite() || *boost < 0.0) {
            return Err("search field boosts must be finite and non-negative".to_owned());
        }
        let weights = [self.popularity_weight, self.rating_weight, self.rating_prior_mean, self.rating_prior_reviews];
        if weights.iter().any(|weight| !weight.is_finite() || *weight < 0.0) {
            return Err("search ranking weights must be finite and non-negative".to_owned());
        }
        if !(0.0..=1.0).contains(&self.out_of_stock_factor) || !(0.0..=1.0).contains(&self.sponsored_min_relevance) {
            return Err("out_of_stock_factor and sponsored_min_relevance must be within 0..=1".to_owned());
        }
        if !(0.0..=1.0).contains(&self.field_tie_breaker) {
            return Err("search field_tie_breaker must be within 0..=1".to_owned());
        }
        if self.poll_every_ms == 0 || self.poll_every_ms > 1_000 {
            return Err("search poll_every_ms must be 1..=1000 (changes are searchable within 1 s)".to_owned());
        }
        if self.writer_threads == 0 || self.writer_memory_bytes < (15 << 20) {
            return Err("search writer needs a thread and at least 15 MiB".to_owned());
        }
        Ok(())
    }

    /// The rating with the Bayesian prior on the review count (0..=5); the
    /// prior mean without a rating.
    pub fn bayes_rating(&self, rating: Option<f64>, review_count: u64) -> f64 {
        let reviews = if rating.is_some() { review_count as f64 } else { 0.0 };
        let rating = rating.unwrap_or(self.rating_prior_mean);
        let prior = self.rating_prior_reviews;
        if reviews + prior <= 0.0 {
            return rating;
        }
        (reviews * rating + prior * self.rating_prior_mean) / (reviews + prior)
    }

    /// The final score of a product (see the module docs), given
    /// [`popularity_scale`] of the index. Nothing here divides: the
    /// Bayesian rating is in the facts and the popularity's denominator in
    /// the scale, both worked out once.
    #[inline]
    pub fn score(&self, text_score: f64, facts: &Facts, popularity_scale: f64) -> f64 {
        // ln(1) = 0: most products have sold nothing, and skip the logarithm.
        let popularity =
            if facts.units_sold == 0 { 0.0 } else { (1.0 + f64::from(facts.units_sold)).ln() * popularity_scale };
        let quality = f64::from(facts.bayes) * (1.0 / 5.0);
        let availability = if facts.in_stock { 1.0 } else { self.out_of_stock_factor };
        text_score * (1.0 + self.popularity_weight * popularity + self.rating_weight * quality) * availability
    }
}

/// `1 / ln(1 + units_max)`, the factor that maps `ln(1 + units_sold)` into
/// 0..=1 for an index whose best seller sold `units_max` (0 when nothing sold).
pub fn popularity_scale(units_max: u64) -> f64 {
    if units_max == 0 {
        0.0
    } else {
        1.0 / (1.0 + units_max as f64).ln()
    }
}

/// Which page positions go to which products: `order` is every matching
/// product (indexes) in sort order, `ads` says which may be placed as ads.
/// Returns the page's products and whether each is placed as an ad.
pub fn place_page(
    order: &[usize],
    is_ad: &dyn Fn(usize) -> bool,
    slots: usize,
    page: usize,
    per_page: usize,
) -> Vec<(usize, bool)> {
    let slots = slots.min(per_page);
    let is_ad = |item: usize| slots > 0 && is_ad(item);
    let ads: Vec<usize> = order.iter().copied().filter(|&item| is_ad(item)).collect();
    let organic: Vec<usize> = order.iter().copied().filter(|&item| !is_ad(item)).collect();
    let (mut next_ad, mut next_organic) = (0usize, 0usize);
    for current in 1..=page {
        let mut placed: Vec<(usize, bool)> = Vec::with_capacity(per_page);
        let ad_count = slots.min(ads.len() - next_ad);
        for &item in &ads[next_ad..next_ad + ad_count] {
            placed.push((item, true));
        }
        next_ad += ad_count;
        let organic_count = (per_page - placed.len()).min(organic.len() - next_organic);
        for &item in &organic[next_organic..next_organic + organic_count] {
            placed.push((item, false));
        }
        next_organic += organic_count;
        // Organic results ran out: the remaining ads fill the page unmarked.
        let fill = (per_page - placed.len()).min(ads.len() - next_ad);
        for &item in &ads[next_ad..next_ad + fill] {
            placed.push((item, false));
        }
        next_ad += fill;
        if current == page {
            return placed;
        }
        if placed.is_empty() {
            break;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rating: Option<f64>, reviews: u64, units: u32, in_stock: bool) -> Facts {
        let bayes = SearchConfig::default().bayes_rating(rating, reviews) as f32;
        Facts { rating: rating.unwrap_or(f64::NAN), bayes, units_sold: units, in_stock, ..Facts::default() }
    }

    #[test]
    fn many_reviews_beat_a_perfect_score_from_two() {
        let config = SearchConfig::default();
        let few = config.score(1.0, &entry(Some(5.0), 2, 0, true), popularity_scale(0));
        let many = config.score(1.0, &entry(Some(4.6), 500, 0, true), popularity_scale(0));
        assert!(many > few, "{many} > {few}");
    }

    #[test]
    fn out_of_stock_sinks_and_popularity_lifts() {
        let config = SearchConfig::default();
        let in_stock = config.score(1.0, &entry(None, 0, 0, true), popularity_scale(100));
        let out = config.score(1.0, &entry(None, 0, 0, false), popularity_scale(100));
        let popular = config.score(1.0, &entry(None, 0, 100, true), popularity_scale(100));
        assert!(in_stock > out);
        assert!(popular > in_stock);
        assert!(popular / in_stock <= 1.0 + config.popularity_weight + 1e-9);
    }

    #[test]
    fn pages_hold_at_most_the_ad_slots_and_cover_everything_once() {
        let order: Vec<usize> = (0..23).collect();
        let is_ad = |item: usize| item.is_multiple_of(4) || item > 18;
        let mut seen = Vec::new();
        for page in 1..=4 {
            let placed = place_page(&order, &is_ad, 2, page, 7);
            assert!(placed.iter().filter(|(_, ad)| *ad).count() <= 2);
            assert!(placed.len() <= 7);
            seen.extend(placed.into_iter().map(|(item, _)| item));
        }
        seen.sort_unstable();
        assert_eq!(seen, order);
        assert!(place_page(&order, &is_ad, 2, 5, 7).is_empty());
    }
}
