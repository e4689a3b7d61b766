//! The HTTP/JSON server: warp routes that translate requests into calls on
//! the [`crate::Mercato`] handle. No business rule lives here: each route is
//! one declaration of the route builder (`route.rs`: method, path, principal,
//! input, responses, action) from which come both its filter and its OpenAPI
//! operation; errors become problem+json in `error.rs` alone.

pub mod carts;
pub mod checkout;
pub mod customers;
pub mod deals;
pub mod dto;
pub mod error;
pub mod feeds;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod payment_methods;
pub mod product_dto;
pub mod products;
pub mod reservations;
pub mod route;
pub mod search;
pub mod server;
pub mod service;
pub mod warehouses;

use crate::Mercato;
use bytes::Bytes;
use error::Problem;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub use server::{bind, Transport};

/// Largest JSON body accepted (API.md: 1 MiB).
pub const JSON_BODY_BYTES_MAX: u64 = 1 << 20;

/// What every route can reach: one shared pointer, since warp clones the
/// state into every route it tries.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    pub mercato: Mercato,
    pub admin_token: Arc<str>,
    pub metrics: Arc<metrics::HttpMetrics>,
    /// When set, `/metrics` wants it (or the admin token) as a bearer token.
    pub metrics_token: Option<Arc<str>>,
    pub claim_limits: Arc<limits::ClaimLimits>,
    pub feeds: Arc<feeds::DealFeeds>,
    /// Runs searches (see [`crate::pool`]).
    pub queries: crate::pool::WorkPool,
    pub transport: Transport,
    /// False once shutdown has begun (`/ready` answers 503).
    pub ready: AtomicBool,
    /// Request ids made so far, and the random prefix of this server's.
    pub requests: AtomicU64,
    pub request_prefix: String,
}

/// How a server is set up besides its engine: limits, transport, tokens.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub limits: limits::ClaimLimitConfig,
    pub streams: feeds::StreamLimits,
    pub transport: Transport,
    pub metrics_token: Option<String>,
}

impl AppState {
    /// The state of a server; fails only when the query threads cannot start.
    pub fn new(mercato: Mercato, admin_token: &str) -> std::io::Result<Self> {
        AppState::with_config(mercato, admin_token, ServerConfig::default())
    }

    pub fn with_limits(
        mercato: Mercato,
        admin_token: &str,
        claim_limits: limits::ClaimLimitConfig,
    ) -> std::io::Result<Self> {
        AppState::with_config(mercato, admin_token, ServerConfig { limits: claim_limits, ..ServerConfig::default() })
    }

    pub fn with_config(mercato: Mercato, admin_token: &str, config: ServerConfig) -> std::io::Result<Self> {
        let request_prefix = format!("{:08x}", mercato.source().u128() as u32);
        Ok(AppState(Arc::new(Shared {
            mercato,
            admin_token: Arc::from(admin_token),
            metrics: Arc::new(metrics::HttpMetrics::default()),
            metrics_token: config.metrics_token.map(Arc::from),
            claim_limits: Arc::new(limits::ClaimLimits::new(config.limits)),
            feeds: Arc::new(feeds::DealFeeds::new(config.streams)),
            queries: crate::pool::WorkPool::per_core("mercato-query", QUERIES_QUEUED_MAX)?,
            transport: config.transport,
            ready: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            request_prefix,
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Searches waiting for a query thread before more are refused (429).
const QUERIES_QUEUED_MAX: usize = 1_024;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Customer(crate::engine::Customer),
}

impl Caller {
    /// The principal an `Idempotency-Key` is scoped to: the admin, or the
    /// customer whatever session they use (a seller's token is its
    /// customer's).
    pub fn principal(&self) -> String {
        match self {
            Caller::Admin => "admin".to_owned(),
            Caller::Customer(customer) => format!("customer:{}", customer.id),
        }
    }

    /// The signed-in customer; the admin token is not one (403).
    pub fn customer(self) -> Result<crate::engine::Customer, Problem> {
        match self {
            Caller::Customer(customer) => Ok(customer),
            Caller::Admin => Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", "the admin token is not a customer")),
        }
    }
}

pub(crate) fn bearer(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ").map(str::trim).filter(|token| !token.is_empty())
}

/// Resolves a bearer token to the admin or a signed-in customer.
fn identify(state: &AppState, header: &str) -> Result<Caller, Rejection> {
    let Some(token) = bearer(header) else {
        return Err(warp::reject::custom(Problem::unauthorized("expected 'Authorization: Bearer <token>'")));
    };
    if constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Ok(Caller::Admin);
    }
    match state.mercato.customers().authenticate(token) {
        Some(customer) => Ok(Caller::Customer(customer)),
        None => Err(warp::reject::custom(Problem::unauthorized("invalid or expired token"))),
    }
}

/// Requires a valid token (admin or customer).
pub fn signed_in() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and(with_state()).and_then(
        |header: Option<String>, state: AppState| async move {
            match header {
                Some(header) => identify(&state, &header),
                None => Err(warp::reject::custom(Problem::unauthorized("missing bearer token"))),
            }
        },
    )
}

/// A token is optional (guest routes), but one that is given must be valid.
pub fn maybe_signed_in() -> impl Filter<Extract = (Option<Caller>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and(with_state()).and_then(
        |header: Option<String>, state: AppState| async move {
            header.map(|header| identify(&state, &header)).transpose()
        },
    )
}

/// The server's state, which [`bind`] puts in every request's extensions.
///
/// No filter holds the state itself: warp clones every filter it may try
/// (the rest of each `or` and `and` chain) on every request, so a state
/// captured in ~120 routes cost ~120 increments and decrements of one shared
/// counter per request, contended between the worker threads.
pub fn with_state() -> impl Filter<Extract = (AppState,), Error = Rejection> + Clone {
    warp::ext::get::<AppState>()
}

/// The client's address, which [`bind`] puts in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The client's address, when known.
pub fn client_addr() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddr>().map(|addr: Option<ClientAddr>| addr.map(|addr| addr.0))
}

/// Whether a `Content-Type` names JSON (`application/json`, or any
/// `application/*+json`, with parameters such as a charset); a request
/// without one is read as JSON too.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Refuses a body declared as something else than JSON (415
/// `unsupported-media-type`).
fn json_content_type() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|content_type: Option<String>| async move {
            match content_type {
                Some(declared) if !is_json(&declared) => Err(warp::reject::custom(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "the body must be JSON: send Content-Type: application/json",
                ))),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

/// A JSON body of at most [`JSON_BODY_BYTES_MAX`], parsed strictly: bad
/// syntax, wrong types and unknown fields are 400 `invalid-input`; a body
/// declared as another media type is 415.
pub fn json_body<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    json_body_raw::<T>().map(|value: T, _: Bytes| value)
}

/// Like [`json_body`], also handing over the raw bytes (for idempotency).
pub fn json_body_raw<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T, Bytes), Error = Rejection> + Clone {
    json_content_type()
        .and(warp::body::content_length_limit(JSON_BODY_BYTES_MAX))
        .and(warp::body::bytes())
        .and_then(|bytes: Bytes| async move {
            match serde_json::from_slice::<T>(&bytes) {
                Ok(value) => Ok((value, bytes)),
                Err(err) => Err(warp::reject::custom(Problem::malformed(err.to_string()))),
            }
        })
        .untuple_one()
}

/// Requires the admin bearer token (a customer's token is 403).
pub fn admin() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    signed_in().and_then(|caller: Caller| async move {
        match caller {
            Caller::Admin => Ok(Caller::Admin),
            Caller::Customer(_) => {
                Err(warp::reject::custom(Problem::new(StatusCode::FORBIDDEN, "forbidden", "admin only")))
            }
        }
    })
}

pub(crate) fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// Turns an action's result into a response.
pub fn respond<R: Reply>(result: Result<R, Problem>) -> warp::reply::Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// Every route with its OpenAPI operation, in the order they are tried: the
/// one table both the server and `GET /openapi.json` are made from.
pub fn table() -> route::Routes<impl route::RouteFilter> {
    // A request pays for matching the path of every route before its own:
    // the flash-deal routes, whose claims are the stampede, come first.
    deals::routes()
        .or(service::routes())
        .or(reservations::routes())
        .or(carts::routes())
        .or(warehouses::routes())
        .or(products::routes())
        .or(customers::routes())
        .or(search::routes())
        .or(checkout::routes())
        .or(payment_methods::routes())
        .or(orders::routes())
}
