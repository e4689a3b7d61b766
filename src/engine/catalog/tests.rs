use super::*;

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn pid(raw: &str) -> ProductId {
    ProductId::parse(raw).unwrap()
}

fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::USD)
}

fn path(levels: &[&str]) -> CategoryPath {
    CategoryPath::parse(levels.iter().map(|level| level.to_string()).collect()).unwrap()
}

fn variant(raw_sku: &str, cents: i64) -> Variant {
    Variant {
        sku: sku(raw_sku),
        options: BTreeMap::from([("color".to_owned(), "Black".to_owned())]),
        price: usd(cents),
        weight_grams: 250,
        tax_category: TaxCategory::Standard,
    }
}

/// A valid draft with one variant per `(sku, cents)`.
fn draft(id: &str, variants: &[(&str, i64)]) -> ProductDraft {
    ProductDraft {
        id: pid(id),
        title: "Wireless Headphones".to_owned(),
        description: "Closed-back, 30h battery.".to_owned(),
        brand: Some("AudioTech".to_owned()),
        category: path(&["Electronics", "Audio", "Headphones"]),
        seller_id: SellerId::parse("mercato").unwrap(),
        attributes: BTreeMap::from([("connectivity".to_owned(), "Bluetooth 5.0".to_owned())]),
        images: vec!["https://cdn.example.com/1.jpg".to_owned()],
        rating: Some(4.5),
        review_count: 2847,
        sponsored: false,
        variants: variants.iter().map(|(raw_sku, cents)| variant(raw_sku, *cents)).collect(),
    }
}

fn in_category(id: &str, raw_sku: &str, levels: &[&str]) -> ProductDraft {
    ProductDraft { category: path(levels), ..draft(id, &[(raw_sku, 100)]) }
}

/// The field an `Invalid` error names, or the error itself when it is another kind.
fn field(result: Result<Product, CatalogError>) -> String {
    match result {
        Err(CatalogError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

/// A catalog whose every operation is checked: an error changes nothing,
/// replaying the returned events on the old state gives the new state, and
/// the invariants hold afterwards.
struct Checked(Catalog);

type Outcome = Result<(Product, Vec<CatalogEvent>), CatalogError>;

impl Checked {
    fn new() -> Self {
        Checked(Catalog::new())
    }

    fn run(&mut self, op: impl FnOnce(&mut Catalog) -> Outcome) -> Outcome {
        let before = self.0.clone();
        let result = op(&mut self.0);
        match &result {
            Ok((product, events)) => {
                let mut replayed = before;
                events.iter().for_each(|event| replayed.apply(event));
                assert_eq!(replayed, self.0);
                assert_eq!(self.0.get(&product.id), Some(product));
            }
            Err(_) => assert_eq!(before, self.0),
        }
        assert_eq!(self.0.check_invariants(), Ok(()));
        result
    }

    fn ok(&mut self, op: impl FnOnce(&mut Catalog) -> Outcome) -> (Product, Vec<CatalogEvent>) {
        self.run(op).unwrap()
    }

    fn err(&mut self, op: impl FnOnce(&mut Catalog) -> Outcome) -> CatalogError {
        self.run(op).unwrap_err()
    }
}

#[test]
fn each_product_rule_rejects_its_failing_case_and_names_the_field() {
    type Breaker = fn(&mut ProductDraft);
    let cases: Vec<(&str, Breaker)> = vec![
        ("title", |d| d.title = "   ".to_owned()),
        ("title", |d| d.title = "t".repeat(301)),
        ("description", |d| d.description = "d".repeat(10_001)),
        ("brand", |d| d.brand = Some(String::new())),
        ("brand", |d| d.brand = Some("b".repeat(101))),
        ("attributes", |d| d.attributes = (0..101).map(|i| (format!("k{i}"), String::new())).collect()),
        ("attributes", |d| _ = d.attributes.insert(" ".to_owned(), "v".to_owned())),
        ("attributes", |d| _ = d.attributes.insert("k".repeat(101), "v".to_owned())),
        ("attributes.material", |d| _ = d.attributes.insert("material".to_owned(), "v".repeat(1_001))),
        ("images", |d| d.images = vec!["https://cdn.example.com/x.jpg".to_owned(); 21]),
        ("images[0]", |d| d.images = vec!["ftp://cdn.example.com/1.jpg".to_owned()]),
        ("images[0]", |d| d.images = vec!["https://".to_owned()]),
        ("images[1]", |d| d.images.push(format!("https://{}", "x".repeat(2_041)))),
        ("rating", |d| d.rating = Some(5.1)),
        ("rating", |d| d.rating = Some(-0.1)),
        ("rating", |d| d.rating = Some(f64::NAN)),
        ("rating", |d| d.rating = Some(f64::INFINITY)),
        ("variants", |d| d.variants.clear()),
        ("variants", |d| d.variants = (0..101).map(|i| variant(&format!("S-{i}"), 100)).collect()),
        ("variants[0].price", |d| d.variants[0].price = usd(-1)),
        ("variants[0].price", |d| d.variants[0].price = usd(100_000_000_001)),
        ("variants[1].price", |d| d.variants[1].price = Money::new(100, Currency::EUR)),
        ("variants[0].options", |d| {
            d.variants[0].options = (0..21).map(|i| (format!("o{i}"), "v".to_owned())).collect()
        }),
        ("variants[0].options", |d| _ = d.variants[0].options.insert(String::new(), "v".to_owned())),
        ("variants[1].options.color", |d| _ = d.variants[1].options.insert("color".to_owned(), " ".to_owned())),
        ("variants[0].weight_grams", |d| d.variants[0].weight_grams = 1_000_001),
    ];
    for (expected, breaker) in cases {
        let mut broken = draft("P-1", &[("S-1", 100), ("S-2", 200)]);
        breaker(&mut broken);
        assert_eq!(field(Product::create(broken, at(1))), expected);
    }
}

#[test]
fn a_sku_twice_in_one_product_is_a_duplicate_sku() {
    let result = Product::create(draft("P-1", &[("S-1", 100), ("S-2", 100), ("S-1", 300)]), at(1));
    assert_eq!(result, Err(CatalogError::DuplicateSku { sku: sku("S-1") }));
}

#[test]
fn values_at_every_limit_are_accepted() {
    let mut full = draft("P-1", &[]);
    full.title = "t".repeat(300);
    full.description = "d".repeat(10_000);
    full.brand = Some("b".repeat(100));
    full.category = path(&["a".repeat(80).as_str(), "b", "c", "d", "e"]);
    full.attributes = (0..100).map(|i| (format!("{i}{}", "k".repeat(97)), "v".repeat(1_000))).collect();
    full.images = vec![format!("http://{}", "x".repeat(2_041)); 20];
    full.rating = Some(5.0);
    full.variants = (0..100).map(|i| variant(&format!("S-{i}"), 100_000_000_000)).collect();
    full.variants[0].weight_grams = 1_000_000;
    full.variants[0].options = (0..20).map(|i| (format!("o{i}"), "v".repeat(100))).collect();
    full.variants[1].price = usd(0);
    assert!(Product::create(full, at(1)).is_ok());
    let bare = ProductDraft { description: String::new(), brand: None, rating: Some(0.0), ..draft("P-2", &[("S", 1)]) };
    assert!(Product::create(bare, at(1)).is_ok());
}

#[test]
fn a_category_path_has_one_to_five_levels_without_slashes() {
    let parse = |levels: &[&str]| match CategoryPath::parse(levels.iter().map(|level| level.to_string()).collect()) {
        Err(CatalogError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid category, got {other:?}"),
    };
    assert_eq!(parse(&[]), "category");
    assert_eq!(parse(&["a", "b", "c", "d", "e", "f"]), "category");
    assert_eq!(parse(&["Electronics", "  "]), "category[1]");
    assert_eq!(parse(&["Audio/Video"]), "category[0]");
    assert_eq!(parse(&["x".repeat(81).as_str()]), "category[0]");
    assert_eq!(
        TaxCategory::parse("luxury").map_err(|err| err.to_string()),
        Err("invalid tax_category: must be standard, reduced or zero".to_owned())
    );
    assert_eq!(TaxCategory::parse("reduced"), Ok(TaxCategory::Reduced));
}

#[test]
fn a_category_path_trims_prints_and_parses_with_slashes() {
    let audio = path(&[" Electronics ", "Audio"]);
    assert_eq!(audio.levels(), ["Electronics".to_owned(), "Audio".to_owned()]);
    assert_eq!(audio.to_string(), "Electronics/Audio");
    assert_eq!("Electronics/Audio".parse::<CategoryPath>(), Ok(audio.clone()));
    assert!(path(&["Electronics", "Audio", "Headphones"]).starts_with(&audio));
    assert!(audio.starts_with(&audio));
    assert!(!path(&["Electronics"]).starts_with(&audio));
    assert!(!path(&["Electronics", "Audiophile"]).starts_with(&audio));
}

#[test]
fn products_and_category_paths_round_trip_through_json_and_bincode() {
    let product = Product::create(draft("P-1", &[("S-1", 7999), ("S-2", 8999)]), at(5)).unwrap();
    let json = serde_json::to_value(&product).unwrap();
    assert_eq!(json["category"], serde_json::json!(["Electronics", "Audio", "Headphones"]));
    assert_eq!(json["variants"][0]["tax_category"], "standard");
    assert_eq!(serde_json::from_value::<Product>(json).unwrap(), product);
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&product, config).unwrap();
    let (decoded, _): (Product, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(decoded, product);
    assert!(serde_json::from_str::<CategoryPath>(r#"["Audio/Video"]"#).is_err());
    assert!(serde_json::from_str::<CategoryPath>("[]").is_err());
}

#[test]
fn create_adds_a_product_once_and_a_second_create_of_the_id_is_product_exists() {
    let mut catalog = Checked::new();
    let (product, events) = catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100)]), at(10)));
    assert_eq!((product.created_at, product.updated_at), (at(10), at(10)));
    assert_eq!(events, vec![CatalogEvent::ProductUpserted { product: product.clone() }]);
    let again = catalog.err(|c| c.create(draft("P-1", &[("S-9", 100)]), at(11)));
    assert_eq!(again, CatalogError::ProductExists { id: pid("P-1") });
    let invalid =
        catalog.err(|c| c.create(ProductDraft { title: String::new(), ..draft("P-1", &[("S-1", 1)]) }, at(11)));
    assert!(matches!(invalid, CatalogError::Invalid { .. }), "validation comes before the id check");
    assert_eq!(catalog.0.len(), 1);
}

#[test]
fn upsert_creates_then_replaces_keeping_created_at() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.upsert(draft("P-1", &[("S-1", 100)]), at(10)));
    let renamed = ProductDraft { title: "Studio Headphones".to_owned(), ..draft("P-1", &[("S-1", 100)]) };
    let (product, events) = catalog.ok(|c| c.upsert(renamed, at(20)));
    assert_eq!((product.created_at, product.updated_at), (at(10), at(20)));
    assert_eq!(product.title, "Studio Headphones");
    assert_eq!(events.len(), 1);
    assert_eq!(catalog.0.len(), 1);
}

#[test]
fn an_upsert_that_changes_nothing_emits_nothing_and_keeps_updated_at() {
    let mut catalog = Checked::new();
    let (first, _) = catalog.ok(|c| c.upsert(draft("P-1", &[("S-1", 100)]), at(10)));
    let (again, events) = catalog.ok(|c| c.upsert(draft("P-1", &[("S-1", 100)]), at(20)));
    assert_eq!(events, Vec::new());
    assert_eq!(again, first);
}

#[test]
fn a_sku_of_another_product_is_taken_for_create_and_upsert() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100), ("S-2", 100)]), at(1)));
    let taken = CatalogError::SkuTaken { sku: sku("S-2"), owner: pid("P-1") };
    assert_eq!(catalog.err(|c| c.create(draft("P-2", &[("S-3", 100), ("S-2", 100)]), at(2))), taken);
    assert_eq!(catalog.err(|c| c.upsert(draft("P-2", &[("S-2", 100)]), at(2))), taken);
    assert_eq!(catalog.0.get(&pid("P-2")), None);
}

#[test]
fn replacing_a_product_frees_the_skus_it_no_longer_has() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.upsert(draft("P-1", &[("S-1", 100), ("S-2", 200)]), at(1)));
    catalog.ok(|c| c.upsert(draft("P-1", &[("S-2", 200), ("S-3", 300)]), at(2)));
    assert_eq!(catalog.0.by_sku(&sku("S-1")), None);
    catalog.ok(|c| c.create(draft("P-2", &[("S-1", 100)]), at(3)));
    let (owner, found) = catalog.0.by_sku(&sku("S-1")).unwrap();
    assert_eq!((owner.id.as_str(), found.price), ("P-2", usd(100)));
    assert_eq!(catalog.0.by_sku(&sku("S-3")).map(|(owner, _)| owner.id.as_str()), Some("P-1"));
}

#[test]
fn patch_changes_the_given_fields_and_keeps_the_rest() {
    let mut catalog = Checked::new();
    let (before, _) = catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100), ("S-2", 200)]), at(1)));
    let patch = ProductPatch {
        title: Some("Studio Headphones".to_owned()),
        brand: Some(None),
        rating: Some(Some(3.5)),
        sponsored: Some(true),
        category: Some(path(&["Electronics", "Audio"])),
        variants: vec![VariantPatch {
            sku: sku("S-2"),
            price: Some(usd(150)),
            options: None,
            weight_grams: Some(300),
            tax_category: None,
        }],
        ..ProductPatch::default()
    };
    let (after, events) = catalog.ok(|c| c.patch(&pid("P-1"), patch, at(5)));
    assert_eq!(events.len(), 1);
    let expected_variants =
        vec![before.variants[0].clone(), Variant { price: usd(150), weight_grams: 300, ..before.variants[1].clone() }];
    let expected = Product {
        title: "Studio Headphones".to_owned(),
        brand: None,
        rating: Some(3.5),
        sponsored: true,
        category: path(&["Electronics", "Audio"]),
        variants: expected_variants,
        updated_at: at(5),
        ..before
    };
    assert_eq!(after, expected);
    assert_eq!(after.lowest_price(), usd(100));
}

#[test]
fn an_empty_patch_emits_nothing_and_keeps_updated_at() {
    let mut catalog = Checked::new();
    let (before, _) = catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100)]), at(1)));
    let (after, events) = catalog.ok(|c| c.patch(&pid("P-1"), ProductPatch::default(), at(9)));
    assert_eq!((after, events), (before, Vec::new()));
}

#[test]
fn a_patch_that_fails_changes_nothing() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100), ("S-2", 200)]), at(1)));
    let price = |raw_sku: &str, price: Money| VariantPatch {
        sku: sku(raw_sku),
        price: Some(price),
        options: None,
        weight_grams: None,
        tax_category: None,
    };
    let unknown = ProductPatch {
        title: Some("Renamed".to_owned()),
        variants: vec![price("S-1", usd(1)), price("S-9", usd(1))],
        ..ProductPatch::default()
    };
    assert_eq!(
        catalog.err(|c| c.patch(&pid("P-1"), unknown, at(2))),
        CatalogError::UnknownVariant { product: pid("P-1"), sku: sku("S-9") }
    );
    let mixed =
        ProductPatch { variants: vec![price("S-2", Money::new(200, Currency::EUR))], ..ProductPatch::default() };
    let err = catalog.err(|c| c.patch(&pid("P-1"), mixed, at(2)));
    assert!(matches!(err, CatalogError::Invalid { field, .. } if field == "variants[1].price"));
    let blank = ProductPatch { title: Some(" ".to_owned()), ..ProductPatch::default() };
    assert!(matches!(catalog.err(|c| c.patch(&pid("P-1"), blank, at(2))), CatalogError::Invalid { .. }));
    assert_eq!(
        catalog.err(|c| c.patch(&pid("P-2"), ProductPatch::default(), at(2))),
        CatalogError::ProductNotFound { id: pid("P-2") }
    );
}

#[test]
fn the_category_tree_counts_subcategories_and_sorts_by_name() {
    let mut catalog = Checked::new();
    let drafts = [
        in_category("P-1", "S-1", &["Electronics", "Audio", "Speakers"]),
        in_category("P-2", "S-2", &["Electronics", "Audio", "Headphones"]),
        in_category("P-3", "S-3", &["Electronics", "Audio", "Headphones"]),
        in_category("P-4", "S-4", &["Electronics", "Audio"]),
        in_category("P-5", "S-5", &["Electronics", "Computers", "Laptops"]),
        in_category("P-6", "S-6", &["Books", "Fiction", "Mystery"]),
    ];
    for product in drafts {
        catalog.ok(|c| c.create(product, at(1)));
    }
    let summary = |nodes: &[CategoryNode]| -> Vec<(String, u64)> {
        nodes.iter().map(|node| (node.path.join("/"), node.product_count)).collect()
    };
    let tree = catalog.0.category_tree();
    assert_eq!(summary(&tree), [("Books".to_owned(), 1), ("Electronics".to_owned(), 5)]);
    let electronics = &tree[1];
    assert_eq!(electronics.name, "Electronics");
    assert_eq!(
        summary(&electronics.children),
        [("Electronics/Audio".to_owned(), 4), ("Electronics/Computers".to_owned(), 1)]
    );
    let audio = &electronics.children[0];
    assert_eq!(
        summary(&audio.children),
        [("Electronics/Audio/Headphones".to_owned(), 2), ("Electronics/Audio/Speakers".to_owned(), 1)]
    );
    assert!(audio.children.iter().all(|leaf| leaf.children.is_empty()));
    assert_eq!(Catalog::new().category_tree(), Vec::new());
}

#[test]
fn lowest_price_is_the_cheapest_variant() {
    let product = Product::create(draft("P-1", &[("S-1", 900), ("S-2", 150), ("S-3", 400)]), at(1)).unwrap();
    assert_eq!(product.lowest_price(), usd(150));
    assert_eq!(product.variant(&sku("S-3")).map(|found| found.price), Some(usd(400)));
    assert_eq!(product.variant(&sku("S-4")), None);
}

#[test]
fn restore_rebuilds_the_index_and_rejects_shared_skus() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100)]), at(1)));
    catalog.ok(|c| c.create(draft("P-2", &[("S-2", 100), ("S-3", 100)]), at(2)));
    let restored = Catalog::restore(catalog.0.products().cloned()).unwrap();
    assert_eq!(restored, catalog.0);
    let clash = Product::create(draft("P-3", &[("S-3", 100)]), at(3)).unwrap();
    let products = catalog.0.products().cloned().chain([clash]);
    assert_eq!(Catalog::restore(products), Err(CatalogError::SkuTaken { sku: sku("S-3"), owner: pid("P-2") }));
    let mut invalid = Product::create(draft("P-4", &[("S-4", 100)]), at(3)).unwrap();
    invalid.images = vec!["cdn.example.com/1.jpg".to_owned()];
    assert!(matches!(Catalog::restore([invalid]), Err(CatalogError::Invalid { .. })));
}

#[test]
fn check_invariants_names_a_broken_index_and_an_invalid_product() {
    let mut catalog = Checked::new();
    catalog.ok(|c| c.create(draft("P-1", &[("S-1", 100)]), at(1)));
    let mut missing = catalog.0.clone();
    missing.by_sku.clear();
    assert_eq!(missing.check_invariants().map_err(|err| err.name), Err("catalog.sku_index_matches_products"));
    let mut stray = catalog.0.clone();
    stray.by_sku.insert(sku("S-9"), pid("P-1"));
    assert_eq!(stray.check_invariants().map_err(|err| err.name), Err("catalog.sku_index_matches_products"));
    let mut invalid = catalog.0.clone();
    if let Some(product) = invalid.products.get_mut(&pid("P-1")) {
        product.title.clear();
    }
    assert_eq!(invalid.check_invariants().map_err(|err| err.name), Err("catalog.products_valid"));
}
