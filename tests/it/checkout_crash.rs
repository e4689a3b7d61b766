//! SIGKILL in the middle of a stream of checkouts, against the real server
//! binary in strict mode: after a restart every acknowledged order exists and
//! is paid, every unacknowledged place either completed (a paid order) or was
//! compensated (no hold left), and every SKU's stock adds up, with exactly
//! the units of the paid orders committed.

use crate::common;

use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "crash-admin";
const SKUS: [&str; 4] = ["CR-1", "CR-2", "CR-3", "CR-4"];
const SHOPPERS: usize = 6;

/// Fraud rules off: each shopper orders in a loop until the kill, and the
/// default velocity rules rightly decline a customer's sixth order within
/// the hour (a quick machine got there before the kill and the place
/// answered 402). This test is about the crash, not the screening.
fn start(dir: &Path) -> (Child, String) {
    common::start_server(
        dir,
        ADMIN,
        &[
            "--durability",
            "strict",
            "--load-test-mode",
            "--password-cost",
            "fast",
            "--fraud-rules",
            "off",
            "--auth-limit-address",
            "1000000/1000000",
        ],
    )
}

/// `None` when the server is gone (connection refused or reset).
async fn call(
    method: Method,
    url: String,
    body: Option<Value>,
    token: &str,
    key: Option<&str>,
) -> Option<(u16, Value)> {
    common::send(method, url, Some(token), key, body).await
}

/// A Luhn-valid Visa number per shopper (distinct cards, as real shoppers have).
fn card_number(seed: usize) -> String {
    let body = format!("4{:014}", 100_000 + seed);
    let check = mercato::engine::payment::luhn_check_digit(&body);
    format!("{body}{check}")
}

#[derive(Debug, Default)]
struct Log {
    /// (token, checkout id, order id) of every 201.
    acknowledged: Vec<(String, String, String)>,
    /// (token, checkout id) of places sent without an answer.
    unanswered: Vec<(String, String)>,
}

/// One shopper's loop: cart -> checkout -> place, until the server dies.
async fn shop(base: String, token: String, card: String, log: Arc<parking_lot::Mutex<Log>>) {
    for round in 0.. {
        let url = |path: &str| format!("{base}{path}");
        for (index, sku) in SKUS.iter().enumerate().skip(round % 3).take(2) {
            let line = json!({"sku": sku, "quantity": 1 + index % 2});
            if call(Method::POST, url("/v1/carts/mine/items"), Some(line), &token, None).await.is_none() {
                return;
            }
        }
        let Some((201, started)) =
            call(Method::POST, url("/v1/checkouts"), Some(json!({"cart_id": "mine"})), &token, None).await
        else {
            return;
        };
        let id = started["checkout_id"].as_str().unwrap().to_owned();
        let address = json!({"name": "A", "line1": "1 Main", "city": "Newark", "region": "NJ", "postal_code": "07102", "country": "US"});
        let steps = [
            (format!("/v1/checkouts/{id}/address"), address),
            (format!("/v1/checkouts/{id}/shipping"), json!({"option_id": "standard"})),
            (format!("/v1/checkouts/{id}/payment"), json!({"token": card})),
        ];
        for (path, body) in steps {
            match call(Method::PUT, url(&path), Some(body), &token, None).await {
                Some((200, _)) => {}
                _ => return,
            }
        }
        let placed = call(Method::POST, url(&format!("/v1/checkouts/{id}/place")), None, &token, Some(&id)).await;
        match placed {
            Some((201, order)) => {
                let order_id = order["order_id"].as_str().unwrap().to_owned();
                log.lock().acknowledged.push((token.clone(), id, order_id));
            }
            Some((status, body)) => panic!("place failed with {status}: {body}"),
            None => {
                log.lock().unanswered.push((token.clone(), id));
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_checkout_leaves_orders_paid_or_fully_compensated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start(dir.path());
    let warehouse = json!({"id": "W-1", "name": "One", "location": {"lat": 40.5, "lon": -74.4}, "region": "US-NJ"});
    assert_eq!(
        call(Method::POST, format!("{base}/v1/admin/warehouses"), Some(warehouse), ADMIN, None).await.unwrap().0,
        201
    );
    for sku in SKUS {
        let product = json!({"id": format!("P-{sku}"), "title": sku, "category": ["Crash"],
            "variants": [{"sku": sku, "price": {"cents": 500, "currency": "USD"}}]});
        assert_eq!(call(Method::POST, format!("{base}/v1/products"), Some(product), ADMIN, None).await.unwrap().0, 201);
        let stock = json!({"on_hand": 100_000});
        let path = format!("{base}/v1/admin/inventory/{sku}/W-1");
        assert_eq!(call(Method::PUT, path, Some(stock), ADMIN, None).await.unwrap().0, 200);
    }
    let mut shoppers = Vec::new();
    for index in 0..SHOPPERS {
        let email = format!("shopper{index}@example.com");
        let registration = json!({"email": email, "password": "long enough", "name": "Shopper"});
        assert_eq!(
            call(Method::POST, format!("{base}/v1/customers"), Some(registration), "", None).await.unwrap().0,
            201
        );
        let session = json!({"email": email, "password": "long enough"});
        let (_, signed) = call(Method::POST, format!("{base}/v1/sessions"), Some(session), "", None).await.unwrap();
        let token = signed["token"].as_str().unwrap().to_owned();
        let card =
            json!({"type": "card", "number": card_number(index), "exp_month": 12, "exp_year": 2099, "cvc": "123"});
        let (status, tokenized) =
            call(Method::POST, format!("{base}/v1/payment-methods"), Some(card), &token, None).await.unwrap();
        assert_eq!(status, 201, "{tokenized}");
        shoppers.push((token, tokenized["token"].as_str().unwrap().to_owned()));
    }
    let log = Arc::new(parking_lot::Mutex::new(Log::default()));
    let tasks: Vec<_> = shoppers
        .iter()
        .map(|(token, card)| tokio::spawn(shop(base.clone(), token.clone(), card.clone(), log.clone())))
        .collect();
    let started = Instant::now();
    while log.lock().acknowledged.len() < 12 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 150)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    for task in tasks {
        task.await.unwrap();
    }

    let (mut child, base) = start(dir.path());
    let log = std::mem::take(&mut *log.lock());
    assert!(!log.acknowledged.is_empty(), "the stream ran before the crash");
    // Interrupted sagas are finished or compensated in the background at
    // open: wait until no hold is left and the committed units are those of
    // the paid orders (or the deadline passes, and the checks below fail).
    let deadline = Instant::now() + Duration::from_secs(20);
    let (inventories, sold, seen) = loop {
        let mut inventories = BTreeMap::new();
        for sku in SKUS {
            let (_, inventory) =
                call(Method::GET, format!("{base}/v1/inventory/{sku}"), None, ADMIN, None).await.unwrap();
            inventories.insert(sku, inventory);
        }
        let (mut sold, mut seen) = (BTreeMap::<String, u64>::new(), std::collections::BTreeSet::new());
        for (token, _) in &shoppers {
            let (status, orders) =
                call(Method::GET, format!("{base}/v1/orders?limit=100"), None, token, None).await.unwrap();
            assert_eq!(status, 200);
            for order in orders["items"].as_array().unwrap() {
                assert_eq!(order["status"], "paid", "{order}");
                assert_eq!(order["payment"]["captured"], order["totals"]["total"], "{order}");
                seen.insert(order["order_id"].as_str().unwrap().to_owned());
                for line in order["lines"].as_array().unwrap() {
                    *sold.entry(line["sku"].as_str().unwrap().to_owned()).or_default() +=
                        line["quantity"].as_u64().unwrap();
                }
            }
        }
        let settled = inventories.iter().all(|(sku, inventory)| {
            inventory["held"] == 0 && inventory["committed"].as_u64() == Some(sold.get(*sku).copied().unwrap_or(0))
        });
        if settled || Instant::now() > deadline {
            break (inventories, sold, seen);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (token, _, order_id) in &log.acknowledged {
        let (status, order) =
            call(Method::GET, format!("{base}/v1/orders/{order_id}"), None, token, None).await.unwrap();
        assert_eq!((status, order["status"].as_str()), (200, Some("paid")), "acknowledged order {order_id}: {order}");
    }
    for (token, checkout) in &log.unanswered {
        let (status, view) =
            call(Method::GET, format!("{base}/v1/checkouts/{checkout}"), None, token, None).await.unwrap();
        assert_eq!(status, 200, "{view}");
        match view["order_id"].as_str() {
            Some(order_id) => assert!(seen.contains(order_id), "a placed checkout's order exists: {view}"),
            None => assert_eq!(view["step"], "review", "a compensated place leaves the checkout at review: {view}"),
        }
    }
    for (sku, inventory) in &inventories {
        let count = |name: &str| inventory[name].as_u64().unwrap();
        assert_eq!(count("held"), 0, "no hold stays stuck: {inventory}");
        assert_eq!(count("on_hand"), count("available") + count("held") + count("committed"), "{inventory}");
        assert_eq!(
            count("committed"),
            sold.get(*sku).copied().unwrap_or(0),
            "committed = units of paid orders: {inventory}"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
