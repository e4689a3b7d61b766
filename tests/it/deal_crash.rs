//! A real `mercato serve` process killed with SIGKILL in the middle of a
//! flash-sale stampede: after a restart every acknowledged claim is still
//! held, no customer holds more than the limit, no more than the deal's
//! quantity was ever claimed, and the SKU's counts add up (the deal's units
//! are all still deal-held in the bucket, `on_hand` untouched).

use crate::common;

use hyper::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "crash-admin";
const CUSTOMERS: usize = 600;
const QUANTITY: u64 = 150;

fn start(dir: &Path) -> (Child, String) {
    common::start_server(
        dir,
        ADMIN,
        &[
            "--load-test-mode",
            "--password-cost",
            "fast",
            "--claim-limit-address",
            "1000000/1000000",
            "--auth-limit-address",
            "1000000/1000000",
        ],
    )
}

async fn call(method: Method, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    common::send(method, url, Some(token), None, body).await.unwrap_or((0, Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_killed_mid_way_keeps_every_acknowledged_claim_and_never_oversells() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start(dir.path());
    let warehouse = json!({"id": "W-1", "name": "One", "location": {"lat": 1.0, "lon": 2.0}, "region": "US-NJ"});
    assert_eq!(call(Method::POST, format!("{base}/v1/admin/warehouses"), ADMIN, Some(warehouse)).await.0, 201);
    let product = json!({"id": "P-DEAL", "title": "Deal TV", "category": ["A", "B", "C"],
        "variants": [{"sku": "DEAL-TV", "price": {"cents": 99900, "currency": "USD"}}]});
    assert_eq!(call(Method::POST, format!("{base}/v1/products"), ADMIN, Some(product)).await.0, 201);
    let stock = json!({"on_hand": 1000});
    assert_eq!(call(Method::PUT, format!("{base}/v1/admin/inventory/DEAL-TV/W-1"), ADMIN, Some(stock)).await.0, 200);
    let deal = json!({"sku": "DEAL-TV", "price": {"cents": 49900, "currency": "USD"}, "quantity": QUANTITY,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 1});
    let (status, created) = call(Method::POST, format!("{base}/v1/admin/deals"), ADMIN, Some(deal)).await;
    assert_eq!(status, 201, "{created:?}");
    let deal_id = created["deal_id"].as_str().unwrap().to_owned();

    let mut tokens = Vec::with_capacity(CUSTOMERS);
    for chunk in (0..CUSTOMERS).collect::<Vec<_>>().chunks(50) {
        let sign_ups = chunk.iter().map(|n| {
            let base = base.clone();
            async move {
                let email = format!("buyer{n}@example.com");
                let account = json!({"email": email, "password": "a long password", "name": "Buyer"});
                call(Method::POST, format!("{base}/v1/customers"), "", Some(account)).await;
                let credentials = json!({"email": email, "password": "a long password"});
                let (_, session) = call(Method::POST, format!("{base}/v1/sessions"), "", Some(credentials)).await;
                session["token"].as_str().unwrap().to_owned()
            }
        });
        tokens.extend(futures::future::join_all(sign_ups).await);
    }

    let acknowledged = Arc::new(parking_lot::Mutex::new(Vec::<(String, String)>::new()));
    let claims: Vec<_> = tokens
        .iter()
        .cloned()
        .map(|token| {
            let url = format!("{base}/v1/deals/{deal_id}/claims");
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let (status, body) = call(Method::POST, url, &token, Some(json!({"quantity": 1}))).await;
                if status == 201 {
                    acknowledged.lock().push((token, body["reservation_id"].as_str().unwrap().to_owned()));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    child.kill().unwrap(); // SIGKILL mid-stampede
    child.wait().unwrap();
    for claim in claims {
        let _ = claim.await;
    }
    let acknowledged = acknowledged.lock().clone();
    assert!(u64::try_from(acknowledged.len()).unwrap() <= QUANTITY);

    let (mut child, base) = start(dir.path());
    for (token, reservation) in &acknowledged {
        let (status, body) = call(Method::GET, format!("{base}/v1/reservations/{reservation}"), token, None).await;
        assert_eq!((status, body["status"].clone()), (200, json!("held")), "lost acknowledged claim {reservation}");
    }
    // The deal's units are all still held in the bucket (claimed or not),
    // on_hand never moved, and the counts add up.
    let (status, stock) = call(Method::GET, format!("{base}/v1/inventory/DEAL-TV"), "", None).await;
    assert_eq!(status, 200, "{stock:?}");
    let count = |name: &str| stock[name].as_u64().unwrap();
    assert_eq!(
        (count("on_hand"), count("held"), count("deal_held"), count("committed"), count("available")),
        (1000, QUANTITY, QUANTITY, 0, 1000 - QUANTITY),
        "{stock:?}"
    );
    assert_eq!(
        count("on_hand"),
        count("held") + count("committed") + count("available") + count("safety_stock"),
        "the identity after the restart: {stock:?}"
    );
    let (_, deal) = call(Method::GET, format!("{base}/v1/deals/{deal_id}"), "", None).await;
    let remaining = deal["remaining"].as_u64().unwrap();
    let claimed = QUANTITY - remaining;
    assert!(
        claimed >= u64::try_from(acknowledged.len()).unwrap(),
        "{claimed} claimed, {} acknowledged",
        acknowledged.len()
    );
    assert!(remaining <= QUANTITY, "never more than the quantity: {deal:?}");
    for (token, _) in &acknowledged {
        let url = format!("{base}/v1/deals/{deal_id}/claims");
        let (status, body) = call(Method::POST, url, token, Some(json!({"quantity": 1}))).await;
        assert_eq!((status, body["type"].clone()), (409, json!("limit-exceeded")), "the limit survived the crash");
    }
    for token in tokens.iter().take(100) {
        let (status, body) =
            call(Method::POST, format!("{base}/v1/deals/{deal_id}/claims"), token, Some(json!({"quantity": 1}))).await;
        assert!(status == 201 || body["type"] == "limit-exceeded" || body["type"] == "sold-out", "{status} {body:?}");
    }
    let (_, after) = call(Method::GET, format!("{base}/v1/deals/{deal_id}"), "", None).await;
    assert!(after["remaining"].as_u64().unwrap() <= remaining);
    eprintln!(
        "deal crash test: {} claims acknowledged before the kill, {claimed} claimed in the store",
        acknowledged.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
