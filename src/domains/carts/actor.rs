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
        CartActor { activation, env, state, last_ticket: Ticket::NONE, last_active: Instant::now() }
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
                let written = Batch::new_put(keys::cart_meta(&id), &meta).and_then(|batch| self.env.store.write(batch));
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
        match persist(&self.env, &id, &events) {
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

/// Writes one record per touched line (or merge); `None` if nothing changed.
fn persist(env: &Env, id: &CartId, events: &[CartEvent]) -> Result<Option<Ticket>, StoreError> {
    if events.is_empty() || !env.store.keeps_records() {
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
    env.store.write(batch).map(Some)
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
