//! Model tests for the engine: random operation sequences run against the
//! engine and against trivial models that implement the documented rules on
//! their own (they never call the engine). After every step both must agree,
//! the invariants must hold, and the state rebuilt "after a reopen" (from the
//! records a store would hold, or by replaying the events) must equal the live
//! state.

use mercato::engine::{
    Bucket, BucketCounters, BucketKey, Cart, CartError, CartEvent, CartId, CartLimits, CartLine, CartList, Hold,
    HoldStatus, InventoryCounts, InventoryError, InventoryEvent, ReservationId, Sku, Timestamp, WarehouseId,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

// ---------------------------------------------------------------------------
// Inventory bucket
// ---------------------------------------------------------------------------

/// Eight reservation ids, so that retries and conflicts happen often.
const RESERVATION_IDS: u8 = 8;

#[derive(Debug, Clone)]
enum BucketOp {
    Reserve { id: u8, quantity: u32, ttl_ms: u64 },
    Commit { id: u8 },
    Release { id: u8 },
    Expire,
    Ship { quantity: u64 },
    SetOnHand { on_hand: u64 },
    SetSafetyStock { safety_stock: u64 },
    Restock { quantity: u64 },
    Advance { millis: u64 },
}

fn bucket_op() -> impl Strategy<Value = BucketOp> {
    prop_oneof![
        4 => (0..RESERVATION_IDS, 0u32..5, reservation_ttl())
            .prop_map(|(id, quantity, ttl_ms)| BucketOp::Reserve { id, quantity, ttl_ms }),
        2 => (0..RESERVATION_IDS).prop_map(|id| BucketOp::Commit { id }),
        1 => (0..RESERVATION_IDS).prop_map(|id| BucketOp::Release { id }),
        1 => Just(BucketOp::Expire),
        1 => (0u64..6).prop_map(|quantity| BucketOp::Ship { quantity }),
        1 => (0u64..30).prop_map(|on_hand| BucketOp::SetOnHand { on_hand }),
        1 => (0u64..5).prop_map(|safety_stock| BucketOp::SetSafetyStock { safety_stock }),
        2 => (0u64..10).prop_map(|quantity| BucketOp::Restock { quantity }),
        3 => (0u64..30).prop_map(|millis| BucketOp::Advance { millis }),
    ]
}

/// 1..50 ms, mostly one value so that identical retries happen often.
fn reservation_ttl() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(20u64), 1 => 1u64..50]
}

fn reservation_id(id: u8) -> ReservationId {
    ReservationId::parse(&format!("res-{id}")).expect("valid reservation id")
}

fn bucket_key() -> BucketKey {
    BucketKey::new(Sku::parse("sku-1").expect("valid sku"), WarehouseId::parse("wh-1").expect("valid warehouse"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ModelHold {
    quantity: u32,
    ttl_ms: u64,
    expires_at: u64,
    status: HoldStatus,
}

/// The rules of `inventory.rs`'s module docs, written out the dumb way.
#[derive(Debug, Default)]
struct BucketModel {
    on_hand: u64,
    safety_stock: u64,
    committed: u64,
    holds: BTreeMap<u8, ModelHold>,
}

impl BucketModel {
    fn held(&self) -> u64 {
        self.holds.values().filter(|hold| hold.status == HoldStatus::Held).map(|hold| u64::from(hold.quantity)).sum()
    }

    fn available(&self) -> u64 {
        let taken = self.held() + self.committed + self.safety_stock;
        self.on_hand.saturating_sub(taken)
    }

    fn counts(&self) -> InventoryCounts {
        InventoryCounts {
            on_hand: self.on_hand,
            held: self.held(),
            committed: self.committed,
            safety_stock: self.safety_stock,
            available: self.available(),
            deal_held: 0,
        }
    }

    /// Expires the due holds; returns their ids in order.
    fn expire(&mut self, now: u64) -> Vec<u8> {
        let mut expired = Vec::new();
        for (id, hold) in self.holds.iter_mut() {
            if hold.status == HoldStatus::Held && hold.expires_at <= now {
                hold.status = HoldStatus::Expired;
                expired.push(*id);
            }
        }
        expired
    }

    fn step(&mut self, op: &BucketOp, now: u64) -> Result<(), InventoryError> {
        match *op {
            BucketOp::Reserve { id, quantity, ttl_ms } => self.reserve(id, quantity, ttl_ms, now),
            BucketOp::Commit { id } => self.commit(id, now),
            BucketOp::Release { id } => self.release(id),
            BucketOp::Expire | BucketOp::Advance { .. } => Ok(()),
            BucketOp::Ship { quantity } => self.ship(quantity),
            BucketOp::SetOnHand { on_hand } => {
                let allocated = self.held() + self.committed;
                if on_hand < allocated {
                    return Err(InventoryError::OnHandBelowAllocated { requested: on_hand, allocated });
                }
                self.on_hand = on_hand;
                Ok(())
            }
            BucketOp::SetSafetyStock { safety_stock } => {
                self.safety_stock = safety_stock;
                Ok(())
            }
            BucketOp::Restock { quantity } => {
                if quantity == 0 {
                    return Err(InventoryError::InvalidQuantity);
                }
                self.on_hand += quantity;
                Ok(())
            }
        }
    }

    fn reserve(&mut self, id: u8, quantity: u32, ttl_ms: u64, now: u64) -> Result<(), InventoryError> {
        if let Some(hold) = self.holds.get(&id) {
            if hold.quantity == quantity && hold.ttl_ms == ttl_ms {
                return Ok(());
            }
            return Err(InventoryError::IdempotencyConflict { id: reservation_id(id) });
        }
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        let available = self.available();
        if u64::from(quantity) > available {
            return Err(InventoryError::InsufficientStock { requested: u64::from(quantity), available });
        }
        let hold = ModelHold { quantity, ttl_ms, expires_at: now + ttl_ms, status: HoldStatus::Held };
        self.holds.insert(id, hold);
        Ok(())
    }

    fn commit(&mut self, id: u8, now: u64) -> Result<(), InventoryError> {
        let Some(hold) = self.holds.get_mut(&id) else {
            return Err(InventoryError::ReservationNotFound { id: reservation_id(id) });
        };
        let not_active = |status| Err(InventoryError::HoldNotActive { id: reservation_id(id), status });
        match hold.status {
            HoldStatus::Committed => Ok(()),
            HoldStatus::Released | HoldStatus::Expired => not_active(hold.status),
            HoldStatus::Held if hold.expires_at <= now => not_active(HoldStatus::Expired),
            HoldStatus::Held => {
                hold.status = HoldStatus::Committed;
                self.committed += u64::from(hold.quantity);
                Ok(())
            }
        }
    }

    fn release(&mut self, id: u8) -> Result<(), InventoryError> {
        let Some(hold) = self.holds.get_mut(&id) else {
            return Err(InventoryError::ReservationNotFound { id: reservation_id(id) });
        };
        match hold.status {
            HoldStatus::Released | HoldStatus::Expired => Ok(()),
            HoldStatus::Committed => {
                Err(InventoryError::HoldNotActive { id: reservation_id(id), status: HoldStatus::Committed })
            }
            HoldStatus::Held => {
                hold.status = HoldStatus::Released;
                Ok(())
            }
        }
    }

    fn ship(&mut self, quantity: u64) -> Result<(), InventoryError> {
        if quantity == 0 {
            return Err(InventoryError::InvalidQuantity);
        }
        if quantity > self.committed {
            return Err(InventoryError::ShipExceedsCommitted { requested: quantity, committed: self.committed });
        }
        self.committed -= quantity;
        self.on_hand -= quantity;
        Ok(())
    }
}

/// What a store would hold after writing what each event changed.
#[derive(Debug, Default)]
struct BucketStore {
    counters: BucketCounters,
    holds: HashMap<ReservationId, Hold>,
}

impl BucketStore {
    fn write(&mut self, bucket: &Bucket, events: &[InventoryEvent]) {
        for event in events {
            if let Some(id) = event.reservation_id() {
                let hold = bucket.hold(id).expect("an event's hold is in the bucket");
                self.holds.insert(id.clone(), hold.clone());
            }
            if event.changes_counters() {
                self.counters = bucket.counters();
            }
        }
    }
}

/// Runs one operation on the bucket; the hold it answered with, if any.
fn run_bucket_op(
    bucket: &mut Bucket,
    op: &BucketOp,
    now: Timestamp,
) -> Result<(Option<Hold>, Vec<InventoryEvent>), InventoryError> {
    let without_hold = |events| (None, events);
    match *op {
        BucketOp::Reserve { id, quantity, ttl_ms } => {
            bucket.reserve(reservation_id(id), quantity, ttl_ms, now).map(|(hold, events)| (Some(hold), events))
        }
        BucketOp::Commit { id } => bucket.commit(&reservation_id(id), now).map(|(hold, events)| (Some(hold), events)),
        BucketOp::Release { id } => bucket.release(&reservation_id(id), now).map(|(hold, events)| (Some(hold), events)),
        BucketOp::Expire => Ok(without_hold(bucket.expire(now))),
        BucketOp::Ship { quantity } => bucket.ship(quantity).map(without_hold),
        BucketOp::SetOnHand { on_hand } => bucket.set_on_hand(on_hand).map(without_hold),
        BucketOp::SetSafetyStock { safety_stock } => Ok(without_hold(bucket.set_safety_stock(safety_stock))),
        BucketOp::Restock { quantity } => bucket.restock(quantity).map(without_hold),
        BucketOp::Advance { .. } => Ok(without_hold(Vec::new())),
    }
}

/// Running totals that must hold over the whole run, whatever the order.
#[derive(Debug, Default)]
struct BucketAudit {
    expired_per_id: HashMap<ReservationId, u32>,
    on_hand: u64,
    supplied_total: u64,
    committed_total: u64,
}

impl BucketAudit {
    fn record(&mut self, events: &[InventoryEvent]) {
        for event in events {
            match event {
                InventoryEvent::Expired { id, .. } => *self.expired_per_id.entry(id.clone()).or_default() += 1,
                InventoryEvent::Committed { quantity, .. } => self.committed_total += u64::from(*quantity),
                InventoryEvent::Restocked { quantity } => {
                    self.supplied_total += quantity;
                    self.on_hand += quantity;
                }
                InventoryEvent::OnHandSet { on_hand } => {
                    self.supplied_total += on_hand.saturating_sub(self.on_hand);
                    self.on_hand = *on_hand;
                }
                InventoryEvent::Shipped { quantity } => self.on_hand -= quantity,
                _ => {}
            }
        }
        assert!(
            self.expired_per_id.values().all(|count| *count <= 1),
            "a hold expired twice: {:?}",
            self.expired_per_id
        );
        assert!(
            self.committed_total <= self.supplied_total,
            "sold {} of {} units ever supplied",
            self.committed_total,
            self.supplied_total
        );
    }
}

fn check_bucket_step(bucket: &Bucket, model: &BucketModel, now: Timestamp) {
    let counts = bucket.counts();
    assert_eq!(counts, model.counts());
    assert_eq!(bucket.check_invariants(Some(now)), Ok(()));
    let formula = counts.on_hand.saturating_sub(counts.held + counts.committed + counts.safety_stock);
    assert!(counts.available <= formula, "available {} above {formula}", counts.available);
    for (id, model_hold) in &model.holds {
        let hold = bucket.hold(&reservation_id(*id)).expect("the model's hold is in the bucket");
        let seen = ModelHold {
            quantity: hold.quantity,
            ttl_ms: hold.ttl_ms,
            expires_at: hold.expires_at.as_millis(),
            status: hold.status,
        };
        assert_eq!(&seen, model_hold, "hold {id}");
    }
    assert_eq!(bucket.holds().count(), model.holds.len());
}

fn run_bucket_model(ops: &[BucketOp]) {
    let mut bucket = Bucket::new(bucket_key());
    let mut model = BucketModel::default();
    let mut store = BucketStore::default();
    let mut audit = BucketAudit::default();
    let mut all_events: Vec<InventoryEvent> = Vec::new();
    let mut now = Timestamp::from_millis(1_000);
    for op in ops {
        if let BucketOp::Advance { millis } = op {
            now = now.plus_millis(*millis);
        }
        let expired = bucket.expire(now);
        let expired_ids: Vec<ReservationId> =
            expired.iter().filter_map(|event| event.reservation_id().cloned()).collect();
        let model_expired: Vec<ReservationId> = model.expire(now.as_millis()).into_iter().map(reservation_id).collect();
        assert_eq!(sorted(expired_ids), sorted(model_expired));
        store.write(&bucket, &expired);
        audit.record(&expired);
        all_events.extend(expired);

        let before = bucket.clone();
        let result = run_bucket_op(&mut bucket, op, now);
        let model_result = model.step(op, now.as_millis());
        assert_eq!(result.as_ref().err(), model_result.as_ref().err(), "op {op:?}");
        match result {
            Ok((hold, events)) => {
                if let (Some(hold), BucketOp::Reserve { id, .. } | BucketOp::Commit { id } | BucketOp::Release { id }) =
                    (hold, op)
                {
                    assert_eq!(bucket.hold(&reservation_id(*id)), Some(&hold));
                }
                store.write(&bucket, &events);
                audit.record(&events);
                all_events.extend(events);
            }
            Err(_) => assert_eq!(bucket, before, "an error changed the bucket"),
        }
        check_bucket_step(&bucket, &model, now);
    }
    check_bucket_reopen(&bucket, store, &all_events);
}

fn sorted(mut ids: Vec<ReservationId>) -> Vec<ReservationId> {
    ids.sort();
    ids
}

/// The bucket rebuilt from the store's records, and by replaying every event,
/// equals the live one.
fn check_bucket_reopen(bucket: &Bucket, store: BucketStore, all_events: &[InventoryEvent]) {
    assert_eq!(store.counters, bucket.counters(), "the store missed a counter change");
    let restored = Bucket::restore(bucket_key(), store.counters, store.holds);
    assert_eq!(&restored, bucket);
    let mut replayed = Bucket::new(bucket_key());
    for event in all_events {
        replayed.apply(event);
    }
    assert_eq!(&replayed, bucket);
    assert_eq!(replayed.counts(), bucket.counts());
}

// ---------------------------------------------------------------------------
// Cart
// ---------------------------------------------------------------------------

const SKUS: usize = 6;
const QUANTITY_MAX: u32 = 9;
/// Small limits, so that they are hit often.
const LIMITS: CartLimits = CartLimits { quantity_per_line_max: QUANTITY_MAX, lines_max: 3, saved_lines_max: 3 };
/// How many guest carts a run can merge from, and how many source ids.
const GUESTS: usize = 3;
const SOURCES: u8 = 2;

fn sku(index: usize) -> Sku {
    Sku::parse(&format!("sku-{index}")).expect("valid sku")
}

fn source_id(index: u8) -> CartId {
    CartId::parse(&format!("guest-{index}")).expect("valid cart id")
}

#[derive(Debug, Clone)]
enum CartOp {
    Add { sku: usize, quantity: u32 },
    SetQuantity { sku: usize, quantity: u32 },
    Remove { sku: usize },
    SaveForLater { sku: usize },
    MoveToCart { sku: usize },
    Merge { source: u8, guest: usize },
    Clear,
}

fn cart_op() -> impl Strategy<Value = CartOp> {
    prop_oneof![
        4 => (0..SKUS, 0u32..=11).prop_map(|(sku, quantity)| CartOp::Add { sku, quantity }),
        2 => (0..SKUS, 0u32..=11).prop_map(|(sku, quantity)| CartOp::SetQuantity { sku, quantity }),
        1 => (0..SKUS).prop_map(|sku| CartOp::Remove { sku }),
        2 => (0..SKUS).prop_map(|sku| CartOp::SaveForLater { sku }),
        2 => (0..SKUS).prop_map(|sku| CartOp::MoveToCart { sku }),
        2 => (0..SOURCES, 0..GUESTS).prop_map(|(source, guest)| CartOp::Merge { source, guest }),
        1 => Just(CartOp::Clear),
    ]
}

/// A list's content in order: (SKU index, quantity).
type Content = Vec<(usize, u32)>;

/// Up to three lines of distinct SKUs; `quantity` draws the quantities.
fn content(quantity: impl Strategy<Value = u32>) -> impl Strategy<Value = Content> {
    proptest::collection::vec((0..SKUS, quantity), 0..=3).prop_map(|drawn| {
        let mut lines: Content = Vec::new();
        for (index, quantity) in drawn {
            if lines.iter().all(|(seen, _)| *seen != index) {
                lines.push((index, quantity));
            }
        }
        lines
    })
}

/// A guest's quantities are mostly valid; a few are out of range, which a
/// merge must clamp.
fn guest_quantity() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 1u32..=QUANTITY_MAX, 1 => Just(0u32), 1 => QUANTITY_MAX + 1..=QUANTITY_MAX + 3]
}

/// A cart holding `lines` and `saved`, with seqs in that order.
fn cart_from(id: CartId, limits: CartLimits, lines: &Content, saved: &Content) -> Cart {
    let records = lines
        .iter()
        .map(|entry| (CartList::Lines, *entry))
        .chain(saved.iter().map(|entry| (CartList::Saved, *entry)))
        .zip(0u64..)
        .map(|((list, (index, quantity)), seq)| (list, CartLine { sku: sku(index), quantity, seq }));
    Cart::restore(id, limits, records, [])
}

fn contents(lines: &[CartLine]) -> Vec<(Sku, u32)> {
    lines.iter().map(|line| (line.sku.clone(), line.quantity)).collect()
}

/// The cart rules of `cart.rs`'s docs and the brief, on two plain vectors.
#[derive(Debug, Default)]
struct CartModel {
    lines: Content,
    saved: Content,
    merged: Vec<(u8, u64)>,
}

fn line_limit(list: CartList) -> usize {
    match list {
        CartList::Lines => LIMITS.lines_max,
        CartList::Saved => LIMITS.saved_lines_max,
    }
}

impl CartModel {
    fn list(&mut self, list: CartList) -> &mut Content {
        match list {
            CartList::Lines => &mut self.lines,
            CartList::Saved => &mut self.saved,
        }
    }

    fn step(&mut self, op: &CartOp, guests: &[Cart]) -> Result<(), CartError> {
        match *op {
            CartOp::Add { sku, quantity } => self.add(sku, quantity),
            CartOp::SetQuantity { sku, quantity } => self.set_quantity(sku, quantity),
            CartOp::Remove { sku } => self.remove(sku),
            CartOp::SaveForLater { sku } => self.move_line(CartList::Lines, CartList::Saved, sku),
            CartOp::MoveToCart { sku } => self.move_line(CartList::Saved, CartList::Lines, sku),
            CartOp::Merge { source, guest } => self.merge(source, &guests[guest]),
            CartOp::Clear => {
                self.lines.clear();
                self.saved.clear();
                Ok(())
            }
        }
    }

    fn add(&mut self, index: usize, quantity: u32) -> Result<(), CartError> {
        if quantity == 0 || quantity > QUANTITY_MAX {
            return Err(CartError::InvalidQuantity { quantity, max: QUANTITY_MAX });
        }
        if let Some(entry) = self.lines.iter_mut().find(|(seen, _)| *seen == index) {
            let requested = u64::from(entry.1 + quantity);
            if requested > u64::from(QUANTITY_MAX) {
                return Err(CartError::LineQuantityExceeded { sku: sku(index), requested, max: QUANTITY_MAX });
            }
            entry.1 += quantity;
            return Ok(());
        }
        self.push(CartList::Lines, index, quantity)
    }

    fn set_quantity(&mut self, index: usize, quantity: u32) -> Result<(), CartError> {
        if quantity == 0 {
            return self.remove(index);
        }
        if quantity > QUANTITY_MAX {
            return Err(CartError::InvalidQuantity { quantity, max: QUANTITY_MAX });
        }
        if let Some(entry) = self.lines.iter_mut().find(|(seen, _)| *seen == index) {
            entry.1 = quantity;
            return Ok(());
        }
        self.push(CartList::Lines, index, quantity)
    }

    fn push(&mut self, list: CartList, index: usize, quantity: u32) -> Result<(), CartError> {
        if self.list(list).len() >= line_limit(list) {
            return Err(CartError::TooManyLines { list, max: line_limit(list) });
        }
        self.list(list).push((index, quantity));
        Ok(())
    }

    fn remove(&mut self, index: usize) -> Result<(), CartError> {
        let Some(position) = self.lines.iter().position(|(seen, _)| *seen == index) else {
            return Err(CartError::LineNotFound { list: CartList::Lines, sku: sku(index) });
        };
        self.lines.remove(position);
        Ok(())
    }

    fn move_line(&mut self, from: CartList, to: CartList, index: usize) -> Result<(), CartError> {
        let Some(from_position) = self.list(from).iter().position(|(seen, _)| *seen == index) else {
            return Err(CartError::LineNotFound { list: from, sku: sku(index) });
        };
        let quantity = self.list(from)[from_position].1;
        match self.list(to).iter().position(|(seen, _)| *seen == index) {
            Some(to_position) => {
                let total = self.list(to)[to_position].1 + quantity;
                if total > QUANTITY_MAX {
                    let requested = u64::from(total);
                    return Err(CartError::LineQuantityExceeded { sku: sku(index), requested, max: QUANTITY_MAX });
                }
                self.list(to).remove(to_position);
                self.list(to).push((index, total));
            }
            None => self.push(to, index, quantity)?,
        }
        self.list(from).remove(from_position);
        Ok(())
    }

    fn merge(&mut self, source: u8, guest: &Cart) -> Result<(), CartError> {
        let fingerprint = guest.fingerprint();
        if self.merged.contains(&(source, fingerprint)) {
            return Ok(());
        }
        let lines = merged_content(&self.lines, guest.lines(), CartList::Lines)?;
        let saved = merged_content(&self.saved, guest.saved(), CartList::Saved)?;
        self.lines = lines;
        self.saved = saved;
        self.merged.push((source, fingerprint));
        if self.merged.len() > 16 {
            self.merged.remove(0);
        }
        Ok(())
    }
}

fn merged_content(own: &Content, incoming: &[CartLine], list: CartList) -> Result<Content, CartError> {
    let mut result = own.clone();
    for line in incoming {
        let index = (0..SKUS).find(|index| sku(*index) == line.sku).expect("a known sku");
        let quantity = line.quantity.clamp(1, QUANTITY_MAX);
        match result.iter_mut().find(|(seen, _)| *seen == index) {
            Some(entry) => entry.1 = (entry.1 + quantity).min(QUANTITY_MAX),
            None => result.push((index, quantity)),
        }
    }
    if result.len() > line_limit(list) {
        return Err(CartError::TooManyLines { list, max: line_limit(list) });
    }
    Ok(result)
}

fn run_cart_op(cart: &mut Cart, op: &CartOp, guests: &[Cart]) -> Result<Vec<CartEvent>, CartError> {
    match *op {
        CartOp::Add { sku: index, quantity } => cart.add(sku(index), quantity),
        CartOp::SetQuantity { sku: index, quantity } => cart.set_quantity(sku(index), quantity),
        CartOp::Remove { sku: index } => cart.remove(&sku(index)),
        CartOp::SaveForLater { sku: index } => cart.save_for_later(&sku(index)),
        CartOp::MoveToCart { sku: index } => cart.move_to_cart(&sku(index)),
        CartOp::Merge { source, guest } => {
            let guest_cart = &guests[guest];
            cart.merge(&source_id(source), guest_cart.fingerprint(), guest_cart.lines(), guest_cart.saved())
        }
        CartOp::Clear => Ok(cart.clear()),
    }
}

/// What a store would hold: one record per line, plus the merge records.
#[derive(Debug, Default)]
struct CartStore {
    lines: BTreeMap<(CartList, Sku), CartLine>,
    merged: Vec<(CartId, u64)>,
}

impl CartStore {
    fn write(&mut self, events: &[CartEvent]) {
        for event in events {
            match event {
                CartEvent::LineSet { list, line } => {
                    self.lines.insert((*list, line.sku.clone()), line.clone());
                }
                CartEvent::LineRemoved { list, sku } => {
                    self.lines.remove(&(*list, sku.clone()));
                }
                CartEvent::Merged { source, fingerprint } => self.merged.push((source.clone(), *fingerprint)),
            }
        }
    }
}

fn check_cart_step(cart: &Cart, model: &CartModel) {
    let model_lines: Vec<(Sku, u32)> = model.lines.iter().map(|(index, quantity)| (sku(*index), *quantity)).collect();
    let model_saved: Vec<(Sku, u32)> = model.saved.iter().map(|(index, quantity)| (sku(*index), *quantity)).collect();
    assert_eq!(contents(cart.lines()), model_lines);
    assert_eq!(contents(cart.saved()), model_saved);
    assert_eq!(cart.check_invariants(), Ok(()));
    let units: u64 = model.lines.iter().map(|(_, quantity)| u64::from(*quantity)).sum();
    assert_eq!(cart.item_count(), units);
}

/// The cart rebuilt from the store's records behaves like the live one: same
/// lines (seqs included) and the same merges remembered.
fn check_cart_reopen(cart: &Cart, store: &CartStore, guests: &[Cart]) {
    let records = store.lines.iter().map(|((list, _), line)| (*list, line.clone()));
    let restored = Cart::restore(cart.id().clone(), cart.limits(), records, store.merged.iter().cloned());
    assert_eq!(restored.lines(), cart.lines());
    assert_eq!(restored.saved(), cart.saved());
    assert_eq!(restored.fingerprint(), cart.fingerprint());
    assert_eq!(restored.check_invariants(), Ok(()));
    for source in 0..SOURCES {
        for guest in guests {
            let retry = |mut copy: Cart| {
                copy.merge(&source_id(source), guest.fingerprint(), &[], &[]).map(|events| events.is_empty())
            };
            assert_eq!(retry(restored.clone()), retry(cart.clone()), "merge memory differs after restore");
        }
    }
}

fn run_cart_model(ops: &[CartOp], guests: &[Cart]) {
    let mut cart = Cart::new(CartId::parse("customer").expect("valid cart id"), LIMITS);
    let mut model = CartModel::default();
    let mut store = CartStore::default();
    let mut all_events: Vec<CartEvent> = Vec::new();
    for op in ops {
        let before = cart.clone();
        let result = run_cart_op(&mut cart, op, guests);
        let model_result = model.step(op, guests);
        assert_eq!(result.as_ref().err(), model_result.as_ref().err(), "op {op:?}");
        match result {
            Ok(events) => {
                let mut replayed = before;
                events.iter().for_each(|event| replayed.apply(event));
                assert_eq!(replayed, cart, "the events of {op:?} do not reproduce it");
                store.write(&events);
                all_events.extend(events);
            }
            Err(_) => assert_eq!(cart, before, "an error changed the cart"),
        }
        check_cart_step(&cart, &model);
        check_cart_reopen(&cart, &store, guests);
    }
    let mut replayed = Cart::new(cart.id().clone(), cart.limits());
    all_events.iter().for_each(|event| replayed.apply(event));
    assert_eq!(replayed, cart);
}

// ---------------------------------------------------------------------------
// Merge conservation
// ---------------------------------------------------------------------------

/// Units per (list, SKU) over several carts.
fn units(carts: &[&Cart]) -> BTreeMap<(CartList, Sku), u64> {
    let mut total = BTreeMap::new();
    for cart in carts {
        for (list, lines) in [(CartList::Lines, cart.lines()), (CartList::Saved, cart.saved())] {
            for line in lines {
                *total.entry((list, line.sku.clone())).or_insert(0u64) += u64::from(line.quantity);
            }
        }
    }
    total
}

/// Merges the guest into the customer, lets the guest add `late` units after
/// the snapshot, then takes the merged units out of the guest. Every unit is
/// in one of the two carts afterwards, except what the per-line cap cut, and
/// the cap cut only lines that ended at the cap.
fn check_merge_conserves_units(customer: &mut Cart, guest: &mut Cart, late: Option<(usize, u32)>) {
    let mut expected = units(&[customer, guest]);
    let customer_before = customer.clone();
    let lines = guest.lines().to_vec();
    let saved = guest.saved().to_vec();
    let merge = customer.merge(guest.id(), guest.fingerprint(), &lines, &saved);
    if let Some((index, quantity)) = late {
        if guest.add(sku(index), quantity).is_ok() {
            *expected.entry((CartList::Lines, sku(index))).or_insert(0) += u64::from(quantity);
        }
    }
    if merge.is_ok() {
        guest.remove_merged(&lines, &saved);
    } else {
        assert_eq!(*customer, customer_before, "a failed merge changed the customer cart");
    }
    assert_eq!(customer.check_invariants(), Ok(()));
    assert_eq!(guest.check_invariants(), Ok(()));
    let after = units(&[customer, guest]);
    for (key, expected_units) in &expected {
        let (list, line_sku) = key;
        let found = after.get(key).copied().unwrap_or(0);
        let cut = match (&merge, customer_before.line(*list, line_sku)) {
            (Ok(_), Some(own)) => {
                let source = match list {
                    CartList::Lines => &lines,
                    CartList::Saved => &saved,
                };
                let merged: u64 =
                    source.iter().filter(|line| &line.sku == line_sku).map(|line| u64::from(line.quantity)).sum();
                (u64::from(own.quantity) + merged).saturating_sub(u64::from(QUANTITY_MAX))
            }
            _ => 0,
        };
        assert_eq!(found, expected_units - cut, "units of {key:?}");
        if cut > 0 {
            assert_eq!(customer.line(*list, line_sku).map(|line| line.quantity), Some(QUANTITY_MAX));
        }
    }
    assert!(after.keys().all(|key| expected.contains_key(key)), "units appeared from nowhere");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_bucket_agrees_with_its_model_and_survives_a_reopen(ops in proptest::collection::vec(bucket_op(), 1..200)) {
        run_bucket_model(&ops);
    }

    #[test]
    fn a_cart_agrees_with_its_model_and_survives_a_reopen(
        ops in proptest::collection::vec(cart_op(), 1..200),
        guests in proptest::collection::vec((content(guest_quantity()), content(guest_quantity())), GUESTS),
    ) {
        let guest_carts: Vec<Cart> = guests
            .iter()
            .enumerate()
            .map(|(index, (lines, saved))| {
                let id = CartId::parse(&format!("guest-cart-{index}")).expect("valid cart id");
                cart_from(id, LIMITS, lines, saved)
            })
            .collect();
        run_cart_model(&ops, &guest_carts);
    }

    #[test]
    fn merging_then_removing_the_merged_lines_never_loses_a_unit(
        customer_lines in content(1u32..=QUANTITY_MAX),
        customer_saved in content(1u32..=QUANTITY_MAX),
        guest_lines in content(1u32..=QUANTITY_MAX),
        guest_saved in content(1u32..=QUANTITY_MAX),
        late in proptest::option::of((0..SKUS, 1u32..=QUANTITY_MAX)),
    ) {
        let limits = CartLimits { lines_max: 4, saved_lines_max: 4, ..LIMITS };
        let customer_id = CartId::parse("customer").expect("valid cart id");
        let mut customer = cart_from(customer_id, limits, &customer_lines, &customer_saved);
        let mut guest = cart_from(source_id(0), limits, &guest_lines, &guest_saved);
        check_merge_conserves_units(&mut customer, &mut guest, late);
    }
}
