//! The rules a product must satisfy, checked in one place.
//!
//! `Product::create`, `Catalog::patch` and `Catalog::restore` all end in
//! [`product`], and `check_invariants` re-runs it on every stored product, so a
//! rule added here holds for every way a product can enter the catalog.
//!
//! Rules run in field order (title, description, brand, category, attributes,
//! images, rating, variants) and the first failure is returned, naming the
//! field as a client would address it: `variants[2].price`, `images[0]`.
//! Lengths are counted in characters (Unicode scalar values), not bytes, so a
//! limit means the same for "Café" as for "Cafe".

use super::{CatalogError, Product, Variant};
use crate::engine::money::Currency;
use std::collections::{BTreeMap, BTreeSet};

/// Longest product title.
pub const TITLE_CHARS_MAX: usize = 300;
/// Longest product description (an empty description is allowed).
pub const DESCRIPTION_CHARS_MAX: usize = 10_000;
/// Longest brand name.
pub const BRAND_CHARS_MAX: usize = 100;
/// Most attributes on one product.
pub const ATTRIBUTES_MAX: usize = 100;
/// Longest attribute name.
pub const ATTRIBUTE_KEY_CHARS_MAX: usize = 100;
/// Longest attribute value (an empty value is allowed).
pub const ATTRIBUTE_VALUE_CHARS_MAX: usize = 1_000;
/// Most images on one product.
pub const IMAGES_MAX: usize = 20;
/// Longest image URL.
pub const IMAGE_URL_CHARS_MAX: usize = 2_048;
/// Highest rating (the lowest is 0.0).
pub const RATING_MAX: f64 = 5.0;
/// Most variants (SKUs) on one product.
pub const VARIANTS_MAX: usize = 100;
/// Highest variant price, in minor units: one billion in major units.
pub const PRICE_CENTS_MAX: i64 = 100_000_000_000;
/// Most options (such as color and size) on one variant.
pub const OPTIONS_MAX: usize = 20;
/// Longest option name.
pub const OPTION_KEY_CHARS_MAX: usize = 100;
/// Longest option value.
pub const OPTION_VALUE_CHARS_MAX: usize = 100;
/// Heaviest variant: one tonne.
pub const WEIGHT_GRAMS_MAX: u32 = 1_000_000;
/// Deepest category path.
pub const CATEGORY_LEVELS_MAX: usize = 5;
/// Longest category level name.
pub const CATEGORY_LEVEL_CHARS_MAX: usize = 80;

const IMAGE_SCHEMES: [&str; 2] = ["https://", "http://"];

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CatalogError {
    CatalogError::Invalid { field: field.into(), reason: reason.into() }
}

/// Checks every rule of the module docs on a whole product.
pub(super) fn product(product: &Product) -> Result<(), CatalogError> {
    text("title", &product.title, TITLE_CHARS_MAX)?;
    length("description", &product.description, DESCRIPTION_CHARS_MAX)?;
    if let Some(brand) = &product.brand {
        text("brand", brand, BRAND_CHARS_MAX)?;
    }
    category_levels(product.category.levels())?;
    attributes(&product.attributes)?;
    images(&product.images)?;
    if let Some(rating) = product.rating {
        if !rating.is_finite() || !(0.0..=RATING_MAX).contains(&rating) {
            return Err(invalid("rating", format!("must be a number within 0.0..={RATING_MAX:.1}, found {rating}")));
        }
    }
    variants(&product.variants)
}

/// Checks the levels of a category path (already trimmed by the caller).
pub(super) fn category_levels(levels: &[String]) -> Result<(), CatalogError> {
    if levels.is_empty() || levels.len() > CATEGORY_LEVELS_MAX {
        return Err(invalid("category", format!("must have 1..={CATEGORY_LEVELS_MAX} levels, found {}", levels.len())));
    }
    for (index, level) in levels.iter().enumerate() {
        let field = format!("category[{index}]");
        text(&field, level, CATEGORY_LEVEL_CHARS_MAX)?;
        if level.trim() != level {
            return Err(invalid(field, "must not start or end with whitespace"));
        }
        if level.contains('/') {
            return Err(invalid(field, "must not contain '/', which separates levels in category filters"));
        }
    }
    Ok(())
}

/// A required text: not blank, at most `max` characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), CatalogError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be blank"));
    }
    length(field, value, max)
}

/// At most `max` characters; the count is reported, the text never echoed.
fn length(field: &str, value: &str, max: usize) -> Result<(), CatalogError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(field, format!("must be at most {max} characters, found {chars}")));
    }
    Ok(())
}

fn attributes(attributes: &BTreeMap<String, String>) -> Result<(), CatalogError> {
    if attributes.len() > ATTRIBUTES_MAX {
        return Err(invalid(
            "attributes",
            format!("must have at most {ATTRIBUTES_MAX} entries, found {}", attributes.len()),
        ));
    }
    for (key, value) in attributes {
        text_key("attributes", key, ATTRIBUTE_KEY_CHARS_MAX)?;
        length(&format!("attributes.{key}"), value, ATTRIBUTE_VALUE_CHARS_MAX)?;
    }
    Ok(())
}

/// A map key: the error names the map, since the key itself is what is wrong.
fn text_key(map: &str, key: &str, max: usize) -> Result<(), CatalogError> {
    if key.trim().is_empty() {
        return Err(invalid(map, "names must not be blank"));
    }
    let chars = key.chars().count();
    if chars > max {
        return Err(invalid(map, format!("names must be at most {max} characters, found {chars}")));
    }
    Ok(())
}

fn images(images: &[String]) -> Result<(), CatalogError> {
    if images.len() > IMAGES_MAX {
        return Err(invalid("images", format!("must have at most {IMAGES_MAX} entries, found {}", images.len())));
    }
    for (index, url) in images.iter().enumerate() {
        let field = format!("images[{index}]");
        length(&field, url, IMAGE_URL_CHARS_MAX)?;
        let rest = IMAGE_SCHEMES.iter().find_map(|scheme| url.strip_prefix(scheme));
        match rest {
            Some(host_and_path) if !host_and_path.is_empty() => {}
            Some(_) => return Err(invalid(field, "must name a host after the scheme")),
            None => return Err(invalid(field, "must be an absolute https:// or http:// URL")),
        }
    }
    Ok(())
}

fn variants(variants: &[Variant]) -> Result<(), CatalogError> {
    if variants.is_empty() || variants.len() > VARIANTS_MAX {
        return Err(invalid("variants", format!("must have 1..={VARIANTS_MAX} entries, found {}", variants.len())));
    }
    let currency = variants[0].price.currency;
    let mut skus = BTreeSet::new();
    for (index, variant) in variants.iter().enumerate() {
        if !skus.insert(&variant.sku) {
            return Err(CatalogError::DuplicateSku { sku: variant.sku.clone() });
        }
        one_variant(index, variant, currency)?;
    }
    Ok(())
}

/// One variant; `currency` is the first variant's, which all must share so
/// that prices within a product compare (lowest price, price filters).
fn one_variant(index: usize, variant: &Variant, currency: Currency) -> Result<(), CatalogError> {
    let prefix = format!("variants[{index}]");
    let options = &variant.options;
    if options.len() > OPTIONS_MAX {
        return Err(invalid(
            format!("{prefix}.options"),
            format!("must have at most {OPTIONS_MAX} entries, found {}", options.len()),
        ));
    }
    for (key, value) in options {
        text_key(&format!("{prefix}.options"), key, OPTION_KEY_CHARS_MAX)?;
        text(&format!("{prefix}.options.{key}"), value, OPTION_VALUE_CHARS_MAX)?;
    }
    let price = variant.price;
    if !(0..=PRICE_CENTS_MAX).contains(&price.cents) {
        return Err(invalid(
            format!("{prefix}.price"),
            format!("must be 0..={PRICE_CENTS_MAX} cents, found {}", price.cents),
        ));
    }
    if price.currency != currency {
        return Err(invalid(
            format!("{prefix}.price"),
            format!("currency {} differs from {currency} of variants[0]; a product has one currency", price.currency),
        ));
    }
    if variant.weight_grams > WEIGHT_GRAMS_MAX {
        return Err(invalid(
            format!("{prefix}.weight_grams"),
            format!("must be at most {WEIGHT_GRAMS_MAX}, found {}", variant.weight_grams),
        ));
    }
    Ok(())
}
