//! Actors: state + ordering + durability.
//!
//! Each handler is: message -> engine call -> durable write -> reply. The
//! reply carries the store [`Ticket`] of the actor's latest write; the caller
//! (the [`crate::Mercato`] handle) awaits it before answering, so in strict
//! mode every answer describes durable state while the actor itself moves on
//! to its next message without waiting for the disk.

pub mod expiry;
pub mod registry;
pub mod runtime;

use crate::clock::Clock;
use crate::engine::CartLimits;
use crate::store::{Keyspace, StoreError, Ticket};
use std::sync::Arc;
use std::time::Duration;

pub use registry::{ActorStatsSnapshot, Registry, Unavailable};

/// Tunables shared by the actors.
#[derive(Debug, Clone)]
pub struct ActorConfig {
    /// An actor idle this long passivates (its state is durable already).
    /// `None` never passivates: memory mode, where the actor is the state.
    pub passivate_after: Option<Duration>,
    /// How often an actor checks whether it is idle.
    pub idle_check_every: Duration,
    pub mailbox_capacity: usize,
    pub cart_limits: CartLimits,
    /// Settled holds are kept this long for idempotent retries, then pruned.
    pub settled_hold_retention_ms: u64,
}

/// Starts the life of an actor that holds no timers of its own: bounds its
/// mailbox, and every `idle_check_every` passivates it once it has been idle
/// for `passivate_after`. `idle` tells where the actor keeps its activation
/// and the instant of its last message.
pub fn passivate_when_idle<A: registry::Activate>(
    ctx: &mut actix::Context<A>,
    config: &ActorConfig,
    idle: fn(&A) -> (&registry::Activation<A>, std::time::Instant),
) {
    use actix::AsyncContext;
    ctx.set_mailbox_capacity(config.mailbox_capacity);
    let Some(after) = config.passivate_after else { return };
    ctx.run_interval(config.idle_check_every, move |actor, ctx| {
        let (activation, last_active) = idle(actor);
        if last_active.elapsed() >= after {
            activation.passivate(ctx);
        }
    });
}

/// What an actor can reach: its domain's keyspace, the clock, the tunables,
/// and `shared`, the in-memory state its domain shares with its actors (the
/// stock board for buckets, the deal book for deal shards; `()` for most).
#[derive(Clone)]
pub struct Env<S = ()> {
    pub store: Keyspace,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ActorConfig>,
    pub shared: S,
}

impl Env {
    pub fn new(store: Keyspace, clock: Arc<dyn Clock>, config: Arc<ActorConfig>) -> Self {
        Env { store, clock, config, shared: () }
    }
}

impl<S> Env<S> {
    /// The environment of one domain's actors.
    pub fn domain<T>(&self, store: Keyspace, shared: T) -> Env<T> {
        Env { store, clock: self.clock.clone(), config: self.config.clone(), shared }
    }
}

/// The answer of an actor: the result, and the ticket to await before
/// acknowledging it.
#[derive(Debug, Clone)]
pub struct Reply<T, E> {
    pub result: Result<T, Failure<E>>,
    pub ticket: Ticket,
}

/// A rejection by the engine, or a storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    Rejected(E),
    Store(StoreError),
}

impl<E> From<StoreError> for Failure<E> {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

/// Makes an actor stop as if it had crashed (without passivating), to
/// exercise supervision. Not part of normal operation.
#[derive(Debug, Clone, Copy, actix::Message)]
#[rtype(result = "()")]
pub struct Crash;
