use super::*;
use CartList::{Lines, Saved};

const LIMITS: CartLimits = CartLimits { quantity_per_line_max: 9, lines_max: 2, saved_lines_max: 2 };

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn line(raw: &str, quantity: u32, seq: u64) -> CartLine {
    CartLine { sku: sku(raw), quantity, seq }
}

fn guest() -> CartId {
    CartId::parse("guest").unwrap()
}

fn not_found(list: CartList, raw: &str) -> CartError {
    CartError::LineNotFound { list, sku: sku(raw) }
}

fn exceeded(raw: &str, requested: u64) -> CartError {
    CartError::LineQuantityExceeded { sku: sku(raw), requested, max: 9 }
}

fn too_many(list: CartList) -> CartError {
    CartError::TooManyLines { list, max: 2 }
}

fn invalid(quantity: u32) -> CartError {
    CartError::InvalidQuantity { quantity, max: 9 }
}

/// A cart whose every operation is checked: an error changes nothing,
/// replaying the returned events on the old state gives the new state, and
/// the invariants hold afterwards.
struct Checked(Cart);

impl Checked {
    fn new(limits: CartLimits) -> Self {
        Checked(Cart::new(CartId::parse("cart-1").unwrap(), limits))
    }

    fn run(
        &mut self,
        op: impl FnOnce(&mut Cart) -> Result<Vec<CartEvent>, CartError>,
    ) -> Result<Vec<CartEvent>, CartError> {
        let before = self.0.clone();
        let result = op(&mut self.0);
        match &result {
            Ok(events) => {
                let mut replayed = before;
                events.iter().for_each(|event| replayed.apply(event));
                assert_eq!(replayed, self.0);
            }
            Err(_) => assert_eq!(before, self.0),
        }
        assert_eq!(self.0.check_invariants(), Ok(()));
        result
    }

    fn ok(&mut self, op: impl FnOnce(&mut Cart) -> Result<Vec<CartEvent>, CartError>) -> Vec<CartEvent> {
        self.run(op).unwrap()
    }

    fn err(&mut self, op: impl FnOnce(&mut Cart) -> Result<Vec<CartEvent>, CartError>) -> CartError {
        self.run(op).unwrap_err()
    }

    fn contents(&self, list: CartList) -> Vec<(&str, u32)> {
        self.0.list(list).iter().map(|line| (line.sku.as_str(), line.quantity)).collect()
    }
}

#[test]
fn adding_a_sku_twice_grows_one_line_that_keeps_its_place() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 2));
    cart.ok(|c| c.add(sku("b"), 1));
    let events = cart.ok(|c| c.add(sku("a"), 3));
    assert_eq!(events, vec![CartEvent::LineSet { list: Lines, line: line("a", 5, 0) }]);
    assert_eq!(cart.contents(Lines), vec![("a", 5), ("b", 1)]);
    assert_eq!(cart.0.item_count(), 6);
}

#[test]
fn add_rejects_quantities_outside_the_range_and_never_caps() {
    let mut cart = Checked::new(LIMITS);
    assert_eq!(cart.err(|c| c.add(sku("a"), 0)), invalid(0));
    assert_eq!(cart.err(|c| c.add(sku("a"), 10)), invalid(10));
    cart.ok(|c| c.add(sku("a"), 7));
    assert_eq!(cart.err(|c| c.add(sku("a"), 3)), exceeded("a", 10));
    assert_eq!(cart.contents(Lines), vec![("a", 7)]);
}

#[test]
fn a_new_line_beyond_the_line_limit_is_rejected_but_existing_lines_still_grow() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 1));
    cart.ok(|c| c.add(sku("b"), 1));
    assert_eq!(cart.err(|c| c.add(sku("c"), 1)), too_many(Lines));
    assert_eq!(cart.err(|c| c.set_quantity(sku("c"), 1)), too_many(Lines));
    cart.ok(|c| c.add(sku("b"), 1));
}

#[test]
fn set_quantity_creates_changes_and_removes_lines() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.set_quantity(sku("a"), 4));
    cart.ok(|c| c.set_quantity(sku("b"), 2));
    assert_eq!(cart.ok(|c| c.set_quantity(sku("a"), 4)), Vec::new());
    cart.ok(|c| c.set_quantity(sku("a"), 9));
    assert_eq!(cart.contents(Lines), vec![("a", 9), ("b", 2)]);
    assert_eq!(cart.err(|c| c.set_quantity(sku("a"), 10)), invalid(10));
    let events = cart.ok(|c| c.set_quantity(sku("a"), 0));
    assert_eq!(events, vec![CartEvent::LineRemoved { list: Lines, sku: sku("a") }]);
    assert_eq!(cart.err(|c| c.set_quantity(sku("a"), 0)), not_found(Lines, "a"));
}

#[test]
fn removing_an_absent_line_is_line_not_found() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 1));
    assert_eq!(cart.err(|c| c.remove(&sku("b"))), not_found(Lines, "b"));
    cart.ok(|c| c.remove(&sku("a")));
    assert!(cart.0.is_empty());
}

#[test]
fn removing_ordered_skus_takes_the_lines_present_once_and_skips_the_rest() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 1));
    cart.ok(|c| c.add(sku("b"), 2));
    cart.ok(|c| c.save_for_later(&sku("b")));
    cart.ok(|c| c.add(sku("c"), 3));
    // "b" is only saved for later, "x" was never there, "a" is named twice.
    let ordered = [sku("a"), sku("b"), sku("x"), sku("a")];
    let events = cart.ok(|c| Ok(c.remove_ordered(&ordered)));
    assert_eq!(events, vec![CartEvent::LineRemoved { list: Lines, sku: sku("a") }]);
    assert_eq!(cart.contents(Lines), vec![("c", 3)]);
    assert_eq!(cart.contents(Saved), vec![("b", 2)]);
    assert_eq!(cart.ok(|c| Ok(c.remove_ordered(&ordered))), Vec::new());
}

#[test]
fn saving_for_later_moves_the_line_and_makes_it_the_newest_saved_line() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 2));
    cart.ok(|c| c.add(sku("b"), 3));
    cart.ok(|c| c.save_for_later(&sku("a")));
    cart.ok(|c| c.save_for_later(&sku("b")));
    cart.ok(|c| c.add(sku("a"), 4));
    assert_eq!(cart.ok(|c| c.save_for_later(&sku("a"))).len(), 2);
    assert_eq!(cart.contents(Saved), vec![("b", 3), ("a", 6)]);
    assert!(cart.0.lines().is_empty());
    assert!(!cart.0.is_empty());
    assert_eq!(cart.0.item_count(), 0);
}

#[test]
fn saving_for_later_rejects_missing_lines_full_lists_and_overfull_lines() {
    let mut cart = Checked::new(LIMITS);
    assert_eq!(cart.err(|c| c.save_for_later(&sku("a"))), not_found(Lines, "a"));
    for (raw, quantity) in [("a", 5), ("b", 1)] {
        cart.ok(|c| c.add(sku(raw), quantity));
        cart.ok(|c| c.save_for_later(&sku(raw)));
    }
    cart.ok(|c| c.add(sku("c"), 1));
    assert_eq!(cart.err(|c| c.save_for_later(&sku("c"))), too_many(Saved));
    cart.ok(|c| c.add(sku("a"), 5));
    assert_eq!(cart.err(|c| c.save_for_later(&sku("a"))), exceeded("a", 10));
}

#[test]
fn moving_to_cart_is_the_mirror_of_saving_for_later() {
    let mut cart = Checked::new(LIMITS);
    assert_eq!(cart.err(|c| c.move_to_cart(&sku("a"))), not_found(Saved, "a"));
    cart.ok(|c| c.add(sku("a"), 2));
    cart.ok(|c| c.save_for_later(&sku("a")));
    cart.ok(|c| c.add(sku("b"), 1));
    cart.ok(|c| c.add(sku("c"), 1));
    assert_eq!(cart.err(|c| c.move_to_cart(&sku("a"))), too_many(Lines));
    cart.ok(|c| c.remove(&sku("b")));
    cart.ok(|c| c.move_to_cart(&sku("a")));
    assert_eq!(cart.contents(Lines), vec![("c", 1), ("a", 2)]);
}

#[test]
fn merge_adds_quantities_capped_appends_new_skus_and_is_idempotent() {
    let mut cart = Checked::new(CartLimits { lines_max: 3, ..LIMITS });
    cart.ok(|c| c.add(sku("a"), 7));
    let lines = [line("b", 2, 4), line("a", 5, 9)];
    let saved = [line("c", 40, 1)];
    let events = cart.ok(|c| c.merge(&guest(), 42, &lines, &saved));
    assert_eq!(events.last(), Some(&CartEvent::Merged { source: guest(), fingerprint: 42 }));
    assert_eq!(cart.contents(Lines), vec![("a", 9), ("b", 2)]);
    assert_eq!(cart.contents(Saved), vec![("c", 9)]);
    assert_eq!(cart.ok(|c| c.merge(&guest(), 42, &lines, &saved)), Vec::new());
}

#[test]
fn a_merge_needing_too_many_lines_changes_nothing() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 1));
    let lines = [line("b", 1, 0), line("c", 1, 1)];
    assert_eq!(cart.err(|c| c.merge(&guest(), 1, &lines, &[])), too_many(Lines));
    let repeated = [line("b", 1, 0), line("c", 1, 1), line("b", 1, 0)];
    assert_eq!(cart.ok(|c| c.merge(&guest(), 1, &[], &repeated)).len(), 3);
    assert_eq!(cart.contents(Saved), vec![("b", 2), ("c", 1)]);
}

#[test]
fn only_the_sixteen_most_recent_merges_are_remembered() {
    let mut cart = Checked::new(LIMITS);
    for fingerprint in 0..17 {
        cart.ok(|c| c.merge(&guest(), fingerprint, &[], &[]));
    }
    assert_eq!(cart.ok(|c| c.merge(&guest(), 16, &[], &[])), Vec::new());
    assert_eq!(cart.ok(|c| c.merge(&guest(), 1, &[], &[])), Vec::new());
    assert_eq!(cart.ok(|c| c.merge(&guest(), 0, &[], &[])).len(), 1);
}

#[test]
fn remove_merged_subtracts_what_was_merged_and_keeps_later_units() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 3));
    cart.ok(|c| c.add(sku("b"), 2));
    let snapshot = cart.0.lines().to_vec();
    cart.ok(|c| c.add(sku("a"), 4));
    cart.ok(|c| c.remove(&sku("b")));
    cart.ok(|c| Ok(c.remove_merged(&snapshot, &[line("z", 1, 0)])));
    assert_eq!(cart.contents(Lines), vec![("a", 4)]);
    cart.ok(|c| Ok(c.remove_merged(&snapshot, &[])));
    assert_eq!(cart.contents(Lines), vec![("a", 1)]);
    cart.ok(|c| Ok(c.remove_merged(&[line("a", 5, 0)], &[])));
    assert!(cart.0.is_empty());
}

#[test]
fn clear_removes_both_lists_but_not_merge_records() {
    let mut cart = Checked::new(LIMITS);
    cart.ok(|c| c.add(sku("a"), 1));
    cart.ok(|c| c.add(sku("b"), 1));
    cart.ok(|c| c.save_for_later(&sku("b")));
    cart.ok(|c| c.merge(&guest(), 5, &[], &[]));
    assert_eq!(cart.ok(|c| Ok(c.clear())).len(), 2);
    assert!(cart.0.is_empty());
    assert_eq!(cart.ok(|c| c.merge(&guest(), 5, &[], &[])), Vec::new());
}

#[test]
fn restore_sorts_lines_by_seq_and_continues_after_the_largest_seq() {
    let records = [(Saved, line("c", 1, 7)), (Lines, line("b", 2, 5)), (Lines, line("a", 3, 2))];
    let mut cart = Checked(Cart::restore(CartId::parse("cart-1").unwrap(), LIMITS, records, [(guest(), 9)]));
    assert_eq!(cart.0.check_invariants(), Ok(()));
    assert_eq!(cart.contents(Lines), vec![("a", 3), ("b", 2)]);
    cart.ok(|c| c.remove(&sku("b")));
    cart.ok(|c| c.add(sku("d"), 1));
    assert_eq!(cart.0.line(Lines, &sku("d")).map(|line| line.seq), Some(8));
    assert_eq!(cart.ok(|c| c.merge(&guest(), 9, &[], &[])), Vec::new());
}

#[test]
fn the_fingerprint_depends_on_content_only_and_is_fnv1a() {
    assert_eq!(Checked::new(LIMITS).0.fingerprint(), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
    let mut first = Checked::new(LIMITS);
    first.ok(|c| c.add(sku("a"), 1));
    first.ok(|c| c.add(sku("b"), 2));
    let mut second = Checked::new(LIMITS);
    second.ok(|c| c.add(sku("b"), 2));
    second.ok(|c| c.add(sku("a"), 1));
    assert_eq!(first.0.fingerprint(), second.0.fingerprint());
    second.ok(|c| c.save_for_later(&sku("a")));
    assert_ne!(first.0.fingerprint(), second.0.fingerprint());
}

#[test]
fn each_broken_invariant_is_reported_by_name() {
    let name = |lines: Vec<CartLine>, next_seq: u64| {
        let cart = Cart { lines, next_seq, ..Checked::new(LIMITS).0 };
        cart.check_invariants().map_err(|violation| violation.name)
    };
    assert_eq!(name(vec![line("a", 0, 0)], 1), Err("cart.quantity_in_range"));
    assert_eq!(name(vec![line("a", 1, 0), line("b", 1, 1), line("c", 1, 2)], 3), Err("cart.lines_within_limit"));
    assert_eq!(name(vec![line("a", 1, 0), line("a", 1, 1)], 2), Err("cart.unique_skus"));
    assert_eq!(name(vec![line("a", 1, 1), line("b", 1, 0)], 2), Err("cart.ordered_by_seq"));
    assert_eq!(name(vec![line("a", 1, 1)], 1), Err("cart.seq_below_next"));
    assert_eq!(name(vec![line("a", 1, 1)], 2), Ok(()));
}
