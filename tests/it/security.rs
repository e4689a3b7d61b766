//! Hardening against abuse: lockouts after failed sign-ins, the bounded
//! password hashing pool, sign-out, cards that pay only for their owner,
//! and what the data directory must never hold (card numbers, CVCs,
//! unkeyed digests of card numbers or of request bodies).

use crate::common;
use mercato::engine::CustomerError;
use mercato::{Durability, Error, Mercato, PasswordCost};
use std::net::IpAddr;
use std::sync::Arc;

fn open(dir: &std::path::Path) -> (Mercato, Arc<mercato::clock::ManualClock>) {
    let clock = Arc::new(mercato::clock::ManualClock::new(common::START));
    let mut config = common::config(dir, Durability::Strict).clock(clock.clone());
    config.password_cost = PasswordCost::Fast;
    (Mercato::open(config).expect("open"), clock)
}

fn address(raw: &str) -> Option<IpAddr> {
    Some(raw.parse().unwrap())
}

#[tokio::test]
async fn failed_sign_ins_lock_out_the_email_from_that_address_only() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, clock) = open(dir.path());
    let customers = mercato.customers();
    customers.register("owner@example.com", "the right password", "Owner").await.unwrap();
    let (attacker, owner) = (address("203.0.113.9"), address("198.51.100.4"));
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        match customers.sign_in_from("owner@example.com", "a wrong guess!", attacker).await {
            Err(Error::Customer(CustomerError::BadCredentials)) => outcomes.push("bad"),
            Err(Error::Customer(CustomerError::LockedOut { retry_after_ms })) => {
                assert!(retry_after_ms > 0);
                outcomes.push("locked");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(outcomes.iter().filter(|outcome| **outcome == "bad").count(), 6, "{outcomes:?}");
    assert!(outcomes[6..].iter().all(|outcome| *outcome == "locked"), "guessing stops: {outcomes:?}");
    // Locked out from the attacker's address, even with the right password...
    let locked = customers.sign_in_from("owner@example.com", "the right password", attacker).await;
    assert!(matches!(locked, Err(Error::Customer(CustomerError::LockedOut { .. }))), "{locked:?}");
    // ...while the owner, elsewhere, signs in.
    let (token, _) = customers.sign_in_from("owner@example.com", "the right password", owner).await.unwrap();
    assert!(customers.authenticate(&token).is_some());
    // Once the lockout is over, the right password works and clears it.
    clock.advance_millis(1_000);
    customers.sign_in_from("owner@example.com", "the right password", attacker).await.unwrap();
    let again = customers.sign_in_from("owner@example.com", "a wrong guess!", attacker).await;
    assert!(matches!(again, Err(Error::Customer(CustomerError::BadCredentials))), "a fresh count: {again:?}");
    mercato.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_never_runs_more_hashes_than_the_pool_has_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (mercato, _clock) = open(dir.path());
    mercato.customers().register("flood@example.com", "the right password", "Flood").await.unwrap();
    let tasks: Vec<_> = (0..500u32)
        .map(|n| {
            let mercato = mercato.clone();
            // Each from its own address, so no lockout cuts the flood short.
            let client = Some(IpAddr::from([10, 0, (n / 256) as u8, (n % 256) as u8]));
            let password = if n % 2 == 0 { "the right password" } else { "a wrong guess!" };
            tokio::spawn(async move { mercato.customers().sign_in_from("flood@example.com", password, client).await })
        })
        .collect();
    let (mut signed_in, mut refused, mut busy) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => signed_in += 1,
            Err(Error::Customer(CustomerError::BadCredentials)) => refused += 1,
            Err(Error::Customer(CustomerError::Busy)) => busy += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(signed_in + refused + busy, 500);
    assert!(signed_in > 0 && refused > 0, "{signed_in} signed in, {refused} refused, {busy} busy");
    let stats = mercato.customers().hashing_stats();
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    assert_eq!(stats.threads, cores.saturating_sub(1).max(1), "all cores but one");
    assert!(stats.running_max >= 1 && stats.running_max <= stats.threads, "{stats:?}");
    mercato.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signed_out_token_stops_working_at_once_and_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let kept;
    let ended;
    {
        let (mercato, _clock) = open(dir.path());
        let customers = mercato.customers();
        customers.register("leaving@example.com", "the right password", "Leaving").await.unwrap();
        kept = customers.sign_in("leaving@example.com", "the right password").await.unwrap().0;
        ended = customers.sign_in("leaving@example.com", "the right password").await.unwrap().0;
        assert!(customers.sign_out(&ended).await.unwrap());
        assert!(customers.authenticate(&ended).is_none());
        assert!(!customers.sign_out(&ended).await.unwrap(), "signing out twice is a no-op");
        assert!(customers.authenticate(&kept).is_some(), "other sessions stay");
        mercato.shutdown().await.unwrap();
    }
    let (mercato, _clock) = open(dir.path());
    assert!(mercato.customers().authenticate(&ended).is_none());
    assert!(mercato.customers().authenticate(&kept).is_some());
    mercato.shutdown().await.unwrap();
}

/// Counts the store's records under a key prefix.
fn records(dir: &std::path::Path, prefix: u8) -> usize {
    let store = common::open_store(dir);
    let mut count = 0;
    store.for_each_key(&[prefix], |_| count += 1).unwrap();
    count
}

#[tokio::test]
async fn the_sweep_deletes_responses_and_sessions_past_their_retention_and_nothing_else() {
    use mercato::domains::idempotency::{Claim, Remembered};
    use mercato::store::keys;
    let dir = tempfile::tempdir().unwrap();
    let remember = |mercato: Mercato, scope: String, at: mercato::engine::Timestamp| async move {
        let Claim::Run(guard) = mercato.idempotency().claim(&scope).await.unwrap() else { panic!("{scope} is new") };
        let response = Remembered {
            body_digest: "d".into(),
            status: 201,
            content_type: "application/json".into(),
            body: b"{}".to_vec(),
            created_at: at,
        };
        mercato.idempotency().remember(&guard, &response, None, false).await.unwrap();
    };
    {
        let (mercato, clock) = open(dir.path());
        mercato.customers().register("sweep@example.com", "the right password", "Sweep").await.unwrap();
        mercato.customers().sign_in("sweep@example.com", "the right password").await.unwrap();
        for n in 0..30 {
            remember(mercato.clone(), format!("old{n}"), mercato.now()).await;
        }
        clock.advance_millis(12 * 3_600_000);
        let (late, _) = mercato.customers().sign_in("sweep@example.com", "the right password").await.unwrap();
        for n in 0..20 {
            remember(mercato.clone(), format!("new{n}"), mercato.now()).await;
        }
        assert_eq!(mercato.sweep().await.unwrap(), mercato::SweepReport::default(), "nothing is due yet");
        // A day and the hour they were made in after the first responses
        // (whole hours are swept), the second are 13 h old.
        clock.advance_millis(13 * 3_600_000);
        let swept = mercato.sweep().await.unwrap();
        assert_eq!(swept, mercato::SweepReport { idempotency_records: 30, ..mercato::SweepReport::default() });
        assert_eq!(mercato.idempotency().len(), 20);
        assert!(matches!(mercato.idempotency().claim("new0").await.unwrap(), Claim::Replay(_)), "kept");
        assert!(matches!(mercato.idempotency().claim("old0").await.unwrap(), Claim::Run(_)), "gone");
        // Thirty days after the first sign-in, its session ends; the later one stays.
        clock.advance_millis(29 * 24 * 3_600_000 + 1);
        let swept = mercato.sweep().await.unwrap();
        assert_eq!((swept.sessions, mercato.customers().session_count()), (1, 1));
        assert!(mercato.customers().authenticate(&late).is_some());
        mercato.shutdown().await.unwrap();
    }
    assert_eq!(records(dir.path(), keys::IDEMPOTENCY), 0, "the later responses were swept at the last sweep too");
    assert_eq!(records(dir.path(), keys::IDEMPOTENCY_BY_HOUR), 0);
    assert_eq!(records(dir.path(), keys::SESSION), 1);
}

/// Guest carts unused for 30 days are deleted by the sweep, lines and all;
/// a guest cart used since, and every customer's cart, stay.
#[tokio::test]
async fn the_sweep_deletes_guest_carts_idle_for_thirty_days_and_no_customer_cart() {
    use mercato::store::keys;
    const DAY: u64 = 24 * 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let (idle, used, mine) = {
        let (mercato, clock) = open(dir.path());
        common::on_sale(&mercato, &["SKU-1"]).await;
        let carts = mercato.carts();
        let idle = carts.create().await.unwrap().id;
        let used = carts.create().await.unwrap().id;
        let customer = mercato.customers().register("cart@example.com", "the right password", "C").await.unwrap();
        let mine = mercato.customers().cart_id(&customer.id).unwrap();
        for cart in [&idle, &used] {
            carts.add(cart, common::sku("SKU-1"), 2).await.unwrap();
        }
        carts.open(&mine).await.unwrap();
        carts.add(&mine, common::sku("SKU-1"), 1).await.unwrap();
        clock.advance_millis(20 * DAY);
        carts.get(&used).await.unwrap();
        assert_eq!(mercato.sweep().await.unwrap().guest_carts, 0, "nothing idle for 30 days yet");
        clock.advance_millis(11 * DAY);
        assert_eq!(mercato.sweep().await.unwrap().guest_carts, 1, "the cart unused for 31 days");
        assert!(matches!(carts.get(&idle).await, Err(mercato::Error::CartNotFound(_))));
        assert!(!carts.exists(&idle));
        assert_eq!(carts.get(&used).await.unwrap().item_count, 2, "used 11 days ago");
        clock.advance_millis(365 * DAY);
        assert_eq!(mercato.sweep().await.unwrap().guest_carts, 1, "the other guest cart, in its turn");
        assert_eq!(carts.get(&mine).await.unwrap().item_count, 1, "a customer's cart is never deleted");
        mercato.shutdown().await.unwrap();
        (idle, used, mine)
    };
    assert_eq!(records(dir.path(), keys::CART_META), 1, "only the customer's cart is left");
    assert_eq!(records(dir.path(), keys::CART_LINE), 1);
    assert_eq!(records(dir.path(), keys::CART_IDLE), 0);
    assert_eq!(records(dir.path(), keys::CART_USED), 0);
    let (reopened, _) = open(dir.path());
    for gone in [&idle, &used] {
        assert!(!reopened.carts().exists(gone), "deleted for good: {gone}");
    }
    assert!(reopened.carts().exists(&mine));
    reopened.shutdown().await.unwrap();
}

/// Responses remembered before responses were kept by the hour move to
/// their hour at the next open, and are swept like the others.
#[tokio::test]
async fn responses_stored_before_the_hours_move_to_their_hour_at_open_and_are_swept() {
    use mercato::domains::idempotency::Remembered;
    use mercato::store::{keys, Batch};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = common::open_store(dir.path());
        let mut batch = Batch::new();
        for n in 0..5 {
            let response = Remembered {
                body_digest: "d".into(),
                status: 200,
                content_type: "application/json".into(),
                body: Vec::new(),
                created_at: common::START,
            };
            batch.put(keys::idempotency(&format!("before{n}")), &response).unwrap();
        }
        store.write(batch).unwrap();
        store.close().unwrap();
    }
    assert_eq!(records(dir.path(), keys::IDEMPOTENCY_BY_HOUR), 0);
    {
        let (mercato, clock) = open(dir.path());
        assert_eq!(mercato.idempotency().len(), 5);
        clock.advance_millis(25 * 3_600_000);
        assert_eq!(mercato.sweep().await.unwrap().idempotency_records, 5);
        mercato.shutdown().await.unwrap();
    }
    assert_eq!((records(dir.path(), keys::IDEMPOTENCY), records(dir.path(), keys::IDEMPOTENCY_BY_HOUR)), (0, 0));
}

/// Every file of a data directory, as bytes.
fn files_of(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

mod over_http {
    use crate::common::app::{test_limits, Call, Options, Seed, TestApp};
    use hyper::Method;
    use mercato::engine::rate::RateLimit;

    const EMPTY: Seed = Seed { warehouses: &[], products: &[], category: &["Test"], weight_grams: None };

    fn call<'a>(method: Method, path: &'a str, body: String, token: Option<&'a str>, source: [u8; 4]) -> Call<'a> {
        Call { body: Some(body), token, source: Some(source), ..Call::new(method, path) }
    }

    /// 20 wrong passwords from one address: 401s, then 429 with
    /// Retry-After; the owner signs in from another address meanwhile, and
    /// signs out: the token stops working at once.
    #[tokio::test]
    async fn a_lockout_over_http_spares_the_owner_elsewhere_and_sign_out_ends_the_token() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let register = serde_json::json!({"email": "owner@example.com", "password": "the right password", "name": "O"});
        let created =
            app.request(call(Method::POST, "/v1/customers", register.to_string(), None, [127, 0, 0, 1])).await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let wrong = serde_json::json!({"email": "owner@example.com", "password": "a wrong guess!"}).to_string();
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let answer = app.request(call(Method::POST, "/v1/sessions", wrong.clone(), None, [127, 0, 0, 66])).await;
            if answer.status == 429 {
                assert!(answer.retry_after.is_some(), "429 says when to retry");
            }
            statuses.push(answer.status);
        }
        assert!(statuses[..6].iter().all(|status| *status == 401), "{statuses:?}");
        assert!(statuses[6..].iter().all(|status| *status == 429), "{statuses:?}");
        let right = serde_json::json!({"email": "owner@example.com", "password": "the right password"}).to_string();
        let owner = app.request(call(Method::POST, "/v1/sessions", right, None, [127, 0, 0, 7])).await;
        assert_eq!(owner.status, 200, "{:?}", owner.body);
        let token = owner.body["token"].as_str().unwrap().to_owned();
        let me = Call { token: Some(&token), ..Call::new(Method::GET, "/v1/me") };
        assert_eq!(app.request(me).await.status, 200);
        let out = Call { token: Some(&token), ..Call::new(Method::DELETE, "/v1/sessions/current") };
        assert_eq!(app.request(out).await.status, 204);
        let me = Call { token: Some(&token), ..Call::new(Method::GET, "/v1/me") };
        assert_eq!(app.request(me).await.status, 401, "the token stopped working");
        app.stop().await;
    }

    /// Registrations and sign-ins are throttled per client address.
    #[tokio::test]
    async fn registrations_are_throttled_per_address() {
        let limits = test_limits();
        let limits = mercato::http::limits::ClaimLimitConfig {
            auth_per_address: RateLimit { rate_per_second: 1, burst: 3 },
            ..limits
        };
        let app = TestApp::spawn(Options::new(EMPTY).limits(limits)).await;
        let mut statuses = Vec::new();
        for n in 0..5 {
            let body =
                serde_json::json!({"email": format!("c{n}@example.com"), "password": "a password!", "name": "C"});
            statuses.push(
                app.request(call(Method::POST, "/v1/customers", body.to_string(), None, [127, 0, 0, 9])).await.status,
            );
        }
        assert_eq!(statuses, [201, 201, 201, 429, 429]);
        let body = serde_json::json!({"email": "other@example.com", "password": "a password!", "name": "C"});
        let elsewhere = app.request(call(Method::POST, "/v1/customers", body.to_string(), None, [127, 0, 0, 10])).await;
        assert_eq!(elsewhere.status, 201, "another address is not limited");
        app.stop().await;
    }
}

/// The shared mechanisms an open port needs: metrics that neither leak nor
/// grow, gift-card codes out of URLs, client identity behind proxies,
/// request ids, readiness, the transport's limits.
mod open_port {
    use crate::common::app::{Call, Options, Seed, TestApp};
    use crate::common::{body_bytes, client, Body};
    use futures::StreamExt;
    use hyper::Method;
    use mercato::engine::rate::RateLimit;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    const EMPTY: Seed = Seed { warehouses: &[], products: &[], category: &["Test"], weight_grams: None };
    const SHOP: Seed = Seed {
        warehouses: &[("W-1", 40.7, -74.0, "US-NY")],
        products: &[("SKU-1", 1_000)],
        category: &["Test"],
        weight_grams: None,
    };
    const ADMIN: &str = crate::common::app::ADMIN;

    fn json_call<'a>(method: Method, path: &'a str, body: serde_json::Value, token: Option<&'a str>) -> Call<'a> {
        Call { body: Some(body.to_string()), token, ..Call::new(method, path) }
    }

    async fn metrics_text(app: &TestApp, token: Option<&str>) -> (u16, String) {
        let reply = app.request(Call { token, ..Call::new(Method::GET, "/metrics") }).await;
        (reply.status, reply.body.as_str().unwrap_or_default().to_owned())
    }

    /// 10,000 requests to random paths, ids and codes among them, leave a
    /// bounded number of series in `/metrics`, and none of those values.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn random_paths_leave_metrics_bounded_and_free_of_ids() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let http = client();
        let base = format!("http://{}", app.addr);
        let shapes = ["/x{n}", "/v1/orders/ord_{n}", "/v1/gift-cards/gc_{n}", "/v1/carts/cart_{n}/items", "/%22{n}%22"];
        let answered = futures::stream::iter(0..10_000u32)
            .map(|n| {
                let shape = shapes[n as usize % shapes.len()];
                let uri = format!("{base}{}", shape.replace("{n}", &format!("secret{n:05}")));
                let http = http.clone();
                async move {
                    let request = hyper::Request::get(uri).body(Body::default()).unwrap();
                    let response = http.request(request).await.unwrap();
                    let status = response.status().as_u16();
                    body_bytes(response.into_body()).await.unwrap();
                    status
                }
            })
            .buffer_unordered(32)
            .filter(|status| std::future::ready(*status < 500))
            .count()
            .await;
        assert_eq!(answered, 10_000, "no request got a 5xx");
        assert!(app.mercato.stats().store.writes.load(std::sync::atomic::Ordering::Relaxed) < 1_000);
        let (status, text) = metrics_text(&app, None).await;
        assert_eq!(status, 200);
        let series: std::collections::BTreeSet<&str> =
            text.lines().filter(|line| line.starts_with("mercato_http_request_duration_seconds_count")).collect();
        assert!(series.len() <= 10, "{series:?}");
        assert!(!text.contains("secret"), "no path value in a label");
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(text.contains("route=\"/v1/orders/{id}\""), "ids give way to the template");
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name and value");
            assert!(value.parse::<f64>().is_ok(), "a well-formed sample: {line}");
        }
        app.stop().await;
    }

    #[tokio::test]
    async fn a_metrics_token_guards_metrics() {
        let app =
            TestApp::spawn(Options::new(EMPTY).server(|server| server.metrics_token = Some("scrape-me".into()))).await;
        assert_eq!(metrics_text(&app, None).await.0, 401);
        assert_eq!(metrics_text(&app, Some("wrong")).await.0, 401);
        assert_eq!(metrics_text(&app, Some("scrape-me")).await.0, 200);
        assert_eq!(metrics_text(&app, Some(ADMIN)).await.0, 200);
        app.stop().await;
    }

    /// A balance check takes the code in its body, is throttled, and the
    /// code shows nowhere in the metrics.
    #[tokio::test]
    async fn a_gift_card_balance_is_asked_in_a_body_and_throttled() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let issue = serde_json::json!({"balance": {"cents": 2_500, "currency": "USD"}});
        let issued = app.request(json_call(Method::POST, "/v1/admin/gift-cards", issue, Some(ADMIN))).await;
        assert_eq!(issued.status, 201, "{:?}", issued.body);
        let code = issued.body["code"].as_str().unwrap().to_owned();
        assert!(code.len() >= 16, "{code}");
        let ask =
            |code: &str| json_call(Method::POST, "/v1/gift-cards/balance", serde_json::json!({"code": code}), None);
        let balance = app.request(ask(&code)).await;
        assert_eq!((balance.status, balance.body["balance"]["cents"].as_i64()), (200, Some(2_500)));
        let unknown = app.request(ask("gc_00000000000000000000000000000000")).await;
        assert_eq!(unknown.status, 404);
        assert!(!unknown.body.to_string().contains("gc_0000"), "a code is not echoed");
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(app.request(ask(&code)).await.status);
        }
        assert!(statuses.contains(&429), "throttled: {statuses:?}");
        let old_route = app.request(Call::new(Method::GET, &format!("/v1/gift-cards/{code}"))).await;
        assert_eq!(old_route.status, 404, "no code in a URL");
        let (_, text) = metrics_text(&app, None).await;
        assert!(!text.contains(&code));
        app.stop().await;
    }

    /// Only a trusted proxy names the client: from anyone else,
    /// `X-Forwarded-For` changes nothing, and its real address is limited.
    #[tokio::test]
    async fn forwarded_addresses_count_only_from_trusted_proxies() {
        let limits = mercato::http::limits::ClaimLimitConfig {
            auth_per_address: RateLimit { rate_per_second: 1, burst: 3 },
            ..crate::common::app::test_limits()
        };
        let app = TestApp::spawn(Options::new(EMPTY).limits(limits).server(|server| {
            server.transport.trusted_proxies = vec!["127.0.0.2/32".parse().unwrap()];
        }))
        .await;
        let register = |n: u32, source: [u8; 4]| {
            let body =
                serde_json::json!({"email": format!("c{n}@example.com"), "password": "a password!", "name": "C"});
            Call {
                body: Some(body.to_string()),
                source: Some(source),
                headers: vec![("x-forwarded-for", format!("203.0.113.{n}"))],
                ..Call::new(Method::POST, "/v1/customers")
            }
        };
        let mut untrusted = Vec::new();
        for n in 0..5 {
            untrusted.push(app.request(register(n, [127, 0, 0, 1])).await.status);
        }
        assert_eq!(untrusted, [201, 201, 201, 429, 429], "one real address, whatever it claims");
        let mut proxied = Vec::new();
        for n in 10..15 {
            proxied.push(app.request(register(n, [127, 0, 0, 2])).await.status);
        }
        assert_eq!(proxied, [201; 5], "behind the trusted proxy, five clients");
        app.stop().await;
    }

    #[tokio::test]
    async fn every_answer_carries_a_request_id() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let given =
            Call { headers: vec![("x-request-id", "trace-42.a:b".into())], ..Call::new(Method::GET, "/health") };
        assert_eq!(app.request(given).await.request_id.as_deref(), Some("trace-42.a:b"));
        let first = app.request(Call::new(Method::GET, "/nowhere")).await.request_id.unwrap();
        let second = app.request(Call::new(Method::GET, "/health")).await.request_id.unwrap();
        assert!(!first.is_empty() && first != second, "{first} {second}");
        let bad = Call { headers: vec![("x-request-id", "a b\"c".into())], ..Call::new(Method::GET, "/health") };
        let replaced = app.request(bad).await.request_id.unwrap();
        assert!(replaced.chars().all(|c| c.is_ascii_hexdigit() || c == '-'), "{replaced}");
        app.stop().await;
    }

    #[tokio::test]
    async fn health_shows_the_load_test_mode_and_ready_answers() {
        let app = TestApp::spawn(Options::new(EMPTY).config(|config| config.load_test_mode = true)).await;
        let health = app.request(Call::new(Method::GET, "/health")).await;
        assert_eq!(health.body, serde_json::json!({"status": "ok", "mode": "load-test"}));
        let ready = app.request(Call::new(Method::GET, "/ready")).await;
        assert_eq!((ready.status, ready.body["status"].as_str()), (200, Some("ready")));
        app.stop().await;
        let plain = TestApp::spawn(Options::new(EMPTY)).await;
        let health = plain.request(Call::new(Method::GET, "/health")).await;
        assert_eq!(health.body, serde_json::json!({"status": "ok"}));
        plain.stop().await;
    }

    /// A connection that sends its request head one byte at a time is
    /// closed once the header timeout has passed.
    #[tokio::test]
    async fn a_slow_loris_is_closed_after_the_header_timeout() {
        let app = TestApp::spawn(
            Options::new(EMPTY).server(|server| server.transport.header_timeout = Duration::from_secs(1)),
        )
        .await;
        let addr = app.addr;
        let outcome = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            let started = Instant::now();
            let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
            for byte in head {
                if stream.write_all(&[*byte]).is_err() {
                    return (started.elapsed(), true);
                }
                std::thread::sleep(Duration::from_millis(200));
                if started.elapsed() > Duration::from_secs(8) {
                    break;
                }
            }
            // Whatever was written, the server has stopped listening: a read
            // finds the connection closed (or an error response, then close).
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut rest = Vec::new();
            let closed = stream.read_to_end(&mut rest).is_ok();
            (started.elapsed(), closed && !String::from_utf8_lossy(&rest).contains("200 OK"))
        })
        .await
        .unwrap();
        let (elapsed, closed) = outcome;
        assert!(closed, "the slow connection was closed");
        assert!(elapsed < Duration::from_secs(8), "closed before the head was complete: {elapsed:?}");
        app.stop().await;
    }

    /// A keep-alive connection left idle after its answer is closed once
    /// the header timeout has passed (hyper starts that clock when it
    /// begins waiting for the next request).
    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
        let app = TestApp::spawn(
            Options::new(EMPTY).server(|server| server.transport.header_timeout = Duration::from_secs(1)),
        )
        .await;
        let addr = app.addr;
        let (answered, closed_after) = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buffer = [0u8; 1024];
            let read = stream.read(&mut buffer).unwrap();
            let answered = String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200");
            let idle = Instant::now();
            // Nothing more is sent: the next read ends when the server closes.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            (answered, idle.elapsed())
        })
        .await
        .unwrap();
        assert!(answered);
        assert!(closed_after < Duration::from_secs(4), "closed after {closed_after:?}");
        app.stop().await;
    }

    /// Live-deal streams are capped per client address.
    #[tokio::test]
    async fn live_deal_streams_are_capped_per_address() {
        let app = TestApp::spawn(Options::new(SHOP).server(|server| server.streams.per_address = 2)).await;
        let stock = serde_json::json!({"on_hand": 10});
        let stocked = app.request(json_call(Method::PUT, "/v1/admin/inventory/SKU-1/W-1", stock, Some(ADMIN))).await;
        assert_eq!(stocked.status, 200, "{:?}", stocked.body);
        let deal = serde_json::json!({"sku": "SKU-1", "price": {"cents": 500, "currency": "USD"}, "quantity": 5,
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 1});
        let created = app.request(json_call(Method::POST, "/v1/admin/deals", deal, Some(ADMIN))).await;
        let id = created.body["deal_id"].as_str().unwrap().to_owned();
        let http = client();
        let open = || {
            let request =
                hyper::Request::get(format!("http://{}/v1/deals/{id}/events", app.addr)).body(Body::default()).unwrap();
            http.request(request)
        };
        let first = open().await.unwrap();
        let second = open().await.unwrap();
        assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
        let third = open().await.unwrap();
        assert_eq!(third.status().as_u16(), 429);
        assert!(third.headers().contains_key("retry-after"));
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let again = open().await.unwrap();
            if again.status().as_u16() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "a closed stream frees its place");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(second);
        app.stop().await;
    }
}

/// The real process: a gift-card code is absent from the JSON log, whose
/// lines carry the request's id; SIGTERM with 50 open live-deal streams
/// exits 0 within 5 s.
mod process {
    use crate::common;
    use hyper::Method;
    use serde_json::{json, Value};
    use std::time::{Duration, Instant};

    const ADMIN: &str = "process-admin";

    async fn call(base: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        common::send(method, format!("{base}{path}"), Some(ADMIN), None, body).await.expect("the server answers")
    }

    #[tokio::test]
    async fn a_gift_card_code_stays_out_of_the_log_whose_lines_carry_request_ids() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let data = dir.path().join("data");
        let debug = [("RUST_LOG", "info,mercato=debug,sled=warn")];
        let flags = ["--log-format", "json", "--load-test-mode", "--password-cost", "fast"];
        let (mut child, base) = common::start_server_logged(&data, ADMIN, &flags, Some(&log), &debug);
        // A saved card: neither its number nor its CVC reaches the log.
        let registration = json!({"email": "log@example.com", "password": "a password!", "name": "L"});
        let registered = common::send(Method::POST, format!("{base}/v1/customers"), None, None, Some(registration));
        assert_eq!(registered.await.unwrap().0, 201);
        let credentials = json!({"email": "log@example.com", "password": "a password!"});
        let signed_in = common::send(Method::POST, format!("{base}/v1/sessions"), None, None, Some(credentials));
        let token = signed_in.await.unwrap().1["token"].as_str().unwrap().to_owned();
        let card =
            json!({"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "987"});
        let saved = common::send(Method::POST, format!("{base}/v1/payment-methods"), Some(&token), None, Some(card));
        let (status, saved) = saved.await.unwrap();
        assert_eq!(status, 201, "{saved:?}");
        let issue = json!({"balance": {"cents": 1_000, "currency": "USD"}});
        let (status, issued) = call(&base, Method::POST, "/v1/admin/gift-cards", Some(issue)).await;
        assert_eq!(status, 201);
        let code = issued["code"].as_str().unwrap().to_owned();
        let request = hyper::Request::post(format!("{base}/v1/gift-cards/balance"))
            .header("x-request-id", "balance-check-1")
            .header("content-type", "application/json")
            .body(common::Body::from(json!({"code": code}).to_string()))
            .unwrap();
        let answer = common::client().request(request).await.unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(answer.headers()["x-request-id"], "balance-check-1");
        let (_, _) = call(&base, Method::GET, "/metrics", None).await;
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        assert_eq!(child.wait().unwrap().code(), Some(0));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.is_empty());
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
        }
        assert!(!text.contains(&code), "the code is not in the log");
        assert!(!text.contains("4242424242424242") && !text.contains("\"987\""), "no card number or CVC in the log");
        let balance_line = text
            .lines()
            .find(|line| line.contains("balance-check-1"))
            .unwrap_or_else(|| panic!("no line of the balance check: {text}"));
        assert!(balance_line.contains("/v1/gift-cards/balance"), "{balance_line}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_with_fifty_open_streams_exits_cleanly_within_five_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, base) = common::start_server(dir.path(), ADMIN, &[]);
        let warehouse = json!({"id": "W-1", "name": "One", "location": {"lat": 1.0, "lon": 2.0}, "region": "US-NJ"});
        assert_eq!(call(&base, Method::POST, "/v1/admin/warehouses", Some(warehouse)).await.0, 201);
        let product = json!({"id": "P-S", "title": "Streamed", "category": ["A", "B", "C"],
            "variants": [{"sku": "S-1", "price": {"cents": 1000, "currency": "USD"}}]});
        assert_eq!(call(&base, Method::POST, "/v1/products", Some(product)).await.0, 201);
        assert_eq!(call(&base, Method::PUT, "/v1/admin/inventory/S-1/W-1", Some(json!({"on_hand": 10}))).await.0, 200);
        let deal = json!({"sku": "S-1", "price": {"cents": 500, "currency": "USD"}, "quantity": 5,
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2200-01-01T00:00:00Z", "per_customer_limit": 1});
        let (status, created) = call(&base, Method::POST, "/v1/admin/deals", Some(deal)).await;
        assert_eq!(status, 201, "{created:?}");
        let id = created["deal_id"].as_str().unwrap().to_owned();
        let http = common::client();
        let mut streams = Vec::new();
        for _ in 0..50 {
            let request =
                hyper::Request::get(format!("{base}/v1/deals/{id}/events")).body(common::Body::default()).unwrap();
            let response = http.request(request).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            streams.push(response);
        }
        let started = Instant::now();
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
        assert_eq!(status.code(), Some(0));
        assert!(started.elapsed() < Duration::from_secs(5), "stopped in {:?}", started.elapsed());
        drop(streams);
    }
}

/// Arbitrary methods, paths, headers and body bytes sent to the server's
/// router (over a real socket, so hyper's parser is in the path) never get
/// a 5xx and never take the server down.
mod fuzz {
    use crate::common::app::{Options, Seed, TestApp, ADMIN};
    use proptest::prelude::*;
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::time::Duration;

    const SHOP: Seed = Seed {
        warehouses: &[("W-1", 40.7, -74.0, "US-NY")],
        products: &[("SKU-1", 1_000)],
        category: &["Test"],
        weight_grams: None,
    };

    /// Pieces paths are made of: the routes' own words, ids that exist,
    /// and whatever else.
    const WORDS: &[&str] = &[
        "v1",
        "carts",
        "mine",
        "items",
        "saved",
        "merge",
        "save-for-later",
        "move-to-cart",
        "products",
        "P-SKU-1",
        "SKU-1",
        "W-1",
        "reservations",
        "commit",
        "deals",
        "claims",
        "events",
        "waitlist",
        "admin",
        "inventory",
        "warehouses",
        "customers",
        "sessions",
        "current",
        "me",
        "membership",
        "payment-methods",
        "checkouts",
        "address",
        "shipping",
        "payment",
        "place",
        "orders",
        "cancel",
        "returns",
        "gift-cards",
        "balance",
        "search",
        "suggest",
        "metrics",
        "health",
        "ready",
        "openapi.json",
        "%22",
        "%00",
        "..",
        "%2F",
        "\u{e9}",
        "a b",
    ];

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
            1 => "[a-zA-Z0-9_.~%-]{0,24}",
            1 => proptest::collection::vec(any::<u8>(), 0..12)
                .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
        ]
    }

    /// Every route's method and template, from the server's own table.
    fn routes() -> Vec<(&'static str, &'static str)> {
        mercato::http::table().operations().iter().map(|route| (route.method(), route.path())).collect()
    }

    /// A route's template with arbitrary values in its `{name}` segments,
    /// and its method; or arbitrary segments and a method for them.
    fn target() -> impl Strategy<Value = (String, String)> {
        let routes = routes();
        let templated = (proptest::sample::select(routes), proptest::collection::vec(segment(), 4), method(), 0..4u8)
            .prop_map(|((route_method, template), values, method, pick)| {
                let mut values = values.into_iter();
                let path: Vec<String> = template
                    .split('/')
                    .map(|part| if part.starts_with('{') { values.next().unwrap_or_default() } else { part.to_owned() })
                    .collect();
                let method = if pick == 0 { method } else { route_method.to_owned() };
                (method, path.join("/"))
            });
        let random = (method(), proptest::collection::vec(segment(), 0..7))
            .prop_map(|(method, segments)| (method, format!("/{}", segments.join("/"))));
        prop_oneof![4 => templated, 1 => random]
    }

    fn path_and_query() -> impl Strategy<Value = (String, String)> {
        (target(), proptest::option::of("[a-z_=&%0-9]{0,30}")).prop_map(|((method, path), query)| {
            let mut path = path.replace(' ', "%20");
            if let Some(query) = query {
                path.push('?');
                path.push_str(&query);
            }
            (method, path)
        })
    }

    fn method() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"][..])
                .prop_map(str::to_owned),
            1 => "[A-Z]{1,10}",
        ]
    }

    fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
        let named = prop_oneof![
            proptest::sample::select(
                &[
                    "content-type",
                    "authorization",
                    "idempotency-key",
                    "x-forwarded-for",
                    "forwarded",
                    "x-request-id",
                    "accept",
                    "if-none-match"
                ][..]
            )
            .prop_map(str::to_owned),
            "x-[a-z-]{1,16}",
        ];
        let value = prop_oneof![
            Just(format!("Bearer {ADMIN}")),
            Just("application/json".to_owned()),
            Just("Bearer tok_nope".to_owned()),
            "[ -~]{0,40}",
        ];
        proptest::collection::vec((named, value), 0..5)
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..256),
            proptest::sample::select(
                &[
                    "{}",
                    "[]",
                    "null",
                    "{\"sku\":\"SKU-1\",\"quantity\":1}",
                    "{\"quantity\":-1}",
                    "{\"email\":\"a@b.c\",\"password\":\"12345678\",\"name\":\"x\"}",
                    "{\"code\":\"\"}",
                    "{\"quantity\":18446744073709551616}",
                    "{\"on_hand\":4294967296}",
                ][..]
            )
            .prop_map(|body| body.as_bytes().to_vec()),
        ]
    }

    /// Sends one request on a new connection; the status, or `None` when
    /// the server closed the connection without an answer.
    fn send(addr: SocketAddr, request: &[u8]) -> Option<u16> {
        let mut stream = std::net::TcpStream::connect(addr).expect("the server accepts");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request).ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).ok()?;
        let status = std::str::from_utf8(&head[9..12]).ok()?.parse().ok();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        status
    }

    #[test]
    fn no_request_gets_a_5xx_or_a_panic() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let app = runtime.block_on(TestApp::spawn(Options::new(SHOP)));
        let addr = app.addr;
        let config = ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() };
        let (answered, routed) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
        proptest!(config, |((method, path) in path_and_query(), headers in headers(), body in body())| {
            let mut request = format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n").into_bytes();
            for (name, value) in &headers {
                request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
            request.extend_from_slice(&body);
            if let Some(status) = send(addr, &request) {
                prop_assert!(status < 500, "{} for {}", status, String::from_utf8_lossy(&request));
                answered.set(answered.get() + 1);
                routed.set(routed.get() + u32::from(status != 404 && status != 405 && status != 400));
            }
        });
        // Most requests are answered, and a fair share reach a route.
        assert!(answered.get() > 300, "answered {}", answered.get());
        assert!(routed.get() > 40, "routed {}", routed.get());
        let health = send(addr, b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        assert_eq!(health, Some(200), "the server still answers");
        runtime.block_on(app.stop());
    }
}

/// Saved cards over HTTP: a card pays only for the customer who saved it,
/// lists and removals are the customer's own, and neither the number nor
/// the CVC is ever stored.
mod saved_cards {
    use super::{contains, files_of};
    use crate::common::app::{Call, Options, Reply, Seed, TestApp, ADMIN};
    use hyper::Method;
    use serde_json::{json, Value};

    const SHOP: Seed = Seed {
        warehouses: &[("W-EAST", 40.7, -74.0, "US")],
        products: &[("SKU-A", 1000)],
        category: &["Test"],
        weight_grams: Some(400),
    };

    async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>, token: &str) -> Reply {
        let body = body.map(|body| body.to_string());
        app.request(Call { body, token: Some(token), ..Call::new(method, path) }).await
    }

    fn assert_problem(reply: &Reply, status: u16, code: &str) {
        assert_eq!((reply.status, reply.body["type"].as_str()), (status, Some(code)), "{:?}", reply.body);
    }

    /// A new app whose SKU-A has 100 units in stock.
    async fn shop() -> TestApp {
        shop_in(tempfile::tempdir().unwrap()).await
    }

    async fn shop_in(dir: tempfile::TempDir) -> TestApp {
        let app = TestApp::spawn_in(dir, Options::new(SHOP)).await;
        let stocked = send(&app, Method::PUT, "/v1/admin/inventory/SKU-A/W-EAST", Some(json!({"on_hand": 100})), ADMIN);
        assert_eq!(stocked.await.status, 200);
        app
    }

    /// Registers and signs in a customer; their session token.
    async fn customer(app: &TestApp, email: &str) -> String {
        let body = json!({"email": email, "password": "long enough", "name": "Test"});
        assert_eq!(send(app, Method::POST, "/v1/customers", Some(body), "").await.status, 201);
        let session =
            send(app, Method::POST, "/v1/sessions", Some(json!({"email": email, "password": "long enough"})), "");
        session.await.body["token"].as_str().unwrap().to_owned()
    }

    fn card_body(number: &str, cvc: &str, billing_country: Option<&str>) -> Value {
        let mut body = json!({"type": "card", "number": number, "exp_month": 12, "exp_year": 2099, "cvc": cvc});
        if let Some(country) = billing_country {
            body["billing_country"] = json!(country);
        }
        body
    }

    /// Saves a card; its token.
    async fn card(app: &TestApp, token: &str, number: &str, billing_country: Option<&str>) -> String {
        let saved =
            send(app, Method::POST, "/v1/payment-methods", Some(card_body(number, "123", billing_country)), token);
        let saved = saved.await;
        assert_eq!(saved.status, 201, "{:?}", saved.body);
        saved.body["token"].as_str().unwrap().to_owned()
    }

    /// A checkout of one SKU-A in the customer's cart, at its payment step.
    async fn checkout_at_payment(app: &TestApp, token: &str) -> String {
        let item = json!({"sku": "SKU-A", "quantity": 1});
        assert_eq!(send(app, Method::POST, "/v1/carts/mine/items", Some(item), token).await.status, 200);
        let started = send(app, Method::POST, "/v1/checkouts", Some(json!({"cart_id": "mine"})), token).await;
        let id = started.body["checkout_id"].as_str().unwrap().to_owned();
        let address = json!({"name": "Ann Buyer", "line1": "1 Main St", "city": "Newark", "region": "NJ",
            "postal_code": "07102", "country": "US"});
        let addressed = send(app, Method::PUT, &format!("/v1/checkouts/{id}/address"), Some(address), token).await;
        assert_eq!(addressed.status, 200, "{:?}", addressed.body);
        let shipping = json!({"option_id": "standard"});
        let shipped = send(app, Method::PUT, &format!("/v1/checkouts/{id}/shipping"), Some(shipping), token).await;
        assert_eq!(shipped.body["step"], "payment", "{:?}", shipped.body);
        id
    }

    async fn pay(app: &TestApp, token: &str, checkout: &str, card: &str) -> Reply {
        let path = format!("/v1/checkouts/{checkout}/payment");
        send(app, Method::PUT, &path, Some(json!({"token": card})), token).await
    }

    async fn list(app: &TestApp, token: &str, query: &str) -> Reply {
        send(app, Method::GET, &format!("/v1/me/payment-methods{query}"), None, token).await
    }

    fn tokens(listed: &Reply) -> Vec<String> {
        let items = listed.body["items"].as_array().unwrap();
        items.iter().map(|item| item["token"].as_str().unwrap().to_owned()).collect()
    }

    #[tokio::test]
    async fn another_customers_card_is_not_found_at_the_payment_step() {
        let app = shop().await;
        let (ann, bob) = (customer(&app, "ann@example.com").await, customer(&app, "bob@example.com").await);
        let ann_card = card(&app, &ann, "4242424242424242", Some("US")).await;
        let bob_card = card(&app, &bob, "4242424242424242", None).await;
        let checkout = checkout_at_payment(&app, &ann).await;
        for stranger in [bob_card.as_str(), "tok_00000000000000000000000000000000", "not a token"] {
            assert_problem(&pay(&app, &ann, &checkout, stranger).await, 404, "not-found");
        }
        let theirs = checkout_at_payment(&app, &bob).await;
        assert_problem(&pay(&app, &bob, &theirs, &ann_card).await, 404, "not-found");
        let view = send(&app, Method::GET, &format!("/v1/checkouts/{checkout}"), None, &ann).await;
        assert_eq!(view.body["step"], "payment", "nothing changed: {:?}", view.body);
        let paid = pay(&app, &ann, &checkout, &ann_card).await;
        assert_eq!((paid.status, paid.body["step"].as_str()), (200, Some("review")), "{:?}", paid.body);
        for bad in ["us", "USA", "U1", ""] {
            let body = card_body("4242424242424242", "123", Some(bad));
            assert_problem(
                &send(&app, Method::POST, "/v1/payment-methods", Some(body), &ann).await,
                422,
                "invalid-input",
            );
        }
        app.stop().await;
    }

    #[tokio::test]
    async fn a_customer_lists_and_removes_only_their_own_cards_durably() {
        let app = shop().await;
        let (ann, bob) = (customer(&app, "ann@example.com").await, customer(&app, "bob@example.com").await);
        let visa = card(&app, &ann, "4242424242424242", Some("US")).await;
        let mastercard = card(&app, &ann, "5555555555554444", Some("FR")).await;
        let amex = card(&app, &ann, "378282246310005", None).await;
        let bob_card = card(&app, &bob, "4242424242424242", None).await;

        let listed = list(&app, &ann, "").await;
        assert_eq!(listed.status, 200, "{:?}", listed.body);
        assert_eq!(listed.body["next_cursor"], Value::Null);
        let mut listed_tokens = tokens(&listed);
        listed_tokens.sort();
        let mut own = vec![visa.clone(), mastercard.clone(), amex.clone()];
        own.sort();
        assert_eq!(listed_tokens, own, "only her own cards");
        let first = listed.body["items"].as_array().unwrap().iter().find(|item| item["token"] == json!(mastercard));
        assert_eq!(
            first.unwrap(),
            &json!({"token": mastercard, "brand": "mastercard", "last4": "4444", "exp_month": 12,
                "exp_year": 2099, "billing_country": "FR"})
        );
        assert_eq!(tokens(&list(&app, &bob, "").await), std::slice::from_ref(&bob_card));

        // Pages of two, resumed with the cursor.
        let page = list(&app, &ann, "?limit=2").await;
        let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
        let rest = list(&app, &ann, &format!("?limit=2&cursor={cursor}")).await;
        assert_eq!(rest.body["next_cursor"], Value::Null);
        let mut paged = [tokens(&page), tokens(&rest)].concat();
        paged.sort();
        assert_eq!(paged, own);
        for bad in ["?limit=0", "?limit=101", "?cursor=nonsense"] {
            assert_problem(&list(&app, &ann, bad).await, 422, "invalid-input");
        }

        // Another's card, an unknown one: not found, and nothing removed.
        for stranger in [bob_card.as_str(), "tok_00000000000000000000000000000000"] {
            let path = format!("/v1/me/payment-methods/{stranger}");
            assert_problem(&send(&app, Method::DELETE, &path, None, &ann).await, 404, "not-found");
        }
        assert_eq!(tokens(&list(&app, &bob, "").await), std::slice::from_ref(&bob_card));
        // Her card set at the payment step, then removed: placing is refused
        // before anything is held, and the card no longer pays.
        let checkout = checkout_at_payment(&app, &ann).await;
        assert_eq!(pay(&app, &ann, &checkout, &visa).await.status, 200);
        let path = format!("/v1/me/payment-methods/{visa}");
        assert_eq!(send(&app, Method::DELETE, &path, None, &ann).await.status, 204);
        assert_problem(&send(&app, Method::DELETE, &path, None, &ann).await, 404, "not-found");
        let place = Call { token: Some(&ann), idempotency_key: Some("place-1"), ..Call::new(Method::POST, "") };
        let place_path = format!("/v1/checkouts/{checkout}/place");
        assert_problem(&app.request(Call { path: &place_path, ..place }).await, 404, "not-found");
        let orders = send(&app, Method::GET, "/v1/orders", None, &ann).await;
        assert_eq!(orders.body["items"], json!([]), "no order");
        let stock = send(&app, Method::GET, "/v1/inventory/SKU-A", None, ADMIN).await;
        assert_eq!((stock.body["held"].as_u64(), stock.body["available"].as_u64()), (Some(0), Some(100)));
        assert_problem(&pay(&app, &ann, &checkout, &visa).await, 404, "not-found");

        let app = shop_in(app.shut_down().await).await;
        let mut kept = tokens(&list(&app, &ann, "").await);
        kept.sort();
        let mut expected = vec![mastercard.clone(), amex.clone()];
        expected.sort();
        assert_eq!(kept, expected, "the removal outlived a restart");
        assert_problem(&pay(&app, &ann, &checkout, &visa).await, 404, "not-found");
        assert_eq!(pay(&app, &ann, &checkout, &amex).await.status, 200);
        app.stop().await;
    }

    /// A card saved before cards had owners is the first user's, for good.
    #[tokio::test]
    async fn a_card_saved_before_owners_belongs_to_the_first_customer_who_pays_with_it() {
        use mercato::domains::payments::ledger::PaymentLogEntry;
        use mercato::engine::payment::{tokenize, CardFingerprint};
        use mercato::engine::{CardInput, CardToken};
        use mercato::store::{keys, Batch};
        let app = shop().await;
        let (ann, bob) = (customer(&app, "ann@example.com").await, customer(&app, "bob@example.com").await);
        let dir = app.shut_down().await;
        let legacy = CardToken::generate(0x001e_9ac7);
        {
            let store = crate::common::open_store(dir.path());
            let mut next = 1;
            store
                .for_each_key(&[keys::PAYMENT_LOG], |key| next = keys::parse_payment_log(key).unwrap_or(0) + 1)
                .unwrap();
            let input =
                CardInput { number: "4242424242424242".into(), exp_month: 12, exp_year: 2099, cvc: "123".into() };
            let record =
                tokenize(&input, legacy.clone(), crate::common::START, |_| CardFingerprint::from_digest(&[7; 32]))
                    .unwrap();
            let entry = PaymentLogEntry::CardAdded { record };
            store.write(Batch::new_put(keys::payment_log(next), &entry).unwrap()).unwrap();
            store.close().unwrap();
        }
        let app = shop_in(dir).await;
        let legacy = legacy.to_string();
        assert!(tokens(&list(&app, &ann, "").await).is_empty(), "in no one's list before it is used");
        let path = format!("/v1/me/payment-methods/{legacy}");
        assert_problem(&send(&app, Method::DELETE, &path, None, &ann).await, 404, "not-found");
        let bobs = checkout_at_payment(&app, &bob).await;
        assert_eq!(pay(&app, &bob, &bobs, &legacy).await.status, 200, "the first use binds it");
        let anns = checkout_at_payment(&app, &ann).await;
        assert_problem(&pay(&app, &ann, &anns, &legacy).await, 404, "not-found");

        let app = shop_in(app.shut_down().await).await;
        assert_problem(&pay(&app, &ann, &anns, &legacy).await, 404, "not-found");
        let listed = list(&app, &bob, "").await;
        assert_eq!(tokens(&listed), std::slice::from_ref(&legacy));
        assert_eq!(listed.body["items"][0]["billing_country"], Value::Null);
        assert_eq!(pay(&app, &bob, &bobs, &legacy).await.status, 200);
        app.stop().await;
    }

    /// After saving a card and placing an order with it, no file of the
    /// data directory, nor a snapshot, holds the card number, an unkeyed
    /// digest of it or its CVC. A bare four-digit run turns up by chance in
    /// the hex of ids, so the CVC is looked for as a stored string would
    /// hold it: quoted (JSON, `Debug`) or length-prefixed (bincode).
    #[tokio::test]
    async fn no_card_number_cvc_nor_unkeyed_digest_is_stored_after_an_order() {
        use sha2::Digest;
        let (number, cvc) = ("4111111111111111", "7391");
        let app = shop().await;
        let ann = customer(&app, "ann@example.com").await;
        let saved = send(&app, Method::POST, "/v1/payment-methods", Some(card_body(number, cvc, Some("US"))), &ann);
        let saved = saved.await;
        assert_eq!((saved.status, saved.body["last4"].as_str()), (201, Some("1111")), "{:?}", saved.body);
        let checkout = checkout_at_payment(&app, &ann).await;
        assert_eq!(pay(&app, &ann, &checkout, saved.body["token"].as_str().unwrap()).await.status, 200);
        let place_path = format!("/v1/checkouts/{checkout}/place");
        let place =
            Call { token: Some(&ann), idempotency_key: Some("order-1"), ..Call::new(Method::POST, &place_path) };
        let placed = app.request(place).await;
        assert_eq!((placed.status, placed.body["status"].as_str()), (201, Some("paid")), "{:?}", placed.body);
        let dir = app.shut_down().await;
        let snapshot = dir.path().join("export.snapshot");
        mercato::snapshot::export(dir.path(), &snapshot, &mercato::clock::SystemClock).unwrap();

        let plain = sha2::Sha256::digest(number.as_bytes());
        let prefixed = sha2::Sha256::new().chain_update(b"mercato-card-v1:").chain_update(number.as_bytes()).finalize();
        let (quoted_cvc, bincode_cvc) = (format!("\"{cvc}\""), [&[4u8][..], cvc.as_bytes()].concat());
        let files = files_of(dir.path());
        assert!(files.iter().any(|(path, _)| path.ends_with("secret.key")));
        assert!(files.iter().any(|(path, _)| path.ends_with("export.snapshot")));
        for (path, bytes) in &files {
            for needle in [number.as_bytes(), &plain[..], &prefixed[..], quoted_cvc.as_bytes(), &bincode_cvc] {
                assert!(!contains(bytes, needle), "{} holds the card, its CVC or an unkeyed digest", path.display());
            }
            for digest in [&plain, &prefixed] {
                let hex = mercato::engine::hex_lower(digest);
                assert!(!contains(bytes, hex.as_bytes()), "{} holds an unkeyed digest", path.display());
            }
        }
    }
}

/// Idempotent responses keep a keyed digest of the request body, never an
/// unkeyed one (a registration body holds a password); records remembered
/// with the unkeyed digest before still replay.
mod keyed_body_digests {
    use super::{contains, files_of};
    use crate::common::app::{Call, Options, Reply, Seed, TestApp};
    use hyper::Method;
    use mercato::domains::idempotency::Remembered;
    use mercato::store::{keys, Batch};
    use serde_json::json;

    const EMPTY: Seed = Seed { warehouses: &[], products: &[], category: &["Test"], weight_grams: None };
    const PASSWORD: &str = "a password kept nowhere";

    fn registration(email: &str) -> String {
        json!({"email": email, "password": PASSWORD, "name": "Kay"}).to_string()
    }

    async fn register(app: &TestApp, body: &str) -> Reply {
        let call = Call {
            body: Some(body.to_owned()),
            idempotency_key: Some("register-1"),
            ..Call::new(Method::POST, "/v1/customers")
        };
        app.request(call).await
    }

    /// The digest records held before digests were keyed: SHA-256 of the
    /// body's length (8 bytes, big-endian) and the body.
    fn unkeyed(body: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(u64::try_from(body.len()).unwrap().to_be_bytes())
            .chain_update(body.as_bytes())
            .finalize();
        mercato::engine::hex_lower(&digest)
    }

    /// Every remembered response of the data directory (the engine shut down).
    fn remembered(dir: &std::path::Path) -> Vec<(Vec<u8>, Remembered)> {
        let store = crate::common::open_store(dir);
        let records = store.scan_prefix::<Remembered>(&[keys::IDEMPOTENCY_BY_HOUR]).unwrap();
        store.close().unwrap();
        records
    }

    #[tokio::test]
    async fn a_registration_keeps_only_a_keyed_digest_of_its_body_and_replays_after_a_restart() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let body = registration("kay@example.com");
        let first = register(&app, &body).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let dir = app.shut_down().await;
        let records = remembered(dir.path());
        assert_eq!(records.len(), 1);
        let digest = &records[0].1.body_digest;
        assert!(digest.starts_with("hmac:") && *digest != unkeyed(&body), "{digest}");
        let plain = mercato::engine::hex_lower(&<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        for (path, bytes) in files_of(dir.path()) {
            for needle in [unkeyed(&body).as_bytes(), plain.as_bytes(), PASSWORD.as_bytes()] {
                assert!(!contains(&bytes, needle), "{} holds the body's unkeyed digest or password", path.display());
            }
        }

        let app = TestApp::spawn_in(dir, Options::new(EMPTY)).await;
        let again = register(&app, &body).await;
        assert_eq!((again.status, &again.body), (201, &first.body), "replayed, not registered twice");
        let other = register(&app, &registration("other@example.com")).await;
        assert_eq!((other.status, other.body["type"].as_str()), (422, Some("idempotency-key-reused")));
        app.stop().await;
    }

    #[tokio::test]
    async fn a_response_remembered_with_an_unkeyed_digest_still_replays() {
        let app = TestApp::spawn(Options::new(EMPTY)).await;
        let body = registration("early@example.com");
        let first = register(&app, &body).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let dir = app.shut_down().await;
        {
            // As a build before keyed digests remembered it.
            let records = remembered(dir.path());
            let store = crate::common::open_store(dir.path());
            let mut batch = Batch::new();
            for (key, record) in records {
                batch.put(key, &Remembered { body_digest: unkeyed(&body), ..record }).unwrap();
            }
            store.write(batch).unwrap();
            store.close().unwrap();
        }
        let app = TestApp::spawn_in(dir, Options::new(EMPTY)).await;
        let again = register(&app, &body).await;
        assert_eq!((again.status, &again.body), (201, &first.body), "replayed");
        let other = register(&app, &registration("other@example.com")).await;
        assert_eq!((other.status, other.body["type"].as_str()), (422, Some("idempotency-key-reused")));
        app.stop().await;
    }
}
