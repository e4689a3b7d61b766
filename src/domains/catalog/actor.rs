//! The catalog actor and its read model.
//!
//! One actor owns the [`Catalog`] (a SKU belongs to one product across the
//! whole catalog, so writes are serialized in one place); it writes one
//! record per changed product and one event per change to the log, then
//! mirrors the change into the [`CatalogView`], which every reader uses
//! without a message.

use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Failure, Reply};

/// The catalog actor's environment: the read model it keeps current.
pub type Env = crate::actors::Env<Arc<CatalogView>>;
use crate::engine::{
    Catalog, CatalogError, CatalogEvent, CategoryNode, DomainEvent, Product, ProductDraft, ProductId, ProductPatch, Sku,
};
use crate::store::{keys, Batch, Keyspace, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;

/// The one key of the catalog actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CatalogKey;

impl fmt::Display for CatalogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("catalog")
    }
}

/// Lock-free reads of the catalog: products by id and by SKU, and the
/// category tree (recomputed once per write batch).
#[derive(Debug, Default)]
pub struct CatalogView {
    products: DashMap<ProductId, Arc<Product>, foldhash::fast::RandomState>,
    by_sku: DashMap<Sku, ProductId, foldhash::fast::RandomState>,
    tree: RwLock<Arc<Vec<CategoryNode>>>,
}

impl CatalogView {
    pub fn from_catalog(catalog: &Catalog) -> Self {
        let view = CatalogView::default();
        for product in catalog.products() {
            view.put(product.clone());
        }
        *view.tree.write() = Arc::new(catalog.category_tree());
        view
    }

    pub fn product(&self, id: &ProductId) -> Option<Arc<Product>> {
        self.products.get(id).map(|entry| entry.value().clone())
    }

    /// The product that has `sku` as a variant.
    pub fn product_of(&self, sku: &Sku) -> Option<Arc<Product>> {
        let id = self.by_sku.get(sku).map(|entry| entry.value().clone())?;
        self.product(&id)
    }

    pub fn len(&self) -> usize {
        self.products.len()
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    pub fn category_tree(&self) -> Arc<Vec<CategoryNode>> {
        self.tree.read().clone()
    }

    /// Every product, in no particular order (for snapshots and reindexing).
    pub fn products(&self) -> Vec<Arc<Product>> {
        self.products.iter().map(|entry| entry.value().clone()).collect()
    }

    fn put(&self, product: Product) {
        let previous = self.products.insert(product.id.clone(), Arc::new(product.clone()));
        if let Some(previous) = previous {
            for variant in &previous.variants {
                if product.variant(&variant.sku).is_none() {
                    self.by_sku.remove_if(&variant.sku, |_, owner| *owner == product.id);
                }
            }
        }
        for variant in &product.variants {
            self.by_sku.insert(variant.sku.clone(), product.id.clone());
        }
    }
}

/// Reads every product record and rebuilds the catalog, checking it.
pub fn load(store: &Keyspace) -> Result<Catalog, StoreError> {
    let products = store.scan_prefix::<Product>(&[keys::PRODUCT])?.into_iter().map(|(_, product)| product);
    let catalog = Catalog::restore(products)
        .map_err(|err| StoreError::Decode { key: "catalog".to_owned(), reason: err.to_string() })?;
    catalog
        .check_invariants()
        .map_err(|violation| StoreError::Decode { key: "catalog".to_owned(), reason: violation.to_string() })?;
    Ok(catalog)
}

/// A change to the catalog.
#[derive(Debug, Clone)]
pub enum CatalogCommand {
    /// Creates or replaces each product (bulk import); one result per draft.
    Upsert(Vec<ProductDraft>),
    /// Creates one product; an existing id is refused.
    Create(ProductDraft),
    Patch(ProductId, ProductPatch),
}

pub type CatalogReply = Reply<Vec<Result<Product, CatalogError>>, CatalogError>;

#[derive(Debug, Clone, Message)]
#[rtype(result = "CatalogReply")]
pub struct CatalogMessage(pub CatalogCommand);

pub struct CatalogActor {
    env: Env,
    state: Result<Catalog, StoreError>,
    last_ticket: Ticket,
}

impl Actor for CatalogActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.env.config.mailbox_capacity);
    }
}

impl Activate for CatalogActor {
    type Key = CatalogKey;
    type Env = Env;

    fn activate(_activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        // In memory mode the store keeps no records: the read model is the state.
        let state = if env.store.keeps_records() {
            load(&env.store)
        } else {
            Catalog::restore(env.shared.products().iter().map(|product| Product::clone(product)))
                .map_err(|err| StoreError::Decode { key: "catalog".to_owned(), reason: err.to_string() })
        };
        if let Err(err) = &state {
            tracing::error!(error = %err, "cannot load the catalog");
        }
        CatalogActor { env, state, last_ticket: Ticket::NONE }
    }
}

impl CatalogActor {
    fn execute(&mut self, command: CatalogCommand, ctx: &mut Context<Self>) -> CatalogReply {
        let ticket = self.last_ticket;
        let catalog = match &mut self.state {
            Ok(catalog) => catalog,
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err.clone())), ticket };
            }
        };
        let now = self.env.source.now();
        let mut results = Vec::new();
        let mut changed: Vec<(Product, Vec<CatalogEvent>)> = Vec::new();
        let outcomes: Vec<Result<(Product, Vec<CatalogEvent>), CatalogError>> = match command {
            CatalogCommand::Upsert(drafts) => drafts.into_iter().map(|draft| catalog.upsert(draft, now)).collect(),
            CatalogCommand::Create(draft) => vec![catalog.create(draft, now)],
            CatalogCommand::Patch(id, patch) => vec![catalog.patch(&id, patch, now)],
        };
        for outcome in outcomes {
            match outcome {
                Ok((product, events)) => {
                    results.push(Ok(product.clone()));
                    if !events.is_empty() {
                        changed.push((product, events));
                    }
                }
                Err(err) => results.push(Err(err)),
            }
        }
        if changed.is_empty() {
            return Reply { result: Ok(results), ticket };
        }
        match persist(&self.env.store, &changed, now) {
            Ok(ticket) => self.last_ticket = ticket,
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        }
        for (product, _) in changed {
            self.env.shared.put(product);
        }
        *self.env.shared.tree.write() = Arc::new(catalog.category_tree());
        Reply { result: Ok(results), ticket: self.last_ticket }
    }
}

fn persist(
    store: &Keyspace,
    changed: &[(Product, Vec<CatalogEvent>)],
    now: crate::engine::Timestamp,
) -> Result<Ticket, StoreError> {
    let mut batch = Batch::new();
    for (product, events) in changed {
        if store.keeps_records() {
            batch.put(keys::product(&product.id), product)?;
        }
        for event in events {
            batch.event(&DomainEvent::Catalog { event: event.clone(), at: now })?;
        }
    }
    store.write(batch)
}

impl Handler<CatalogMessage> for CatalogActor {
    type Result = MessageResult<CatalogMessage>;
    fn handle(&mut self, msg: CatalogMessage, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.execute(msg.0, ctx))
    }
}

impl Handler<Crash> for CatalogActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
