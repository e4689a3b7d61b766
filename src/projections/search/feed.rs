//! The search projection: a dedicated thread that feeds the search index
//! from the event log.
//!
//! Every `poll_every_ms` it reads the events after the index's offset,
//! applies them in order and commits once for the whole batch (never one
//! commit per document), so a catalog change is searchable well within a
//! second. The offset only advances over a contiguous prefix of sequence
//! numbers: the store allocates a number before the write lands, so a reader
//! can see N+1 before N. A hole is waited for `gap_timeout_ms` (a write
//! still landing) and only then skipped (a write that failed and will never
//! land). At open, before any writer runs, holes are skipped at once.
//!
//! Availability changes without events (holds are not in the log), so every
//! [`STOCK_REFRESH`] the projection re-reads every product's availability,
//! when some bucket's availability went from none to some or back since the
//! last time (the stock board counts those changes; a catalog at rest costs
//! nothing).
//!
//! A product whose only change is its sales count is rewritten at most every
//! [`crate::search::index::SALES_COMMIT_EVERY`] (a stream of orders would
//! otherwise cost a tantivy commit per poll); anything else is committed at
//! the next poll.
//!
//! Once no document has changed for [`COMPACT_AFTER_QUIET`], the index is
//! merged into one segment in the background (see
//! [`Indexer::compact_when_quiet`]).
//!
//! The thread holds only a weak reference to the engine: it ends when the
//! engine is dropped, and [`SearchProjection::stop`] ends it after a final
//! catch-up and commit.

use crate::engine::DomainEvent;
use crate::search::{Indexer, SearchError, StockSource};
use crate::store::{Store, StoreError};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events read from the log per call.
const READ_BATCH: usize = 4_096;
/// Events applied before a commit inside one catch-up (bounds memory).
const COMMIT_EVERY_EVENTS: usize = 50_000;
/// How often availability is re-read for every product (when it changed).
pub const STOCK_REFRESH: Duration = Duration::from_secs(2);
/// A commit that only moves the offset waits this long.
const IDLE_COMMIT: Duration = Duration::from_secs(5);
/// The index is merged into one segment once no document changed for this
/// long (see [`Indexer::compact_when_quiet`]).
const COMPACT_AFTER_QUIET: Duration = Duration::from_secs(10);

/// What the projection reads: the store and live availability.
pub trait Feed: Send + Sync + 'static {
    fn store(&self) -> &Store;
    fn available(&self, sku: &str) -> u64;
    /// A count that moves whenever some SKU's availability goes from zero
    /// to more or back (see [`crate::domains::inventory::board::StockBoard::availability_changes`]).
    fn availability_changes(&self) -> u64;
}

pub(crate) struct FeedStock<'a, F: Feed>(pub(crate) &'a F);

impl<F: Feed> StockSource for FeedStock<'_, F> {
    fn available(&self, sku: &str) -> u64 {
        self.0.available(sku)
    }
}

/// A hole in the log's sequence numbers, and since when it is seen.
#[derive(Debug, Clone, Copy)]
pub struct Gap {
    at: u64,
    since: Instant,
}

/// Applies every event after the indexer's offset that follows it without
/// a hole (or after holes older than `gap_timeout`). Returns how many events
/// were applied.
pub fn catch_up(
    store: &Store,
    indexer: &mut Indexer,
    stock: &dyn StockSource,
    gap: &mut Option<Gap>,
    gap_timeout: Duration,
) -> Result<usize, CatchUpError> {
    let mut applied = 0usize;
    let mut since_commit = 0usize;
    loop {
        let next = indexer.offset() + 1;
        let events: Vec<(u64, DomainEvent)> = store.read_events(next, READ_BATCH)?;
        let Some(&(first, _)) = events.first() else { return Ok(applied) };
        if first != next {
            let now = Instant::now();
            match gap {
                Some(open) if open.at == next && now.duration_since(open.since) >= gap_timeout => {
                    tracing::warn!(from = next, to = first - 1, "skipping a hole in the event log");
                    indexer.skip_to(first - 1);
                    *gap = None;
                    continue;
                }
                Some(open) if open.at == next => return Ok(applied),
                _ if gap_timeout.is_zero() => {
                    indexer.skip_to(first - 1);
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
            indexer.apply(*seq, event, stock);
            expected = seq + 1;
            applied += 1;
            since_commit += 1;
        }
        if since_commit >= COMMIT_EVERY_EVENTS {
            indexer.commit()?;
            since_commit = 0;
        }
        if events.len() < READ_BATCH && !stopped_at_hole {
            return Ok(applied);
        }
    }
}

/// A failure while catching up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatchUpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Counters of the projection, for tests and metrics.
#[derive(Debug, Default)]
pub struct ProjectionStats {
    pub commits: AtomicU64,
    pub failures: AtomicU64,
}

/// The running projection thread.
pub struct SearchProjection {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
    pub stats: Arc<ProjectionStats>,
}

impl SearchProjection {
    /// Starts the thread over `indexer`, reading through `feed`.
    pub fn start<F: Feed>(
        feed: Weak<F>,
        mut indexer: Indexer,
        poll_every: Duration,
        gap_timeout: Duration,
    ) -> Result<SearchProjection, std::io::Error> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ProjectionStats::default());
        let thread = {
            let stop = stop.clone();
            let stopped = stopped.clone();
            let stats = stats.clone();
            std::thread::Builder::new().name("search-projection".to_owned()).spawn(move || {
                let mut gap = None;
                let mut stock_checked = Instant::now();
                // The first refresh always runs.
                let mut stock_seen: Option<u64> = None;
                loop {
                    let halt = *stop.0.lock();
                    let Some(feed) = feed.upgrade() else { break };
                    let stock = FeedStock(feed.as_ref());
                    let result = catch_up(feed.store(), &mut indexer, &stock, &mut gap, gap_timeout).and_then(|_| {
                        if stock_checked.elapsed() >= STOCK_REFRESH {
                            // Read before the availabilities it covers.
                            let changes = feed.availability_changes();
                            if stock_seen != Some(changes) {
                                indexer.refresh_all_stock(&stock);
                                stock_seen = Some(changes);
                            }
                            stock_checked = Instant::now();
                        }
                        let idle = if halt { Duration::ZERO } else { IDLE_COMMIT };
                        let committed = indexer.maybe_commit(idle)?;
                        if !halt {
                            indexer.compact_when_quiet(COMPACT_AFTER_QUIET)?;
                        }
                        Ok(committed)
                    });
                    match result {
                        Ok(true) => {
                            stats.commits.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(err) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(error = %err, "search projection failed; retrying");
                        }
                    }
                    drop(feed);
                    if halt {
                        break;
                    }
                    let mut guard = stop.0.lock();
                    if !*guard {
                        stop.1.wait_for(&mut guard, poll_every);
                    }
                }
                if let Err(err) = indexer.close() {
                    tracing::warn!(error = %err, "search index writer did not close cleanly");
                }
                stopped.store(true, Ordering::Release);
            })?
        };
        Ok(SearchProjection { stop, thread: Some(thread), stopped, stats })
    }

    /// Catches up one last time, commits, and ends the thread.
    pub fn stop(mut self) {
        self.signal();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the search projection thread panicked");
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn signal(&self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }
}

impl Drop for SearchProjection {
    fn drop(&mut self) {
        // Never joins here: the last engine handle may be dropped on the
        // projection thread itself.
        self.signal();
    }
}
