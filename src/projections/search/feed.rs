//! The search index as a projection on the runner
//! ([`crate::projections::runner`]): every `poll_every_ms` the runner hands
//! it the events after the index's offset, and it commits once for the
//! whole batch (never one commit per document), with the offset in the same
//! tantivy commit, so a catalog change is searchable well within a second.
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

use crate::engine::DomainEvent;
use crate::projections::runner::{Log, Projection, ProjectionError};
use crate::search::{Indexer, StockSource};
use std::time::{Duration, Instant};

/// How often availability is re-read for every product (when it changed).
pub const STOCK_REFRESH: Duration = Duration::from_secs(2);
/// A commit that only moves the offset waits this long.
const IDLE_COMMIT: Duration = Duration::from_secs(5);
/// The index is merged into one segment once no document changed for this
/// long (see [`Indexer::compact_when_quiet`]).
const COMPACT_AFTER_QUIET: Duration = Duration::from_secs(10);

/// What the search projection reads: the log and live availability.
pub trait Feed: Log {
    fn available(&self, sku: &str) -> u64;
    /// A count that moves whenever some SKU's availability goes from zero
    /// to more or back (see [`crate::domains::inventory::board::StockBoard::availability_changes`]).
    fn availability_changes(&self) -> u64;
}

pub(crate) struct FeedStock<'a, F: Feed + ?Sized>(pub(crate) &'a F);

impl<F: Feed + ?Sized> StockSource for FeedStock<'_, F> {
    fn available(&self, sku: &str) -> u64 {
        self.0.available(sku)
    }
}

/// The indexer, and when availability was last re-read.
pub struct SearchProjection {
    indexer: Indexer,
    stock_checked: Instant,
    /// The availability change count at the last refresh (`None`: the first
    /// refresh always runs).
    stock_seen: Option<u64>,
}

impl SearchProjection {
    pub fn new(indexer: Indexer) -> SearchProjection {
        SearchProjection { indexer, stock_checked: Instant::now(), stock_seen: None }
    }

    pub fn indexer(&mut self) -> &mut Indexer {
        &mut self.indexer
    }
}

impl<F: Feed> Projection<F> for SearchProjection {
    fn offset(&self) -> u64 {
        self.indexer.offset()
    }

    fn apply(&mut self, feed: &F, seq: u64, event: &DomainEvent) -> Result<(), ProjectionError> {
        self.indexer.apply(seq, event, &FeedStock(feed));
        Ok(())
    }

    fn skip_to(&mut self, seq: u64) {
        self.indexer.skip_to(seq);
    }

    fn commit(&mut self, _feed: &F, now: bool) -> Result<bool, ProjectionError> {
        let idle = if now { Duration::ZERO } else { IDLE_COMMIT };
        Ok(self.indexer.maybe_commit(idle)?)
    }

    fn tick(&mut self, feed: &F, halt: bool) -> Result<(), ProjectionError> {
        if self.stock_checked.elapsed() >= STOCK_REFRESH {
            // Read before the availabilities it covers.
            let changes = feed.availability_changes();
            if self.stock_seen != Some(changes) {
                self.indexer.refresh_all_stock(&FeedStock(feed));
                self.stock_seen = Some(changes);
            }
            self.stock_checked = Instant::now();
        }
        if !halt {
            self.indexer.compact_when_quiet(COMPACT_AFTER_QUIET)?;
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<(), ProjectionError> {
        self.indexer.reset()?;
        self.stock_seen = None;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<(), ProjectionError> {
        Ok(self.indexer.close()?)
    }
}
