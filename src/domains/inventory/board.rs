//! The stock board: each bucket's latest counts in atomics, published by the
//! bucket actor after every change and seeded for every bucket at open. Reads
//! that need "is it available now" (product pages, cart lines, warehouse
//! choice) read the board without a message to any actor; reads that need
//! exact counts (inventory admin) still ask the actor.
//!
//! The board also counts how often any bucket went from nothing available to
//! some, or back ([`StockBoard::availability_changes`]): a reader that keeps
//! "in stock" flags (the search projection) re-reads them only when that
//! count moved, instead of looking up every bucket on a timer.

use crate::engine::{BucketKey, InventoryCounts};
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One bucket's published counts.
#[derive(Debug)]
pub struct Gauge {
    on_hand: AtomicU64,
    held: AtomicU64,
    committed: AtomicU64,
    safety_stock: AtomicU64,
    available: AtomicU64,
    deal_held: AtomicU64,
    /// The board's count of availability changes.
    changes: Arc<AtomicU64>,
}

impl Gauge {
    fn new(changes: Arc<AtomicU64>) -> Gauge {
        Gauge {
            on_hand: AtomicU64::new(0),
            held: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            safety_stock: AtomicU64::new(0),
            available: AtomicU64::new(0),
            deal_held: AtomicU64::new(0),
            changes,
        }
    }

    pub fn publish(&self, counts: InventoryCounts) {
        self.on_hand.store(counts.on_hand, Ordering::Relaxed);
        self.held.store(counts.held, Ordering::Relaxed);
        self.committed.store(counts.committed, Ordering::Relaxed);
        self.safety_stock.store(counts.safety_stock, Ordering::Relaxed);
        self.deal_held.store(counts.deal_held, Ordering::Relaxed);
        let before = self.available.swap(counts.available, Ordering::AcqRel);
        if (before == 0) != (counts.available == 0) {
            // After the count is stored: whoever sees the new change count
            // also sees this availability.
            self.changes.fetch_add(1, Ordering::Release);
        }
    }

    pub fn available(&self) -> u64 {
        self.available.load(Ordering::Acquire)
    }

    /// The counts last published (each field read separately: a snapshot for
    /// display, not a consistent cut).
    pub fn counts(&self) -> InventoryCounts {
        InventoryCounts {
            on_hand: self.on_hand.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
            safety_stock: self.safety_stock.load(Ordering::Relaxed),
            available: self.available(),
            deal_held: self.deal_held.load(Ordering::Relaxed),
        }
    }
}

/// Every bucket's gauge.
#[derive(Debug, Default)]
pub struct StockBoard {
    gauges: DashMap<BucketKey, Arc<Gauge>, foldhash::fast::RandomState>,
    changes: Arc<AtomicU64>,
}

impl StockBoard {
    /// The gauge of `key`, created (all zero) if the bucket is new.
    pub fn gauge(&self, key: &BucketKey) -> Arc<Gauge> {
        if let Some(gauge) = self.gauges.get(key) {
            return gauge.clone();
        }
        self.gauges.entry(key.clone()).or_insert_with(|| Arc::new(Gauge::new(self.changes.clone()))).clone()
    }

    /// How many times a bucket's availability went from zero to more, or
    /// back, since the board was made. Read it before reading the
    /// availabilities it covers: a change made after the read moves it again.
    pub fn availability_changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    pub fn publish(&self, key: &BucketKey, counts: InventoryCounts) {
        self.gauge(key).publish(counts);
    }

    /// Units available now in `key`, 0 for an unknown bucket.
    pub fn available(&self, key: &BucketKey) -> u64 {
        self.gauges.get(key).map_or(0, |gauge| gauge.available())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Sku, WarehouseId};

    #[test]
    fn a_published_count_is_read_back_and_unknown_buckets_have_none() {
        let board = StockBoard::default();
        let key = BucketKey::new(Sku::parse("S").unwrap(), WarehouseId::parse("W").unwrap());
        assert_eq!(board.available(&key), 0);
        let counts = InventoryCounts { on_hand: 9, held: 2, committed: 3, safety_stock: 1, available: 3, deal_held: 1 };
        board.publish(&key, counts);
        assert_eq!(board.available(&key), 3);
        assert_eq!(board.gauge(&key).counts(), counts);
    }

    #[test]
    fn only_a_change_between_none_and_some_available_is_counted() {
        let board = StockBoard::default();
        let key = BucketKey::new(Sku::parse("S").unwrap(), WarehouseId::parse("W").unwrap());
        let available = |available| InventoryCounts {
            on_hand: 10,
            held: 0,
            committed: 0,
            safety_stock: 0,
            available,
            deal_held: 0,
        };
        board.publish(&key, available(0));
        assert_eq!(board.availability_changes(), 0);
        board.publish(&key, available(5));
        assert_eq!(board.availability_changes(), 1);
        board.publish(&key, available(3));
        board.publish(&key, available(9));
        assert_eq!(board.availability_changes(), 1);
        board.publish(&key, available(0));
        assert_eq!(board.availability_changes(), 2);
        let other = BucketKey::new(Sku::parse("T").unwrap(), WarehouseId::parse("W").unwrap());
        board.publish(&other, available(1));
        assert_eq!(board.availability_changes(), 3);
    }
}
