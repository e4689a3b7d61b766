//! Prime membership billing over HTTP on a manual clock: the first period
//! charged once at start (a decline starts nothing, another customer's card
//! is not found), one charge per renewal, declined renewals retried daily
//! then lapsed, cancel at period end, the renewal card changed by PUT,
//! savings after a Prime order, and exactly one charge for a period across
//! a SIGKILL at the renewal moment.

use crate::common::app::{Call, Options, Reply as Response, Seed, TestApp, ADMIN};
use crate::common::{self, START};
use hyper::Method;
use mercato::clock::ManualClock;
use mercato::engine::{CardInput, CustomerId, Plan};
use mercato::{Durability, Mercato};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const DAY: u64 = 24 * 3600 * 1000;
const MONTH: u64 = 30 * DAY;
const GOOD: &str = "4242424242424242";
const DECLINES: &str = "4000000000000002";

const SEED: Seed = Seed {
    warehouses: &[("W-EAST", 40.7, -74.0, "US")],
    products: &[("SKU-A", 2000)],
    category: &["Test"],
    weight_grams: Some(400),
};

struct App {
    app: TestApp,
    clock: Arc<ManualClock>,
}

async fn spawn() -> App {
    let clock = Arc::new(ManualClock::new(START));
    let shared = clock.clone();
    let app = TestApp::spawn(Options::new(SEED).config(move |config| config.clock = shared)).await;
    App { app, clock }
}

fn assert_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.body["type"], code, "{:?}", response.body);
}

impl App {
    async fn send(&self, method: Method, path: &str, body: Option<Value>, token: &str, key: Option<&str>) -> Response {
        let body = body.map(|body| body.to_string());
        self.app.request(Call { body, token: Some(token), idempotency_key: key, ..Call::new(method, path) }).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>, token: &str) -> Response {
        self.send(method, path, body, token, None).await
    }

    /// Registers and signs in a customer: (token, customer id).
    async fn customer(&self, email: &str) -> (String, CustomerId) {
        let body = json!({"email": email, "password": "long enough", "name": "Test"});
        assert_eq!(self.call(Method::POST, "/v1/customers", Some(body), "").await.status, 201);
        let session = json!({"email": email, "password": "long enough"});
        let response = self.call(Method::POST, "/v1/sessions", Some(session), "").await;
        let id = CustomerId::parse(response.body["customer_id"].as_str().unwrap()).unwrap();
        (response.body["token"].as_str().unwrap().to_owned(), id)
    }

    /// Signs in again (a session lasts 30 days, a period as long).
    async fn sign_in(&self, email: &str) -> String {
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

    async fn join(&self, token: &str, plan: &str, card: &str) -> Response {
        self.call(Method::POST, "/v1/me/membership", Some(json!({"plan": plan, "token": card})), token).await
    }

    async fn membership(&self, token: &str) -> Response {
        self.call(Method::GET, "/v1/me/membership", None, token).await
    }

    /// The gateway's approved charges for the customer's membership.
    fn gateway_charges(&self, customer: &CustomerId) -> Vec<mercato::engine::payment::Authorization> {
        self.app.mercato.payments().authorizations_under(&format!("prime.{customer}."))
    }

    async fn renew(&self) {
        self.app.mercato.customers().renew_due().await.unwrap();
    }
}

fn approved(membership: &Value) -> usize {
    membership["charges"].as_array().unwrap().iter().filter(|charge| charge["outcome"] == "approved").count()
}

#[tokio::test]
async fn the_first_period_is_charged_once_and_a_decline_or_another_customers_card_starts_nothing() {
    let app = spawn().await;
    let (ann, ann_id) = app.customer("ann@example.com").await;
    let (bob, _) = app.customer("bob@example.com").await;
    let bob_card = app.card(&bob, GOOD).await;
    let declining = app.card(&ann, DECLINES).await;
    assert_problem(&app.join(&ann, "monthly", &bob_card).await, 404, "not-found");
    assert_problem(&app.join(&ann, "monthly", "tok_unknown").await, 404, "not-found");
    assert_problem(&app.join(&ann, "monthly", &declining).await, 402, "payment-declined");
    assert_problem(&app.join(&ann, "weekly", &declining).await, 422, "invalid-input");
    assert_problem(&app.membership(&ann).await, 404, "not-found");
    assert!(app.gateway_charges(&ann_id).is_empty());
    assert!(!app.app.mercato.customers().is_prime(&ann_id));

    let card = app.card(&ann, GOOD).await;
    let body = json!({"plan": "annual", "token": card});
    let joined = app.send(Method::POST, "/v1/me/membership", Some(body.clone()), &ann, Some("join-1")).await;
    assert_eq!(joined.status, 201, "{:?}", joined.body);
    assert_eq!((joined.body["active"].clone(), joined.body["status"].clone()), (json!(true), json!("active")));
    assert_eq!(joined.body["price"], json!({"cents": 13900, "currency": "USD"}));
    let replay = app.send(Method::POST, "/v1/me/membership", Some(body), &ann, Some("join-1")).await;
    assert_eq!((replay.status, replay.body.clone()), (201, joined.body.clone()));
    assert_problem(&app.join(&ann, "monthly", &card).await, 409, "conflict");
    let charges = app.gateway_charges(&ann_id);
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0].captured.cents, 13900);
    let read = app.membership(&ann).await;
    assert_eq!(approved(&read.body), 1);
    assert_eq!(read.body["renews_at"], joined.body["renews_at"]);
    assert!(app.app.mercato.customers().is_prime(&ann_id));
    assert_eq!(app.call(Method::GET, "/v1/me", None, &ann).await.body["prime"]["active"], true);
    app.app.stop().await;
}

#[tokio::test]
async fn each_renewal_is_charged_once_on_the_clock() {
    let app = spawn().await;
    let (ann, ann_id) = app.customer("ann@example.com").await;
    let card = app.card(&ann, GOOD).await;
    let joined = app.join(&ann, "monthly", &card).await;
    assert_eq!(joined.status, 201);
    assert_eq!(joined.body["price"]["cents"], 1499);
    app.clock.advance_millis(MONTH - 1);
    app.renew().await;
    assert_eq!(app.gateway_charges(&ann_id).len(), 1, "not due before renews_at");
    app.clock.advance_millis(1);
    let ann = app.sign_in("ann@example.com").await;
    // The check on access charges it; the periodic pass then finds nothing due.
    let read = app.membership(&ann).await;
    assert_eq!((approved(&read.body), read.body["status"].clone()), (2, json!("active")));
    app.renew().await;
    app.renew().await;
    assert_eq!(app.gateway_charges(&ann_id).len(), 2);
    app.clock.advance_millis(MONTH + 5);
    app.renew().await;
    let ann = app.sign_in("ann@example.com").await;
    let read = app.membership(&ann).await;
    assert_eq!(approved(&read.body), 3);
    assert_eq!(app.gateway_charges(&ann_id).len(), 3);
    let periods: Vec<u64> =
        read.body["charges"].as_array().unwrap().iter().map(|charge| charge["period"].as_u64().unwrap()).collect();
    assert_eq!(periods, vec![1, 2, 3]);
    assert!(app.app.mercato.customers().is_prime(&ann_id));
    app.app.stop().await;
}

#[tokio::test]
async fn a_declined_renewal_is_retried_daily_then_lapses_and_an_approved_retry_continues_the_period() {
    let app = spawn().await;
    let (ann, ann_id) = app.customer("ann@example.com").await;
    let (cat, cat_id) = app.customer("cat@example.com").await;
    let ann_card = app.card(&ann, GOOD).await;
    let cat_card = app.card(&cat, GOOD).await;
    assert_eq!(app.join(&ann, "monthly", &ann_card).await.status, 201);
    assert_eq!(app.join(&cat, "monthly", &cat_card).await.status, 201);
    for (token, card) in [(&ann, &ann_card), (&cat, &cat_card)] {
        let removed = app.call(Method::DELETE, &format!("/v1/me/payment-methods/{card}"), None, token).await;
        assert_eq!(removed.status, 204, "{:?}", removed.body);
    }
    app.clock.advance_millis(MONTH);
    app.renew().await;
    let (ann, cat) = (app.sign_in("ann@example.com").await, app.sign_in("cat@example.com").await);
    for token in [&ann, &cat] {
        let read = app.membership(token).await;
        assert_eq!((read.body["status"].clone(), read.body["active"].clone()), (json!("past_due"), json!(true)));
    }
    assert!(app.app.mercato.customers().is_prime(&ann_id), "past due keeps the benefits");
    app.renew().await;
    assert_eq!(app.membership(&ann).await.body["charges"].as_array().unwrap().len(), 2, "no retry before a day");

    // Cat sets a new card: the next daily retry is approved.
    let new_card = app.card(&cat, GOOD).await;
    let put = app.call(Method::PUT, "/v1/me/membership", Some(json!({"token": new_card})), &cat).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    app.clock.advance_millis(DAY);
    app.renew().await;
    let cat_read = app.membership(&cat).await;
    assert_eq!(cat_read.body["status"], "active");
    let outcomes: Vec<&str> =
        cat_read.body["charges"].as_array().unwrap().iter().map(|c| c["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["approved", "declined", "approved"]);
    let renews_at = app.app.mercato.customers().membership(&cat_id).unwrap().renews_at;
    assert_eq!(renews_at.as_millis(), START.as_millis() + 2 * MONTH, "from the original renews_at, not the retry");
    assert_eq!(app.gateway_charges(&cat_id).len(), 2);

    // Ann's retries all decline (days 1, 2 and 3): after the third she lapses.
    app.clock.advance_millis(DAY);
    app.renew().await;
    assert_eq!(app.membership(&ann).await.body["status"], "past_due", "day 2");
    app.clock.advance_millis(DAY);
    app.renew().await;
    let read = app.membership(&ann).await;
    assert_eq!((read.body["status"].clone(), read.body["active"].clone()), (json!("lapsed"), json!(false)));
    assert_eq!(read.body["charges"].as_array().unwrap().len(), 5, "one start, the renewal and three retries");
    assert!(!app.app.mercato.customers().is_prime(&ann_id));
    assert_eq!(app.call(Method::GET, "/v1/me", None, &ann).await.body["prime"]["active"], false);
    app.clock.advance_millis(10 * DAY);
    app.renew().await;
    assert_eq!(app.membership(&ann).await.body["charges"].as_array().unwrap().len(), 5, "a lapsed one is not charged");
    // A lapsed member may start again.
    let card = app.card(&ann, GOOD).await;
    assert_eq!(app.join(&ann, "annual", &card).await.status, 201);
    app.app.stop().await;
}

#[tokio::test]
async fn a_cancelled_membership_ends_at_its_period_end_without_a_charge() {
    let app = spawn().await;
    let (ann, ann_id) = app.customer("ann@example.com").await;
    let card = app.card(&ann, GOOD).await;
    assert_eq!(app.join(&ann, "monthly", &card).await.status, 201);
    let left = app.call(Method::DELETE, "/v1/me/membership", None, &ann).await;
    assert_eq!(left.status, 200);
    assert_eq!(
        (left.body["status"].clone(), left.body["active"].clone(), left.body["cancel_at_period_end"].clone()),
        (json!("cancelled"), json!(true), json!(true))
    );
    app.clock.advance_millis(MONTH - 1);
    assert!(app.app.mercato.customers().is_prime(&ann_id));
    app.clock.advance_millis(1);
    app.renew().await;
    let ann = app.sign_in("ann@example.com").await;
    let read = app.membership(&ann).await;
    assert_eq!((read.body["active"].clone(), read.body["status"].clone()), (json!(false), json!("cancelled")));
    assert_eq!(read.body["charges"].as_array().unwrap().len(), 1);
    assert_eq!(app.gateway_charges(&ann_id).len(), 1);
    assert!(!app.app.mercato.customers().is_prime(&ann_id));
    app.app.stop().await;
}

#[tokio::test]
async fn put_changes_the_card_renewals_are_charged_to() {
    let app = spawn().await;
    let (ann, ann_id) = app.customer("ann@example.com").await;
    let (bob, _) = app.customer("bob@example.com").await;
    let first = app.card(&ann, GOOD).await;
    let second = app.card(&ann, GOOD).await;
    let bob_card = app.card(&bob, GOOD).await;
    assert_problem(
        &app.call(Method::PUT, "/v1/me/membership", Some(json!({"token": second})), &ann).await,
        404,
        "not-found",
    );
    assert_eq!(app.join(&ann, "monthly", &first).await.status, 201);
    assert_problem(
        &app.call(Method::PUT, "/v1/me/membership", Some(json!({"token": bob_card})), &ann).await,
        404,
        "not-found",
    );
    assert_problem(
        &app.call(Method::PUT, "/v1/me/membership", Some(json!({"token": ""})), &ann).await,
        422,
        "invalid-input",
    );
    let put = app.call(Method::PUT, "/v1/me/membership", Some(json!({"token": second})), &ann).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    app.clock.advance_millis(MONTH);
    app.renew().await;
    let charges = app.gateway_charges(&ann_id);
    let cards: Vec<String> = charges.iter().map(|charge| charge.token.to_string()).collect();
    assert_eq!(cards, vec![first, second]);
    app.app.stop().await;
}

#[tokio::test]
async fn a_prime_order_records_the_free_shipping_and_the_deal_discount() {
    let app = spawn().await;
    let stocked = app.call(Method::PUT, "/v1/admin/inventory/SKU-A/W-EAST", Some(json!({"on_hand": 20})), ADMIN).await;
    assert_eq!(stocked.status, 200);
    let deal = json!({"sku": "SKU-A", "price": {"cents": 1500, "currency": "USD"}, "quantity": 5,
        "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 2});
    let created = app.call(Method::POST, "/v1/admin/deals", Some(deal), ADMIN).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let deal_id = created.body["deal_id"].as_str().unwrap().to_owned();
    let (ann, _) = app.customer("ann@example.com").await;
    let card = app.card(&ann, GOOD).await;
    assert_eq!(app.join(&ann, "monthly", &card).await.status, 201);
    let before = app.membership(&ann).await;
    assert_eq!(before.body["savings"]["total"]["cents"], 0);

    let claim =
        app.call(Method::POST, &format!("/v1/deals/{deal_id}/claims"), Some(json!({"quantity": 2})), &ann).await;
    assert_eq!(claim.status, 201, "{:?}", claim.body);
    let added =
        app.call(Method::POST, "/v1/carts/mine/items", Some(json!({"sku": "SKU-A", "quantity": 3})), &ann).await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    let started = app.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), &ann).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = started.body["checkout_id"].as_str().unwrap().to_owned();
    let address = json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ",
        "postal_code": "07102", "country": "US"});
    assert_eq!(app.call(Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address), &ann).await.status, 200);
    let options = app.call(Method::GET, &format!("/v1/checkouts/{id}/shipping-options"), None, &ann).await;
    let standard = options.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == "standard")
        .cloned()
        .expect("a standard option");
    assert_eq!(standard["price"]["cents"], 0, "free for a Prime member");
    let shipping = json!({"option_id": "standard"});
    assert_eq!(app.call(Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(shipping), &ann).await.status, 200);
    let payment = json!({"token": card});
    let paid = app.call(Method::PUT, &format!("/v1/checkouts/{id}/payment"), Some(payment), &ann).await;
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    let placed = app.send(Method::POST, &format!("/v1/checkouts/{id}/place"), None, &ann, Some("place-1")).await;
    assert_eq!(placed.status, 201, "{:?}", placed.body);

    // What a non-member pays for standard shipping of the same checkout.
    let (bob, _) = app.customer("bob@example.com").await;
    let added =
        app.call(Method::POST, "/v1/carts/mine/items", Some(json!({"sku": "SKU-A", "quantity": 3})), &bob).await;
    assert_eq!(added.status, 200);
    let started = app.call(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), &bob).await;
    let bob_checkout = started.body["checkout_id"].as_str().unwrap().to_owned();
    let address = json!({"name": "Bob Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ",
        "postal_code": "07102", "country": "US"});
    app.call(Method::PUT, &format!("/v1/checkouts/{bob_checkout}/address"), Some(address), &bob).await;
    let options = app.call(Method::GET, &format!("/v1/checkouts/{bob_checkout}/shipping-options"), None, &bob).await;
    let list_price = options.body["items"].as_array().unwrap().iter().find(|item| item["id"] == "standard").unwrap()
        ["price"]["cents"]
        .as_i64()
        .unwrap();
    assert!(list_price > 0);

    let savings = app.membership(&ann).await.body["savings"].clone();
    assert_eq!(savings["shipping"]["cents"], list_price);
    assert_eq!(savings["deals"]["cents"], 2 * (2000 - 1500));
    assert_eq!(savings["total"]["cents"], list_price + 1000);
    // Bob, no member, has no membership to save in.
    assert_problem(&app.membership(&bob).await, 404, "not-found");
    app.app.stop().await;
}

#[test]
#[ignore = "run by a_renewal_is_charged_once_across_a_sigkill as its child process"]
fn renewal_child() {
    let Ok(dir) = std::env::var("MERCATO_PRIME_DIR") else { return };
    let at: u64 = std::env::var("MERCATO_PRIME_AT").unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let clock = Arc::new(ManualClock::new(mercato::engine::Timestamp::from_millis(at)));
        println!("READY");
        // Opening starts the periodic renewal, which charges at once.
        let mercato = Mercato::open(common::config(dir.as_ref(), Durability::Strict).clock(clock)).unwrap();
        loop {
            let _ = mercato.customers().renew_due().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_is_charged_once_across_a_sigkill() {
    for (round, kill_after) in [0u64, 5, 20, 60].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let customer = {
            let (mercato, _clock) = common::open_manual(dir.path(), Durability::Strict);
            let customer = mercato.customers().register("ann@example.com", "long enough", "Ann").await.unwrap();
            let input = CardInput { number: GOOD.to_owned(), exp_month: 12, exp_year: 2099, cvc: "123".to_owned() };
            let card = mercato.payments().add_payment_method(&customer.id, &input, None).await.unwrap();
            mercato.customers().start_membership(&customer.id, Plan::Monthly, &card.record.token).await.unwrap();
            mercato.shutdown().await.unwrap();
            customer.id
        };
        let renewal = START.as_millis() + MONTH;
        let env = [("MERCATO_PRIME_DIR", dir.path().display().to_string()), ("MERCATO_PRIME_AT", renewal.to_string())];
        let _ = tokio::task::spawn_blocking(move || {
            common::run_killed_child("membership::renewal_child", &env, Duration::from_millis(kill_after))
        })
        .await;
        // Restarted at the same moment (and a little later): one charge for period 2.
        let clock = Arc::new(ManualClock::new(mercato::engine::Timestamp::from_millis(renewal)));
        let mercato = Mercato::open(common::config(dir.path(), Durability::Strict).clock(clock.clone())).unwrap();
        mercato.customers().renew_due().await.unwrap();
        clock.advance_millis(DAY);
        mercato.customers().renew_due().await.unwrap();
        let membership = mercato.customers().current_membership(&customer).await.unwrap().unwrap();
        let charges = mercato.payments().authorizations_under(&format!("prime.{customer}."));
        assert_eq!(charges.len(), 2, "round {round}: {charges:?}");
        assert_eq!(membership.period, 2, "round {round}");
        assert_eq!(membership.paid_periods(), 2, "round {round}: {:?}", membership.charges);
        assert!(mercato.customers().is_prime(&customer));
        mercato.shutdown().await.unwrap();
    }
}
