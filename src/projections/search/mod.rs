//! Product search: the tantivy index (read side) and the projection thread
//! that feeds it from the event log. Queries run on the caller's thread
//! against the index's current snapshot.

pub mod feed;

use crate::projections::runner::{catch_up, ProjectionError, Runner, RunnerSettings, RunnerStats};
use crate::search::{Location, Opened, SearchIndex, SearchRequest, SearchResults, Suggestion};
use crate::store::Durability;
use crate::{Error, Mercato};
use feed::{FeedStock, SearchProjection};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Where the index of a data directory lives.
pub fn index_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("search")
}

/// The search projection's state: the index and the runner feeding it.
pub(crate) struct State {
    index: Arc<SearchIndex>,
    runner: Mutex<Option<Runner>>,
    /// The runner's counters (kept after it stops).
    stats: Mutex<Option<Arc<RunnerStats>>>,
}

impl State {
    /// Opens (or creates) the index of `config`'s data directory; in memory
    /// mode, an index in RAM. The indexer goes to [`Search::start`].
    pub(crate) fn open(config: &crate::Config) -> Result<(State, crate::search::Indexer), Error> {
        let location = match config.durability {
            Durability::Memory => Location::Ram,
            _ => Location::Dir(index_dir(&config.data_dir)),
        };
        let (index, indexer, opened) = SearchIndex::open(&location, config.search.clone())?;
        match &opened {
            Opened::Resumed { offset, products } => tracing::info!(offset, products, "search index resumed"),
            Opened::Created { reason: Some(reason) } => tracing::warn!(%reason, "search index rebuilt"),
            Opened::Created { reason: None } => tracing::info!("search index created"),
        }
        Ok((State { index, runner: Mutex::new(None), stats: Mutex::new(None) }, indexer))
    }

    /// Takes the runner out, to stop it.
    pub(crate) fn take_runner(&self) -> Option<Runner> {
        self.runner.lock().take()
    }
}

/// Search, reached as `mercato.search()`.
#[derive(Clone, Copy)]
pub struct Search<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Search<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Search { m, s }
    }

    /// Brings the index up to the end of the log (no writer runs yet, so
    /// holes are failed writes and are skipped), commits, and starts the
    /// runner.
    pub(crate) fn start(self, indexer: crate::search::Indexer) -> Result<(), Error> {
        let feed = self.m.feed();
        let mut projection = SearchProjection::new(indexer);
        catch_up(feed.as_ref(), &mut projection, &mut None, Duration::ZERO).map_err(failure)?;
        projection.indexer().refresh_all_stock(&FeedStock(feed.as_ref()));
        if projection.indexer().has_changes() {
            projection.indexer().commit()?;
        }
        let config = &self.m.config().search;
        let settings = RunnerSettings {
            poll_every: Duration::from_millis(config.poll_every_ms),
            gap_timeout: Duration::from_millis(config.gap_timeout_ms),
        };
        let runner = Runner::start("search", Arc::downgrade(&feed), projection, settings)
            .map_err(|err| Error::Store(crate::store::StoreError::Io(err.to_string())))?;
        *self.s.stats.lock() = Some(runner.stats().clone());
        *self.s.runner.lock() = Some(runner);
        Ok(())
    }

    /// Forgets the index and rebuilds it from the whole event log, in the
    /// background (searches answer from the refilling index meanwhile).
    /// `false` when the engine is stopping.
    pub fn rebuild(self) -> bool {
        match self.s.runner.lock().as_ref() {
            Some(runner) => {
                runner.rebuild();
                true
            }
            None => false,
        }
    }

    /// The runner's counters: offset, lag, commits, failures, rebuilds.
    pub fn projection_stats(self) -> Option<Arc<RunnerStats>> {
        self.s.stats.lock().clone()
    }

    /// Searches the catalog (blocking: run it off async threads when the
    /// catalog is large).
    pub fn query(self, request: &SearchRequest) -> Result<SearchResults, Error> {
        Ok(self.s.index.search(request)?)
    }

    /// Completions of a partial query (at most `limit`, capped at 10).
    pub fn suggest(self, query: &str, limit: usize) -> Vec<Suggestion> {
        self.s.index.suggest(query, limit)
    }

    /// The search index (read side).
    pub fn index(self) -> &'a Arc<SearchIndex> {
        &self.s.index
    }

    /// Sequence number of the last event the search index reflects.
    pub fn offset(self) -> u64 {
        self.s.index.snapshot().offset
    }
}

fn failure(err: ProjectionError) -> Error {
    match err {
        ProjectionError::Store(err) => Error::Store(err),
        ProjectionError::Search(err) => Error::Search(err),
    }
}
