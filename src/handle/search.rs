//! Search through the handle: queries run on the caller's thread against
//! the index's current snapshot; the projection thread keeps it current.

use super::{Error, Inner, Mercato};
use crate::actors::search::{catch_up, Feed, SearchProjection};
use crate::engine::Sku;
use crate::search::{Location, Opened, SearchIndex, SearchRequest, SearchResults, StockSource, Suggestion};
use crate::store::{Durability, Store};
use std::sync::Arc;
use std::time::Duration;

/// Where the index of a data directory lives.
pub fn index_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("search")
}

/// Opens (or creates) the index of `config`'s data directory; in memory
/// mode, an index in RAM.
pub(super) fn open_index(
    config: &super::Config,
    _store: &Store,
) -> Result<(Arc<SearchIndex>, crate::search::Indexer), Error> {
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
    Ok((index, indexer))
}

impl Feed for Inner {
    fn store(&self) -> &Store {
        &self.env.store
    }

    fn available(&self, sku: &str) -> u64 {
        let Ok(sku) = Sku::parse(sku) else { return 0 };
        let board = &self.env.board;
        self.locations.get(&sku).map_or(0, |warehouses| {
            warehouses
                .iter()
                .map(|warehouse| board.available(&crate::engine::BucketKey::new(sku.clone(), warehouse.clone())))
                .sum()
        })
    }

    fn availability_changes(&self) -> u64 {
        self.env.board.availability_changes()
    }
}

struct InnerStock<'a>(&'a Inner);

impl StockSource for InnerStock<'_> {
    fn available(&self, sku: &str) -> u64 {
        Feed::available(self.0, sku)
    }
}

impl Mercato {
    /// Brings the index up to the end of the log (no writer runs yet, so
    /// holes are failed writes and are skipped), commits, and starts the
    /// projection thread.
    pub(super) fn start_search(&self, mut indexer: crate::search::Indexer) -> Result<(), Error> {
        let inner = self.inner.as_ref();
        let stock = InnerStock(inner);
        let mut gap = None;
        catch_up(&inner.env.store, &mut indexer, &stock, &mut gap, Duration::ZERO).map_err(search_failure)?;
        indexer.refresh_all_stock(&stock);
        if indexer.has_changes() {
            indexer.commit()?;
        }
        let config = &inner.config.search;
        let projection = SearchProjection::start(
            Arc::downgrade(&self.inner),
            indexer,
            Duration::from_millis(config.poll_every_ms),
            Duration::from_millis(config.gap_timeout_ms),
        )
        .map_err(|err| Error::Store(crate::store::StoreError::Io(err.to_string())))?;
        *inner.projection.lock() = Some(projection);
        Ok(())
    }

    /// Searches the catalog (blocking: run it off async threads when the
    /// catalog is large).
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults, Error> {
        Ok(self.inner.search.search(request)?)
    }

    /// Completions of a partial query (at most `limit`, capped at 10).
    pub fn suggest(&self, query: &str, limit: usize) -> Vec<Suggestion> {
        self.inner.search.suggest(query, limit)
    }

    /// The search index (read side).
    pub fn search_index(&self) -> &Arc<SearchIndex> {
        &self.inner.search
    }

    /// Sequence number of the last event the search index reflects.
    pub fn search_offset(&self) -> u64 {
        self.inner.search.snapshot().offset
    }
}

fn search_failure(err: crate::actors::search::CatchUpError) -> Error {
    match err {
        crate::actors::search::CatchUpError::Store(err) => Error::Store(err),
        crate::actors::search::CatchUpError::Search(err) => Error::Search(err),
    }
}
