//! The index: schema, open or rebuild, and the writer side.
//!
//! Invariants:
//! - `search.offset_with_commit`: the offset (last event applied) is the
//!   payload of the tantivy commit that holds the documents derived from the
//!   events up to it; nothing else records it.
//! - `search.one_doc_per_product`: a product's document is replaced (delete
//!   by id, then add) whenever its entry changes; a product keeps its slot.
//! - Readers take one [`Snapshot`] (searcher + table) per query; the table
//!   is published before the reader is reloaded, so a searcher never sees a
//!   slot the table lacks.
//! - `search.facts_follow_documents`: a snapshot's segment facts hold, for
//!   each live document of its searcher, the facts of the entry that
//!   document was written from (a changed entry is a new document), with ids
//!   from the vocab published beside them. A segment never changes, so its
//!   facts are computed once, when a reload first shows it.

use super::analysis::{main_analyzer, spell_analyzer, MAIN_ANALYZER, SPELL_ANALYZER};
use super::facets::{Facts, Vocab};
use super::suggest::Suggester;
use super::{Entry, SearchConfig, SearchError, StockSource};
use crate::engine::{DomainEvent, InventoryEvent, Product};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tantivy::index::{SegmentId, SegmentMeta};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING};
use tantivy::FutureResult;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

/// Format of the commit payload.
const PAYLOAD_FORMAT: u32 = 1;
/// The suggester is rebuilt at most this often when only counters changed.
const SUGGEST_REFRESH_COUNTERS: Duration = Duration::from_secs(10);
/// Documents whose only change is their sales count are rewritten at most
/// this long after the previous commit: a steady stream of orders would
/// otherwise cost one tantivy commit (a new segment, its fsyncs, later
/// merges) per poll for a popularity signal nobody needs faster.
pub const SALES_COMMIT_EVERY: Duration = Duration::from_millis(500);

/// A segment with more than this share of deleted documents is rewritten.
const DELETED_SHARE_MAX: f32 = 0.25;

/// tantivy's log merge policy, which also rewrites a segment whose
/// documents are mostly replaced: every change of a product (its stock,
/// rating or sales) deletes its document and adds a new one, and the dead
/// ones would otherwise stay in the posting lists every query walks.
fn merge_policy() -> tantivy::indexer::LogMergePolicy {
    let mut policy = tantivy::indexer::LogMergePolicy::default();
    policy.set_del_docs_ratio_before_merge(DELETED_SHARE_MAX);
    policy
}

/// Where the index lives.
#[derive(Debug, Clone)]
pub enum Location {
    Dir(PathBuf),
    Ram,
}

/// The fields of a product document.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub slot: Field,
    pub title: Field,
    pub brand: Field,
    pub category: Field,
    pub attributes: Field,
    pub description: Field,
    pub spell: Field,
    pub entry: Field,
}

fn schema() -> Schema {
    let mut builder = Schema::builder();
    let text = |analyzer: &str, record: IndexRecordOption| {
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(record))
    };
    builder.add_text_field("id", STRING | STORED);
    builder.add_u64_field("slot", FAST);
    builder.add_text_field("title", text(MAIN_ANALYZER, IndexRecordOption::WithFreqsAndPositions));
    builder.add_text_field("brand", text(MAIN_ANALYZER, IndexRecordOption::WithFreqs));
    builder.add_text_field("category", text(MAIN_ANALYZER, IndexRecordOption::WithFreqs));
    builder.add_text_field("attributes", text(MAIN_ANALYZER, IndexRecordOption::WithFreqs));
    builder.add_text_field("description", text(MAIN_ANALYZER, IndexRecordOption::WithFreqs));
    builder.add_text_field("spell", text(SPELL_ANALYZER, IndexRecordOption::Basic));
    builder.add_bytes_field("entry", STORED);
    builder.build()
}

fn fields(schema: &Schema) -> Result<Fields, SearchError> {
    let field = |name: &str| schema.get_field(name).map_err(|_| SearchError::Corrupt(format!("no field {name}")));
    Ok(Fields {
        id: field("id")?,
        slot: field("slot")?,
        title: field("title")?,
        brand: field("brand")?,
        category: field("category")?,
        attributes: field("attributes")?,
        description: field("description")?,
        spell: field("spell")?,
        entry: field("entry")?,
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    format: u32,
    offset: u64,
}

/// The table of entries, by slot.
pub type Table = Arc<Vec<Option<Arc<Entry>>>>;
/// The facts of one segment's documents, by document id.
pub type SegmentFacts = Arc<Vec<Facts>>;

/// What one query reads: a searcher and the table it matches.
pub struct Snapshot {
    pub searcher: Searcher,
    pub table: Table,
    pub suggester: Arc<Suggester>,
    /// Largest `units_sold` of any product (for the popularity signal).
    pub units_max: u64,
    /// Sequence number of the last event this snapshot reflects.
    pub offset: u64,
    /// Spelling candidates looked up in this snapshot's dictionary.
    pub spelling: super::spelling::CandidateCache,
    /// The ids of the table's brands and categories.
    pub vocab: Arc<Vocab>,
    /// The facts of each segment of the searcher (same order), by document id.
    pub segments: Vec<SegmentFacts>,
}

/// The read side, shared by every query.
pub struct SearchIndex {
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    pub(crate) config: SearchConfig,
    snapshot: RwLock<Arc<Snapshot>>,
}

/// How the index was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// An existing index, resuming after `offset`.
    Resumed { offset: u64, products: usize },
    /// A new, empty index (none existed, or the old one could not be read
    /// and was moved aside: `reason`); it must be fed from the start.
    Created { reason: Option<String> },
}

impl SearchIndex {
    /// Opens the index at `location`, creating it (empty, offset 0) when it
    /// is missing or cannot be read.
    pub fn open(location: &Location, config: SearchConfig) -> Result<(Arc<SearchIndex>, Indexer, Opened), SearchError> {
        match location {
            Location::Ram => {
                let index = Index::create_in_ram(schema());
                let (shared, indexer) = SearchIndex::start(index, config, 0, Vec::new())?;
                Ok((shared, indexer, Opened::Created { reason: None }))
            }
            Location::Dir(dir) => {
                if dir.join("meta.json").exists() {
                    match open_existing(dir) {
                        Ok((index, offset, entries)) => {
                            let products = entries.len();
                            let (shared, indexer) = SearchIndex::start(index, config, offset, entries)?;
                            return Ok((shared, indexer, Opened::Resumed { offset, products }));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, dir = %dir.display(), "search index unreadable; rebuilding");
                            std::fs::remove_dir_all(dir)?;
                            let index = create_dir(dir)?;
                            let (shared, indexer) = SearchIndex::start(index, config, 0, Vec::new())?;
                            return Ok((shared, indexer, Opened::Created { reason: Some(err.to_string()) }));
                        }
                    }
                }
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                let index = create_dir(dir)?;
                let (shared, indexer) = SearchIndex::start(index, config, 0, Vec::new())?;
                Ok((shared, indexer, Opened::Created { reason: None }))
            }
        }
    }

    fn start(
        index: Index,
        config: SearchConfig,
        offset: u64,
        entries: Vec<(u32, Entry)>,
    ) -> Result<(Arc<SearchIndex>, Indexer), SearchError> {
        register_analyzers(&index);
        let fields = fields(&index.schema())?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer: IndexWriter = index.writer_with_num_threads(config.writer_threads, config.writer_memory_bytes)?;
        writer.set_merge_policy(Box::new(merge_policy()));
        let mut table: Vec<Option<Arc<Entry>>> = Vec::new();
        let mut slots = HashMap::new();
        let mut sku_slots = HashMap::new();
        let mut vocab = Vocab::default();
        let mut facts = Vec::new();
        for (slot, entry) in entries {
            let position = slot as usize;
            if table.len() <= position {
                table.resize(position + 1, None);
            }
            set_facts(&mut facts, slot, vocab.facts(slot, &entry, &config));
            slots.insert(entry.product_id.clone(), slot);
            for sku in &entry.skus {
                sku_slots.insert(sku.clone(), slot);
            }
            table[position] = Some(Arc::new(entry));
        }
        let table = Arc::new(table);
        let vocab = Arc::new(vocab);
        let searcher = reader.searcher();
        let mut segment_facts = HashMap::new();
        let segments = facts_of_segments(&searcher, &facts, &mut segment_facts)?;
        let snapshot = Snapshot {
            searcher,
            suggester: Arc::new(Suggester::build(&table)),
            units_max: units_max(&table),
            table: table.clone(),
            offset,
            spelling: Default::default(),
            vocab: vocab.clone(),
            segments,
        };
        let shared = Arc::new(SearchIndex { reader, fields, config, snapshot: RwLock::new(Arc::new(snapshot)) });
        let indexer = Indexer {
            shared: shared.clone(),
            writer,
            table,
            vocab,
            facts,
            segment_facts,
            slots,
            sku_slots,
            dirty: BTreeSet::new(),
            urgent: false,
            offset,
            committed_offset: offset,
            catalog_changed: false,
            counters_changed: false,
            suggest_built_at: Instant::now(),
            committed_at: Instant::now(),
            written_at: Instant::now(),
            compacted: false,
            merging: None,
        };
        Ok((shared, indexer))
    }

    /// The current snapshot (cheap: one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// Products in the current snapshot.
    pub fn product_count(&self) -> usize {
        self.snapshot().table.iter().filter(|entry| entry.is_some()).count()
    }
}

fn register_analyzers(index: &Index) {
    index.tokenizers().register(MAIN_ANALYZER, main_analyzer());
    index.tokenizers().register(SPELL_ANALYZER, spell_analyzer());
}

fn create_dir(dir: &std::path::Path) -> Result<Index, SearchError> {
    std::fs::create_dir_all(dir)?;
    Ok(Index::create_in_dir(dir, schema())?)
}

fn units_max(table: &[Option<Arc<Entry>>]) -> u64 {
    table.iter().flatten().map(|entry| entry.units_sold).max().unwrap_or(0)
}

/// An index read back from disk: the index, its offset, its entries by slot.
type Existing = (Index, u64, Vec<(u32, Entry)>);

/// Opens an existing index and reads back its offset and entries.
fn open_existing(dir: &std::path::Path) -> Result<Existing, SearchError> {
    let index = Index::open_in_dir(dir).map_err(|err| SearchError::Corrupt(err.to_string()))?;
    register_analyzers(&index);
    let fields = fields(&index.schema())?;
    let metas = index.load_metas().map_err(|err| SearchError::Corrupt(err.to_string()))?;
    let payload = metas.payload.ok_or_else(|| SearchError::Corrupt("no commit payload".to_owned()))?;
    let payload: Payload =
        serde_json::from_str(&payload).map_err(|err| SearchError::Corrupt(format!("bad payload: {err}")))?;
    if payload.format != PAYLOAD_FORMAT {
        return Err(SearchError::Corrupt(format!("payload format {}", payload.format)));
    }
    let reader: IndexReader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(|err: tantivy::TantivyError| SearchError::Corrupt(err.to_string()))?;
    let searcher = reader.searcher();
    let mut entries = Vec::new();
    for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
        let slots = segment.fast_fields().u64("slot").map_err(|err| SearchError::Corrupt(err.to_string()))?;
        let segment_ord = u32::try_from(segment_ord).map_err(|_| SearchError::Corrupt("segments".to_owned()))?;
        for doc in segment.doc_ids_alive() {
            let stored: TantivyDocument =
                searcher.doc(DocAddress::new(segment_ord, doc)).map_err(|err| SearchError::Corrupt(err.to_string()))?;
            let bytes = stored
                .get_first(fields.entry)
                .and_then(|value| value.as_bytes())
                .ok_or_else(|| SearchError::Corrupt("document without entry".to_owned()))?;
            let slot = slots.first(doc).ok_or_else(|| SearchError::Corrupt("document without slot".to_owned()))?;
            let slot = u32::try_from(slot).map_err(|_| SearchError::Corrupt("slot out of range".to_owned()))?;
            entries.push((slot, Entry::decode(bytes)?));
        }
    }
    drop(searcher);
    drop(reader);
    Ok((index, payload.offset, entries))
}

/// The writer side: applies events, commits in batches, publishes snapshots.
/// Owned by one thread (the projection).
pub struct Indexer {
    shared: Arc<SearchIndex>,
    writer: IndexWriter,
    table: Table,
    vocab: Arc<Vocab>,
    /// The facts of each slot's entry as last written to a document.
    facts: Vec<Facts>,
    /// The facts of the searcher's segments, kept from one reload to the next.
    segment_facts: HashMap<SegmentId, SegmentFacts>,
    slots: HashMap<String, u32>,
    sku_slots: HashMap<String, u32>,
    /// Slots whose documents must be rewritten at the next commit.
    dirty: BTreeSet<u32>,
    /// Whether a dirty slot changed more than its sales count (a product
    /// upserted, its availability gone or back): committed at the next poll.
    urgent: bool,
    offset: u64,
    committed_offset: u64,
    catalog_changed: bool,
    counters_changed: bool,
    suggest_built_at: Instant,
    committed_at: Instant,
    /// When a commit last wrote documents.
    written_at: Instant,
    /// Whether the index was compacted (or found compact) since then.
    compacted: bool,
    /// A merge of every segment into one, started by [`Indexer::compact_when_quiet`].
    merging: Option<FutureResult<Option<SegmentMeta>>>,
}

impl Indexer {
    pub fn shared(&self) -> &Arc<SearchIndex> {
        &self.shared
    }

    /// Sequence number of the last event applied.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Sequence number of the last event covered by a commit.
    pub fn committed_offset(&self) -> u64 {
        self.committed_offset
    }

    /// Applies event `seq` (which must follow the offset) and moves past it.
    pub fn apply(&mut self, seq: u64, event: &DomainEvent, stock: &dyn StockSource) {
        match event {
            DomainEvent::Catalog { event: crate::engine::CatalogEvent::ProductUpserted { product }, .. } => {
                self.upsert(product, stock);
            }
            DomainEvent::Inventory { bucket, event, .. } => {
                let sku = bucket.sku.as_str();
                match event {
                    InventoryEvent::Committed { quantity, .. } => self.record_sale(sku, u64::from(*quantity)),
                    InventoryEvent::DealSold { units, .. } => self.record_sale(sku, *units),
                    _ => {}
                }
                if event.changes_counters() {
                    if let Some(&slot) = self.sku_slots.get(sku) {
                        self.refresh_stock(slot, stock);
                    }
                }
            }
            // Sales are counted from the committed holds above; order events
            // add nothing the index uses.
            DomainEvent::Order { .. } => {}
        }
        self.offset = self.offset.max(seq);
    }

    /// Moves the offset past events that will never come (a hole in the log).
    pub fn skip_to(&mut self, seq: u64) {
        self.offset = self.offset.max(seq);
    }

    /// Creates or replaces `product`'s entry, keeping its counters.
    pub fn upsert(&mut self, product: &Product, stock: &dyn StockSource) {
        let mut entry = Entry::from_product(product);
        let slot = match self.slots.get(&entry.product_id) {
            Some(&slot) => slot,
            None => {
                let slot = u32::try_from(self.table.len()).unwrap_or(u32::MAX);
                self.slots.insert(entry.product_id.clone(), slot);
                Arc::make_mut(&mut self.table).push(None);
                slot
            }
        };
        if let Some(Some(previous)) = self.table.get(slot as usize) {
            entry.units_sold = previous.units_sold;
            for sku in &previous.skus {
                if !entry.skus.contains(sku) {
                    self.sku_slots.remove(sku);
                }
            }
        }
        for sku in &entry.skus {
            self.sku_slots.insert(sku.clone(), slot);
        }
        entry.in_stock = entry.skus.iter().any(|sku| stock.available(sku) > 0);
        if let Some(place) = Arc::make_mut(&mut self.table).get_mut(slot as usize) {
            *place = Some(Arc::new(entry));
        }
        self.dirty.insert(slot);
        self.urgent = true;
        self.catalog_changed = true;
    }

    fn record_sale(&mut self, sku: &str, quantity: u64) {
        let Some(&slot) = self.sku_slots.get(sku) else { return };
        if let Some(Some(entry)) = Arc::make_mut(&mut self.table).get_mut(slot as usize) {
            let entry = Arc::make_mut(entry);
            entry.units_sold = entry.units_sold.saturating_add(quantity);
            self.dirty.insert(slot);
            self.counters_changed = true;
        }
    }

    fn refresh_stock(&mut self, slot: u32, stock: &dyn StockSource) {
        let Some(Some(current)) = self.table.get(slot as usize) else { return };
        let in_stock = current.skus.iter().any(|sku| stock.available(sku) > 0);
        if in_stock == current.in_stock {
            return;
        }
        if let Some(Some(entry)) = Arc::make_mut(&mut self.table).get_mut(slot as usize) {
            Arc::make_mut(entry).in_stock = in_stock;
            self.dirty.insert(slot);
            self.urgent = true;
        }
    }

    /// Re-reads every product's availability (holds change it without an
    /// event in the log).
    pub fn refresh_all_stock(&mut self, stock: &dyn StockSource) {
        let slots: Vec<u32> = self.slots.values().copied().collect();
        for slot in slots {
            self.refresh_stock(slot, stock);
        }
    }

    /// Whether there is anything to commit.
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || self.offset != self.committed_offset
    }

    /// Commits if a product or its availability changed; if only sales
    /// counts changed and the last commit is older than
    /// [`SALES_COMMIT_EVERY`]; or if only the offset moved and the last
    /// commit is older than `idle_commit_every` (replaying those events
    /// again after a crash changes nothing: they touched no document). The
    /// offset is only ever committed with every change before it, so a
    /// deferred sales count is replayed after a crash, never lost.
    pub fn maybe_commit(&mut self, idle_commit_every: Duration) -> Result<bool, SearchError> {
        let since = self.committed_at.elapsed();
        if self.urgent
            || (!self.dirty.is_empty() && since >= SALES_COMMIT_EVERY)
            || (self.offset != self.committed_offset && since >= idle_commit_every)
        {
            self.commit()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes the changed documents (and their facts) and the offset in one
    /// tantivy commit, then publishes a new snapshot.
    pub fn commit(&mut self) -> Result<(), SearchError> {
        let fields = self.shared.fields;
        if !self.dirty.is_empty() {
            self.written_at = Instant::now();
            self.compacted = false;
        }
        self.urgent = false;
        for slot in std::mem::take(&mut self.dirty) {
            let Some(Some(entry)) = self.table.get(slot as usize) else { continue };
            set_facts(&mut self.facts, slot, Arc::make_mut(&mut self.vocab).facts(slot, entry, &self.shared.config));
            self.writer.delete_term(Term::from_field_text(fields.id, &entry.product_id));
            self.writer.add_document(document(&fields, slot, entry)?)?;
        }
        let payload = serde_json::to_string(&Payload { format: PAYLOAD_FORMAT, offset: self.offset })
            .map_err(|err| SearchError::Index(err.to_string()))?;
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.committed_offset = self.offset;
        self.committed_at = Instant::now();
        self.publish(true)
    }

    /// Publishes the table (and, after a commit, a reloaded searcher).
    pub fn publish(&mut self, reload: bool) -> Result<(), SearchError> {
        let previous = self.shared.snapshot();
        let rebuild_suggest = self.catalog_changed
            || (self.counters_changed && self.suggest_built_at.elapsed() >= SUGGEST_REFRESH_COUNTERS);
        let suggester = if rebuild_suggest {
            self.catalog_changed = false;
            self.counters_changed = false;
            self.suggest_built_at = Instant::now();
            Arc::new(Suggester::build(&self.table))
        } else {
            previous.suggester.clone()
        };
        // The table first: a searcher must never be newer than its table.
        let staged = Snapshot {
            searcher: previous.searcher.clone(),
            table: self.table.clone(),
            suggester: suggester.clone(),
            units_max: units_max(&self.table),
            offset: self.offset,
            spelling: Default::default(),
            vocab: self.vocab.clone(),
            segments: previous.segments.clone(),
        };
        *self.shared.snapshot.write() = Arc::new(staged);
        if reload {
            self.shared.reader.reload()?;
            let searcher = self.shared.reader.searcher();
            let segments = facts_of_segments(&searcher, &self.facts, &mut self.segment_facts)?;
            let snapshot = Snapshot {
                searcher,
                table: self.table.clone(),
                suggester,
                units_max: units_max(&self.table),
                offset: self.offset,
                spelling: Default::default(),
                vocab: self.vocab.clone(),
                segments,
            };
            *self.shared.snapshot.write() = Arc::new(snapshot);
        }
        Ok(())
    }

    /// Merges the index into one segment once no document has been written
    /// for `quiet`: a catalog that stopped changing is then searched through
    /// one term dictionary per field and word, and posting lists without the
    /// documents of replaced entries (tantivy's merge policy bounds both
    /// while it changes). The merge runs on tantivy's merge thread; this
    /// starts it, and on a later call publishes its result. The commit
    /// payload (the offset) is kept by the merge. Returns whether a new
    /// snapshot was published.
    pub fn compact_when_quiet(&mut self, quiet: Duration) -> Result<bool, SearchError> {
        if let Some(merging) = self.merging.as_mut() {
            let Poll::Ready(merged) = Pin::new(merging).poll(&mut Context::from_waker(Waker::noop())) else {
                return Ok(false);
            };
            self.merging = None;
            return match merged {
                Ok(_) => {
                    self.publish(true)?;
                    Ok(true)
                }
                Err(err) => {
                    // Typically a segment was already being merged by the
                    // policy: tried again after another quiet period.
                    tracing::debug!(error = %err, "search index compaction did not run");
                    self.written_at = Instant::now();
                    self.compacted = false;
                    Ok(false)
                }
            };
        }
        if self.compacted || self.written_at.elapsed() < quiet {
            return Ok(false);
        }
        self.compacted = true;
        // The merges tantivy's policy finished since the last commit are not
        // in the snapshot yet, and a merge names the segments that exist now.
        self.publish(true)?;
        let snapshot = self.shared.snapshot();
        let readers = snapshot.searcher.segment_readers();
        if readers.len() <= 1 && readers.iter().all(|reader| reader.num_deleted_docs() == 0) {
            return Ok(false);
        }
        let ids: Vec<SegmentId> = readers.iter().map(|reader| reader.segment_id()).collect();
        self.merging = Some(self.writer.merge(&ids));
        Ok(false)
    }

    /// Forgets every product and commits an empty index at offset 0, so that
    /// the next catch-up rebuilds it from the whole log. Searches see the
    /// index refill as the log is replayed.
    pub fn reset(&mut self) -> Result<(), SearchError> {
        self.merging = None;
        self.writer.delete_all_documents()?;
        self.table = Arc::new(Vec::new());
        self.vocab = Arc::new(Vocab::default());
        self.facts.clear();
        self.slots.clear();
        self.sku_slots.clear();
        self.dirty.clear();
        self.urgent = false;
        self.offset = 0;
        self.catalog_changed = true;
        self.counters_changed = true;
        self.compacted = false;
        self.commit()
    }

    /// Waits for background merges to finish (before a clean shutdown).
    pub fn close(self) -> Result<(), SearchError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// Puts `slot`'s facts in the by-slot array, growing it when the slot is new.
fn set_facts(facts: &mut Vec<Facts>, slot: u32, slot_facts: Facts) {
    let position = slot as usize;
    if facts.len() <= position {
        facts.resize(position + 1, Facts::default());
    }
    facts[position] = slot_facts;
}

/// The facts of each segment of `searcher` by document id: kept from
/// `known` for segments seen before, read through the slot fast field from
/// `facts` (by slot, current at the last commit) for new ones. `known` is
/// left holding exactly the searcher's segments.
fn facts_of_segments(
    searcher: &Searcher,
    facts: &[Facts],
    known: &mut HashMap<SegmentId, SegmentFacts>,
) -> Result<Vec<SegmentFacts>, SearchError> {
    let mut segments = Vec::new();
    let mut kept = HashMap::new();
    for reader in searcher.segment_readers() {
        let id = reader.segment_id();
        let segment = match known.remove(&id) {
            Some(segment) => segment,
            None => {
                let slots = reader.fast_fields().u64("slot")?;
                let by_doc = (0..reader.max_doc())
                    .map(|doc| {
                        let slot = slots.first(doc).and_then(|slot| usize::try_from(slot).ok());
                        // A deleted document gets its slot's current facts, never read (queries
                        // skip deleted documents); one without a known slot (a broken document)
                        // gets the default, which keeps its place and passes no filter that asks
                        // for anything.
                        slot.and_then(|slot| facts.get(slot)).copied().unwrap_or_default()
                    })
                    .collect();
                Arc::new(by_doc)
            }
        };
        kept.insert(id, segment.clone());
        segments.push(segment);
    }
    *known = kept;
    Ok(segments)
}

fn document(fields: &Fields, slot: u32, entry: &Entry) -> Result<TantivyDocument, SearchError> {
    let mut doc = TantivyDocument::default();
    doc.add_text(fields.id, &entry.product_id);
    doc.add_u64(fields.slot, u64::from(slot));
    doc.add_text(fields.title, &entry.title);
    if let Some(brand) = &entry.brand {
        doc.add_text(fields.brand, brand);
        doc.add_text(fields.spell, brand);
    }
    let category = entry.category_text();
    doc.add_text(fields.category, &category);
    doc.add_text(fields.attributes, &entry.attributes);
    doc.add_text(fields.description, &entry.description);
    doc.add_text(fields.spell, &entry.title);
    doc.add_text(fields.spell, &category);
    doc.add_text(fields.spell, &entry.attributes);
    doc.add_bytes(fields.entry, &entry.encode()?);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SearchRequest;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn a_quiet_index_is_compacted_into_one_segment_with_the_same_results_and_offset() {
        // BM25's document frequencies count deleted documents until a merge
        // drops them, so scores move a little when the index is compacted;
        // the all-words boost would turn a near tie into another order.
        // What the merge must keep is the documents and their ranking under
        // the same statistics, which this scoring shows without that boost.
        let config = SearchConfig { all_words_boost: 0.0, ..SearchConfig::default() };
        let (index, mut indexer, _) = SearchIndex::open(&Location::Ram, config).expect("open");
        let stock = |_: &str| 1u64;
        let mut rng = StdRng::seed_from_u64(11);
        let products: Vec<Product> = (0..600).map(|n| crate::generate::product(&mut rng, n)).collect();
        // Several commits (segments), then every fifth product rewritten
        // (deleted documents, below the share at which tantivy's merge
        // policy would rewrite a segment itself).
        for (batch, chunk) in products.chunks(150).enumerate() {
            for product in chunk {
                indexer.upsert(product, &stock);
            }
            indexer.skip_to(batch as u64 + 1);
            indexer.commit().expect("commit");
        }
        for product in products.iter().step_by(5) {
            let mut changed = product.clone();
            changed.rating = Some(4.5);
            changed.review_count = 7;
            indexer.upsert(&changed, &stock);
        }
        indexer.skip_to(10);
        indexer.commit().expect("commit");
        let before = index.snapshot();
        let readers = before.searcher.segment_readers();
        assert!(readers.len() > 1 || readers.iter().any(|reader| reader.num_deleted_docs() > 0));
        let queries = ["soft", "red chair", "lamp steel", ""];
        let results = |index: &SearchIndex| -> Vec<(u64, Vec<String>)> {
            queries
                .iter()
                .map(|q| {
                    let found = index.search(&SearchRequest::text(q)).expect("search");
                    (found.total, found.hits.into_iter().map(|hit| hit.product_id).collect())
                })
                .collect()
        };
        let expected = results(&index);

        let started = Instant::now();
        while !indexer.compact_when_quiet(Duration::ZERO).expect("compact") {
            assert!(started.elapsed() < Duration::from_secs(30), "the merge did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let after = index.snapshot();
        let readers = after.searcher.segment_readers();
        assert_eq!(readers.len(), 1);
        assert_eq!(readers[0].num_deleted_docs(), 0);
        assert_eq!(readers[0].num_docs(), 600);
        assert_eq!(results(&index), expected);
        assert_eq!(indexer.committed_offset(), 10);
        // Compact already: nothing more to do until documents change.
        assert!(!indexer.compact_when_quiet(Duration::ZERO).expect("compact"));
        assert!(indexer.merging.is_none());
    }

    #[test]
    fn a_sales_count_waits_for_its_interval_a_catalog_change_does_not_and_stopping_commits_both() {
        let (index, mut indexer, _) = SearchIndex::open(&Location::Ram, SearchConfig::default()).expect("open");
        let stock = |_: &str| 1u64;
        let mut rng = StdRng::seed_from_u64(5);
        let products: Vec<Product> = (0..3).map(|n| crate::generate::product(&mut rng, n)).collect();
        for product in &products {
            indexer.upsert(product, &stock);
        }
        indexer.skip_to(1);
        let idle = Duration::from_secs(3600);
        assert!(indexer.maybe_commit(idle).expect("commit"), "new products are committed at once");
        let sold = |index: &SearchIndex| {
            let snapshot = index.snapshot();
            snapshot
                .table
                .iter()
                .flatten()
                .find(|entry| entry.product_id == products[0].id.as_str())
                .map(|e| e.units_sold)
        };

        let sku = products[0].variants[0].sku.to_string();
        indexer.record_sale(&sku, 2);
        indexer.skip_to(2);
        assert!(!indexer.maybe_commit(idle).expect("commit"), "a sale right after a commit waits");
        assert_eq!(sold(&index), Some(0));
        assert_eq!(indexer.committed_offset(), 1, "the offset never passes an unwritten sale");

        // A catalog change commits at once, the pending sale with it.
        let mut renamed = products[1].clone();
        renamed.title = "Renamed".to_owned();
        indexer.upsert(&renamed, &stock);
        indexer.skip_to(3);
        assert!(indexer.maybe_commit(idle).expect("commit"));
        assert_eq!(sold(&index), Some(2));
        assert_eq!(indexer.committed_offset(), 3);

        // A sale alone is committed once the interval has passed.
        indexer.record_sale(&sku, 1);
        indexer.skip_to(4);
        assert!(!indexer.maybe_commit(idle).expect("commit"));
        std::thread::sleep(SALES_COMMIT_EVERY);
        assert!(indexer.maybe_commit(idle).expect("commit"));
        assert_eq!(sold(&index), Some(3));

        // Stopping (idle interval zero) commits a pending sale at once.
        indexer.record_sale(&sku, 1);
        indexer.skip_to(5);
        assert!(indexer.maybe_commit(Duration::ZERO).expect("commit"));
        assert_eq!(sold(&index), Some(4));
        assert_eq!(indexer.committed_offset(), 5);
    }
}
