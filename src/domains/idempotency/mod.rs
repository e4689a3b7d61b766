//! Remembered responses for idempotent retries: the HTTP layer decides what
//! a response is; this domain keeps it durably and makes concurrent duplicates
//! wait for the first. Owns the keys `i` (the responses) and `I` (when each
//! falls due): [`Idempotency::sweep`] deletes the responses past their
//! retention, reading only the due part of the time-ordered `I` index.

use crate::engine::Timestamp;
use crate::store::{keys, Batch, Keyspace};
use crate::{Error, Mercato};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;
use std::sync::Arc;
use tokio::sync::Notify;

/// How long a remembered response answers retries (API.md: at least 24 h).
pub const IDEMPOTENCY_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// The first response to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// SHA-256 of the request body, to tell a retry from a reuse of the key.
    pub body_digest: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

/// Which scopes have a remembered response in the store, by a 64-bit
/// fingerprint of the scope. A scope whose fingerprint is not here has no
/// record, so a new key (every claim of a stampede) is answered without a
/// store lookup; a fingerprint that is here (the scope's, or by chance
/// another's) sends the lookup to the store, which has the last word. Loaded
/// from the store's keys at open; about 20 bytes per record. Counted, so
/// that sweeping one scope never drops the fingerprint another one shares.
struct StoredScopes {
    fingerprints: DashMap<u64, u32, foldhash::fast::RandomState>,
}

impl StoredScopes {
    /// Fingerprints come from this process's hasher: the set is rebuilt at
    /// every open, so they need not be stable across runs.
    const HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6d65_7263_6174_6f21);

    fn load(store: &Keyspace) -> Result<Self, Error> {
        let scopes = StoredScopes { fingerprints: DashMap::with_hasher(foldhash::fast::RandomState::default()) };
        store.for_each_key(&[keys::IDEMPOTENCY], |key| {
            if let Some(scope) = keys::idempotency_scope(key) {
                *scopes.fingerprints.entry(Self::fingerprint(scope)).or_default() += 1;
            }
        })?;
        Ok(scopes)
    }

    fn fingerprint(scope: &[u8]) -> u64 {
        Self::HASHER.hash_one(scope)
    }

    fn insert(&self, scope: &str) {
        *self.fingerprints.entry(Self::fingerprint(scope.as_bytes())).or_default() += 1;
    }

    /// A record of `scope` was deleted.
    fn remove(&self, scope: &str) {
        let fingerprint = Self::fingerprint(scope.as_bytes());
        if let dashmap::mapref::entry::Entry::Occupied(mut count) = self.fingerprints.entry(fingerprint) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }

    fn may_contain(&self, scope: &str) -> bool {
        self.fingerprints.contains_key(&Self::fingerprint(scope.as_bytes()))
    }

    fn len(&self) -> usize {
        self.fingerprints.iter().map(|count| *count.value() as usize).sum()
    }
}

/// Either the response to replay, or the right to run the request (the
/// claim is released when dropped, waking duplicates that waited).
pub enum Claim {
    Replay(Remembered),
    Run(RunGuard),
}

pub struct RunGuard {
    in_flight: Arc<InFlight>,
    scope: String,
    notify: Arc<Notify>,
}

/// Idempotency scopes being run now; duplicates wait on the notify.
type InFlight = DashMap<String, Arc<Notify>>;

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.in_flight.remove(&self.scope);
        self.notify.notify_waiters();
    }
}

/// What the idempotency mechanism keeps (key `i`).
pub(crate) struct State {
    store: Keyspace,
    in_flight: Arc<InFlight>,
    /// `memory` durability keeps no records in the store: remembered
    /// responses live here instead (idempotency holds without a disk too).
    remembered: DashMap<String, Remembered>,
    /// Which scopes have a remembered response in the store.
    stored_scopes: StoredScopes,
}

impl State {
    pub(crate) fn open(store: Keyspace) -> Result<State, Error> {
        index_unindexed(&store)?;
        Ok(State {
            stored_scopes: StoredScopes::load(&store)?,
            store,
            in_flight: Arc::new(DashMap::new()),
            remembered: DashMap::new(),
        })
    }
}

/// Gives the records written before the `I` index existed their index
/// entries, once: when there are records and no index at all.
fn index_unindexed(store: &Keyspace) -> Result<(), Error> {
    let mut indexed = false;
    store.keys_while(&[keys::IDEMPOTENCY_DUE], |_| {
        indexed = true;
        false
    })?;
    if indexed || !store.keeps_records() {
        return Ok(());
    }
    let mut batch = Batch::new();
    for (key, remembered) in store.scan_prefix::<Remembered>(&[keys::IDEMPOTENCY])? {
        let scope = keys::idempotency_scope(&key).and_then(|scope| std::str::from_utf8(scope).ok());
        if let Some(scope) = scope {
            batch.put(keys::idempotency_due(remembered.created_at, scope), &())?;
        }
    }
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok(())
}

/// Records one sweep deletes at most (the next sweep takes the rest).
const SWEEP_BATCH_MAX: usize = 10_000;

/// Remembered responses of idempotent requests, reached as
/// `mercato.idempotency()`.
#[derive(Clone, Copy)]
pub struct Idempotency<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Idempotency<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Idempotency { m, s }
    }

    /// Looks up `scope` (a digest of caller, route and key); if another
    /// request with the same scope is running, waits for it first. The
    /// scope is claimed before the store is read, so one lookup is enough:
    /// a response remembered before the claim is found by it, and one
    /// remembered after it cannot exist (its request would have held the
    /// claim). A new key costs no store lookup at all ([`StoredScopes`]).
    pub async fn claim(self, scope: &str) -> Result<Claim, Error> {
        loop {
            let notify = Arc::new(Notify::new());
            let waiting = match self.s.in_flight.entry(scope.to_owned()) {
                dashmap::mapref::entry::Entry::Occupied(running) => running.get().clone(),
                dashmap::mapref::entry::Entry::Vacant(vacant) => {
                    vacant.insert(notify.clone());
                    let guard = RunGuard { in_flight: self.s.in_flight.clone(), scope: scope.to_owned(), notify };
                    // The guard releases the claim (and wakes waiters) on every way out.
                    return Ok(match self.remembered(scope)? {
                        Some(remembered) => Claim::Replay(remembered),
                        None => Claim::Run(guard),
                    });
                }
            };
            let notified = waiting.notified();
            if !self.s.in_flight.contains_key(scope) {
                continue;
            }
            notified.await;
        }
    }

    /// Keeps the first response (before the guard is released), in the
    /// same flush as the request's own writes (`deferred`). The reply waits
    /// for that flush, except for a rejection that wrote nothing
    /// (`changed_nothing`): its record is flushed in the next group commit
    /// (milliseconds) but the answer does not wait for it. A crash inside
    /// that window only lets a retry run again, which is as safe as the
    /// first run was. So a stampede's sold-out answers do not queue for the
    /// disk.
    pub async fn remember(
        self,
        guard: &RunGuard,
        remembered: &Remembered,
        deferred: Option<crate::store::Ticket>,
        changed_nothing: bool,
    ) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        if !self.s.store.keeps_records() {
            self.s.remembered.insert(guard.scope.clone(), remembered.clone());
            return Ok(());
        }
        // Known before the record is written: a fingerprint without a record
        // only costs a lookup, a record without its fingerprint would be missed.
        self.s.stored_scopes.insert(&guard.scope);
        let mut batch = Batch::new_put(keys::idempotency(&guard.scope), remembered)?;
        batch.put(keys::idempotency_due(remembered.created_at, &guard.scope), &())?;
        let ticket = self.s.store.write(batch)?;
        if changed_nothing && deferred.is_none() {
            self.s.store.flush_soon(ticket);
            return Ok(());
        }
        self.s.store.durable(deferred.map_or(ticket, |deferred| deferred.max(ticket))).await?;
        Ok(())
    }

    /// Deletes the remembered responses past their retention at the
    /// source's `now` (at most [`SWEEP_BATCH_MAX`] per call); how many.
    pub fn sweep(self) -> Result<usize, Error> {
        let _pass = self.m.enter()?;
        let now = self.m.now();
        let due = |created_at: Timestamp| now.millis_since(created_at) >= IDEMPOTENCY_RETENTION_MS;
        if !self.s.store.keeps_records() {
            let before = self.s.remembered.len();
            self.s.remembered.retain(|_, remembered| !due(remembered.created_at));
            return Ok(before - self.s.remembered.len());
        }
        let mut expired: Vec<(Vec<u8>, String)> = Vec::new();
        self.s.store.keys_while(&[keys::IDEMPOTENCY_DUE], |key| {
            let Some((created_at, scope)) = keys::parse_idempotency_due(key) else { return true };
            if !due(created_at) || expired.len() >= SWEEP_BATCH_MAX {
                return false;
            }
            expired.push((key.to_vec(), scope.to_owned()));
            true
        })?;
        if expired.is_empty() {
            return Ok(0);
        }
        // Each scope is claimed while it is swept, as a request would claim
        // it: a retry arriving now waits, and a scope being run again right
        // now (its old response expired) is left for the next sweep.
        let mut claimed = Vec::with_capacity(expired.len());
        let mut deleted = Vec::with_capacity(expired.len());
        let mut batch = Batch::new();
        for (index_key, scope) in expired {
            let notify = Arc::new(Notify::new());
            match self.s.in_flight.entry(scope.clone()) {
                dashmap::mapref::entry::Entry::Occupied(_) => continue,
                dashmap::mapref::entry::Entry::Vacant(vacant) => {
                    vacant.insert(notify.clone());
                }
            }
            claimed.push(RunGuard { in_flight: self.s.in_flight.clone(), scope: scope.clone(), notify });
            // The index entry is due; the record may be a newer response
            // of the same scope, which stays.
            batch.delete(index_key);
            let current = self.s.store.get::<Remembered>(&keys::idempotency(&scope))?;
            if current.is_some_and(|remembered| due(remembered.created_at)) {
                batch.delete(keys::idempotency(&scope));
                deleted.push(scope);
            }
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let ticket = self.s.store.write(batch)?;
        for scope in &deleted {
            self.s.stored_scopes.remove(scope);
        }
        drop(claimed);
        self.s.store.flush_soon(ticket);
        Ok(deleted.len())
    }

    /// Remembered responses kept now (in the store, or in memory).
    pub fn len(self) -> usize {
        if self.s.store.keeps_records() {
            self.s.stored_scopes.len()
        } else {
            self.s.remembered.len()
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    fn remembered(self, scope: &str) -> Result<Option<Remembered>, Error> {
        let found = if self.s.store.keeps_records() {
            if !self.s.stored_scopes.may_contain(scope) {
                return Ok(None);
            }
            self.s.store.get::<Remembered>(&keys::idempotency(scope))?
        } else {
            self.s.remembered.get(scope).map(|entry| entry.value().clone())
        };
        let now = self.m.now();
        Ok(found.filter(|remembered| now.millis_since(remembered.created_at) < IDEMPOTENCY_RETENTION_MS))
    }
}
