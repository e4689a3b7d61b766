//! The HTTP/JSON server: warp routes that translate requests into calls on
//! the [`crate::Mercato`] handle. No business rule lives here: each route is a
//! filter (path, method, auth, body limit) + an action over the handle + one
//! response mapping; errors become problem+json in `error.rs` alone.

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
pub mod pool;
pub mod product_dto;
pub mod products;
pub mod reservations;
pub mod search;
pub mod service;
pub mod warehouses;

use crate::Mercato;
use bytes::Bytes;
use error::Problem;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

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
    pub claim_limits: Arc<limits::ClaimLimits>,
    pub feeds: Arc<feeds::DealFeeds>,
    /// Runs searches (see [`pool`]).
    pub queries: pool::QueryPool,
}

impl AppState {
    /// The state of a server; fails only when the query threads cannot start.
    pub fn new(mercato: Mercato, admin_token: &str) -> std::io::Result<Self> {
        AppState::with_limits(mercato, admin_token, limits::ClaimLimitConfig::default())
    }

    pub fn with_limits(
        mercato: Mercato,
        admin_token: &str,
        claim_limits: limits::ClaimLimitConfig,
    ) -> std::io::Result<Self> {
        Ok(AppState(Arc::new(Shared {
            mercato,
            admin_token: Arc::from(admin_token),
            metrics: Arc::new(metrics::HttpMetrics::default()),
            claim_limits: Arc::new(limits::ClaimLimits::new(claim_limits)),
            feeds: Arc::new(feeds::DealFeeds::default()),
            queries: pool::QueryPool::per_core("mercato-query", QUERIES_QUEUED_MAX)?,
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
    /// The signed-in customer; the admin token is not one (403).
    pub fn customer(self) -> Result<crate::engine::Customer, Problem> {
        match self {
            Caller::Customer(customer) => Ok(customer),
            Caller::Admin => Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", "the admin token is not a customer")),
        }
    }
}

fn bearer(header: &str) -> Option<&str> {
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
    match state.mercato.authenticate(token) {
        Some(customer) => Ok(Caller::Customer(customer)),
        None => Err(warp::reject::custom(Problem::unauthorized("invalid or expired token"))),
    }
}

/// Requires a valid token (admin or customer).
pub fn signed_in(state: AppState) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let state = state.clone();
        async move {
            match header {
                Some(header) => identify(&state, &header),
                None => Err(warp::reject::custom(Problem::unauthorized("missing bearer token"))),
            }
        }
    })
}

/// A token is optional (guest routes), but one that is given must be valid.
pub fn maybe_signed_in(state: AppState) -> impl Filter<Extract = (Option<Caller>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let state = state.clone();
        async move { header.map(|header| identify(&state, &header)).transpose() }
    })
}

pub fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A JSON body of at most [`JSON_BODY_BYTES_MAX`], parsed strictly: bad
/// syntax, wrong types and unknown fields are 400 `invalid-input`.
pub fn json_body<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(JSON_BODY_BYTES_MAX).and(warp::body::bytes()).and_then(|bytes: Bytes| async move {
        serde_json::from_slice::<T>(&bytes).map_err(|err| warp::reject::custom(Problem::malformed(err.to_string())))
    })
}

/// Like [`json_body`], also handing over the raw bytes (for idempotency).
pub fn json_body_raw<T: DeserializeOwned + Send>() -> impl Filter<Extract = (T, Bytes), Error = Rejection> + Clone {
    warp::body::content_length_limit(JSON_BODY_BYTES_MAX)
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
pub fn admin(state: AppState) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    signed_in(state).and_then(|caller: Caller| async move {
        match caller {
            Caller::Admin => Ok(Caller::Admin),
            Caller::Customer(_) => {
                Err(warp::reject::custom(Problem::new(StatusCode::FORBIDDEN, "forbidden", "admin only")))
            }
        }
    })
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// Turns an action's result into a response.
pub fn respond<R: Reply>(result: Result<R, Problem>) -> warp::reply::Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// Every route, with problem+json for every rejection and request metrics.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let metrics = state.metrics.clone();
    service::routes(state.clone())
        .or(reservations::routes(state.clone()))
        .or(carts::routes(state.clone()))
        .or(warehouses::routes(state.clone()))
        .or(products::routes(state.clone()))
        .or(customers::routes(state.clone()))
        .or(search::routes(state.clone()))
        .or(deals::routes(state.clone()))
        .or(checkout::routes(state.clone()))
        .or(orders::routes(state))
        .recover(error::recover)
        .with(warp::log::custom(move |info| metrics.observe(&info)))
}

/// Binds `addr` and returns the bound address and the server future, which
/// finishes in-flight requests and ends once `shutdown` resolves.
pub fn bind(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()>), warp::Error> {
    warp::serve(routes(state)).try_bind_with_graceful_shutdown(addr, shutdown)
}
