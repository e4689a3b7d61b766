//! The real `mercato serve` process: it prints its address, acknowledged
//! writes survive SIGKILL, and SIGTERM shuts it down with exit code 0.

use crate::common;

use crate::common::{client, Body};
use hyper::{Method, Request};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command};

const ADMIN: &str = "process-admin";

fn start(dir: &Path) -> (Child, String) {
    common::start_server(dir, ADMIN, &[])
}

async fn create_cart_with_key(base: &str, key: &str) -> String {
    let (_, body) = common::send(Method::POST, format!("{base}/v1/carts"), None, Some(key), None).await.unwrap();
    body["cart_id"].as_str().unwrap().to_owned()
}

async fn call(method: Method, url: String, body: Option<Value>) -> (u16, Value) {
    common::send(method, url, Some(ADMIN), None, body).await.expect("the server answers")
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start(dir.path());
    let warehouse = json!({"id": "W-1", "name": "One", "location": {"lat": 40.5, "lon": -74.4}, "region": "US-NJ"});
    assert_eq!(call(Method::POST, format!("{base}/v1/admin/warehouses"), Some(warehouse)).await.0, 201);
    let (status, _) =
        call(Method::PUT, format!("{base}/v1/admin/inventory/SKU-K/W-1"), Some(json!({"on_hand": 50}))).await;
    assert_eq!(status, 200);
    let mut held = Vec::new();
    for _ in 0..20 {
        let (status, body) =
            call(Method::POST, format!("{base}/v1/reservations"), Some(json!({"sku": "SKU-K", "quantity": 2}))).await;
        assert_eq!(status, 201);
        held.push(body["reservation_id"].as_str().unwrap().to_owned());
    }
    let (_, committed) = call(Method::POST, format!("{base}/v1/reservations/{}/commit", held[0]), None).await;
    assert_eq!(committed["status"], "committed");
    for n in 0..10 {
        let product = json!({"id": format!("P-LINE-{n}"), "title": format!("Line {n}"), "category": ["A", "B", "C"],
            "variants": [{"sku": format!("LINE-{n}"), "price": {"cents": 100, "currency": "USD"}}]});
        assert_eq!(call(Method::POST, format!("{base}/v1/products"), Some(product)).await.0, 201);
    }
    let (_, cart) = call(Method::POST, format!("{base}/v1/carts"), None).await;
    let cart_id = cart["cart_id"].as_str().unwrap().to_owned();
    for n in 0..10 {
        let body = json!({"sku": format!("LINE-{n}"), "quantity": n + 1});
        let (status, _) = call(Method::POST, format!("{base}/v1/carts/{cart_id}/items"), Some(body)).await;
        assert_eq!(status, 200);
    }
    let product = json!({"id": "P-K", "title": "Kettle", "category": ["Home", "Kitchen", "Kettles"],
        "variants": [{"sku": "SKU-K", "price": {"cents": 2999, "currency": "USD"}}]});
    assert_eq!(call(Method::POST, format!("{base}/v1/products"), Some(product)).await.0, 201);
    let registration = json!({"email": "kim@example.com", "password": "a long password", "name": "Kim"});
    assert_eq!(call(Method::POST, format!("{base}/v1/customers"), Some(registration)).await.0, 201);
    let credentials = json!({"email": "kim@example.com", "password": "a long password"});
    let (_, session) = call(Method::POST, format!("{base}/v1/sessions"), Some(credentials)).await;
    let token = session["token"].as_str().unwrap().to_owned();
    let keyed_cart = create_cart_with_key(&base, "cart-key-1").await;
    child.kill().unwrap(); // SIGKILL right after the last acknowledgement
    child.wait().unwrap();

    let (mut child, base) = start(dir.path());
    let (_, inventory) = call(Method::GET, format!("{base}/v1/inventory/SKU-K"), None).await;
    assert_eq!(
        (inventory["on_hand"].clone(), inventory["held"].clone(), inventory["committed"].clone()),
        (json!(50), json!(38), json!(2))
    );
    for id in &held[1..] {
        let (_, reservation) = call(Method::GET, format!("{base}/v1/reservations/{id}"), None).await;
        assert_eq!(reservation["status"], "held", "{id}");
    }
    let (status, product) = call(Method::GET, format!("{base}/v1/products/P-K"), None).await;
    assert_eq!((status, product["variants"][0]["available"].clone()), (200, json!(10)));
    let (_, cart) = call(Method::GET, format!("{base}/v1/carts/{cart_id}"), None).await;
    let quantities: Vec<i64> =
        cart["lines"].as_array().unwrap().iter().map(|line| line["quantity"].as_i64().unwrap()).collect();
    assert_eq!(quantities, (1..=10).collect::<Vec<i64>>());

    let me = Request::builder()
        .uri(format!("{base}/v1/me"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::default())
        .unwrap();
    let me = client().request(me).await.unwrap();
    assert_eq!(me.status().as_u16(), 200, "the session token survives the crash");
    assert_eq!(create_cart_with_key(&base, "cart-key-1").await, keyed_cart, "the idempotency key survived the crash");
    let pid = i32::try_from(child.id()).unwrap();
    let killed = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM exits cleanly");
}

/// The switches that make a server unfit for real customers refuse to start
/// without `--load-test-mode`, and say why.
#[test]
fn load_test_switches_need_the_load_test_mode() {
    let dir = tempfile::tempdir().unwrap();
    for switch in [["--password-cost", "fast"], ["--fraud-rules", "off"]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
            .args(["serve", "--addr", "127.0.0.1:0", "--admin-token", "T", "--data-dir"])
            .arg(dir.path())
            .args(switch)
            .env_remove("MERCATO_LOAD_TEST_MODE")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{switch:?} started without the mode");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--load-test-mode"), "{stderr}");
    }
}

/// Plan prices are configuration: the flag's price is what a member pays.
#[tokio::test]
async fn the_prime_price_flags_set_what_a_member_is_charged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = common::start_server(
        dir.path(),
        ADMIN,
        &["--prime-monthly-cents", "999", "--prime-annual-cents", "9900", "--auth-limit-address", "1000/1000"],
    );
    let account = json!({"email": "prime@example.com", "password": "a long password"});
    let mut registration = account.clone();
    registration["name"] = json!("Prime");
    let (status, _) =
        common::send(Method::POST, format!("{base}/v1/customers"), None, None, Some(registration)).await.unwrap();
    assert_eq!(status, 201);
    let (_, session) =
        common::send(Method::POST, format!("{base}/v1/sessions"), None, None, Some(account)).await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let card = json!({"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"});
    let (_, saved) =
        common::send(Method::POST, format!("{base}/v1/payment-methods"), Some(&token), None, Some(card)).await.unwrap();
    let start = json!({"plan": "monthly", "token": saved["token"]});
    let (status, started) =
        common::send(Method::POST, format!("{base}/v1/me/membership"), Some(&token), None, Some(start)).await.unwrap();
    assert_eq!(status, 201, "{started:?}");
    let (_, membership) =
        common::send(Method::GET, format!("{base}/v1/me/membership"), Some(&token), None, None).await.unwrap();
    assert_eq!(membership["price"], json!({"cents": 999, "currency": "USD"}), "{membership:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
