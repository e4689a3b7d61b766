//! Flash deals through the handle: stampedes sell exactly the quantity, the
//! per-customer limit holds under parallel claims and across restarts,
//! expiry returns units once, and claims are reservations.

use crate::common;

use crate::common::{bucket, open_manual, sku, START};
use mercato::engine::deal::{DealError, DealStatus, DealTerms};
use mercato::engine::{Currency, CustomerId, DealId, HoldStatus, InventoryError, Money};
use mercato::{Durability, Error, Mercato, StockUpdate};

fn terms(id: &str, quantity: u32, limit: u32) -> DealTerms {
    DealTerms {
        id: DealId::parse(id).unwrap(),
        sku: sku("DEAL-SKU"),
        price: Money::new(9_900, Currency::USD),
        quantity,
        starts_at: START,
        ends_at: START.plus_millis(3_600_000),
        per_customer_limit: limit,
        prime_early_access_ms: 0,
        claim_ttl_ms: None,
    }
}

fn customer(n: usize) -> CustomerId {
    CustomerId::parse(&format!("cus_{n}")).unwrap()
}

/// DEAL-SKU on sale, with `on_hand` units over two warehouses.
async fn stocked(mercato: &Mercato, on_hand: u64) {
    common::on_sale(mercato, &["DEAL-SKU"]).await;
    mercato.inventory().set_stock(bucket("DEAL-SKU", "W-A"), StockUpdate::on_hand(on_hand / 2)).await.unwrap();
    mercato
        .inventory()
        .set_stock(bucket("DEAL-SKU", "W-B"), StockUpdate::on_hand(on_hand - on_hand / 2))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_of_two_thousand_customers_buys_exactly_three_hundred() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 1_000).await;
    let deal = mercato.deals().create(terms("deal_stampede", 300, 1)).await.unwrap();
    assert_eq!(
        mercato.inventory().levels(&sku("DEAL-SKU")).await.unwrap().totals.available,
        700,
        "the deal took its units"
    );
    let tasks: Vec<_> = (0..2_000)
        .map(|n| {
            let mercato = mercato.clone();
            let id = deal.terms.id.clone();
            tokio::spawn(async move { mercato.deals().claim(&id, &customer(n), 1, false).await })
        })
        .collect();
    let (mut granted, mut sold_out) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(Error::Deal(DealError::SoldOut)) => sold_out += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((granted, sold_out), (300, 1_700));
    let view = mercato.deals().get(&deal.terms.id).await.unwrap();
    assert_eq!((view.remaining, view.held, view.sold, view.status), (0, 300, 0, DealStatus::SoldOut));
    mercato.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_claims_by_one_customer_respect_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 100).await;
    let deal = mercato.deals().create(terms("deal_limit", 50, 2)).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mercato = mercato.clone();
            let id = deal.terms.id.clone();
            tokio::spawn(async move { mercato.deals().claim(&id, &customer(7), 1, false).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(Error::Deal(DealError::LimitExceeded { .. })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, 2);
    let over = mercato.deals().claim(&deal.terms.id, &customer(8), 3, false).await;
    assert!(matches!(over, Err(Error::Deal(DealError::LimitExceeded { .. }))), "one claim above the limit");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn expired_claims_return_their_units_once_and_reopen_a_sold_out_deal() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 10).await;
    let deal = mercato.deals().create(terms("deal_expiry", 2, 1)).await.unwrap();
    let id = &deal.terms.id;
    let first = mercato.deals().claim(id, &customer(1), 1, false).await.unwrap();
    mercato.deals().claim(id, &customer(2), 1, false).await.unwrap();
    assert!(matches!(mercato.deals().claim(id, &customer(3), 1, false).await, Err(Error::Deal(DealError::SoldOut))));

    let as_reservation = mercato.inventory().reservation(&first.id).await.unwrap();
    assert_eq!((as_reservation.status, as_reservation.quantity), (HoldStatus::Held, 1));
    mercato.inventory().commit(&first.id).await.unwrap();
    clock.advance_millis(600_000);
    let view = mercato.deals().get(id).await.unwrap();
    assert_eq!((view.remaining, view.held, view.sold), (1, 0, 1), "the unpaid claim expired, the paid one stays sold");
    assert_eq!(mercato.deals().get(id).await.unwrap().remaining, 1, "exactly once");
    let again = mercato.deals().claim(id, &customer(3), 1, false).await.unwrap();
    assert_eq!(again.claim.status, HoldStatus::Held, "the sold-out flag cleared when units came back");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_limit_and_claims_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let claim_id;
    {
        let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
        stocked(&mercato, 10).await;
        mercato.deals().create(terms("deal_restart", 5, 1)).await.unwrap();
        claim_id =
            mercato.deals().claim(&DealId::parse("deal_restart").unwrap(), &customer(1), 1, false).await.unwrap().id;
        mercato.shutdown().await.unwrap();
    }
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    let id = DealId::parse("deal_restart").unwrap();
    let again = mercato.deals().claim(&id, &customer(1), 1, false).await;
    assert!(matches!(again, Err(Error::Deal(DealError::LimitExceeded { .. }))), "{again:?}");
    assert_eq!(mercato.inventory().reservation(&claim_id).await.unwrap().status, HoldStatus::Held);
    let view = mercato.deals().get(&id).await.unwrap();
    assert_eq!((view.remaining, view.held), (4, 1));
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_deal_opens_on_time_prime_first_and_needs_the_stock() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 10).await;
    let mut early = terms("deal_prime", 3, 1);
    early.starts_at = START.plus_millis(60_000);
    early.prime_early_access_ms = 60_000;
    let id = mercato.deals().create(early).await.unwrap().terms.id.clone();
    assert!(matches!(mercato.deals().claim(&id, &customer(1), 1, true).await, Err(Error::Deal(DealError::NotActive))));
    clock.advance_millis(60_000);
    assert!(matches!(
        mercato.deals().claim(&id, &customer(1), 1, false).await,
        Err(Error::Deal(DealError::PrimeOnly { .. }))
    ));
    mercato.deals().claim(&id, &customer(1), 1, true).await.unwrap();
    clock.advance_millis(60_000);
    mercato.deals().claim(&id, &customer(2), 1, false).await.unwrap();

    let too_big = mercato.deals().create(terms("deal_big", 8, 1)).await;
    assert_eq!(too_big, Err(Error::Inventory(InventoryError::InsufficientStock { requested: 8, available: 7 })));
    assert_eq!(mercato.inventory().levels(&sku("DEAL-SKU")).await.unwrap().totals.available, 7, "nothing was taken");
    assert!(matches!(mercato.deals().get(&DealId::parse("deal_big").unwrap()).await, Err(Error::DealNotFound(_))));
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_waitlist_is_offered_returned_units_in_order_and_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 10).await;
    let deal = mercato.deals().create(terms("deal_waitlist", 2, 1)).await.unwrap();
    let id = &deal.terms.id;
    assert!(matches!(mercato.deals().join_waitlist(id, &customer(9)).await, Err(Error::Deal(DealError::NotSoldOut))));
    let first = mercato.deals().claim(id, &customer(1), 1, false).await.unwrap();
    mercato.deals().claim(id, &customer(2), 1, false).await.unwrap();
    assert!(matches!(mercato.deals().claim(id, &customer(3), 1, false).await, Err(Error::Deal(DealError::SoldOut))));
    assert_eq!(mercato.deals().join_waitlist(id, &customer(3)).await.unwrap().position, Some(1));
    assert_eq!(mercato.deals().join_waitlist(id, &customer(4)).await.unwrap().position, Some(2));
    assert_eq!(
        mercato.deals().join_waitlist(id, &customer(3)).await.unwrap().position,
        Some(1),
        "joining twice keeps the place"
    );

    mercato.inventory().release(&first.id).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let offer = loop {
        if let Some(offer) = mercato.deals().waitlist_spot(id, &customer(3)).await.unwrap().offer {
            break offer;
        }
        assert!(std::time::Instant::now() < deadline, "the first in line was never offered the unit");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!((offer.status, offer.quantity), (HoldStatus::Held, 1));
    assert_eq!(mercato.deals().waitlist_spot(id, &customer(4)).await.unwrap().position, Some(1), "the next moves up");
    assert!(
        matches!(mercato.deals().claim(id, &customer(5), 1, false).await, Err(Error::Deal(DealError::SoldOut))),
        "units returned while customers wait are not for newcomers"
    );
    mercato.shutdown().await.unwrap();
    drop(mercato);
    let mercato = Mercato::open(common::config(dir.path(), Durability::Strict).clock(clock.clone())).unwrap();
    let kept =
        mercato.deals().waitlist_spot(id, &customer(3)).await.unwrap().offer.expect("the offer survives a restart");
    assert_eq!(kept.id, offer.id);
    assert_eq!(mercato.deals().waitlist_spot(id, &customer(4)).await.unwrap().position, Some(1), "and the line too");
    clock.advance_millis(300_000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mercato.deals().waitlist_spot(id, &customer(4)).await.unwrap().offer.is_none() {
        assert!(std::time::Instant::now() < deadline, "the unclaimed offer never passed to the next in line");
        mercato.deals().get(id).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsold_units_go_back_to_the_sku_once_when_the_deal_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 10).await;
    let deal = mercato.deals().create(terms("deal_unsold", 6, 1)).await.unwrap();
    let id = deal.terms.id.clone();
    let available =
        |mercato: Mercato| async move { mercato.inventory().levels(&sku("DEAL-SKU")).await.unwrap().totals.available };
    assert_eq!(available(mercato.clone()).await, 4);
    let paid = mercato.deals().claim(&id, &customer(1), 1, false).await.unwrap();
    mercato.inventory().commit(&paid.id).await.unwrap();
    clock.advance_millis(3_300_000);
    let unpaid = mercato.deals().claim(&id, &customer(2), 1, false).await.unwrap();
    assert!(!mercato.deals().close(&id).await.unwrap(), "nothing goes back before the end");
    assert_eq!(available(mercato.clone()).await, 4);

    clock.advance_millis(300_000);
    assert!(!mercato.deals().close(&id).await.unwrap(), "a held claim keeps the deal open");
    assert_eq!(available(mercato.clone()).await, 8, "the 4 free units are back");
    assert!(!mercato.deals().close(&id).await.unwrap());
    assert_eq!(available(mercato.clone()).await, 8, "and only once");
    let view = mercato.deals().get(&id).await.unwrap();
    assert_eq!((view.remaining, view.held, view.sold, view.returned), (0, 1, 1, 4));

    clock.advance_millis(600_000);
    assert_eq!(mercato.inventory().reservation(&unpaid.id).await.unwrap().status, HoldStatus::Expired);
    assert!(mercato.deals().close(&id).await.unwrap(), "closed once nothing is held");
    assert_eq!(available(mercato.clone()).await, 9, "the expired claim's unit is back too");
    assert!(mercato.deals().close(&id).await.unwrap());
    assert_eq!(mercato.deals().close_ended_deals().await.unwrap(), 0, "a closed deal is not looked at again");
    mercato.shutdown().await.unwrap();
    drop(mercato);

    let mercato = Mercato::open(common::config(dir.path(), Durability::Strict).clock(clock.clone())).unwrap();
    assert_eq!(available(mercato.clone()).await, 9, "nothing came back twice across the restart");
    assert_eq!(mercato.deals().close_ended_deals().await.unwrap(), 0);
    let view = mercato.deals().get(&id).await.unwrap();
    assert_eq!((view.remaining, view.held, view.sold, view.returned), (0, 0, 1, 5));
    mercato.shutdown().await.unwrap();
}

/// Bucket holds and deal claims share one index of reservations: an id
/// names one of them, with one owner, and survives a reopen.
#[tokio::test]
async fn one_reservation_index_keeps_claims_and_holds_apart_and_each_with_one_owner() {
    use mercato::engine::ReservationId;
    use mercato::ReserveRequest;
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    stocked(&mercato, 100).await;
    let deal = mercato.deals().create(terms("deal_index", 10, 2)).await.unwrap();
    let claimed = mercato.deals().claim(&deal.terms.id, &customer(1), 1, false).await.unwrap();
    let inventory = mercato.inventory();
    assert_eq!(inventory.owner_of(&claimed.id), Some(customer(1)), "a claim is its customer's");
    let before = inventory.levels(&sku("DEAL-SKU")).await.unwrap().totals;

    // A claim's id cannot become a bucket hold, for the admin or a customer.
    let taken = ReserveRequest::new(sku("DEAL-SKU"), 1).id(claimed.id.clone());
    let conflict = Err(Error::Inventory(InventoryError::IdempotencyConflict { id: claimed.id.clone() }));
    assert_eq!(inventory.reserve(taken.clone()).await, conflict);
    assert_eq!(inventory.reserve_for(&customer(2), taken).await, conflict);
    assert_eq!(inventory.levels(&sku("DEAL-SKU")).await.unwrap().totals, before, "nothing was held");

    // A customer's hold is theirs: another customer's retry of its id is refused.
    let id = ReservationId::parse("res_mine").unwrap();
    let mine = ReserveRequest::new(sku("DEAL-SKU"), 2).id(id.clone());
    let held = inventory.reserve_for(&customer(3), mine.clone()).await.unwrap();
    assert_eq!(inventory.reserve_for(&customer(3), mine.clone()).await.unwrap(), held, "the owner's retry");
    let stolen = Err(Error::Inventory(InventoryError::IdempotencyConflict { id: id.clone() }));
    assert_eq!(inventory.reserve_for(&customer(4), mine.clone()).await, stolen);
    assert_eq!(inventory.owner_of(&id), Some(customer(3)));
    // The admin's hold is nobody's: no customer can take it over.
    let admins = ReservationId::parse("res_admin").unwrap();
    let request = ReserveRequest::new(sku("DEAL-SKU"), 1).id(admins.clone());
    inventory.reserve(request.clone()).await.unwrap();
    assert!(inventory.reserve_for(&customer(3), request).await.is_err());
    assert_eq!(inventory.owner_of(&admins), None);

    // Reads and settlements find each where it is, also after a reopen.
    let read = inventory.reservation(&claimed.id).await.unwrap();
    assert_eq!((read.warehouse.as_str(), read.status), ("deal.deal_index", HoldStatus::Held));
    mercato.shutdown().await.unwrap();
    drop(mercato);
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    let inventory = mercato.inventory();
    assert_eq!((inventory.owner_of(&claimed.id), inventory.owner_of(&id)), (Some(customer(1)), Some(customer(3))));
    assert_eq!(inventory.release(&claimed.id).await.unwrap().status, HoldStatus::Released);
    assert_eq!(inventory.commit(&id).await.unwrap().status, HoldStatus::Committed);
    assert_eq!(mercato.deals().get(&deal.terms.id).await.unwrap().remaining, 10, "the claim's unit is back");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_deal_needs_a_sku_the_catalog_sells_and_a_refusal_takes_no_stock() {
    use mercato::engine::CatalogError;
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open_manual(dir.path(), Durability::Strict);
    let unlisted = bucket("UNLISTED", "W-A");
    mercato.inventory().set_stock(unlisted, StockUpdate::on_hand(10)).await.unwrap();
    let terms = DealTerms { sku: sku("UNLISTED"), ..terms("deal_unlisted", 5, 1) };
    let refused = mercato.deals().create(terms).await.map(drop);
    assert_eq!(refused, Err(Error::Catalog(CatalogError::SkuNotFound { sku: sku("UNLISTED") })));
    assert_eq!(mercato.inventory().levels(&sku("UNLISTED")).await.unwrap().totals.available, 10);
    assert!(matches!(mercato.deals().get(&DealId::parse("deal_unlisted").unwrap()).await, Err(Error::DealNotFound(_))));
    mercato.shutdown().await.unwrap();
}
