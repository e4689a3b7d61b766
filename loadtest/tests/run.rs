//! The scenarios against a tiny in-process server on loopback, run as library
//! calls: the report adds up, the cart check passes, a flash sale passes its
//! verification and an overselling server fails it, and an unreachable server
//! is an error, fast.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Method, Request, Response, Server, StatusCode};
use mercato_loadtest::config::{Pacing, RunConfig};
use mercato_loadtest::drive::StopReason;
use mercato_loadtest::report::Report;
use mercato_loadtest::scenario::flash_sale::SaleOptions;
use mercato_loadtest::scenario::ScenarioKind;
use support::DealStub;

const PRODUCT: &str = r#"{"id":"P-1000","title":"Headphones","category":["Electronics"],
  "variants":[{"sku":"P-1000-BLK","price":{"cents":7999,"currency":"USD"}},
              {"sku":"P-1000-WHT","price":{"cents":7999,"currency":"USD"}}]}"#;

/// Answers like a Mercato server with one product and one cart, `c1`, and
/// leaves customers, stock and the deal to `stub`.
async fn answer(stub: Arc<DealStub>, request: Request<Body>) -> Result<Response<Body>, Infallible> {
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
        _ => stub.answer(request).await,
    };
    Ok(response)
}

/// Starts the server on a free loopback port; it lives as long as the test's runtime.
fn spawn_server() -> SocketAddr {
    spawn_server_with(DealStub::new(0))
}

fn spawn_server_with(stub: DealStub) -> SocketAddr {
    let stub = Arc::new(stub);
    let make_service = make_service_fn(move |_| {
        let stub = Arc::clone(&stub);
        async move { Ok::<_, Infallible>(service_fn(move |request| answer(Arc::clone(&stub), request))) }
    });
    let server = Server::bind(&SocketAddr::from(([127, 0, 0, 1], 0))).serve(make_service);
    let addr = server.local_addr();
    tokio::spawn(server);
    addr
}

/// A server that answers 200 to everything and counts the connections it
/// accepted; with `keep_alive` off it closes each one after its answer.
fn spawn_counting_server(keep_alive: bool) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let make_service = make_service_fn(move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, Infallible>(service_fn(|_| async { Ok::<_, Infallible>(Response::new(Body::from("{}"))) })) }
    });
    let server = Server::bind(&SocketAddr::from(([127, 0, 0, 1], 0))).http1_keepalive(keep_alive).serve(make_service);
    let addr = server.local_addr();
    tokio::spawn(server);
    (addr, accepted)
}

#[tokio::test]
async fn a_client_keeps_its_connection_and_reconnects_when_the_server_closed_it() {
    use mercato_loadtest::http::{Client, Request as LoadRequest, Target};
    for keep_alive in [true, false] {
        let (addr, accepted) = spawn_counting_server(keep_alive);
        let target = Target::new(&format!("http://{addr}"), None, Duration::from_secs(5)).expect("target");
        let client = Client::new(Arc::new(target));
        for _ in 0..20 {
            let answer = client.send(&LoadRequest::get("/health".to_owned())).await.expect("an answer");
            assert_eq!(answer.status, StatusCode::OK);
        }
        let expected = if keep_alive { 1 } else { 20 };
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), expected, "keep-alive {keep_alive}");
    }
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

/// A flash sale of `quantity` units to `customers`, one in ten retrying.
fn sale(addr: SocketAddr, customers: u64, quantity: u64) -> RunConfig {
    let mut sale = config(ScenarioKind::FlashSale, addr);
    sale.admin_token = Some(support::ADMIN_TOKEN.to_owned());
    sale.connections = 8;
    sale.duration = Duration::from_secs(10);
    sale.requests = None;
    sale.sale = SaleOptions { customers, deal_quantity: quantity, retry_share: 0.1, ..SaleOptions::default() };
    sale
}

fn check<'a>(report: &'a Report, name: &str) -> &'a mercato_loadtest::report::Check {
    report.checks.iter().find(|check| check.name == name).unwrap_or_else(|| panic!("no check {name}"))
}

fn figure(report: &Report, name: &str) -> f64 {
    report.figures.iter().find(|figure| figure.name == name).map_or(f64::NAN, |figure| figure.value)
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

#[tokio::test]
async fn a_flash_sale_sells_exactly_its_units_and_passes_its_verification() {
    let addr = spawn_server();
    let report = run(sale(addr, 300, 100)).await;
    assert_adds_up(&report);
    assert!(report.passed, "{}", report.table());
    assert_eq!(report.stopped_by, StopReason::RequestLimit, "every customer claimed");
    assert_eq!(report.requests, 330, "300 claims and 30 retries");
    for name in ["sold-exactly", "per-customer-limit", "idempotent-retries", "deal-state", "inventory", "claims-held"] {
        assert!(check(&report, name).passed, "{name}: {}", check(&report, name).detail);
    }
    assert!(check(&report, "claims-held").detail.starts_with("100 of 100 sampled"), "{}", report.table());
    assert_eq!(figure(&report, "claims"), 300.0);
    assert_eq!(figure(&report, "claims_created"), 100.0);
    assert_eq!(figure(&report, "retries"), 30.0);
    assert!(figure(&report, "sold_out_answers") >= 199.0, "{}", report.table());
    assert!(figure(&report, "sold_out_per_s") > 0.0);
    assert!(report.latency_ms_by_status.contains_key(&201) && report.latency_ms_by_status.contains_key(&409));
    assert!(report.workload.contains("100 units of P-1000-BLK"), "{}", report.workload);

    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("sale.json");
    report.write_json(&json_path).expect("json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).expect("read")).expect("parse");
    assert_eq!(json["scenario"], "flash-sale");
    assert_eq!(json["figures"]["claims_created"], 100.0);
    assert!(json["figures"]["claims_per_s"].is_number());
    assert!(json["latency_ms_by_status"]["409"]["p99"].is_number());
    assert!(json["setup_s"].is_number());
}

#[tokio::test]
async fn a_server_that_oversells_by_one_fails_the_verification() {
    let addr = spawn_server_with(DealStub::new(1));
    let report = run(sale(addr, 300, 100)).await;
    assert!(!report.passed, "{}", report.table());
    let sold = check(&report, "sold-exactly");
    assert!(!sold.passed && sold.detail.contains("OVERSOLD by 1"), "{}", sold.detail);
    assert!(!check(&report, "deal-state").passed, "remaining cannot be -1");
    assert!(report.table().contains("check FAIL sold-exactly"), "{}", report.table());
}

#[tokio::test]
async fn an_open_loop_sale_then_a_reused_sold_out_deal_pass() {
    let addr = spawn_server();
    let mut open = sale(addr, 150, 100);
    open.pacing = Pacing::Open { rate_per_s: 2_000 };
    let report = run(open).await;
    assert!(report.passed, "{}", report.table());
    assert_eq!(figure(&report, "claims_created"), 100.0);
    assert_eq!(report.missed, 0);

    // The same deal again, sold out: every claim is refused, and that is right.
    let mut again = sale(addr, 40, 100);
    again.sale.deal_id = Some("deal_0".to_owned());
    let report = run(again).await;
    assert!(report.passed, "{}", report.table());
    assert_eq!(figure(&report, "claims_created"), 0.0);
    assert_eq!(report.problems.get("sold-out").copied(), Some(report.requests));
    assert!(report.workload.contains("reused, sold_out at setup"), "{}", report.workload);
}

#[tokio::test]
async fn an_embedded_flash_sale_sells_exactly_its_units_without_http() {
    let mut config = RunConfig::new(ScenarioKind::FlashSale, "http://127.0.0.1:9");
    config.sale.customers = 2_000;
    config.sale.deal_quantity = 300;
    config.sale.retry_share = 0.1;
    config.connections = 32;
    config.seed = 11;
    config.embedded = Some(mercato_loadtest::embedded::EmbeddedOptions {
        durability: mercato::Durability::Memory,
        data_dir: None,
        arbiters: Some(2),
        deal_shards: None,
    });
    let report = run(config).await;
    assert_adds_up(&report);
    assert!(report.passed, "{}", report.table());
    assert_eq!(report.stopped_by, StopReason::RequestLimit, "every customer claimed");
    for name in ["sold-exactly", "per-customer-limit", "second-attempts-refused", "deal-state"] {
        assert!(check(&report, name).passed, "{name}: {}", check(&report, name).detail);
    }
    assert_eq!(figure(&report, "claims"), 2_000.0);
    assert_eq!(figure(&report, "claims_created"), 300.0);
    assert_eq!(report.statuses.get(&201), Some(&300));
    assert!(figure(&report, "retries") > 100.0, "{}", report.table());
    assert!(figure(&report, "sold_out_answers") >= 1_500.0, "{}", report.table());
}
