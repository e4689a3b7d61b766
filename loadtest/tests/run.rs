//! The scenarios against a tiny in-process server on loopback, run as library
//! calls: the report adds up, the cart check passes, and an unreachable server
//! is an error, fast.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Method, Request, Response, Server, StatusCode};
use mercato_loadtest::config::{Pacing, RunConfig};
use mercato_loadtest::report::Report;
use mercato_loadtest::scenario::ScenarioKind;

const PRODUCT: &str = r#"{"id":"P-1000","title":"Headphones","category":["Electronics"],
  "variants":[{"sku":"P-1000-BLK","price":{"cents":7999,"currency":"USD"}},
              {"sku":"P-1000-WHT","price":{"cents":7999,"currency":"USD"}}]}"#;

/// Answers like a Mercato server with one product and one cart, `c1`.
async fn answer(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    let json = |status: StatusCode, body: &'static str, content_type: &'static str| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("static response")
    };
    let ok = |body| json(StatusCode::OK, body, "application/json");
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/v1/categories") => ok(r#"{"items":[]}"#),
        (&Method::GET, "/v1/products/P-1000") => ok(PRODUCT),
        (&Method::POST, "/v1/carts") => json(StatusCode::CREATED, r#"{"cart_id":"c1"}"#, "application/json"),
        (&Method::POST, "/v1/carts/c1/items") => ok(r#"{"cart_id":"c1","lines":[]}"#),
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"type":"not-found","title":"Not Found","status":404,"detail":"no such route"}"#,
            "application/problem+json",
        ),
    };
    Ok(response)
}

/// Starts the server on a free loopback port; it lives as long as the test's runtime.
fn spawn_server() -> SocketAddr {
    let make_service = make_service_fn(|_| async { Ok::<_, Infallible>(service_fn(answer)) });
    let server = Server::bind(&SocketAddr::from(([127, 0, 0, 1], 0))).serve(make_service);
    let addr = server.local_addr();
    tokio::spawn(server);
    addr
}

fn config(scenario: ScenarioKind, addr: SocketAddr) -> RunConfig {
    let mut config = RunConfig::new(scenario, format!("http://{addr}"));
    config.connections = 4;
    config.duration = Duration::from_secs(1);
    config.requests = Some(400);
    config.timeout = Duration::from_secs(2);
    config.seed = 7;
    config
}

async fn run(config: RunConfig) -> Report {
    let bounded = tokio::time::timeout(Duration::from_secs(20), mercato_loadtest::run(config, std::future::pending()));
    bounded.await.expect("the run ends within its bounds").expect("the run succeeds")
}

/// The invariants every report keeps.
fn assert_adds_up(report: &Report) {
    assert!(report.requests > 0);
    let answered: u64 = report.statuses.values().sum();
    let failed: u64 = report.failures.values().sum();
    assert_eq!(answered + failed, report.requests, "outcomes sum to the requests");
    let errors: u64 = report.statuses.range(400..).map(|(_, count)| count).sum();
    assert_eq!(report.problems.values().sum::<u64>(), errors, "every 4xx/5xx has a problem type");
    assert_eq!(report.latency_us.len(), report.requests, "every request has a latency");
    assert!(report.throughput_per_s > 0.0);
    let latency = &report.latency_ms;
    assert!(latency.p50 <= latency.p90 && latency.p90 <= latency.p99, "{latency:?}");
    assert!(latency.p99 <= latency.p99_9 && latency.p99_9 <= latency.max, "{latency:?}");
}

#[tokio::test]
async fn browse_in_a_closed_loop_counts_every_outcome() {
    let addr = spawn_server();
    let report = run(config(ScenarioKind::Browse, addr)).await;
    assert_adds_up(&report);
    assert_eq!(report.requests, 400, "the request limit comes first");
    assert!(report.statuses.get(&200).copied().unwrap_or(0) > 200, "{:?}", report.statuses);
    // Search and suggest are 404 on this server: counted, not fatal.
    assert!(report.problems.get("not-found").copied().unwrap_or(0) > 0, "{:?}", report.problems);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.passed, "{}", report.table());
    assert!(report.workload.starts_with("1 products"), "{}", report.workload);
}

#[tokio::test]
async fn browse_in_an_open_loop_keeps_the_schedule() {
    let addr = spawn_server();
    let mut open = config(ScenarioKind::Browse, addr);
    open.pacing = Pacing::Open { rate_per_s: 300 };
    open.requests = None;
    let report = run(open).await;
    assert_adds_up(&report);
    assert_eq!(report.requests + report.missed, 300, "a second at 300/s is 300 requests due");
    assert!(report.requests >= 290, "loopback keeps up: sent {}", report.requests);
    assert!(report.elapsed_s < 3.0);
}

#[tokio::test]
async fn cart_adds_pass_their_check_and_write_the_reports() {
    let addr = spawn_server();
    let report = run(config(ScenarioKind::Cart, addr)).await;
    assert_adds_up(&report);
    assert_eq!(report.statuses.get(&200), Some(&400), "{:?}", report.statuses);
    assert!(report.passed, "{}", report.table());
    assert!(report.checks.iter().any(|check| check.name == "cart-adds" && check.passed));

    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("report.json");
    let hgrm_path = dir.path().join("latency.hgrm");
    report.write_json(&json_path).expect("json");
    report.write_hgrm(&hgrm_path).expect("hgrm");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).expect("read")).expect("parse");
    assert_eq!(json["requests"], 400);
    assert_eq!(json["statuses"]["200"], 400);
    assert_eq!(json["load"]["mode"], "closed");
    assert!(json["latency_ms"]["p99"].is_number());
    let hgrm = std::fs::read_to_string(&hgrm_path).expect("read");
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(hgrm.contains("Total count    =          400]"));
}

#[tokio::test]
async fn a_closed_port_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        mercato_loadtest::run(config(ScenarioKind::Browse, addr), std::future::pending()),
    )
    .await
    .expect("no hang");
    let error = outcome.expect_err("nothing listens there");
    assert!(format!("{error:#}").contains("unreachable"), "{error:#}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
