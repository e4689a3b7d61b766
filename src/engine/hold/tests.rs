use super::*;

fn id(name: &str) -> ReservationId {
    ReservationId::parse(name).unwrap()
}

fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn claimant(customer: &str, order: Option<&str>) -> Claimant {
    Claimant {
        customer: CustomerId::parse(customer).unwrap(),
        order: order.map(|order| OrderId::parse(order).unwrap()),
    }
}

#[test]
fn a_hold_counts_while_held_and_settles_once() {
    let mut ledger: HoldLedger = HoldLedger::default();
    ledger.open(id("a"), Hold::new(3, 1_000, at(0), ()));
    ledger.open(id("b"), Hold::new(2, 500, at(0), ()));
    assert_eq!((ledger.held(), ledger.active_count(), ledger.next_expiry()), (5, 2, Some(at(500))));
    let settled = ledger.settle(&id("b"), HoldStatus::Released, at(10)).map(|hold| hold.quantity);
    assert_eq!(settled, Some(2));
    assert!(ledger.settle(&id("b"), HoldStatus::Expired, at(20)).is_none(), "a settled hold settles once");
    assert_eq!(
        ledger.get(&id("b")).map(|hold| (hold.status, hold.settled_at)),
        Some((HoldStatus::Released, Some(at(10))))
    );
    assert_eq!((ledger.held(), ledger.next_expiry()), (3, Some(at(1_000))));
    ledger.check_invariants("test", Some(at(999))).unwrap();
    assert_eq!(
        ledger.check_invariants("test", Some(at(1_000))).map_err(|violation| violation.name),
        Err("ledger.no_due_hold")
    );
}

#[test]
fn due_holds_come_earliest_first_and_only_when_due() {
    let mut ledger: HoldLedger = HoldLedger::default();
    for (name, ttl) in [("late", 300), ("early", 100), ("middle", 200)] {
        ledger.open(id(name), Hold::new(1, ttl, at(0), ()));
    }
    let due: Vec<&str> = ledger.due(at(200)).map(|(id, _)| id.as_str()).collect();
    assert_eq!(due, ["early", "middle"]);
    assert_eq!(ledger.due(at(99)).count(), 0);
}

#[test]
fn a_retry_is_the_same_request_and_anything_else_conflicts() {
    let mut ledger: HoldLedger<Claimant> = HoldLedger::default();
    let alice = claimant("cus_alice", None);
    ledger.open(id("a"), Hold::new(2, 1_000, at(0), alice.clone()));
    assert_eq!(ledger.check_retry(&id("new"), 2, 1_000, |_| true), Ok(None));
    assert!(matches!(ledger.check_retry(&id("a"), 2, 1_000, |party| *party == alice), Ok(Some(_))));
    for (quantity, ttl, same) in [(3, 1_000, true), (2, 999, true), (2, 1_000, false)] {
        assert_eq!(ledger.check_retry(&id("a"), quantity, ttl, |_| same), Err(HoldError::Conflict { id: id("a") }));
    }
}

#[test]
fn commit_takes_a_live_hold_and_repeats_only_for_the_same_purpose() {
    let mut ledger: HoldLedger<Claimant> = HoldLedger::default();
    ledger.open(id("a"), Hold::new(1, 1_000, at(0), claimant("cus_a", None)));
    ledger.open(id("due"), Hold::new(1, 100, at(0), claimant("cus_a", None)));
    assert_eq!(ledger.check_commit(&id("a"), at(50), |_| true), Ok(None));
    let not_active = |status| Err(HoldError::NotActive { id: id("due"), status });
    assert_eq!(ledger.check_commit(&id("due"), at(100), |_| true), not_active(HoldStatus::Expired));
    let hold = ledger.settle(&id("a"), HoldStatus::Committed, at(50)).unwrap();
    hold.party.order = Some(OrderId::parse("ord_1").unwrap());
    let first = |party: &Claimant| party.order.as_ref().map(OrderId::as_str) == Some("ord_1");
    assert!(matches!(ledger.check_commit(&id("a"), at(60), first), Ok(Some(_))));
    assert_eq!(
        ledger.check_commit(&id("a"), at(60), |_| false),
        Err(HoldError::NotActive { id: id("a"), status: HoldStatus::Committed }),
        "one claim never pays for two orders"
    );
    assert_eq!(ledger.check_commit(&id("gone"), at(60), |_| true), Err(HoldError::NotFound { id: id("gone") }));
}

#[test]
fn release_and_return_are_no_ops_when_there_is_nothing_to_do() {
    let mut ledger: HoldLedger = HoldLedger::default();
    ledger.open(id("a"), Hold::new(4, 1_000, at(0), ()));
    assert_eq!(ledger.check_release(&id("a")), Ok(None));
    assert!(matches!(ledger.check_return(&id("a"), |_| true), Ok(Some(_))), "a held hold is not returned");
    ledger.settle(&id("a"), HoldStatus::Committed, at(1));
    assert_eq!(
        ledger.check_release(&id("a")),
        Err(HoldError::NotActive { id: id("a"), status: HoldStatus::Committed })
    );
    assert_eq!(ledger.check_return(&id("a"), |_| true), Ok(None));
    assert_eq!(ledger.unsell(&id("a"), at(2)).map(|hold| hold.status), Some(HoldStatus::Released));
    assert!(ledger.unsell(&id("a"), at(3)).is_none(), "units come back once");
    assert!(matches!(ledger.check_release(&id("a")), Ok(Some(_))));
    assert!(matches!(ledger.check_return(&id("a"), |_| true), Ok(Some(_))));
    ledger.check_invariants("test", Some(at(3))).unwrap();
}

#[test]
fn pruning_forgets_only_holds_settled_before_the_cutoff() {
    let mut ledger: HoldLedger = HoldLedger::default();
    for name in ["held", "old", "recent"] {
        ledger.open(id(name), Hold::new(1, 10_000, at(0), ()));
    }
    ledger.settle(&id("old"), HoldStatus::Released, at(5));
    ledger.settle(&id("recent"), HoldStatus::Committed, at(50));
    assert_eq!(ledger.prune_settled(at(10)), vec![id("old")]);
    assert!(!ledger.contains(&id("old")) && ledger.contains(&id("recent")) && ledger.contains(&id("held")));
    assert_eq!(ledger.held(), 1);
    ledger.check_invariants("test", None).unwrap();
}

#[test]
fn restore_counts_only_held_holds() {
    let mut settled = Hold::new(7, 100, at(0), ());
    settled.status = HoldStatus::Expired;
    settled.settled_at = Some(at(100));
    let ledger = HoldLedger::restore([(id("a"), Hold::new(2, 100, at(0), ())), (id("b"), settled)]);
    assert_eq!((ledger.held(), ledger.active_count()), (2, 1));
    ledger.check_invariants("test", None).unwrap();
}

/// A bucket's hold as it was stored before the ledger: the record layout of
/// existing data directories, which `Hold<()>` must keep.
#[derive(Serialize)]
struct StoredBucketHold {
    quantity: u32,
    ttl_ms: u64,
    created_at: Timestamp,
    expires_at: Timestamp,
    status: HoldStatus,
    settled_at: Option<Timestamp>,
}

#[test]
fn a_bucket_hold_keeps_its_stored_layout() {
    let config = bincode::config::standard();
    let hold = Hold { status: HoldStatus::Committed, settled_at: Some(at(42)), ..Hold::new(3, 900, at(7), ()) };
    let stored = StoredBucketHold {
        quantity: 3,
        ttl_ms: 900,
        created_at: at(7),
        expires_at: at(907),
        status: HoldStatus::Committed,
        settled_at: Some(at(42)),
    };
    let bytes = bincode::serde::encode_to_vec(&hold, config).unwrap();
    assert_eq!(bytes, bincode::serde::encode_to_vec(&stored, config).unwrap());
    let (decoded, _): (Hold, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(decoded, hold);
}
