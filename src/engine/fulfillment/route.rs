//! The walk model and the pick route optimizer.
//!
//! A warehouse is parallel aisles one unit apart, each with bays one unit
//! apart. A picker enters or leaves an aisle only at its front (before bay 1)
//! or its back (after the warehouse's highest bay), walks along the front or
//! back cross-aisle between aisles, and reaches every level of a bay from
//! where they stand. A route starts and ends at the front of aisle A.
//!
//! The shortest walk between two bays is then: along the aisle when both are
//! in the same one; otherwise out through the front or the back, whichever
//! is shorter for the two together, plus the distance between the aisles.
//!
//! The optimizer ([`optimize`]) orders the bays to visit:
//! - up to [`EXACT_MAX`] bays it finds the shortest order exactly (dynamic
//!   programming over subsets, Held-Karp);
//! - beyond that it starts from the serpentine order, a nearest-neighbour
//!   walk and (up to 120 bays) the largest-gap route of warehouse practice,
//!   improves each with 2-opt (reversing a stretch of the route) and Or-opt
//!   (moving one to three consecutive bays elsewhere, either way round)
//!   until neither finds a shorter route or [`PASSES_MAX`] passes are spent,
//!   keeps the shortest, and on routes of up to 120 bays goes on with
//!   iterated local search (a fixed number of "double bridge" kicks, each
//!   improved again, kept when shorter).
//!
//! Every improvement shortens the route, and the serpentine order is one of
//! the starts, so a route is never longer than the serpentine one.

use super::BinCode;

/// Where a picker stands: an aisle (0 is `A`) and a bay (0 is the aisle's
/// front).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub aisle: u32,
    pub bay: u32,
}

/// Where every route starts and ends: the front of aisle A.
pub const START: Position = Position { aisle: 0, bay: 0 };

/// Largest number of bays routed exactly (Held-Karp: 2^n * n^2 steps).
pub const EXACT_MAX: usize = 10;

/// Most improvement passes of the heuristic, which bounds its time on large
/// pick lists (a pass that improves nothing ends it earlier).
pub const PASSES_MAX: usize = 64;

/// The shape of a warehouse that walking depends on: where the back
/// cross-aisle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    back: u32,
}

impl Layout {
    /// A warehouse whose highest bay is `highest_bay`: its back cross-aisle
    /// is one unit past it.
    pub fn new(highest_bay: u32) -> Self {
        Layout { back: highest_bay.saturating_add(1) }
    }

    /// The layout of a warehouse with these bins.
    pub fn of_bins(bins: impl IntoIterator<Item = BinCode>) -> Self {
        Layout::new(bins.into_iter().map(|bin| u32::from(bin.bay())).max().unwrap_or(0))
    }

    /// The shortest walk from `from` to `to`.
    pub fn distance(&self, from: Position, to: Position) -> u64 {
        let (a, b) = (u64::from(from.bay.min(self.back)), u64::from(to.bay.min(self.back)));
        if from.aisle == to.aisle {
            return a.abs_diff(b);
        }
        let back = u64::from(self.back);
        let across = u64::from(from.aisle.abs_diff(to.aisle));
        across + (a + b).min(2 * back - a - b)
    }

    /// Length of the walk from [`START`] through `route` in order and back.
    pub fn tour_length(&self, route: &[Position]) -> u64 {
        let mut here = START;
        let mut total = 0;
        for &next in route {
            total += self.distance(here, next);
            here = next;
        }
        total + self.distance(here, START)
    }
}

/// The serpentine order of `positions` (API.md): aisle by aisle, bays
/// ascending in aisle A, descending in B, and so on.
pub fn serpentine(positions: &[Position]) -> Vec<Position> {
    let mut order = positions.to_vec();
    order.sort_by_key(serpentine_key);
    order
}

/// A position's place in the serpentine order.
pub(super) fn serpentine_key(position: &Position) -> (u32, i64) {
    let bay = if position.aisle.is_multiple_of(2) { i64::from(position.bay) } else { -i64::from(position.bay) };
    (position.aisle, bay)
}

/// The order to visit `positions` in (each once; duplicates are visited
/// once): exact up to [`EXACT_MAX`] bays, the heuristic beyond, and never
/// longer than the serpentine order.
pub fn optimize(layout: &Layout, positions: &[Position]) -> Vec<Position> {
    let mut unique = positions.to_vec();
    unique.sort();
    unique.dedup();
    let serpentine = serpentine(&unique);
    let mut route = if unique.len() <= EXACT_MAX { exact(layout, &unique) } else { heuristic(layout, &unique) };
    if layout.tour_length(&route) > layout.tour_length(&serpentine) {
        return serpentine;
    }
    // A route walked backwards is as long: walk it from the end nearer the
    // start of the walk order, as a picker reading the bin list expects.
    if let (Some(first), Some(last)) = (route.first(), route.last()) {
        if serpentine_key(last) < serpentine_key(first) {
            route.reverse();
        }
    }
    route
}

/// The heuristic alone (see the module's text), for any number of bays.
pub fn heuristic(layout: &Layout, positions: &[Position]) -> Vec<Position> {
    let mut starts = vec![serpentine(positions), nearest_neighbour(layout, positions)];
    if positions.len() <= SMALL_ROUTE {
        starts.push(largest_gap(layout, positions));
    }
    let improved = starts.into_iter().map(|start| improve(layout, start));
    let best = improved.min_by_key(|route| layout.tour_length(route)).unwrap_or_default();
    perturb(layout, best)
}

/// Kicks of iterated local search for a route of `n` bays: many for short
/// routes, where local optima trap 2-opt and Or-opt most, none for long ones
/// (their time is bounded by the passes alone).
fn kicks(n: usize) -> usize {
    match n {
        0..4 => 0,
        4..=40 => 60,
        41..=SMALL_ROUTE => 10,
        _ => 0,
    }
}

/// Routes up to this many bays get the third start and the kicks; longer
/// ones (a wave of hundreds of shipments) keep to two starts, for time.
const SMALL_ROUTE: usize = 120;

/// Iterated local search: cuts the route into four pieces, joins them in
/// another order (a "double bridge", which 2-opt and Or-opt cannot undo in
/// one move), improves, and keeps the result when it is shorter. The cuts
/// come from a fixed sequence, so the same input gives the same route.
fn perturb(layout: &Layout, route: Vec<Position>) -> Vec<Position> {
    let n = route.len();
    let mut best_length = layout.tour_length(&route);
    let mut best = route;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ n as u64;
    let mut next = |bound: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or(0) % bound.max(1)
    };
    for _ in 0..kicks(n) {
        let mut cuts = [1 + next(n - 1), 1 + next(n - 1), 1 + next(n - 1)];
        cuts.sort_unstable();
        let [a, b, c] = cuts;
        if a == b || b == c {
            continue;
        }
        let mut kicked = Vec::with_capacity(n);
        kicked.extend_from_slice(&best[..a]);
        kicked.extend_from_slice(&best[b..c]);
        kicked.extend_from_slice(&best[a..b]);
        kicked.extend_from_slice(&best[c..]);
        let candidate = improve(layout, kicked);
        let length = layout.tour_length(&candidate);
        if length < best_length {
            best_length = length;
            best = candidate;
        }
    }
    best
}

/// The largest-gap route of warehouse practice: the first aisle with stops
/// walked through to the back, the middle aisles entered from the back as
/// far as their largest gap between stops (or ends), the last aisle walked
/// through to the front, and the middle aisles' remaining stops visited
/// from the front on the way back.
fn largest_gap(layout: &Layout, positions: &[Position]) -> Vec<Position> {
    let mut sorted = positions.to_vec();
    sorted.sort();
    let mut aisles: Vec<Vec<Position>> = Vec::new();
    for position in sorted {
        match aisles.last_mut() {
            Some(aisle) if aisle[0].aisle == position.aisle => aisle.push(position),
            _ => aisles.push(vec![position]),
        }
    }
    let Some((first, rest)) = aisles.split_first() else { return Vec::new() };
    let Some((last, middle)) = rest.split_last() else { return first.clone() };
    let mut route = first.clone();
    let mut front_parts = Vec::new();
    for aisle in middle {
        // Bays ascending: the gap before index `cut` is the largest of the
        // front-to-first, between-stops and last-to-back gaps.
        let bays: Vec<u32> = aisle.iter().map(|position| position.bay).collect();
        let gap = |cut: usize| {
            let low = if cut == 0 { 0 } else { bays[cut - 1] };
            let high = if cut == bays.len() { layout.back } else { bays[cut] };
            high.saturating_sub(low)
        };
        let cut = (0..=bays.len()).max_by_key(|&cut| (gap(cut), cut)).unwrap_or(0);
        route.extend(aisle[cut..].iter().rev());
        front_parts.push(&aisle[..cut]);
    }
    route.extend(last.iter().rev());
    for part in front_parts.into_iter().rev() {
        route.extend(part.iter());
    }
    route
}

/// The shortest order, by dynamic programming over subsets.
fn exact(layout: &Layout, positions: &[Position]) -> Vec<Position> {
    let n = positions.len();
    if n <= 1 {
        return positions.to_vec();
    }
    let full = 1_usize << n;
    // cost[mask * n + last]: shortest walk from START through `mask`, ending at `last`.
    let mut cost = vec![u64::MAX; full * n];
    let mut came_from = vec![usize::MAX; full * n];
    for (last, &position) in positions.iter().enumerate() {
        cost[(1 << last) * n + last] = layout.distance(START, position);
    }
    for mask in 1..full {
        for last in 0..n {
            let here = cost[mask * n + last];
            if mask & (1 << last) == 0 || here == u64::MAX {
                continue;
            }
            for next in 0..n {
                if mask & (1 << next) != 0 {
                    continue;
                }
                let extended = mask | (1 << next);
                let through = here + layout.distance(positions[last], positions[next]);
                if through < cost[extended * n + next] {
                    cost[extended * n + next] = through;
                    came_from[extended * n + next] = last;
                }
            }
        }
    }
    let everything = full - 1;
    let mut last = (0..n)
        .min_by_key(|&last| cost[everything * n + last].saturating_add(layout.distance(positions[last], START)))
        .unwrap_or(0);
    let mut mask = everything;
    let mut order = Vec::with_capacity(n);
    loop {
        order.push(positions[last]);
        let before = came_from[mask * n + last];
        mask &= !(1 << last);
        if before == usize::MAX {
            break;
        }
        last = before;
    }
    order.reverse();
    order
}

fn nearest_neighbour(layout: &Layout, positions: &[Position]) -> Vec<Position> {
    let mut left = positions.to_vec();
    let mut order = Vec::with_capacity(left.len());
    let mut here = START;
    while !left.is_empty() {
        let (index, _) = left
            .iter()
            .enumerate()
            .min_by_key(|(_, position)| (layout.distance(here, **position), **position))
            .unwrap_or((0, &START));
        here = left.swap_remove(index);
        order.push(here);
    }
    order
}

/// 2-opt and Or-opt passes until neither shortens the route.
fn improve(layout: &Layout, route: Vec<Position>) -> Vec<Position> {
    if route.len() < 3 {
        return route;
    }
    // The closed walk: START, the route, START.
    let mut walk = Vec::with_capacity(route.len() + 2);
    walk.push(START);
    walk.extend(route);
    walk.push(START);
    for _ in 0..PASSES_MAX {
        let reversed = two_opt_pass(layout, &mut walk);
        let moved = or_opt_pass(layout, &mut walk);
        if !reversed && !moved {
            break;
        }
    }
    walk[1..walk.len() - 1].to_vec()
}

impl Layout {
    /// [`Layout::distance`] as a signed number, for the passes' differences.
    fn signed(&self, from: Position, to: Position) -> i64 {
        i64::try_from(self.distance(from, to)).unwrap_or(i64::MAX / 4)
    }
}

/// Reverses every stretch `walk[i..=j]` that shortens the walk.
fn two_opt_pass(layout: &Layout, walk: &mut [Position]) -> bool {
    let last = walk.len() - 2;
    let mut improved = false;
    for i in 1..last {
        for j in i + 1..=last {
            let (before, first, end, after) = (walk[i - 1], walk[i], walk[j], walk[j + 1]);
            let delta = layout.signed(before, end) + layout.signed(first, after)
                - layout.signed(before, first)
                - layout.signed(end, after);
            if delta < 0 {
                walk[i..=j].reverse();
                improved = true;
            }
        }
    }
    improved
}

/// Moves a run of one to three bays to the place (and direction) where it
/// shortens the walk most, for every run that can be shortened so.
fn or_opt_pass(layout: &Layout, walk: &mut Vec<Position>) -> bool {
    let mut improved = false;
    for length in 1..=3_usize {
        let mut start = 1;
        while start + length < walk.len() {
            let end = start + length - 1;
            let (before, first, last, after) = (walk[start - 1], walk[start], walk[end], walk[end + 1]);
            let removed = layout.signed(before, first) + layout.signed(last, after) - layout.signed(before, after);
            let mut best: Option<(i64, usize, bool)> = None;
            for gap in 0..walk.len() - 1 {
                if gap + 1 >= start && gap <= end {
                    continue;
                }
                let (left, right) = (walk[gap], walk[gap + 1]);
                let base = layout.signed(left, right);
                let forward = layout.signed(left, first) + layout.signed(last, right) - base;
                let backward = layout.signed(left, last) + layout.signed(first, right) - base;
                for (added, reversed) in [(forward, false), (backward, true)] {
                    let gain = removed - added;
                    if gain > 0 && best.is_none_or(|(most, _, _)| gain > most) {
                        best = Some((gain, gap, reversed));
                    }
                }
            }
            if let Some((_, gap, reversed)) = best {
                let mut run: Vec<Position> = walk.drain(start..=end).collect();
                if reversed {
                    run.reverse();
                }
                let at = if gap < start { gap + 1 } else { gap + 1 - length };
                walk.splice(at..at, run);
                improved = true;
            }
            start += 1;
        }
    }
    improved
}
