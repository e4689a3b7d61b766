//! The catalog: products and their variants, categories. Writes go to the
//! catalog actor, reads come from its read model without a message. Owns the
//! key `p`.

pub mod actor;

use crate::actors::{ActorSetup, Registry};
use crate::engine::{CatalogError, CategoryNode, Product, ProductDraft, ProductId, ProductPatch, Sku};
use crate::store::Keyspace;
use crate::{Error, Mercato};
use actor::{CatalogActor, CatalogCommand, CatalogMessage, CatalogView};
use std::sync::Arc;

/// What the catalog domain keeps.
pub(crate) struct State {
    catalog: Registry<CatalogActor>,
    view: Arc<CatalogView>,
}

impl State {
    pub(crate) fn open(store: Keyspace, actors: &ActorSetup) -> Result<State, Error> {
        let catalog = actor::load(&store).map_err(|err| Error::Corrupt(err.to_string()))?;
        let view = Arc::new(CatalogView::from_catalog(&catalog));
        Ok(State { catalog: actors.registry("catalog", store, view.clone()), view })
    }
}

/// The catalog, reached as `mercato.catalog()`.
#[derive(Clone, Copy)]
pub struct Catalog<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Catalog { m, s }
    }

    /// Creates or replaces each product (bulk import): one result per draft,
    /// a bad draft does not stop the others.
    pub async fn upsert_products(self, drafts: Vec<ProductDraft>) -> Result<Vec<Result<Product, CatalogError>>, Error> {
        self.catalog_command(CatalogCommand::Upsert(drafts)).await
    }

    /// Creates one product; an existing id is [`CatalogError::ProductExists`].
    pub async fn create_product(self, draft: ProductDraft) -> Result<Product, Error> {
        self.single(CatalogCommand::Create(draft)).await
    }

    /// Applies a partial update (all or nothing).
    pub async fn patch_product(self, id: ProductId, patch: ProductPatch) -> Result<Product, Error> {
        self.single(CatalogCommand::Patch(id, patch)).await
    }

    pub fn product(self, id: &ProductId) -> Option<Arc<Product>> {
        self.s.view.product(id)
    }

    /// The product that sells `sku`.
    pub fn product_of(self, sku: &Sku) -> Option<Arc<Product>> {
        self.s.view.product_of(sku)
    }

    /// The product that sells `sku`, which must exist: what is put in a
    /// cart or a deal is for sale ([`CatalogError::SkuNotFound`] otherwise).
    pub fn require_sku(self, sku: &Sku) -> Result<Arc<Product>, Error> {
        self.product_of(sku).ok_or_else(|| CatalogError::SkuNotFound { sku: sku.clone() }.into())
    }

    pub fn count(self) -> usize {
        self.s.view.len()
    }

    /// Every product (for snapshots and reindexing).
    pub fn products(self) -> Vec<Arc<Product>> {
        self.s.view.products()
    }

    /// The category tree with product counts (subcategories included).
    pub fn category_tree(self) -> Arc<Vec<CategoryNode>> {
        self.s.view.category_tree()
    }

    async fn single(self, command: CatalogCommand) -> Result<Product, Error> {
        let mut results = self.catalog_command(command).await?;
        match results.pop() {
            Some(result) => result.map_err(Error::Catalog),
            None => Err(Error::InvalidInput("the catalog returned no result".to_owned())),
        }
    }

    async fn catalog_command(self, command: CatalogCommand) -> Result<Vec<Result<Product, CatalogError>>, Error> {
        let _pass = self.m.enter()?;
        let reply = self.s.catalog.call(&actor::CatalogKey, CatalogMessage(command)).await?;
        self.m.settle(reply).await
    }
}
