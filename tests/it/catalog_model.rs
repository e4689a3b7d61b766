//! Model test for the catalog: random upserts, creates and patches over a
//! few product ids and SKUs (so that collisions, replacements and unknown
//! SKUs happen often) run against the catalog and against a trivial model, a
//! `BTreeMap` of products that applies the documented rules on its own.
//!
//! After every step: both agree on the outcome and the state, an error
//! changed nothing, the invariants hold, replaying every event so far on an
//! empty catalog and restoring from the products both give the live catalog,
//! and each category count equals a brute-force count.

use mercato::engine::catalog::{
    Catalog, CatalogError, CatalogEvent, CategoryNode, CategoryPath, Product, ProductDraft, ProductPatch, TaxCategory,
    Variant, VariantPatch, PRICE_CENTS_MAX,
};
use mercato::engine::{Currency, Money, ProductId, SellerId, Sku, Timestamp};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const PRODUCT_IDS: u8 = 3;
const SKUS: u8 = 6;

const CATEGORIES: [&[&str]; 5] = [
    &["Home", "Lighting", "Lamps"],
    &["Home", "Lighting", "Bulbs"],
    &["Home", "Lighting"],
    &["Home", "Kitchen", "Kettles"],
    &["Books"],
];

fn product_id(index: u8) -> ProductId {
    ProductId::parse(&format!("P-{index}")).expect("valid product id")
}

fn sku(index: u8) -> Sku {
    Sku::parse(&format!("S-{index}")).expect("valid sku")
}

fn category(index: usize) -> CategoryPath {
    let levels = CATEGORIES[index].iter().map(|level| level.to_string()).collect();
    CategoryPath::parse(levels).expect("valid category")
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(ProductDraft),
    Create(ProductDraft),
    Patch { id: u8, patch: ProductPatch },
    Advance { millis: u64 },
}

/// Mostly valid USD prices; now and then too high or in euros.
fn price() -> impl Strategy<Value = Money> {
    prop_oneof![
        18 => (0i64..1_000).prop_map(|cents| Money::new(cents, Currency::USD)),
        1 => Just(Money::new(PRICE_CENTS_MAX + 1, Currency::USD)),
        1 => (0i64..1_000).prop_map(|cents| Money::new(cents, Currency::EUR)),
    ]
}

/// Mostly a real title, now and then a blank one.
fn title() -> impl Strategy<Value = String> {
    prop_oneof![8 => Just("Desk Lamp".to_owned()), 8 => Just("Reading Lamp".to_owned()), 1 => Just("  ".to_owned())]
}

/// Ratings at and within the bounds, now and then out of range.
fn rating() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![4 => Just(None), 3 => Just(Some(0.0)), 3 => Just(Some(4.5)), 3 => Just(Some(5.0)), 1 => Just(Some(5.5))]
}

fn variant() -> impl Strategy<Value = Variant> {
    (0..SKUS, price(), 0u32..3).prop_map(|(index, price, weight)| Variant {
        sku: sku(index),
        options: BTreeMap::from([("size".to_owned(), format!("{weight}"))]),
        price,
        weight_grams: weight * 100,
        tax_category: TaxCategory::Standard,
    })
}

/// Drafts whose SKUs repeat now and then (within and across products).
fn draft() -> impl Strategy<Value = ProductDraft> {
    let variants = prop_oneof![19 => proptest::collection::vec(variant(), 1..4), 1 => Just(Vec::new())];
    let brand = proptest::option::of(proptest::sample::select(vec!["Lumen", "Kettleco"]));
    (0..PRODUCT_IDS, title(), 0..CATEGORIES.len(), brand, rating(), any::<bool>(), variants).prop_map(
        |(id, title, category_index, brand, rating, sponsored, variants)| ProductDraft {
            id: product_id(id),
            title,
            description: String::new(),
            brand: brand.map(str::to_owned),
            category: category(category_index),
            seller_id: SellerId::parse("mercato").expect("valid seller id"),
            attributes: BTreeMap::new(),
            images: Vec::new(),
            rating,
            review_count: 0,
            sponsored,
            variants,
        },
    )
}

fn variant_patch() -> impl Strategy<Value = VariantPatch> {
    (0..SKUS, proptest::option::of(price()), proptest::option::of(0u32..3)).prop_map(|(index, price, weight)| {
        VariantPatch {
            sku: sku(index),
            price,
            options: None,
            weight_grams: weight.map(|weight| weight * 100),
            tax_category: None,
        }
    })
}

fn patch() -> impl Strategy<Value = ProductPatch> {
    (
        proptest::option::of(title()),
        proptest::option::of(0..CATEGORIES.len()),
        proptest::option::of(rating()),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(variant_patch(), 0..=2),
    )
        .prop_map(|(title, category_index, rating, sponsored, variants)| ProductPatch {
            title,
            category: category_index.map(category),
            rating,
            sponsored,
            variants,
            ..ProductPatch::default()
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => draft().prop_map(Op::Upsert),
        3 => draft().prop_map(Op::Create),
        3 => (0..PRODUCT_IDS, patch()).prop_map(|(id, patch)| Op::Patch { id, patch }),
        1 => (0u64..3).prop_map(|millis| Op::Advance { millis }),
    ]
}

/// An expected rejection; for `Invalid` only the field is compared, the
/// reason's wording being the engine's business.
#[derive(Debug, Clone, PartialEq)]
enum Rejection {
    Invalid { field: String },
    Other(CatalogError),
}

impl From<CatalogError> for Rejection {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Invalid { field, .. } => Rejection::Invalid { field },
            other => Rejection::Other(other),
        }
    }
}

fn invalid(field: &str) -> Rejection {
    Rejection::Invalid { field: field.to_owned() }
}

/// The documented rules for what the generators can break, checked in the
/// documented field order: title, rating, then the variants one by one.
fn model_validate(product: &Product) -> Result<(), Rejection> {
    if product.title.trim().is_empty() {
        return Err(invalid("title"));
    }
    if product.rating.is_some_and(|rating| !(0.0..=5.0).contains(&rating)) {
        return Err(invalid("rating"));
    }
    let Some(first) = product.variants.first() else {
        return Err(invalid("variants"));
    };
    let mut seen = BTreeSet::new();
    for (index, variant) in product.variants.iter().enumerate() {
        if !seen.insert(variant.sku.clone()) {
            return Err(Rejection::Other(CatalogError::DuplicateSku { sku: variant.sku.clone() }));
        }
        let out_of_range = variant.price.cents < 0 || variant.price.cents > PRICE_CENTS_MAX;
        if out_of_range || variant.price.currency != first.price.currency {
            return Err(invalid(&format!("variants[{index}].price")));
        }
    }
    Ok(())
}

/// The products, nothing else: every question is answered by scanning them.
#[derive(Debug, Default)]
struct Model {
    products: BTreeMap<ProductId, Product>,
}

/// What an operation should return: the product and whether it changed.
type Expected = Result<(Product, bool), Rejection>;

impl Model {
    fn owner(&self, sku: &Sku) -> Option<&ProductId> {
        self.products.values().find(|product| product.variants.iter().any(|variant| &variant.sku == sku)).map(|p| &p.id)
    }

    fn check_skus(&self, product: &Product) -> Result<(), Rejection> {
        for variant in &product.variants {
            match self.owner(&variant.sku) {
                Some(owner) if owner != &product.id => {
                    let taken = CatalogError::SkuTaken { sku: variant.sku.clone(), owner: owner.clone() };
                    return Err(Rejection::Other(taken));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stores `product` unless it equals the stored one apart from `updated_at`.
    fn store(&mut self, product: Product) -> Expected {
        self.check_skus(&product)?;
        if let Some(existing) = self.products.get(&product.id) {
            let mut same = product.clone();
            same.updated_at = existing.updated_at;
            if &same == existing {
                return Ok((existing.clone(), false));
            }
        }
        self.products.insert(product.id.clone(), product.clone());
        Ok((product, true))
    }

    fn upsert(&mut self, draft: ProductDraft, now: Timestamp, create: bool) -> Expected {
        let created_at = self.products.get(&draft.id).map_or(now, |existing| existing.created_at);
        let product = from_draft(draft, created_at, now);
        model_validate(&product)?;
        if create && self.products.contains_key(&product.id) {
            return Err(Rejection::Other(CatalogError::ProductExists { id: product.id }));
        }
        self.store(product)
    }

    fn patch(&mut self, id: &ProductId, patch: ProductPatch, now: Timestamp) -> Expected {
        let Some(current) = self.products.get(id) else {
            return Err(Rejection::Other(CatalogError::ProductNotFound { id: id.clone() }));
        };
        let mut product = current.clone();
        product.title = patch.title.unwrap_or(product.title);
        product.category = patch.category.unwrap_or(product.category);
        product.rating = patch.rating.unwrap_or(product.rating);
        product.sponsored = patch.sponsored.unwrap_or(product.sponsored);
        for change in patch.variants {
            let Some(variant) = product.variants.iter_mut().find(|variant| variant.sku == change.sku) else {
                return Err(Rejection::Other(CatalogError::UnknownVariant { product: id.clone(), sku: change.sku }));
            };
            variant.price = change.price.unwrap_or(variant.price);
            variant.weight_grams = change.weight_grams.unwrap_or(variant.weight_grams);
        }
        model_validate(&product)?;
        product.updated_at = now;
        self.store(product)
    }
}

fn from_draft(draft: ProductDraft, created_at: Timestamp, updated_at: Timestamp) -> Product {
    Product {
        id: draft.id,
        title: draft.title,
        description: draft.description,
        brand: draft.brand,
        category: draft.category,
        seller_id: draft.seller_id,
        attributes: draft.attributes,
        images: draft.images,
        rating: draft.rating,
        review_count: draft.review_count,
        sponsored: draft.sponsored,
        variants: draft.variants,
        created_at,
        updated_at,
    }
}

/// Walks the tree: every node's count is the number of products at or under
/// its path, names match paths, siblings are sorted, and the nodes are
/// exactly the prefixes of the products' categories.
fn check_tree(nodes: &[CategoryNode], parent: &[String], model: &Model, seen: &mut BTreeSet<Vec<String>>) {
    let names: Vec<&String> = nodes.iter().map(|node| &node.name).collect();
    assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "siblings not sorted: {names:?}");
    for node in nodes {
        let mut path = parent.to_vec();
        path.push(node.name.clone());
        assert_eq!(node.path, path);
        let count = model.products.values().filter(|product| product.category.levels().starts_with(&path)).count();
        assert_eq!(node.product_count, u64::try_from(count).expect("small count"), "count of {path:?}");
        seen.insert(path.clone());
        check_tree(&node.children, &path, model, seen);
    }
}

fn check_agreement(catalog: &Catalog, model: &Model, events: &[CatalogEvent]) {
    assert_eq!(catalog.check_invariants(), Ok(()));
    let live: Vec<&Product> = catalog.products().collect();
    let expected: Vec<&Product> = model.products.values().collect();
    assert_eq!(live, expected);
    assert_eq!(catalog.len(), model.products.len());
    for index in 0..SKUS {
        let owner = catalog.by_sku(&sku(index)).map(|(product, variant)| {
            assert_eq!(variant.sku, sku(index));
            product.id.clone()
        });
        assert_eq!(owner.as_ref(), model.owner(&sku(index)), "owner of {}", sku(index));
    }
    let mut replayed = Catalog::new();
    events.iter().for_each(|event| replayed.apply(event));
    assert_eq!(&replayed, catalog, "replaying the events");
    let restored = Catalog::restore(catalog.products().cloned()).expect("a live catalog restores");
    assert_eq!(&restored, catalog, "restoring the products");
    let mut seen = BTreeSet::new();
    check_tree(&catalog.category_tree(), &[], model, &mut seen);
    let prefixes: BTreeSet<Vec<String>> = model
        .products
        .values()
        .flat_map(|product| {
            let levels = product.category.levels();
            (1..=levels.len()).map(|depth| levels[..depth].to_vec())
        })
        .collect();
    assert_eq!(seen, prefixes);
}

fn run_catalog_model(ops: &[Op]) {
    let mut catalog = Catalog::new();
    let mut model = Model::default();
    let mut events = Vec::new();
    let mut now = Timestamp::from_millis(1_000);
    for op in ops {
        let before = catalog.clone();
        let (actual, expected) = match op.clone() {
            Op::Upsert(draft) => (catalog.upsert(draft.clone(), now), model.upsert(draft, now, false)),
            Op::Create(draft) => (catalog.create(draft.clone(), now), model.upsert(draft, now, true)),
            Op::Patch { id, patch } => {
                (catalog.patch(&product_id(id), patch.clone(), now), model.patch(&product_id(id), patch, now))
            }
            Op::Advance { millis } => {
                now = now.plus_millis(millis);
                continue;
            }
        };
        match (actual, expected) {
            (Ok((product, produced)), Ok((expected_product, changed))) => {
                assert_eq!(product, expected_product, "{op:?}");
                let expected_events =
                    if changed { vec![CatalogEvent::ProductUpserted { product: product.clone() }] } else { Vec::new() };
                assert_eq!(produced, expected_events, "{op:?}");
                events.extend(produced);
            }
            (Err(err), Err(rejection)) => {
                assert_eq!(Rejection::from(err), rejection, "{op:?}");
                assert_eq!(catalog, before, "an error changed the catalog: {op:?}");
            }
            (actual, expected) => panic!("{op:?}: catalog gave {actual:?}, model expected {expected:?}"),
        }
        check_agreement(&catalog, &model, &events);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_catalog_agrees_with_its_model_and_survives_replay_and_restore(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run_catalog_model(&ops);
    }
}
