//! The HTTP layer, on 127.0.0.1:0 with a temporary data directory: every
//! route of reservations, inventory and guest carts, each error code, and a
//! bad-input matrix that also checks nothing changed.

use crate::common::app::{Call, Options, Reply as Response, Seed, TestApp, ADMIN};
use crate::common::{body_bytes, client, Body};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use mercato::{Config, Durability, Mercato};
use serde_json::{json, Value};

/// The shared test app with this module's way of calling it (bodies as
/// text, tokens optional).
struct App(TestApp);

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

const SEED: Seed = Seed {
    warehouses: &[("W-1", 40.0, -74.0, "US-NJ"), ("W-EAST", 40.0, -74.0, "US-NJ")],
    products: &[("SKU-1", 1000), ("SKU-A", 250), ("SKU-B", 1999)],
    category: &["Test", "Things", "Items"],
    weight_grams: None,
};

async fn spawn_app() -> App {
    spawn_app_with(crate::common::app::test_limits()).await
}

async fn spawn_app_with(limits: mercato::http::limits::ClaimLimitConfig) -> App {
    App(TestApp::spawn(Options::new(SEED).limits(limits)).await)
}

impl App {
    async fn call(&self, method: Method, path: &str, body: Option<&str>, token: Option<&str>) -> Response {
        self.send(method, path, body, token, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Response {
        let body = body.map(str::to_owned);
        self.0.request(Call { body, token, idempotency_key, ..Call::new(method, path) }).await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call(method, path, body.map(|b| b.to_string()).as_deref(), Some(ADMIN)).await
    }

    async fn stop(self) {
        self.0.stop().await
    }
}

/// (method, path, body, bearer token, expected status, expected problem type)
type BadCase = (Method, String, Option<String>, Option<&'static str>, u16, &'static str);

fn assert_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.content_type, "application/problem+json");
    assert_eq!(response.body["type"], code, "{:?}", response.body);
    assert_eq!(response.body["status"], status);
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let app = spawn_app().await;
    let health = app.call(Method::GET, "/health", None, None).await;
    assert_eq!((health.status, health.body.clone()), (200, json!({"status": "ok"})));
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap().to_owned();
    assert!(
        text.contains("mercato_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\"")
    );
    assert!(text.contains("mercato_actor_activations_total{kind=\"bucket\"}"));
    assert!(text.contains("mercato_group_commit_batch_size_count"));
    assert!(text.contains("mercato_projection_lag_events{projection=\"search\"}"), "{text}");
    assert!(text.contains("mercato_projection_rebuilds_total{projection=\"search\"} 0"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_rebuilds_the_search_index_from_the_log() {
    let app = spawn_app().await;
    assert_problem(&app.call(Method::POST, "/v1/admin/search/rebuild", None, None).await, 401, "unauthorized");
    let ann = customer_token(&app, "ann@example.com").await;
    assert_problem(&app.call(Method::POST, "/v1/admin/search/rebuild", None, Some(&ann)).await, 403, "forbidden");
    let accepted = app.admin(Method::POST, "/v1/admin/search/rebuild", None).await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (202, Some("rebuilding")), "{:?}", accepted.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = app.call(Method::GET, "/metrics", None, None).await.body.as_str().unwrap().to_owned();
        let hits = app.call(Method::GET, "/v1/search", None, None).await.body["total"].as_u64();
        if metrics.contains("mercato_projection_rebuilds_total{projection=\"search\"} 1") && hits == Some(3) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the rebuild never finished: {metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reservation_goes_through_its_two_phases() {
    let app = spawn_app().await;
    let stock = app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-EAST", Some(json!({"on_hand": 10}))).await;
    assert_eq!((stock.status, stock.body["available"].clone()), (200, json!(10)));
    let created = app
        .admin(Method::POST, "/v1/reservations", Some(json!({"sku": "SKU-1", "quantity": 3, "ttl_seconds": 60})))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "held");
    assert!(created.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let id = created.body["reservation_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("res_"));
    let read = app.admin(Method::GET, &format!("/v1/reservations/{id}"), None).await;
    assert_eq!(read.body["quantity"], 3);
    let inventory = app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await;
    assert_eq!((inventory.body["held"].clone(), inventory.body["available"].clone()), (json!(3), json!(7)));
    assert_eq!(inventory.body["warehouses"][0]["warehouse"], "W-EAST");
    let committed = app.admin(Method::POST, &format!("/v1/reservations/{id}/commit"), None).await;
    assert_eq!((committed.status, committed.body["status"].clone()), (200, json!("committed")));
    let again = app.admin(Method::POST, &format!("/v1/reservations/{id}/commit"), None).await;
    assert_eq!(again.status, 200, "commit is idempotent");
    let release = app.admin(Method::DELETE, &format!("/v1/reservations/{id}"), None).await;
    assert_problem(&release, 409, "hold-not-active");

    let second = app.admin(Method::POST, "/v1/reservations", Some(json!({"sku": "SKU-1", "quantity": 2}))).await;
    let second_id = second.body["reservation_id"].as_str().unwrap().to_owned();
    let released = app.admin(Method::DELETE, &format!("/v1/reservations/{second_id}"), None).await;
    assert_eq!(released.body["status"], "released");
    let released_again = app.admin(Method::DELETE, &format!("/v1/reservations/{second_id}"), None).await;
    assert_eq!(released_again.status, 200, "release is idempotent");
    let commit_released = app.admin(Method::POST, &format!("/v1/reservations/{second_id}/commit"), None).await;
    assert_problem(&commit_released, 409, "hold-not-active");
    let too_many = app.admin(Method::POST, "/v1/reservations", Some(json!({"sku": "SKU-1", "quantity": 8}))).await;
    assert_problem(&too_many, 409, "insufficient-stock");
    app.stop().await;
}

#[tokio::test]
async fn a_guest_cart_supports_every_route() {
    let app = spawn_app().await;
    let warehouse = json!({"id": "W-2", "name": "Second", "location": {"lat": 41.5, "lon": -88.1}, "region": "US-IL"});
    let created = app.admin(Method::POST, "/v1/admin/warehouses", Some(warehouse.clone())).await;
    assert_eq!((created.status, created.body.clone()), (201, warehouse));
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-A/W-1", Some(json!({"on_hand": 1}))).await;
    let created = app.call(Method::POST, "/v1/carts", None, None).await;
    assert_eq!(created.status, 201);
    let cart = created.body["cart_id"].as_str().unwrap().to_owned();
    let base = format!("/v1/carts/{cart}");
    let added = app.call(Method::POST, &format!("{base}/items"), Some(r#"{"sku":"SKU-A","quantity":2}"#), None).await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    assert_eq!(added.body["lines"][0]["available"], false, "2 wanted, 1 in stock");
    app.call(Method::POST, &format!("{base}/items"), Some(r#"{"sku":"SKU-B","quantity":1}"#), None).await;
    let priced = app.call(Method::GET, &base, None, None).await;
    assert_eq!(priced.body["lines"][0]["title"], "Item SKU-A");
    assert_eq!(priced.body["lines"][0]["product_id"], "P-SKU-A");
    assert_eq!(priced.body["lines"][0]["unit_price"], json!({"cents": 250, "currency": "USD"}));
    assert_eq!(priced.body["lines"][0]["line_total"]["cents"], 500);
    assert_eq!(priced.body["subtotal"], json!({"cents": 2499, "currency": "USD"}));
    let set = app.call(Method::PUT, &format!("{base}/items/SKU-A"), Some(r#"{"quantity":1}"#), None).await;
    assert_eq!(
        (set.body["lines"][0]["quantity"].clone(), set.body["lines"][0]["available"].clone()),
        (json!(1), json!(true))
    );
    let saved = app.call(Method::POST, &format!("{base}/items/SKU-B/save-for-later"), None, None).await;
    assert_eq!(saved.body["saved"][0]["sku"], "SKU-B");
    let back = app.call(Method::POST, &format!("{base}/saved/SKU-B/move-to-cart"), None, None).await;
    assert_eq!(back.body["lines"].as_array().unwrap().len(), 2);
    let removed = app.call(Method::DELETE, &format!("{base}/items/SKU-B"), None, None).await;
    assert_eq!(removed.body["item_count"], 1);
    let zero = app.call(Method::PUT, &format!("{base}/items/SKU-A"), Some(r#"{"quantity":0}"#), None).await;
    assert_eq!(zero.body["lines"], json!([]));
    let read = app.call(Method::GET, &base, None, None).await;
    assert_eq!((read.status, read.body["item_count"].clone()), (200, json!(0)));
    app.stop().await;
}

/// Each bad request gets the right problem, and the cart and stock are unchanged.
#[tokio::test]
async fn bad_input_gets_the_right_problem_and_changes_nothing() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 5}))).await;
    let cart = app.call(Method::POST, "/v1/carts", None, None).await.body["cart_id"].as_str().unwrap().to_owned();
    let items = format!("/v1/carts/{cart}/items");
    app.call(Method::POST, &items, Some(r#"{"sku":"SKU-1","quantity":2}"#), None).await;
    let before_cart = app.call(Method::GET, &format!("/v1/carts/{cart}"), None, None).await.body;
    let before_stock = app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body;

    let cases: Vec<BadCase> = vec![
        (Method::POST, items.clone(), Some("{not json".into()), None, 400, "invalid-input"),
        (Method::POST, items.clone(), Some(r#"{"sku":"SKU-1","quantity":"two"}"#.into()), None, 400, "invalid-input"),
        (
            Method::POST,
            items.clone(),
            Some(r#"{"sku":"SKU-1","quantity":1,"extra":true}"#.into()),
            None,
            400,
            "invalid-input",
        ),
        (Method::POST, items.clone(), Some(r#"{"sku":"SKU-1","quantity":0}"#.into()), None, 422, "invalid-input"),
        (Method::POST, items.clone(), Some(r#"{"sku":"SKU-1","quantity":-4}"#.into()), None, 422, "invalid-input"),
        (
            Method::POST,
            items.clone(),
            Some(r#"{"sku":"SKU-1","quantity":99999999999}"#.into()),
            None,
            422,
            "invalid-input",
        ),
        (Method::POST, items.clone(), Some(r#"{"sku":"SKU-1","quantity":998}"#.into()), None, 409, "limit-exceeded"),
        (Method::POST, items.clone(), Some(r#"{"sku":"bad sku!","quantity":1}"#.into()), None, 422, "invalid-input"),
        (
            Method::POST,
            items.clone(),
            Some(format!(r#"{{"sku":"SKU-1","quantity":1,"pad":"{}"}}"#, "x".repeat(1 << 20))),
            None,
            413,
            "payload-too-large",
        ),
        (Method::DELETE, format!("/v1/carts/{cart}/items/NOT-THERE"), None, None, 404, "not-found"),
        (Method::POST, items.clone(), Some(r#"{"sku":"NOT-IN-CATALOG","quantity":1}"#.into()), None, 404, "not-found"),
        (
            Method::PUT,
            format!("/v1/carts/{cart}/items/NOT-IN-CATALOG"),
            Some(r#"{"quantity":1}"#.into()),
            None,
            404,
            "not-found",
        ),
        (Method::GET, "/v1/carts/cart_unknown".into(), None, None, 404, "not-found"),
        (Method::GET, "/v1/no/such/route".into(), None, None, 404, "not-found"),
        (Method::PATCH, format!("/v1/carts/{cart}"), None, None, 405, "method-not-allowed"),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"SKU-1","quantity":1}"#.into()),
            None,
            401,
            "unauthorized",
        ),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"SKU-1","quantity":1}"#.into()),
            Some("wrong"),
            401,
            "unauthorized",
        ),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"SKU-1","quantity":0}"#.into()),
            Some(ADMIN),
            422,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"SKU-1","quantity":1,"ttl_seconds":0}"#.into()),
            Some(ADMIN),
            422,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"SKU-1","quantity":1,"ttl_seconds":3601}"#.into()),
            Some(ADMIN),
            422,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/reservations".into(),
            Some(r#"{"sku":"NO-SUCH","quantity":1}"#.into()),
            Some(ADMIN),
            409,
            "insufficient-stock",
        ),
        (Method::GET, "/v1/reservations/res_missing".into(), None, Some(ADMIN), 404, "not-found"),
        (
            Method::PUT,
            "/v1/admin/inventory/SKU-1/W-1".into(),
            Some(r#"{"on_hand":-1}"#.into()),
            Some(ADMIN),
            422,
            "invalid-input",
        ),
        (Method::PUT, "/v1/admin/inventory/SKU-1/W-1".into(), Some(r#"{}"#.into()), Some(ADMIN), 422, "invalid-input"),
        (
            Method::PUT,
            "/v1/admin/inventory/SKU-1/W-1".into(),
            Some(r#"{"on_hand":1}"#.into()),
            None,
            401,
            "unauthorized",
        ),
        (Method::GET, "/v1/inventory/NO-SUCH".into(), None, None, 404, "not-found"),
        (
            Method::PUT,
            "/v1/admin/inventory/SKU-1/W-NOWHERE".into(),
            Some(r#"{"on_hand":1}"#.into()),
            Some(ADMIN),
            404,
            "not-found",
        ),
        (
            Method::POST,
            "/v1/admin/warehouses".into(),
            Some(r#"{"id":"W-1","name":"Again","location":{"lat":1,"lon":2},"region":"R"}"#.into()),
            Some(ADMIN),
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/v1/admin/warehouses".into(),
            Some(r#"{"id":"W-9","name":"Far","location":{"lat":100,"lon":2},"region":"R"}"#.into()),
            Some(ADMIN),
            422,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/admin/warehouses".into(),
            Some(r#"{"id":"W-9","name":"Far","region":"R"}"#.into()),
            Some(ADMIN),
            400,
            "invalid-input",
        ),
        (
            Method::POST,
            "/v1/admin/warehouses".into(),
            Some(r#"{"id":"W-9","name":"N","location":{"lat":1,"lon":2},"region":"R"}"#.into()),
            None,
            401,
            "unauthorized",
        ),
    ];
    for (method, path, body, token, status, code) in cases {
        let response = app.call(method.clone(), &path, body.as_deref(), token).await;
        assert_eq!(response.status, status, "{method} {path}: {:?}", response.body);
        assert_problem(&response, status, code);
    }
    assert_eq!(app.call(Method::GET, &format!("/v1/carts/{cart}"), None, None).await.body, before_cart);
    assert_eq!(app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body, before_stock);
    app.stop().await;
}

fn product_line(id: &str, sku: &str, category: &[&str], cents: i64, stock: u64) -> String {
    json!({
        "id": id, "title": format!("Product {id}"), "brand": "Acme", "category": category,
        "variants": [{"sku": sku, "options": {"color": "Black"}, "price": {"cents": cents, "currency": "USD"},
                      "weight_grams": 250, "tax_category": "standard",
                      "stock": [{"warehouse": "W-EAST", "quantity": stock}]}]
    })
    .to_string()
}

async fn import(app: &App, body: &str) -> Response {
    let url = format!("http://{}/v1/admin/catalog/import", app.addr);
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = client().request(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = body_bytes(response.into_body()).await.unwrap();
    Response {
        status,
        content_type: String::new(),
        retry_after: None,
        request_id: None,
        replayed: false,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

#[tokio::test]
async fn an_import_reports_bad_lines_by_number_and_lands_the_good_ones() {
    let app = spawn_app().await;
    let lines = [
        product_line("P-1", "P-1-BLK", &["Electronics", "Audio", "Headphones"], 7999, 15),
        "{broken json".to_owned(),
        product_line("P-2", "P-2-BLK", &["Electronics", "Audio", "Speakers"], 4999, 0),
        product_line("P-3", "P-1-BLK", &["Electronics", "Audio", "Speakers"], 100, 1),
        product_line("P-4", "P-4-X", &["Home", "Kitchen", "Cookware"], -5, 1),
        String::new(),
        product_line("P-5", "P-5-X", &["Home", "Kitchen", "Cookware"], 2500, 3),
        product_line("P-6", "P-6-X", &["Home"], 2500, 3).replace("W-EAST", "W-NOWHERE"),
    ];
    let report = import(&app, &lines.join("\n")).await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(report.body["imported"], 3, "{:?}", report.body);
    let bad: Vec<i64> = report.body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_i64().unwrap()).collect();
    assert_eq!(bad, vec![2, 4, 5, 8], "{:?}", report.body);

    let product = app.call(Method::GET, "/v1/products/P-1", None, None).await;
    assert_eq!(product.status, 200);
    assert_eq!(product.body["variants"][0]["available"], 15);
    assert_eq!(product.body["price"], json!({"cents": 7999, "currency": "USD"}));
    assert_eq!(product.body["in_stock"], true);
    assert_eq!(app.call(Method::GET, "/v1/products/P-2", None, None).await.body["in_stock"], false);

    let categories = app.call(Method::GET, "/v1/categories", None, None).await;
    let items = categories.body["items"].as_array().unwrap().clone();
    let names: Vec<&str> = items.iter().map(|node| node["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Electronics", "Home", "Test"], "sorted by name; Test holds the seeded products");
    assert_eq!(items[0]["product_count"], 2, "counts include subcategories");
    assert_eq!(items[0]["children"][0]["children"].as_array().unwrap().len(), 2);

    let replaced =
        import(&app, &product_line("P-1", "P-1-BLK", &["Electronics", "Audio", "Headphones"], 6999, 15)).await;
    assert_eq!(replaced.body["imported"], 1);
    let product = app.call(Method::GET, "/v1/products/P-1", None, None).await;
    assert_eq!(product.body["price"]["cents"], 6999, "an existing id is replaced");
    app.stop().await;
}

#[tokio::test]
async fn products_are_created_read_and_patched() {
    let app = spawn_app().await;
    let body: Value =
        serde_json::from_str(&product_line("P-9", "P-9-A", &["Books", "Fiction", "Mystery"], 1299, 4)).unwrap();
    let created = app.admin(Method::POST, "/v1/products", Some(body.clone())).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["variants"][0]["available"], 4);
    assert_problem(&app.admin(Method::POST, "/v1/products", Some(body)).await, 409, "conflict");

    let patch = json!({"title": "A Better Title", "brand": null, "variants": [{"sku": "P-9-A", "price": {"cents": 999, "currency": "USD"}}]});
    let patched = app.admin(Method::PATCH, "/v1/products/P-9", Some(patch)).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["title"], "A Better Title");
    assert_eq!(patched.body["brand"], Value::Null);
    assert_eq!(patched.body["price"]["cents"], 999);
    assert_eq!(patched.body["category"], json!(["Books", "Fiction", "Mystery"]), "unpatched fields stay");

    let unknown_variant =
        app.admin(Method::PATCH, "/v1/products/P-9", Some(json!({"variants": [{"sku": "NOPE"}]}))).await;
    assert_problem(&unknown_variant, 422, "invalid-input");
    let empty_title = app.admin(Method::PATCH, "/v1/products/P-9", Some(json!({"title": "  "}))).await;
    assert_problem(&empty_title, 422, "invalid-input");
    assert_eq!(app.call(Method::GET, "/v1/products/P-9", None, None).await.body["title"], "A Better Title");
    assert_problem(
        &app.admin(Method::PATCH, "/v1/products/P-404", Some(json!({"title": "x"}))).await,
        404,
        "not-found",
    );
    assert_problem(&app.call(Method::GET, "/v1/products/P-404", None, None).await, 404, "not-found");
    assert_problem(
        &app.call(Method::PATCH, "/v1/products/P-9", Some(r#"{"title":"x"}"#), None).await,
        401,
        "unauthorized",
    );
    let unknown_field = app.admin(Method::PATCH, "/v1/products/P-9", Some(json!({"colour": "red"}))).await;
    assert_problem(&unknown_field, 400, "invalid-input");
    app.stop().await;
}

#[tokio::test]
async fn the_demo_catalog_loads_into_a_browsable_store() {
    let dir = tempfile::tempdir().unwrap();
    let mercato = Mercato::open(Config::new(dir.path()).durability(Durability::Memory)).unwrap();
    let loaded = mercato::demo::load_demo(&mercato).await.unwrap();
    assert_eq!(loaded.warehouses, 3);
    assert!(loaded.products >= 500, "{loaded:?}");
    assert_eq!(mercato.catalog().count(), loaded.products);
    fn leaves(nodes: &[mercato::engine::CategoryNode], depth: usize, out: &mut Vec<usize>) {
        for node in nodes {
            if node.children.is_empty() {
                out.push(depth);
            }
            leaves(&node.children, depth + 1, out);
        }
    }
    let mut depths = Vec::new();
    leaves(&mercato.catalog().category_tree(), 1, &mut depths);
    assert!(depths.len() >= 20, "{} leaf categories", depths.len());
    assert!(depths.iter().all(|depth| *depth == 3), "a 3-level tree");
    let in_stock = mercato
        .catalog()
        .products()
        .iter()
        .filter(|product| product.variants.iter().any(|variant| mercato.inventory().available(&variant.sku) > 0))
        .count();
    assert!(in_stock > loaded.products * 9 / 10, "{in_stock} of {} products in stock", loaded.products);
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn customers_register_sign_in_and_use_their_own_cart() {
    let app = spawn_app().await;
    let body = |email: &str, password: &str| json!({"email": email, "password": password, "name": "Ann Buyer"});
    let created = app
        .call(Method::POST, "/v1/customers", Some(&body("Ann@Example.com", "correct horse").to_string()), None)
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let customer_id = created.body["customer_id"].as_str().unwrap().to_owned();
    let again =
        app.call(Method::POST, "/v1/customers", Some(&body("ann@example.COM", "another pass").to_string()), None).await;
    assert_problem(&again, 409, "conflict");
    for (email, password) in [("not-an-email", "correct horse"), ("bob@example.com", "short")] {
        let bad = app.call(Method::POST, "/v1/customers", Some(&body(email, password).to_string()), None).await;
        assert_problem(&bad, 422, "invalid-input");
    }

    let wrong = json!({"email": "ann@example.com", "password": "wrong horse"}).to_string();
    assert_problem(&app.call(Method::POST, "/v1/sessions", Some(&wrong), None).await, 401, "unauthorized");
    let unknown = json!({"email": "zed@example.com", "password": "correct horse"}).to_string();
    assert_problem(&app.call(Method::POST, "/v1/sessions", Some(&unknown), None).await, 401, "unauthorized");

    let guest = app.call(Method::POST, "/v1/carts", None, None).await.body["cart_id"].as_str().unwrap().to_owned();
    app.call(Method::POST, &format!("/v1/carts/{guest}/items"), Some(r#"{"sku":"SKU-A","quantity":2}"#), None).await;
    let sign_in = json!({"email": "ANN@example.com", "password": "correct horse", "guest_cart_id": guest}).to_string();
    let session = app.call(Method::POST, "/v1/sessions", Some(&sign_in), None).await;
    assert_eq!(session.status, 200, "{:?}", session.body);
    assert_eq!(session.body["customer_id"], customer_id.as_str());
    let token = session.body["token"].as_str().unwrap().to_owned();

    let me = app.call(Method::GET, "/v1/me", None, Some(&token)).await;
    assert_eq!(
        (me.status, me.body["email"].clone(), me.body["prime"]["active"].clone()),
        (200, json!("ann@example.com"), json!(false))
    );
    assert_problem(&app.call(Method::GET, "/v1/me", None, None).await, 401, "unauthorized");
    assert_problem(&app.call(Method::GET, "/v1/me", None, Some("tok_forged")).await, 401, "unauthorized");
    assert_problem(&app.call(Method::GET, "/v1/me", None, Some(ADMIN)).await, 403, "forbidden");
    let admin_route =
        app.call(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(r#"{"on_hand":1}"#), Some(&token)).await;
    assert_problem(&admin_route, 403, "forbidden");

    let mine = app.call(Method::GET, "/v1/carts/mine", None, Some(&token)).await;
    assert_eq!(mine.body["lines"][0]["sku"], "SKU-A", "the guest cart merged at sign-in");
    assert_eq!(mine.body["lines"][0]["quantity"], 2);
    assert_eq!(app.call(Method::GET, &format!("/v1/carts/{guest}"), None, None).await.body["item_count"], 0);
    let added =
        app.call(Method::POST, "/v1/carts/mine/items", Some(r#"{"sku":"SKU-B","quantity":1}"#), Some(&token)).await;
    assert_eq!(added.body["item_count"], 3);
    assert_problem(&app.call(Method::GET, "/v1/carts/mine", None, None).await, 401, "unauthorized");
    let own_id = mine.body["cart_id"].as_str().unwrap().to_owned();
    assert_problem(&app.call(Method::GET, &format!("/v1/carts/{own_id}"), None, None).await, 404, "not-found");

    let second_guest =
        app.call(Method::POST, "/v1/carts", None, None).await.body["cart_id"].as_str().unwrap().to_owned();
    app.call(Method::POST, &format!("/v1/carts/{second_guest}/items"), Some(r#"{"sku":"SKU-A","quantity":1}"#), None)
        .await;
    let merge = json!({"guest_cart_id": second_guest}).to_string();
    let merged = app.call(Method::POST, "/v1/carts/mine/merge", Some(&merge), Some(&token)).await;
    assert_eq!((merged.status, merged.body["item_count"].clone()), (200, json!(4)), "{:?}", merged.body);
    app.stop().await;
}

async fn customer_token(app: &App, email: &str) -> String {
    let registration = json!({"email": email, "password": "a long password", "name": "Buyer"}).to_string();
    assert_eq!(app.call(Method::POST, "/v1/customers", Some(&registration), None).await.status, 201);
    let credentials = json!({"email": email, "password": "a long password"}).to_string();
    app.call(Method::POST, "/v1/sessions", Some(&credentials), None).await.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_sees_and_settles_only_their_own_reservations() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 5}))).await;
    let ann = customer_token(&app, "ann@example.com").await;
    let bob = customer_token(&app, "bob@example.com").await;
    let body = r#"{"sku":"SKU-1","quantity":2}"#;
    let held = app.call(Method::POST, "/v1/reservations", Some(body), Some(&ann)).await;
    assert_eq!(held.status, 201, "{:?}", held.body);
    let id = held.body["reservation_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/reservations/{id}");
    assert_eq!(app.call(Method::GET, &path, None, Some(&ann)).await.status, 200);
    assert_eq!(app.call(Method::GET, &path, None, Some(ADMIN)).await.status, 200, "the admin sees every reservation");
    assert_problem(&app.call(Method::GET, &path, None, Some(&bob)).await, 404, "not-found");
    assert_problem(&app.call(Method::DELETE, &path, None, Some(&bob)).await, 404, "not-found");
    assert_problem(&app.call(Method::GET, &path, None, None).await, 401, "unauthorized");
    // A commit is the admin's (API.md): a customer's holds become sales only
    // by placing an order, so even the owner's commit is 403 and the hold stays.
    for token in [&bob, &ann] {
        assert_problem(&app.call(Method::POST, &format!("{path}/commit"), None, Some(token)).await, 403, "forbidden");
    }
    assert_eq!(app.call(Method::GET, &path, None, Some(&ann)).await.body["status"], "held");
    let committed = app.call(Method::POST, &format!("{path}/commit"), None, Some(ADMIN)).await;
    assert_eq!(committed.body["status"], "committed");
    app.stop().await;
}

impl App {
    async fn call_with_key(&self, path: &str, body: &str, token: &str, key: &str) -> Response {
        self.send(Method::POST, path, Some(body), Some(token), Some(key)).await
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_runs_once() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let body = r#"{"sku":"SKU-1","quantity":2}"#;
    let first = app.call_with_key("/v1/reservations", body, ADMIN, "key-1").await;
    let second = app.call_with_key("/v1/reservations", body, ADMIN, "key-1").await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.body, second.body, "the same reservation, not a second one");
    assert_eq!(app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body["held"], 2);

    let reused = app.call_with_key("/v1/reservations", r#"{"sku":"SKU-1","quantity":3}"#, ADMIN, "key-1").await;
    assert_problem(&reused, 422, "idempotency-key-reused");

    let too_many = r#"{"sku":"SKU-1","quantity":50}"#;
    assert_problem(&app.call_with_key("/v1/reservations", too_many, ADMIN, "key-2").await, 409, "insufficient-stock");
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 100}))).await;
    let replayed = app.call_with_key("/v1/reservations", too_many, ADMIN, "key-2").await;
    assert_problem(&replayed, 409, "insufficient-stock");

    let duplicates = (0..10).map(|_| app.call_with_key("/v1/reservations", body, ADMIN, "key-3"));
    let responses = futures::future::join_all(duplicates).await;
    let ids: std::collections::BTreeSet<String> =
        responses.iter().map(|r| r.body["reservation_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "concurrent duplicates ran once");
    assert_eq!(app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body["held"], 4);

    let ann = customer_token(&app, "ann@example.com").await;
    let anns = app.call_with_key("/v1/reservations", body, &ann, "key-1").await;
    assert_eq!(anns.status, 201);
    assert_ne!(anns.body["reservation_id"], first.body["reservation_id"], "keys are scoped to the caller");
    app.stop().await;
}

async fn sign_in(app: &App, email: &str) -> String {
    let credentials = json!({"email": email, "password": "a long password"}).to_string();
    app.call(Method::POST, "/v1/sessions", Some(&credentials), None).await.body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_the_customer_not_to_the_session() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let first_session = customer_token(&app, "ann@example.com").await;
    let body = r#"{"sku":"SKU-1","quantity":2}"#;
    let first = app.call_with_key("/v1/reservations", body, &first_session, "retry-me").await;
    assert_eq!(first.status, 201, "{:?}", first.body);

    // The app signs in again (a new token) and retries with the same key.
    let second_session = sign_in(&app, "ann@example.com").await;
    assert_ne!(first_session, second_session);
    let retried = app.call_with_key("/v1/reservations", body, &second_session, "retry-me").await;
    assert_eq!(retried.status, 201);
    assert_eq!(retried.body["reservation_id"], first.body["reservation_id"], "the same reservation, replayed");
    assert!(retried.replayed);
    assert_eq!(app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body["held"], 2);

    // Another customer with the same key is another scope.
    let bob = customer_token(&app, "bob@example.com").await;
    let bobs = app.call_with_key("/v1/reservations", body, &bob, "retry-me").await;
    assert_ne!(bobs.body["reservation_id"], first.body["reservation_id"]);
    app.stop().await;
}

#[tokio::test]
async fn every_creating_post_replays_a_keyed_retry() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let ann = customer_token(&app, "ann@example.com").await;

    // A card: one token, not two.
    let card = r#"{"type":"card","number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"123"}"#;
    let saved = app.call_with_key("/v1/payment-methods", card, &ann, "card-1").await;
    let again = app.call_with_key("/v1/payment-methods", card, &ann, "card-1").await;
    assert_eq!((saved.status, again.status), (201, 201), "{:?}", saved.body);
    assert_eq!(saved.body["token"], again.body["token"]);
    assert!(again.replayed);
    let cards = app.call(Method::GET, "/v1/me/payment-methods", None, Some(&ann)).await;
    assert_eq!(cards.body["items"].as_array().map(Vec::len), Some(1), "{:?}", cards.body);

    // A checkout: one, not two.
    let line = r#"{"sku":"SKU-1","quantity":1}"#;
    assert_eq!(app.call(Method::POST, "/v1/carts/mine/items", Some(line), Some(&ann)).await.status, 200);
    let start = r#"{"cart_id":"mine"}"#;
    let checkout = app.call_with_key("/v1/checkouts", start, &ann, "checkout-1").await;
    let again = app.call_with_key("/v1/checkouts", start, &ann, "checkout-1").await;
    assert_eq!((checkout.status, again.status), (201, 201), "{:?}", checkout.body);
    assert_eq!(checkout.body["checkout_id"], again.body["checkout_id"]);

    // A gift card: the same code, one balance issued.
    let balance = r#"{"balance":{"cents":2500,"currency":"USD"}}"#;
    let issued = app.call_with_key("/v1/admin/gift-cards", balance, ADMIN, "gift-1").await;
    let again = app.call_with_key("/v1/admin/gift-cards", balance, ADMIN, "gift-1").await;
    assert_eq!((issued.status, again.status), (201, 201), "{:?}", issued.body);
    assert_eq!(issued.body["code"], again.body["code"]);
    let other = app.call_with_key("/v1/admin/gift-cards", balance, ADMIN, "gift-2").await;
    assert_ne!(other.body["code"], issued.body["code"], "a new key issues a new card");

    // A waitlist place: the first answer again.
    let deal = json!({"sku": "SKU-1", "price": {"cents": 499, "currency": "USD"}, "quantity": 1,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z", "per_customer_limit": 1});
    let id = app.admin(Method::POST, "/v1/admin/deals", Some(deal)).await.body["deal_id"].as_str().unwrap().to_owned();
    let bob = customer_token(&app, "bob@example.com").await;
    let claim = app.call(Method::POST, &format!("/v1/deals/{id}/claims"), Some(r#"{"quantity":1}"#), Some(&bob)).await;
    assert_eq!(claim.status, 201, "{:?}", claim.body);
    let path = format!("/v1/deals/{id}/waitlist");
    let joined = app.send(Method::POST, &path, None, Some(&ann), Some("wait-1")).await;
    let again = app.send(Method::POST, &path, None, Some(&ann), Some("wait-1")).await;
    assert_eq!((joined.status, again.status), (201, 201), "{:?}", joined.body);
    assert_eq!(joined.body, again.body);
    assert!(!joined.replayed && again.replayed, "the retry is the remembered answer");
    app.stop().await;
}

#[tokio::test]
async fn a_body_declared_as_another_media_type_is_415_and_changes_nothing() {
    let app = spawn_app().await;
    let cart = app.call(Method::POST, "/v1/carts", None, None).await.body["cart_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/carts/{cart}/items");
    let line = r#"{"sku":"SKU-1","quantity":1}"#;
    let typed = |content_type: &str| Call {
        body: Some(line.to_owned()),
        headers: vec![("content-type", content_type.to_owned())],
        ..Call::new(Method::POST, &path)
    };
    for declared in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        assert_problem(&app.0.request(typed(declared)).await, 415, "unsupported-media-type");
    }
    let cart_now = app.call(Method::GET, &format!("/v1/carts/{cart}"), None, None).await;
    assert_eq!(cart_now.body["item_count"], 0, "a refused body adds nothing");
    for declared in ["application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"] {
        assert_eq!(app.0.request(typed(declared)).await.status, 200, "{declared} is JSON");
    }
    app.stop().await;
}

/// Every route of API.md (the sections this server implements, and the
/// ones it does not yet: those must then be unanswered).
const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/admin/catalog/import"),
    ("POST", "/v1/products"),
    ("GET", "/v1/products/{id}"),
    ("PATCH", "/v1/products/{id}"),
    ("GET", "/v1/categories"),
    ("POST", "/v1/admin/warehouses"),
    ("PUT", "/v1/admin/inventory/{sku}/{warehouse}"),
    ("GET", "/v1/inventory/{sku}"),
    ("GET", "/v1/search"),
    ("GET", "/v1/suggest"),
    ("POST", "/v1/customers"),
    ("POST", "/v1/sessions"),
    ("DELETE", "/v1/sessions/current"),
    ("GET", "/v1/me"),
    ("POST", "/v1/me/membership"),
    ("GET", "/v1/me/membership"),
    ("PUT", "/v1/me/membership"),
    ("DELETE", "/v1/me/membership"),
    ("GET", "/v1/me/payment-methods"),
    ("DELETE", "/v1/me/payment-methods/{token}"),
    ("POST", "/v1/carts"),
    ("GET", "/v1/carts/{cart_id}"),
    ("POST", "/v1/carts/{cart_id}/items"),
    ("PUT", "/v1/carts/{cart_id}/items/{sku}"),
    ("DELETE", "/v1/carts/{cart_id}/items/{sku}"),
    ("POST", "/v1/carts/{cart_id}/items/{sku}/save-for-later"),
    ("POST", "/v1/carts/{cart_id}/saved/{sku}/move-to-cart"),
    ("POST", "/v1/carts/mine/merge"),
    ("POST", "/v1/reservations"),
    ("GET", "/v1/reservations/{id}"),
    ("POST", "/v1/reservations/{id}/commit"),
    ("DELETE", "/v1/reservations/{id}"),
    ("POST", "/v1/payment-methods"),
    ("POST", "/v1/gift-cards/balance"),
    ("POST", "/v1/checkouts"),
    ("PUT", "/v1/checkouts/{id}/address"),
    ("GET", "/v1/checkouts/{id}/shipping-options"),
    ("PUT", "/v1/checkouts/{id}/shipping"),
    ("PUT", "/v1/checkouts/{id}/payment"),
    ("GET", "/v1/checkouts/{id}"),
    ("POST", "/v1/checkouts/{id}/place"),
    ("GET", "/v1/orders/{id}"),
    ("GET", "/v1/orders"),
    ("POST", "/v1/orders/{id}/cancel"),
    ("POST", "/v1/orders/{id}/returns"),
    ("GET", "/v1/admin/orders"),
    ("POST", "/v1/admin/orders/{id}/approve"),
    ("POST", "/v1/admin/deals"),
    ("GET", "/v1/deals/{id}"),
    ("POST", "/v1/deals/{id}/claims"),
    ("POST", "/v1/deals/{id}/waitlist"),
    ("GET", "/v1/deals/{id}/events"),
    ("GET", "/v1/deals"),
    ("POST", "/v1/admin/deals/{id}/end"),
];

/// Routes this server adds beyond API.md (allowed: the contract fixes what
/// exists, not that nothing more may).
const EXTRA_ROUTES: &[(&str, &str)] = &[
    ("PUT", "/v1/admin/customers/{id}/seller"),
    ("GET", "/v1/deals/{id}/waitlist"),
    ("POST", "/v1/admin/gift-cards"),
    ("POST", "/v1/checkouts/{id}/accept-prices"),
    ("POST", "/v1/admin/orders/{id}/ship"),
    ("POST", "/v1/admin/orders/{id}/deliver"),
    ("POST", "/v1/admin/orders/{id}/returns/receive"),
    ("POST", "/v1/admin/search/rebuild"),
];

fn probe_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if segment.starts_with('{') { "probe-1" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router has this route (any answer but "no such route" or 405).
async fn answers(app: &App, method: &str, template: &str) -> bool {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let response = app.call(method, &probe_path(template), Some("{}"), Some(ADMIN)).await;
    let unrouted = response.status == 404 && response.body["detail"] == "no such route";
    !unrouted && response.status != 405
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_the_server_answers() {
    let app = spawn_app().await;
    let document = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    assert!(document.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = std::collections::BTreeSet::new();
    for (path, operations) in document.body["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    for (method, path) in &documented {
        assert!(answers(&app, method, path).await, "{method} {path} is documented but not served");
    }
    let normalize = |path: &str| probe_path(path);
    let documented_probes: std::collections::BTreeSet<(String, String)> =
        documented.iter().map(|(method, path)| (method.clone(), normalize(path))).collect();
    let mut served = 0;
    for (method, path) in API_ROUTES.iter().chain(EXTRA_ROUTES) {
        if answers(&app, method, path).await {
            served += 1;
            assert!(
                documented_probes.contains(&(method.to_string(), normalize(path))),
                "{method} {path} is served but missing from /openapi.json"
            );
        }
    }
    assert_eq!(served, documented.len(), "every documented route is an API.md route or a listed extra");
    app.stop().await;
}

/// Every `$ref` under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target);
            }
            map.values().for_each(|value| refs(value, out));
        }
        Value::Array(items) => items.iter().for_each(|value| refs(value, out)),
        _ => {}
    }
}

/// The server and its document come from one route table: the document
/// lists exactly the table's routes, each of them answers, and no method
/// the document leaves out is served on a documented path.
#[tokio::test]
async fn the_openapi_document_is_the_route_table_and_every_route_in_it_answers() {
    let table = mercato::http::table();
    let routes: Vec<(String, String)> =
        table.operations().iter().map(|route| (route.method().to_owned(), route.path().to_owned())).collect();
    let unique: std::collections::BTreeSet<(String, String)> = routes.iter().cloned().collect();
    assert_eq!(unique.len(), routes.len(), "a route is declared twice: {routes:?}");

    let app = spawn_app().await;
    let document = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    let mut documented = std::collections::BTreeSet::new();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, operations) in document.body["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            let name = format!("{} {path}", method.to_uppercase());
            assert!(operation["tags"][0].as_str().is_some_and(|tag| !tag.is_empty()), "{name} has no tag");
            let operation_id = operation["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(!operation_id.is_empty() && operation_ids.insert(operation_id), "{name}: no unique operationId");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.keys().any(|status| status.starts_with('2')), "{name} documents no success");
            for (status, response) in responses {
                if !status.starts_with('2') {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ProblemBody", "{name} {status} is not a problem");
                }
            }
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            if method == "post" && responses.contains_key("201") {
                let keyed = parameters.iter().any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
                assert!(keyed, "{name} creates (201) but takes no Idempotency-Key (API.md, Conventions)");
            }
            for segment in path.split('/').filter(|segment| segment.starts_with('{')) {
                let param = segment.trim_matches(|c| c == '{' || c == '}');
                let declared = parameters.iter().any(|p| p["in"] == "path" && p["name"] == param);
                assert!(declared, "{name}: path parameter {param} is not documented");
            }
        }
    }
    assert_eq!(documented, unique, "the document's operations are the route table's");

    // Every schema an operation refers to is in the components.
    let mut targets = Vec::new();
    refs(&document.body, &mut targets);
    let schemas = document.body["components"]["schemas"].as_object().unwrap();
    for target in targets {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or(target);
        assert!(schemas.contains_key(name), "{target} is referred to but not a component");
    }

    for (method, path) in &unique {
        assert!(answers(&app, method, path).await, "{method} {path} is in the route table but not served");
    }
    let paths: std::collections::BTreeSet<&String> = unique.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if !unique.contains(&(method.to_owned(), path.clone())) {
                assert!(!answers(&app, method, path).await, "{method} {path} is served but not documented");
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_seller_creates_and_patches_only_its_own_products() {
    let app = spawn_app().await;
    let seller_token = customer_token(&app, "seller@example.com").await;
    let shopper_token = customer_token(&app, "shopper@example.com").await;
    let me = app.call(Method::GET, "/v1/me", None, Some(&seller_token)).await;
    let seller_customer = me.body["customer_id"].as_str().unwrap().to_owned();
    let product = |id: &str, seller: Option<&str>| {
        let mut body: Value =
            serde_json::from_str(&product_line(id, &format!("{id}-S"), &["A", "B", "C"], 500, 1)).unwrap();
        if let Some(seller) = seller {
            body["seller_id"] = json!(seller);
        }
        body.to_string()
    };
    assert_problem(
        &app.call(Method::POST, "/v1/products", Some(&product("P-S1", None)), Some(&seller_token)).await,
        403,
        "forbidden",
    );

    let link = app
        .admin(
            Method::PUT,
            &format!("/v1/admin/customers/{seller_customer}/seller"),
            Some(json!({"seller_id": "seller-acme"})),
        )
        .await;
    assert_eq!(link.status, 200, "{:?}", link.body);
    let me = app.call(Method::GET, "/v1/me", None, Some(&seller_token)).await;
    assert_eq!((me.body["role"].clone(), me.body["seller_id"].clone()), (json!("seller"), json!("seller-acme")));

    let created = app.call(Method::POST, "/v1/products", Some(&product("P-S1", None)), Some(&seller_token)).await;
    assert_eq!((created.status, created.body["seller_id"].clone()), (201, json!("seller-acme")), "{:?}", created.body);
    let other =
        app.call(Method::POST, "/v1/products", Some(&product("P-S2", Some("seller-other"))), Some(&seller_token)).await;
    assert_problem(&other, 403, "forbidden");
    let patched =
        app.call(Method::PATCH, "/v1/products/P-S1", Some(r#"{"title":"Renamed"}"#), Some(&seller_token)).await;
    assert_eq!(patched.body["title"], "Renamed");
    let not_theirs =
        app.call(Method::PATCH, "/v1/products/P-SKU-1", Some(r#"{"title":"Mine now"}"#), Some(&seller_token)).await;
    assert_problem(&not_theirs, 403, "forbidden");
    let give_away = app
        .call(Method::PATCH, "/v1/products/P-S1", Some(r#"{"seller_id":"seller-other"}"#), Some(&seller_token))
        .await;
    assert_problem(&give_away, 403, "forbidden");
    let shopper = app.call(Method::PATCH, "/v1/products/P-S1", Some(r#"{"title":"x"}"#), Some(&shopper_token)).await;
    assert_problem(&shopper, 403, "forbidden");
    let unknown =
        app.admin(Method::PUT, "/v1/admin/customers/cus_nobody/seller", Some(json!({"seller_id": "s"}))).await;
    assert_problem(&unknown, 404, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn a_deal_is_created_read_and_claimed_over_http() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let deal = json!({"sku": "SKU-1", "price": {"cents": 499, "currency": "USD"}, "quantity": 2,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z", "per_customer_limit": 1});
    let created = app.admin(Method::POST, "/v1/admin/deals", Some(deal.clone())).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["deal_id"].as_str().unwrap().to_owned();
    let read = app.call(Method::GET, &format!("/v1/deals/{id}"), None, None).await;
    assert_eq!((read.body["remaining"].clone(), read.body["status"].clone()), (json!(2), json!("active")));
    assert_eq!(app.call(Method::GET, "/v1/inventory/SKU-1", None, None).await.body["available"], 8);

    let ann = customer_token(&app, "ann@example.com").await;
    let claims = format!("/v1/deals/{id}/claims");
    let claim = app.call_with_key(&claims, r#"{"quantity":1}"#, &ann, "claim-1").await;
    assert_eq!(claim.status, 201, "{:?}", claim.body);
    assert_eq!(claim.body["price"]["cents"], 499);
    let retry = app.call_with_key(&claims, r#"{"quantity":1}"#, &ann, "claim-1").await;
    assert_eq!(retry.body["reservation_id"], claim.body["reservation_id"], "a retry returns the same claim");
    assert_problem(
        &app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&ann)).await,
        409,
        "limit-exceeded",
    );
    let reservation = format!("/v1/reservations/{}", claim.body["reservation_id"].as_str().unwrap());
    assert_eq!(app.call(Method::GET, &reservation, None, Some(&ann)).await.body["status"], "held");

    let bob = customer_token(&app, "bob@example.com").await;
    assert_eq!(app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&bob)).await.status, 201);
    let cid = customer_token(&app, "cid@example.com").await;
    assert_problem(&app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&cid)).await, 409, "sold-out");
    assert_eq!(app.call(Method::GET, &format!("/v1/deals/{id}"), None, None).await.body["status"], "sold_out");
    let waitlist = format!("/v1/deals/{id}/waitlist");
    let joined = app.call(Method::POST, &waitlist, None, Some(&cid)).await;
    assert_eq!((joined.status, joined.body["position"].clone()), (201, json!(1)), "{:?}", joined.body);
    let spot = app.call(Method::GET, &waitlist, None, Some(&cid)).await;
    assert_eq!((spot.body["position"].clone(), spot.body["offer"].clone()), (json!(1), Value::Null));
    assert_problem(&app.call(Method::POST, &waitlist, None, Some(ADMIN)).await, 403, "forbidden");

    let mut future = deal.clone();
    future["starts_at"] = json!("2099-01-01T00:00:00Z");
    let upcoming =
        app.admin(Method::POST, "/v1/admin/deals", Some(future)).await.body["deal_id"].as_str().unwrap().to_owned();
    let early =
        app.call(Method::POST, &format!("/v1/deals/{upcoming}/claims"), Some(r#"{"quantity":1}"#), Some(&cid)).await;
    assert_problem(&early, 409, "deal-not-active");
    let mut huge = deal.clone();
    huge["quantity"] = json!(1_000);
    assert_problem(&app.admin(Method::POST, "/v1/admin/deals", Some(huge)).await, 409, "insufficient-stock");
    let mut bad_time = deal;
    bad_time["ends_at"] = json!("next week");
    assert_problem(&app.admin(Method::POST, "/v1/admin/deals", Some(bad_time)).await, 422, "invalid-input");
    assert_problem(&app.call(Method::GET, "/v1/deals/deal_missing", None, None).await, 404, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn prime_members_claim_during_early_access_and_cancel_at_the_period_end() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let deal = json!({"sku": "SKU-1", "price": {"cents": 100, "currency": "USD"}, "quantity": 5,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 1,
        "prime_early_access_minutes": 50_000_000});
    let id = app.admin(Method::POST, "/v1/admin/deals", Some(deal)).await.body["deal_id"].as_str().unwrap().to_owned();
    let claims = format!("/v1/deals/{id}/claims");
    let ann = customer_token(&app, "ann@example.com").await;
    assert_problem(
        &app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&ann)).await,
        409,
        "deal-not-active",
    );

    let card = r#"{"type":"card","number":"4242424242424242","exp_month":12,"exp_year":2099,"cvc":"123"}"#;
    let saved = app.call(Method::POST, "/v1/payment-methods", Some(card), Some(&ann)).await;
    let ann_card = saved.body["token"].as_str().unwrap().to_owned();
    let bob = customer_token(&app, "bob@example.com").await;
    let bob_card = app.call(Method::POST, "/v1/payment-methods", Some(card), Some(&bob)).await;
    let bob_card = bob_card.body["token"].as_str().unwrap().to_owned();
    for token in [bob_card.as_str(), "pm_test"] {
        let body = json!({"plan": "annual", "token": token}).to_string();
        let refused = app.call(Method::POST, "/v1/me/membership", Some(&body), Some(&ann)).await;
        assert_problem(&refused, 404, "not-found");
    }
    assert_eq!(app.call(Method::GET, "/v1/me", None, Some(&ann)).await.body["prime"]["active"], false);
    let body = json!({"plan": "annual", "token": ann_card}).to_string();
    let joined = app.call(Method::POST, "/v1/me/membership", Some(&body), Some(&ann)).await;
    assert_eq!(
        (joined.status, joined.body["active"].clone(), joined.body["plan"].clone()),
        (201, json!(true), json!("annual"))
    );
    assert!(joined.body["renews_at"].is_string());
    assert_eq!(app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&ann)).await.status, 201);

    let me = app.call(Method::GET, "/v1/me", None, Some(&ann)).await;
    assert_eq!(me.body["prime"]["active"], true);
    let left = app.call(Method::DELETE, "/v1/me/membership", None, Some(&ann)).await;
    assert_eq!(
        (left.status, left.body["active"].clone(), left.body["cancel_at_period_end"].clone()),
        (200, json!(true), json!(true))
    );
    let bad_plan =
        app.call(Method::POST, "/v1/me/membership", Some(r#"{"plan":"weekly","token":"pm"}"#), Some(&ann)).await;
    assert_problem(&bad_plan, 422, "invalid-input");
    assert_problem(&app.call(Method::DELETE, "/v1/me/membership", None, Some(&bob)).await, 404, "not-found");
    assert_problem(
        &app.call(Method::POST, "/v1/me/membership", Some(r#"{"plan":"annual","token":"pm"}"#), Some(ADMIN)).await,
        403,
        "forbidden",
    );
    app.stop().await;
}

#[tokio::test]
async fn claims_over_the_rate_limit_get_429_with_retry_after() {
    let (app, claims) = app_with_rate_limits(1, 1_000, 5).await;
    let ann = customer_token(&app, "ann@example.com").await;
    assert_eq!(app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&ann)).await.status, 201);
    let limited = app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&ann)).await;
    assert_problem(&limited, 429, "rate-limited");
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    let bob = customer_token(&app, "bob@example.com").await;
    assert_eq!(
        app.call(Method::POST, &claims, Some(r#"{"quantity":1}"#), Some(&bob)).await.status,
        201,
        "limits are per customer"
    );
    app.stop().await;
}

/// A claim sent from `source`, a loopback address of the test's choosing.
async fn claim_from(app: &App, source: [u8; 4], path: &str, token: &str) -> Response {
    let body = Some(r#"{"quantity":1}"#.to_owned());
    app.request(Call { body, token: Some(token), source: Some(source), ..Call::new(Method::POST, path) }).await
}

/// A server with these claim rate limits and a deal of 5 units open to
/// claims; returns the deal's claims path.
async fn app_with_rate_limits(per_customer: u64, per_address: u64, per_customer_limit: u64) -> (App, String) {
    use mercato::engine::rate::RateLimit;
    let limits = mercato::http::limits::ClaimLimitConfig {
        per_customer: RateLimit { rate_per_second: per_customer, burst: per_customer },
        per_address: RateLimit { rate_per_second: per_address, burst: per_address },
        ..crate::common::app::test_limits()
    };
    let app = spawn_app_with(limits).await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let deal = json!({"sku": "SKU-1", "price": {"cents": 100, "currency": "USD"}, "quantity": 5,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": per_customer_limit});
    let id = app.admin(Method::POST, "/v1/admin/deals", Some(deal)).await.body["deal_id"].as_str().unwrap().to_owned();
    (app, format!("/v1/deals/{id}/claims"))
}

#[tokio::test]
async fn the_address_rate_limit_counts_each_client_address_apart() {
    let (app, claims) = app_with_rate_limits(1_000, 1, 1).await;
    let ann = customer_token(&app, "ann@example.com").await;
    let bob = customer_token(&app, "bob@example.com").await;
    assert_eq!(claim_from(&app, [127, 0, 0, 1], &claims, &ann).await.status, 201);
    let limited = claim_from(&app, [127, 0, 0, 1], &claims, &bob).await;
    assert_problem(&limited, 429, "rate-limited");
    assert_eq!(limited.retry_after.as_deref(), Some("1"));
    assert!(limited.body["detail"].as_str().unwrap().contains("address"), "{:?}", limited.body);
    let elsewhere = claim_from(&app, [127, 0, 0, 2], &claims, &bob).await;
    assert_eq!(elsewhere.status, 201, "another address has its own budget: {:?}", elsewhere.body);
    app.stop().await;
}

/// The next `data:` payload of a Server-Sent Events body (5 s at most).
async fn next_sse_data(body: &mut Incoming, seen: &mut String) -> Value {
    loop {
        if let Some(end) = seen.find("\n\n") {
            let event: String = seen.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data:")) {
                return serde_json::from_str::<Value>(data.trim()).unwrap();
            }
            continue;
        }
        let frame =
            tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
        if let Ok(chunk) = frame.into_data() {
            seen.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn the_deal_feed_streams_remaining_units_as_they_change() {
    let app = spawn_app().await;
    app.admin(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", Some(json!({"on_hand": 10}))).await;
    let deal = json!({"sku": "SKU-1", "price": {"cents": 100, "currency": "USD"}, "quantity": 3,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 1});
    let id = app.admin(Method::POST, "/v1/admin/deals", Some(deal)).await.body["deal_id"].as_str().unwrap().to_owned();
    let request = Request::get(format!("http://{}/v1/deals/{id}/events", app.addr)).body(Body::default()).unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut seen = String::new();
    let first = next_sse_data(&mut body, &mut seen).await;
    assert_eq!((first["remaining"].clone(), first["status"].clone()), (json!(3), json!("active")));
    let ann = customer_token(&app, "ann@example.com").await;
    let claimed =
        app.call(Method::POST, &format!("/v1/deals/{id}/claims"), Some(r#"{"quantity":1}"#), Some(&ann)).await;
    assert_eq!(claimed.status, 201);
    let second = next_sse_data(&mut body, &mut seen).await;
    assert_eq!(second["remaining"], 2, "the feed follows the claim");
    assert_problem(&app.call(Method::GET, "/v1/deals/deal_missing/events", None, None).await, 404, "not-found");
    app.stop().await;
}

#[tokio::test]
async fn fast_password_hashing_still_verifies_every_hash() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mercato = Mercato::open(Config::new(dir.path())).unwrap();
        mercato.customers().register("std@example.com", "standard password", "Std").await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    let mut config = Config::new(dir.path());
    config.password_cost = mercato::PasswordCost::Fast;
    let mercato = Mercato::open(config).unwrap();
    let fast = mercato.customers().register("fast@example.com", "fast password", "Fast").await.unwrap();
    assert!(fast.password_hash.starts_with("$argon2id$v=19$m=64,t=1"), "{}", fast.password_hash);
    mercato.customers().sign_in("fast@example.com", "fast password").await.unwrap();
    mercato.customers().sign_in("std@example.com", "standard password").await.unwrap();
    assert!(mercato.customers().sign_in("std@example.com", "wrong password").await.is_err());
    mercato.shutdown().await.unwrap();
}
