//! The cart actor: one per cart. Every change writes exactly the lines it
//! touched; a cart exists once its meta record is written (`Create`).

use crate::actors::registry::{Activate, Activation};
use crate::actors::{Crash, Env, Failure, Reply};
use crate::engine::{Cart, CartError, CartEvent, CartId, CartLine, Sku, Timestamp};
use crate::store::{keys, Batch, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Why a cart operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartRejection {
    #[error("cart {id} not found")]
    NotFound { id: CartId },
    #[error(transparent)]
    Rule(#[from] CartError),
}

pub type CartReply<T> = Reply<T, CartRejection>;

/// The persisted marker that a cart exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartMeta {
    pub created_at: Timestamp,
}

/// A serializable copy of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartSnapshot {
    pub id: CartId,
    pub lines: Vec<CartLine>,
    pub saved: Vec<CartLine>,
    pub item_count: u64,
    pub fingerprint: u64,
    pub created_at: Timestamp,
}

/// An operation on a cart.
#[derive(Debug, Clone)]
pub enum CartCommand {
    /// Creates the cart if it does not exist (idempotent).
    Create,
    Read,
    Add {
        sku: Sku,
        quantity: u32,
    },
    SetQuantity {
        sku: Sku,
        quantity: u32,
    },
    Remove {
        sku: Sku,
    },
    /// Removes the lines of these SKUs that the cart has (an order took
    /// them); the others are skipped.
    RemoveOrdered {
        skus: Vec<Sku>,
    },
    SaveForLater {
        sku: Sku,
    },
    MoveToCart {
        sku: Sku,
    },
    Clear,
    /// Merges another cart's content (idempotent by source and fingerprint).
    Merge {
        source: CartId,
        fingerprint: u64,
        lines: Vec<CartLine>,
        saved: Vec<CartLine>,
    },
    /// Subtracts what a merge took from this (guest) cart.
    RemoveMerged {
        lines: Vec<CartLine>,
        saved: Vec<CartLine>,
    },
}

/// A [`CartCommand`] for the actor.
#[derive(Debug, Clone, Message)]
#[rtype(result = "CartReply<CartSnapshot>")]
pub struct CartMessage(pub CartCommand);

pub struct CartActor {
    activation: Activation<CartActor>,
    env: Env,
    /// `None` while the cart does not exist; `Err` if it could not be loaded.
    state: Result<Option<(Cart, CartMeta)>, StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
    /// The day a guest cart was last used, as stored (`None` for a
    /// customer's cart, or a guest cart not yet stamped).
    used_day: Option<u32>,
}

/// Deletes a guest cart last used before `before_day` (the sweep); answers
/// whether it was deleted.
#[derive(Debug, Clone, Message)]
#[rtype(result = "CartReply<bool>")]
pub struct ExpireIfIdle {
    pub before_day: u32,
}

impl Actor for CartActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        crate::actors::passivate_when_idle(ctx, &self.env.config, |actor| (&actor.activation, actor.last_active));
    }
}

impl Activate for CartActor {
    type Key = CartId;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = load(&env, activation.key());
        if let Err(err) = &state {
            tracing::error!(cart = %activation.key(), error = %err, "cannot load cart");
        }
        let used_day = match env.store.get::<u32>(&keys::cart_used(activation.key())) {
            Ok(day) => day,
            Err(err) => {
                tracing::error!(cart = %activation.key(), error = %err, "cannot read when the cart was used");
                None
            }
        };
        CartActor { activation, env, state, last_ticket: Ticket::NONE, last_active: Instant::now(), used_day }
    }
}

/// Reads a cart's meta and lines from the store; `None` if it does not exist.
pub fn load(env: &Env, id: &CartId) -> Result<Option<(Cart, CartMeta)>, StoreError> {
    let Some(meta) = env.store.get::<CartMeta>(&keys::cart_meta(id))? else { return Ok(None) };
    let lines = env
        .store
        .scan_prefix::<CartLine>(&keys::cart_lines_of(id))?
        .into_iter()
        .filter_map(|(raw, line)| keys::parse_cart_line(&raw).map(|(_, list, _)| (list, line)));
    let merged = env
        .store
        .scan_prefix::<u64>(&keys::cart_merges_of(id))?
        .into_iter()
        .filter_map(|(raw, fingerprint)| keys::parse_cart_merge(&raw).map(|(_, source)| (source, fingerprint)));
    let cart = Cart::restore(id.clone(), env.config.cart_limits, lines, merged);
    Ok(Some((cart, meta)))
}

fn snapshot(cart: &Cart, meta: &CartMeta) -> CartSnapshot {
    CartSnapshot {
        id: cart.id().clone(),
        lines: cart.lines().to_vec(),
        saved: cart.saved().to_vec(),
        item_count: cart.item_count(),
        fingerprint: cart.fingerprint(),
        created_at: meta.created_at,
    }
}

fn execute(cart: &mut Cart, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
    match command {
        CartCommand::Create | CartCommand::Read => Ok(Vec::new()),
        CartCommand::Add { sku, quantity } => cart.add(sku, quantity),
        CartCommand::SetQuantity { sku, quantity } => cart.set_quantity(sku, quantity),
        CartCommand::Remove { sku } => cart.remove(&sku),
        CartCommand::RemoveOrdered { skus } => Ok(cart.remove_ordered(&skus)),
        CartCommand::SaveForLater { sku } => cart.save_for_later(&sku),
        CartCommand::MoveToCart { sku } => cart.move_to_cart(&sku),
        CartCommand::Clear => Ok(cart.clear()),
        CartCommand::Merge { source, fingerprint, lines, saved } => cart.merge(&source, fingerprint, &lines, &saved),
        CartCommand::RemoveMerged { lines, saved } => Ok(cart.remove_merged(&lines, &saved)),
    }
}

impl CartActor {
    fn handle_command(&mut self, command: CartCommand, ctx: &mut Context<Self>) -> CartReply<CartSnapshot> {
        self.last_active = Instant::now();
        let id = self.activation.key().clone();
        let state = match &mut self.state {
            Ok(state) => state,
            Err(err) => {
                let err = err.clone();
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket };
            }
        };
        if state.is_none() {
            if !matches!(command, CartCommand::Create) {
                let rejection = CartRejection::NotFound { id };
                return Reply { result: Err(Failure::Rejected(rejection)), ticket: self.last_ticket };
            }
            let meta = CartMeta { created_at: self.env.source.now() };
            if self.env.store.keeps_records() {
                let mut batch = Batch::new();
                let written = batch
                    .put(keys::cart_meta(&id), &meta)
                    .and_then(|()| stamp_use(&self.env, &id, &mut self.used_day, &mut batch))
                    .and_then(|()| self.env.store.write(batch));
                match written {
                    Ok(ticket) => self.last_ticket = ticket,
                    Err(err) => return Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket },
                }
            }
            *state = Some((Cart::new(id.clone(), self.env.config.cart_limits), meta));
        }
        let Some((cart, meta)) = state else {
            return Reply { result: Err(Failure::Rejected(CartRejection::NotFound { id })), ticket: self.last_ticket };
        };
        let events = match execute(cart, command) {
            Ok(events) => events,
            Err(rule) => {
                return Reply { result: Err(Failure::Rejected(CartRejection::Rule(rule))), ticket: self.last_ticket }
            }
        };
        if cfg!(debug_assertions) {
            if let Err(violation) = cart.check_invariants() {
                panic!("{violation}");
            }
        }
        let view = snapshot(cart, meta);
        match persist(&self.env, &id, &events, &mut self.used_day) {
            Ok(Some(ticket)) => self.last_ticket = ticket,
            Ok(None) => {}
            Err(err) => {
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket };
            }
        }
        Reply { result: Ok(view), ticket: self.last_ticket }
    }
}

/// Writes one record per touched line (or merge), and the day a guest cart
/// is used when it is a new day; `None` if nothing changed.
fn persist(
    env: &Env,
    id: &CartId,
    events: &[CartEvent],
    used_day: &mut Option<u32>,
) -> Result<Option<Ticket>, StoreError> {
    if !env.store.keeps_records() {
        return Ok(None);
    }
    let mut batch = Batch::new();
    for event in events {
        match event {
            CartEvent::LineSet { list, line } => batch.put(keys::cart_line(id, *list, &line.sku), line)?,
            CartEvent::LineRemoved { list, sku } => batch.delete(keys::cart_line(id, *list, sku)),
            CartEvent::Merged { source, fingerprint } => batch.put(keys::cart_merge(id, source), fingerprint)?,
        }
    }
    stamp_use(env, id, used_day, &mut batch)?;
    if batch.is_empty() {
        return Ok(None);
    }
    env.store.write(batch).map(Some)
}

/// Adds to `batch` the day a guest cart is used today, when it was last
/// used on another day (at most one extra write per cart and day; reads
/// count as use, so a guest who only looks keeps the cart).
fn stamp_use(env: &Env, id: &CartId, used_day: &mut Option<u32>, batch: &mut Batch) -> Result<(), StoreError> {
    if !super::is_guest(id) {
        return Ok(());
    }
    let today = keys::day(env.source.now());
    if *used_day == Some(today) {
        return Ok(());
    }
    if let Some(previous) = *used_day {
        batch.delete(keys::cart_idle(previous, id));
    }
    batch.put(keys::cart_idle(today, id), &())?;
    batch.put(keys::cart_used(id), &today)?;
    *used_day = Some(today);
    Ok(())
}

impl CartActor {
    /// Deletes the cart, its lines and merges and its use records if it is
    /// a guest cart last used before `before_day`.
    fn expire_if_idle(&mut self, before_day: u32) -> CartReply<bool> {
        let id = self.activation.key().clone();
        let idle = super::is_guest(&id) && self.used_day.is_some_and(|day| day < before_day);
        let exists = matches!(self.state, Ok(Some(_)));
        if !idle || !exists || !self.env.store.keeps_records() {
            return Reply { result: Ok(false), ticket: self.last_ticket };
        }
        let mut batch = Batch::new();
        batch.delete(keys::cart_meta(&id));
        let mut doomed = Vec::new();
        let scanned =
            self.env.store.for_each_key(&keys::cart_lines_of(&id), |key| doomed.push(key.to_vec())).and_then(|()| {
                self.env.store.for_each_key(&keys::cart_merges_of(&id), |key| doomed.push(key.to_vec()))
            });
        if let Err(err) = scanned {
            return Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket };
        }
        for key in doomed {
            batch.delete(key);
        }
        if let Some(day) = self.used_day {
            batch.delete(keys::cart_idle(day, &id));
        }
        batch.delete(keys::cart_used(&id));
        match self.env.store.write(batch) {
            Ok(ticket) => self.last_ticket = ticket,
            Err(err) => return Reply { result: Err(Failure::Store(err)), ticket: self.last_ticket },
        }
        // The actor stays, empty, until it passivates: a command still on
        // its way finds no cart.
        self.state = Ok(None);
        self.used_day = None;
        Reply { result: Ok(true), ticket: self.last_ticket }
    }
}

impl Handler<ExpireIfIdle> for CartActor {
    type Result = MessageResult<ExpireIfIdle>;
    fn handle(&mut self, msg: ExpireIfIdle, _ctx: &mut Context<Self>) -> Self::Result {
        self.last_active = Instant::now();
        MessageResult(self.expire_if_idle(msg.before_day))
    }
}

impl Handler<CartMessage> for CartActor {
    type Result = MessageResult<CartMessage>;
    fn handle(&mut self, msg: CartMessage, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handle_command(msg.0, ctx))
    }
}

impl Handler<Crash> for CartActor {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
