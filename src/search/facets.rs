//! Filters and disjunctive facet counts, over the products a query matched.
//!
//! Each filter is evaluated once per product; a product counts towards a
//! field's facet when it passes every filter except that field's own, so
//! the brand facet still lists the other brands while one is selected.
//! Pure functions over [`Entry`]s: tests compare them with a brute-force
//! count.

use super::Entry;
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

/// Which filters a product passes: category, brand, price, rating, stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    pub category: bool,
    pub brand: bool,
    pub price: bool,
    pub rating: bool,
    pub stock: bool,
}

impl Passes {
    pub fn all(&self) -> bool {
        self.category && self.brand && self.price && self.rating && self.stock
    }
}

impl Filters {
    pub fn passes(&self, entry: &Entry) -> Passes {
        Passes {
            category: self.category.as_ref().is_none_or(|prefix| in_category(entry, prefix)),
            brand: self.brands.is_empty()
                || entry
                    .brand
                    .as_ref()
                    .is_some_and(|brand| self.brands.iter().any(|wanted| wanted.eq_ignore_ascii_case(brand))),
            price: self.price_min_cents.is_none_or(|min| entry.price.cents >= min)
                && self.price_max_cents.is_none_or(|max| entry.price.cents <= max),
            rating: self.rating_min.is_none_or(|min| entry.rating.is_some_and(|rating| rating >= min)),
            stock: !self.in_stock || entry.in_stock,
        }
    }
}

fn in_category(entry: &Entry, prefix: &[String]) -> bool {
    prefix.len() <= entry.category.len()
        && prefix.iter().zip(&entry.category).all(|(wanted, level)| wanted.eq_ignore_ascii_case(level))
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

/// Accumulates facet counts product by product (borrowing the entries'
/// names: no allocation per product).
#[derive(Debug, Default)]
pub struct FacetCounter<'a> {
    brands: HashMap<&'a str, u64, foldhash::fast::RandomState>,
    categories: HashMap<&'a str, u64, foldhash::fast::RandomState>,
    prices: Vec<u64>,
    ratings: Vec<u64>,
}

fn price_bucket(cents: i64) -> usize {
    PRICE_BUCKETS_CENTS.iter().rposition(|&from| cents >= from).unwrap_or(0)
}

impl<'a> FacetCounter<'a> {
    pub fn new() -> Self {
        FacetCounter {
            brands: HashMap::default(),
            categories: HashMap::default(),
            prices: vec![0; PRICE_BUCKETS_CENTS.len()],
            ratings: vec![0; RATING_MINIMUMS.len()],
        }
    }

    /// Counts `entry`, which passed the filters as in `passes`.
    pub fn add(&mut self, entry: &'a Entry, passes: Passes, filters: &Filters) {
        let Passes { category, brand, price, rating, stock } = passes;
        if category && price && rating && stock {
            if let Some(name) = &entry.brand {
                *self.brands.entry(name.as_str()).or_default() += 1;
            }
        }
        if brand && price && rating && stock {
            let depth = filters.category.as_ref().map_or(0, Vec::len);
            let under = filters.category.as_ref().is_none_or(|prefix| in_category(entry, prefix));
            if let (true, Some(child)) = (under, entry.category.get(depth)) {
                *self.categories.entry(child.as_str()).or_default() += 1;
            }
        }
        if category && brand && rating && stock {
            self.prices[price_bucket(entry.price.cents)] += 1;
        }
        if category && brand && price && stock {
            if let Some(value) = entry.rating {
                for (slot, &min) in RATING_MINIMUMS.iter().enumerate() {
                    if value >= f64::from(min) {
                        self.ratings[slot] += 1;
                    }
                }
            }
        }
    }

    pub fn finish(self, filters: &Filters) -> Facets {
        let mut brand: Vec<ValueCount> =
            self.brands.into_iter().map(|(value, count)| ValueCount { value: value.to_owned(), count }).collect();
        brand.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        brand.truncate(FACET_VALUES_MAX);
        let parent: Vec<String> = filters.category.clone().unwrap_or_default();
        let mut category: Vec<CategoryCount> = self
            .categories
            .into_iter()
            .map(|(value, count)| {
                let mut path = parent.clone();
                path.push(value.to_owned());
                CategoryCount { value: value.to_owned(), path, count }
            })
            .collect();
        category.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        category.truncate(FACET_VALUES_MAX);
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
        let rating = RATING_MINIMUMS
            .iter()
            .enumerate()
            .map(|(slot, &min)| RatingCount { min, count: self.ratings[slot] })
            .collect();
        Facets { brand, category, price, rating }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_fall_in_half_open_buckets() {
        assert_eq!(price_bucket(0), 0);
        assert_eq!(price_bucket(2_499), 0);
        assert_eq!(price_bucket(2_500), 1);
        assert_eq!(price_bucket(100_000), PRICE_BUCKETS_CENTS.len() - 1);
        assert_eq!(price_bucket(-5), 0);
    }
}
