//! The projection runner: one thread per read model that reads the event
//! log after the model's stored offset, in batches, applies each event in
//! order, and has the model commit its offset together with the batch's
//! effects. After a crash the model resumes from the offset it committed
//! (events after it are applied again, so effects must be idempotent per
//! event or committed with the offset, never before it); on demand it is
//! rebuilt from the start of the log.
//!
//! The offset only advances over a contiguous prefix of sequence numbers:
//! the store allocates a number before the write lands, so a reader can see
//! N+1 before N. A hole is waited for `gap_timeout` (a write still landing)
//! and only then skipped (a write that failed and will never land). Before
//! any writer runs (at open), holes are skipped at once.
//!
//! The thread holds only a weak reference to what it reads: it ends when
//! the engine is dropped, and [`Runner::stop`] ends it after a final
//! catch-up and commit. Its lag (events allocated in the log and not yet
//! applied) is in [`RunnerStats`], which `/metrics` exports per projection.

use crate::engine::DomainEvent;
use crate::search::SearchError;
use crate::store::{Store, StoreError};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events read from the log per call.
const READ_BATCH: usize = 4_096;
/// Events applied before a forced commit inside one catch-up (bounds the
/// memory of what is applied but not committed).
const COMMIT_EVERY_EVENTS: usize = 50_000;

/// What a projection reads from: the store, with its event log, and
/// whatever else the projection needs live (the search index reads stock).
pub trait Log: Send + Sync + 'static {
    fn store(&self) -> &Store;
}

/// A read model fed by the event log.
pub trait Projection<L: Log + ?Sized>: Send + 'static {
    /// The sequence number of the last event applied (at start: the offset
    /// the model committed).
    fn offset(&self) -> u64;

    /// Applies event `seq`, which follows the offset, and moves past it.
    fn apply(&mut self, log: &L, seq: u64, event: &DomainEvent) -> Result<(), ProjectionError>;

    /// Moves the offset past events that will never come (a hole).
    fn skip_to(&mut self, seq: u64);

    /// Makes what was applied durable together with the offset. With
    /// `now == false` the model may keep changes that are cheap to replay
    /// for a later commit; with `now == true` everything is committed.
    /// Returns whether it committed.
    fn commit(&mut self, log: &L, now: bool) -> Result<bool, ProjectionError>;

    /// Upkeep after each round (the search index re-reads availability and
    /// compacts when quiet). `halt` is set on the last round.
    fn tick(&mut self, _log: &L, _halt: bool) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Forgets everything applied and commits offset 0, so that the next
    /// catch-up rebuilds the model from the whole log.
    fn reset(&mut self) -> Result<(), ProjectionError>;

    /// Releases what the model holds (background work), at stop.
    fn close(self: Box<Self>) -> Result<(), ProjectionError>;
}

/// Why a projection could not apply or commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// A hole in the log's sequence numbers, and since when it is seen.
#[derive(Debug, Clone, Copy)]
pub struct Gap {
    at: u64,
    since: Instant,
}

/// Applies every event after the projection's offset that follows it
/// without a hole (or after holes older than `gap_timeout`; a zero timeout
/// skips holes at once). Returns how many events were applied.
pub fn catch_up<L: Log + ?Sized, P: Projection<L> + ?Sized>(
    log: &L,
    projection: &mut P,
    gap: &mut Option<Gap>,
    gap_timeout: Duration,
) -> Result<usize, ProjectionError> {
    let mut applied = 0usize;
    let mut since_commit = 0usize;
    loop {
        let next = projection.offset() + 1;
        let events: Vec<(u64, DomainEvent)> = log.store().read_events(next, READ_BATCH)?;
        let Some(&(first, _)) = events.first() else { return Ok(applied) };
        if first != next {
            let now = Instant::now();
            match gap {
                Some(open) if open.at == next && now.duration_since(open.since) >= gap_timeout => {
                    tracing::warn!(from = next, to = first - 1, "skipping a hole in the event log");
                    projection.skip_to(first - 1);
                    *gap = None;
                    continue;
                }
                Some(open) if open.at == next => return Ok(applied),
                _ if gap_timeout.is_zero() => {
                    projection.skip_to(first - 1);
                    continue;
                }
                _ => {
                    *gap = Some(Gap { at: next, since: now });
                    return Ok(applied);
                }
            }
        }
        *gap = None;
        let mut expected = next;
        let mut stopped_at_hole = false;
        for (seq, event) in &events {
            if *seq != expected {
                stopped_at_hole = true;
                break;
            }
            projection.apply(log, *seq, event)?;
            expected = seq + 1;
            applied += 1;
            since_commit += 1;
        }
        if since_commit >= COMMIT_EVERY_EVENTS {
            projection.commit(log, true)?;
            since_commit = 0;
        }
        if events.len() < READ_BATCH && !stopped_at_hole {
            return Ok(applied);
        }
    }
}

/// How a runner polls.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// How often the log is read when nothing wakes the thread.
    pub poll_every: Duration,
    /// How long a hole in the log is waited for before it is skipped.
    pub gap_timeout: Duration,
}

/// Counters of one runner, for metrics and tests.
#[derive(Debug, Default)]
pub struct RunnerStats {
    /// The projection's offset after its last round.
    pub offset: AtomicU64,
    /// The log's newest allocated sequence number at that round.
    pub head: AtomicU64,
    pub applied: AtomicU64,
    pub commits: AtomicU64,
    pub failures: AtomicU64,
    pub rebuilds: AtomicU64,
}

impl RunnerStats {
    /// Events allocated in the log and not yet applied, as of the last round.
    pub fn lag(&self) -> u64 {
        self.head.load(Ordering::Relaxed).saturating_sub(self.offset.load(Ordering::Relaxed))
    }
}

#[derive(Default)]
struct Signals {
    stop: bool,
    rebuild: bool,
}

/// A projection's thread.
pub struct Runner {
    name: &'static str,
    control: Arc<(Mutex<Signals>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
    stats: Arc<RunnerStats>,
}

impl Runner {
    /// Starts a thread named `name` that feeds `projection` from `log`.
    pub fn start<L: Log, P: Projection<L>>(
        name: &'static str,
        log: Weak<L>,
        projection: P,
        settings: RunnerSettings,
    ) -> Result<Runner, std::io::Error> {
        let control = Arc::new((Mutex::new(Signals::default()), Condvar::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RunnerStats::default());
        stats.offset.store(projection.offset(), Ordering::Relaxed);
        let thread = {
            let (control, stopped, stats) = (control.clone(), stopped.clone(), stats.clone());
            std::thread::Builder::new().name(format!("{name}-projection")).spawn(move || {
                run(name, &log, Box::new(projection), settings, &control, &stats);
                stopped.store(true, Ordering::Release);
            })?
        };
        Ok(Runner { name, control, thread: Some(thread), stopped, stats })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn stats(&self) -> &Arc<RunnerStats> {
        &self.stats
    }

    /// Asks the thread to forget the model and rebuild it from the start of
    /// the log (it answers queries from the partial model meanwhile).
    pub fn rebuild(&self) {
        self.control.0.lock().rebuild = true;
        self.control.1.notify_all();
    }

    /// Catches up one last time, commits, and ends the thread.
    pub fn stop(mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(projection = self.name, "the projection thread panicked");
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn signal_stop(&self) {
        self.control.0.lock().stop = true;
        self.control.1.notify_all();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Never joins here: the last engine handle may be dropped on the
        // projection thread itself.
        self.signal_stop();
    }
}

/// The thread's loop: a round every `poll_every` (or when signalled).
fn run<L: Log>(
    name: &'static str,
    log: &Weak<L>,
    mut projection: Box<dyn Projection<L>>,
    settings: RunnerSettings,
    control: &(Mutex<Signals>, Condvar),
    stats: &RunnerStats,
) {
    let mut gap = None;
    loop {
        let (halt, rebuild) = {
            let mut signals = control.0.lock();
            (signals.stop, std::mem::take(&mut signals.rebuild))
        };
        let Some(log) = log.upgrade() else { break };
        let result = round(log.as_ref(), projection.as_mut(), &mut gap, settings, halt, rebuild, stats);
        if let Err(err) = result {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(projection = name, error = %err, "projection failed; retrying");
        }
        stats.offset.store(projection.offset(), Ordering::Relaxed);
        drop(log);
        if halt {
            break;
        }
        let mut signals = control.0.lock();
        if !signals.stop && !signals.rebuild {
            control.1.wait_for(&mut signals, settings.poll_every);
        }
    }
    if let Err(err) = projection.close() {
        tracing::warn!(projection = name, error = %err, "projection did not close cleanly");
    }
}

fn round<L: Log>(
    log: &L,
    projection: &mut dyn Projection<L>,
    gap: &mut Option<Gap>,
    settings: RunnerSettings,
    halt: bool,
    rebuild: bool,
    stats: &RunnerStats,
) -> Result<(), ProjectionError> {
    if rebuild {
        projection.reset()?;
        *gap = None;
        stats.rebuilds.fetch_add(1, Ordering::Relaxed);
        tracing::info!("projection rebuilding from the start of the log");
    }
    stats.head.store(log.store().event_head(), Ordering::Relaxed);
    // Holes are waited for even on the last round: actors may still write
    // (expiries) while the engine stops.
    let applied = catch_up(log, projection, gap, settings.gap_timeout)?;
    stats.applied.fetch_add(applied as u64, Ordering::Relaxed);
    projection.tick(log, halt)?;
    if projection.commit(log, halt)? {
        stats.commits.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{BucketKey, InventoryEvent, Sku, Timestamp, WarehouseId};
    use crate::store::{Batch, Durability, StoreConfig};
    use rand::{Rng, SeedableRng};

    struct TestLog {
        store: Store,
    }

    impl Log for TestLog {
        fn store(&self) -> &Store {
            &self.store
        }
    }

    fn log() -> (tempfile::TempDir, Arc<TestLog>) {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            path: dir.path().to_path_buf(),
            durability: Durability::Memory,
            cache_capacity_bytes: 1 << 20,
        };
        (dir, Arc::new(TestLog { store: Store::open(&config).unwrap() }))
    }

    /// Appends events whose values are `values`, one write each.
    fn append(log: &TestLog, values: impl IntoIterator<Item = u64>) {
        let bucket = BucketKey::new(Sku::parse("SKU-1").unwrap(), WarehouseId::parse("W-1").unwrap());
        for on_hand in values {
            let mut batch = Batch::new();
            let event = InventoryEvent::OnHandSet { on_hand };
            batch
                .event(&DomainEvent::Inventory { bucket: bucket.clone(), event, at: Timestamp::from_millis(0) })
                .unwrap();
            log.store.write(batch).unwrap();
        }
    }

    /// What a counting model has made durable: its offset with its effects.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    struct Committed {
        offset: u64,
        count: u64,
        sum: u64,
    }

    /// Counts events and sums their values; commits offset and totals
    /// together into `durable` (its "disk"), as a real model must.
    struct Counter {
        durable: Arc<Mutex<Committed>>,
        applied: Committed,
        closed: Arc<AtomicBool>,
    }

    impl Counter {
        /// Starts from what was committed (as after a crash or a restart).
        fn open(durable: &Arc<Mutex<Committed>>) -> Counter {
            let applied = *durable.lock();
            Counter { durable: durable.clone(), applied, closed: Arc::new(AtomicBool::new(false)) }
        }
    }

    impl Projection<TestLog> for Counter {
        fn offset(&self) -> u64 {
            self.applied.offset
        }

        fn apply(&mut self, _log: &TestLog, seq: u64, event: &DomainEvent) -> Result<(), ProjectionError> {
            assert_eq!(seq, self.applied.offset + 1, "events come in order, once");
            if let DomainEvent::Inventory { event: InventoryEvent::OnHandSet { on_hand }, .. } = event {
                self.applied.count += 1;
                self.applied.sum += on_hand;
            }
            self.applied.offset = seq;
            Ok(())
        }

        fn skip_to(&mut self, seq: u64) {
            self.applied.offset = self.applied.offset.max(seq);
        }

        fn commit(&mut self, _log: &TestLog, _now: bool) -> Result<bool, ProjectionError> {
            let mut durable = self.durable.lock();
            let moved = *durable != self.applied;
            *durable = self.applied;
            Ok(moved)
        }

        fn reset(&mut self) -> Result<(), ProjectionError> {
            self.applied = Committed::default();
            *self.durable.lock() = self.applied;
            Ok(())
        }

        fn close(self: Box<Self>) -> Result<(), ProjectionError> {
            self.closed.store(true, Ordering::Release);
            Ok(())
        }
    }

    #[test]
    fn crashes_between_commits_never_count_an_event_twice_or_lose_one() {
        for seed in 0..40 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let (_dir, log) = log();
            let durable = Arc::new(Mutex::new(Committed::default()));
            let mut counter = Counter::open(&durable);
            let mut expected = Committed::default();
            for _ in 0..rng.random_range(5..30) {
                let values: Vec<u64> = (0..rng.random_range(1..20)).map(|_| rng.random_range(0..1_000)).collect();
                expected.count += values.len() as u64;
                expected.sum += values.iter().sum::<u64>();
                append(&log, values);
                catch_up(log.as_ref(), &mut counter, &mut None, Duration::ZERO).unwrap();
                match rng.random_range(0..3) {
                    0 => {
                        counter.commit(&log, true).unwrap();
                    }
                    // A crash: what was applied after the last commit is gone.
                    1 => counter = Counter::open(&durable),
                    _ => {}
                }
            }
            catch_up(log.as_ref(), &mut counter, &mut None, Duration::ZERO).unwrap();
            expected.offset = log.store.event_head();
            assert_eq!(counter.applied, expected, "seed {seed}");
        }
    }

    fn wait_for(what: &str, condition: impl Fn() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_runner_follows_the_log_reports_its_lag_and_rebuilds_on_demand() {
        let (_dir, log) = log();
        append(&log, 1..=50);
        let durable = Arc::new(Mutex::new(Committed::default()));
        let counter = Counter::open(&durable);
        let closed = counter.closed.clone();
        let settings = RunnerSettings { poll_every: Duration::from_millis(5), gap_timeout: Duration::from_millis(50) };
        let runner = Runner::start("counter", Arc::downgrade(&log), counter, settings).unwrap();
        let stats = runner.stats().clone();
        wait_for("the first 50 events", || durable.lock().offset == 50);
        append(&log, 51..=100);
        wait_for("100 events", || durable.lock().offset == 100 && stats.lag() == 0);
        assert_eq!(*durable.lock(), Committed { offset: 100, count: 100, sum: 5_050 });
        assert!(stats.commits.load(Ordering::Relaxed) >= 1);

        runner.rebuild();
        wait_for("the rebuild", || stats.rebuilds.load(Ordering::Relaxed) == 1 && durable.lock().offset == 100);
        assert_eq!(*durable.lock(), Committed { offset: 100, count: 100, sum: 5_050 }, "rebuilt, not doubled");
        assert_eq!(stats.failures.load(Ordering::Relaxed), 0);

        append(&log, [7]);
        runner.stop();
        assert_eq!(durable.lock().offset, 101, "the last round catches up and commits");
        assert!(closed.load(Ordering::Acquire));
    }
}
