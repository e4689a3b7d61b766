//! Actors: state + ordering + durability.
//!
//! Each handler is: message -> engine call -> durable write -> reply. The
//! reply carries the store [`Ticket`] of the actor's latest write; the caller
//! (the domain that sent the message) awaits it before answering, so in strict
//! mode every answer describes durable state while the actor itself moves on
//! to its next message without waiting for the disk.

pub mod expiry;
pub mod record;
pub mod registry;
pub mod runtime;

use crate::engine::CartLimits;
use crate::source::Source;
use crate::store::{Keyspace, StoreError, Ticket};
use actix::ArbiterHandle;
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

/// What an actor can reach: its domain's keyspace, the source of time and
/// ids, the tunables,
/// and `shared`, the in-memory state its domain shares with its actors (the
/// stock board for buckets, the deal book for deal shards; `()` for most).
#[derive(Clone)]
pub struct Env<S = ()> {
    pub store: Keyspace,
    pub source: Source,
    pub config: Arc<ActorConfig>,
    pub shared: S,
}

/// What every domain needs to start its actors: the arbiters they run on,
/// the source of time and ids, and the tunables.
pub struct ActorSetup {
    pub arbiters: Arc<[ArbiterHandle]>,
    pub source: Source,
    pub config: Arc<ActorConfig>,
}

impl ActorSetup {
    /// The registry of one actor kind, whose actors reach `store` (their
    /// domain's keyspace) and `shared`.
    pub fn registry<A, S>(&self, kind: &'static str, store: Keyspace, shared: S) -> Registry<A>
    where
        A: registry::Activate<Env = Env<S>>,
        S: Clone + Send + 'static,
    {
        let env = Env { store, source: self.source.clone(), config: self.config.clone(), shared };
        Registry::new(kind, self.arbiters.clone(), env)
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
