//! Group commit: one flusher thread, many waiters.
//!
//! Every completed write increments `written` (in `Store::write`, after the
//! write is applied). A waiter registers the generation of its write. The
//! flusher reads `written` as its target *before* calling `flush`, so every
//! write counted in the target was applied before the flush began and is
//! covered by it; after the flush it publishes `flushed = target` and wakes
//! every waiter at or below it. Publishing and waking happen under the same
//! lock as registering, so no waiter can slip between them and sleep forever.
//!
//! A write can also ask to be flushed without anyone waiting
//! ([`GroupCommit::flush_soon`]): it rides along with the next flush a waiter
//! causes, or, when nobody waits, is flushed [`LAZY_FLUSH_AFTER`] later, so
//! a stream of such writes costs at most one flush per that interval.

use super::{StoreError, StoreStats};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a write asked to be flushed soon waits for company when nobody
/// waits for a flush.
pub(super) const LAZY_FLUSH_AFTER: Duration = Duration::from_millis(10);

type Waiter = (u64, oneshot::Sender<Result<(), StoreError>>);

struct State {
    waiters: Vec<Waiter>,
    stopping: bool,
    /// The newest generation asked to be flushed without a waiter.
    lazy: u64,
}

struct Shared {
    flushed: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
}

pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher; `written` is the store's count of applied writes.
    pub(super) fn start(
        db: sled::Db,
        written: Arc<AtomicU64>,
        stats: Arc<StoreStats>,
    ) -> Result<GroupCommit, StoreError> {
        let shared = Arc::new(Shared {
            flushed: AtomicU64::new(0),
            state: Mutex::new(State { waiters: Vec::new(), stopping: false, lazy: 0 }),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("mercato-flusher".to_owned())
            .spawn(move || run(&db, &written, &thread_shared, &stats))
            .map_err(|err| StoreError::Io(err.to_string()))?;
        Ok(GroupCommit { shared, flusher: Mutex::new(Some(flusher)) })
    }

    /// Whether a flush covered `generation`.
    pub(super) fn is_durable(&self, generation: u64) -> bool {
        self.shared.flushed.load(Ordering::Acquire) >= generation
    }

    /// Has `generation` flushed soon, without waiting for it: with the next
    /// flush, or [`LAZY_FLUSH_AFTER`] from now when nobody waits.
    pub(super) fn flush_soon(&self, generation: u64) {
        if self.is_durable(generation) {
            return;
        }
        let mut state = self.shared.state.lock();
        if state.lazy < generation {
            state.lazy = generation;
            if state.waiters.is_empty() {
                self.shared.wake.notify_one();
            }
        }
    }

    /// `None` when `generation` is durable already; otherwise a receiver that
    /// resolves after the flush that covers it.
    pub(super) fn register(&self, generation: u64) -> Option<oneshot::Receiver<Result<(), StoreError>>> {
        if self.is_durable(generation) {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        let mut state = self.shared.state.lock();
        if self.shared.flushed.load(Ordering::Acquire) >= generation {
            return None;
        }
        if state.stopping {
            let _ = sender.send(Err(StoreError::Closed));
            return Some(receiver);
        }
        state.waiters.push((generation, sender));
        if state.waiters.len() == 1 {
            self.shared.wake.notify_one();
        }
        Some(receiver)
    }

    /// Serves the waiters already registered, then stops the flusher.
    pub(super) fn stop(&self) {
        self.shared.state.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }
}

fn run(db: &sled::Db, written: &AtomicU64, shared: &Shared, stats: &StoreStats) {
    loop {
        {
            let mut state = shared.state.lock();
            loop {
                if !state.waiters.is_empty() || state.stopping {
                    break;
                }
                if state.lazy > shared.flushed.load(Ordering::Acquire) {
                    // Only writes nobody waits for: give them company first.
                    if shared.wake.wait_for(&mut state, LAZY_FLUSH_AFTER).timed_out() {
                        break;
                    }
                    continue;
                }
                shared.wake.wait(&mut state);
            }
            // Stopping: `close` flushes once more after the flusher ends.
            if state.waiters.is_empty() && state.stopping {
                return;
            }
        }
        let target = written.load(Ordering::Acquire);
        let started = Instant::now();
        let result = db.flush().map(|_| ()).map_err(StoreError::from);
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats.flush_micros.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        let ready: Vec<Waiter> = {
            let mut state = shared.state.lock();
            if result.is_ok() {
                shared.flushed.store(target, Ordering::Release);
            }
            let covered = |generation: u64| result.is_err() || generation <= target;
            let (ready, pending): (Vec<Waiter>, Vec<Waiter>) =
                state.waiters.drain(..).partition(|(generation, _)| covered(*generation));
            state.waiters = pending;
            ready
        };
        stats.flush_batch_size.record(u64::try_from(ready.len()).unwrap_or(u64::MAX));
        if let Err(err) = &result {
            tracing::error!(error = %err, "flush failed; failing its waiters");
        }
        for (_, sender) in ready {
            let _ = sender.send(result.clone());
        }
    }
}

/// The flusher of `relaxed` mode: flushes every `every` until stopped, and
/// is joined when stopped (or dropped), so once the store is closed no
/// thread of ours holds the data directory (sled's own `flush_every_ms`
/// thread could outlive the store). sled's I/O pool still can, for a moment:
/// opening waits for that (`open_sled`).
pub(super) struct PeriodicFlush {
    stop: Arc<(Mutex<bool>, Condvar)>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl PeriodicFlush {
    pub(super) fn start(db: sled::Db, every: Duration) -> Result<PeriodicFlush, StoreError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread_stop = stop.clone();
        let flusher = std::thread::Builder::new()
            .name("mercato-periodic-flush".to_owned())
            .spawn(move || {
                let (stopped, wake) = &*thread_stop;
                let mut guard = stopped.lock();
                while !*guard {
                    wake.wait_for(&mut guard, every);
                    if *guard {
                        break;
                    }
                    drop(guard);
                    if let Err(err) = db.flush() {
                        tracing::error!(error = %err, "periodic flush failed");
                    }
                    guard = stopped.lock();
                }
            })
            .map_err(|err| StoreError::Io(err.to_string()))?;
        Ok(PeriodicFlush { stop, flusher: Mutex::new(Some(flusher)) })
    }

    /// Stops the thread and waits for it.
    pub(super) fn stop(&self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_one();
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for PeriodicFlush {
    fn drop(&mut self) {
        self.stop();
    }
}
