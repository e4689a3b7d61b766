//! Durable storage: sled as the write-ahead log.
//!
//! One ordered keyspace (see [`keys`]) holds the current state of every entity,
//! one record per changed piece (a hold, a cart line, a bucket's counters), and
//! an append-only event log keyed by sequence number. Every record starts with
//! a format version ([`codec`]). A [`Batch`] is applied atomically.
//!
//! Durability modes:
//! - `strict`: a write's [`Ticket`] resolves only once the write is on disk.
//!   Writers never fsync themselves: one flusher thread flushes in a loop and
//!   wakes every waiter its flush covered (group commit), so throughput grows
//!   with concurrency, and an actor goes on handling messages while earlier
//!   replies wait for the flush.
//! - `relaxed`: tickets resolve at once; sled flushes every `flush_every_ms`.
//!   A crash loses at most the writes of that window.
//! - `memory`: no disk at all (load-test target). Entity records are not
//!   kept anywhere but in the actors that own them (which therefore never
//!   passivate, see [`Store::keeps_records`]); only the event log is kept, in
//!   memory, for projections. Everything is lost when the process ends, and
//!   an actor that dies restarts empty.

pub mod codec;
mod group;
pub mod keys;
mod keyspace;
pub mod snapshot;

use crate::metrics::{Histogram, MICROS_BOUNDS, SIZE_BOUNDS};
use crossbeam_skiplist::SkipMap;
use group::{GroupCommit, PeriodicFlush};
pub use keyspace::{Keyspace, Settlement, OWNERS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How hard a write is kept before its reply goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Reply after fsync (group commit).
    Strict,
    /// Reply at once; flush every `flush_every_ms` (the loss window).
    Relaxed { flush_every_ms: u64 },
    /// No disk.
    Memory,
}

/// Default loss window of `relaxed` mode.
pub const RELAXED_FLUSH_EVERY_MS: u64 = 100;

impl FromStr for Durability {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "strict" => Ok(Durability::Strict),
            "relaxed" => Ok(Durability::Relaxed { flush_every_ms: RELAXED_FLUSH_EVERY_MS }),
            "memory" => Ok(Durability::Memory),
            other => Err(format!("unknown durability {other:?}; expected strict, relaxed or memory")),
        }
    }
}

impl Durability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Durability::Strict => "strict",
            Durability::Relaxed { .. } => "relaxed",
            Durability::Memory => "memory",
        }
    }
}

/// A storage or system failure (not a business rejection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage i/o failed: {0}")]
    Io(String),
    #[error("cannot encode record: {0}")]
    Encode(String),
    #[error("cannot decode record {key}: {reason}")]
    Decode { key: String, reason: String },
    #[error("record {key} has format version {found}; this build reads version {expected}")]
    UnsupportedVersion { key: String, found: u8, expected: u8 },
    #[error("the store is closed")]
    Closed,
    #[error("the {domain} domain does not own the key {key}")]
    NotOwned { domain: &'static str, key: String },
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        StoreError::Io(err.to_string())
    }
}

/// Proof of a write; [`Store::durable`] resolves once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Ticket(u64);

impl Ticket {
    /// A ticket that is durable already (nothing was written).
    pub const NONE: Ticket = Ticket(0);

    /// The later of two tickets: waiting for it covers both.
    pub fn max(self, other: Ticket) -> Ticket {
        Ticket(self.0.max(other.0))
    }
}

/// Writes applied together, atomically.
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    events: Vec<Vec<u8>>,
    /// Deletions another domain allowed (see [`Settlement`]).
    settled: Vec<Vec<u8>>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// A batch of one put.
    pub fn new_put<T: Serialize>(key: Vec<u8>, value: &T) -> Result<Self, StoreError> {
        let mut batch = Batch::new();
        batch.put(key, value)?;
        Ok(batch)
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StoreError> {
        self.ops.push((key, Some(codec::encode(value)?)));
        Ok(())
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Appends an event to the log; it gets the next sequence number.
    pub fn event<T: Serialize>(&mut self, event: &T) -> Result<(), StoreError> {
        self.events.push(codec::encode(event)?);
        Ok(())
    }

    /// Deletes the record `settlement` names, in this write, on behalf of
    /// the domain that owns it.
    pub fn settle(&mut self, settlement: Settlement) {
        self.settled.push(settlement.key);
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.events.is_empty() && self.settled.is_empty()
    }
}

/// Where and how to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
    pub durability: Durability,
    /// sled's page cache size.
    pub cache_capacity_bytes: u64,
}

/// Counters of the store, for metrics.
#[derive(Debug)]
pub struct StoreStats {
    pub writes: AtomicU64,
    pub flushes: AtomicU64,
    /// Calls that waited for a flush to cover their write (strict mode).
    pub durable_waits: AtomicU64,
    /// Waiters woken by one flush (the group-commit batch size).
    pub flush_batch_size: Histogram,
    pub flush_micros: Histogram,
}

impl StoreStats {
    fn new() -> Self {
        StoreStats {
            writes: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            durable_waits: AtomicU64::new(0),
            flush_batch_size: Histogram::new(SIZE_BOUNDS),
            flush_micros: Histogram::new(MICROS_BOUNDS),
        }
    }
}

/// A key and its encoded value.
pub type RawRecord = (Vec<u8>, Vec<u8>);

enum Backend {
    Sled(sled::Db),
    /// Memory mode keeps the event log only, keyed by sequence number.
    Memory(Box<SkipMap<u64, Vec<u8>>>),
}

struct Inner {
    backend: Backend,
    durability: Durability,
    group: Option<GroupCommit>,
    /// `relaxed` mode's flusher.
    periodic: Option<PeriodicFlush>,
    written: Arc<AtomicU64>,
    next_event_seq: AtomicU64,
    /// The next intent record's sequence number (see [`write_sled`]).
    next_intent: AtomicU64,
    closed: AtomicBool,
    stats: Arc<StoreStats>,
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let stats = Arc::new(StoreStats::new());
        let backend = match config.durability {
            Durability::Memory => Backend::Memory(Box::new(SkipMap::new())),
            Durability::Strict | Durability::Relaxed { .. } => {
                // Relaxed mode flushes on a thread of ours (`PeriodicFlush`).
                let db = open_sled(config)?;
                let finished = finish_intents(&db)?;
                if finished > 0 {
                    tracing::info!(writes = finished, "finished multi-key writes a crash interrupted");
                }
                Backend::Sled(db)
            }
        };
        let written = Arc::new(AtomicU64::new(0));
        let group = match (&backend, config.durability) {
            (Backend::Sled(db), Durability::Strict) => {
                Some(GroupCommit::start(db.clone(), written.clone(), stats.clone())?)
            }
            _ => None,
        };
        let periodic = match (&backend, config.durability) {
            (Backend::Sled(db), Durability::Relaxed { flush_every_ms }) => {
                Some(PeriodicFlush::start(db.clone(), Duration::from_millis(flush_every_ms.max(1)))?)
            }
            _ => None,
        };
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                durability: config.durability,
                group,
                periodic,
                written,
                next_event_seq: AtomicU64::new(1),
                next_intent: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                stats,
            }),
        };
        let last = store.last_event_seq()?;
        store.inner.next_event_seq.store(last + 1, Ordering::SeqCst);
        Ok(store)
    }

    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Whether entity records are kept (false in memory mode, where `put`s
    /// are dropped and reads find nothing: actors must keep their state).
    pub fn keeps_records(&self) -> bool {
        matches!(self.inner.backend, Backend::Sled(_))
    }

    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.inner.stats
    }

    /// Applies `batch` atomically and returns its ticket. The write is visible
    /// to readers at once; await [`Store::durable`] before acknowledging it.
    pub fn write(&self, batch: Batch) -> Result<Ticket, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if batch.is_empty() {
            return Ok(self.last_ticket());
        }
        let Batch { mut ops, events, settled } = batch;
        ops.extend(settled.into_iter().map(|key| (key, None)));
        let count = u64::try_from(events.len()).map_err(|_| StoreError::Encode("too many events".into()))?;
        let first = self.inner.next_event_seq.fetch_add(count, Ordering::SeqCst);
        match &self.inner.backend {
            Backend::Sled(db) => {
                ops.extend((first..).zip(events).map(|(seq, bytes)| (keys::event(seq), Some(bytes))));
                write_sled(db, &self.inner.next_intent, ops)?;
            }
            Backend::Memory(log) => {
                for (seq, bytes) in (first..).zip(events) {
                    log.insert(seq, bytes);
                }
            }
        }
        self.inner.stats.writes.fetch_add(1, Ordering::Relaxed);
        // Incremented only after the write is applied: a flush that starts
        // after reading this value covers the write (see group.rs).
        let generation = self.inner.written.fetch_add(1, Ordering::AcqRel) + 1;
        Ok(Ticket(generation))
    }

    /// The ticket of the latest completed write.
    pub fn last_ticket(&self) -> Ticket {
        Ticket(self.inner.written.load(Ordering::Acquire))
    }

    /// Asks for `ticket` to become durable without waiting for it: it goes
    /// with the next flush, within milliseconds (see `group.rs`). In strict
    /// mode nothing else flushes, so a write nobody waits for would
    /// otherwise stay in memory until some later write is waited for.
    pub fn flush_soon(&self, ticket: Ticket) {
        if let Some(group) = &self.inner.group {
            group.flush_soon(ticket.0);
        }
    }

    /// Resolves once the write behind `ticket` is durable (strict mode); at once
    /// in the other modes.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let Some(group) = &self.inner.group else { return Ok(()) };
        self.inner.stats.durable_waits.fetch_add(1, Ordering::Relaxed);
        match group.register(ticket.0) {
            None => Ok(()),
            Some(receiver) => receiver.await.unwrap_or(Err(StoreError::Closed)),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        let bytes = match &self.inner.backend {
            Backend::Sled(db) => db.get(key)?.map(|value| value.to_vec()),
            Backend::Memory(_) => None,
        };
        bytes.map(|bytes| codec::decode(key, &bytes)).transpose()
    }

    /// Whether a record is stored under `key` (never, in memory mode).
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(match &self.inner.backend {
            Backend::Sled(db) => db.contains_key(key)?,
            Backend::Memory(_) => false,
        })
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub fn scan_prefix<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.raw_scan(prefix)?
            .into_iter()
            .map(|(key, bytes)| {
                let value = codec::decode(&key, &bytes)?;
                Ok((key, value))
            })
            .collect()
    }

    /// Calls `visit` with every key that starts with `prefix`, in key order,
    /// without reading the records into memory.
    pub fn for_each_key(&self, prefix: &[u8], mut visit: impl FnMut(&[u8])) -> Result<(), StoreError> {
        self.keys_while(prefix, |key| {
            visit(key);
            true
        })
    }

    /// Visits the keys under `prefix` in order while `visit` answers `true`.
    pub fn keys_while(&self, prefix: &[u8], mut visit: impl FnMut(&[u8]) -> bool) -> Result<(), StoreError> {
        if let Backend::Sled(db) = &self.inner.backend {
            for key in db.scan_prefix(prefix).keys() {
                if !visit(&key?) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Events with sequence number `>= from`, at most `limit`, in order.
    pub fn read_events<T: DeserializeOwned>(&self, from: u64, limit: usize) -> Result<Vec<(u64, T)>, StoreError> {
        let start = keys::event(from);
        let end = keys::event(u64::MAX);
        let raw: Vec<RawRecord> = match &self.inner.backend {
            Backend::Sled(db) => db
                .range(start..=end)
                .take(limit)
                .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())))
                .collect::<Result<_, sled::Error>>()?,
            Backend::Memory(log) => {
                log.range(from..).take(limit).map(|entry| (keys::event(*entry.key()), entry.value().clone())).collect()
            }
        };
        raw.into_iter()
            .map(|(key, bytes)| {
                let seq = keys::parse_event(&key).ok_or_else(|| StoreError::Decode {
                    key: codec::printable(&key),
                    reason: "bad event key".to_owned(),
                })?;
                Ok((seq, codec::decode(&key, &bytes)?))
            })
            .collect()
    }

    /// Intents of multi-key writes not yet finished: 0 except while writes
    /// are under way (opening finishes the ones a crash left).
    pub fn unfinished_writes(&self) -> Result<usize, StoreError> {
        let mut count = 0;
        self.for_each_key(&[keys::INTENT], |_| count += 1)?;
        Ok(count)
    }

    /// The newest sequence number handed out to an event (its write may
    /// still be landing); 0 before the first.
    pub fn event_head(&self) -> u64 {
        self.inner.next_event_seq.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// The sequence number of the newest event, 0 if the log is empty.
    pub fn last_event_seq(&self) -> Result<u64, StoreError> {
        let last = match &self.inner.backend {
            Backend::Sled(db) => db.scan_prefix([keys::EVENT]).next_back().transpose()?.map(|(key, _)| key.to_vec()),
            Backend::Memory(log) => log.back().map(|entry| keys::event(*entry.key())),
        };
        Ok(last.and_then(|key| keys::parse_event(&key)).unwrap_or(0))
    }

    /// Flushes everything written so far to disk (a no-op in memory mode).
    pub fn flush(&self) -> Result<(), StoreError> {
        if let Backend::Sled(db) = &self.inner.backend {
            db.flush()?;
        }
        Ok(())
    }

    /// Stops the flusher after it has served every waiter, then flushes once
    /// more. Writes after this fail with [`StoreError::Closed`].
    pub fn close(&self) -> Result<(), StoreError> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(group) = &self.inner.group {
            group.stop();
        }
        if let Some(periodic) = &self.inner.periodic {
            periodic.stop();
        }
        self.flush()
    }

    /// Writes already-encoded records atomically (snapshot import).
    fn write_raw(&self, records: &[RawRecord]) -> Result<(), StoreError> {
        if let Backend::Sled(db) = &self.inner.backend {
            let mut batch = sled::Batch::default();
            for (key, value) in records {
                batch.insert(key.as_slice(), value.as_slice());
            }
            db.apply_batch(batch)?;
        }
        Ok(())
    }

    fn raw_scan(&self, prefix: &[u8]) -> Result<Vec<RawRecord>, StoreError> {
        match &self.inner.backend {
            Backend::Sled(db) => Ok(db
                .scan_prefix(prefix)
                .map(|item| item.map(|(key, value)| (key.to_vec(), value.to_vec())))
                .collect::<Result<_, sled::Error>>()?),
            Backend::Memory(_) => Ok(Vec::new()),
        }
    }
}

/// How long opening waits for the data directory's lock.
pub const LOCK_WAIT_MS: u64 = 2_000;

/// Opens sled, waiting up to [`LOCK_WAIT_MS`] for the directory's lock. A
/// store closed and dropped in this process can still be locked for a moment:
/// sled's I/O pool finishes a log write (and drops its handle on the file)
/// just after the flush that waited for it returns. So a program that closes
/// and reopens a directory (an embedding, a test) would otherwise fail now and
/// then with "could not acquire lock". A lock another process holds still
/// fails, after the wait.
fn open_sled(config: &StoreConfig) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .open();
        match opened {
            // sled 0.34 reports it as `Other`, with this message.
            Err(sled::Error::Io(err))
                if err.to_string().starts_with("could not acquire lock")
                    && started.elapsed() < Duration::from_millis(LOCK_WAIT_MS) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

/// The most keys a write applies through an intent record; a larger write
/// (a bucket's whole mailbox of holds under a stampede) is a sled batch,
/// whose fixed cost it spreads over many keys, while an intent costs a copy
/// of every key and value.
const INTENT_MAX_OPS: usize = 16;

/// One key's new value, or `None` to remove it.
type Op = (Vec<u8>, Option<Vec<u8>>);

/// Applies `ops` atomically with respect to a crash.
///
/// A single key is one sled insert. Up to [`INTENT_MAX_OPS`] keys are not a
/// `sled::Batch`, because sled writes a batch by sealing its current log buffer before and after the
/// batch's manifest (`PageCache::pin_log`), and every sealed buffer is one
/// more `pwrite` + `sync_file_range` on its I/O pool. At 4-5 multi-key writes
/// per order that was 9 disk writes and 40 thread switches per order under
/// load. Instead the whole write is first inserted as one intent record
/// (`keys::intent`), then applied key by key, then the intent is removed.
/// sled recovers a prefix of its log (it stops at the first torn message,
/// the property its own batches rely on), so after a crash either the intent
/// is missing, and so is every key it covers, or it is there and
/// [`finish_intents`] applies it again at open. Re-applying cannot undo a
/// newer write of the same key: a newer write comes after the intent's
/// removal in the log (each key has one writer at a time, its actor), so
/// recovering it means recovering the removal too.
fn write_sled(db: &sled::Db, next_intent: &AtomicU64, mut ops: Vec<Op>) -> Result<(), StoreError> {
    if ops.len() == 1 {
        if let Some(op) = ops.pop() {
            apply_op(db, op)?;
        }
        return Ok(());
    }
    if ops.len() > INTENT_MAX_OPS {
        let mut batch = sled::Batch::default();
        for (key, value) in ops {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        db.apply_batch(batch)?;
        return Ok(());
    }
    let intent = keys::intent(next_intent.fetch_add(1, Ordering::Relaxed));
    db.insert(intent.as_slice(), encode_ops(&ops)?)?;
    for op in ops {
        apply_op(db, op)?;
    }
    db.remove(intent)?;
    Ok(())
}

fn apply_op(db: &sled::Db, (key, value): Op) -> Result<(), StoreError> {
    match value {
        Some(value) => db.insert(key, value)?,
        None => db.remove(key)?,
    };
    Ok(())
}

/// An intent's value: the format version, then per op the key, a present
/// flag and the value, lengths as u32 little-endian. Written by hand rather
/// than through serde, which would encode the bytes one at a time.
fn encode_ops(ops: &[Op]) -> Result<Vec<u8>, StoreError> {
    let size: usize = ops.iter().map(|(key, value)| 9 + key.len() + value.as_ref().map_or(0, Vec::len)).sum();
    let mut bytes = Vec::with_capacity(5 + size);
    bytes.push(codec::FORMAT_VERSION);
    let length = |len: usize| u32::try_from(len).map_err(|_| StoreError::Encode("record over 4 GiB".into()));
    bytes.extend_from_slice(&length(ops.len())?.to_le_bytes());
    for (key, value) in ops {
        bytes.extend_from_slice(&length(key.len())?.to_le_bytes());
        bytes.extend_from_slice(key);
        match value {
            Some(value) => {
                bytes.push(1);
                bytes.extend_from_slice(&length(value.len())?.to_le_bytes());
                bytes.extend_from_slice(value);
            }
            None => bytes.push(0),
        }
    }
    Ok(bytes)
}

fn decode_ops(key: &[u8], bytes: &[u8]) -> Result<Vec<Op>, StoreError> {
    let corrupt = |reason: &str| StoreError::Decode { key: codec::printable(key), reason: reason.to_owned() };
    let Some((&version, mut rest)) = bytes.split_first() else { return Err(corrupt("empty record")) };
    if version != codec::FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            key: codec::printable(key),
            found: version,
            expected: codec::FORMAT_VERSION,
        });
    }
    let count = take_length(&mut rest).ok_or_else(|| corrupt("truncated intent"))?;
    let mut ops = Vec::with_capacity(count.min(rest.len()));
    for _ in 0..count {
        let op = take_op(&mut rest).ok_or_else(|| corrupt("truncated intent"))?;
        ops.push(op);
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(ops)
}

fn take_op(rest: &mut &[u8]) -> Option<Op> {
    let key_len = take_length(rest)?;
    let key = take_bytes(rest, key_len)?.to_vec();
    let present = take_bytes(rest, 1)?[0];
    let value = match present {
        0 => None,
        1 => {
            let value_len = take_length(rest)?;
            Some(take_bytes(rest, value_len)?.to_vec())
        }
        _ => return None,
    };
    Some((key, value))
}

fn take_length(rest: &mut &[u8]) -> Option<usize> {
    let raw: [u8; 4] = take_bytes(rest, 4)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(raw)).ok()
}

fn take_bytes<'a>(rest: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if rest.len() < len {
        return None;
    }
    let (taken, left) = rest.split_at(len);
    *rest = left;
    Some(taken)
}

/// Applies every intent a crash left behind (see [`write_sled`]), oldest
/// first, and removes it; flushes if there was any. Returns how many.
fn finish_intents(db: &sled::Db) -> Result<usize, StoreError> {
    let mut finished = 0;
    for item in db.scan_prefix([keys::INTENT]) {
        let (key, bytes) = item?;
        let ops = decode_ops(&key, &bytes)?;
        for op in ops {
            apply_op(db, op)?;
        }
        db.remove(key)?;
        finished += 1;
    }
    if finished > 0 {
        db.flush()?;
    }
    Ok(finished)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(group) = &self.group {
            group.stop();
        }
    }
}

#[cfg(test)]
mod tests;
