//! Product wire shapes (API.md, Catalog) and their conversion into engine
//! drafts and patches. Conversion names the offending field.

use super::error::Problem;
use crate::engine::{
    BucketKey, CategoryPath, Currency, Money, Product, ProductDraft, ProductId, ProductPatch, SellerId, Sku,
    TaxCategory, VariantPatch, WarehouseId,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The default seller of products created without one.
pub const HOUSE_SELLER: &str = SellerId::HOUSE;

#[derive(Debug, Deserialize, Serialize, Clone, Copy, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    pub cents: i64,
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockEntryBody {
    pub warehouse: String,
    pub quantity: u64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantBody {
    pub sku: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub price: MoneyBody,
    #[serde(default)]
    pub weight_grams: u32,
    pub tax_category: Option<String>,
    #[serde(default)]
    pub stock: Vec<StockEntryBody>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductBody {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub brand: Option<String>,
    pub category: Vec<String>,
    pub seller_id: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<String>,
    pub rating: Option<f64>,
    #[serde(default)]
    pub review_count: u64,
    #[serde(default)]
    pub sponsored: bool,
    pub variants: Vec<VariantBody>,
}

/// A product to create, with the stock its variants bring.
pub struct ParsedProduct {
    pub draft: ProductDraft,
    pub stock: Vec<(BucketKey, u64)>,
}

fn field(name: &str, detail: impl std::fmt::Display) -> Problem {
    Problem::invalid(format!("{name}: {detail}"))
}

impl ProductBody {
    /// Checks the ids and enums; the engine checks the rest on create.
    pub fn parse(self) -> Result<ParsedProduct, Problem> {
        let id = ProductId::parse(&self.id).map_err(|err| field("id", err))?;
        let category = CategoryPath::parse(self.category).map_err(|err| field("category", err))?;
        let seller_id = SellerId::parse(self.seller_id.as_deref().unwrap_or(HOUSE_SELLER))
            .map_err(|err| field("seller_id", err))?;
        let mut variants = Vec::with_capacity(self.variants.len());
        let mut stock = Vec::new();
        for (index, variant) in self.variants.into_iter().enumerate() {
            let name = format!("variants[{index}]");
            let sku = Sku::parse(&variant.sku).map_err(|err| field(&format!("{name}.sku"), err))?;
            let tax_category = match &variant.tax_category {
                Some(raw) => TaxCategory::parse(raw).map_err(|err| field(&format!("{name}.tax_category"), err))?,
                None => TaxCategory::Standard,
            };
            for entry in variant.stock {
                let warehouse = WarehouseId::parse(&entry.warehouse)
                    .map_err(|err| field(&format!("{name}.stock.warehouse"), err))?;
                stock.push((BucketKey::new(sku.clone(), warehouse), entry.quantity));
            }
            variants.push(crate::engine::Variant {
                sku,
                options: variant.options,
                price: Money::new(variant.price.cents, variant.price.currency),
                weight_grams: variant.weight_grams,
                tax_category,
            });
        }
        let draft = ProductDraft {
            id,
            title: self.title,
            description: self.description,
            brand: self.brand,
            category,
            seller_id,
            attributes: self.attributes,
            images: self.images,
            rating: self.rating,
            review_count: self.review_count,
            sponsored: self.sponsored,
            variants,
        };
        Ok(ParsedProduct { draft, stock })
    }
}

/// Distinguishes a missing field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatchBody {
    pub sku: String,
    pub price: Option<MoneyBody>,
    pub options: Option<BTreeMap<String, String>>,
    pub weight_grams: Option<u32>,
    pub tax_category: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub brand: Option<Option<String>>,
    pub category: Option<Vec<String>>,
    pub seller_id: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub images: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub rating: Option<Option<f64>>,
    pub review_count: Option<u64>,
    pub sponsored: Option<bool>,
    #[serde(default)]
    pub variants: Vec<VariantPatchBody>,
}

impl PatchBody {
    pub fn parse(self) -> Result<ProductPatch, Problem> {
        let category = self.category.map(CategoryPath::parse).transpose().map_err(|err| field("category", err))?;
        let seller_id =
            self.seller_id.as_deref().map(SellerId::parse).transpose().map_err(|err| field("seller_id", err))?;
        let mut variants = Vec::with_capacity(self.variants.len());
        for (index, variant) in self.variants.into_iter().enumerate() {
            let name = format!("variants[{index}]");
            let tax_category = variant
                .tax_category
                .as_deref()
                .map(TaxCategory::parse)
                .transpose()
                .map_err(|err| field(&format!("{name}.tax_category"), err))?;
            variants.push(VariantPatch {
                sku: Sku::parse(&variant.sku).map_err(|err| field(&format!("{name}.sku"), err))?,
                price: variant.price.map(|price| Money::new(price.cents, price.currency)),
                options: variant.options,
                weight_grams: variant.weight_grams,
                tax_category,
            });
        }
        Ok(ProductPatch {
            title: self.title,
            description: self.description,
            brand: self.brand,
            category,
            seller_id,
            attributes: self.attributes,
            images: self.images,
            rating: self.rating,
            review_count: self.review_count,
            sponsored: self.sponsored,
            variants,
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariantView {
    pub sku: String,
    pub options: BTreeMap<String, String>,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub weight_grams: u32,
    #[schema(value_type = String, example = "standard")]
    pub tax_category: TaxCategory,
    /// Units that can be bought now, over all warehouses.
    pub available: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub brand: Option<String>,
    pub category: Vec<String>,
    pub seller_id: String,
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<String>,
    pub rating: Option<f64>,
    pub review_count: u64,
    pub sponsored: bool,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub in_stock: bool,
    pub variants: Vec<VariantView>,
    pub created_at: String,
    pub updated_at: String,
}

impl ProductView {
    /// `available(sku)` gives the live available units of a SKU.
    pub fn new(product: &Product, available: impl Fn(&Sku) -> u64) -> Self {
        let variants: Vec<VariantView> = product
            .variants
            .iter()
            .map(|variant| VariantView {
                sku: variant.sku.to_string(),
                options: variant.options.clone(),
                price: variant.price,
                weight_grams: variant.weight_grams,
                tax_category: variant.tax_category,
                available: available(&variant.sku),
            })
            .collect();
        ProductView {
            id: product.id.to_string(),
            title: product.title.clone(),
            description: product.description.clone(),
            brand: product.brand.clone(),
            category: product.category.levels().to_vec(),
            seller_id: product.seller_id.to_string(),
            attributes: product.attributes.clone(),
            images: product.images.clone(),
            rating: product.rating,
            review_count: product.review_count,
            sponsored: product.sponsored,
            price: product.lowest_price(),
            in_stock: variants.iter().any(|variant| variant.available > 0),
            variants,
            created_at: super::dto::rfc3339(product.created_at),
            updated_at: super::dto::rfc3339(product.updated_at),
        }
    }
}
