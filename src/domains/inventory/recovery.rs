//! State rebuilt on open, checked before the first call is served.
//!
//! Reads every bucket's counters, holds and deal stakes, restores each
//! bucket, and checks its invariants (the counts identity among them); a violation refuses to open (serving from a state that
//! oversells would be worse than not serving). Derives the in-memory indexes
//! the domain routes with: reservation id -> bucket and owner (deal claims
//! join the index when the deals domain opens), SKU -> warehouses.

use super::reservations::{Holder, ReservationIndex};
use crate::domains::inventory::board::StockBoard;
use crate::engine::{Bucket, BucketCounters, BucketKey, CustomerId, Hold, HoldStatus, ReservationId, Sku, WarehouseId};
use crate::store::{keys, Keyspace};
use crate::Error;
use dashmap::DashMap;
use std::collections::{BTreeMap, BTreeSet};

/// What was found when the data directory was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct OpenReport {
    pub buckets: u64,
    pub skus: u64,
    pub holds_active: u64,
    pub holds_settled: u64,
}

pub(super) struct Recovered {
    pub report: OpenReport,
    pub reservations: ReservationIndex,
    pub locations: DashMap<Sku, BTreeSet<WarehouseId>>,
    pub buckets_with_holds: Vec<BucketKey>,
    pub board: StockBoard,
    /// Every deal's units per bucket.
    pub stakes: Vec<(BucketKey, crate::engine::DealId, u64)>,
}

pub(super) fn recover(store: &Keyspace) -> Result<Recovered, Error> {
    let mut buckets: BTreeMap<BucketKey, (BucketCounters, Vec<(ReservationId, Hold)>)> = BTreeMap::new();
    for (raw, counters) in store.scan_prefix::<BucketCounters>(&[keys::BUCKET])? {
        let key = keys::parse_bucket(&raw).ok_or_else(|| Error::Corrupt(format!("bad bucket key {raw:?}")))?;
        buckets.entry(key).or_default().0 = counters;
    }
    for (raw, hold) in store.scan_prefix::<Hold>(&[keys::HOLD])? {
        let (key, id) = keys::parse_hold(&raw).ok_or_else(|| Error::Corrupt(format!("bad hold key {raw:?}")))?;
        buckets.entry(key).or_default().1.push((id, hold));
    }
    let mut stakes_of: BTreeMap<BucketKey, Vec<(crate::engine::DealId, u64)>> = BTreeMap::new();
    let mut stakes = Vec::new();
    for (raw, units) in store.scan_prefix::<u64>(&[keys::BUCKET_STAKE])? {
        let (key, deal) =
            keys::parse_bucket_stake(&raw).ok_or_else(|| Error::Corrupt(format!("bad deal stake key {raw:?}")))?;
        buckets.entry(key.clone()).or_default();
        stakes_of.entry(key.clone()).or_default().push((deal.clone(), units));
        stakes.push((key, deal, units));
    }
    let reservations = ReservationIndex::default();
    let locations: DashMap<Sku, BTreeSet<WarehouseId>> = DashMap::new();
    let mut buckets_with_holds = Vec::new();
    let mut report = OpenReport::default();
    let board = StockBoard::default();
    for (key, (counters, holds)) in buckets {
        let active = holds.iter().filter(|(_, hold)| hold.status == HoldStatus::Held).count();
        report.buckets += 1;
        report.holds_active += u64::try_from(active).unwrap_or(u64::MAX);
        report.holds_settled += u64::try_from(holds.len() - active).unwrap_or(u64::MAX);
        if active > 0 {
            buckets_with_holds.push(key.clone());
        }
        for (id, hold) in &holds {
            reservations.place(id.clone(), Holder::Bucket(key.clone()), None, hold.status == HoldStatus::Held);
        }
        let bucket =
            Bucket::restore(key.clone(), counters, holds).with_stakes(stakes_of.remove(&key).unwrap_or_default());
        bucket.check_invariants(None).map_err(|violation| Error::Corrupt(violation.to_string()))?;
        board.publish(&key, bucket.counts());
        locations.entry(key.sku).or_default().insert(key.warehouse);
    }
    for (raw, owner) in store.scan_prefix::<CustomerId>(&[keys::OWNER])? {
        if let Some(id) = keys::parse_owner(&raw) {
            reservations.set_owner(&id, owner);
        }
    }
    report.skus = u64::try_from(locations.len()).unwrap_or(u64::MAX);
    Ok(Recovered { report, reservations, locations, buckets_with_holds, board, stakes })
}
