//! Waves: which ready shipments one pick list serves, which bins their units
//! come from, and the stops in route order.
//!
//! Shipments are taken Prime first, then oldest first (then by id, so a plan
//! is the same for the same input); a shipment of an order on hold is never
//! taken. A shipment whose lines the warehouse's bins cannot all cover (after
//! the shipments taken before it) is left out and named in
//! [`PickPlan::unpickable`], so the caller can send it elsewhere.
//!
//! Where a line's units come from, in this order of preference:
//! 1. one bin the walk already stops at that holds them all;
//! 2. the first bin in walk order that holds them all;
//! 3. the fullest bins first, so the line needs as few stops as it can.

use super::route::{self, Layout, Position};
use super::BinCode;
use crate::engine::ids::{ShipmentId, Sku};
use crate::engine::time::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A shipment waiting to be picked in this warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyShipment {
    pub id: ShipmentId,
    /// Since when it waits (its order's placing, or its return to the queue).
    pub ready_since: Timestamp,
    /// Its customer bought Prime's promise.
    pub prime: bool,
    /// Its order is held by fraud screening: never picked.
    pub on_hold: bool,
    /// SKU and units, one entry per line.
    pub lines: Vec<(Sku, u32)>,
}

/// Units of one SKU in one bin, free to pick (not on another open pick list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinStock {
    pub bin: BinCode,
    pub sku: Sku,
    pub quantity: u32,
}

/// One stop of a pick list: take `quantity` units of `sku` from `bin`, for
/// these shipments (and so many units each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickStop {
    pub bin: BinCode,
    pub sku: Sku,
    pub quantity: u32,
    pub serves: Vec<(ShipmentId, u32)>,
}

/// A pick list's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickPlan {
    /// The shipments served, in the order they were taken.
    pub shipments: Vec<ShipmentId>,
    /// The stops in route order (several stops at one bay are next to each
    /// other, by level then SKU).
    pub stops: Vec<PickStop>,
    /// The route's length in the walk model.
    pub walk_distance: u64,
    /// The serpentine route's length through the same bays.
    pub serpentine_distance: u64,
    /// Shipments looked at and left out: the bins cannot cover them.
    pub unpickable: Vec<ShipmentId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaveError {
    #[error("max_shipments must be at least 1")]
    NoRoom,
    #[error("no shipment of this warehouse is ready to be picked from its bins")]
    NothingReady,
}

/// Plans a pick list of at most `max_shipments` of `ready`, taking units
/// from `stock`, in a warehouse laid out as `layout`.
pub fn plan_wave(
    layout: &Layout,
    ready: &[ReadyShipment],
    stock: &[BinStock],
    max_shipments: usize,
) -> Result<PickPlan, WaveError> {
    if max_shipments == 0 {
        return Err(WaveError::NoRoom);
    }
    let mut queue: Vec<&ReadyShipment> = ready.iter().filter(|shipment| !shipment.on_hold).collect();
    queue.sort_by(|a, b| (!a.prime, a.ready_since, &a.id).cmp(&(!b.prime, b.ready_since, &b.id)));
    let mut shelves = Shelves::new(stock);
    let mut taken: BTreeMap<(BinCode, Sku), PickStop> = BTreeMap::new();
    let mut visited: HashSet<Position> = HashSet::new();
    let mut shipments = Vec::new();
    let mut unpickable = Vec::new();
    for shipment in queue {
        if shipments.len() == max_shipments {
            break;
        }
        match shelves.allocate(&shipment.lines, &visited) {
            Some(picks) => {
                for (bin, sku, units) in picks {
                    visited.insert(bin.position());
                    let stop = taken.entry((bin, sku.clone())).or_insert_with(|| PickStop {
                        bin,
                        sku,
                        quantity: 0,
                        serves: Vec::new(),
                    });
                    stop.quantity += units;
                    match stop.serves.iter_mut().find(|(id, _)| *id == shipment.id) {
                        Some((_, served)) => *served += units,
                        None => stop.serves.push((shipment.id.clone(), units)),
                    }
                }
                shipments.push(shipment.id.clone());
            }
            None => unpickable.push(shipment.id.clone()),
        }
    }
    if shipments.is_empty() {
        return Err(WaveError::NothingReady);
    }
    let positions: Vec<Position> = visited.into_iter().collect();
    let order = route::optimize(layout, &positions);
    let rank: HashMap<Position, usize> = order.iter().enumerate().map(|(index, position)| (*position, index)).collect();
    let mut stops: Vec<PickStop> = taken.into_values().collect();
    stops.sort_by(|a, b| {
        let key = |stop: &PickStop| (rank.get(&stop.bin.position()).copied(), stop.bin.level());
        key(a).cmp(&key(b)).then_with(|| a.sku.cmp(&b.sku))
    });
    Ok(PickPlan {
        shipments,
        stops,
        walk_distance: layout.tour_length(&order),
        serpentine_distance: layout.tour_length(&route::serpentine(&order)),
        unpickable,
    })
}

/// The stock still free while a wave is planned, by SKU, bins in walk order.
struct Shelves {
    by_sku: HashMap<Sku, Vec<(BinCode, u32)>>,
}

impl Shelves {
    fn new(stock: &[BinStock]) -> Self {
        let mut by_sku: HashMap<Sku, Vec<(BinCode, u32)>> = HashMap::new();
        for entry in stock.iter().filter(|entry| entry.quantity > 0) {
            by_sku.entry(entry.sku.clone()).or_default().push((entry.bin, entry.quantity));
        }
        for bins in by_sku.values_mut() {
            bins.sort();
        }
        Shelves { by_sku }
    }

    /// Takes every line's units, or nothing when some line cannot be covered.
    fn allocate(&mut self, lines: &[(Sku, u32)], visited: &HashSet<Position>) -> Option<Vec<(BinCode, Sku, u32)>> {
        // A shipment may name one SKU on several lines: count it once.
        let mut wanted: Vec<(Sku, u32)> = Vec::new();
        for (sku, units) in lines {
            match wanted.iter_mut().find(|(known, _)| known == sku) {
                Some((_, total)) => *total = total.saturating_add(*units),
                None => wanted.push((sku.clone(), *units)),
            }
        }
        let covered = wanted.iter().all(|(sku, units)| {
            let free: u64 = self.by_sku.get(sku).map_or(0, |bins| bins.iter().map(|(_, free)| u64::from(*free)).sum());
            free >= u64::from(*units)
        });
        if !covered {
            return None;
        }
        let mut picks = Vec::new();
        for (sku, units) in wanted {
            if units == 0 {
                continue;
            }
            let Some(bins) = self.by_sku.get_mut(&sku) else { continue };
            let whole = |bins: &[(BinCode, u32)], on_route: bool| {
                bins.iter().position(|(bin, free)| *free >= units && (!on_route || visited.contains(&bin.position())))
            };
            if let Some(index) = whole(bins, true).or_else(|| whole(bins, false)) {
                bins[index].1 -= units;
                picks.push((bins[index].0, sku.clone(), units));
                continue;
            }
            let mut fullest: Vec<usize> = (0..bins.len()).collect();
            fullest.sort_by_key(|&index| (std::cmp::Reverse(bins[index].1), bins[index].0));
            let mut left = units;
            for index in fullest {
                if left == 0 {
                    break;
                }
                let take = bins[index].1.min(left);
                if take > 0 {
                    bins[index].1 -= take;
                    left -= take;
                    picks.push((bins[index].0, sku.clone(), take));
                }
            }
        }
        Some(picks)
    }
}
