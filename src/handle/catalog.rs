//! The catalog through the handle: writes go to the catalog actor, reads come
//! from its read model without a message.

use super::{Error, Mercato};
use crate::actors::catalog::{CatalogCommand, CatalogMessage};
use crate::engine::{CatalogError, CategoryNode, Product, ProductDraft, ProductId, ProductPatch, Sku};
use std::sync::Arc;

impl Mercato {
    /// Creates or replaces each product (bulk import): one result per draft,
    /// a bad draft does not stop the others.
    pub async fn upsert_products(
        &self,
        drafts: Vec<ProductDraft>,
    ) -> Result<Vec<Result<Product, CatalogError>>, Error> {
        self.catalog_command(CatalogCommand::Upsert(drafts)).await
    }

    /// Creates one product; an existing id is [`CatalogError::ProductExists`].
    pub async fn create_product(&self, draft: ProductDraft) -> Result<Product, Error> {
        self.single(CatalogCommand::Create(draft)).await
    }

    /// Applies a partial update (all or nothing).
    pub async fn patch_product(&self, id: ProductId, patch: ProductPatch) -> Result<Product, Error> {
        self.single(CatalogCommand::Patch(id, patch)).await
    }

    pub fn product(&self, id: &ProductId) -> Option<Arc<Product>> {
        self.inner.env.catalog.product(id)
    }

    /// The product that sells `sku`.
    pub fn product_of(&self, sku: &Sku) -> Option<Arc<Product>> {
        self.inner.env.catalog.product_of(sku)
    }

    pub fn product_count(&self) -> usize {
        self.inner.env.catalog.len()
    }

    /// Every product (for snapshots and reindexing).
    pub fn products(&self) -> Vec<Arc<Product>> {
        self.inner.env.catalog.products()
    }

    /// The category tree with product counts (subcategories included).
    pub fn category_tree(&self) -> Arc<Vec<CategoryNode>> {
        self.inner.env.catalog.category_tree()
    }

    async fn single(&self, command: CatalogCommand) -> Result<Product, Error> {
        let mut results = self.catalog_command(command).await?;
        match results.pop() {
            Some(result) => result.map_err(Error::Catalog),
            None => Err(Error::InvalidInput("the catalog returned no result".to_owned())),
        }
    }

    async fn catalog_command(&self, command: CatalogCommand) -> Result<Vec<Result<Product, CatalogError>>, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.catalog.call(&crate::actors::catalog::CatalogKey, CatalogMessage(command)).await?;
        self.settle(reply).await
    }
}
