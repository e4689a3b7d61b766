//! The cart: lines to buy now and lines saved for later.
//!
//! SKUs are unique within each list (a SKU may be in both). Quantities are
//! `1..=limits.quantity_per_line_max`; each list holds at most its line limit.
//! Going over a limit is a typed error and changes nothing: never truncation.
//! The one exception the contract names is `merge`, where the quantities of
//! the same SKU add and are capped at the per-line limit.
//!
//! Persistence is per line: every event names one line of one list, so the
//! actor writes (or deletes) exactly the lines that changed.

use super::ids::{CartId, Sku};
use super::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

mod priced;
pub use priced::{price_cart, LineFacts, PricedCart, PricedCartLine};

/// Which list of the cart a line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartList {
    Lines,
    Saved,
}

/// The limits of a cart (API.md: quantity per line 1..=999, at most 200 lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLimits {
    pub quantity_per_line_max: u32,
    pub lines_max: usize,
    pub saved_lines_max: usize,
}

impl Default for CartLimits {
    fn default() -> Self {
        CartLimits { quantity_per_line_max: 999, lines_max: 200, saved_lines_max: 200 }
    }
}

/// One line: a SKU, its quantity, and its position (`seq`, insertion order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub sku: Sku,
    pub quantity: u32,
    /// Orders lines by when they entered their list (larger is newer).
    pub seq: u64,
}

/// What happened to a cart; each event touches one line of one list, except
/// `Merged`, which records a merge source for idempotency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartEvent {
    /// The line was created or its quantity changed.
    LineSet {
        list: CartList,
        line: CartLine,
    },
    LineRemoved {
        list: CartList,
        sku: Sku,
    },
    /// Lines of `source` with content fingerprint `fingerprint` were merged in.
    Merged {
        source: CartId,
        fingerprint: u64,
    },
}

/// A business rejection by a cart. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("quantity {quantity} is outside 1..={max}")]
    InvalidQuantity { quantity: u32, max: u32 },
    #[error("line {sku} would hold {requested} units; the limit is {max}")]
    LineQuantityExceeded { sku: Sku, requested: u64, max: u32 },
    #[error("the {list:?} list is limited to {max} lines")]
    TooManyLines { list: CartList, max: usize },
    #[error("{sku} is not in the {list:?} list")]
    LineNotFound { list: CartList, sku: Sku },
}

/// A cart's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    id: CartId,
    limits: CartLimits,
    lines: Vec<CartLine>,
    saved: Vec<CartLine>,
    /// Merge sources already applied: (source cart, content fingerprint).
    merged: Vec<(CartId, u64)>,
    next_seq: u64,
}

/// How many merge sources a cart remembers, so that a retried merge of the same
/// guest content is a no-op while the record stays bounded.
const MERGED_SOURCES_MAX: usize = 16;

impl Cart {
    /// An empty cart.
    pub fn new(id: CartId, limits: CartLimits) -> Self {
        Cart { id, limits, lines: Vec::new(), saved: Vec::new(), merged: Vec::new(), next_seq: 0 }
    }

    /// Rebuilds from persisted line records (any order) and merge records
    /// (oldest first; only the most recent 16 are kept). Lines end up sorted by
    /// seq and `next_seq` is the largest seq plus one, so new lines sort after
    /// every restored one. A repeated (list, SKU) record replaces the earlier one.
    pub fn restore(
        id: CartId,
        limits: CartLimits,
        lines: impl IntoIterator<Item = (CartList, CartLine)>,
        merged: impl IntoIterator<Item = (CartId, u64)>,
    ) -> Self {
        let mut cart = Cart::new(id, limits);
        for (list, line) in lines {
            cart.apply(&CartEvent::LineSet { list, line });
        }
        for (source, fingerprint) in merged {
            cart.record_merge(source, fingerprint);
        }
        cart
    }

    pub fn id(&self) -> &CartId {
        &self.id
    }

    pub fn limits(&self) -> CartLimits {
        self.limits
    }

    /// The lines to buy now, oldest first.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    /// The lines saved for later, oldest first.
    pub fn saved(&self) -> &[CartLine] {
        &self.saved
    }

    pub fn line(&self, list: CartList, sku: &Sku) -> Option<&CartLine> {
        self.list(list).iter().find(|line| &line.sku == sku)
    }

    /// Units in the lines to buy now (saved lines are not counted).
    pub fn item_count(&self) -> u64 {
        self.lines.iter().map(|line| u64::from(line.quantity)).sum()
    }

    /// Whether both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.saved.is_empty()
    }

    /// A stable fingerprint of the content, used to recognise a retried merge.
    ///
    /// It is persisted and compared across processes, so it is FNV-1a 64 (never
    /// std's randomized hasher) over the (list, SKU, quantity) triples sorted by
    /// list then SKU, each encoded as: one list byte (0 lines, 1 saved), the SKU's
    /// bytes, a zero byte (never part of a SKU), the quantity as 4 bytes
    /// little-endian. Seqs are left out: the same content has the same print.
    pub fn fingerprint(&self) -> u64 {
        let mut triples: Vec<(CartList, &Sku, u32)> = self
            .lines
            .iter()
            .map(|line| (CartList::Lines, &line.sku, line.quantity))
            .chain(self.saved.iter().map(|line| (CartList::Saved, &line.sku, line.quantity)))
            .collect();
        triples.sort();
        let mut hash = FNV_OFFSET_BASIS;
        for (list, sku, quantity) in triples {
            let list_byte = match list {
                CartList::Lines => 0u8,
                CartList::Saved => 1u8,
            };
            hash = fnv1a(hash, &[list_byte]);
            hash = fnv1a(hash, sku.as_str().as_bytes());
            hash = fnv1a(hash, &[0u8]);
            hash = fnv1a(hash, &quantity.to_le_bytes());
        }
        hash
    }

    /// Adds `quantity` units of `sku` to the lines. An existing line grows and
    /// keeps its place; going over the per-line limit is an error, never a cap.
    pub fn add(&mut self, sku: Sku, quantity: u32) -> Result<Vec<CartEvent>, CartError> {
        self.check_quantity(quantity)?;
        let (total, existing_seq) = self.grown(CartList::Lines, &sku, quantity)?;
        let seq = existing_seq.unwrap_or(self.next_seq);
        let line = CartLine { sku, quantity: total, seq };
        Ok(self.apply_all(vec![CartEvent::LineSet { list: CartList::Lines, line }]))
    }

    /// Sets the quantity of `sku` in the lines; 0 removes the line, and an
    /// absent SKU gets a new line.
    pub fn set_quantity(&mut self, sku: Sku, quantity: u32) -> Result<Vec<CartEvent>, CartError> {
        if quantity == 0 {
            return self.remove(&sku);
        }
        self.check_quantity(quantity)?;
        let seq = match self.line(CartList::Lines, &sku) {
            Some(existing) if existing.quantity == quantity => return Ok(Vec::new()),
            Some(existing) => existing.seq,
            None => {
                self.check_room(CartList::Lines)?;
                self.next_seq
            }
        };
        let line = CartLine { sku, quantity, seq };
        Ok(self.apply_all(vec![CartEvent::LineSet { list: CartList::Lines, line }]))
    }

    /// Removes the line of `sku` from the lines.
    pub fn remove(&mut self, sku: &Sku) -> Result<Vec<CartEvent>, CartError> {
        if self.line(CartList::Lines, sku).is_none() {
            return Err(CartError::LineNotFound { list: CartList::Lines, sku: sku.clone() });
        }
        Ok(self.apply_all(vec![CartEvent::LineRemoved { list: CartList::Lines, sku: sku.clone() }]))
    }

    /// Removes the lines of `skus` that the cart has (an order took them);
    /// a SKU without a line, or named twice, is skipped.
    pub fn remove_ordered(&mut self, skus: &[Sku]) -> Vec<CartEvent> {
        let mut events = Vec::new();
        for sku in skus {
            let removal = CartEvent::LineRemoved { list: CartList::Lines, sku: sku.clone() };
            if self.line(CartList::Lines, sku).is_some() && !events.contains(&removal) {
                events.push(removal);
            }
        }
        self.apply_all(events)
    }

    /// Moves the line of `sku` from the lines to the saved list.
    pub fn save_for_later(&mut self, sku: &Sku) -> Result<Vec<CartEvent>, CartError> {
        self.move_line(CartList::Lines, CartList::Saved, sku)
    }

    /// Moves the line of `sku` from the saved list back to the lines.
    pub fn move_to_cart(&mut self, sku: &Sku) -> Result<Vec<CartEvent>, CartError> {
        self.move_line(CartList::Saved, CartList::Lines, sku)
    }

    /// Merges a guest cart's content into this one (at sign-in).
    ///
    /// Unlike `add`, quantities of the same SKU add and are capped at the
    /// per-line limit, as the contract says; new SKUs are appended in source
    /// order. A merge that would need more lines than a list allows fails whole.
    /// The (source, fingerprint) pair is recorded so that a retry after a crash
    /// between the two carts' writes adds nothing twice.
    pub fn merge(
        &mut self,
        source: &CartId,
        fingerprint: u64,
        lines: &[CartLine],
        saved: &[CartLine],
    ) -> Result<Vec<CartEvent>, CartError> {
        if self.has_merged(source, fingerprint) {
            return Ok(Vec::new());
        }
        let mut next_seq = self.next_seq;
        let mut events = self.merge_events(CartList::Lines, lines, &mut next_seq)?;
        events.extend(self.merge_events(CartList::Saved, saved, &mut next_seq)?);
        events.push(CartEvent::Merged { source: source.clone(), fingerprint });
        Ok(self.apply_all(events))
    }

    /// Takes out of this (guest) cart exactly what a merge copied elsewhere:
    /// each given line's quantity is subtracted from the same SKU in the same
    /// list, removing the line at zero. Units added after the merge snapshot
    /// stay, so no unit is lost; lines no longer here are skipped.
    pub fn remove_merged(&mut self, lines: &[CartLine], saved: &[CartLine]) -> Vec<CartEvent> {
        let mut events = Vec::new();
        for (list, merged) in [(CartList::Lines, lines), (CartList::Saved, saved)] {
            for merged_line in merged {
                if let Some(event) = self.subtract_event(list, merged_line) {
                    self.apply(&event);
                    events.push(event);
                }
            }
        }
        events
    }

    /// Removes every line of both lists (merge records stay).
    pub fn clear(&mut self) -> Vec<CartEvent> {
        let events: Vec<CartEvent> = self
            .lines
            .iter()
            .map(|line| CartEvent::LineRemoved { list: CartList::Lines, sku: line.sku.clone() })
            .chain(
                self.saved.iter().map(|line| CartEvent::LineRemoved { list: CartList::Saved, sku: line.sku.clone() }),
            )
            .collect();
        self.apply_all(events)
    }

    /// Applies an event produced by this cart's operations. Used by the
    /// operations themselves and for replay; events are trusted here.
    pub fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::LineSet { list, line } => {
                self.next_seq = self.next_seq.max(line.seq.saturating_add(1));
                let entries = self.list_mut(*list);
                entries.retain(|entry| entry.sku != line.sku);
                let at = entries.partition_point(|entry| entry.seq <= line.seq);
                entries.insert(at, line.clone());
            }
            CartEvent::LineRemoved { list, sku } => {
                self.list_mut(*list).retain(|entry| &entry.sku != sku);
            }
            CartEvent::Merged { source, fingerprint } => self.record_merge(source.clone(), *fingerprint),
        }
    }

    /// Checks the invariants named in the module docs, for each list.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.check_list_invariants(CartList::Lines)?;
        self.check_list_invariants(CartList::Saved)
    }

    fn check_list_invariants(&self, list: CartList) -> Result<(), InvariantViolation> {
        let entries = self.list(list);
        let max = self.limits.quantity_per_line_max;
        let violation = |name: &'static str, detail: String| {
            Err(InvariantViolation { name, detail: format!("cart {} {list:?}: {detail}", self.id) })
        };
        if let Some(line) = entries.iter().find(|line| line.quantity == 0 || line.quantity > max) {
            return violation(
                "cart.quantity_in_range",
                format!("{} has {} units, outside 1..={max}", line.sku, line.quantity),
            );
        }
        if entries.len() > self.list_max(list) {
            return violation(
                "cart.lines_within_limit",
                format!("{} lines, limit {}", entries.len(), self.list_max(list)),
            );
        }
        let mut seen = BTreeSet::new();
        if let Some(line) = entries.iter().find(|line| !seen.insert(&line.sku)) {
            return violation("cart.unique_skus", format!("{} appears twice", line.sku));
        }
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].seq >= pair[1].seq) {
            return violation("cart.ordered_by_seq", format!("seq {} before seq {}", pair[0].seq, pair[1].seq));
        }
        if let Some(line) = entries.iter().find(|line| line.seq >= self.next_seq) {
            return violation(
                "cart.seq_below_next",
                format!("{} has seq {}, next is {}", line.sku, line.seq, self.next_seq),
            );
        }
        Ok(())
    }

    fn list(&self, list: CartList) -> &[CartLine] {
        match list {
            CartList::Lines => &self.lines,
            CartList::Saved => &self.saved,
        }
    }

    fn list_mut(&mut self, list: CartList) -> &mut Vec<CartLine> {
        match list {
            CartList::Lines => &mut self.lines,
            CartList::Saved => &mut self.saved,
        }
    }

    fn list_max(&self, list: CartList) -> usize {
        match list {
            CartList::Lines => self.limits.lines_max,
            CartList::Saved => self.limits.saved_lines_max,
        }
    }

    fn check_quantity(&self, quantity: u32) -> Result<(), CartError> {
        let max = self.limits.quantity_per_line_max;
        if quantity == 0 || quantity > max {
            return Err(CartError::InvalidQuantity { quantity, max });
        }
        Ok(())
    }

    /// Whether `list` can take one more line.
    fn check_room(&self, list: CartList) -> Result<(), CartError> {
        let max = self.list_max(list);
        if self.list(list).len() >= max {
            return Err(CartError::TooManyLines { list, max });
        }
        Ok(())
    }

    /// The quantity `sku` would have in `list` after adding `quantity`, and the
    /// seq of its line if it has one. Over the per-line limit is an error.
    fn grown(&self, list: CartList, sku: &Sku, quantity: u32) -> Result<(u32, Option<u64>), CartError> {
        let max = self.limits.quantity_per_line_max;
        let Some(existing) = self.line(list, sku) else {
            self.check_room(list)?;
            return Ok((quantity, None));
        };
        let requested = u64::from(existing.quantity) + u64::from(quantity);
        if requested > u64::from(max) {
            return Err(CartError::LineQuantityExceeded { sku: sku.clone(), requested, max });
        }
        // `requested <= max`, a u32, so the sum fits.
        Ok((existing.quantity + quantity, Some(existing.seq)))
    }

    /// Moves a line between lists; it becomes the newest line of `to`.
    fn move_line(&mut self, from: CartList, to: CartList, sku: &Sku) -> Result<Vec<CartEvent>, CartError> {
        let Some(quantity) = self.line(from, sku).map(|line| line.quantity) else {
            return Err(CartError::LineNotFound { list: from, sku: sku.clone() });
        };
        let (total, _) = self.grown(to, sku, quantity)?;
        let line = CartLine { sku: sku.clone(), quantity: total, seq: self.next_seq };
        let events =
            vec![CartEvent::LineRemoved { list: from, sku: sku.clone() }, CartEvent::LineSet { list: to, line }];
        Ok(self.apply_all(events))
    }

    /// The `LineSet` events that merge `incoming` into `list`, taking fresh
    /// seqs from `next_seq`. Incoming quantities come from another valid cart;
    /// they are clamped into range rather than trusted.
    fn merge_events(
        &self,
        list: CartList,
        incoming: &[CartLine],
        next_seq: &mut u64,
    ) -> Result<Vec<CartEvent>, CartError> {
        let max = self.limits.quantity_per_line_max;
        let mut merged: Vec<CartLine> = self.list(list).to_vec();
        for line in incoming {
            let quantity = line.quantity.max(1).min(max);
            match merged.iter_mut().find(|entry| entry.sku == line.sku) {
                Some(entry) => entry.quantity = entry.quantity.saturating_add(quantity).min(max),
                None => {
                    merged.push(CartLine { sku: line.sku.clone(), quantity, seq: *next_seq });
                    *next_seq = next_seq.saturating_add(1);
                }
            }
        }
        let list_max = self.list_max(list);
        if merged.len() > list_max && merged.len() > self.list(list).len() {
            return Err(CartError::TooManyLines { list, max: list_max });
        }
        let events = merged
            .into_iter()
            .filter(|line| self.line(list, &line.sku) != Some(line))
            .map(|line| CartEvent::LineSet { list, line })
            .collect();
        Ok(events)
    }

    /// The event that takes `merged`'s units out of `list`, if it has the SKU.
    fn subtract_event(&self, list: CartList, merged: &CartLine) -> Option<CartEvent> {
        let current = self.line(list, &merged.sku)?;
        if merged.quantity == 0 {
            return None;
        }
        if current.quantity <= merged.quantity {
            return Some(CartEvent::LineRemoved { list, sku: current.sku.clone() });
        }
        let line = CartLine { quantity: current.quantity - merged.quantity, ..current.clone() };
        Some(CartEvent::LineSet { list, line })
    }

    fn has_merged(&self, source: &CartId, fingerprint: u64) -> bool {
        self.merged.iter().any(|(merged_source, merged_print)| merged_source == source && *merged_print == fingerprint)
    }

    fn record_merge(&mut self, source: CartId, fingerprint: u64) {
        if self.has_merged(&source, fingerprint) {
            return;
        }
        self.merged.push((source, fingerprint));
        if self.merged.len() > MERGED_SOURCES_MAX {
            let excess = self.merged.len() - MERGED_SOURCES_MAX;
            self.merged.drain(..excess);
        }
    }

    fn apply_all(&mut self, events: Vec<CartEvent>) -> Vec<CartEvent> {
        for event in &events {
            self.apply(event);
        }
        events
    }
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(start: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(start, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME))
}

#[cfg(test)]
mod tests;
