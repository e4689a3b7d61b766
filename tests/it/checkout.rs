//! Checkout, payments and orders over HTTP on 127.0.0.1:0: the happy path,
//! declines, races for the last unit, idempotent placing, cancellations,
//! returns, skipped steps and bad input (each failure leaves nothing behind).

use crate::common;

use crate::common::app::{Call, Options, Reply as Response, Seed, TestApp, ADMIN};
use hyper::Method;
use mercato::Config;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The shared test app with this module's way of calling it (bodies as
/// JSON, a token on every call) and its checkout helpers.
struct App(TestApp);

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

const SEED: Seed = Seed {
    warehouses: &[("W-EAST", 40.7, -74.0, "US"), ("W-WEST", 37.7, -122.4, "US")],
    products: &[("SKU-A", 1000), ("SKU-B", 2599)],
    category: &["Test"],
    weight_grams: Some(400),
};

async fn spawn_app() -> App {
    spawn_app_with(|_| {}).await
}

async fn spawn_app_with(adjust: impl FnOnce(&mut Config) + 'static) -> App {
    App(TestApp::spawn(Options::new(SEED).config(adjust)).await)
}

/// Opens the data directory `dir`, seeding warehouses and products when it is new.
async fn spawn_app_in(dir: tempfile::TempDir, adjust: impl FnOnce(&mut Config) + 'static) -> App {
    App(TestApp::spawn_in(dir, Options::new(SEED).config(adjust)).await)
}

impl App {
    async fn send(&self, method: Method, path: &str, body: Option<Value>, token: &str, key: Option<&str>) -> Response {
        let body = body.map(|body| body.to_string());
        self.0.request(Call { body, token: Some(token), idempotency_key: key, ..Call::new(method, path) }).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>, token: &str) -> Response {
        self.send(method, path, body, token, None).await
    }

    /// A request whose body is sent as given, JSON or not.
    async fn raw(&self, method: Method, path: &str, body: &str, token: &str) -> Response {
        self.0.request(Call { body: Some(body.to_owned()), token: Some(token), ..Call::new(method, path) }).await
    }

    async fn stock(&self, sku: &str, warehouse: &str, on_hand: u64) {
        let path = format!("/v1/admin/inventory/{sku}/{warehouse}");
        let response = self.call(Method::PUT, &path, Some(json!({"on_hand": on_hand})), ADMIN).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }

    async fn inventory(&self, sku: &str) -> Value {
        self.call(Method::GET, &format!("/v1/inventory/{sku}"), None, ADMIN).await.body
    }

    /// Registers and signs in a customer; returns the token.
    async fn customer(&self, email: &str) -> String {
        let body = json!({"email": email, "password": "long enough", "name": "Test"});
        assert_eq!(self.call(Method::POST, "/v1/customers", Some(body), "").await.status, 201);
        let session = json!({"email": email, "password": "long enough"});
        let response = self.call(Method::POST, "/v1/sessions", Some(session), "").await;
        response.body["token"].as_str().unwrap().to_owned()
    }

    async fn card(&self, token: &str, number: &str) -> String {
        let body = json!({"type": "card", "number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"});
        let response = self.call(Method::POST, "/v1/payment-methods", Some(body), token).await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        response.body["token"].as_str().unwrap().to_owned()
    }

    /// A checkout of `lines` in the customer's cart, taken to review.
    async fn checkout_to_review(&self, token: &str, lines: &[(&str, u32)], payment: Value) -> String {
        for (sku, quantity) in lines {
            let body = json!({"sku": sku, "quantity": quantity});
            assert_eq!(self.call(Method::POST, "/v1/carts/mine/items", Some(body), token).await.status, 200);
        }
        let started = self.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), token).await;
        assert_eq!(started.status, 201, "{:?}", started.body);
        assert_eq!(started.body["step"], "address");
        let id = started.body["checkout_id"].as_str().unwrap().to_owned();
        let address = self.call(Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address()), token).await;
        assert_eq!((address.status, address.body["step"].as_str()), (200, Some("shipping")), "{:?}", address.body);
        let options = self.call(Method::GET, &format!("/v1/checkouts/{id}/shipping-options"), None, token).await;
        assert_eq!(options.status, 200);
        let first = options.body["items"][0]["id"].as_str().unwrap().to_owned();
        assert!(
            options.body["items"][0]["delivery_by"].is_string() && options.body["items"][0]["price"]["cents"].is_i64()
        );
        let shipping = json!({"option_id": first});
        let shipped = self.call(Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(shipping), token).await;
        assert_eq!((shipped.status, shipped.body["step"].as_str()), (200, Some("payment")), "{:?}", shipped.body);
        let paid = self.call(Method::PUT, &format!("/v1/checkouts/{id}/payment"), Some(payment), token).await;
        assert_eq!((paid.status, paid.body["step"].as_str()), (200, Some("review")), "{:?}", paid.body);
        id
    }

    async fn place(&self, token: &str, checkout: &str, key: &str) -> Response {
        self.send(Method::POST, &format!("/v1/checkouts/{checkout}/place"), None, token, Some(key)).await
    }

    async fn stop(self) {
        self.0.stop().await
    }

    /// Stops the server and the engine and hands back the data directory
    /// once nothing holds it any more.
    async fn shut_down(self) -> tempfile::TempDir {
        self.0.shut_down().await
    }
}

fn address() -> Value {
    json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ", "postal_code": "07102", "country": "US"})
}

fn assert_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["type"], code, "{:?}", response.body);
}

fn counts(inventory: &Value) -> (u64, u64, u64, u64) {
    let count = |name: &str| inventory[name].as_u64().unwrap();
    (count("on_hand"), count("held"), count("committed"), count("available"))
}

#[tokio::test]
async fn the_happy_path_places_a_paid_order_split_by_warehouse() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 1).await;
    app.stock("SKU-A", "W-WEST", 10).await;
    app.stock("SKU-B", "W-EAST", 5).await;
    let token = app.customer("happy@example.com").await;
    let card = app.card(&token, "4242 4242 4242 4242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 2), ("SKU-B", 1)], json!({"token": card})).await;
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["subtotal"]["cents"], 2 * 1000 + 2599);
    assert!(view.body["total"]["cents"].as_i64().unwrap() > 4599, "tax and shipping are added: {:?}", view.body);
    let placed = app.place(&token, &checkout, "place-1").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(placed.body["status"], "paid");
    assert_eq!(placed.body["totals"]["total"], view.body["total"]);
    assert_eq!(placed.body["payment"]["captured"], view.body["total"]);
    let shipments = placed.body["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 2, "two warehouses ship: {shipments:?}");
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let read = app.call(Method::GET, &format!("/v1/orders/{order_id}"), None, &token).await;
    assert_eq!((read.status, read.body["status"].as_str()), (200, Some("paid")));
    assert_eq!(read.body["history"].as_array().unwrap().len(), 2, "placed, then paid");
    assert_eq!(counts(&app.inventory("SKU-A").await), (11, 0, 2, 9));
    assert_eq!(counts(&app.inventory("SKU-B").await), (5, 0, 1, 4));
    let cart = app.call(Method::GET, "/v1/carts/mine", None, &token).await;
    assert_eq!(cart.body["lines"].as_array().unwrap().len(), 0, "the ordered lines left the cart");
    let list = app.call(Method::GET, "/v1/orders?status=paid", None, &token).await;
    assert_eq!(list.body["items"][0]["order_id"], order_id.as_str());
    let none = app.call(Method::GET, "/v1/orders?status=cancelled", None, &token).await;
    assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    let after = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(
        (after.body["step"].as_str(), after.body["order_id"].as_str()),
        (Some("placed"), Some(order_id.as_str()))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_declined_card_leaves_stock_and_cart_unchanged() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 3).await;
    let token = app.customer("declined@example.com").await;
    let card = app.card(&token, "4000000000000002").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 2)], json!({"token": card})).await;
    let before = app.inventory("SKU-A").await;
    let placed = app.place(&token, &checkout, "declined-1").await;
    assert_problem(&placed, 402, "payment-declined");
    assert_eq!(app.inventory("SKU-A").await, before);
    assert_eq!(counts(&before), (3, 0, 0, 3));
    let cart = app.call(Method::GET, "/v1/carts/mine", None, &token).await;
    assert_eq!(cart.body["lines"][0]["quantity"], 2);
    let list = app.call(Method::GET, "/v1/orders", None, &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0, "no order is left behind");
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["step"], "review", "the checkout can be paid another way");
    app.stop().await;
}

#[tokio::test]
async fn two_customers_racing_for_the_last_unit_get_one_order() {
    let app = spawn_app().await;
    app.stock("SKU-B", "W-EAST", 1).await;
    let ann = app.customer("ann@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let ann_card = app.card(&ann, "4242424242424242").await;
    let bob_card = app.card(&bob, "5555555555554444").await;
    let ann_checkout = app.checkout_to_review(&ann, &[("SKU-B", 1)], json!({"token": ann_card})).await;
    let bob_checkout = app.checkout_to_review(&bob, &[("SKU-B", 1)], json!({"token": bob_card})).await;
    let (first, second) = tokio::join!(app.place(&ann, &ann_checkout, "race"), app.place(&bob, &bob_checkout, "race"));
    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{:?} {:?}", first.body, second.body);
    let loser = if first.status == 409 { &first } else { &second };
    assert_problem(loser, 409, "insufficient-stock");
    assert_eq!(counts(&app.inventory("SKU-B").await), (1, 0, 1, 0));
    app.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_places_one_order_and_charges_once() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let token = app.customer("twice@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card})).await;
    let (first, second) =
        tokio::join!(app.place(&token, &checkout, "same-key"), app.place(&token, &checkout, "same-key"));
    let third = app.place(&token, &checkout, "same-key").await;
    assert_eq!((first.status, second.status, third.status), (201, 201, 201));
    assert_eq!(first.body["order_id"], second.body["order_id"]);
    assert_eq!(first.body["order_id"], third.body["order_id"]);
    let other_key = app.place(&token, &checkout, "another-key").await;
    assert_eq!(
        (other_key.status, &other_key.body["order_id"]),
        (201, &first.body["order_id"]),
        "a placed checkout returns its order"
    );
    let list = app.call(Method::GET, "/v1/orders", None, &token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(counts(&app.inventory("SKU-A").await), (10, 0, 1, 9), "one unit sold, once");
    let order_id = mercato::engine::OrderId::parse(first.body["order_id"].as_str().unwrap()).unwrap();
    let authorization = app.mercato.payments().authorization(order_id.as_str()).unwrap();
    assert_eq!(authorization.captured, authorization.amount, "captured once, for the order's total");
    app.stop().await;
}

/// Durability scopes nest: the place runs in its own scope inside the one
/// of the idempotency layer, and the response waits for one flush covering
/// the order and the remembered response together, not for two.
#[tokio::test]
async fn a_place_with_an_idempotency_key_waits_for_one_flush() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let token = app.customer("once@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card})).await;
    let waits = || app.mercato.stats().store.durable_waits.load(std::sync::atomic::Ordering::Relaxed);
    let before = waits();
    let placed = app.place(&token, &checkout, "one-flush").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(waits() - before, 1, "one wait for the order and its remembered response");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_paid_order_restocks_and_refunds_once() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 4).await;
    let token = app.customer("cancel@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 3)], json!({"token": card})).await;
    let placed = app.place(&token, &checkout, "c1").await;
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 3, 1));
    let cancelled = app.call(Method::POST, &format!("/v1/orders/{order_id}/cancel"), None, &token).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")), "{:?}", cancelled.body);
    assert_eq!(cancelled.body["payment"]["refunded"], placed.body["totals"]["total"]);
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 0, 4));
    let again = app.call(Method::POST, &format!("/v1/orders/{order_id}/cancel"), None, &token).await;
    assert_problem(&again, 409, "conflict");
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 0, 4), "restocked exactly once");
    app.stop().await;
}

#[tokio::test]
async fn cancelling_after_the_committed_holds_were_pruned_still_restocks_once() {
    // Settled holds are kept for a retention period (a day by default),
    // then pruned; an order can wait longer than that before it is cancelled.
    let app = spawn_app_with(|config| {
        config.settled_hold_retention_ms = 0;
        config.idle_check_every = Duration::from_millis(20);
    })
    .await;
    app.stock("SKU-A", "W-EAST", 4).await;
    let token = app.customer("late-cancel@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 3)], json!({"token": card})).await;
    let placed = app.place(&token, &checkout, "late").await;
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 3, 1));
    let customer = app.mercato.customers().authenticate(&token).unwrap().id;
    let record =
        app.mercato.orders().get(&customer, &mercato::engine::OrderId::parse(&order_id).unwrap()).await.unwrap();
    assert!(!record.holds.is_empty());
    let started = Instant::now();
    for hold in &record.holds {
        while app.mercato.inventory().reservation(&hold.id).await.is_ok() {
            assert!(started.elapsed() < Duration::from_secs(5), "the settled holds were not pruned");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let cancelled = app.call(Method::POST, &format!("/v1/orders/{order_id}/cancel"), None, &token).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")), "{:?}", cancelled.body);
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 0, 4), "the 3 sold units are back");
    let again = app.call(Method::POST, &format!("/v1/orders/{order_id}/cancel"), None, &token).await;
    assert_problem(&again, 409, "conflict");
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 0, 4), "restocked exactly once");
    app.stop().await;
}

#[tokio::test]
async fn a_return_of_a_delivered_order_restocks_and_refunds() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 5).await;
    let token = app.customer("return@example.com").await;
    let code = app
        .call(Method::POST, "/v1/admin/gift-cards", Some(json!({"balance": {"cents": 1500, "currency": "USD"}})), ADMIN)
        .await;
    assert_eq!(code.status, 201);
    let code = code.body["code"].as_str().unwrap().to_owned();
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 2)], json!({"token": card, "gift_card": code})).await;
    let placed = app.place(&token, &checkout, "r1").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(placed.body["payment"]["gift_card_debited"]["cents"], 1500);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let early = json!({"items": [{"sku": "SKU-A", "quantity": 1, "reason": "too big"}]});
    let refused = app.call(Method::POST, &format!("/v1/orders/{order_id}/returns"), Some(early.clone()), &token).await;
    assert_problem(&refused, 409, "conflict");
    for step in ["ship", "deliver"] {
        let moved = app.call(Method::POST, &format!("/v1/admin/orders/{order_id}/{step}"), None, ADMIN).await;
        assert_eq!(moved.status, 200, "{step}: {:?}", moved.body);
    }
    assert_eq!(counts(&app.inventory("SKU-A").await), (3, 0, 0, 3), "shipped units left the warehouse");
    let too_many = json!({"items": [{"sku": "SKU-A", "quantity": 3, "reason": "too big"}]});
    let refused = app.call(Method::POST, &format!("/v1/orders/{order_id}/returns"), Some(too_many), &token).await;
    assert_problem(&refused, 422, "invalid-input");
    let requested = app.call(Method::POST, &format!("/v1/orders/{order_id}/returns"), Some(early), &token).await;
    assert_eq!(requested.body["status"], "return_requested", "{:?}", requested.body);
    let received = app.call(Method::POST, &format!("/v1/admin/orders/{order_id}/returns/receive"), None, ADMIN).await;
    assert_eq!((received.status, received.body["status"].as_str()), (200, Some("refunded")), "{:?}", received.body);
    let refunded = received.body["payment"]["refunded"]["cents"].as_i64().unwrap();
    let credited = received.body["payment"]["gift_card_credited"]["cents"].as_i64().unwrap();
    let line_tax = placed.body["lines"][0]["tax"]["cents"].as_i64().unwrap();
    assert_eq!(refunded + credited, 1000 + (line_tax + 1) / 2, "the unit's price and its share of the tax");
    assert_eq!(counts(&app.inventory("SKU-A").await), (4, 0, 0, 4), "the returned unit is back");
    app.stop().await;
}

#[tokio::test]
async fn a_gift_card_can_pay_everything_and_its_balance_is_kept() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 5).await;
    let token = app.customer("gift@example.com").await;
    let issued = app
        .call(
            Method::POST,
            "/v1/admin/gift-cards",
            Some(json!({"balance": {"cents": 100000, "currency": "USD"}})),
            ADMIN,
        )
        .await;
    let code = issued.body["code"].as_str().unwrap().to_owned();
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"gift_card": code})).await;
    let placed = app.place(&token, &checkout, "g1").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    let total = placed.body["totals"]["total"]["cents"].as_i64().unwrap();
    let balance = app.call(Method::POST, "/v1/gift-cards/balance", Some(json!({"code": code})), &token).await;
    assert_eq!(balance.body["balance"]["cents"].as_i64().unwrap(), 100000 - total);
    app.stop().await;
}

#[tokio::test]
async fn skipping_a_step_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 5).await;
    let token = app.customer("skip@example.com").await;
    let body = json!({"sku": "SKU-A", "quantity": 1});
    app.call(Method::POST, "/v1/carts/mine/items", Some(body), &token).await;
    let started = app.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), &token).await;
    let id = started.body["checkout_id"].as_str().unwrap().to_owned();
    let shipping = app
        .call(Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(json!({"option_id": "standard"})), &token)
        .await;
    assert_problem(&shipping, 409, "conflict");
    let options = app.call(Method::GET, &format!("/v1/checkouts/{id}/shipping-options"), None, &token).await;
    assert_problem(&options, 409, "conflict");
    let place = app.place(&token, &id, "skip").await;
    assert_problem(&place, 409, "conflict");
    app.call(Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address()), &token).await;
    let payment =
        app.call(Method::PUT, &format!("/v1/checkouts/{id}/payment"), Some(json!({"gift_card": "gc_x"})), &token).await;
    assert_eq!(payment.status / 100, 4);
    let view = app.call(Method::GET, &format!("/v1/checkouts/{id}"), None, &token).await;
    assert_eq!(view.body["step"], "shipping");
    assert_eq!(counts(&app.inventory("SKU-A").await), (5, 0, 0, 5));
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 5).await;
    let token = app.customer("bad@example.com").await;
    let other = app.customer("other@example.com").await;
    let card = |number: &str, month: i64, year: i64| json!({"type": "card", "number": number, "exp_month": month, "exp_year": year, "cvc": "123"});
    for (body, status) in [
        (card("4242424242424241", 12, 2099), 422),
        (card("4242424242424242", 1, 2001), 422),
        (card("4242424242424242", 13, 2099), 422),
        (card("42", 12, 2099), 422),
    ] {
        let response = app.call(Method::POST, "/v1/payment-methods", Some(body), &token).await;
        assert_problem(&response, status, "invalid-input");
    }
    let malformed = app.raw(Method::POST, "/v1/payment-methods", "{\"type\":\"card\",\"number\":4242}", &token).await;
    assert_problem(&malformed, 400, "invalid-input");
    let unknown_field = app.raw(Method::POST, "/v1/checkouts", "{\"cart_id\":\"mine\",\"x\":1}", &token).await;
    assert_problem(&unknown_field, 400, "invalid-input");
    let empty = app.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), &token).await;
    assert_problem(&empty, 422, "invalid-input");
    let unknown_cart = app.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "cart_nope"})), &token).await;
    assert_problem(&unknown_cart, 404, "not-found");
    let card_token = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card_token})).await;
    let bad_address =
        json!({"name": "A", "line1": "1", "city": "C", "region": "ZZ", "postal_code": "1", "country": "US"});
    let response = app.call(Method::PUT, &format!("/v1/checkouts/{checkout}/address"), Some(bad_address), &token).await;
    assert_problem(&response, 422, "invalid-input");
    let response = app
        .call(
            Method::PUT,
            &format!("/v1/checkouts/{checkout}/shipping"),
            Some(json!({"option_id": "teleport"})),
            &token,
        )
        .await;
    assert_problem(&response, 422, "invalid-input");
    let response = app.call(Method::PUT, &format!("/v1/checkouts/{checkout}/payment"), Some(json!({})), &token).await;
    assert_problem(&response, 422, "invalid-input");
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["step"], "review", "bad input changed nothing");
    let theirs = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &other).await;
    assert_problem(&theirs, 404, "not-found");
    // Another customer cannot change a step of it either (the checkout
    // actor checks the owner: no read first).
    let mut elsewhere = address();
    elsewhere["city"] = json!("Elsewhere");
    let path = format!("/v1/checkouts/{checkout}/address");
    assert_problem(&app.call(Method::PUT, &path, Some(elsewhere), &other).await, 404, "not-found");
    let their_card = app.card(&other, "4242424242424242").await;
    let path = format!("/v1/checkouts/{checkout}/payment");
    assert_problem(&app.call(Method::PUT, &path, Some(json!({"token": their_card})), &other).await, 404, "not-found");
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["step"], "review", "a new address would have reset the step");
    assert_eq!(view.body["payment"]["token"], json!(card_token), "another customer changed nothing");
    let placed = app.place(&token, &checkout, "b1").await;
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let theirs = app.call(Method::GET, &format!("/v1/orders/{order_id}"), None, &other).await;
    assert_problem(&theirs, 404, "not-found");
    let cancel = app.call(Method::POST, &format!("/v1/orders/{order_id}/cancel"), None, &other).await;
    assert_problem(&cancel, 404, "not-found");
    let list = app.call(Method::GET, "/v1/orders?limit=0", None, &token).await;
    assert_problem(&list, 422, "invalid-input");
    let list = app.call(Method::GET, "/v1/orders?status=lost", None, &token).await;
    assert_problem(&list, 422, "invalid-input");
    let missing = app.call(Method::GET, "/v1/orders/ord_nope", None, &token).await;
    assert_problem(&missing, 404, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn a_price_change_is_reported_and_not_applied_silently() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 5).await;
    let token = app.customer("price@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card})).await;
    let patch = json!({"variants": [{"sku": "SKU-A", "price": {"cents": 1200, "currency": "USD"}}]});
    let patched = app.call(Method::PATCH, "/v1/products/P-SKU-A", Some(patch), ADMIN).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let placed = app.place(&token, &checkout, "p1").await;
    assert_problem(&placed, 409, "conflict");
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["price_changes"][0]["now"]["cents"], 1200);
    assert_eq!(counts(&app.inventory("SKU-A").await), (5, 0, 0, 5));
    let accepted = app.call(Method::POST, &format!("/v1/checkouts/{checkout}/accept-prices"), None, &token).await;
    assert_eq!(
        (accepted.body["step"].as_str(), accepted.body["subtotal"]["cents"].as_i64()),
        (Some("shipping"), Some(1200))
    );
    app.stop().await;
}

impl App {
    /// An active deal of `quantity` units of `sku` at `cents`; its id.
    async fn deal(&self, sku: &str, cents: i64, quantity: u32, limit: u32) -> String {
        self.deal_until(sku, cents, quantity, limit, "2200-01-01T00:00:00Z").await
    }

    /// [`App::deal`], ending at `ends_at` (RFC 3339).
    async fn deal_until(&self, sku: &str, cents: i64, quantity: u32, limit: u32, ends_at: &str) -> String {
        let deal = json!({"sku": sku, "price": {"cents": cents, "currency": "USD"}, "quantity": quantity,
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": ends_at, "per_customer_limit": limit});
        let created = self.call(Method::POST, "/v1/admin/deals", Some(deal), ADMIN).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        created.body["deal_id"].as_str().unwrap().to_owned()
    }

    /// Claims `quantity` units of the deal; the claim's reservation id.
    async fn claim(&self, token: &str, deal: &str, quantity: u32) -> String {
        let path = format!("/v1/deals/{deal}/claims");
        let claimed = self.call(Method::POST, &path, Some(json!({"quantity": quantity})), token).await;
        assert_eq!(claimed.status, 201, "{:?}", claimed.body);
        claimed.body["reservation_id"].as_str().unwrap().to_owned()
    }

    async fn hold_status(&self, token: &str, reservation: &str) -> String {
        let read = self.call(Method::GET, &format!("/v1/reservations/{reservation}"), None, token).await;
        read.body["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn deal_counts(&self, deal: &str) -> (u64, u64, u64) {
        let view = self.call(Method::GET, &format!("/v1/deals/{deal}"), None, "").await.body;
        let count = |name: &str| view[name].as_u64().unwrap();
        (count("remaining"), count("held"), count("sold"))
    }
}

#[tokio::test]
async fn a_held_deal_claim_is_used_at_place_and_given_back_when_the_order_is_cancelled() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let deal = app.deal("SKU-A", 600, 3, 2).await;
    assert_eq!(counts(&app.inventory("SKU-A").await), (10, 3, 0, 7), "the deal's units are held in the bucket");
    let token = app.customer("deal@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let claim = app.claim(&token, &deal, 1).await;

    let checkout = app.checkout_to_review(&token, &[("SKU-A", 3)], json!({"token": card})).await;
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(view.body["subtotal"]["cents"], 600 + 2 * 1000, "one unit at the deal price: {:?}", view.body);
    assert_eq!(view.body["lines"][0]["claims"], json!([claim]));
    assert_eq!(
        (view.body["lines"][1]["quantity"].as_u64(), view.body["lines"][1]["claims"].clone()),
        (Some(2), json!([]))
    );

    let placed = app.place(&token, &checkout, "deal-place").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(app.hold_status(&token, &claim).await, "committed", "the claim was used, not a new hold");
    assert_eq!(app.deal_counts(&deal).await, (2, 0, 1));
    assert_eq!(
        counts(&app.inventory("SKU-A").await),
        (10, 2, 3, 5),
        "the claimed unit went from deal-held to committed, with the two catalog-price units"
    );
    let units: u64 = placed.body["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shipment| shipment["lines"].as_array().unwrap().iter())
        .map(|line| line["quantity"].as_u64().unwrap())
        .sum();
    assert_eq!(units, 3, "the deal unit ships with the others: {:?}", placed.body["shipments"]);

    let order = placed.body["order_id"].as_str().unwrap().to_owned();
    let cancelled = app.call(Method::POST, &format!("/v1/orders/{order}/cancel"), None, &token).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(app.deal_counts(&deal).await, (3, 0, 0), "the deal unit went back to the deal, once");
    assert_eq!(counts(&app.inventory("SKU-A").await), (10, 3, 0, 7));
    let again = app.claim(&token, &deal, 2).await;
    assert_eq!(app.hold_status(&token, &again).await, "held", "the customer's limit was freed");

    let card = app.card(&token, "5555555555554444").await;
    let mixed = app.checkout_to_review(&token, &[("SKU-A", 3)], json!({"token": card})).await;
    let placed = app.place(&token, &mixed, "mixed").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    let order = placed.body["order_id"].as_str().unwrap().to_owned();
    let shipped = app.call(Method::POST, &format!("/v1/admin/orders/{order}/ship"), None, ADMIN).await;
    assert_eq!(shipped.status, 200, "{:?}", shipped.body);
    assert_eq!(counts(&app.inventory("SKU-A").await), (7, 1, 0, 6), "the deal units ship from the bucket too");
    assert_eq!(app.deal_counts(&deal).await, (1, 0, 2));
    app.stop().await;
}

#[tokio::test]
async fn a_declined_card_keeps_the_deal_claim_and_a_lapsed_claim_is_a_price_change() {
    let app = spawn_app().await;
    app.stock("SKU-B", "W-EAST", 10).await;
    let deal = app.deal("SKU-B", 1999, 5, 1).await;
    let token = app.customer("lapsed@example.com").await;
    let declined = app.card(&token, "4000000000000002").await;
    let claim = app.claim(&token, &deal, 1).await;
    let checkout = app.checkout_to_review(&token, &[("SKU-B", 1)], json!({"token": declined})).await;
    assert_problem(&app.place(&token, &checkout, "declined").await, 402, "payment-declined");
    assert_eq!(app.hold_status(&token, &claim).await, "held", "a declined card does not cost the claim");
    assert_eq!(app.deal_counts(&deal).await, (4, 1, 0));

    let released = app.call(Method::DELETE, &format!("/v1/reservations/{claim}"), None, &token).await;
    assert_eq!(released.status, 200, "{:?}", released.body);
    let card = app.card(&token, "4242424242424242").await;
    let payment = format!("/v1/checkouts/{checkout}/payment");
    assert_eq!(app.call(Method::PUT, &payment, Some(json!({"token": card})), &token).await.status, 200);
    assert_problem(&app.place(&token, &checkout, "lapsed").await, 409, "conflict");
    let view = app.call(Method::GET, &format!("/v1/checkouts/{checkout}"), None, &token).await;
    assert_eq!(
        (
            view.body["price_changes"][0]["was"]["cents"].as_i64(),
            view.body["price_changes"][0]["now"]["cents"].as_i64()
        ),
        (Some(1999), Some(2599)),
        "{:?}",
        view.body
    );
    let accepted = app.call(Method::POST, &format!("/v1/checkouts/{checkout}/accept-prices"), None, &token).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(
        (accepted.body["subtotal"]["cents"].as_i64(), accepted.body["lines"][0]["claims"].clone()),
        (Some(2599), json!([]))
    );
    assert_eq!(counts(&app.inventory("SKU-B").await), (10, 5, 0, 5));
    app.stop().await;
}

#[tokio::test]
async fn a_deal_unit_of_an_order_cancelled_after_the_deal_ended_goes_back_to_the_sku() {
    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let now_ms = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
    let ends_at = mercato::http::dto::rfc3339(mercato::engine::Timestamp::from_millis(now_ms.unwrap() + 3_000));
    let deal = app.deal_until("SKU-A", 500, 3, 1, &ends_at).await;
    let token = app.customer("late@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let claim = app.claim(&token, &deal, 1).await;
    let checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card})).await;
    let placed = app.place(&token, &checkout, "late").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(app.hold_status(&token, &claim).await, "committed");

    // The deal ends; the closer gives its 2 unsold units back to the SKU.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while counts(&app.inventory("SKU-A").await) != (10, 0, 1, 9) {
        assert!(std::time::Instant::now() < deadline, "unsold units never came back");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let order = placed.body["order_id"].as_str().unwrap().to_owned();
    let cancelled = app.call(Method::POST, &format!("/v1/orders/{order}/cancel"), None, &token).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(counts(&app.inventory("SKU-A").await), (10, 0, 0, 10), "the ended deal's unit went to the SKU");
    let view = app.call(Method::GET, &format!("/v1/deals/{deal}"), None, "").await.body;
    assert_eq!(
        (view["remaining"].as_u64(), view["sold"].as_u64(), view["returned"].as_u64()),
        (Some(0), Some(0), Some(3))
    );
    let again = app.call(Method::POST, &format!("/v1/orders/{order}/cancel"), None, &token).await;
    assert_problem(&again, 409, "conflict");
    assert_eq!(counts(&app.inventory("SKU-A").await), (10, 0, 0, 10), "once");
    app.stop().await;
}

#[tokio::test]
async fn a_checkout_a_crash_left_placing_is_settled_at_the_next_start() {
    use mercato::domains::checkout::actor::CheckoutRecord;
    use mercato::engine::{CheckoutId, CheckoutStep, OrderId};
    use mercato::store::{keys, Batch};

    let app = spawn_app().await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let token = app.customer("stale@example.com").await;
    let card = app.card(&token, "4242424242424242").await;
    let placed_checkout = app.checkout_to_review(&token, &[("SKU-A", 1)], json!({"token": card})).await;
    let placed = app.place(&token, &placed_checkout, "stale-1").await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let unplaced_checkout = app.checkout_to_review(&token, &[("SKU-A", 2)], json!({"token": card})).await;
    let dir = app.shut_down().await;

    // What a crash can leave: the first checkout marked as placing its order
    // (the saga finished, the checkout was never told); the second marked as
    // placing an order whose saga never began.
    {
        let store = common::open_store(dir.path());
        for (checkout, order) in [(&placed_checkout, order_id.as_str()), (&unplaced_checkout, "ord_neverbegun")] {
            let key = keys::checkout(&CheckoutId::parse(checkout).unwrap());
            let mut record: CheckoutRecord = store.get(&key).unwrap().unwrap();
            record.checkout.step = CheckoutStep::Review;
            record.checkout.order_id = None;
            record.placing = Some(OrderId::parse(order).unwrap());
            let ticket = store.write(Batch::new_put(key, &record).unwrap()).unwrap();
            store.durable(ticket).await.unwrap();
        }
        store.close().unwrap();
    }

    let app = spawn_app_in(dir, |_| {}).await;
    let path = format!("/v1/checkouts/{placed_checkout}");
    let started = Instant::now();
    loop {
        let view = app.call(Method::GET, &path, None, &token).await;
        if view.body["step"] == "placed" {
            assert_eq!(view.body["order_id"], json!(order_id), "the checkout is placed as its order");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never settled: {:?}", view.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = app.place(&token, &placed_checkout, "stale-2").await;
    assert_eq!((again.status, &again.body["order_id"]), (201, &json!(order_id)), "placing again returns the order");
    let retried = app.place(&token, &unplaced_checkout, "stale-3").await;
    assert_eq!(retried.status, 201, "the attempt that never began no longer blocks it: {:?}", retried.body);
    assert_ne!(retried.body["order_id"], json!("ord_neverbegun"));
    let orders = app.call(Method::GET, "/v1/orders", None, &token).await;
    assert_eq!(orders.body["items"].as_array().map(Vec::len), Some(2), "one order each, no more");
    app.stop().await;
}

/// A card's billing country feeds the fraud rules: a new account ordering
/// over 500.00 trips one rule (held for review); with a card billed in
/// another country than the order ships to, it trips two and is declined.
#[tokio::test]
async fn a_card_billed_elsewhere_than_the_order_ships_counts_as_a_fraud_rule() {
    let app = spawn_app().await;
    app.stock("SKU-B", "W-EAST", 40).await;
    let token = app.customer("abroad@example.com").await;
    let mut answers = Vec::new();
    for (country, key) in [("US", "home"), ("FR", "abroad")] {
        let body = json!({"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099,
            "cvc": "123", "billing_country": country});
        let card = app.call(Method::POST, "/v1/payment-methods", Some(body), &token).await;
        assert_eq!((card.status, card.body["billing_country"].as_str()), (201, Some(country)), "{:?}", card.body);
        let card = card.body["token"].as_str().unwrap().to_owned();
        let checkout = app.checkout_to_review(&token, &[("SKU-B", 20)], json!({"token": card})).await;
        let order = app.place(&token, &checkout, key).await;
        answers.push((order.status, order.body["status"].as_str().or(order.body["type"].as_str()).map(str::to_owned)));
    }
    let expected = [(201, Some("on_hold".to_owned())), (402, Some("payment-declined".to_owned()))];
    assert_eq!(answers, expected, "shipped to the US");
    app.stop().await;
}
