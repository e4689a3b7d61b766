//! Random operation sequences through the handle, on the real sled store:
//! after a clean shutdown and reopen, every bucket and cart is exactly what
//! it was, and the open-time invariant check passes (it refuses to open
//! otherwise). Complements `engine_model.rs`, which checks the rules against
//! a model; this checks the persistence of what the actors did.

use crate::common::{bucket, open_manual, sku};
use mercato::engine::{CartId, ReservationId};
use mercato::{Durability, Mercato, ReserveRequest, StockUpdate};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Stock { warehouse: usize, on_hand: u64, safety: u64 },
    Reserve { id: usize, quantity: u32, ttl_ms: u64, warehouse: Option<usize> },
    Commit { id: usize },
    Release { id: usize },
    Advance { millis: u64 },
    Ship { warehouse: usize, quantity: u64 },
    CartAdd { cart: usize, sku: usize, quantity: u32 },
    CartSet { cart: usize, sku: usize, quantity: u32 },
    CartSave { cart: usize, sku: usize },
    CartMove { cart: usize, sku: usize },
    Merge { from: usize, into: usize },
}

const WAREHOUSES: [&str; 2] = ["W-A", "W-B"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..20u64, 0..3u64).prop_map(|(warehouse, on_hand, safety)| Op::Stock {
            warehouse,
            on_hand,
            safety
        }),
        (0..10usize, 0..4u32, 1..2_000u64, proptest::option::of(0..2usize))
            .prop_map(|(id, quantity, ttl_ms, warehouse)| Op::Reserve { id, quantity, ttl_ms, warehouse }),
        (0..10usize).prop_map(|id| Op::Commit { id }),
        (0..10usize).prop_map(|id| Op::Release { id }),
        (1..1_500u64).prop_map(|millis| Op::Advance { millis }),
        (0..2usize, 1..3u64).prop_map(|(warehouse, quantity)| Op::Ship { warehouse, quantity }),
        (0..2usize, 0..4usize, 1..400u32).prop_map(|(cart, sku, quantity)| Op::CartAdd { cart, sku, quantity }),
        (0..2usize, 0..4usize, 0..5u32).prop_map(|(cart, sku, quantity)| Op::CartSet { cart, sku, quantity }),
        (0..2usize, 0..4usize).prop_map(|(cart, sku)| Op::CartSave { cart, sku }),
        (0..2usize, 0..4usize).prop_map(|(cart, sku)| Op::CartMove { cart, sku }),
        (0..2usize, 0..2usize).prop_map(|(from, into)| Op::Merge { from, into }),
    ]
}

fn reservation(id: usize) -> ReservationId {
    ReservationId::parse(&format!("res_{id}")).unwrap()
}

fn cart(n: usize) -> CartId {
    CartId::parse(&format!("cart_{n}")).unwrap()
}

/// Runs one op; business rejections are expected and ignored (each one
/// changes nothing, which the reopen comparison also covers).
async fn run(mercato: &Mercato, clock: &mercato::clock::ManualClock, op: Op) {
    let _ = match op {
        Op::Stock { warehouse, on_hand, safety } => mercato
            .inventory()
            .set_stock(
                bucket("S", WAREHOUSES[warehouse]),
                StockUpdate { on_hand: Some(on_hand), safety_stock: Some(safety) },
            )
            .await
            .map(drop),
        Op::Reserve { id, quantity, ttl_ms, warehouse } => {
            let mut request = ReserveRequest::new(sku("S"), quantity).id(reservation(id)).ttl_ms(ttl_ms);
            request.warehouse = warehouse.map(|n| bucket("S", WAREHOUSES[n]).warehouse);
            mercato.inventory().reserve(request).await.map(drop)
        }
        Op::Commit { id } => mercato.inventory().commit(&reservation(id)).await.map(drop),
        Op::Release { id } => mercato.inventory().release(&reservation(id)).await.map(drop),
        Op::Advance { millis } => {
            clock.advance_millis(millis);
            Ok(())
        }
        Op::Ship { warehouse, quantity } => {
            mercato.inventory().ship(&bucket("S", WAREHOUSES[warehouse]), quantity).await.map(drop)
        }
        Op::CartAdd { cart: n, sku: s, quantity } => {
            mercato.carts().add(&cart(n), sku(&format!("C-{s}")), quantity).await.map(drop)
        }
        Op::CartSet { cart: n, sku: s, quantity } => {
            mercato.carts().set_quantity(&cart(n), sku(&format!("C-{s}")), quantity).await.map(drop)
        }
        Op::CartSave { cart: n, sku: s } => {
            mercato.carts().save_for_later(&cart(n), sku(&format!("C-{s}"))).await.map(drop)
        }
        Op::CartMove { cart: n, sku: s } => {
            mercato.carts().move_to_cart(&cart(n), sku(&format!("C-{s}"))).await.map(drop)
        }
        Op::Merge { from, into } => mercato.carts().merge(&cart(from), &cart(into)).await.map(drop),
    };
}

/// Everything observable: both buckets with their holds, both carts.
async fn observe(mercato: &Mercato) -> String {
    let mut seen = String::new();
    for warehouse in WAREHOUSES {
        let snapshot = mercato.inventory().observe_bucket(&bucket("S", warehouse)).await.unwrap();
        seen.push_str(&serde_json::to_string(&snapshot).unwrap());
    }
    for n in 0..2 {
        seen.push_str(&serde_json::to_string(&mercato.carts().get(&cart(n)).await.unwrap()).unwrap());
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn state_after_reopen_equals_state_before(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let (mercato, clock) = open_manual(dir.path(), Durability::Strict);
            crate::common::for_sale(&mercato, &(0..4).map(|s| format!("C-{s}")).collect::<Vec<_>>()).await;
            for n in 0..2 {
                mercato.carts().open(&cart(n)).await.unwrap();
            }
            for op in ops {
                run(&mercato, &clock, op).await;
            }
            let before = observe(&mercato).await;
            let now = clock.as_ref();
            let resume_at = mercato::clock::Clock::now(now);
            mercato.shutdown().await.unwrap();
            drop(mercato);

            let (reopened, clock) = open_manual(dir.path(), Durability::Strict);
            clock.set(resume_at);
            let after = observe(&reopened).await;
            assert_eq!(after, before);
            reopened.shutdown().await.unwrap();
        });
    }
}
