//! The orders index: every order's [`OrderSummary`] in memory, newest
//! first, and each customer's orders, so a list page costs the summaries it
//! looks at (at most [`ORDER_LIST_SCAN_MAX`]) and the full records it
//! shows, never a read of every order.
//!
//! The summaries are also stored (`V` keys): the order actor writes an
//! order's summary in the same batch as every change of its record, so on
//! disk they always agree. At open the index is loaded from those keys;
//! an order written by a build before them (a `v` record with no `V` key)
//! gets its summary from its record then, written back once.
//!
//! In memory, the summary of an order is replaced only by one made from at
//! least as many status changes, so replies that arrive out of order never
//! bring back an older status.

use crate::engine::order::{OrderCursor, OrderFilter, OrderRecord, OrderSummary};
use crate::engine::{CustomerId, Order, OrderId, Timestamp};
use crate::store::{keys, Batch, Keyspace};
use crate::Error;
use dashmap::DashMap;
use parking_lot::RwLock;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;

/// The most summaries one list page looks at. A page that reaches it
/// before it is full ends early, with a cursor to go on from.
pub const ORDER_LIST_SCAN_MAX: usize = 10_000;

/// Summaries written per batch when older orders get theirs at open.
const BACKFILL_BATCH: usize = 1_000;

/// A place in the newest-first order. `id: None` comes before every order
/// of its millisecond, so a time bound is a place too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Place(Reverse<u64>, Option<OrderId>);

impl Place {
    fn of(created_at: Timestamp, id: &OrderId) -> Place {
        Place(Reverse(created_at.as_millis()), Some(id.clone()))
    }

    fn at(cursor: &OrderCursor) -> Place {
        Place::of(cursor.created_at, &cursor.id)
    }
}

/// One page of a list: the orders to show, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPage {
    pub orders: Vec<OrderId>,
    pub next: Option<OrderCursor>,
}

pub(crate) struct OrderIndex {
    all: RwLock<BTreeMap<Place, OrderSummary>>,
    by_customer: DashMap<CustomerId, BTreeSet<Place>>,
}

impl OrderIndex {
    /// Loads the stored summaries and makes those older orders lack.
    pub(crate) fn open(store: &Keyspace) -> Result<OrderIndex, Error> {
        let index = OrderIndex { all: RwLock::new(BTreeMap::new()), by_customer: DashMap::new() };
        let mut known = HashSet::new();
        for (_, summary) in store.scan_prefix::<OrderSummary>(&[keys::ORDER_SUMMARY])? {
            known.insert(summary.id.clone());
            index.insert(summary);
        }
        let mut missing = Vec::new();
        store.for_each_key(&[keys::ORDER], |key| {
            if let Some(id) = keys::parse_order(key).filter(|id| !known.contains(id)) {
                missing.push(id);
            }
        })?;
        for chunk in missing.chunks(BACKFILL_BATCH) {
            let mut batch = Batch::new();
            for id in chunk {
                let Some(record) = store.get::<OrderRecord>(&keys::order(id))? else { continue };
                let summary = OrderSummary::of(&record.order);
                batch.put(keys::order_summary(summary.created_at, id), &summary)?;
                index.insert(summary);
            }
            store.write(batch)?;
        }
        if !missing.is_empty() {
            tracing::info!(orders = missing.len(), "order summaries made for orders written before them");
        }
        Ok(index)
    }

    fn insert(&self, summary: OrderSummary) {
        let place = Place::of(summary.created_at, &summary.id);
        self.by_customer.entry(summary.customer.clone()).or_default().insert(place.clone());
        self.all.write().insert(place, summary);
    }

    /// Takes in the order's current state (see the module docs).
    pub(crate) fn update(&self, order: &Order) {
        let place = Place::of(order.created_at, &order.id);
        let newer = self
            .all
            .read()
            .get(&place)
            .is_none_or(|known| usize::try_from(known.changes).is_ok_and(|changes| changes < order.history.len()));
        if newer {
            self.insert(OrderSummary::of(order));
        }
    }

    /// The orders `filter` keeps after `after`, newest first: at most
    /// `limit`, looking at no more than [`ORDER_LIST_SCAN_MAX`] summaries.
    pub(crate) fn page(&self, filter: &OrderFilter, after: Option<&OrderCursor>, limit: usize) -> IndexPage {
        let newest = filter.to.map(|to| Place(Reverse(to.as_millis()), None));
        let start = match (newest, after.map(Place::at)) {
            (Some(newest), Some(cursor)) if newest > cursor => Bound::Included(newest),
            (_, Some(cursor)) => Bound::Excluded(cursor),
            (Some(newest), None) => Bound::Included(newest),
            (None, None) => Bound::Unbounded,
        };
        let range = (start, Bound::Unbounded);
        let from = filter.from.map_or(0, Timestamp::as_millis);
        let all = self.all.read();
        match &filter.customer {
            Some(customer) => {
                // Copied out first: the customer's set is never locked
                // while `all` is (an update locks them the other way round).
                let places: Vec<Place> = match self.by_customer.get(customer) {
                    Some(set) => set.range(range).take(ORDER_LIST_SCAN_MAX + 1).cloned().collect(),
                    None => Vec::new(),
                };
                collect(places.iter().filter_map(|place| all.get(place)), filter, from, limit)
            }
            None => collect(all.range(range).map(|(_, summary)| summary), filter, from, limit),
        }
    }
}

/// Takes the matches from `summaries` (newest first) until there are
/// `limit` and one more exists, until they are older than `from`, or until
/// the scan budget is spent.
fn collect<'a>(
    summaries: impl Iterator<Item = &'a OrderSummary>,
    filter: &OrderFilter,
    from: u64,
    limit: usize,
) -> IndexPage {
    let mut orders: Vec<OrderId> = Vec::with_capacity(limit.min(128));
    let mut last_shown: Option<OrderCursor> = None;
    let mut last_scanned: Option<OrderCursor> = None;
    for (scanned, summary) in summaries.enumerate() {
        if summary.created_at.as_millis() < from {
            break;
        }
        if scanned == ORDER_LIST_SCAN_MAX {
            // Out of budget: the next page goes on after the last one looked at.
            return IndexPage { orders, next: last_scanned };
        }
        if filter.matches(summary) {
            if orders.len() == limit {
                return IndexPage { orders, next: last_shown };
            }
            orders.push(summary.id.clone());
            last_shown = Some(summary.cursor());
        }
        last_scanned = Some(summary.cursor());
    }
    IndexPage { orders, next: None }
}
