//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod app;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mercato::clock::ManualClock;
use mercato::engine::{BucketKey, Sku, Timestamp, WarehouseId};
use mercato::{Config, Durability, Mercato};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A request body of the test client.
pub type Body = Full<Bytes>;

/// An HTTP/1 client over `connector`, which the caller may have tuned.
pub fn client_with(connector: HttpConnector) -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build(connector)
}

/// An HTTP/1 client.
pub fn client() -> Client<HttpConnector, Body> {
    client_with(HttpConnector::new())
}

/// The whole body of a response.
pub async fn body_bytes(body: hyper::body::Incoming) -> Result<Bytes, hyper::Error> {
    Ok(body.collect().await?.to_bytes())
}

pub const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

pub fn config(dir: &Path, durability: Durability) -> Config {
    let mut config = Config::new(dir).durability(durability);
    config.cache_capacity_bytes = 16 << 20;
    config
}

/// An engine on a manual clock (expiry moves only when the test says so).
pub fn open_manual(dir: &Path, durability: Durability) -> (Mercato, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let mercato = Mercato::open(config(dir, durability).clock(clock.clone())).expect("open");
    (mercato, clock)
}

/// An engine whose actors passivate after `idle` without messages.
pub fn open_passivating(dir: &Path, idle: Duration) -> Mercato {
    let mut config = config(dir, Durability::Strict);
    config.passivate_after = idle;
    config.idle_check_every = idle / 2;
    Mercato::open(config).expect("open")
}

pub fn sku(raw: &str) -> Sku {
    Sku::parse(raw).expect("sku")
}

pub fn bucket(sku_raw: &str, warehouse: &str) -> BucketKey {
    BucketKey::new(sku(sku_raw), WarehouseId::parse(warehouse).expect("warehouse"))
}

/// Starts the `mercato` binary on `127.0.0.1:0` with an empty catalog,
/// `admin` as its admin token, `dir` as its data directory and `extra` flags;
/// returns the process and its base URL (from the line it prints once it
/// accepts requests).
pub fn start_server(dir: &Path, admin: &str, extra: &[&str]) -> (std::process::Child, String) {
    start_server_logged(dir, admin, extra, None, &[])
}

/// Like [`start_server`], copying the server's log (stderr) into `log`,
/// with `env` set.
pub fn start_server_logged(
    dir: &Path,
    admin: &str,
    extra: &[&str],
    log: Option<&Path>,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mercato"))
        .envs(env.iter().copied())
        .args(["serve", "--addr", "127.0.0.1:0", "--no-demo", "--admin-token", admin])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the server prints its address");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let Some(base) = line.trim().strip_prefix("listening on ") else {
        // The server ended before listening: its log says why.
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).ok();
        panic!("unexpected line {line:?}; the server's log:\n{log}");
    };
    // Drained so that the server never blocks on a full pipe.
    match log {
        Some(path) => {
            let mut file = std::fs::File::create(path).expect("the log file");
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut file));
        }
        None => {
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        }
    }
    (child, base.to_owned())
}

/// Sends one JSON request to a running server; `None` when no answer came
/// (connection refused or reset: the server is gone). A body that is not
/// JSON reads as `null`.
pub async fn send(
    method: hyper::Method,
    url: String,
    token: Option<&str>,
    idempotency_key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Option<(u16, serde_json::Value)> {
    let mut request = hyper::Request::builder().method(method).uri(url).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let body = body.map_or_else(Body::default, |body| Body::from(body.to_string()));
    let response = client().request(request.body(body).ok()?).await.ok()?;
    let status = response.status().as_u16();
    let bytes = body_bytes(response.into_body()).await.ok()?;
    Some((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

/// Runs the ignored test `child` of this test binary as a child process with
/// `env`, kills it with SIGKILL after `kill_after`, and returns the lines it
/// printed. The child prints `READY` once it has opened its store.
pub fn run_killed_child(child: &str, env: &[(&str, String)], kill_after: Duration) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command.args(["--ignored", "--exact", child, "--nocapture", "--test-threads=1"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut process = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = process.stdout.take().unwrap();
    let reader = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    std::thread::sleep(kill_after);
    process.kill().unwrap(); // SIGKILL on Unix
    process.wait().unwrap();
    let lines = reader.join().unwrap();
    assert!(lines.iter().any(|line| line.ends_with("READY")), "{child} never started ({env:?})");
    lines
}

/// Opens the store of `dir` directly, in strict mode (the engine must be
/// shut down; opening waits for sled's threads to let go of the directory).
pub fn open_store(dir: &Path) -> mercato::store::Store {
    let config = mercato::store::StoreConfig {
        path: dir.to_path_buf(),
        durability: Durability::Strict,
        cache_capacity_bytes: 16 << 20,
    };
    mercato::store::Store::open(&config).expect("the data directory stays locked")
}

/// A $10.00 product `id` selling one SKU.
pub fn draft(id: &str, raw_sku: &str) -> mercato::engine::ProductDraft {
    use mercato::engine::{CategoryPath, Currency, Money, ProductDraft, ProductId};
    let id = ProductId::parse(id).expect("product id");
    let category = CategoryPath::parse(vec!["Test".to_owned()]).expect("category");
    ProductDraft::single(id, &format!("Product {raw_sku}"), category, sku(raw_sku), Money::new(1_000, Currency::USD))
}

/// Puts each SKU on sale, one product `P-<sku>` each at $10.00 (carts and
/// deals take only SKUs the catalog sells), in one catalog write.
pub async fn for_sale(mercato: &Mercato, skus: &[String]) {
    let drafts = skus.iter().map(|raw| draft(&format!("P-{raw}"), raw)).collect();
    for created in mercato.catalog().upsert_products(drafts).await.expect("catalog") {
        created.expect("product");
    }
}

/// [`for_sale`] for SKUs spelled out.
pub async fn on_sale(mercato: &Mercato, skus: &[&str]) {
    for_sale(mercato, &skus.iter().map(|raw| (*raw).to_owned()).collect::<Vec<_>>()).await;
}

/// Terms of a deal `id` on `sku`: `quantity` units at $5.00, active for a
/// day from [`START`], two per customer.
pub fn deals_terms(id: &str, sku: &Sku, quantity: u32) -> mercato::engine::deal::DealTerms {
    use mercato::engine::{Currency, DealId, Money};
    mercato::engine::deal::DealTerms {
        id: DealId::parse(id).expect("deal id"),
        sku: sku.clone(),
        price: Money::new(500, Currency::USD),
        quantity,
        starts_at: START,
        ends_at: START.plus_millis(86_400_000),
        per_customer_limit: 2,
        prime_early_access_ms: 0,
        claim_ttl_ms: None,
    }
}
