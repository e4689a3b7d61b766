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

    /// Keeps `summary` unless the index has one of the same order made from
    /// at least as many status changes. The two maps are never locked
    /// together.
    fn insert(&self, summary: OrderSummary) {
        let place = Place::of(summary.created_at, &summary.id);
        let customer = summary.customer.clone();
        {
            let mut all = self.all.write();
            if all.get(&place).is_some_and(|known| known.changes >= summary.changes) {
                return;
            }
            all.insert(place.clone(), summary);
        }
        self.by_customer.entry(customer).or_default().insert(place);
    }

    /// Takes in the order's current state (see the module docs).
    pub(crate) fn update(&self, order: &Order) {
        let place = Place::of(order.created_at, &order.id);
        let changes = u32::try_from(order.history.len()).unwrap_or(u32::MAX);
        let newer = self.all.read().get(&place).is_none_or(|known| known.changes < changes);
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
        match &filter.customer {
            Some(customer) => {
                // Copied out before `all` is locked: the two maps are never
                // locked together.
                let places: Vec<Place> = match self.by_customer.get(customer) {
                    Some(set) => set.range(range).take(ORDER_LIST_SCAN_MAX + 1).cloned().collect(),
                    None => Vec::new(),
                };
                let all = self.all.read();
                collect(places.iter().filter_map(|place| all.get(place)), filter, from, limit)
            }
            None => {
                let all = self.all.read();
                collect(all.range(range).map(|(_, summary)| summary), filter, from, limit)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::catalog::TaxCategory;
    use crate::engine::order::{OrderDraft, OrderLine, ShipmentLine, ShipmentPlan};
    use crate::engine::pricing::Totals;
    use crate::engine::{Currency, Money, OrderStatus, ProductId, Sku, WarehouseId};

    fn empty() -> OrderIndex {
        OrderIndex { all: RwLock::new(BTreeMap::new()), by_customer: DashMap::new() }
    }

    fn summary(n: u32, customer: &str, at: u64, status: OrderStatus) -> OrderSummary {
        OrderSummary {
            id: OrderId::parse(&format!("ord_{n:05}")).unwrap(),
            customer: CustomerId::parse(customer).unwrap(),
            status,
            created_at: Timestamp::from_millis(at),
            changes: 1,
            warehouses: Vec::new(),
            text: String::new(),
        }
    }

    /// Every page of `filter`, `limit` at a time, following the cursors.
    fn all_pages(index: &OrderIndex, filter: &OrderFilter, limit: usize) -> Vec<OrderId> {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = index.page(filter, after.as_ref(), limit);
            assert!(page.orders.len() <= limit);
            seen.extend(page.orders);
            match page.next {
                Some(next) => after = Some(next),
                None => return seen,
            }
        }
    }

    #[test]
    fn pages_show_every_kept_order_once_newest_first() {
        let index = empty();
        let mut summaries = Vec::new();
        // Several orders share a millisecond: the id orders them.
        for n in 0..40u32 {
            let customer = ["cus_a", "cus_b", "cus_c"][n as usize % 3];
            let status = if n % 4 == 0 { OrderStatus::Cancelled } else { OrderStatus::Paid };
            let made = summary(n, customer, 1_000 + u64::from(n / 3), status);
            summaries.push(made.clone());
            index.insert(made);
        }
        let at = Timestamp::from_millis;
        let filters = [
            OrderFilter::default(),
            OrderFilter { customer: CustomerId::parse("cus_b").ok(), ..OrderFilter::default() },
            OrderFilter { status: Some(OrderStatus::Cancelled), ..OrderFilter::default() },
            OrderFilter { from: Some(at(1_003)), to: Some(at(1_009)), ..OrderFilter::default() },
            OrderFilter {
                customer: CustomerId::parse("cus_a").ok(),
                to: Some(at(1_005)),
                status: Some(OrderStatus::Paid),
                ..OrderFilter::default()
            },
            OrderFilter { from: Some(at(5_000)), ..OrderFilter::default() },
        ];
        for filter in filters {
            let mut expected: Vec<&OrderSummary> = summaries.iter().filter(|s| filter.matches(s)).collect();
            expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
            let expected: Vec<OrderId> = expected.into_iter().map(|s| s.id.clone()).collect();
            for limit in [1, 2, 3, 7, 100] {
                assert_eq!(all_pages(&index, &filter, limit), expected, "{filter:?} by {limit}");
            }
        }
    }

    #[test]
    fn a_page_looks_at_a_bounded_number_of_summaries_and_says_where_to_go_on() {
        let index = empty();
        let wanted = summary(0, "cus_a", 1, OrderStatus::OnHold);
        index.insert(wanted.clone());
        for n in 1..=u32::try_from(ORDER_LIST_SCAN_MAX).unwrap() + 5 {
            index.insert(summary(n, "cus_a", 10 + u64::from(n), OrderStatus::Paid));
        }
        let held = OrderFilter { status: Some(OrderStatus::OnHold), ..OrderFilter::default() };
        let first = index.page(&held, None, 20);
        assert!(first.orders.is_empty() && first.next.is_some(), "out of budget before the match: {first:?}");
        let second = index.page(&held, first.next.as_ref(), 20);
        assert_eq!(second, IndexPage { orders: vec![wanted.id.clone()], next: None });
        let by_customer = OrderFilter { customer: Some(wanted.customer.clone()), ..held };
        assert_eq!(all_pages(&index, &by_customer, 20), [wanted.id]);
    }

    #[test]
    fn an_older_state_of_an_order_never_replaces_a_newer_one() {
        let usd = |cents| Money::new(cents, Currency::USD);
        let sku = Sku::parse("S-1").unwrap();
        let draft = OrderDraft {
            id: OrderId::parse("ord_1").unwrap(),
            customer: CustomerId::parse("cus_a").unwrap(),
            lines: vec![OrderLine {
                sku: sku.clone(),
                product_id: ProductId::parse("P-1").unwrap(),
                title: "Kettle".into(),
                quantity: 1,
                unit_price: usd(100),
                tax_category: TaxCategory::Standard,
                tax: usd(0),
            }],
            totals: Totals { subtotal: usd(100), tax: usd(0), shipping: usd(0), discount: usd(0), total: usd(100) },
            authorization: None,
            gift_card: None,
            shipments: vec![ShipmentPlan {
                warehouse: WarehouseId::parse("W-1").unwrap(),
                lines: vec![ShipmentLine { sku, quantity: 1 }],
            }],
        };
        let (placed, _) = Order::place(draft, Timestamp::from_millis(5)).unwrap();
        let mut held = placed.clone();
        held.hold(Timestamp::from_millis(6)).unwrap();
        let index = empty();
        index.update(&held);
        index.update(&placed);
        let on_hold = OrderFilter { status: Some(OrderStatus::OnHold), ..OrderFilter::default() };
        assert_eq!(index.page(&on_hold, None, 10).orders, [held.id.clone()]);
        let mut paid = held.clone();
        paid.mark_paid(Timestamp::from_millis(7)).unwrap();
        index.update(&paid);
        assert!(index.page(&on_hold, None, 10).orders.is_empty());
        assert_eq!(index.by_customer.get(&paid.customer).map(|set| set.len()), Some(1));
    }
}
