//! Carts: guest and customer carts, saved-for-later lists, merges. Each cart
//! is an actor; owns the keys `k`, `c`, `m`, and `L` and `G` (the day each
//! guest cart was last used, by cart and by day), with which the sweep
//! deletes guest carts left idle for `Config::guest_cart_idle_days`.
//! A customer's cart is never deleted.

pub mod actor;

pub use actor::CartSnapshot;

use crate::actors::{ActorSetup, Crash, Registry};
use crate::engine::cart::{price_cart, LineFacts, PricedCart};
use crate::engine::{CartId, Sku};
use crate::store::{keys, Keyspace};
use crate::{Error, Mercato};
use actor::{CartActor, CartCommand, CartMessage, ExpireIfIdle};
use dashmap::DashSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// The prefix of every customer's cart id; every other cart is a guest's.
pub const CUSTOMER_CART_PREFIX: &str = "ccart_";

/// Whether `id` is a guest's cart (one the idle sweep may delete).
pub fn is_guest(id: &CartId) -> bool {
    !id.as_str().starts_with(CUSTOMER_CART_PREFIX)
}

/// What the carts domain keeps: the cart actors, and which carts exist.
pub(crate) struct State {
    carts: Registry<CartActor>,
    store: Keyspace,
    /// Whether this process stamped the guest carts of older versions.
    stamped_old_carts: AtomicBool,
    /// Every cart that was ever created: a command to any other id is
    /// [`Error::CartNotFound`] at once, so requests for random cart ids
    /// (a guest probing, a bot) activate no actor and read no store.
    known: DashSet<CartId, foldhash::fast::RandomState>,
}

impl State {
    pub(crate) fn open(store: Keyspace, actors: &ActorSetup) -> Result<State, Error> {
        let known = DashSet::with_hasher(foldhash::fast::RandomState::default());
        store.for_each_key(&[keys::CART_META], |key| {
            if let Some(id) = keys::parse_cart_meta(key) {
                known.insert(id);
            }
        })?;
        Ok(State {
            carts: actors.registry("cart", store.clone(), ()),
            store,
            known,
            stamped_old_carts: AtomicBool::new(false),
        })
    }

    /// Stamps as used on `today` every guest cart made before carts
    /// recorded the day they were used (none of `L`), so they are deleted
    /// after the idle time like any other. Done by the first sweep of a
    /// process rather than at open, so that opening a data directory (a
    /// snapshot import's check) leaves its records as they were.
    fn stamp_old_carts(&self, today: u32) -> Result<(), Error> {
        if self.stamped_old_carts.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut stamped = std::collections::HashSet::new();
        self.store.for_each_key(&[keys::CART_USED], |key| {
            stamped.insert(key.to_vec());
        })?;
        let mut batch = crate::store::Batch::new();
        for id in self.known.iter().filter(|id| is_guest(id)) {
            let used = keys::cart_used(&id);
            if !stamped.contains(&used) {
                batch.put(keys::cart_idle(today, &id), &())?;
                batch.put(used, &today)?;
            }
        }
        if !batch.is_empty() && self.store.keeps_records() {
            self.store.write(batch)?;
        }
        Ok(())
    }

    pub(crate) fn actor_stats(&self) -> crate::actors::ActorStatsSnapshot {
        self.carts.stats()
    }
}

/// Carts, reached as `mercato.carts()`.
#[derive(Clone, Copy)]
pub struct Carts<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Carts<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Carts { m, s }
    }

    /// Creates a guest cart with a new unguessable id.
    pub async fn create(self) -> Result<CartSnapshot, Error> {
        self.command(&CartId::generate(self.m.source().u128()), CartCommand::Create).await
    }

    /// Opens the cart `id`, creating it if it does not exist (a customer's cart).
    pub async fn open(self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::Create).await
    }

    /// Reads a cart; [`Error::CartNotFound`] if it was never created.
    pub async fn get(self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::Read).await
    }

    /// Adds units to the line of `sku` (creating it).
    pub async fn add(self, id: &CartId, sku: Sku, quantity: u32) -> Result<CartSnapshot, Error> {
        self.m.catalog().require_sku(&sku)?;
        self.command(id, CartCommand::Add { sku, quantity }).await
    }

    /// Sets the quantity of a line; 0 removes it (a line whose SKU left the
    /// catalog can still be removed, not set).
    pub async fn set_quantity(self, id: &CartId, sku: Sku, quantity: u32) -> Result<CartSnapshot, Error> {
        if quantity > 0 {
            self.m.catalog().require_sku(&sku)?;
        }
        self.command(id, CartCommand::SetQuantity { sku, quantity }).await
    }

    pub async fn remove(self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::Remove { sku }).await
    }

    pub async fn save_for_later(self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::SaveForLater { sku }).await
    }

    pub async fn move_to_cart(self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::MoveToCart { sku }).await
    }

    pub async fn clear(self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.command(id, CartCommand::Clear).await
    }

    /// Merges a guest cart into `into` (same SKUs add, capped at the line
    /// limit) and leaves the guest cart without what was merged.
    ///
    /// Two actors, no lock: the merge into `into` is idempotent by the guest
    /// cart's content fingerprint, and the guest then subtracts exactly the
    /// merged quantities. A crash between the two steps leaves the lines in
    /// both carts (never in neither); repeating the merge is a no-op on
    /// `into` and completes the subtraction.
    pub async fn merge(self, guest: &CartId, into: &CartId) -> Result<CartSnapshot, Error> {
        if guest == into {
            return Err(Error::InvalidInput("a cart cannot be merged into itself".to_owned()));
        }
        let source = self.get(guest).await?;
        if source.lines.is_empty() && source.saved.is_empty() {
            return self.get(into).await;
        }
        let merge = CartCommand::Merge {
            source: guest.clone(),
            fingerprint: source.fingerprint,
            lines: source.lines.clone(),
            saved: source.saved.clone(),
        };
        let merged = self.command(into, merge).await?;
        self.command(guest, CartCommand::RemoveMerged { lines: source.lines, saved: source.saved }).await?;
        Ok(merged)
    }

    /// Fault injection: stops a cart's actor as if it crashed.
    /// The cart at the current catalog prices, with each line's live
    /// availability (from the stock board).
    pub async fn priced(self, id: &CartId) -> Result<PricedCart, Error> {
        let cart = self.get(id).await?;
        Ok(self.price(&cart))
    }

    /// Prices a cart already read (the answer of a cart command).
    pub fn price(self, cart: &CartSnapshot) -> PricedCart {
        price_cart(cart.id.clone(), &cart.lines, &cart.saved, cart.item_count, |line| {
            let product = self.m.catalog().product_of(&line.sku);
            LineFacts {
                product_id: product.as_ref().map(|product| product.id.clone()),
                title: product.as_ref().map(|product| product.title.clone()),
                unit_price: product
                    .as_ref()
                    .and_then(|product| product.variant(&line.sku))
                    .map(|variant| variant.price),
                available_units: self.m.inventory().available(&line.sku),
            }
        })
    }

    pub async fn crash_actor(self, id: &CartId) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        self.s.carts.call(id, Crash).await?;
        Ok(())
    }

    pub(crate) async fn command(self, id: &CartId, command: CartCommand) -> Result<CartSnapshot, Error> {
        let _pass = self.m.enter()?;
        let creates = matches!(command, CartCommand::Create);
        if !creates && !self.s.known.contains(id) {
            return Err(Error::CartNotFound(id.clone()));
        }
        let reply = self.s.carts.call(id, CartMessage(command)).await?;
        let cart = self.m.settle(reply).await?;
        if creates {
            self.s.known.insert(id.clone());
        }
        Ok(cart)
    }

    /// Deletes the guest carts last used before `before_day` (each by its
    /// actor, so no command is lost in between); returns how many.
    pub async fn sweep_idle(self, before_day: u32) -> Result<usize, Error> {
        self.s.stamp_old_carts(keys::day(self.m.now()))?;
        let mut due = Vec::new();
        self.s.store.keys_while(&[keys::CART_IDLE], |key| match keys::parse_cart_idle(key) {
            Some((day, id)) if day < before_day => {
                due.push(id);
                true
            }
            Some(_) => false,
            None => true,
        })?;
        let mut deleted = 0;
        for id in due {
            let _pass = self.m.enter()?;
            let reply = self.s.carts.call(&id, ExpireIfIdle { before_day }).await?;
            if self.m.settle(reply).await? {
                self.s.known.remove(&id);
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Whether cart `id` exists (no actor is asked).
    pub fn exists(self, id: &CartId) -> bool {
        self.s.known.contains(id)
    }

    /// The actors live now (a test sees that unknown ids start none).
    pub fn live_actors(self) -> u64 {
        self.s.carts.stats().live
    }
}
