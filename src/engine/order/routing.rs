//! Routing an order to warehouses: the fewest shipments, then the nearest.

use crate::engine::ids::{Sku, WarehouseId};
use crate::engine::pricing::distance_km;
use crate::engine::warehouse::{GeoPoint, Warehouse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Warehouses searched exhaustively; with more candidates routing is greedy.
pub const ROUTING_EXACT_WAREHOUSES_MAX: usize = 12;

/// Units of each SKU available in each warehouse.
pub type StockByWarehouse = BTreeMap<WarehouseId, BTreeMap<Sku, u64>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLine {
    pub sku: Sku,
    pub quantity: u32,
}

/// What one warehouse ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentPlan {
    pub warehouse: WarehouseId,
    pub lines: Vec<ShipmentLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("not enough stock of {sku}: {requested} requested, {available} available")]
    InsufficientStock { sku: Sku, requested: u64, available: u64 },
    /// A deal claim's SKU has no warehouse to ship from.
    #[error("the deal units of {sku} have no warehouse to ship from")]
    NoOrigin { sku: Sku },
}

/// Splits `lines` over warehouses: all or nothing.
///
/// Among the warehouses holding any wanted SKU, it picks the smallest set
/// whose stock covers every line (a line may be split between warehouses of
/// the set when none holds it all), and among sets of that size the one with
/// the smallest total distance to `destination`. Within the set each line takes
/// from the nearest warehouse first. Above [`ROUTING_EXACT_WAREHOUSES_MAX`]
/// candidates it is greedy: the warehouse that covers the most missing units
/// next, nearest on ties. Plans come out nearest warehouse first; a repeated
/// SKU in `lines` is merged. Warehouses without a location entry are skipped.
pub fn plan_shipments(
    lines: &[ShipmentLine],
    stock: &StockByWarehouse,
    warehouses: &[Warehouse],
    destination: GeoPoint,
) -> Result<Vec<ShipmentPlan>, RoutingError> {
    let mut wanted: BTreeMap<&Sku, u64> = BTreeMap::new();
    for line in lines {
        *wanted.entry(&line.sku).or_default() += u64::from(line.quantity);
    }
    let available =
        |warehouse: &WarehouseId, sku: &Sku| stock.get(warehouse).and_then(|skus| skus.get(sku)).copied().unwrap_or(0);
    let mut candidates: Vec<(&WarehouseId, f64)> = warehouses
        .iter()
        .filter(|warehouse| wanted.keys().any(|sku| available(&warehouse.id, sku) > 0))
        .map(|warehouse| (&warehouse.id, distance_km(warehouse.location, destination)))
        .collect();
    candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    for (sku, requested) in &wanted {
        let total: u64 = candidates.iter().map(|(id, _)| available(id, sku)).sum();
        if total < *requested {
            return Err(RoutingError::InsufficientStock {
                sku: (*sku).clone(),
                requested: *requested,
                available: total,
            });
        }
    }
    let covers = |set: &[usize]| {
        wanted
            .iter()
            .all(|(sku, requested)| set.iter().map(|i| available(candidates[*i].0, sku)).sum::<u64>() >= *requested)
    };
    let chosen: Vec<usize> = if candidates.len() <= ROUTING_EXACT_WAREHOUSES_MAX {
        smallest_nearest_set(candidates.len(), |set| covers(set), |set| set.iter().map(|i| candidates[*i].1).sum())
    } else {
        greedy_set(&candidates, &wanted, &available)
    };
    let mut plans: Vec<ShipmentPlan> =
        chosen.iter().map(|i| ShipmentPlan { warehouse: candidates[*i].0.clone(), lines: Vec::new() }).collect();
    for (sku, requested) in &wanted {
        let mut missing = *requested;
        for (plan, index) in plans.iter_mut().zip(&chosen) {
            let take = missing.min(available(candidates[*index].0, sku));
            if take > 0 {
                // `take` is at most a sum of u32 quantities of one SKU per line; split to be safe.
                let quantity = u32::try_from(take).unwrap_or(u32::MAX);
                plan.lines.push(ShipmentLine { sku: (*sku).clone(), quantity });
                missing -= u64::from(quantity);
            }
        }
    }
    plans.retain(|plan| !plan.lines.is_empty());
    Ok(plans)
}

/// The smallest subset of `0..count` (as sorted indices) accepted by `covers`,
/// ties broken by the lowest `cost`. Exhaustive over bitmasks.
fn smallest_nearest_set(count: usize, covers: impl Fn(&[usize]) -> bool, cost: impl Fn(&[usize]) -> f64) -> Vec<usize> {
    let mut best: Option<(usize, f64, Vec<usize>)> = None;
    for mask in 1u32..(1u32 << count) {
        let set: Vec<usize> = (0..count).filter(|i| mask & (1 << i) != 0).collect();
        if best.as_ref().is_some_and(|(size, _, _)| set.len() > *size) || !covers(&set) {
            continue;
        }
        let set_cost = cost(&set);
        let better = match &best {
            None => true,
            Some((size, best_cost, _)) => set.len() < *size || set_cost < *best_cost,
        };
        if better {
            best = Some((set.len(), set_cost, set));
        }
    }
    best.map(|(_, _, set)| set).unwrap_or_default()
}

fn greedy_set(
    candidates: &[(&WarehouseId, f64)],
    wanted: &BTreeMap<&Sku, u64>,
    available: &impl Fn(&WarehouseId, &Sku) -> u64,
) -> Vec<usize> {
    let mut missing: BTreeMap<&Sku, u64> = wanted.clone();
    let mut chosen = Vec::new();
    while missing.values().any(|units| *units > 0) {
        let gain = |index: usize| {
            missing.iter().map(|(sku, units)| (*units).min(available(candidates[index].0, sku))).sum::<u64>()
        };
        // Candidates are sorted nearest first, so max_by_key's last-max is reversed to keep the nearest.
        let Some(best) = (0..candidates.len()).filter(|i| !chosen.contains(i)).rev().max_by_key(|i| gain(*i)) else {
            break;
        };
        if gain(best) == 0 {
            break;
        }
        for (sku, units) in missing.iter_mut() {
            *units -= (*units).min(available(candidates[best].0, sku));
        }
        chosen.push(best);
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESTINATION: GeoPoint = GeoPoint { lat: 40.7, lon: -74.0 }; // New York

    fn wh(id: &str, lat: f64, lon: f64) -> Warehouse {
        Warehouse::new(WarehouseId::parse(id).unwrap(), id, GeoPoint { lat, lon }, "US").unwrap()
    }

    fn warehouses() -> Vec<Warehouse> {
        vec![wh("NJ", 40.5, -74.4), wh("OH", 40.0, -83.0), wh("CA", 37.0, -120.0)]
    }

    fn sku(raw: &str) -> Sku {
        Sku::parse(raw).unwrap()
    }

    fn line(raw: &str, quantity: u32) -> ShipmentLine {
        ShipmentLine { sku: sku(raw), quantity }
    }

    fn stock(entries: &[(&str, &str, u64)]) -> StockByWarehouse {
        let mut stock = StockByWarehouse::new();
        for (warehouse, raw, units) in entries {
            stock.entry(WarehouseId::parse(warehouse).unwrap()).or_default().insert(sku(raw), *units);
        }
        stock
    }

    fn summary(plans: &[ShipmentPlan]) -> Vec<(String, Vec<(String, u32)>)> {
        plans
            .iter()
            .map(|plan| {
                let lines = plan.lines.iter().map(|line| (line.sku.to_string(), line.quantity)).collect();
                (plan.warehouse.to_string(), lines)
            })
            .collect()
    }

    #[test]
    fn one_warehouse_with_everything_beats_two_nearer_ones() {
        let stock = stock(&[("NJ", "A", 5), ("OH", "B", 5), ("CA", "A", 5), ("CA", "B", 5)]);
        let plans = plan_shipments(&[line("A", 1), line("B", 1)], &stock, &warehouses(), DESTINATION).unwrap();
        assert_eq!(summary(&plans), [("CA".into(), vec![("A".into(), 1), ("B".into(), 1)])]);
    }

    #[test]
    fn among_equal_counts_the_nearest_wins() {
        let stock = stock(&[("NJ", "A", 5), ("OH", "A", 5), ("CA", "A", 5)]);
        let plans = plan_shipments(&[line("A", 2)], &stock, &warehouses(), DESTINATION).unwrap();
        assert_eq!(summary(&plans), [("NJ".into(), vec![("A".into(), 2)])]);
    }

    #[test]
    fn a_line_is_split_when_no_warehouse_holds_it_all() {
        let stock = stock(&[("NJ", "A", 2), ("OH", "A", 1), ("CA", "A", 5)]);
        let plans = plan_shipments(&[line("A", 6)], &stock, &warehouses(), DESTINATION).unwrap();
        assert_eq!(summary(&plans), [("NJ".into(), vec![("A".into(), 2)]), ("CA".into(), vec![("A".into(), 4)])]);
    }

    #[test]
    fn missing_stock_fails_the_whole_order() {
        let stock = stock(&[("NJ", "A", 2), ("CA", "B", 1)]);
        assert_eq!(
            plan_shipments(&[line("A", 1), line("B", 2)], &stock, &warehouses(), DESTINATION),
            Err(RoutingError::InsufficientStock { sku: sku("B"), requested: 2, available: 1 })
        );
    }

    #[test]
    fn many_warehouses_are_routed_greedily() {
        let many: Vec<Warehouse> = (0..15).map(|i| wh(&format!("W{i}"), 40.7 + f64::from(i), -74.0)).collect();
        let mut entries = Vec::new();
        for i in 0..15 {
            entries.push((format!("W{i}"), "A", 1u64));
        }
        entries.push(("W14".into(), "B", 3));
        let borrowed: Vec<(&str, &str, u64)> = entries.iter().map(|(w, s, u)| (w.as_str(), *s, *u)).collect();
        let plans = plan_shipments(&[line("A", 2), line("B", 3)], &stock(&borrowed), &many, DESTINATION).unwrap();
        assert_eq!(
            summary(&plans),
            [("W0".into(), vec![("A".into(), 1)]), ("W14".into(), vec![("A".into(), 1), ("B".into(), 3)])]
        );
    }
}
