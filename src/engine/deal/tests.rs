use super::*;
use crate::engine::{Currency, Money};

fn terms() -> DealTerms {
    DealTerms {
        id: DealId::parse("deal_1").unwrap(),
        sku: Sku::parse("TV-55").unwrap(),
        price: Money::new(19_900, Currency::USD),
        quantity: 10,
        starts_at: Timestamp::from_millis(1_000),
        ends_at: Timestamp::from_millis(100_000),
        per_customer_limit: 2,
        prime_early_access_ms: 5_000,
        claim_ttl_ms: None,
    }
}

fn customer(n: u32) -> CustomerId {
    CustomerId::parse(&format!("cus_{n}")).unwrap()
}

fn id(n: u32) -> ReservationId {
    ReservationId::parse(&format!("res_{n}")).unwrap()
}

#[test]
fn the_phase_follows_the_window_and_early_access() {
    let terms = terms();
    assert_eq!(terms.phase(Timestamp::from_millis(999)), DealPhase::Upcoming);
    assert_eq!(terms.phase(Timestamp::from_millis(1_000)), DealPhase::PrimeOnly);
    assert_eq!(terms.phase(Timestamp::from_millis(6_000)), DealPhase::Open);
    assert_eq!(terms.phase(Timestamp::from_millis(100_000)), DealPhase::Ended);
    assert!(matches!(terms.check_open(Timestamp::from_millis(2_000), false), Err(DealError::PrimeOnly { .. })));
    assert_eq!(terms.check_open(Timestamp::from_millis(2_000), true), Ok(()));
    assert_eq!(terms.check_open(Timestamp::from_millis(500), true), Err(DealError::NotActive));
    assert_eq!(terms.status(Timestamp::from_millis(7_000), 0), DealStatus::SoldOut);
    assert_eq!(terms.status(Timestamp::from_millis(7_000), 3), DealStatus::Active);
}

#[test]
fn invalid_terms_name_their_field() {
    let field = |terms: DealTerms| match terms.validate() {
        Err(DealError::Invalid { field, .. }) => field,
        _ => "accepted",
    };
    assert_eq!(field(DealTerms { quantity: 0, ..terms() }), "quantity");
    assert_eq!(field(DealTerms { per_customer_limit: 0, ..terms() }), "per_customer_limit");
    assert_eq!(field(DealTerms { ends_at: Timestamp::from_millis(1_000), ..terms() }), "ends_at");
    assert_eq!(field(DealTerms { prime_early_access_ms: 1_000_000, ..terms() }), "prime_early_access_minutes");
    assert_eq!(terms().validate(), Ok(()));
}

#[test]
fn stock_splits_evenly_with_the_remainder_first() {
    let terms = DealTerms { quantity: 10, ..terms() };
    let split: Vec<u32> = (0..3).map(|index| terms.initial_stock(index, 3)).collect();
    assert_eq!(split, vec![4, 3, 3]);
    assert_eq!(split.iter().sum::<u32>(), 10);
}

#[test]
fn a_customer_always_maps_to_the_same_shard() {
    let shards: Vec<u32> = (0..100).map(|n| shard_of(&customer(n), 4)).collect();
    assert!(shards.iter().all(|shard| *shard < 4));
    assert_eq!(shard_of(&customer(7), 4), shard_of(&customer(7), 4));
    assert!((0..4).all(|shard| shards.contains(&shard)), "customers spread over every shard");
}

#[test]
fn the_limit_is_checked_before_stock_and_counts_held_and_sold_units() {
    let mut shard = DealShard::new(0, 3);
    let now = Timestamp::from_millis(2_000);
    shard.place_claim(id(1), customer(1), 1, 2, 600_000, now).unwrap();
    shard.commit(&id(1), None, now).unwrap();
    shard.place_claim(id(2), customer(1), 1, 2, 600_000, now).unwrap();
    assert_eq!(
        shard.place_claim(id(3), customer(1), 1, 2, 600_000, now),
        Err(DealError::LimitExceeded { limit: 2, claimed: 2 })
    );
    assert_eq!(shard.place_claim(id(4), customer(2), 3, 5, 600_000, now), Err(DealError::SoldOut));
    assert_eq!(shard.counts(), ShardCounts { stock: 1, held: 1, sold: 1 });
    shard.check_invariants(2, Some(now)).unwrap();
}

#[test]
fn a_retry_returns_the_same_claim_and_a_changed_one_is_refused() {
    let mut shard = DealShard::new(0, 5);
    let now = Timestamp::from_millis(2_000);
    let (first, events) = shard.place_claim(id(1), customer(1), 1, 2, 600_000, now).unwrap();
    assert_eq!(events.len(), 1);
    let (again, none) = shard.place_claim(id(1), customer(1), 1, 2, 600_000, now).unwrap();
    assert_eq!((again, none.len()), (first, 0));
    assert_eq!(
        shard.place_claim(id(1), customer(2), 1, 2, 600_000, now),
        Err(DealError::IdempotencyConflict { id: id(1) })
    );
}

#[test]
fn an_expired_claim_returns_its_units_once_and_frees_the_limit() {
    let mut shard = DealShard::new(0, 2);
    let now = Timestamp::from_millis(2_000);
    shard.place_claim(id(1), customer(1), 2, 2, 1_000, now).unwrap();
    assert_eq!(shard.expire(now.plus_millis(999)), Vec::new());
    assert_eq!(shard.expire(now.plus_millis(1_000)).len(), 1);
    assert_eq!(shard.expire(now.plus_millis(5_000)), Vec::new(), "exactly once");
    assert_eq!(shard.counts(), ShardCounts { stock: 2, held: 0, sold: 0 });
    assert_eq!(shard.tally(&customer(1)), 0);
    assert!(matches!(shard.commit(&id(1), None, now.plus_millis(5_000)), Err(DealError::ClaimNotActive { .. })));
    shard.place_claim(id(2), customer(1), 2, 2, 1_000, now.plus_millis(5_000)).unwrap();
}

#[test]
fn units_move_between_shards_without_being_created_or_lost() {
    let terms = DealTerms { quantity: 5, ..terms() };
    let mut shards = vec![DealShard::new(0, terms.initial_stock(0, 2)), DealShard::new(1, terms.initial_stock(1, 2))];
    let (given, _) = shards[1].give(10);
    assert_eq!(given, 2, "a shard gives at most what it has");
    shards[0].take(given);
    assert_eq!(shards[0].counts().stock, 5);
    check_units_conserved(5, &shards).unwrap();
    let restored = DealShard::restore(0, shards[0].counts().stock, Vec::new());
    assert_eq!(restored.counts(), shards[0].counts());
}

fn order(n: u32) -> OrderId {
    OrderId::parse(&format!("ord_{n}")).unwrap()
}

#[test]
fn a_claim_pays_for_one_order_and_comes_back_once_when_it_is_cancelled() {
    let mut shard = DealShard::new(0, 3);
    let now = Timestamp::from_millis(2_000);
    shard.place_claim(id(1), customer(1), 2, 2, 600_000, now).unwrap();
    let (claim, events) = shard.commit(&id(1), Some(&order(1)), now).unwrap();
    assert_eq!((claim.party.order, events.len()), (Some(order(1)), 1));
    assert_eq!(shard.commit(&id(1), Some(&order(1)), now).unwrap().1, Vec::new(), "a retry by the same order");
    assert_eq!(
        shard.commit(&id(1), Some(&order(2)), now),
        Err(DealError::ClaimNotActive { id: id(1), status: HoldStatus::Committed }),
        "another order cannot use the same claim"
    );
    assert_eq!(shard.return_committed(&id(1), Some(&order(2)), now).unwrap().1, Vec::new());
    assert_eq!(shard.counts(), ShardCounts { stock: 1, held: 0, sold: 2 });

    let (claim, events) = shard.return_committed(&id(1), Some(&order(1)), now).unwrap();
    assert_eq!((claim.status, events.len()), (HoldStatus::Released, 1));
    assert_eq!(shard.counts(), ShardCounts { stock: 3, held: 0, sold: 0 });
    assert_eq!(shard.tally(&customer(1)), 0, "the customer may claim again");
    assert_eq!(shard.return_committed(&id(1), Some(&order(1)), now).unwrap().1, Vec::new(), "only once");
    shard.check_invariants(2, Some(now)).unwrap();

    let restored = DealShard::restore(0, 3, shard.claims().map(|(id, claim)| (id.clone(), claim.clone())));
    assert_eq!(restored.counts(), shard.counts(), "a returned claim counts as released after a restart");
}

#[test]
fn a_claim_is_usable_only_by_its_customer_while_held_and_not_due() {
    let mut shard = DealShard::new(0, 5);
    let now = Timestamp::from_millis(2_000);
    let (claim, _) = shard.place_claim(id(1), customer(1), 1, 2, 1_000, now).unwrap();
    assert_eq!(claim.check_held_for(&id(1), &customer(1), now), Ok(()));
    assert_eq!(claim.check_held_for(&id(1), &customer(2), now), Err(DealError::ClaimNotFound { id: id(1) }));
    assert_eq!(
        claim.check_held_for(&id(1), &customer(1), now.plus_millis(1_000)),
        Err(DealError::ClaimNotActive { id: id(1), status: HoldStatus::Expired }),
        "a held claim at its deadline counts as expired"
    );
    let (released, _) = shard.release(&id(1), now).unwrap();
    assert_eq!(
        released.check_held_for(&id(1), &customer(1), now),
        Err(DealError::ClaimNotActive { id: id(1), status: HoldStatus::Released })
    );
}
