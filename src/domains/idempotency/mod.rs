//! Remembered responses for idempotent retries: the HTTP layer decides what
//! a response is; this domain keeps it durably and makes concurrent duplicates
//! wait for the first. Owns the keys `I` (each response under the hour it was
//! made in) and `i` (responses stored before, moved to `I` at open):
//! [`Idempotency::sweep`] deletes the hours past the retention, reading keys
//! only, and a response costs one key.
//!
//! A request body is kept only as a keyed digest ([`Idempotency::body_digest`],
//! HMAC-SHA256 under the server's secret key), since a body may hold a
//! password: a copy of the data directory does not allow guessing it.
//! Responses remembered before digests were keyed hold an unkeyed SHA-256;
//! [`Idempotency::same_body`] still compares those, so a retry made across
//! the upgrade is replayed, and the sweep deletes them within 25 hours.

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

/// The purpose label request bodies are digested under.
const BODY_DIGEST_LABEL: &[u8] = b"mercato-idempotency-body-v1";
/// The purpose label ids derived from a scope are made under.
const DERIVED_ID_LABEL: &[u8] = b"mercato-idempotency-id-v1";
/// What a keyed body digest starts with (an unkeyed one is bare hex).
const KEYED_DIGEST_PREFIX: &str = "hmac:";

/// The first response to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// A digest of the request body, to tell a retry from a reuse of the
    /// key: keyed (see [`Idempotency::body_digest`]), or, in a record made
    /// before digests were keyed, the unkeyed SHA-256 in hex.
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
/// another's) sends the lookup to the store, which has the last word, under
/// the newest hour the fingerprint was seen in. Loaded from the store's keys
/// at open; about 24 bytes per record. Counted, so that sweeping one record
/// never drops the fingerprint of another.
struct StoredScopes {
    fingerprints: DashMap<u64, Seen, foldhash::fast::RandomState>,
}

/// The records of one fingerprint: how many, and the newest one's hour.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    records: u32,
    newest_hour: u32,
}

impl StoredScopes {
    /// Fingerprints come from this process's hasher: the set is rebuilt at
    /// every open, so they need not be stable across runs.
    const HASHER: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6d65_7263_6174_6f21);

    fn load(store: &Keyspace) -> Result<Self, Error> {
        let scopes = StoredScopes { fingerprints: DashMap::with_hasher(foldhash::fast::RandomState::default()) };
        store.for_each_key(&[keys::IDEMPOTENCY_BY_HOUR], |key| {
            if let Some((hour, scope)) = keys::parse_idempotency_at(key) {
                scopes.insert(scope, hour);
            }
        })?;
        Ok(scopes)
    }

    fn fingerprint(scope: &[u8]) -> u64 {
        Self::HASHER.hash_one(scope)
    }

    fn insert(&self, scope: &[u8], hour: u32) {
        let mut seen = self.fingerprints.entry(Self::fingerprint(scope)).or_default();
        seen.records += 1;
        seen.newest_hour = seen.newest_hour.max(hour);
    }

    /// A record of `scope` was deleted.
    fn remove(&self, scope: &[u8]) {
        self.fingerprints.remove_if_mut(&Self::fingerprint(scope), |_, seen| {
            seen.records = seen.records.saturating_sub(1);
            seen.records == 0
        });
    }

    /// The newest hour a record of `scope` may be kept under (`None`: it
    /// has none).
    fn newest_hour(&self, scope: &str) -> Option<u32> {
        self.fingerprints.get(&Self::fingerprint(scope.as_bytes())).map(|seen| seen.newest_hour)
    }

    fn len(&self) -> usize {
        self.fingerprints.iter().map(|seen| seen.records as usize).sum()
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
    /// Keys the body digests (see [`crate::secret`]).
    secret_key: crate::secret::SecretKey,
}

impl State {
    pub(crate) fn open(store: Keyspace, secret_key: crate::secret::SecretKey) -> Result<State, Error> {
        move_to_hours(&store)?;
        Ok(State {
            stored_scopes: StoredScopes::load(&store)?,
            store,
            in_flight: Arc::new(DashMap::new()),
            remembered: DashMap::new(),
            secret_key,
        })
    }
}

/// The body digest of records made before digests were keyed: SHA-256 of
/// the body's length (8 bytes, big-endian) and the body, in hex.
fn unkeyed_body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(u64::try_from(body.len()).unwrap_or(u64::MAX).to_be_bytes());
    hasher.update(body);
    crate::engine::hex_lower(&hasher.finalize())
}

/// Moves responses stored before they were kept by the hour (key `i`) to
/// their hour (key `I`), once.
fn move_to_hours(store: &Keyspace) -> Result<(), Error> {
    let mut batch = Batch::new();
    for (key, remembered) in store.scan_prefix::<Remembered>(&[keys::IDEMPOTENCY])? {
        let scope = keys::idempotency_scope(&key).and_then(|scope| std::str::from_utf8(scope).ok());
        if let Some(scope) = scope {
            batch.put(keys::idempotency_at(keys::idempotency_hour(remembered.created_at), scope), &remembered)?;
        }
        batch.delete(key);
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

    /// The digest of a request body to remember: HMAC-SHA256 under the
    /// server's secret key, so it does not give away a body (a password)
    /// to whoever holds a copy of the data directory.
    pub fn body_digest(self, body: &[u8]) -> String {
        let digest = self.s.secret_key.digest(BODY_DIGEST_LABEL, body);
        format!("{KEYED_DIGEST_PREFIX}{}", crate::engine::hex_lower(&digest))
    }

    /// A 128-bit id derived from `scope`, for an action that keeps its own
    /// first result (a claim): the same scope always gives the same id, and
    /// without the server's secret key nobody can tell the scope from it.
    pub fn derived_id(self, scope: &str) -> u128 {
        let digest = self.s.secret_key.digest(DERIVED_ID_LABEL, scope.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_be_bytes(first)
    }

    /// Whether `body` is the body `remembered` answered: compared keyed, or,
    /// for a record made before digests were keyed, unkeyed (such records
    /// are past their retention and swept a day after the upgrade).
    pub fn same_body(self, remembered: &Remembered, body: &[u8]) -> bool {
        let digest = if remembered.body_digest.starts_with(KEYED_DIGEST_PREFIX) {
            self.body_digest(body)
        } else {
            unkeyed_body_digest(body)
        };
        remembered.body_digest == digest
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
        let hour = keys::idempotency_hour(remembered.created_at);
        self.s.stored_scopes.insert(guard.scope.as_bytes(), hour);
        let ticket = self.s.store.write(Batch::new_put(keys::idempotency_at(hour, &guard.scope), remembered)?)?;
        if changed_nothing && deferred.is_none() {
            self.s.store.flush_soon(ticket);
            return Ok(());
        }
        self.s.store.durable(deferred.map_or(ticket, |deferred| deferred.max(ticket))).await?;
        Ok(())
    }

    /// Deletes the remembered responses past their retention at the
    /// source's `now` (at most [`SWEEP_BATCH_MAX`] per call); how many. In
    /// the store, whole hours go once their last response is past the
    /// retention, so a response is kept between 24 and 25 hours. Only keys
    /// are read, and a response being made again now (its old one expired)
    /// is under the current hour, so nothing in flight is touched.
    pub fn sweep(self) -> Result<usize, Error> {
        let _pass = self.m.enter()?;
        let now = self.m.now();
        if !self.s.store.keeps_records() {
            let due = |created_at: Timestamp| now.millis_since(created_at) >= IDEMPOTENCY_RETENTION_MS;
            let before = self.s.remembered.len();
            self.s.remembered.retain(|_, remembered| !due(remembered.created_at));
            return Ok(before - self.s.remembered.len());
        }
        let first_kept =
            keys::idempotency_hour(Timestamp::from_millis(now.as_millis().saturating_sub(IDEMPOTENCY_RETENTION_MS)));
        let mut expired: Vec<Vec<u8>> = Vec::new();
        self.s.store.keys_while(&[keys::IDEMPOTENCY_BY_HOUR], |key| {
            let past = keys::parse_idempotency_at(key).is_some_and(|(hour, _)| hour < first_kept);
            if !past || expired.len() >= SWEEP_BATCH_MAX {
                return false;
            }
            expired.push(key.to_vec());
            true
        })?;
        if expired.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        for key in &expired {
            batch.delete(key.clone());
        }
        let ticket = self.s.store.write(batch)?;
        for (_, scope) in expired.iter().filter_map(|key| keys::parse_idempotency_at(key)) {
            self.s.stored_scopes.remove(scope);
        }
        self.s.store.flush_soon(ticket);
        Ok(expired.len())
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

    /// The newest response of `scope` in the hours the sweep has not
    /// deleted yet (the rare path of a fingerprint shared by two scopes).
    fn in_kept_hours(self, scope: &str, now: Timestamp) -> Result<Option<Remembered>, Error> {
        let oldest = now.as_millis().saturating_sub(IDEMPOTENCY_RETENTION_MS + keys::IDEMPOTENCY_HOUR_MS);
        let (oldest, newest) = (keys::idempotency_hour(Timestamp::from_millis(oldest)), keys::idempotency_hour(now));
        for hour in (oldest..=newest).rev() {
            if let Some(remembered) = self.s.store.get::<Remembered>(&keys::idempotency_at(hour, scope))? {
                return Ok(Some(remembered));
            }
        }
        Ok(None)
    }

    fn remembered(self, scope: &str) -> Result<Option<Remembered>, Error> {
        let now = self.m.now();
        let found = if self.s.store.keeps_records() {
            let Some(newest) = self.s.stored_scopes.newest_hour(scope) else { return Ok(None) };
            match self.s.store.get::<Remembered>(&keys::idempotency_at(newest, scope))? {
                Some(remembered) => Some(remembered),
                // The fingerprint's newest hour was another scope's (they
                // share the fingerprint): look in every hour still kept.
                None => self.in_kept_hours(scope, now)?,
            }
        } else {
            self.s.remembered.get(scope).map(|entry| entry.value().clone())
        };
        Ok(found.filter(|remembered| now.millis_since(remembered.created_at) < IDEMPOTENCY_RETENTION_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two scopes may share a fingerprint; the fingerprint's newest hour is
    /// then maybe the other scope's, and the lookup must still find the
    /// record in its own hour.
    #[tokio::test]
    async fn a_record_is_found_when_its_fingerprints_newest_hour_is_another_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let mercato = Mercato::open(crate::Config::new(dir.path())).unwrap();
        let idempotency = mercato.idempotency();
        let Claim::Run(guard) = idempotency.claim("scope-a").await.unwrap() else { panic!("a new scope runs") };
        let response = Remembered {
            body_digest: "d".into(),
            status: 201,
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
            created_at: mercato.now(),
        };
        idempotency.remember(&guard, &response, None, false).await.unwrap();
        drop(guard);
        // As if a scope with the same fingerprint remembered a response an hour later.
        let later = keys::idempotency_hour(mercato.now()) + 1;
        idempotency.s.stored_scopes.insert(b"scope-a", later);
        assert!(matches!(idempotency.claim("scope-a").await.unwrap(), Claim::Replay(found) if found == response));
        mercato.shutdown().await.unwrap();
    }

    /// A body is compared with a keyed digest, or, in a record made before
    /// digests were keyed, with the unkeyed one; a keyed record never takes
    /// the unkeyed digest for its own.
    #[tokio::test]
    async fn a_body_matches_its_keyed_digest_or_a_legacy_unkeyed_one() {
        let dir = tempfile::tempdir().unwrap();
        let mercato = Mercato::open(crate::Config::new(dir.path())).unwrap();
        let idempotency = mercato.idempotency();
        let (body, other) = (&b"{\"password\":\"hunter22\"}"[..], &b"{}"[..]);
        let keyed = Remembered {
            body_digest: idempotency.body_digest(body),
            status: 201,
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
            created_at: mercato.now(),
        };
        assert!(keyed.body_digest.starts_with(KEYED_DIGEST_PREFIX));
        assert!(!keyed.body_digest.contains(&unkeyed_body_digest(body)));
        assert!(idempotency.same_body(&keyed, body) && !idempotency.same_body(&keyed, other));
        let legacy = Remembered { body_digest: unkeyed_body_digest(body), ..keyed.clone() };
        assert!(idempotency.same_body(&legacy, body) && !idempotency.same_body(&legacy, other));
        let forged = Remembered { body_digest: format!("{KEYED_DIGEST_PREFIX}{}", unkeyed_body_digest(body)), ..keyed };
        assert!(!idempotency.same_body(&forged, body));
        mercato.shutdown().await.unwrap();
    }
}
