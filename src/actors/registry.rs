//! Virtual actors: activated on first message, passivated when idle,
//! re-activated when they die.
//!
//! One `DashMap<Key, Slot>` per actor kind. A message to a key with no live
//! actor activates one on the arbiter the key hashes to; activation happens
//! under the map's entry lock, so there is exactly one live activation per key
//! even when many callers race. An actor passivates by removing its own slot
//! (only if the slot is still its own generation) and then stopping; a caller
//! that raced it gets a closed mailbox and retries once through the registry,
//! which activates a fresh actor from durable state. The same retry covers an
//! actor that died (its mailbox closed without passivating): that is counted
//! as a restart.

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, ArbiterHandle, Context, Handler, Message};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::fmt::Display;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An actor that the registry can activate from durable state.
pub trait Activate: Actor<Context = Context<Self>> {
    type Key: Clone + Eq + Hash + Display + Send + Sync + 'static;
    type Env: Clone + Send + 'static;

    /// Builds the actor on its arbiter's thread (loading its state).
    fn activate(activation: Activation<Self>, env: Self::Env, ctx: &mut Context<Self>) -> Self;
}

/// Counters of one actor kind.
#[derive(Debug, Default)]
pub struct ActorStats {
    pub activations: AtomicU64,
    pub passivations: AtomicU64,
    pub restarts: AtomicU64,
}

/// A copy of [`ActorStats`] with the number of live actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActorStatsSnapshot {
    pub live: u64,
    pub activations: u64,
    pub passivations: u64,
    pub restarts: u64,
}

struct Slot<A: Actor> {
    addr: Addr<A>,
    generation: u64,
}

type Slots<A> = DashMap<<A as Activate>::Key, Slot<A>, foldhash::fast::RandomState>;

/// What an actor knows of its own activation: its key, and how to passivate.
pub struct Activation<A: Activate> {
    key: A::Key,
    generation: u64,
    slots: Arc<Slots<A>>,
    stats: Arc<ActorStats>,
}

impl<A: Activate> Activation<A> {
    pub fn key(&self) -> &A::Key {
        &self.key
    }

    /// Leaves the registry, then stops. State must already be durable.
    pub fn passivate(&self, ctx: &mut Context<A>) {
        let generation = self.generation;
        if self.slots.remove_if(&self.key, |_, slot| slot.generation == generation).is_some() {
            self.stats.passivations.fetch_add(1, Ordering::Relaxed);
        }
        actix::ActorContext::stop(ctx);
    }
}

/// Why a message could not be delivered even after one re-activation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} actor {key} is unavailable")]
pub struct Unavailable {
    pub kind: &'static str,
    pub key: String,
}

/// The actors of one kind.
pub struct Registry<A: Activate> {
    kind: &'static str,
    slots: Arc<Slots<A>>,
    arbiters: Arc<[ArbiterHandle]>,
    env: A::Env,
    next_generation: AtomicU64,
    stats: Arc<ActorStats>,
}

impl<A: Activate> Registry<A> {
    pub fn new(kind: &'static str, arbiters: Arc<[ArbiterHandle]>, env: A::Env) -> Self {
        Registry {
            kind,
            slots: Arc::new(DashMap::with_hasher(foldhash::fast::RandomState::default())),
            arbiters,
            env,
            next_generation: AtomicU64::new(1),
            stats: Arc::new(ActorStats::default()),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn stats(&self) -> ActorStatsSnapshot {
        ActorStatsSnapshot {
            live: u64::try_from(self.slots.len()).unwrap_or(u64::MAX),
            activations: self.stats.activations.load(Ordering::Relaxed),
            passivations: self.stats.passivations.load(Ordering::Relaxed),
            restarts: self.stats.restarts.load(Ordering::Relaxed),
        }
    }

    /// Sends `message` to the actor of `key`, activating it if needed; if the
    /// mailbox turns out closed, re-activates once and retries.
    pub async fn call<M>(&self, key: &A::Key, message: M) -> Result<M::Result, Unavailable>
    where
        M: Message + Clone + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let (addr, generation) = self.addr(key);
        match addr.send(message.clone()).await {
            Ok(reply) => Ok(reply),
            Err(_) => {
                self.forget_dead(key, generation);
                let (addr, _) = self.addr(key);
                addr.send(message).await.map_err(|_| Unavailable { kind: self.kind, key: key.to_string() })
            }
        }
    }

    /// Activates the actor of `key` if it is not live (no message).
    pub fn activate(&self, key: &A::Key) {
        self.addr(key);
    }

    /// The address of the live actor of `key`, activating one if needed.
    fn addr(&self, key: &A::Key) -> (Addr<A>, u64) {
        if let Some(slot) = self.slots.get(key) {
            if slot.addr.connected() {
                return (slot.addr.clone(), slot.generation);
            }
        }
        match self.slots.entry(key.clone()) {
            Entry::Occupied(mut occupied) => {
                if occupied.get().addr.connected() {
                    let slot = occupied.get();
                    return (slot.addr.clone(), slot.generation);
                }
                self.stats.restarts.fetch_add(1, Ordering::Relaxed);
                let slot = self.start(key.clone());
                let reply = (slot.addr.clone(), slot.generation);
                occupied.insert(slot);
                reply
            }
            Entry::Vacant(vacant) => {
                let slot = self.start(key.clone());
                let reply = (slot.addr.clone(), slot.generation);
                vacant.insert(slot);
                reply
            }
        }
    }

    /// Drops the slot of a dead activation (if it is still that generation).
    fn forget_dead(&self, key: &A::Key, generation: u64) {
        if self.slots.remove_if(key, |_, slot| slot.generation == generation).is_some() {
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn start(&self, key: A::Key) -> Slot<A> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let arbiter = &self.arbiters[arbiter_index(&key, self.arbiters.len())];
        let activation = Activation { key, generation, slots: self.slots.clone(), stats: self.stats.clone() };
        let env = self.env.clone();
        let addr = A::start_in_arbiter(arbiter, move |ctx| A::activate(activation, env, ctx));
        self.stats.activations.fetch_add(1, Ordering::Relaxed);
        Slot { addr, generation }
    }
}

/// The arbiter a key lives on: a stable hash of the key modulo the count.
pub fn arbiter_index<K: Hash>(key: &K, arbiters: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    let count = u64::try_from(arbiters.max(1)).unwrap_or(1);
    usize::try_from(hasher.finish() % count).unwrap_or(0)
}
