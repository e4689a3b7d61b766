//! The catalog: products, their variants (SKUs) and the category tree.
//!
//! A product groups variants, each a SKU with its own price, options and
//! weight. Every product in the catalog passed the rules of `validate.rs`
//! (titles, lengths, image URLs, 1..=100 variants with unique SKUs and prices
//! in one currency), whichever way it came in: [`Product::create`],
//! [`Catalog::patch`] or [`Catalog::restore`]. The rules, checked by
//! [`Catalog::check_invariants`]:
//!
//! - `catalog.sku_index_matches_products`: a SKU belongs to exactly one product
//!   across the catalog; the SKU index maps every SKU of every product to that
//!   product and holds no other entry.
//! - `catalog.products_valid`: every stored product passes validation and is
//!   stored under its own id.
//!
//! Every change is one [`CatalogEvent::ProductUpserted`] carrying the whole
//! product after the change, so a projection (the search index, the store)
//! never has to merge partial updates. A change that changes nothing (a
//! re-import of the same product, an empty patch) emits no event and keeps
//! `updated_at`, so re-importing a catalog rewrites nothing.

mod validate;

use super::ids::{ProductId, SellerId, Sku};
use super::money::{Currency, Money};
use super::time::Timestamp;
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

pub use validate::{
    ATTRIBUTES_MAX, ATTRIBUTE_KEY_CHARS_MAX, ATTRIBUTE_VALUE_CHARS_MAX, BRAND_CHARS_MAX, CATEGORY_LEVELS_MAX,
    CATEGORY_LEVEL_CHARS_MAX, DESCRIPTION_CHARS_MAX, IMAGES_MAX, IMAGE_URL_CHARS_MAX, OPTIONS_MAX,
    OPTION_KEY_CHARS_MAX, OPTION_VALUE_CHARS_MAX, PRICE_CENTS_MAX, RATING_MAX, TITLE_CHARS_MAX, VARIANTS_MAX,
    WEIGHT_GRAMS_MAX,
};

/// SKU to owning product. Deterministic hashing: the map is never iterated
/// into output, only looked up and compared.
type SkuIndex = HashMap<Sku, ProductId, foldhash::fast::FixedState>;

/// How a variant is taxed; the rates live with checkout, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxCategory {
    #[default]
    Standard,
    Reduced,
    Zero,
}

impl TaxCategory {
    /// Parses the wire name: `standard`, `reduced` or `zero`.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        match raw {
            "standard" => Ok(TaxCategory::Standard),
            "reduced" => Ok(TaxCategory::Reduced),
            "zero" => Ok(TaxCategory::Zero),
            _ => Err(validate::invalid("tax_category", "must be standard, reduced or zero")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaxCategory::Standard => "standard",
            TaxCategory::Reduced => "reduced",
            TaxCategory::Zero => "zero",
        }
    }
}

/// A category as its path from the root: `["Electronics", "Audio"]`.
///
/// 1..=5 levels of 1..=80 characters each. A level cannot contain '/', since
/// search filters write a path as `Electronics/Audio` ([`fmt::Display`] and
/// [`FromStr`] use that form). Surrounding whitespace is dropped when parsing,
/// so " Audio" and "Audio" are one category. Deserializing goes through
/// [`CategoryPath::parse`], so a stored path is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct CategoryPath(Vec<String>);

impl CategoryPath {
    pub fn parse(levels: Vec<String>) -> Result<Self, CatalogError> {
        let trimmed: Vec<String> = levels
            .into_iter()
            .map(|level| if level.trim() == level { level } else { level.trim().to_owned() })
            .collect();
        validate::category_levels(&trimmed)?;
        Ok(CategoryPath(trimmed))
    }

    /// The level names, root first.
    pub fn levels(&self) -> &[String] {
        &self.0
    }

    /// Whether `prefix` is this category or one of its ancestors.
    pub fn starts_with(&self, prefix: &CategoryPath) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl TryFrom<Vec<String>> for CategoryPath {
    type Error = CatalogError;
    fn try_from(levels: Vec<String>) -> Result<Self, Self::Error> {
        CategoryPath::parse(levels)
    }
}

impl From<CategoryPath> for Vec<String> {
    fn from(path: CategoryPath) -> Self {
        path.0
    }
}

impl fmt::Display for CategoryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// Parses the filter form, `Electronics/Audio`.
impl FromStr for CategoryPath {
    type Err = CatalogError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        CategoryPath::parse(raw.split('/').map(str::to_owned).collect())
    }
}

/// One buyable variant of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub sku: Sku,
    /// What tells the variant apart, such as `{"color": "Black"}`.
    pub options: BTreeMap<String, String>,
    pub price: Money,
    pub weight_grams: u32,
    pub tax_category: TaxCategory,
}

/// A product as stored: validated, with its timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub title: String,
    pub description: String,
    pub brand: Option<String>,
    pub category: CategoryPath,
    pub seller_id: SellerId,
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<String>,
    /// Average review score, 0.0..=5.0; it ranks and filters, never prices.
    pub rating: Option<f64>,
    pub review_count: u64,
    pub sponsored: bool,
    pub variants: Vec<Variant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A product as submitted: typed, not yet validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDraft {
    pub id: ProductId,
    pub title: String,
    pub description: String,
    pub brand: Option<String>,
    pub category: CategoryPath,
    pub seller_id: SellerId,
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<String>,
    pub rating: Option<f64>,
    pub review_count: u64,
    pub sponsored: bool,
    pub variants: Vec<Variant>,
}

impl ProductDraft {
    /// A product of the house seller with one variant, `sku` at `price`, in
    /// `category`: the least a cart line or a deal needs (an embedder's
    /// fixture, a load test's SKU).
    pub fn single(id: ProductId, title: &str, category: CategoryPath, sku: Sku, price: Money) -> Self {
        ProductDraft {
            id,
            title: title.to_owned(),
            description: String::new(),
            brand: None,
            category,
            seller_id: SellerId::house(),
            attributes: BTreeMap::new(),
            images: Vec::new(),
            rating: None,
            review_count: 0,
            sponsored: false,
            variants: vec![Variant {
                sku,
                options: BTreeMap::new(),
                price,
                weight_grams: 0,
                tax_category: TaxCategory::Standard,
            }],
        }
    }
}

impl Product {
    /// Validates `draft` into a product created (and last updated) at `now`.
    pub fn create(draft: ProductDraft, now: Timestamp) -> Result<Product, CatalogError> {
        let ProductDraft {
            id,
            title,
            description,
            brand,
            category,
            seller_id,
            attributes,
            images,
            rating,
            review_count,
            sponsored,
            variants,
        } = draft;
        let product = Product {
            id,
            title,
            description,
            brand,
            category,
            seller_id,
            attributes,
            images,
            rating,
            review_count,
            sponsored,
            variants,
            created_at: now,
            updated_at: now,
        };
        validate::product(&product)?;
        Ok(product)
    }

    pub fn variant(&self, sku: &Sku) -> Option<&Variant> {
        self.variants.iter().find(|variant| &variant.sku == sku)
    }

    /// The price search shows and filters on. A validated product has at least
    /// one variant and one currency; a hand-built one without variants
    /// reports zero USD rather than panicking.
    pub fn lowest_price(&self) -> Money {
        self.variants
            .iter()
            .map(|variant| variant.price)
            .min_by_key(|price| price.cents)
            .unwrap_or(Money::zero(Currency::USD))
    }
}

/// A partial update. `None` leaves a field alone; for the optional fields
/// `brand` and `rating`, `Some(None)` clears them. Variants are addressed by
/// SKU and can be changed, not added or removed (that is a replace).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub brand: Option<Option<String>>,
    pub category: Option<CategoryPath>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub images: Option<Vec<String>>,
    pub rating: Option<Option<f64>>,
    pub review_count: Option<u64>,
    pub sponsored: Option<bool>,
    pub seller_id: Option<SellerId>,
    /// Applied in order; a later entry for the same SKU overrides an earlier one.
    pub variants: Vec<VariantPatch>,
}

/// A partial update of one variant, addressed by its SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantPatch {
    pub sku: Sku,
    pub price: Option<Money>,
    pub options: Option<BTreeMap<String, String>>,
    pub weight_grams: Option<u32>,
    pub tax_category: Option<TaxCategory>,
}

impl ProductPatch {
    /// Writes the patch into `product`; an unknown SKU is an error (the
    /// caller works on a copy, so a failure leaves the catalog untouched).
    fn apply_to(self, product: &mut Product) -> Result<(), CatalogError> {
        set(&mut product.title, self.title);
        set(&mut product.description, self.description);
        set(&mut product.brand, self.brand);
        set(&mut product.category, self.category);
        set(&mut product.attributes, self.attributes);
        set(&mut product.images, self.images);
        set(&mut product.rating, self.rating);
        set(&mut product.review_count, self.review_count);
        set(&mut product.sponsored, self.sponsored);
        set(&mut product.seller_id, self.seller_id);
        for patch in self.variants {
            let Some(variant) = product.variants.iter_mut().find(|variant| variant.sku == patch.sku) else {
                return Err(CatalogError::UnknownVariant { product: product.id.clone(), sku: patch.sku });
            };
            set(&mut variant.price, patch.price);
            set(&mut variant.options, patch.options);
            set(&mut variant.weight_grams, patch.weight_grams);
            set(&mut variant.tax_category, patch.tax_category);
        }
        Ok(())
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// A business rejection by the catalog. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A value breaks a rule; `field` names it as a client addresses it
    /// (`title`, `variants[2].price`).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("product {id} not found")]
    ProductNotFound { id: ProductId },
    /// No product sells the SKU: it cannot go in a cart or a deal.
    #[error("sku {sku} not found")]
    SkuNotFound { sku: Sku },
    #[error("product {id} already exists")]
    ProductExists { id: ProductId },
    #[error("product {product} has no variant {sku}")]
    UnknownVariant { product: ProductId, sku: Sku },
    #[error("sku {sku} already belongs to product {owner}")]
    SkuTaken { sku: Sku, owner: ProductId },
    #[error("sku {sku} appears more than once in the product")]
    DuplicateSku { sku: Sku },
}

/// What happened to the catalog: what the store and projections consume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CatalogEvent {
    /// A product was created or changed; `product` is its whole new state.
    ProductUpserted { product: Product },
}

/// One node of the category tree (`GET /v1/categories`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryNode {
    pub name: String,
    /// The path from the root, ending with `name`.
    pub path: Vec<String>,
    /// Products in this category and all its descendants.
    pub product_count: u64,
    /// Sorted by name.
    pub children: Vec<CategoryNode>,
}

/// The category tree while it is counted.
#[derive(Default)]
struct Branch {
    product_count: u64,
    children: BTreeMap<String, Branch>,
}

/// All products, by id, with a SKU index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    products: BTreeMap<ProductId, Product>,
    by_sku: SkuIndex,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Rebuilds a catalog from stored products (any order). Each is validated
    /// again and its SKUs must be free, so the invariants hold after a restore
    /// or the restore fails. A repeated id replaces the earlier product.
    pub fn restore(products: impl IntoIterator<Item = Product>) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::new();
        for product in products {
            validate::product(&product)?;
            catalog.check_skus_free(&product)?;
            catalog.apply(&CatalogEvent::ProductUpserted { product });
        }
        Ok(catalog)
    }

    /// Creates the product, or replaces the one with the same id (import and
    /// full updates). A replacement keeps `created_at`; its old SKUs are freed,
    /// its new ones must not belong to another product. Validation runs
    /// first, so an invalid draft is `Invalid` whatever the catalog holds.
    pub fn upsert(
        &mut self,
        draft: ProductDraft,
        now: Timestamp,
    ) -> Result<(Product, Vec<CatalogEvent>), CatalogError> {
        let created_at = self.products.get(&draft.id).map_or(now, |existing| existing.created_at);
        let mut product = Product::create(draft, created_at)?;
        product.updated_at = now;
        self.commit(product)
    }

    /// Like [`Catalog::upsert`], but an existing id is `ProductExists`.
    pub fn create(
        &mut self,
        draft: ProductDraft,
        now: Timestamp,
    ) -> Result<(Product, Vec<CatalogEvent>), CatalogError> {
        let product = Product::create(draft, now)?;
        if self.products.contains_key(&product.id) {
            return Err(CatalogError::ProductExists { id: product.id });
        }
        self.commit(product)
    }

    /// Changes some fields of a product; the result must pass the same
    /// validation as a new product, or nothing changes.
    pub fn patch(
        &mut self,
        id: &ProductId,
        patch: ProductPatch,
        now: Timestamp,
    ) -> Result<(Product, Vec<CatalogEvent>), CatalogError> {
        let Some(current) = self.products.get(id) else {
            return Err(CatalogError::ProductNotFound { id: id.clone() });
        };
        let mut product = current.clone();
        patch.apply_to(&mut product)?;
        validate::product(&product)?;
        product.updated_at = now;
        self.commit(product)
    }

    pub fn get(&self, id: &ProductId) -> Option<&Product> {
        self.products.get(id)
    }

    /// The product that owns `sku`, and the variant itself.
    pub fn by_sku(&self, sku: &Sku) -> Option<(&Product, &Variant)> {
        let product = self.products.get(self.by_sku.get(sku)?)?;
        Some((product, product.variant(sku)?))
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// Every product, by id.
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// The categories that hold products, each level sorted by name, each
    /// count including the subcategories. Built on demand: one pass over the
    /// products, at most five levels deep.
    pub fn category_tree(&self) -> Vec<CategoryNode> {
        let mut roots: BTreeMap<String, Branch> = BTreeMap::new();
        for product in self.products.values() {
            let mut level = &mut roots;
            for name in product.category.levels() {
                let branch = level.entry(name.clone()).or_default();
                branch.product_count = branch.product_count.saturating_add(1);
                level = &mut branch.children;
            }
        }
        nodes(roots, &[])
    }

    /// Applies an event produced by this catalog's operations. Used by the
    /// operations themselves and for replay; events are trusted here.
    pub fn apply(&mut self, event: &CatalogEvent) {
        match event {
            CatalogEvent::ProductUpserted { product } => {
                if let Some(old) = self.products.get(&product.id) {
                    for variant in &old.variants {
                        if self.by_sku.get(&variant.sku) == Some(&product.id) {
                            self.by_sku.remove(&variant.sku);
                        }
                    }
                }
                for variant in &product.variants {
                    self.by_sku.insert(variant.sku.clone(), product.id.clone());
                }
                self.products.insert(product.id.clone(), product.clone());
            }
        }
    }

    /// Checks the invariants named in the module docs.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        for (id, product) in &self.products {
            if &product.id != id {
                return violation("catalog.products_valid", format!("product {} is stored under {id}", product.id));
            }
            if let Err(err) = validate::product(product) {
                return violation("catalog.products_valid", format!("product {id}: {err}"));
            }
            for variant in &product.variants {
                let owner = self.by_sku.get(&variant.sku);
                if owner != Some(id) {
                    let detail = format!("sku {} of product {id} is indexed to {owner:?}", variant.sku);
                    return violation("catalog.sku_index_matches_products", detail);
                }
            }
        }
        for (sku, owner) in &self.by_sku {
            if self.products.get(owner).and_then(|product| product.variant(sku)).is_none() {
                let detail = format!("index maps sku {sku} to product {owner}, which has no such variant");
                return violation("catalog.sku_index_matches_products", detail);
            }
        }
        Ok(())
    }

    /// Every SKU of `product` is free or already its own.
    fn check_skus_free(&self, product: &Product) -> Result<(), CatalogError> {
        for variant in &product.variants {
            match self.by_sku.get(&variant.sku) {
                Some(owner) if owner != &product.id => {
                    return Err(CatalogError::SkuTaken { sku: variant.sku.clone(), owner: owner.clone() });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stores a validated product, unless it equals the stored one apart
    /// from `updated_at`: then nothing changes and no event is emitted.
    fn commit(&mut self, product: Product) -> Result<(Product, Vec<CatalogEvent>), CatalogError> {
        self.check_skus_free(&product)?;
        if let Some(existing) = self.products.get(&product.id) {
            let unchanged = Product { updated_at: existing.updated_at, ..product.clone() };
            if unchanged == *existing {
                return Ok((existing.clone(), Vec::new()));
            }
        }
        let event = CatalogEvent::ProductUpserted { product: product.clone() };
        self.apply(&event);
        Ok((product, vec![event]))
    }
}

fn nodes(level: BTreeMap<String, Branch>, parent: &[String]) -> Vec<CategoryNode> {
    level
        .into_iter()
        .map(|(name, branch)| {
            let mut path = parent.to_vec();
            path.push(name.clone());
            let children = nodes(branch.children, &path);
            CategoryNode { name, path, product_count: branch.product_count, children }
        })
        .collect()
}

fn violation(name: &'static str, detail: String) -> Result<(), InvariantViolation> {
    Err(InvariantViolation { name, detail })
}

#[cfg(test)]
mod tests;
