//! Hardening against abuse: lockouts after failed sign-ins, the bounded
//! password hashing pool, sign-out.

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
        assert_eq!(swept, mercato::SweepReport { idempotency_records: 30, sessions: 0 });
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

/// The data directory and a snapshot hold neither a card number nor an
/// unkeyed digest of one: fingerprints are keyed with the server's secret
/// key, kept in the data directory with mode 0600.
#[tokio::test]
async fn no_card_number_nor_an_unkeyed_digest_of_one_is_stored() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let number = "4111111111111111";
    let plain = sha2::Sha256::digest(number.as_bytes());
    let prefixed = sha2::Sha256::new().chain_update(b"mercato-card-v1:").chain_update(number.as_bytes()).finalize();
    let snapshot = dir.path().join("export.snapshot");
    {
        let (mercato, _clock) = open(dir.path());
        let input = mercato::engine::CardInput {
            number: number.to_owned(),
            exp_month: 12,
            exp_year: 2040,
            cvc: "123".to_owned(),
        };
        let record = mercato.payments().add_payment_method(&input).await.unwrap();
        assert_eq!((record.last4.as_str(), record.fingerprint.as_str().len()), ("1111", 64));
        mercato.shutdown().await.unwrap();
    }
    mercato::snapshot::export(dir.path(), &snapshot, &mercato::clock::SystemClock).unwrap();
    let files = files_of(dir.path());
    assert!(files.iter().any(|(path, _)| path.ends_with("secret.key")));
    for (path, bytes) in &files {
        for needle in [number.as_bytes(), &plain[..], &prefixed[..]] {
            assert!(!contains(bytes, needle), "{} holds the card or its unkeyed digest", path.display());
        }
        for digest in [&plain, &prefixed] {
            let hex = mercato::engine::hex_lower(digest);
            assert!(!contains(bytes, hex.as_bytes()), "{} holds an unkeyed digest", path.display());
        }
    }
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
