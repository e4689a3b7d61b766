//! The record actor: one actor per record (a checkout, an order) that owns
//! the record in memory, applies one command at a time through the record's
//! own rules, and writes the whole record (and whatever else the change
//! owes: events, tasks) in one batch before it answers. The domains say what
//! a record is ([`Record`]); ordering, loading, durability, passivation and
//! supervision are the same for all of them and live here.

use super::registry::{Activate, Activation};
use super::{Crash, Env, Failure, Reply};
use crate::engine::Timestamp;
use crate::store::{Batch, StoreError, Ticket};
use actix::{Actor, ActorContext, Context, Handler, Message, MessageResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::hash::Hash;
use std::time::Instant;

/// A record kind owned by one actor per key.
pub trait Record: Clone + PartialEq + Serialize + DeserializeOwned + Unpin + Send + 'static {
    type Key: Clone + Eq + Hash + Display + Unpin + Send + Sync + 'static;
    /// What can be asked of a record.
    type Command: Clone + Send + 'static;
    /// What a command produced besides the record itself (events to log).
    type Outcome;
    /// Why a command was refused.
    type Rejection: Send + 'static;

    /// Where record `key` is stored.
    fn store_key(key: &Self::Key) -> Vec<u8>;

    /// The record `command` creates when none exists yet (a retried
    /// create finds the existing one and creates nothing).
    fn created_by(command: &Self::Command) -> Option<Self>;

    /// Applies `command`; refused commands change nothing.
    fn execute(&mut self, command: Self::Command, now: Timestamp) -> Result<Self::Outcome, Self::Rejection>;

    /// The refusal for a command to a record that does not exist.
    fn not_found(key: &Self::Key) -> Self::Rejection;

    /// The record's invariants (checked after every command in debug builds).
    fn check_invariants(&self) -> Result<(), String>;

    /// Adds to `batch` what the change owes besides the record (which is
    /// written when it changed): `created` is set when this command created
    /// the record.
    fn effects(
        _key: &Self::Key,
        _record: &Self,
        _created: bool,
        _outcome: &Self::Outcome,
        _batch: &mut Batch,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A command to the record of the actor it is sent to.
#[derive(Debug, Clone)]
pub struct RecordCall<R: Record>(pub R::Command);

impl<R: Record> Message for RecordCall<R> {
    type Result = Reply<R, R::Rejection>;
}

pub struct RecordActor<R: Record> {
    activation: Activation<RecordActor<R>>,
    env: Env,
    state: Result<Option<R>, StoreError>,
    last_ticket: Ticket,
    last_active: Instant,
}

impl<R: Record> Actor for RecordActor<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        super::passivate_when_idle(ctx, &self.env.config, |actor| (&actor.activation, actor.last_active));
    }
}

impl<R: Record> Activate for RecordActor<R> {
    type Key = R::Key;
    type Env = Env;

    fn activate(activation: Activation<Self>, env: Env, _ctx: &mut Context<Self>) -> Self {
        let state = env.store.get::<R>(&R::store_key(activation.key()));
        if let Err(err) = &state {
            tracing::error!(key = %activation.key(), error = %err, "cannot load record");
        }
        RecordActor { activation, env, state, last_ticket: Ticket::NONE, last_active: Instant::now() }
    }
}

impl<R: Record> RecordActor<R> {
    fn handle_command(&mut self, command: R::Command, ctx: &mut Context<Self>) -> Reply<R, R::Rejection> {
        self.last_active = Instant::now();
        let key = self.activation.key().clone();
        let ticket = self.last_ticket;
        let now = self.env.source.now();
        let state = match &mut self.state {
            Ok(state) => state,
            // Unreadable: stop, so that the next call loads it again.
            Err(err) => {
                let err = err.clone();
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        };
        let created = match (&state, R::created_by(&command)) {
            (None, Some(record)) => {
                *state = Some(record);
                true
            }
            _ => false,
        };
        let Some(record) = state else {
            return Reply { result: Err(Failure::Rejected(R::not_found(&key))), ticket };
        };
        let mut working = record.clone();
        let outcome = match working.execute(command, now) {
            Ok(outcome) => outcome,
            Err(rejection) => {
                if created {
                    // Nothing was written: the record does not exist yet.
                    *state = None;
                }
                return Reply { result: Err(Failure::Rejected(rejection)), ticket };
            }
        };
        if cfg!(debug_assertions) {
            if let Err(violation) = working.check_invariants() {
                panic!("{violation}");
            }
        }
        let mut batch = Batch::new();
        let changed = created || record != &working;
        let written = R::effects(&key, &working, created, &outcome, &mut batch, now)
            .and_then(|()| if changed { batch.put(R::store_key(&key), &working) } else { Ok(()) })
            .and_then(|()| if batch.is_empty() { Ok(None) } else { self.env.store.write(batch).map(Some) });
        match written {
            Ok(Some(ticket)) => self.last_ticket = ticket,
            Ok(None) => {}
            Err(err) => {
                // The record in memory may be ahead of the store: reload it.
                ctx.stop();
                return Reply { result: Err(Failure::Store(err)), ticket };
            }
        }
        *record = working.clone();
        Reply { result: Ok(working), ticket: self.last_ticket }
    }
}

impl<R: Record> Handler<RecordCall<R>> for RecordActor<R> {
    type Result = MessageResult<RecordCall<R>>;
    fn handle(&mut self, call: RecordCall<R>, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handle_command(call.0, ctx))
    }
}

impl<R: Record> Handler<Crash> for RecordActor<R> {
    type Result = ();
    fn handle(&mut self, _msg: Crash, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::runtime::ActorRuntime;
    use crate::actors::{ActorConfig, ActorSetup, Registry};
    use crate::engine::CheckoutId;
    use crate::store::{keys, Durability, Store, StoreConfig};
    use serde::Deserialize;
    use std::sync::Arc;
    use std::time::Duration;

    /// A counter that refuses to go above its limit.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Counter {
        value: u32,
        limit: u32,
    }

    #[derive(Debug, Clone)]
    enum Command {
        Create { limit: u32 },
        Add(u32),
        Read,
    }

    impl Record for Counter {
        type Key = CheckoutId;
        type Command = Command;
        type Outcome = ();
        type Rejection = String;

        fn store_key(key: &CheckoutId) -> Vec<u8> {
            keys::checkout(key)
        }

        fn created_by(command: &Command) -> Option<Counter> {
            match command {
                Command::Create { limit } => Some(Counter { value: 0, limit: *limit }),
                _ => None,
            }
        }

        fn execute(&mut self, command: Command, _now: Timestamp) -> Result<(), String> {
            match command {
                Command::Create { limit: 0 } => Err("a limit of 0".to_owned()),
                Command::Create { .. } | Command::Read => Ok(()),
                Command::Add(n) if self.value + n > self.limit => Err(format!("over {}", self.limit)),
                Command::Add(n) => {
                    self.value += n;
                    Ok(())
                }
            }
        }

        fn not_found(key: &CheckoutId) -> String {
            format!("{key} not found")
        }

        fn check_invariants(&self) -> Result<(), String> {
            (self.value <= self.limit).then_some(()).ok_or_else(|| "over the limit".to_owned())
        }
    }

    fn result(reply: Result<Reply<Counter, String>, crate::actors::Unavailable>) -> Result<Counter, String> {
        match reply.expect("the actor answers").result {
            Ok(counter) => Ok(counter),
            Err(Failure::Rejected(rejection)) => Err(rejection),
            Err(Failure::Store(err)) => panic!("{err}"),
        }
    }

    #[tokio::test]
    async fn a_record_actor_creates_once_refuses_without_change_and_reloads_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            path: dir.path().to_path_buf(),
            durability: Durability::Strict,
            cache_capacity_bytes: 1 << 20,
        };
        let store = Store::open(&config).unwrap();
        let runtime = ActorRuntime::start(1).unwrap();
        let setup = ActorSetup {
            arbiters: runtime.handles(),
            source: crate::source::Source::system(),
            config: Arc::new(ActorConfig {
                passivate_after: Some(Duration::from_secs(60)),
                idle_check_every: Duration::from_secs(60),
                mailbox_capacity: 16,
                cart_limits: crate::engine::CartLimits::default(),
                settled_hold_retention_ms: 0,
            }),
        };
        let keyspace = store.keyspace("checkout");
        let counters: Registry<RecordActor<Counter>> = setup.registry("counter", keyspace.clone(), ());
        let key = CheckoutId::parse("chk_1").unwrap();
        let call = |command| counters.call(&key, RecordCall::<Counter>(command));

        assert_eq!(result(call(Command::Read).await), Err("chk_1 not found".to_owned()));
        assert_eq!(result(call(Command::Create { limit: 0 }).await), Err("a limit of 0".to_owned()));
        assert_eq!(
            result(call(Command::Read).await),
            Err("chk_1 not found".to_owned()),
            "a refused create keeps nothing"
        );
        assert_eq!(keyspace.get::<Counter>(&keys::checkout(&key)).unwrap(), None);

        let created = result(call(Command::Create { limit: 5 }).await).unwrap();
        assert_eq!(created, Counter { value: 0, limit: 5 });
        assert_eq!(result(call(Command::Create { limit: 9 }).await).unwrap(), created, "a retried create finds it");
        assert_eq!(result(call(Command::Add(3)).await).unwrap().value, 3);
        assert_eq!(result(call(Command::Add(3)).await), Err("over 5".to_owned()));
        let reply = call(Command::Read).await.unwrap();
        store.durable(reply.ticket).await.unwrap();
        assert_eq!(keyspace.get::<Counter>(&keys::checkout(&key)).unwrap(), Some(Counter { value: 3, limit: 5 }));

        counters.call(&key, Crash).await.unwrap();
        assert_eq!(result(call(Command::Read).await).unwrap().value, 3, "reloaded from the store");
        assert_eq!(counters.stats().restarts, 1);
        runtime.stop();
    }
}
