//! A seeded catalog generator over realistic vocabularies (brands,
//! categories, adjectives, product nouns, colors), for benchmarks and load
//! tests that need a catalog of any size: `mercato serve --generated-products
//! 100000` and the search benchmark use it.
//!
//! The same seed gives the same catalog. Product `n` has id `P-{1000 + n}`
//! (numbered like the demo catalog) and one to three variants with SKUs
//! `P-{1000 + n}-{v}`.

use crate::engine::catalog::ProductDraft;
use crate::engine::{
    CategoryPath, Currency, Money, Product, ProductId, SellerId, Sku, TaxCategory, Timestamp, Variant,
};
use rand::Rng;
use std::collections::BTreeMap;

/// The number of the first product's id.
pub const FIRST_ID: usize = 1000;
/// Creation time of product 0 (product `n` is `n` ms later).
const CREATED_FROM_MS: u64 = 1_700_000_000_000;

pub const BRANDS: &[&str] = &[
    "Sony",
    "Bose",
    "JBL",
    "Anker",
    "Samsung",
    "Apple",
    "Logitech",
    "Philips",
    "Dyson",
    "Lenovo",
    "Dell",
    "Canon",
    "Nikon",
    "Garmin",
    "Fitbit",
    "Nike",
    "Adidas",
    "Puma",
    "Ikea",
    "Keurig",
    "Ninja",
    "Instant",
    "Cuisinart",
    "KitchenAid",
    "Oxo",
    "Lodge",
    "Stanley",
    "Yeti",
    "Hydro",
    "Coleman",
    "DeWalt",
    "Makita",
    "Bosch",
    "Ryobi",
    "Craftsman",
    "Black",
    "Lego",
    "Hasbro",
    "Mattel",
    "Crayola",
];
pub const TREE: &[(&str, &[&str])] = &[
    ("Electronics", &["Audio", "Computers", "Cameras", "Phones", "Wearables", "Accessories"]),
    ("Home", &["Kitchen", "Furniture", "Bedding", "Decor", "Lighting", "Storage"]),
    ("Sports", &["Footwear", "Camping", "Fitness", "Cycling", "Water"]),
    ("Tools", &["Power Tools", "Hand Tools", "Garden", "Hardware"]),
    ("Toys", &["Building", "Games", "Dolls", "Outdoor Play"]),
    ("Clothing", &["Men", "Women", "Kids", "Shoes"]),
];
pub const ADJECTIVES: &[&str] = &[
    "wireless",
    "portable",
    "compact",
    "premium",
    "ergonomic",
    "waterproof",
    "stainless",
    "cordless",
    "rechargeable",
    "smart",
    "classic",
    "modern",
    "heavy duty",
    "lightweight",
    "adjustable",
    "foldable",
    "insulated",
    "digital",
    "professional",
    "quiet",
    "fast",
    "large",
    "mini",
    "deluxe",
    "organic",
    "bamboo",
    "leather",
    "wooden",
    "ceramic",
    "cast iron",
    "noise cancelling",
    "ultra",
    "slim",
    "outdoor",
    "indoor",
    "vintage",
    "durable",
    "soft",
    "bright",
    "magnetic",
];
pub const NOUNS: &[&str] = &[
    "headphones",
    "speaker",
    "earbuds",
    "charger",
    "cable",
    "laptop",
    "keyboard",
    "mouse",
    "monitor",
    "camera",
    "lens",
    "tripod",
    "phone case",
    "watch",
    "tracker",
    "blender",
    "kettle",
    "toaster",
    "coffee maker",
    "knife set",
    "skillet",
    "pan",
    "pot",
    "mug",
    "water bottle",
    "tumbler",
    "chair",
    "desk",
    "table",
    "lamp",
    "shelf",
    "rug",
    "pillow",
    "blanket",
    "sheets",
    "tent",
    "sleeping bag",
    "backpack",
    "cooler",
    "lantern",
    "drill",
    "saw",
    "hammer",
    "wrench",
    "screwdriver",
    "sander",
    "hose",
    "mower",
    "building set",
    "board game",
    "puzzle",
    "doll",
    "ball",
    "scooter",
    "jacket",
    "sneakers",
    "boots",
    "hoodie",
    "socks",
    "gloves",
];
pub const COLORS: &[&str] = &["black", "white", "silver", "blue", "red", "green", "gray", "navy", "pink", "beige"];

pub fn pick<'a>(rng: &mut impl Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Product number `n` (id `P-{1000 + n}`, SKUs `P-{1000 + n}-{v}`), drawn
/// from `rng`, created `n` ms after product 0.
pub fn product(rng: &mut impl Rng, n: usize) -> Product {
    let created_at = Timestamp::from_millis(CREATED_FROM_MS + n as u64);
    Product::create(draft(rng, n), created_at).expect("generated products are valid")
}

/// The draft of product number `n` (see [`product`]).
pub fn draft(rng: &mut impl Rng, n: usize) -> ProductDraft {
    let id = FIRST_ID + n;
    let brand = pick(rng, BRANDS);
    let (root, children) = TREE[rng.random_range(0..TREE.len())];
    let child = pick(rng, children);
    let title = format!(
        "{brand} {} {} {} {}",
        pick(rng, ADJECTIVES),
        pick(rng, ADJECTIVES),
        pick(rng, NOUNS),
        pick(rng, COLORS)
    );
    let description = format!(
        "A {} {} for everyday use, {} and {}.",
        pick(rng, ADJECTIVES),
        pick(rng, NOUNS),
        pick(rng, ADJECTIVES),
        pick(rng, ADJECTIVES)
    );
    let variants = (0..rng.random_range(1..4usize))
        .map(|v| Variant {
            sku: Sku::parse(&format!("P-{id}-{v}")).expect("generated SKUs are valid"),
            options: BTreeMap::new(),
            price: Money::new(rng.random_range(500..200_000), Currency::USD),
            weight_grams: 500,
            tax_category: TaxCategory::Standard,
        })
        .collect();
    let mut attributes = BTreeMap::new();
    attributes.insert("color".to_owned(), pick(rng, COLORS).to_owned());
    ProductDraft {
        id: ProductId::parse(&format!("P-{id}")).expect("generated ids are valid"),
        title,
        description,
        brand: Some(brand.to_owned()),
        category: CategoryPath::parse(vec![root.to_owned(), child.to_owned()]).expect("generated categories are valid"),
        seller_id: SellerId::parse("mercato").expect("the seller id is valid"),
        attributes,
        images: Vec::new(),
        rating: rng.random_bool(0.8).then(|| f64::from(rng.random_range(10..=50u32)) / 10.0),
        review_count: rng.random_range(0..2_000),
        sponsored: rng.random_bool(0.02),
        variants,
    }
}

/// A shopper's query over the same vocabularies: a noun, an adjective and a
/// noun, a brand and a noun, or a color, an adjective and a noun.
pub fn query(rng: &mut impl Rng) -> String {
    match rng.random_range(0..4) {
        0 => pick(rng, NOUNS).to_owned(),
        1 => format!("{} {}", pick(rng, ADJECTIVES), pick(rng, NOUNS)),
        2 => format!("{} {}", pick(rng, BRANDS), pick(rng, NOUNS)),
        _ => format!("{} {} {}", pick(rng, COLORS), pick(rng, ADJECTIVES), pick(rng, NOUNS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn generated_products_are_valid_and_the_same_for_a_seed() {
        let mut first = StdRng::seed_from_u64(3);
        let mut second = StdRng::seed_from_u64(3);
        for n in 0..500 {
            let product = product(&mut first, n);
            assert_eq!(product.id.as_str(), format!("P-{}", FIRST_ID + n));
            assert_eq!(product, super::product(&mut second, n));
        }
        assert!(!query(&mut first).is_empty());
    }
}
