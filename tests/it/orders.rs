//! Orders for operators and customers over HTTP: the admin's list with its
//! filters and reads of any order, a customer's search of their own orders,
//! cursors that show every order once, orders written before the index
//! existed, orders held for fraud review (approved, or cancelled by the
//! admin), fraud declines that leave nothing behind, and the ranking fields
//! only the admin sets.

use crate::common::app::{Call, Options, Reply as Response, Seed, TestApp, ADMIN};
use hyper::Method;
use mercato::engine::payment::AuthorizationStatus;
use mercato::engine::FraudRules;
use mercato::Config;
use serde_json::{json, Value};
use std::collections::BTreeSet;

struct App(TestApp);

const SEED: Seed = Seed {
    warehouses: &[("W-EAST", 40.7, -74.0, "US"), ("W-WEST", 37.7, -122.4, "US")],
    products: &[("SKU-A", 1000), ("SKU-B", 2599)],
    category: &["Test"],
    weight_grams: Some(400),
};

/// An app whose fraud rules approve everything (lists place many orders
/// with one test card, which the card velocity rule would hold).
async fn spawn_approving() -> App {
    spawn_with(|config| config.fraud = FraudRules::approve_all()).await
}

async fn spawn_with(adjust: impl FnOnce(&mut Config) + 'static) -> App {
    App(TestApp::spawn(Options::new(SEED).config(adjust)).await)
}

struct Customer {
    token: String,
    id: String,
}

impl App {
    async fn call(&self, method: Method, path: &str, body: Option<Value>, token: &str) -> Response {
        let body = body.map(|body| body.to_string());
        self.0.request(Call { body, token: Some(token), ..Call::new(method, path) }).await
    }

    async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, None, token).await
    }

    async fn stock(&self, sku: &str, warehouse: &str, on_hand: u64) {
        let path = format!("/v1/admin/inventory/{sku}/{warehouse}");
        let response = self.call(Method::PUT, &path, Some(json!({"on_hand": on_hand})), ADMIN).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
    }

    /// (on_hand, held, committed, available)
    async fn counts(&self, sku: &str) -> (u64, u64, u64, u64) {
        let inventory = self.get(&format!("/v1/inventory/{sku}"), ADMIN).await.body;
        let count = |name: &str| inventory[name].as_u64().unwrap();
        (count("on_hand"), count("held"), count("committed"), count("available"))
    }

    async fn customer(&self, email: &str) -> Customer {
        let body = json!({"email": email, "password": "long enough", "name": "Test"});
        assert_eq!(self.call(Method::POST, "/v1/customers", Some(body), "").await.status, 201);
        let session = json!({"email": email, "password": "long enough"});
        let response = self.call(Method::POST, "/v1/sessions", Some(session), "").await;
        let text = |name: &str| response.body[name].as_str().unwrap().to_owned();
        Customer { token: text("token"), id: text("customer_id") }
    }

    async fn card(&self, customer: &Customer, billing_country: &str) -> String {
        let body = json!({"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099,
            "cvc": "123", "billing_country": billing_country});
        let response = self.call(Method::POST, "/v1/payment-methods", Some(body), &customer.token).await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        response.body["token"].as_str().unwrap().to_owned()
    }

    /// Puts `lines` in the customer's cart, takes a checkout to review with
    /// `card` and places it (shipping to the US).
    async fn order(&self, customer: &Customer, lines: &[(&str, u32)], card: &str) -> Response {
        let token = customer.token.as_str();
        for (sku, quantity) in lines {
            let body = json!({"sku": sku, "quantity": quantity});
            assert_eq!(self.call(Method::POST, "/v1/carts/mine/items", Some(body), token).await.status, 200);
        }
        let started = self.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), token).await;
        assert_eq!(started.status, 201, "{:?}", started.body);
        let id = started.body["checkout_id"].as_str().unwrap().to_owned();
        let address = json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ",
            "postal_code": "07102", "country": "US"});
        assert_eq!(
            self.call(Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address), token).await.status,
            200
        );
        let options = self.get(&format!("/v1/checkouts/{id}/shipping-options"), token).await;
        let shipping = json!({"option_id": options.body["items"][0]["id"]});
        assert_eq!(
            self.call(Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(shipping), token).await.status,
            200
        );
        let payment = json!({"token": card});
        let paid = self.call(Method::PUT, &format!("/v1/checkouts/{id}/payment"), Some(payment), token).await;
        assert_eq!(paid.body["step"], "review", "{:?}", paid.body);
        self.call(Method::POST, &format!("/v1/checkouts/{id}/place"), None, token).await
    }

    /// Places an order that must be accepted; returns its id.
    async fn placed(&self, customer: &Customer, lines: &[(&str, u32)], card: &str) -> String {
        let placed = self.order(customer, lines, card).await;
        assert_eq!(placed.status, 201, "{:?}", placed.body);
        placed.body["order_id"].as_str().unwrap().to_owned()
    }

    /// The order ids of a list answer, in its order.
    async fn ids(&self, path: &str, token: &str) -> Vec<String> {
        let list = self.get(path, token).await;
        assert_eq!(list.status, 200, "{path}: {:?}", list.body);
        list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["order_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn assert_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["type"], code, "{:?}", response.body);
}

/// The kinds of an order's `payments` list, in order.
fn movements(order: &Value) -> Vec<String> {
    order["payments"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_admin_lists_every_order_by_each_filter_and_reads_any_order() {
    let app = spawn_approving().await;
    app.stock("SKU-A", "W-EAST", 50).await;
    app.stock("SKU-B", "W-WEST", 50).await;
    let (ann, bob) = (app.customer("ann@example.com").await, app.customer("bob@example.com").await);
    let (ann_card, bob_card) = (app.card(&ann, "US").await, app.card(&bob, "US").await);
    let first = app.placed(&ann, &[("SKU-A", 1)], &ann_card).await;
    let second = app.placed(&bob, &[("SKU-B", 1)], &bob_card).await;
    let third = app.placed(&ann, &[("SKU-A", 1), ("SKU-B", 1)], &ann_card).await;
    let cancel = app.call(Method::POST, &format!("/v1/orders/{first}/cancel"), None, &ann.token).await;
    assert_eq!(cancel.status, 200, "{:?}", cancel.body);

    let newest_first = [third.clone(), second.clone(), first.clone()];
    assert_eq!(app.ids("/v1/admin/orders", ADMIN).await, newest_first);
    assert_eq!(app.ids("/v1/orders", ADMIN).await, newest_first, "the admin's /v1/orders is the admin list");
    assert_eq!(app.ids("/v1/admin/orders?status=cancelled", ADMIN).await, [first.as_str()]);
    assert_eq!(app.ids("/v1/admin/orders?status=paid", ADMIN).await, [third.as_str(), second.as_str()]);
    assert_eq!(app.ids(&format!("/v1/admin/orders?customer_id={}", bob.id), ADMIN).await, [second.as_str()]);
    assert_eq!(app.ids("/v1/admin/orders?warehouse=W-WEST", ADMIN).await, [third.as_str(), second.as_str()]);
    assert_eq!(app.ids("/v1/admin/orders?warehouse=W-EAST&status=paid", ADMIN).await, [third.as_str()]);
    let second_view = app.get(&format!("/v1/orders/{second}"), ADMIN).await;
    assert_eq!(second_view.status, 200, "the admin reads another customer's order: {:?}", second_view.body);
    let at = second_view.body["created_at"].as_str().unwrap().to_owned();
    assert_eq!(app.ids(&format!("/v1/admin/orders?from={at}&to={at}"), ADMIN).await, [second.as_str()]);
    assert_eq!(app.ids(&format!("/v1/admin/orders?from={at}"), ADMIN).await, [third.as_str(), second.as_str()]);
    assert_eq!(app.ids(&format!("/v1/admin/orders?to={at}"), ADMIN).await, [second.as_str(), first.as_str()]);

    // The order keeps its address and shows its money.
    assert_eq!(second_view.body["customer_id"], bob.id.as_str());
    assert_eq!(second_view.body["shipping_address"]["name"], "Ann Buyer");
    assert_eq!(second_view.body["shipping_address"]["country"], "US");
    assert_eq!(movements(&second_view.body), ["authorization", "capture"]);
    let cancelled = app.get(&format!("/v1/orders/{first}"), ADMIN).await;
    assert_eq!(movements(&cancelled.body), ["authorization", "capture", "refund"]);
    assert_problem(&app.get(&format!("/v1/orders/{second}"), &ann.token).await, 404, "not-found");
    assert_problem(&app.get("/v1/admin/orders", &ann.token).await, 403, "forbidden");

    for bad in [
        "status=lost",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "customer_id=not%20an%20id",
        "warehouse=W%20EAST",
        "cursor=nonsense",
        "limit=0",
        "limit=101",
        "sort=oldest",
    ] {
        assert_problem(&app.get(&format!("/v1/admin/orders?{bad}"), ADMIN).await, 422, "invalid-input");
    }
    app.0.stop().await;
}

#[tokio::test]
async fn a_customer_searches_only_their_own_orders_by_text_and_time() {
    let app = spawn_approving().await;
    app.stock("SKU-A", "W-EAST", 50).await;
    app.stock("SKU-B", "W-EAST", 50).await;
    let (ann, bob) = (app.customer("ann@example.com").await, app.customer("bob@example.com").await);
    let (ann_card, bob_card) = (app.card(&ann, "US").await, app.card(&bob, "US").await);
    let ann_a = app.placed(&ann, &[("SKU-A", 1)], &ann_card).await;
    let bob_a = app.placed(&bob, &[("SKU-A", 2)], &bob_card).await;
    let ann_b = app.placed(&ann, &[("SKU-B", 1)], &ann_card).await;

    let token = ann.token.as_str();
    assert_eq!(app.ids("/v1/orders", token).await, [ann_b.as_str(), ann_a.as_str()]);
    assert_eq!(app.ids("/v1/orders?q=sku-a", token).await, [ann_a.as_str()], "a SKU, any case, only hers");
    assert_eq!(app.ids("/v1/orders?q=ITEM%20SKU-B", token).await, [ann_b.as_str()], "a product title");
    assert_eq!(app.ids("/v1/orders?q=item", token).await, [ann_b.as_str(), ann_a.as_str()]);
    assert!(app.ids("/v1/orders?q=kettle", token).await.is_empty());
    assert_eq!(app.ids("/v1/orders?q=sku-a", &bob.token).await, [bob_a.as_str()]);
    let bob_at = app.get(&format!("/v1/orders/{bob_a}"), ADMIN).await.body["created_at"].as_str().unwrap().to_owned();
    assert_eq!(app.ids(&format!("/v1/orders?from={bob_at}"), token).await, [ann_b.as_str()]);
    assert_eq!(app.ids(&format!("/v1/orders?to={bob_at}"), token).await, [ann_a.as_str()]);
    assert_eq!(app.ids(&format!("/v1/orders?customer_id={}", ann.id), token).await, [ann_b.as_str(), ann_a.as_str()]);
    let others = app.get(&format!("/v1/orders?customer_id={}", bob.id), token).await;
    assert_problem(&others, 422, "invalid-input");
    assert_problem(&app.get(&format!("/v1/orders?q={}", "x".repeat(101)), token).await, 422, "invalid-input");
    assert_problem(&app.get("/v1/orders?q=%20", token).await, 422, "invalid-input");
    app.0.stop().await;
}

#[tokio::test]
async fn paging_by_cursor_shows_every_order_exactly_once_and_survives_a_missing_index() {
    let app = spawn_approving().await;
    app.stock("SKU-A", "W-EAST", 100).await;
    let mut placed = Vec::new();
    for name in ["a", "b", "c"] {
        let customer = app.customer(&format!("{name}@example.com")).await;
        let card = app.card(&customer, "US").await;
        for _ in 0..3 {
            placed.push(app.placed(&customer, &[("SKU-A", 1)], &card).await);
        }
    }
    let seen = pages(&app).await;
    let mut newest_first = placed.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every order once, newest first");
    let all = app.ids("/v1/admin/orders?limit=100", ADMIN).await;
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), placed.len());

    // An older build wrote orders without their address and without the
    // index: they are indexed at the next open and show no address.
    let dir = app.0.shut_down().await;
    {
        let store = crate::common::open_store(dir.path());
        let mut batch = mercato::store::Batch::new();
        let orders =
            store.scan_prefix::<mercato::domains::orders::OrderRecord>(&[mercato::store::keys::ORDER]).unwrap();
        for (key, record) in orders {
            batch.put(key, &(record.order, record.holds, record.pending)).unwrap();
        }
        store.for_each_key(&[mercato::store::keys::ORDER_SUMMARY], |key| batch.delete(key.to_vec())).unwrap();
        store.write(batch).unwrap();
        store.flush().unwrap();
        store.close().unwrap();
    }
    let app = App(TestApp::spawn_in(dir, Options::new(SEED).config(|c| c.fraud = FraudRules::approve_all())).await);
    assert_eq!(pages(&app).await, newest_first, "the index is rebuilt for older orders");
    let old = app.get(&format!("/v1/orders/{}", placed[0]), ADMIN).await;
    assert_eq!((old.status, &old.body["shipping_address"]), (200, &Value::Null));
    assert_eq!(app.ids("/v1/admin/orders?status=paid&limit=100", ADMIN).await.len(), placed.len());
    app.0.stop().await;
}

/// Every order of the admin list, two per page, following the cursors.
async fn pages(app: &App) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = "/v1/admin/orders?limit=2".to_owned();
    loop {
        let page = app.get(&path, ADMIN).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|item| item["order_id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/admin/orders?limit=2&cursor={cursor}"),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn an_order_held_for_review_is_authorized_not_captured_and_ships_only_once_approved() {
    let app = spawn_with(|_| {}).await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let ann = app.customer("abroad@example.com").await;
    let card = app.card(&ann, "FR").await;
    let held = app.order(&ann, &[("SKU-A", 2)], &card).await;
    assert_eq!((held.status, held.body["status"].as_str()), (201, Some("on_hold")), "{:?}", held.body);
    let id = held.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(movements(&held.body), ["authorization"], "authorized, not captured");
    assert_eq!(held.body["payment"]["captured"]["cents"], 0);
    assert_eq!(app.counts("SKU-A").await, (10, 0, 2, 8), "its units are sold, not on a timed hold");
    let authorization = app.0.mercato.payments().authorization(&id).unwrap();
    assert_eq!(authorization.status, AuthorizationStatus::Authorized);

    assert_problem(&app.call(Method::POST, &format!("/v1/admin/orders/{id}/ship"), None, ADMIN).await, 409, "conflict");
    assert_eq!(app.ids("/v1/admin/orders?status=on_hold", ADMIN).await, [id.as_str()]);
    assert_eq!(app.ids("/v1/orders?status=on_hold", &ann.token).await, [id.as_str()]);
    let by_customer = app.call(Method::POST, &format!("/v1/admin/orders/{id}/approve"), None, &ann.token).await;
    assert_problem(&by_customer, 403, "forbidden");

    let approved = app.call(Method::POST, &format!("/v1/admin/orders/{id}/approve"), None, ADMIN).await;
    assert_eq!((approved.status, approved.body["status"].as_str()), (200, Some("paid")), "{:?}", approved.body);
    assert_eq!(movements(&approved.body), ["authorization", "capture"]);
    assert_eq!(approved.body["payment"]["captured"], approved.body["totals"]["total"]);
    let authorization = app.0.mercato.payments().authorization(&id).unwrap();
    assert_eq!(authorization.status, AuthorizationStatus::Captured);
    let again = app.call(Method::POST, &format!("/v1/admin/orders/{id}/approve"), None, ADMIN).await;
    assert_problem(&again, 409, "conflict");
    let shipped = app.call(Method::POST, &format!("/v1/admin/orders/{id}/ship"), None, ADMIN).await;
    assert_eq!((shipped.status, shipped.body["status"].as_str()), (200, Some("shipped")), "{:?}", shipped.body);
    assert_eq!(app.counts("SKU-A").await, (8, 0, 0, 8));
    let missing = app.call(Method::POST, "/v1/admin/orders/ord_missing/approve", None, ADMIN).await;
    assert_problem(&missing, 404, "not-found");
    app.0.stop().await;
}

#[tokio::test]
async fn the_admin_cancelling_a_held_order_voids_it_and_restocks() {
    let app = spawn_with(|_| {}).await;
    app.stock("SKU-A", "W-EAST", 10).await;
    let ann = app.customer("abroad@example.com").await;
    let card = app.card(&ann, "DE").await;
    let held = app.order(&ann, &[("SKU-A", 3)], &card).await;
    assert_eq!(held.body["status"], "on_hold", "{:?}", held.body);
    let id = held.body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(app.counts("SKU-A").await, (10, 0, 3, 7));

    let cancelled = app.call(Method::POST, &format!("/v1/orders/{id}/cancel"), None, ADMIN).await;
    assert_eq!((cancelled.status, cancelled.body["status"].as_str()), (200, Some("cancelled")), "{:?}", cancelled.body);
    assert_eq!(movements(&cancelled.body), ["authorization", "void"]);
    assert_eq!(cancelled.body["payment"]["refunded"]["cents"], 0, "nothing was captured, so nothing is refunded");
    let authorization = app.0.mercato.payments().authorization(&id).unwrap();
    assert_eq!(authorization.status, AuthorizationStatus::Voided);
    assert_eq!(app.counts("SKU-A").await, (10, 0, 0, 10), "the units are back");
    let approve = app.call(Method::POST, &format!("/v1/admin/orders/{id}/approve"), None, ADMIN).await;
    assert_problem(&approve, 409, "conflict");
    app.0.stop().await;
}

#[tokio::test]
async fn two_fraud_rules_decline_the_order_and_leave_nothing_behind() {
    let app = spawn_with(|_| {}).await;
    app.stock("SKU-B", "W-EAST", 40).await;
    let before = app.counts("SKU-B").await;
    let ann = app.customer("new-and-abroad@example.com").await;
    let card = app.card(&ann, "FR").await;
    // A day-old account ordering over 500.00, with a card billed in France.
    let declined = app.order(&ann, &[("SKU-B", 20)], &card).await;
    assert_problem(&declined, 402, "payment-declined");
    assert_eq!(app.counts("SKU-B").await, before, "every hold released, nothing committed");
    assert!(app.ids("/v1/orders", &ann.token).await.is_empty(), "no order");
    assert!(app.ids("/v1/admin/orders", ADMIN).await.is_empty(), "no order");
    let cart = app.get("/v1/carts/mine", &ann.token).await;
    assert_eq!(cart.body["lines"][0]["quantity"], 20, "the cart is kept");
    app.0.stop().await;
}

#[tokio::test]
async fn only_the_admin_sets_rating_review_count_and_sponsored() {
    let app = spawn_with(|_| {}).await;
    let seller = app.customer("seller@example.com").await;
    let link = app
        .call(
            Method::PUT,
            &format!("/v1/admin/customers/{}/seller", seller.id),
            Some(json!({"seller_id": "S-1"})),
            ADMIN,
        )
        .await;
    assert_eq!(link.status, 200, "{:?}", link.body);
    let product = json!({"id": "P-S1", "title": "Seller Kettle", "category": ["Test"], "seller_id": "S-1",
        "rating": 4.0, "review_count": 10,
        "variants": [{"sku": "S1-K", "price": {"cents": 1999, "currency": "USD"}}]});
    let created = app.call(Method::POST, "/v1/products", Some(product), ADMIN).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let ranking = |body: &Value| (body["rating"].clone(), body["review_count"].clone(), body["sponsored"].clone());
    let original = ranking(&app.get("/v1/products/P-S1", ADMIN).await.body);
    assert_eq!(original, (json!(4.0), json!(10), json!(false)));

    for patch in [
        json!({"rating": 5.0}),
        json!({"review_count": 9999}),
        json!({"sponsored": true}),
        json!({"title": "Best Kettle", "rating": null}),
    ] {
        let refused = app.call(Method::PATCH, "/v1/products/P-S1", Some(patch.clone()), &seller.token).await;
        assert_problem(&refused, 403, "forbidden");
        let now = app.get("/v1/products/P-S1", ADMIN).await.body;
        assert_eq!((ranking(&now), now["title"].clone()), (original.clone(), json!("Seller Kettle")), "{patch}");
    }
    let own = app.call(Method::PATCH, "/v1/products/P-S1", Some(json!({"title": "Best Kettle"})), &seller.token).await;
    assert_eq!((own.status, own.body["title"].as_str()), (200, Some("Best Kettle")), "{:?}", own.body);
    let admin = json!({"rating": 4.5, "review_count": 12, "sponsored": true});
    let patched = app.call(Method::PATCH, "/v1/products/P-S1", Some(admin), ADMIN).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(ranking(&patched.body), (json!(4.5), json!(12), json!(true)));

    // Creating is refused the same way, and creates nothing.
    let fields = [("rating", json!(5.0)), ("review_count", json!(3)), ("sponsored", json!(true))];
    for (index, (field, value)) in fields.into_iter().enumerate() {
        let mut body = json!({"id": format!("P-S2-{index}"), "title": "Sold by S-1", "category": ["Test"],
            "variants": [{"sku": format!("S2-{index}"), "price": {"cents": 999, "currency": "USD"}}]});
        body[field] = value;
        let refused = app.call(Method::POST, "/v1/products", Some(body), &seller.token).await;
        assert_problem(&refused, 403, "forbidden");
        assert_problem(&app.get(&format!("/v1/products/P-S2-{index}"), ADMIN).await, 404, "not-found");
    }
    let plain = json!({"id": "P-S3", "title": "Sold by S-1", "category": ["Test"],
        "variants": [{"sku": "S3-1", "price": {"cents": 999, "currency": "USD"}}]});
    assert_eq!(app.call(Method::POST, "/v1/products", Some(plain), &seller.token).await.status, 201);
    app.0.stop().await;
}
