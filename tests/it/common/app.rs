//! The one in-process test app: an engine on a temporary data directory,
//! seeded with warehouses and products, served on `127.0.0.1:0`, and one way
//! to send it a request. Modules wrap it with their own helpers.

use super::{body_bytes, client_with, Body};
use hyper_util::client::legacy::connect::HttpConnector;
use mercato::engine::{GeoPoint, Warehouse, WarehouseId};
use mercato::http::limits::ClaimLimitConfig;
use mercato::http::{AppState, ServerConfig};
use mercato::{Config, Durability, Mercato};
use serde_json::{json, Value};
use std::net::SocketAddr;

pub const ADMIN: &str = "test-admin-token";

/// What a new data directory is seeded with.
pub struct Seed {
    /// (id, latitude, longitude, region)
    pub warehouses: &'static [(&'static str, f64, f64, &'static str)],
    /// (sku, price in cents), each the one variant of product `P-<sku>`
    pub products: &'static [(&'static str, i64)],
    /// Every product's category path.
    pub category: &'static [&'static str],
    /// Every variant's weight, when set.
    pub weight_grams: Option<u32>,
}

/// The server's claim limits, with sign-ins and registrations unthrottled:
/// the tests register many customers from one loopback address.
pub fn test_limits() -> ClaimLimitConfig {
    let unthrottled = mercato::engine::rate::RateLimit { rate_per_second: 1_000_000, burst: 1_000_000 };
    ClaimLimitConfig { auth_per_address: unthrottled, ..ClaimLimitConfig::default() }
}

/// How the app starts: its seed, engine configuration and server
/// configuration (limits, transport, tokens).
pub struct Options {
    pub seed: Seed,
    pub adjust: Box<dyn FnOnce(&mut Config)>,
    pub server: ServerConfig,
}

impl Options {
    pub fn new(seed: Seed) -> Options {
        Options {
            seed,
            adjust: Box::new(|_| {}),
            server: ServerConfig { limits: test_limits(), ..ServerConfig::default() },
        }
    }

    pub fn server(mut self, adjust: impl FnOnce(&mut ServerConfig)) -> Options {
        adjust(&mut self.server);
        self
    }

    pub fn config(mut self, adjust: impl FnOnce(&mut Config) + 'static) -> Options {
        self.adjust = Box::new(adjust);
        self
    }

    pub fn limits(mut self, limits: ClaimLimitConfig) -> Options {
        self.server.limits = limits;
        self
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub mercato: Mercato,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    dir: Option<tempfile::TempDir>,
}

/// One answer: status, the headers tests look at, and the body as JSON (a
/// body that is not JSON reads as a JSON string of its text, an empty one as
/// `null`).
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub request_id: Option<String>,
    /// The answer is a remembered one (`Idempotent-Replayed: true`).
    pub replayed: bool,
    pub body: Value,
}

/// One request to the app.
pub struct Call<'a> {
    pub method: hyper::Method,
    pub path: &'a str,
    pub body: Option<String>,
    pub token: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// The loopback address to send from (for per-address limits).
    pub source: Option<[u8; 4]>,
    /// More headers.
    pub headers: Vec<(&'static str, String)>,
}

impl<'a> Call<'a> {
    pub fn new(method: hyper::Method, path: &'a str) -> Call<'a> {
        Call { method, path, body: None, token: None, idempotency_key: None, source: None, headers: Vec::new() }
    }
}

impl TestApp {
    /// Opens a new temporary data directory with `options`.
    pub async fn spawn(options: Options) -> TestApp {
        TestApp::spawn_in(tempfile::tempdir().unwrap(), options).await
    }

    /// Opens the data directory `dir`, seeding it when it is new.
    pub async fn spawn_in(dir: tempfile::TempDir, options: Options) -> TestApp {
        let fresh = std::fs::read_dir(dir.path()).unwrap().next().is_none();
        let mut config = Config::new(dir.path()).durability(Durability::Strict);
        config.password_cost = mercato::PasswordCost::Fast;
        config.cache_capacity_bytes = 16 << 20;
        (options.adjust)(&mut config);
        let mercato = Mercato::open(config).unwrap();
        if fresh {
            seed(&mercato, &options.seed).await;
        }
        TestApp::serve(mercato, dir, options.server)
    }

    /// Serves an engine the test opened and loaded itself on `dir`.
    pub fn serve(mercato: Mercato, dir: tempfile::TempDir, server: ServerConfig) -> TestApp {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::with_config(mercato.clone(), ADMIN, server).expect("query threads");
        let (addr, server) = mercato::http::bind(state, ([127, 0, 0, 1], 0).into(), async move {
            let _ = stopped.await;
        })
        .unwrap();
        let server = tokio::spawn(server);
        TestApp { addr, mercato, stop: Some(stop), server: Some(server), dir: Some(dir) }
    }

    pub async fn request(&self, call: Call<'_>) -> Reply {
        let mut request =
            hyper::Request::builder().method(call.method).uri(format!("http://{}{}", self.addr, call.path));
        if let Some(token) = call.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = call.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let typed = call.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        let request = match call.body {
            Some(body) if typed => request.body(Body::from(body)),
            Some(body) => request.header("content-type", "application/json").body(Body::from(body)),
            None => request.body(Body::default()),
        }
        .unwrap();
        let mut connector = HttpConnector::new();
        connector.set_local_address(call.source.map(std::net::IpAddr::from));
        let client = client_with(connector);
        let response = client.request(request).await.expect("the server answers");
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let request_id = header("x-request-id");
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let bytes = body_bytes(response.into_body()).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, content_type, retry_after, request_id, replayed, body }
    }

    /// Stops the server (without waiting for its connections) and the engine.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.mercato.shutdown().await.unwrap();
    }

    /// Stops the server and the engine and hands back the data directory
    /// once nothing holds it any more.
    pub async fn shut_down(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        self.mercato.shutdown().await.unwrap();
        self.dir.take().unwrap()
    }
}

async fn seed(mercato: &Mercato, seed: &Seed) {
    for &(id, lat, lon, region) in seed.warehouses {
        let warehouse = Warehouse::new(WarehouseId::parse(id).unwrap(), id, GeoPoint { lat, lon }, region);
        mercato.inventory().create_warehouse(warehouse.unwrap()).await.unwrap();
    }
    let mut drafts = Vec::new();
    for &(sku, cents) in seed.products {
        let mut variant = json!({"sku": sku, "price": {"cents": cents, "currency": "USD"}});
        if let Some(grams) = seed.weight_grams {
            variant["weight_grams"] = json!(grams);
        }
        let body = json!({"id": format!("P-{sku}"), "title": format!("Item {sku}"), "category": seed.category,
            "variants": [variant]});
        let parsed: mercato::http::product_dto::ProductBody = serde_json::from_value(body).unwrap();
        drafts.push(parsed.parse().unwrap().draft);
    }
    for result in mercato.catalog().upsert_products(drafts).await.unwrap() {
        result.unwrap();
    }
}
