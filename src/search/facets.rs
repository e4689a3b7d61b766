//! Filters and disjunctive facet counts, over the products a query matched.
//!
//! Each filter is evaluated once per product; a product counts towards a
//! field's facet when it passes every filter except that field's own, so
//! the brand facet still lists the other brands while one is selected.
//! Brands and category paths are compared as ids of a [`Vocab`] (names
//! without case), resolved once per query. Pure functions over [`Facts`]:
//! tests compare them with a brute-force count.

use super::{Entry, SearchConfig};
use serde::Serialize;
use std::collections::HashMap;

/// Lower bounds of the price buckets, in cents; the last bucket is open.
pub const PRICE_BUCKETS_CENTS: &[i64] = &[0, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];
/// Rating facet thresholds ("4 stars and up", ...).
pub const RATING_MINIMUMS: &[u8] = &[4, 3, 2, 1];
/// Most values returned for the brand and category facets.
pub const FACET_VALUES_MAX: usize = 100;

/// The filters of a search, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// Category path prefix (levels), compared without case.
    pub category: Option<Vec<String>>,
    /// Any of these brands, compared without case.
    pub brands: Vec<String>,
    pub price_min_cents: Option<i64>,
    pub price_max_cents: Option<i64>,
    pub rating_min: Option<f64>,
    pub in_stock: bool,
}

/// Which filters a product fails, one bit per filter (see the constants);
/// a facet counts a product that fails at most its own field's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes(u8);

impl Passes {
    const CATEGORY: u8 = 1;
    const BRAND: u8 = 1 << 1;
    const PRICE: u8 = 1 << 2;
    const RATING: u8 = 1 << 3;
    const STOCK: u8 = 1 << 4;

    /// Passes every filter.
    #[inline]
    pub fn all(self) -> bool {
        self.0 == 0
    }

    /// Passes every filter except, perhaps, those of `own`.
    #[inline]
    fn all_but(self, own: u8) -> bool {
        self.0 & !own == 0
    }
}

/// Category levels a [`Facts`] keeps (the catalog allows no more).
const LEVELS: usize = crate::engine::catalog::CATEGORY_LEVELS_MAX;
/// No brand, or no category level.
const NONE: u32 = u32::MAX;

/// What filters, facets and ranking read of a product, packed in arrays
/// in the index's document order (one per segment), so a query over tens of
/// thousands of matches streams through memory instead of following a
/// pointer per product. Derived from the [`Entry`] by [`Vocab::facts`].
///
/// One cache line each, aligned to it: a product's facts cost one memory
/// read, never two.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub struct Facts {
    /// The product's slot in the table.
    pub slot: u32,
    pub price_cents: i64,
    /// NaN without a rating (see [`Facts::rating`]).
    pub(super) rating: f64,
    /// The rating with the Bayesian prior on the review count
    /// ([`SearchConfig::bayes_rating`]), worked out when the facts are made
    /// (the configuration is fixed for an index), so ranking a match
    /// divides nothing.
    pub(super) bayes: f32,
    /// Saturates at `u32::MAX`.
    pub units_sold: u32,
    pub created_at_ms: u64,
    /// Brand id in the [`Vocab`], or `NONE`.
    pub(super) brand: u32,
    /// `category[k]` is the id of the path of levels `0..=k`, or `NONE`.
    pub(super) category: [u32; LEVELS],
    /// Index of the price's bucket in [`PRICE_BUCKETS_CENTS`].
    pub(super) price_bucket: u8,
    /// How many of [`RATING_MINIMUMS`] the rating reaches (0 without one).
    pub(super) stars: u8,
    pub in_stock: bool,
    pub sponsored: bool,
}

impl Default for Facts {
    /// No names, no price, nothing sold, out of stock.
    fn default() -> Self {
        Facts {
            slot: 0,
            price_cents: 0,
            rating: f64::NAN,
            bayes: 0.0,
            units_sold: 0,
            created_at_ms: 0,
            brand: NONE,
            category: [NONE; LEVELS],
            price_bucket: 0,
            stars: 0,
            in_stock: false,
            sponsored: false,
        }
    }
}

/// `value` in a u32, saturating (a counter past four billion ranks as four billion).
fn saturate(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl Facts {
    pub fn rating(&self) -> Option<f64> {
        (!self.rating.is_nan()).then_some(self.rating)
    }

    fn brand(&self) -> Option<u32> {
        (self.brand != NONE).then_some(self.brand)
    }

    fn category(&self, level: usize) -> Option<u32> {
        self.category.get(level).copied().filter(|&id| id != NONE)
    }
}

/// Brand names and category paths interned as small ids, compared without
/// case, so filters compare integers and facets count into arrays.
///
/// Append-only: an id never changes meaning, so the keys of an entry stay
/// valid in every later vocabulary. A facet value is shown with the
/// spelling first seen.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    brands: Vec<String>,
    brand_ids: HashMap<String, u32, foldhash::fast::RandomState>,
    /// The last level's name of each path.
    categories: Vec<String>,
    /// By [`path_key`].
    category_ids: HashMap<String, u32, foldhash::fast::RandomState>,
}

/// The key of a category path: levels lowercased, joined by U+001F.
fn path_key(levels: &[String]) -> String {
    let lowered: Vec<String> = levels.iter().map(|level| level.to_lowercase()).collect();
    lowered.join("\u{1f}")
}

fn intern(
    names: &mut Vec<String>,
    ids: &mut HashMap<String, u32, foldhash::fast::RandomState>,
    key: String,
    name: &str,
) -> u32 {
    *ids.entry(key).or_insert_with(|| {
        names.push(name.to_owned());
        // Ids are bounded by the distinct names of a catalog, far below u32::MAX.
        u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
    })
}

impl Vocab {
    /// The facts of `entry` in `slot`, adding its names when they are new.
    pub fn facts(&mut self, slot: u32, entry: &Entry, config: &SearchConfig) -> Facts {
        let brand = entry
            .brand
            .as_ref()
            .map_or(NONE, |name| intern(&mut self.brands, &mut self.brand_ids, name.to_lowercase(), name));
        let mut category = [NONE; LEVELS];
        for (depth, (id, level)) in category.iter_mut().zip(&entry.category).enumerate() {
            let key = path_key(&entry.category[..=depth]);
            *id = intern(&mut self.categories, &mut self.category_ids, key, level);
        }
        let rating = entry.rating.filter(|rating| !rating.is_nan());
        let stars = rating.map_or(0, |rating| RATING_MINIMUMS.iter().filter(|&&min| rating >= f64::from(min)).count());
        Facts {
            slot,
            price_cents: entry.price.cents,
            rating: rating.unwrap_or(f64::NAN),
            // Within 0..=5, where an f32 is exact to 1e-6.
            bayes: config.bayes_rating(rating, entry.review_count) as f32,
            units_sold: saturate(entry.units_sold),
            created_at_ms: entry.created_at_ms,
            brand,
            category,
            price_bucket: u8::try_from(price_bucket(entry.price.cents)).unwrap_or(u8::MAX),
            stars: u8::try_from(stars).unwrap_or(u8::MAX),
            in_stock: entry.in_stock,
            sponsored: entry.sponsored,
        }
    }

    fn brand(&self, name: &str) -> Option<u32> {
        self.brand_ids.get(&name.to_lowercase()).copied()
    }

    fn category(&self, levels: &[String]) -> Option<u32> {
        self.category_ids.get(&path_key(levels)).copied()
    }
}

/// Filters resolved against a [`Vocab`] once per query.
#[derive(Debug)]
pub struct Selection<'f> {
    filters: &'f Filters,
    /// Levels in the category filter.
    depth: usize,
    /// The category filter's path id; `None` when the path is unknown
    /// (nothing is in it). Unused without a category filter.
    category: Option<u32>,
    /// Brand ids selected (by id), when brands are filtered.
    brands: Option<Vec<bool>>,
    /// Whether any filter is set (without one, every product passes).
    filtered: bool,
}

impl Filters {
    pub fn resolve(&self, vocab: &Vocab) -> Selection<'_> {
        let brands = (!self.brands.is_empty()).then(|| {
            let mut selected = vec![false; vocab.brands.len()];
            for id in self.brands.iter().filter_map(|name| vocab.brand(name)) {
                if let Some(slot) = selected.get_mut(id as usize) {
                    *slot = true;
                }
            }
            selected
        });
        Selection {
            filters: self,
            depth: self.category.as_ref().map_or(0, Vec::len),
            category: self.category.as_ref().and_then(|levels| vocab.category(levels)),
            brands,
            filtered: *self != Filters::default(),
        }
    }
}

impl Selection<'_> {
    #[inline]
    pub fn passes(&self, facts: &Facts) -> Passes {
        if !self.filtered {
            return Passes(0);
        }
        let filters = self.filters;
        let category = self.depth == 0 || self.category.is_some() && facts.category(self.depth - 1) == self.category;
        let brand = self
            .brands
            .as_ref()
            .is_none_or(|selected| facts.brand().is_some_and(|id| selected.get(id as usize).copied().unwrap_or(false)));
        let price = filters.price_min_cents.is_none_or(|min| facts.price_cents >= min)
            && filters.price_max_cents.is_none_or(|max| facts.price_cents <= max);
        let rating = filters.rating_min.is_none_or(|min| facts.rating().is_some_and(|rating| rating >= min));
        let stock = !filters.in_stock || facts.in_stock;
        let fails = |passes: bool, bit: u8| if passes { 0 } else { bit };
        Passes(
            fails(category, Passes::CATEGORY)
                | fails(brand, Passes::BRAND)
                | fails(price, Passes::PRICE)
                | fails(rating, Passes::RATING)
                | fails(stock, Passes::STOCK),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub value: String,
    /// The child category's path from the root (usable as the `category` filter joined by '/').
    pub path: Vec<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PriceCount {
    pub from: i64,
    /// Exclusive; `null` on the last bucket.
    pub to: Option<i64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RatingCount {
    pub min: u8,
    pub count: u64,
}

/// Facet counts of a result set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Facets {
    pub brand: Vec<ValueCount>,
    pub category: Vec<CategoryCount>,
    pub price: Vec<PriceCount>,
    pub rating: Vec<RatingCount>,
}

/// Accumulates facet counts product by product, into arrays indexed by
/// the vocabulary's ids.
#[derive(Debug)]
pub struct FacetCounter {
    brands: Vec<u64>,
    categories: Vec<u64>,
    prices: Vec<u64>,
    /// By [`Facts::stars`]: products reaching exactly that many minimums.
    stars: Vec<u64>,
}

fn price_bucket(cents: i64) -> usize {
    PRICE_BUCKETS_CENTS.iter().skip(1).filter(|&&from| cents >= from).count()
}

fn bump(counts: &mut [u64], id: u32) {
    if let Some(count) = counts.get_mut(id as usize) {
        *count += 1;
    }
}

impl FacetCounter {
    pub fn new(vocab: &Vocab) -> Self {
        FacetCounter {
            brands: vec![0; vocab.brands.len()],
            categories: vec![0; vocab.categories.len()],
            prices: vec![0; PRICE_BUCKETS_CENTS.len()],
            stars: vec![0; RATING_MINIMUMS.len() + 1],
        }
    }

    /// Counts a product, which passed the filters of `selection` as in `passes`.
    #[inline]
    pub fn add(&mut self, facts: &Facts, passes: Passes, selection: &Selection<'_>) {
        if passes.all_but(Passes::BRAND) {
            if let Some(id) = facts.brand() {
                bump(&mut self.brands, id);
            }
        }
        if passes.all() {
            if let Some(child) = facts.category(selection.depth) {
                bump(&mut self.categories, child);
            }
        }
        if passes.all_but(Passes::PRICE) {
            bump(&mut self.prices, u32::from(facts.price_bucket));
        }
        if passes.all_but(Passes::RATING) {
            bump(&mut self.stars, u32::from(facts.stars));
        }
    }

    pub fn finish(self, vocab: &Vocab, filters: &Filters) -> Facets {
        let named = |counts: Vec<u64>, names: &[String]| -> Vec<(String, u64)> {
            let mut named: Vec<(String, u64)> = counts
                .into_iter()
                .zip(names)
                .filter(|(count, _)| *count > 0)
                .map(|(count, name)| (name.clone(), count))
                .collect();
            named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            named.truncate(FACET_VALUES_MAX);
            named
        };
        let brand =
            named(self.brands, &vocab.brands).into_iter().map(|(value, count)| ValueCount { value, count }).collect();
        let parent: Vec<String> = filters.category.clone().unwrap_or_default();
        let category = named(self.categories, &vocab.categories)
            .into_iter()
            .map(|(value, count)| {
                let mut path = parent.clone();
                path.push(value.clone());
                CategoryCount { value, path, count }
            })
            .collect();
        let price = PRICE_BUCKETS_CENTS
            .iter()
            .enumerate()
            .filter(|(slot, _)| self.prices[*slot] > 0)
            .map(|(slot, &from)| PriceCount {
                from,
                to: PRICE_BUCKETS_CENTS.get(slot + 1).copied(),
                count: self.prices[slot],
            })
            .collect();
        // A product reaching `k` minimums reaches the `k` lowest, the last
        // `k` of RATING_MINIMUMS (descending).
        let reaching = |slot: usize| -> u64 { self.stars[RATING_MINIMUMS.len() - slot..].iter().sum() };
        let rating =
            RATING_MINIMUMS.iter().enumerate().map(|(slot, &min)| RatingCount { min, count: reaching(slot) }).collect();
        Facets { brand, category, price, rating }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<Facts>(), 64);
        assert_eq!(std::mem::align_of::<Facts>(), 64);
    }

    #[test]
    fn rating_minimums_descend_and_price_buckets_ascend() {
        assert!(RATING_MINIMUMS.windows(2).all(|pair| pair[0] > pair[1]));
        assert!(PRICE_BUCKETS_CENTS.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(PRICE_BUCKETS_CENTS[0], 0);
    }

    #[test]
    fn prices_fall_in_half_open_buckets() {
        assert_eq!(price_bucket(0), 0);
        assert_eq!(price_bucket(2_499), 0);
        assert_eq!(price_bucket(2_500), 1);
        assert_eq!(price_bucket(100_000), PRICE_BUCKETS_CENTS.len() - 1);
        assert_eq!(price_bucket(-5), 0);
    }

    fn entry(brand: Option<&str>, category: &[&str]) -> Entry {
        Entry {
            product_id: "P-1".into(),
            title: "t".into(),
            brand: brand.map(str::to_owned),
            category: category.iter().map(|level| (*level).to_owned()).collect(),
            price: crate::engine::Money::new(1_000, crate::engine::Currency::USD),
            variant_count: 1,
            rating: Some(4.5),
            review_count: 3,
            sponsored: false,
            created_at_ms: 0,
            skus: vec![],
            attributes: String::new(),
            description: String::new(),
            units_sold: 0,
            in_stock: true,
        }
    }

    fn count(vocab: &Vocab, entries: &[Facts], filters: &Filters) -> Facets {
        let selection = filters.resolve(vocab);
        let mut counter = FacetCounter::new(vocab);
        for facts in entries {
            counter.add(facts, selection.passes(facts), &selection);
        }
        counter.finish(vocab, filters)
    }

    #[test]
    fn names_are_one_facet_value_whatever_their_case_shown_as_first_seen() {
        let mut vocab = Vocab::default();
        let facts = vec![
            vocab.facts(0, &entry(Some("Sony"), &["Electronics", "Audio"]), &SearchConfig::default()),
            vocab.facts(0, &entry(Some("SONY"), &["electronics", "AUDIO"]), &SearchConfig::default()),
            vocab.facts(0, &entry(Some("Bose"), &["Electronics", "Phones"]), &SearchConfig::default()),
            vocab.facts(0, &entry(None, &["Home"]), &SearchConfig::default()),
        ];
        let all = count(&vocab, &facts, &Filters::default());
        let brands: Vec<(&str, u64)> = all.brand.iter().map(|v| (v.value.as_str(), v.count)).collect();
        assert_eq!(brands, [("Sony", 2), ("Bose", 1)]);
        let roots: Vec<(&str, u64)> = all.category.iter().map(|v| (v.value.as_str(), v.count)).collect();
        assert_eq!(roots, [("Electronics", 3), ("Home", 1)]);

        let filters = Filters { category: Some(vec!["ELECTRONICS".into()]), ..Filters::default() };
        let under = count(&vocab, &facts, &filters);
        let children: Vec<(&str, &[String], u64)> =
            under.category.iter().map(|v| (v.value.as_str(), v.path.as_slice(), v.count)).collect();
        assert_eq!(
            children,
            [
                ("Audio", &["ELECTRONICS".to_owned(), "Audio".to_owned()][..], 2),
                ("Phones", &["ELECTRONICS".to_owned(), "Phones".to_owned()][..], 1)
            ]
        );
        let selection = Filters { brands: vec!["sony".into()], ..Filters::default() };
        let selection = selection.resolve(&vocab);
        let passing: Vec<bool> = facts.iter().map(|facts| selection.passes(facts).all()).collect();
        assert_eq!(passing, [true, true, false, false]);
    }

    #[test]
    fn an_unknown_brand_or_category_matches_nothing() {
        let mut vocab = Vocab::default();
        let facts = [vocab.facts(0, &entry(Some("Sony"), &["Electronics", "Audio"]), &SearchConfig::default())];
        let unknown = [
            Filters { brands: vec!["Nobody".into()], ..Filters::default() },
            Filters { category: Some(vec!["Garden".into()]), ..Filters::default() },
            Filters { category: Some(vec!["Audio".into()]), ..Filters::default() },
            Filters {
                category: Some(vec!["Electronics".into(), "Audio".into(), "Cables".into()]),
                ..Filters::default()
            },
        ];
        for filters in &unknown {
            let selection = filters.resolve(&vocab);
            assert!(!selection.passes(&facts[0]).all(), "{filters:?}");
        }
        let known = Filters { category: Some(vec!["Electronics".into(), "Audio".into()]), ..Filters::default() };
        assert!(known.resolve(&vocab).passes(&facts[0]).all());
    }
}
