//! A flash deal under random claims over K shards, driven the way the actor
//! layer drives it (a customer claims through their shard; a shard that runs
//! dry takes units from the others before saying sold out): never more than
//! the deal quantity sold, the per-customer limit exact, units conserved,
//! every claim settled at most once, a committed claim returned at most once
//! (and only by the order it was committed for), and "sold out" only when
//! true.

use mercato::engine::deal::{check_units_conserved, shard_of, DealError, DealEvent, DealShard};
use mercato::engine::{CustomerId, OrderId, ReservationId, Timestamp};
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Claim {
        customer: u32,
        quantity: u32,
    },
    Commit {
        claim: usize,
    },
    Release {
        claim: usize,
    },
    /// The order the claim was committed for is cancelled (`wrong_order`:
    /// another order tries, and must change nothing).
    Return {
        claim: usize,
        wrong_order: bool,
    },
    Advance {
        millis: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12u32, 1..4u32).prop_map(|(customer, quantity)| Op::Claim { customer, quantity }),
        2 => (0..64usize).prop_map(|claim| Op::Commit { claim }),
        1 => (0..64usize).prop_map(|claim| Op::Release { claim }),
        1 => (0..64usize, any::<bool>()).prop_map(|(claim, wrong_order)| Op::Return { claim, wrong_order }),
        1 => (1..800u64).prop_map(|millis| Op::Advance { millis }),
    ]
}

struct Deal {
    quantity: u32,
    limit: u32,
    shards: Vec<DealShard>,
    claims: Vec<(ReservationId, u32)>,
    settled: HashMap<ReservationId, u32>,
    returned: HashMap<ReservationId, u32>,
    now: Timestamp,
}

/// The order claim `index` is committed for.
fn order_of(index: usize) -> OrderId {
    OrderId::parse(&format!("ord_{index}")).unwrap()
}

impl Deal {
    fn expire_all(&mut self) {
        for shard in &mut self.shards {
            for event in shard.expire(self.now) {
                if let DealEvent::Expired { id, .. } = event {
                    *self.settled.entry(id).or_default() += 1;
                }
            }
        }
    }

    /// Takes `wanted` units from the other shards into shard `target`.
    fn refill(&mut self, target: usize, wanted: u32) {
        for other in 0..self.shards.len() {
            let missing = wanted.saturating_sub(self.shards[target].counts().stock);
            if other == target || missing == 0 {
                continue;
            }
            let (given, _) = self.shards[other].give(missing);
            self.shards[target].take(given);
        }
    }

    fn claim(&mut self, customer: u32, quantity: u32) -> Result<(), DealError> {
        let customer = CustomerId::parse(&format!("cus_{customer}")).unwrap();
        let shard = usize::try_from(shard_of(&customer, u32::try_from(self.shards.len()).unwrap())).unwrap();
        let id = ReservationId::parse(&format!("res_{}", self.claims.len())).unwrap();
        let first = self.shards[shard].place_claim(id.clone(), customer.clone(), quantity, self.limit, 1_000, self.now);
        let result = match first {
            Err(DealError::SoldOut) => {
                self.refill(shard, quantity);
                self.shards[shard].place_claim(id.clone(), customer, quantity, self.limit, 1_000, self.now)
            }
            other => other,
        };
        if result.is_ok() {
            self.claims.push((id, u32::try_from(shard).unwrap()));
        }
        result.map(drop)
    }
}

proptest! {
    #[test]
    fn a_deal_never_oversells_and_keeps_every_limit(
        quantity in 1..40u32,
        limit in 1..4u32,
        shard_count in 1..5usize,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let shards = (0..shard_count)
            .map(|index| {
                let index = u32::try_from(index).unwrap();
                let count = u32::try_from(shard_count).unwrap();
                DealShard::new(index, quantity / count + u32::from(index < quantity % count))
            })
            .collect();
        let mut deal = Deal { quantity, limit, shards, claims: Vec::new(), settled: HashMap::new(), returned: HashMap::new(), now: Timestamp::from_millis(0) };
        for op in ops {
            deal.expire_all();
            for shard in &deal.shards {
                shard.check_invariants(deal.limit, Some(deal.now)).map_err(|v| TestCaseError::fail(v.to_string()))?;
            }
            match op {
                Op::Claim { customer, quantity } => {
                    let free_before: u32 = deal.shards.iter().map(|s| s.counts().stock).sum();
                    match deal.claim(customer, quantity) {
                        Err(DealError::SoldOut) => prop_assert!(free_before < quantity, "sold out with {free_before} free units"),
                        Err(DealError::LimitExceeded { .. }) | Ok(()) => {}
                        Err(other) => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Op::Commit { claim } | Op::Release { claim } | Op::Return { claim, .. } if claim >= deal.claims.len() => {}
                Op::Commit { claim: index } => {
                    let (id, shard) = deal.claims[index].clone();
                    let shard = &mut deal.shards[usize::try_from(shard).unwrap()];
                    if let Ok((_, events)) = shard.commit(&id, Some(&order_of(index)), deal.now) {
                        *deal.settled.entry(id).or_default() += u32::try_from(events.len()).unwrap();
                    }
                }
                Op::Release { claim } => {
                    let (id, shard) = deal.claims[claim].clone();
                    let shard = &mut deal.shards[usize::try_from(shard).unwrap()];
                    if let Ok((_, events)) = shard.release(&id, deal.now) {
                        *deal.settled.entry(id).or_default() += u32::try_from(events.len()).unwrap();
                    }
                }
                Op::Return { claim: index, wrong_order } => {
                    let (id, shard) = deal.claims[index].clone();
                    let shard = &mut deal.shards[usize::try_from(shard).unwrap()];
                    let order = order_of(if wrong_order { index + 1 } else { index });
                    let sold_before = shard.counts().sold;
                    let (_, events) = shard.return_committed(&id, Some(&order), deal.now).unwrap();
                    if wrong_order {
                        prop_assert!(events.is_empty(), "another order returned a claim");
                        prop_assert_eq!(shard.counts().sold, sold_before);
                    }
                    *deal.returned.entry(id).or_default() += u32::try_from(events.len()).unwrap();
                }
                Op::Advance { millis } => deal.now = deal.now.plus_millis(millis),
            }
            check_units_conserved(deal.quantity, &deal.shards).map_err(|v| TestCaseError::fail(v.to_string()))?;
            for shard in &deal.shards {
                shard.check_invariants(deal.limit, None).map_err(|v| TestCaseError::fail(v.to_string()))?;
            }
            let sold: u32 = deal.shards.iter().map(|s| s.counts().sold).sum();
            prop_assert!(sold <= deal.quantity);
            prop_assert!(deal.settled.values().all(|times| *times <= 1), "a claim settled twice");
            prop_assert!(deal.returned.values().all(|times| *times <= 1), "a claim returned twice");
        }
    }
}
