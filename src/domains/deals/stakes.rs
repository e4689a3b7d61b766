//! Where a deal's units are: in the SKU's buckets, as deal-held units (the
//! inventory domain's counts), from the deal's creation until they are sold
//! or go back to stock.
//!
//! The deal decides, the buckets count. A deal of this kind has a `D`
//! record (the buckets it took its units from, written with the deal). The
//! deals domain keeps, per deal, the units it holds in each bucket (its
//! stakes, rebuilt at open from the buckets' `S` records and the changes
//! still pending) and decides which bucket gives or takes units: a sold
//! claim's units (the order's warehouse first, recorded per claim in `Q` so
//! that shipping and a cancellation find them), unsold units at the end
//! (back to the buckets that still hold them for the deal, which are the
//! ones they came from). Each decision is written as `P` records, one per
//! bucket, in one write with the claim's sale record (or with the deletion
//! of the shard's return record); each bucket deletes its `P` record in the
//! same write as its count change, and makes the change only while the
//! record exists: every change happens exactly once, whatever crashes.
//!
//! Claims need no bucket message: the units are already held for the deal.
//!
//! Deals of the older kind (no `D` record: their units were withdrawn from
//! `on_hand` by builds before this one) keep their old path: their sold
//! claims ship nothing from a bucket and their unsold units come back as a
//! restock.
//!
//! At open, the units in the buckets must be what the deal's shards say it
//! still has ([`check_stakes`], `deal.units_in_buckets`).

use super::shard::DealRecord;
use super::Deals;
use crate::domains::inventory::DealUnitsOp;
use crate::engine::{BucketKey, DealId, HoldStatus, ReservationId, Sku, WarehouseId};
use crate::store::{keys, Batch, Keyspace};
use crate::Error;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The buckets a deal took its units from, and how many each gave (`D`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealSources {
    pub taken: Vec<(WarehouseId, u64)>,
}

/// Where a sold claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaleState {
    /// Committed in its buckets.
    Sold,
    /// Left the buckets.
    Shipped,
    /// Came back to the deal (the order was cancelled before shipping).
    Returned,
}

/// Which buckets a sold claim's units were sold from (`Q`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimSale {
    pub deal: DealId,
    pub parts: Vec<(WarehouseId, u64)>,
    pub state: SaleState,
}

/// A change of a deal's units in one bucket still to be made (`P`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeOp {
    pub warehouse: WarehouseId,
    pub op: DealUnitsOp,
}

/// A deal's units per warehouse, as the deal decided them.
pub(crate) type Stakes = Arc<parking_lot::Mutex<BTreeMap<WarehouseId, u64>>>;

/// What the deals domain knows about the units of its deals in buckets.
#[derive(Default)]
pub(crate) struct Ledger {
    /// Per deal of the deal-held kind: its units per warehouse (with the
    /// pending changes already counted).
    pub stakes: DashMap<DealId, Stakes, foldhash::fast::RandomState>,
    /// Per sold claim of such a deal: where it was sold from.
    pub sales: DashMap<ReservationId, ClaimSale, foldhash::fast::RandomState>,
    /// Work found at open, done once by the background task: stakes of
    /// deals that do not exist (a creation a crash interrupted), claims
    /// sold without their sale recorded, claims given back whose units
    /// are still sold in their buckets.
    pub startup: parking_lot::Mutex<Option<StartupWork>>,
}

#[derive(Default)]
pub(crate) struct StartupWork {
    pub orphans: Vec<(BucketKey, DealId, u64)>,
    pub to_sell: Vec<(ReservationId, DealId, u32)>,
    pub to_unsell: Vec<ReservationId>,
}

/// Takes `units` from `stakes`: `prefer` first, then the warehouses holding
/// the most; `None` when they hold too few.
fn allocate(
    stakes: &BTreeMap<WarehouseId, u64>,
    units: u64,
    prefer: Option<&WarehouseId>,
) -> Option<Vec<(WarehouseId, u64)>> {
    if stakes.values().sum::<u64>() < units {
        return None;
    }
    let mut order: Vec<(&WarehouseId, u64)> = stakes.iter().map(|(w, u)| (w, *u)).collect();
    order.sort_by_key(|(warehouse, held)| (Some(*warehouse) != prefer, std::cmp::Reverse(*held)));
    let mut missing = units;
    let mut parts = Vec::new();
    for (warehouse, held) in order {
        if missing == 0 {
            break;
        }
        let take = held.min(missing);
        if take > 0 {
            parts.push((warehouse.clone(), take));
            missing -= take;
        }
    }
    Some(parts)
}

fn adjust(stakes: &mut BTreeMap<WarehouseId, u64>, parts: &[(WarehouseId, u64)], grow: bool) {
    for (warehouse, units) in parts {
        let held = stakes.entry(warehouse.clone()).or_default();
        *held = if grow { held.saturating_add(*units) } else { held.saturating_sub(*units) };
        if *held == 0 {
            stakes.remove(warehouse);
        }
    }
}

/// A pending bucket change: its record's key, its warehouse, the change.
type Pending = (Vec<u8>, WarehouseId, DealUnitsOp);

impl<'a> Deals<'a> {
    /// The stakes of `deal` if it is of the deal-held kind.
    pub(crate) fn stakes_of(self, deal: &DealId) -> Option<Stakes> {
        self.s.ledger.stakes.get(deal).map(|entry| entry.value().clone())
    }

    /// The warehouses holding units of `deal` now (empty for a deal of the
    /// older kind): where its sold units can ship from.
    pub(crate) fn warehouses_of(self, deal: &DealId) -> Vec<WarehouseId> {
        self.stakes_of(deal).map(|stakes| stakes.lock().keys().cloned().collect()).unwrap_or_default()
    }

    /// Adds one `P` record per part to `batch`.
    fn pend(
        self,
        batch: &mut Batch,
        deal: &DealId,
        parts: &[(WarehouseId, u64)],
        op: fn(u64) -> DealUnitsOp,
    ) -> Result<Vec<Pending>, Error> {
        let mut pending = Vec::with_capacity(parts.len());
        for (warehouse, units) in parts {
            let key = keys::stake_op(deal, self.m.source().u128());
            let change = op(*units);
            batch.put(key.clone(), &StakeOp { warehouse: warehouse.clone(), op: change })?;
            pending.push((key, warehouse.clone(), change));
        }
        Ok(pending)
    }

    /// Makes the pending changes in their buckets (each exactly once). A
    /// failure is logged and left pending: the background task retries.
    async fn settle(self, deal: &DealId, sku: &Sku, pending: Vec<Pending>) -> Result<(), Error> {
        let inventory = self.m.inventory();
        let mut first_error = None;
        for (key, warehouse, op) in pending {
            let settles = self.s.store.settlement(key)?;
            let bucket = BucketKey::new(sku.clone(), warehouse);
            if let Err(err) = inventory.deal_units(&bucket, deal, op, Some(settles)).await {
                tracing::error!(deal = %deal, bucket = %bucket, op = ?op, error = %err, "cannot change a deal's units");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes the deal's units from the SKU's buckets, most available first;
    /// gives back what was taken if a race leaves too few. A crash before
    /// the deal is written leaves stakes of no deal: given back at the next
    /// open.
    pub(super) async fn hold_stock(
        self,
        deal: &DealId,
        sku: &Sku,
        wanted: u64,
    ) -> Result<Vec<(WarehouseId, u64)>, Error> {
        let inventory = self.m.inventory();
        let mut taken: Vec<(WarehouseId, u64)> = Vec::new();
        let mut missing = wanted;
        for (available, bucket) in inventory.ranked(sku) {
            let units = available.min(missing);
            if units == 0 {
                continue;
            }
            if inventory.deal_units(&bucket, deal, DealUnitsOp::Hold(units), None).await.is_ok() {
                taken.push((bucket.warehouse, units));
                missing -= units;
            }
        }
        if missing == 0 {
            return Ok(taken);
        }
        self.give_back_taken(deal, sku, &taken).await;
        Err(crate::engine::InventoryError::InsufficientStock { requested: wanted, available: wanted - missing }.into())
    }

    /// Gives back units a creation took and could not use.
    pub(super) async fn give_back_taken(self, deal: &DealId, sku: &Sku, taken: &[(WarehouseId, u64)]) {
        for (warehouse, units) in taken {
            let bucket = BucketKey::new(sku.clone(), warehouse.clone());
            if let Err(err) = self.m.inventory().deal_units(&bucket, deal, DealUnitsOp::Release(*units), None).await {
                tracing::error!(deal = %deal, bucket = %bucket, error = %err, "cannot give back a failed deal's units");
            }
        }
    }

    /// Records that claim `id` of `deal` sold `quantity` units and moves
    /// them from deal-held to committed in their buckets (`prefer`'s first).
    /// Idempotent; nothing for a deal of the older kind.
    pub(crate) async fn sell(
        self,
        id: &ReservationId,
        deal: &DealId,
        quantity: u32,
        prefer: Option<&WarehouseId>,
    ) -> Result<(), Error> {
        let Some(stakes) = self.stakes_of(deal) else { return Ok(()) };
        let record = self.deal_record(deal)?;
        let pending = {
            let mut stakes = stakes.lock();
            if self.s.ledger.sales.contains_key(id) {
                return Ok(());
            }
            let parts = allocate(&stakes, u64::from(quantity), prefer).ok_or_else(|| {
                Error::Corrupt(format!("deal {deal} holds fewer than the {quantity} units claim {id} bought"))
            })?;
            let sale = ClaimSale { deal: deal.clone(), parts, state: SaleState::Sold };
            let mut batch = Batch::new_put(keys::claim_sale(id), &sale)?;
            let pending = self.pend(&mut batch, deal, &sale.parts, DealUnitsOp::Sell)?;
            self.s.store.write(batch)?;
            adjust(&mut stakes, &sale.parts, false);
            self.s.ledger.sales.insert(id.clone(), sale);
            pending
        };
        self.settle(deal, &record.terms.sku, pending).await
    }

    /// Moves a sold claim to `to` (shipped, or back to the deal), once:
    /// its units leave their buckets, or go back to deal-held there.
    async fn settle_sale(self, id: &ReservationId, to: SaleState) -> Result<(), Error> {
        let Some(deal) = self.s.ledger.sales.get(id).map(|sale| sale.deal.clone()) else { return Ok(()) };
        let Some(stakes) = self.stakes_of(&deal) else { return Ok(()) };
        let record = self.deal_record(&deal)?;
        let pending = {
            let mut stakes = stakes.lock();
            let Some(mut sale) = self.s.ledger.sales.get(id).map(|sale| sale.clone()) else { return Ok(()) };
            if sale.state != SaleState::Sold {
                return Ok(());
            }
            sale.state = to;
            let mut batch = Batch::new_put(keys::claim_sale(id), &sale)?;
            let op = if to == SaleState::Returned { DealUnitsOp::Unsell } else { DealUnitsOp::Ship };
            let pending = self.pend(&mut batch, &deal, &sale.parts, op)?;
            self.s.store.write(batch)?;
            if to == SaleState::Returned {
                adjust(&mut stakes, &sale.parts, true);
            }
            self.s.ledger.sales.insert(id.clone(), sale);
            pending
        };
        self.settle(&deal, &record.terms.sku, pending).await
    }

    /// Claim `id`'s units ship: they leave the buckets they were sold from
    /// (on_hand and committed drop there). Once; nothing for a claim of a
    /// deal of the older kind. A sold claim whose sale a crash left
    /// unrecorded is recorded first.
    pub(crate) async fn ship_claim(self, id: &ReservationId, prefer: Option<&WarehouseId>) -> Result<(), Error> {
        if !self.s.ledger.sales.contains_key(id) {
            if let Some((claim, terms)) = self.claim_command(id, super::ShardCommand::Read { id: id.clone() }).await? {
                if claim.status == HoldStatus::Committed {
                    self.sell(id, &terms.id, claim.quantity, prefer).await?;
                }
            }
        }
        self.settle_sale(id, SaleState::Shipped).await
    }

    /// Claim `id`, given back on its shard, is no longer sold in its
    /// buckets: its units are deal-held again (once).
    pub(crate) async fn unsell(self, id: &ReservationId) -> Result<(), Error> {
        self.settle_sale(id, SaleState::Returned).await
    }

    /// The unsold units of a shard's return record `raw` (`units` of `sku`)
    /// go back to stock: for a deal-held deal, out of its stakes (the
    /// buckets they came from), the record deleted in the same write as the
    /// pending changes; for a deal of the older kind, a restock.
    pub(super) async fn take_back(self, sku: &Sku, units: u32, raw: Vec<u8>) -> Result<(), Error> {
        let deal = keys::parse_deal_return(&raw);
        let Some((deal, stakes)) = deal.and_then(|deal| self.stakes_of(&deal).map(|stakes| (deal, stakes))) else {
            return self.restock_legacy(sku, units, raw).await;
        };
        let pending = {
            let mut stakes = stakes.lock();
            if self.s.store.keeps_records() && !self.s.store.contains(&raw)? {
                return Ok(()); // Taken back already.
            }
            let Some(parts) = allocate(&stakes, u64::from(units), None) else {
                // Units given back on a shard whose sale is not undone yet
                // in the buckets: the next pass takes them.
                tracing::warn!(deal = %deal, units, "unsold units wait for their buckets");
                return Ok(());
            };
            let mut batch = Batch::new();
            batch.delete(raw);
            let pending = self.pend(&mut batch, &deal, &parts, DealUnitsOp::Release)?;
            self.s.store.write(batch)?;
            adjust(&mut stakes, &parts, false);
            pending
        };
        self.settle(&deal, sku, pending).await
    }

    /// Retries every pending bucket change (each is made once at most).
    pub(super) async fn finish_stake_ops(self) -> Result<(), Error> {
        for (raw, op) in self.s.store.scan_prefix::<StakeOp>(&[keys::STAKE_OP])? {
            let Some(deal) = keys::parse_stake_op(&raw) else { continue };
            let Ok(record) = self.deal_record(&deal) else { continue };
            self.settle(&deal, &record.terms.sku, vec![(raw, op.warehouse, op.op)]).await?;
        }
        Ok(())
    }

    /// The work found at open (see [`Ledger::startup`]), once.
    pub(super) async fn finish_startup_work(self) -> Result<(), Error> {
        let Some(work) = self.s.ledger.startup.lock().take() else { return Ok(()) };
        for (bucket, deal, units) in &work.orphans {
            tracing::info!(deal = %deal, bucket = %bucket, units, "giving back the units of a deal never created");
            self.m.inventory().deal_units(bucket, deal, DealUnitsOp::Release(*units), None).await?;
        }
        self.finish_stake_ops().await?;
        for (id, deal, quantity) in &work.to_sell {
            // Still sold? A saga compensated since the open gives it back instead.
            let read = self.claim_command(id, super::ShardCommand::Read { id: id.clone() }).await?;
            if read.is_some_and(|(claim, _)| claim.status == HoldStatus::Committed) {
                self.sell(id, deal, *quantity, None).await?;
            }
        }
        for id in &work.to_unsell {
            self.unsell(id).await?;
        }
        Ok(())
    }
}

/// What [`open_ledger`] reads besides the deals' own records.
pub(super) struct Found<'a> {
    pub deals: &'a DashMap<DealId, Arc<DealRecord>, foldhash::fast::RandomState>,
    /// Every claim: its deal, id, status and quantity.
    pub claims: &'a [(DealId, ReservationId, HoldStatus, u32)],
    /// The units each deal holds per bucket (the buckets' records).
    pub stakes: Vec<(BucketKey, DealId, u64)>,
}

/// Rebuilds the ledger at open: the stakes of every deal-held deal (the
/// buckets' counts with the pending changes counted), the sales, the work
/// a crash left; then checks `deal.units_in_buckets` ([`check_stakes`]).
pub(super) fn open_ledger(store: &Keyspace, mut found: Found<'_>) -> Result<Ledger, Error> {
    let ledger = Ledger::default();
    for (raw, _) in store.scan_prefix::<DealSources>(&[keys::DEAL_SOURCES])? {
        if let Some(deal) = keys::parse_deal_sources(&raw) {
            ledger.stakes.insert(deal, Stakes::default());
        }
    }
    let mut work = StartupWork::default();
    for (bucket, deal, units) in std::mem::take(&mut found.stakes) {
        match ledger.stakes.get(&deal) {
            Some(stakes) if found.deals.contains_key(&deal) => {
                *stakes.lock().entry(bucket.warehouse).or_default() += units;
            }
            _ => work.orphans.push((bucket, deal, units)),
        }
    }
    for (raw, op) in store.scan_prefix::<StakeOp>(&[keys::STAKE_OP])? {
        let Some(stakes) = keys::parse_stake_op(&raw).and_then(|deal| ledger.stakes.get(&deal).map(|s| s.clone()))
        else {
            continue;
        };
        let mut stakes = stakes.lock();
        match op.op {
            DealUnitsOp::Sell(units) | DealUnitsOp::Release(units) => {
                adjust(&mut stakes, &[(op.warehouse, units)], false);
            }
            DealUnitsOp::Unsell(units) | DealUnitsOp::Hold(units) => {
                adjust(&mut stakes, &[(op.warehouse, units)], true);
            }
            DealUnitsOp::Ship(_) => {}
        }
    }
    for (raw, sale) in store.scan_prefix::<ClaimSale>(&[keys::CLAIM_SALE])? {
        if let Some(id) = keys::parse_claim_sale(&raw) {
            ledger.sales.insert(id, sale);
        }
    }
    for (deal, id, status, quantity) in found.claims {
        if !ledger.stakes.contains_key(deal) {
            continue;
        }
        let sale = ledger.sales.get(id).map(|sale| sale.state);
        match (status, sale) {
            (HoldStatus::Committed, None) => work.to_sell.push((id.clone(), deal.clone(), *quantity)),
            (HoldStatus::Released | HoldStatus::Expired, Some(SaleState::Sold)) => work.to_unsell.push(id.clone()),
            _ => {}
        }
    }
    check_stakes(store, &ledger, &found, &work)?;
    *ledger.startup.lock() = Some(work);
    Ok(ledger)
}

/// `deal.units_in_buckets`: for every deal-held deal, the units its stakes
/// hold (pending changes counted) are the units its shards still have
/// (free or in held claims, or given by one shard and not yet taken by
/// another), plus the sold claims not yet recorded as sold
/// and the unsold units on their way back, less the claims given back whose
/// units are still sold in their buckets.
fn check_stakes(store: &Keyspace, ledger: &Ledger, found: &Found<'_>, work: &StartupWork) -> Result<(), Error> {
    let mut owed: HashMap<DealId, i128> = HashMap::new();
    for entry in found.deals.iter() {
        if ledger.stakes.contains_key(entry.key()) {
            owed.insert(entry.key().clone(), i128::from(entry.value().terms.quantity));
        }
    }
    for (raw, moved) in store.scan_prefix::<i64>(&[keys::DEAL_MOVED])? {
        if let Some(units) = keys::parse_deal_moved(&raw).and_then(|(deal, _)| owed.get_mut(&deal)) {
            *units += i128::from(moved);
        }
    }
    for (raw, given) in store.scan_prefix::<u32>(&[keys::DEAL_TRANSFER])? {
        if let Some(units) = keys::parse_deal_transfer(&raw).and_then(|deal| owed.get_mut(&deal)) {
            *units += i128::from(given);
        }
    }
    for (deal, _, status, quantity) in found.claims {
        if let (Some(units), HoldStatus::Committed) = (owed.get_mut(deal), status) {
            *units -= i128::from(*quantity);
        }
    }
    for (id, deal, quantity) in &work.to_sell {
        let _ = id;
        if let Some(units) = owed.get_mut(deal) {
            *units += i128::from(*quantity);
        }
    }
    for (raw, pending) in store.scan_prefix::<super::shard::DealReturn>(&[keys::DEAL_RETURN])? {
        if let Some(units) = keys::parse_deal_return(&raw).and_then(|deal| owed.get_mut(&deal)) {
            *units += i128::from(pending.units);
        }
    }
    for id in &work.to_unsell {
        let sold = ledger.sales.get(id).map(|sale| (sale.deal.clone(), sale.parts.iter().map(|p| p.1).sum::<u64>()));
        if let Some((deal, units)) = sold {
            if let Some(owed) = owed.get_mut(&deal) {
                *owed -= i128::from(units);
            }
        }
    }
    for (deal, owed) in owed {
        let held: u64 = ledger.stakes.get(&deal).map_or(0, |stakes| stakes.lock().values().sum());
        if i128::from(held) != owed {
            return Err(Error::Corrupt(format!(
                "deal.units_in_buckets: deal {deal} holds {held} units in its buckets, its shards account for {owed}"
            )));
        }
    }
    Ok(())
}
