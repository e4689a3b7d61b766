//! Inventory truth during a flash deal, over HTTP: the deal's units stay in
//! their buckets as `deal_held` (claimed or not), a sold claim's units move
//! to `committed` where they ship from, ending the deal gives the unclaimed
//! units back at once and the held claims later, and at every step (a
//! restart included) `on_hand == held + committed + available +
//! safety_stock`, with `on_hand` moving only when units ship. Also the deal
//! list (`GET /v1/deals`) and the admin's end (`POST /v1/admin/deals/{id}/end`).

use crate::common::app::{Call, Options, Reply, Seed, TestApp, ADMIN};
use crate::common::START;
use hyper::Method;
use mercato::clock::ManualClock;
use mercato::engine::Timestamp;
use mercato::http::dto::rfc3339;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEED: Seed = Seed {
    warehouses: &[("W-EAST", 40.7, -74.0, "US"), ("W-WEST", 37.7, -122.4, "US")],
    products: &[("SKU-A", 1000), ("SKU-B", 500)],
    category: &["Test"],
    weight_grams: Some(400),
};

const HOUR_MS: i64 = 3_600_000;

struct App(TestApp);

async fn spawn_in(dir: tempfile::TempDir, clock: Arc<ManualClock>) -> App {
    let options = Options::new(SEED).config(move |config| config.clock = clock);
    App(TestApp::spawn_in(dir, options).await)
}

fn at(ms_from_start: i64) -> String {
    rfc3339(Timestamp::from_millis(START.as_millis().checked_add_signed(ms_from_start).unwrap()))
}

impl App {
    async fn call(&self, method: Method, path: &str, body: Option<Value>, token: &str) -> Reply {
        let body = body.map(|body| body.to_string());
        let token = (!token.is_empty()).then_some(token);
        self.0.request(Call { body, token, ..Call::new(method, path) }).await
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>, token: &str, status: u16) -> Value {
        let reply = self.call(method, path, body, token).await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        reply.body
    }

    async fn stock(&self, sku: &str, warehouse: &str, on_hand: u64) {
        let path = format!("/v1/admin/inventory/{sku}/{warehouse}");
        self.ok(Method::PUT, &path, Some(json!({"on_hand": on_hand})), ADMIN, 200).await;
    }

    /// The SKU's counts; asserts the identity for the totals and every warehouse.
    async fn inventory(&self, sku: &str) -> Value {
        let view = self.ok(Method::GET, &format!("/v1/inventory/{sku}"), None, "", 200).await;
        assert_identity(&view);
        for warehouse in view["warehouses"].as_array().unwrap() {
            assert_identity(warehouse);
        }
        view
    }

    async fn customer(&self, email: &str) -> String {
        let body = json!({"email": email, "password": "long enough", "name": "Test"});
        self.ok(Method::POST, "/v1/customers", Some(body), "", 201).await;
        let session = json!({"email": email, "password": "long enough"});
        let session = self.ok(Method::POST, "/v1/sessions", Some(session), "", 200).await;
        session["token"].as_str().unwrap().to_owned()
    }

    async fn deal(&self, sku: &str, quantity: u32, starts: i64, ends: i64) -> String {
        let deal = json!({"sku": sku, "price": {"cents": 600, "currency": "USD"}, "quantity": quantity,
            "starts_at": at(starts), "ends_at": at(ends), "per_customer_limit": 2});
        let created = self.ok(Method::POST, "/v1/admin/deals", Some(deal), ADMIN, 201).await;
        created["deal_id"].as_str().unwrap().to_owned()
    }

    async fn claim(&self, token: &str, deal: &str, quantity: u32) -> String {
        let path = format!("/v1/deals/{deal}/claims");
        let claimed = self.ok(Method::POST, &path, Some(json!({"quantity": quantity})), token, 201).await;
        claimed["reservation_id"].as_str().unwrap().to_owned()
    }

    async fn hold_status(&self, reservation: &str) -> String {
        let read = self.ok(Method::GET, &format!("/v1/reservations/{reservation}"), None, ADMIN, 200).await;
        read["status"].as_str().unwrap().to_owned()
    }

    /// Buys `quantity` units of `sku` (the customer's held claims are used
    /// first); the order id.
    async fn buy(&self, token: &str, sku: &str, quantity: u32) -> String {
        let card =
            json!({"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
        let card = self.ok(Method::POST, "/v1/payment-methods", Some(card), token, 201).await;
        let line = json!({"sku": sku, "quantity": quantity});
        self.ok(Method::POST, "/v1/carts/mine/items", Some(line), token, 200).await;
        let started = self.ok(Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), token, 201).await;
        let id = started["checkout_id"].as_str().unwrap().to_owned();
        let address = json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ",
            "postal_code": "07102", "country": "US"});
        self.ok(Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address), token, 200).await;
        let options = self.ok(Method::GET, &format!("/v1/checkouts/{id}/shipping-options"), None, token, 200).await;
        let shipping = json!({"option_id": options["items"][0]["id"]});
        self.ok(Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(shipping), token, 200).await;
        let payment = json!({"token": card["token"]});
        self.ok(Method::PUT, &format!("/v1/checkouts/{id}/payment"), Some(payment), token, 200).await;
        let placed = self.ok(Method::POST, &format!("/v1/checkouts/{id}/place"), None, token, 201).await;
        placed["order_id"].as_str().unwrap().to_owned()
    }

    /// Waits (the closer runs every second) until `sku`'s counts are `want`.
    async fn wait_for(&self, sku: &str, want: Counts) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = counts(&self.inventory(sku).await);
            if now == want {
                return;
            }
            assert!(Instant::now() < deadline, "{sku} stays at {now:?}, not {want:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `(on_hand, held, deal_held, committed, available)`.
type Counts = (u64, u64, u64, u64, u64);

fn counts(view: &Value) -> Counts {
    let count = |name: &str| view[name].as_u64().unwrap_or_else(|| panic!("no {name} in {view:?}"));
    (count("on_hand"), count("held"), count("deal_held"), count("committed"), count("available"))
}

fn warehouse<'v>(view: &'v Value, id: &str) -> &'v Value {
    view["warehouses"].as_array().unwrap().iter().find(|w| w["warehouse"] == id).unwrap()
}

/// API.md, Inventory counts: the identity, whenever stock is sufficient.
fn assert_identity(view: &Value) {
    let count = |name: &str| view[name].as_u64().unwrap();
    let (on_hand, held, committed, safety, available, deal_held) = (
        count("on_hand"),
        count("held"),
        count("committed"),
        count("safety_stock"),
        count("available"),
        count("deal_held"),
    );
    assert!(deal_held <= held, "deal_held is part of held: {view:?}");
    assert!(held + committed <= on_hand, "oversold: {view:?}");
    assert_eq!(available, on_hand.saturating_sub(held + committed + safety), "{view:?}");
    if held + committed + safety <= on_hand {
        assert_eq!(on_hand, held + committed + available + safety, "the identity: {view:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deal_units_stay_in_their_buckets_from_creation_to_sale_end_expiry_shipping_and_restart() {
    let clock = Arc::new(ManualClock::new(START));
    let app = spawn_in(tempfile::tempdir().unwrap(), clock.clone()).await;
    app.stock("SKU-A", "W-EAST", 200).await;
    app.stock("SKU-A", "W-WEST", 100).await;

    // Creation: 280 units held for the deal, most available bucket first;
    // on_hand does not move.
    let deal = app.deal("SKU-A", 280, -HOUR_MS, 10 * HOUR_MS).await;
    let view = app.inventory("SKU-A").await;
    assert_eq!(counts(&view), (300, 280, 280, 0, 20), "{view:?}");
    assert_eq!(counts(warehouse(&view, "W-EAST")), (200, 200, 200, 0, 0));
    assert_eq!(counts(warehouse(&view, "W-WEST")), (100, 80, 80, 0, 20));

    // Claims take no bucket message: the units are held for the deal already.
    let (ann, bob, cid) = (
        app.customer("ann@example.com").await,
        app.customer("bob@example.com").await,
        app.customer("cid@example.com").await,
    );
    let ann_claim = app.claim(&ann, &deal, 2).await;
    let bob_claim = app.claim(&bob, &deal, 1).await;
    let cid_claim = app.claim(&cid, &deal, 1).await;
    assert_eq!(counts(&app.inventory("SKU-A").await), (300, 280, 280, 0, 20), "claimed units stay deal-held");

    // An order places Ann's claim: its units go from deal-held to committed
    // in the bucket the order ships from (Newark: W-EAST).
    let ann_order = app.buy(&ann, "SKU-A", 2).await;
    assert_eq!(app.hold_status(&ann_claim).await, "committed");
    let view = app.inventory("SKU-A").await;
    assert_eq!(counts(&view), (300, 278, 278, 2, 20), "{view:?}");
    assert_eq!(counts(warehouse(&view, "W-EAST")), (200, 198, 198, 2, 0));

    // The admin ends the deal: the unclaimed units are back at once, the
    // two units of held claims stay deal-held.
    let ended = app.ok(Method::POST, &format!("/v1/admin/deals/{deal}/end"), None, ADMIN, 200).await;
    assert_eq!(
        (ended["status"].as_str(), ended["deal_id"].as_str()),
        (Some("ended"), Some(deal.as_str())),
        "{ended:?}"
    );
    assert_eq!(ended["ends_at"], json!(at(0)), "it ended now");
    assert_eq!(
        (ended["remaining"].as_u64(), ended["held"].as_u64(), ended["sold"].as_u64()),
        (Some(0), Some(2), Some(2))
    );
    assert_eq!(counts(&app.inventory("SKU-A").await), (300, 2, 2, 2, 296));
    let again = app.ok(Method::POST, &format!("/v1/admin/deals/{deal}/end"), None, ADMIN, 200).await;
    assert_eq!(again, ended, "ending twice changes nothing");
    assert_eq!(counts(&app.inventory("SKU-A").await), (300, 2, 2, 2, 296), "and gives nothing back twice");
    let customer_end = app.call(Method::POST, &format!("/v1/admin/deals/{deal}/end"), None, &bob).await;
    assert_eq!(customer_end.status, 403);
    let unknown = app.call(Method::POST, "/v1/admin/deals/deal_nope/end", None, ADMIN).await;
    assert_eq!((unknown.status, unknown.body["type"].as_str()), (404, Some("not-found")));
    let path = format!("/v1/deals/{deal}/claims");
    let late = app.call(Method::POST, &path, Some(json!({"quantity": 1})), &bob).await;
    assert_eq!((late.status, late.body["type"].as_str()), (409, Some("deal-not-active")));

    // Bob's held claim is still bought at the deal price after the end.
    let bob_order = app.buy(&bob, "SKU-A", 1).await;
    assert_eq!(app.hold_status(&bob_claim).await, "committed");
    assert_eq!(counts(&app.inventory("SKU-A").await), (300, 1, 1, 3, 296));

    // Cid's claim expires: its unit comes back too (the closer), once.
    clock.advance_millis(601_000);
    assert_eq!(app.hold_status(&cid_claim).await, "expired");
    app.wait_for("SKU-A", (300, 0, 0, 3, 297)).await;

    // Shipping: on_hand drops where the units were sold from.
    app.ok(Method::POST, &format!("/v1/admin/orders/{ann_order}/ship"), None, ADMIN, 200).await;
    let view = app.inventory("SKU-A").await;
    assert_eq!(counts(&view), (298, 0, 0, 1, 297), "{view:?}");
    assert_eq!(counts(warehouse(&view, "W-EAST")).0, 198, "Ann's units left W-EAST");
    let before = app.inventory("SKU-A").await;
    let deal_before = app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await;

    // A restart on the same data: the same counts, the deal still ended.
    let dir = app.0.shut_down().await;
    let app = spawn_in(dir, clock.clone()).await;
    assert_eq!(app.inventory("SKU-A").await, before);
    assert_eq!(app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await, deal_before);
    app.ok(Method::POST, &format!("/v1/admin/orders/{bob_order}/ship"), None, ADMIN, 200).await;
    assert_eq!(counts(&app.inventory("SKU-A").await), (297, 0, 0, 0, 297));
    let listed = app.ok(Method::GET, "/v1/deals?status=ended", None, "", 200).await;
    assert_eq!(listed["items"][0]["deal_id"], json!(deal));
    app.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_order_gives_its_deal_units_back_to_the_deal_and_a_restart_keeps_the_counts() {
    let clock = Arc::new(ManualClock::new(START));
    let app = spawn_in(tempfile::tempdir().unwrap(), clock.clone()).await;
    app.stock("SKU-B", "W-EAST", 10).await;
    let deal = app.deal("SKU-B", 6, -1_000, HOUR_MS).await;
    let ann = app.customer("ann@example.com").await;
    app.claim(&ann, &deal, 2).await;
    let order = app.buy(&ann, "SKU-B", 3).await;
    assert_eq!(counts(&app.inventory("SKU-B").await), (10, 4, 4, 3, 3), "two deal units and one catalog unit sold");
    app.ok(Method::POST, &format!("/v1/orders/{order}/cancel"), None, &ann, 200).await;
    assert_eq!(counts(&app.inventory("SKU-B").await), (10, 6, 6, 0, 4), "the deal units are the deal's again");
    let dir = app.0.shut_down().await;
    let app = spawn_in(dir, clock.clone()).await;
    assert_eq!(counts(&app.inventory("SKU-B").await), (10, 6, 6, 0, 4));
    clock.advance_millis(2 * HOUR_MS.unsigned_abs());
    app.wait_for("SKU-B", (10, 0, 0, 0, 10)).await;
    app.0.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deals_are_listed_soonest_ending_first_by_status_a_page_at_a_time() {
    let clock = Arc::new(ManualClock::new(START));
    let app = spawn_in(tempfile::tempdir().unwrap(), clock.clone()).await;
    app.stock("SKU-A", "W-EAST", 100).await;
    let late = app.deal("SKU-A", 5, -HOUR_MS, 5 * HOUR_MS).await;
    let soon = app.deal("SKU-A", 1, -HOUR_MS, HOUR_MS).await;
    let upcoming = app.deal("SKU-A", 5, 2 * HOUR_MS, 3 * HOUR_MS).await;
    let gone = app.deal("SKU-A", 5, -HOUR_MS, 10 * HOUR_MS).await;
    app.ok(Method::POST, &format!("/v1/admin/deals/{gone}/end"), None, ADMIN, 200).await;
    let ann = app.customer("ann@example.com").await;
    app.claim(&ann, &soon, 1).await; // sold out now

    let ids = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|item| item["deal_id"].as_str().unwrap().to_owned()).collect()
    };
    let all = app.ok(Method::GET, "/v1/deals", None, "", 200).await;
    assert_eq!(ids(&all), [soon.clone(), upcoming.clone(), late.clone()], "default: active, sold out, upcoming");
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &all["items"][0];
    assert_eq!(
        (first["status"].as_str(), first["remaining"].as_u64(), first["quantity"].as_u64()),
        (Some("sold_out"), Some(0), Some(1))
    );
    for field in ["price", "starts_at", "ends_at", "sku"] {
        assert!(!first[field].is_null(), "{field} in {first:?}");
    }
    let single = app.ok(Method::GET, &format!("/v1/deals/{soon}"), None, "", 200).await;
    assert_eq!(first, &single, "an item is the deal's own view");

    let ended = app.ok(Method::GET, "/v1/deals?status=ended", None, "", 200).await;
    assert_eq!(ids(&ended), std::slice::from_ref(&gone));
    let some = app.ok(Method::GET, "/v1/deals?status=active&status=upcoming", None, "", 200).await;
    assert_eq!(ids(&some), [upcoming.clone(), late.clone()]);

    let mut seen = Vec::new();
    let mut path = "/v1/deals?limit=1&status=active&status=sold_out&status=upcoming&status=ended".to_owned();
    loop {
        let page = app.ok(Method::GET, &path, None, "", 200).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "/v1/deals?limit=1&status=active&status=sold_out&status=upcoming&status=ended&cursor={cursor}"
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, [gone, soon, upcoming, late]);
    for bad in ["/v1/deals?status=gone", "/v1/deals?limit=0", "/v1/deals?limit=101", "/v1/deals?cursor=nonsense"] {
        let reply = app.call(Method::GET, bad, None, "").await;
        assert_eq!((reply.status, reply.body["type"].as_str()), (422, Some("invalid-input")), "{bad}");
    }
    app.0.stop().await;
}

/// A data directory with a deal, then `tamper`ed; what `mercato check` and a
/// snapshot import of it say.
async fn check_and_import(tamper: impl FnOnce(&mercato::store::Store)) -> (String, String) {
    use crate::common::{bucket, deals_terms, open_manual, open_store, sku};
    let dir = tempfile::tempdir().unwrap();
    {
        let (mercato, _clock) = open_manual(dir.path(), mercato::Durability::Strict);
        crate::common::on_sale(&mercato, &["DEAL-SKU"]).await;
        let key = bucket("DEAL-SKU", "W-A");
        mercato.inventory().set_stock(key, mercato::StockUpdate::on_hand(10)).await.unwrap();
        mercato.deals().create(deals_terms("deal_check", &sku("DEAL-SKU"), 4)).await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    let sound = std::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
        .arg("check")
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("MERCATO_DATA_DIR")
        .output()
        .unwrap();
    assert!(sound.status.success(), "{}", String::from_utf8_lossy(&sound.stderr));
    {
        let store = open_store(dir.path());
        tamper(&store);
        store.close().unwrap();
    }
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
        .arg("check")
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("MERCATO_DATA_DIR")
        .output()
        .unwrap();
    assert!(!checked.status.success(), "check passed a broken identity");
    let file = dir.path().join("broken.snapshot");
    let data = dir.path().join("restored");
    mercato::snapshot::export(dir.path(), &file, &ManualClock::new(START)).unwrap();
    let imported = mercato::snapshot::import(&file, &data).await;
    let imported = format!("{:?}", imported.expect_err("the import passed a broken identity"));
    (String::from_utf8_lossy(&checked.stderr).into_owned(), imported)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_snapshot_import_report_a_broken_identity() {
    use crate::common::bucket;
    use mercato::engine::DealId;
    use mercato::store::{keys, Batch};
    // The bucket holds one unit more for the deal than the deal has.
    let (checked, imported) = check_and_import(|store| {
        let key = keys::bucket_stake(&bucket("DEAL-SKU", "W-A"), &DealId::parse("deal_check").unwrap());
        let mut batch = Batch::new();
        batch.put(key, &5u64).unwrap();
        store.write(batch).unwrap();
    })
    .await;
    assert!(checked.contains("deal.units_in_buckets"), "{checked}");
    assert!(imported.contains("deal.units_in_buckets"), "{imported}");
    // The deal holds more than is on hand: held + committed > on_hand.
    let (checked, imported) = check_and_import(|store| {
        let key = keys::bucket(&bucket("DEAL-SKU", "W-A"));
        let counters = mercato::engine::BucketCounters { on_hand: 3, safety_stock: 0, committed: 0 };
        let mut batch = Batch::new();
        batch.put(key, &counters).unwrap();
        store.write(batch).unwrap();
    })
    .await;
    assert!(checked.contains("bucket.never_oversold"), "{checked}");
    assert!(imported.contains("bucket.never_oversold"), "{imported}");
}

/// A deal of the older kind (its units withdrawn from `on_hand`, no record
/// of its sources) opens consistent and keeps its old path: a sold claim
/// changes no bucket count, and the unsold units come back as a restock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_written_by_an_older_build_keeps_its_withdrawn_units_path() {
    use crate::common::{bucket, deals_terms, open_manual, open_store, sku};
    use mercato::engine::{BucketCounters, CustomerId, DealId};
    use mercato::store::{keys, Batch};
    let dir = tempfile::tempdir().unwrap();
    let deal = DealId::parse("deal_old").unwrap();
    let key = bucket("DEAL-SKU", "W-A");
    {
        let (mercato, _clock) = open_manual(dir.path(), mercato::Durability::Strict);
        crate::common::on_sale(&mercato, &["DEAL-SKU"]).await;
        mercato.inventory().set_stock(key.clone(), mercato::StockUpdate::on_hand(10)).await.unwrap();
        mercato.deals().create(deals_terms("deal_old", &sku("DEAL-SKU"), 4)).await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    {
        // What an older build left: the units withdrawn, nothing in the bucket for the deal.
        let store = open_store(dir.path());
        let mut batch = Batch::new();
        batch.delete(keys::deal_sources(&deal));
        batch.delete(keys::bucket_stake(&key, &deal));
        batch.put(keys::bucket(&key), &BucketCounters { on_hand: 6, safety_stock: 0, committed: 0 }).unwrap();
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    let levels = |mercato: mercato::Mercato| async move {
        let counts = mercato.inventory().levels(&sku("DEAL-SKU")).await.unwrap().totals;
        counts.check_identity("DEAL-SKU").unwrap();
        (counts.on_hand, counts.held, counts.deal_held, counts.committed, counts.available)
    };
    let (mercato, clock) = open_manual(dir.path(), mercato::Durability::Strict);
    assert_eq!(levels(mercato.clone()).await, (6, 0, 0, 0, 6));
    let claimed = mercato.deals().claim(&deal, &CustomerId::parse("cus_1").unwrap(), 1, false).await.unwrap();
    mercato.inventory().commit(&claimed.id).await.unwrap();
    assert_eq!(levels(mercato.clone()).await, (6, 0, 0, 0, 6), "the sold unit was never on the bucket's books");
    let ended = mercato.deals().end(&deal).await.unwrap();
    assert_eq!((ended.remaining, ended.sold, ended.returned), (0, 1, 3));
    assert_eq!(levels(mercato.clone()).await, (9, 0, 0, 0, 9), "the unsold units are restocked, as before");
    clock.advance_millis(1_000);
    mercato.shutdown().await.unwrap();
    drop(mercato);
    let (mercato, _clock) = open_manual(dir.path(), mercato::Durability::Strict);
    assert_eq!(levels(mercato.clone()).await, (9, 0, 0, 0, 9));
    assert_eq!(mercato.deals().get(&deal).await.unwrap().status, mercato::engine::deal::DealStatus::Ended);
    mercato.shutdown().await.unwrap();
}

/// Free units move between a deal's shards in two writes (the giver's, then
/// the taker's). A crash between them leaves a transfer record: the units
/// are counted at open and taken by the receiving shard when it loads, so
/// the deal neither loses them nor fails its check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_given_by_one_shard_and_not_yet_taken_by_another_survive_a_crash() {
    use crate::common::{bucket, config, deals_terms, on_sale, open_store, sku};
    use mercato::engine::{CustomerId, DealId};
    use mercato::store::{keys, Batch};
    let dir = tempfile::tempdir().unwrap();
    let deal = DealId::parse("deal_moving").unwrap();
    let open = || {
        let mut config = config(dir.path(), mercato::Durability::Strict).clock(Arc::new(ManualClock::new(START)));
        config.deal_shards = Some(2);
        mercato::Mercato::open(config).expect("the data directory opens and passes its checks")
    };
    {
        let mercato = open();
        on_sale(&mercato, &["MOVE-SKU"]).await;
        let stock = mercato::StockUpdate::on_hand(10);
        mercato.inventory().set_stock(bucket("MOVE-SKU", "W-A"), stock).await.unwrap();
        mercato.deals().create(deals_terms("deal_moving", &sku("MOVE-SKU"), 10)).await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    {
        // What a crash after shard 0 gave 3 units to shard 1 leaves.
        let store = open_store(dir.path());
        let mut batch = Batch::new();
        batch.put(keys::deal_moved(&deal, 0), &-3_i64).unwrap();
        batch.put(keys::deal_transfer(&deal, 1, 7), &3_u32).unwrap();
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    for round in 0..2 {
        let mercato = open();
        assert_eq!(mercato.deals().get(&deal).await.unwrap().remaining, 10 - 5 * round, "round {round}");
        if round == 0 {
            // Every unit can still be claimed, and not one more.
            let mut granted = 0;
            for n in 0..12 {
                let customer = CustomerId::parse(&format!("cus_{n}")).unwrap();
                match mercato.deals().claim(&deal, &customer, 1, false).await {
                    Ok(_) => granted += 1,
                    Err(mercato::Error::Deal(mercato::engine::deal::DealError::SoldOut)) => {}
                    Err(other) => panic!("{other}"),
                }
                if granted == 5 {
                    break;
                }
            }
            assert_eq!(granted, 5);
        }
        mercato.shutdown().await.unwrap();
    }
    let store = open_store(dir.path());
    assert!(store.scan_prefix::<u32>(&[keys::DEAL_TRANSFER]).unwrap().is_empty(), "the transfer was taken once");
}

/// Claims stored by older builds (keyed without the time they were placed)
/// load as they were, are rewritten once to the current layout, and their
/// later changes land on the record the next start reads: nothing is lost,
/// nothing is counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_stored_in_the_older_key_layout_load_and_move_to_the_current_one() {
    use crate::common::{bucket, config, deals_terms, on_sale, open_store, sku};
    use mercato::domains::deals::shard::StoredClaim;
    use mercato::engine::{CustomerId, DealId, HoldStatus, OrderId};
    use mercato::store::{keys, Batch};
    type Stored = StoredClaim<CustomerId, Option<OrderId>>;
    let dir = tempfile::tempdir().unwrap();
    let deal = DealId::parse("deal_layout").unwrap();
    let open = || {
        let config = config(dir.path(), mercato::Durability::Strict).clock(Arc::new(ManualClock::new(START)));
        mercato::Mercato::open(config).expect("the data directory opens and passes its checks")
    };
    let mut ids = Vec::new();
    {
        let mercato = open();
        on_sale(&mercato, &["LAYOUT-SKU"]).await;
        let stock = mercato::StockUpdate::on_hand(10);
        mercato.inventory().set_stock(bucket("LAYOUT-SKU", "W-A"), stock).await.unwrap();
        mercato.deals().create(deals_terms("deal_layout", &sku("LAYOUT-SKU"), 10)).await.unwrap();
        for n in 0..3 {
            let customer = CustomerId::parse(&format!("cus_{n}")).unwrap();
            ids.push(mercato.deals().claim(&deal, &customer, 2, false).await.unwrap().id);
        }
        mercato.shutdown().await.unwrap();
    }
    {
        // Rewrite every claim as an older build stored it.
        let store = open_store(dir.path());
        let mut batch = Batch::new();
        for (raw, claim) in store.scan_prefix::<Stored>(&[keys::CLAIM]).unwrap() {
            let (deal, shard, id) = keys::parse_claim(&raw).unwrap();
            let mut older = vec![keys::CLAIM];
            for part in [deal.as_str(), &shard.to_string(), id.as_str()] {
                if older.len() > 1 {
                    older.push(0);
                }
                older.extend_from_slice(part.as_bytes());
            }
            batch.delete(raw);
            batch.put(older, &claim).unwrap();
        }
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    {
        let mercato = open();
        assert_eq!(mercato.deals().get(&deal).await.unwrap().remaining, 4);
        for id in &ids {
            assert_eq!(mercato.inventory().reservation(id).await.unwrap().status, HoldStatus::Held);
        }
        mercato.inventory().release(&ids[0]).await.unwrap();
        mercato.shutdown().await.unwrap();
    }
    {
        let store = open_store(dir.path());
        let stored = store.scan_prefix::<Stored>(&[keys::CLAIM]).unwrap();
        assert_eq!(stored.len(), 3, "one record per claim");
        for (raw, _) in &stored {
            let parts = raw[1..].split(|byte| *byte == 0).count();
            assert_eq!(parts, 4, "every claim is in the current layout");
        }
        store.close().unwrap();
    }
    let mercato = open();
    assert_eq!(mercato.deals().get(&deal).await.unwrap().remaining, 6);
    assert_eq!(mercato.inventory().reservation(&ids[0]).await.unwrap().status, HoldStatus::Released);
    assert_eq!(mercato.inventory().reservation(&ids[1]).await.unwrap().status, HoldStatus::Held);
    mercato.shutdown().await.unwrap();
}

/// `claim_ttl_seconds` (API.md, 10..=3600): a deal's claims hold their
/// units that long, the deal shows it, a restart keeps it, and a value out
/// of range is refused without creating anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_sets_how_long_its_claims_hold_and_a_restart_keeps_it() {
    let clock = Arc::new(ManualClock::new(START));
    let app = spawn_in(tempfile::tempdir().unwrap(), clock.clone()).await;
    app.stock("SKU-B", "W-EAST", 10).await;
    let body = |ttl: Value| {
        json!({"sku": "SKU-B", "price": {"cents": 600, "currency": "USD"}, "quantity": 4,
            "starts_at": at(-1_000), "ends_at": at(HOUR_MS), "per_customer_limit": 2, "claim_ttl_seconds": ttl})
    };
    for bad in [json!(9), json!(3601), json!(-30), json!("30")] {
        let reply = app.call(Method::POST, "/v1/admin/deals", Some(body(bad.clone())), ADMIN).await;
        assert!(matches!(reply.status, 400 | 422), "{bad}: {:?}", reply.body);
    }
    let listed = app.ok(Method::GET, "/v1/deals", None, "", 200).await;
    assert_eq!(listed["items"], json!([]), "nothing was created");
    let created = app.ok(Method::POST, "/v1/admin/deals", Some(body(json!(30))), ADMIN, 201).await;
    let deal = created["deal_id"].as_str().unwrap().to_owned();
    let plain = app.deal("SKU-B", 2, -1_000, HOUR_MS).await;
    let ann = app.customer("ann@example.com").await;
    let path = format!("/v1/deals/{deal}/claims");
    let claimed = app.ok(Method::POST, &path, Some(json!({"quantity": 1})), &ann, 201).await;
    assert_eq!(claimed["expires_at"], json!(rfc3339(START.plus_millis(30_000))));
    let path = format!("/v1/deals/{plain}/claims");
    let default = app.ok(Method::POST, &path, Some(json!({"quantity": 1})), &ann, 201).await;
    assert_eq!(default["expires_at"], json!(rfc3339(START.plus_millis(600_000))));
    let dir = app.0.shut_down().await;
    let app = spawn_in(dir, clock.clone()).await;
    let view = app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await;
    assert_eq!((view["claim_ttl_seconds"].clone(), view["held"].clone()), (json!(30), json!(1)));
    let view = app.ok(Method::GET, &format!("/v1/deals/{plain}"), None, "", 200).await;
    assert_eq!(view["claim_ttl_seconds"], json!(600));
    let bob = app.customer("bob@example.com").await;
    let path = format!("/v1/deals/{deal}/claims");
    let claimed = app.ok(Method::POST, &path, Some(json!({"quantity": 1})), &bob, 201).await;
    assert_eq!(claimed["expires_at"], json!(rfc3339(START.plus_millis(30_000))), "the hold survived the restart");
    let held = claimed["reservation_id"].as_str().unwrap().to_owned();
    clock.advance_millis(31_000);
    assert_eq!(app.hold_status(&held).await, "expired");
    let view = app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await;
    assert_eq!((view["held"].clone(), view["remaining"].clone()), (json!(0), json!(4)), "both claims expired");
    assert_eq!(counts(&app.inventory("SKU-B").await), (10, 6, 6, 0, 4), "the units are the deals' again");
    app.0.stop().await;
}

async fn keyed_claim(app: &App, path: &str, token: &str, key: &str, quantity: u32) -> Reply {
    let body = Some(json!({"quantity": quantity}).to_string());
    app.0.request(Call { body, token: Some(token), idempotency_key: Some(key), ..Call::new(Method::POST, path) }).await
}

/// A claim with an `Idempotency-Key` is its own idempotency record (its id
/// comes from the key's scope, API.md, Conventions): a retry gets the same
/// claim back, marked replayed, after a new sign-in, after the deal sold
/// out and after a restart; another quantity under the key is 422 and
/// changes nothing; concurrent duplicates claim once; another customer's
/// same key is another claim; and a granted claim leaves no second record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_claim_is_its_own_idempotency_record() {
    let clock = Arc::new(ManualClock::new(START));
    let app = spawn_in(tempfile::tempdir().unwrap(), clock.clone()).await;
    app.stock("SKU-B", "W-EAST", 10).await;
    let deal = app.deal("SKU-B", 3, -1_000, HOUR_MS).await;
    let path = format!("/v1/deals/{deal}/claims");
    let ann = app.customer("ann@example.com").await;
    let remembered_before = app.0.mercato.idempotency().len();
    let first = keyed_claim(&app, &path, &ann, "k-1", 1).await;
    assert_eq!((first.status, first.replayed), (201, false), "{:?}", first.body);
    assert_eq!(app.0.mercato.idempotency().len(), remembered_before, "no second record for a granted claim");

    let again = keyed_claim(&app, &path, &ann, "k-1", 1).await;
    assert_eq!((again.status, again.replayed, &again.body), (201, true, &first.body));
    let reused = keyed_claim(&app, &path, &ann, "k-1", 2).await;
    assert_eq!((reused.status, reused.body["type"].clone()), (422, json!("idempotency-key-reused")));
    let view = app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await;
    assert_eq!(view["held"], json!(1), "the refused retry claimed nothing");

    // The app signs in again: the same customer, the same claim.
    let session = json!({"email": "ann@example.com", "password": "long enough"});
    let resigned = app.ok(Method::POST, "/v1/sessions", Some(session), "", 200).await;
    let resigned = resigned["token"].as_str().unwrap().to_owned();
    assert_eq!(keyed_claim(&app, &path, &resigned, "k-1", 1).await.body, first.body);

    // Concurrent duplicates of a new key claim once.
    let bob = app.customer("bob@example.com").await;
    let duplicates = (0..8).map(|_| keyed_claim(&app, &path, &bob, "k-1", 1));
    let answers = futures::future::join_all(duplicates).await;
    let ids: std::collections::BTreeSet<_> = answers.iter().map(|a| a.body["reservation_id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(answers[0].body["reservation_id"], first.body["reservation_id"], "keys are the customer's");

    // The last unit goes; a keyed retry of a granted claim still replays,
    // and a refused claim is replayed as refused.
    let cid = app.customer("cid@example.com").await;
    assert_eq!(keyed_claim(&app, &path, &cid, "c-1", 1).await.status, 201);
    let dan = app.customer("dan@example.com").await;
    let refused = keyed_claim(&app, &path, &dan, "d-1", 1).await;
    assert_eq!((refused.status, refused.body["type"].clone()), (409, json!("sold-out")));
    assert_eq!(keyed_claim(&app, &path, &ann, "k-1", 1).await.body, first.body, "replayed after the sell-out");

    let dir = app.0.shut_down().await;
    let app = spawn_in(dir, clock.clone()).await;
    let after = keyed_claim(&app, &path, &ann, "k-1", 1).await;
    assert_eq!((after.status, after.replayed, &after.body), (201, true, &first.body), "replayed after a restart");
    let refused_again = keyed_claim(&app, &path, &dan, "d-1", 1).await;
    assert_eq!((refused_again.status, refused_again.replayed), (409, true));
    let view = app.ok(Method::GET, &format!("/v1/deals/{deal}"), None, "", 200).await;
    assert_eq!((view["held"].clone(), view["remaining"].clone()), (json!(3), json!(0)));
    app.0.stop().await;
}
