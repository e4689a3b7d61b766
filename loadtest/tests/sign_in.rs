//! The `sign-in` flood against a real Mercato server started in this process
//! (fast password hashing, the default limits, 127.0.0.1 trusted as a proxy):
//! the report's checks hold, right passwords sign in and wrong ones are
//! refused; a flood from two addresses is throttled, every 429 with
//! `Retry-After`; and a flash sale run beside a flood is reported with it.

use std::net::SocketAddr;
use std::time::Duration;

use mercato::http::{AppState, ServerConfig, Transport};
use mercato::{Config, Durability, Mercato, PasswordCost};
use mercato_loadtest::config::{Pacing, RunConfig};
use mercato_loadtest::drive::StopReason;
use mercato_loadtest::report::{Check, Report};
use mercato_loadtest::scenario::sign_in::{SaleBeside, SignInOptions};
use mercato_loadtest::scenario::ScenarioKind;

const ADMIN_TOKEN: &str = "T";

/// A server on a free loopback port, over an engine on a temporary directory.
struct Server {
    addr: SocketAddr,
    mercato: Mercato,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// With `demo`, the demo catalog (which a flash sale needs).
    async fn start(demo: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path()).durability(Durability::Memory);
        config.password_cost = PasswordCost::Fast;
        config.load_test_mode = true;
        config.cache_capacity_bytes = 16 << 20;
        let mercato = Mercato::open(config).expect("engine");
        if demo {
            mercato::demo::load_demo(&mercato).await.expect("demo catalog");
        }
        let server = ServerConfig {
            transport: Transport { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Transport::default() },
            ..ServerConfig::default()
        };
        let state = AppState::with_config(mercato.clone(), ADMIN_TOKEN, server).expect("server state");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, serving) = mercato::http::bind(state, SocketAddr::from(([127, 0, 0, 1], 0)), async move {
            let _ = stopped.await;
        })
        .expect("bind");
        tokio::spawn(serving);
        Server { addr, mercato, stop, _dir: dir }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.mercato.shutdown().await.expect("engine shutdown");
    }
}

fn flood(server: &Server, sign_in: SignInOptions) -> RunConfig {
    let mut config = RunConfig::new(ScenarioKind::SignIn, format!("http://{}", server.addr));
    config.admin_token = Some(ADMIN_TOKEN.to_owned());
    config.sign_in = sign_in;
    config.connections = 16;
    config.duration = Duration::from_secs(5);
    config.seed = 7;
    config
}

async fn run(config: RunConfig) -> Report {
    tokio::time::timeout(Duration::from_secs(60), mercato_loadtest::run(config, std::future::pending()))
        .await
        .expect("the run ends by its bounds")
        .expect("the run happens")
}

fn check<'a>(report: &'a Report, name: &str) -> &'a Check {
    report.checks.iter().find(|check| check.name == name).unwrap_or_else(|| panic!("no check {name}"))
}

fn figure(report: &Report, name: &str) -> f64 {
    report.figures.iter().find(|figure| figure.name == name).map(|figure| figure.value).expect(name)
}

fn status(report: &Report, status: u16) -> u64 {
    report.statuses.get(&status).copied().unwrap_or(0)
}

const CHECKS: [&str; 5] =
    ["answered", "no-server-errors", "retry-after", "right-password-signs-in", "wrong-password-refused"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_tells_right_from_wrong_passwords() {
    let server = Server::start(false).await;
    let mut config = flood(&server, SignInOptions { customers: 40, addresses: 1_000, right_one_in: 3 });
    config.requests = Some(400);
    let report = run(config).await;
    assert!(report.passed, "{}", report.table());
    for name in CHECKS {
        assert!(check(&report, name).passed, "{name}: {}", check(&report, name).detail);
    }
    assert_eq!(report.stopped_by, StopReason::RequestLimit);
    assert_eq!(report.requests, 400);
    assert_eq!(figure(&report, "attempts"), 400.0);
    assert_eq!(figure(&report, "right_attempts"), 134.0, "tickets 0, 3, 6, ...");
    assert!(status(&report, 200) > 0 && status(&report, 401) > 0, "{}", report.table());
    assert_eq!(status(&report, 200) + status(&report, 401) + status(&report, 429), 400, "{}", report.table());
    assert_eq!(figure(&report, "signed_in"), status(&report, 200) as f64);
    assert!(figure(&report, "attempts_per_s") > 0.0);
    assert!(report.latency_ms_by_status.contains_key(&200) && report.latency_ms_by_status.contains_key(&401));
    assert!(report.workload.contains("40 customers registered"), "{}", report.workload);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sign-in.json");
    report.write_json(&path).expect("json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("parse");
    assert_eq!(json["scenario"], "sign-in");
    assert!(json["figures"]["attempts_per_s"].is_number());
    assert!(json["latency_ms_by_status"]["401"]["p99"].is_number());
    assert!(json.get("beside").is_none());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_two_addresses_is_throttled_and_every_429_says_when_to_come_back() {
    let server = Server::start(false).await;
    // The default limit: 10 sign-ins a second per address, 20 at once.
    let mut config = flood(&server, SignInOptions { customers: 3, addresses: 2, right_one_in: 4 });
    config.requests = Some(300);
    let report = run(config).await;
    assert!(report.passed, "{}", report.table());
    for name in CHECKS {
        assert!(check(&report, name).passed, "{name}: {}", check(&report, name).detail);
    }
    assert!(status(&report, 429) > 100, "{}", report.table());
    assert!(figure(&report, "too_many_per_address") > 0.0, "{}", report.table());
    assert!(status(&report, 200) > 0 && status(&report, 401) > 0, "{}", report.table());
    assert!(report.latency_ms_by_status.contains_key(&429));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_sale_beside_the_flood_is_reported_with_it() {
    let server = Server::start(true).await;
    let mut config = flood(&server, SignInOptions { customers: 20, addresses: 500, right_one_in: 5 });
    config.pacing = Pacing::Open { rate_per_s: 150 };
    config.duration = Duration::from_secs(2);
    config.sale.deal_quantity = 120;
    config.beside = Some(SaleBeside { rate_per_s: 100, connections: 8, p99_max_ms: Some(10_000.0) });
    // The server runs in this process, so this process's memory is its.
    config.server_pid = Some(std::process::id());
    config.rss_growth_max_mib = Some(10_000);
    let report = run(config).await;
    assert!(report.passed, "{}", report.table());
    assert!(check(&report, "flash-sale-p99").passed);
    assert!(check(&report, "server-rss-growth").passed);
    assert!(figure(&report, "server_rss_start_mib") > 0.0);
    assert!(figure(&report, "server_rss_peak_mib") >= figure(&report, "server_rss_start_mib"));
    assert!(status(&report, 200) > 0 && status(&report, 401) > 0, "{}", report.table());

    let sale = report.beside.as_deref().expect("the sale's report");
    assert_eq!(sale.scenario, "flash-sale");
    assert!(sale.passed, "{}", sale.table());
    assert_eq!(figure(sale, "claims"), 200.0, "{}", sale.table());
    assert_eq!(figure(sale, "claims_created"), 120.0, "{}", sale.table());
    assert_eq!(figure(&report, "flash_sale_p99_ms"), sale.latency_ms.p99);
    assert!(report.table().contains("beside the load, at the same time:"), "{}", report.table());
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["beside"]["scenario"], "flash-sale");
    assert!(json["beside"]["latency_ms"]["p99"].is_number());
    server.stop().await;
}
