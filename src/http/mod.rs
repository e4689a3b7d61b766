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
pub mod service;
pub mod warehouses;

use crate::Mercato;
use bytes::Bytes;
use error::Problem;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;
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
    /// Runs searches (see [`crate::pool`]).
    pub queries: crate::pool::WorkPool,
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
            queries: crate::pool::WorkPool::per_core("mercato-query", QUERIES_QUEUED_MAX)?,
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

/// Every route, with problem+json for every rejection and request metrics.
/// The routes read the state and the client's address from the request's
/// extensions, which [`bind`] fills in.
pub fn routes(metrics: Arc<metrics::HttpMetrics>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    table().filter().recover(error::recover).with(warp::log::custom(move |info| metrics.observe(&info)))
}

/// Binds `addr` and returns the bound address and the server future, which
/// finishes in-flight requests and ends once `shutdown` resolves.
///
/// Connections speak HTTP/1.1 only (hyper's HTTP/1 server; no HTTP/2, so no
/// h2 in the build). Accepted sockets get TCP_NODELAY, since responses are
/// small and written at once. On `shutdown` the listener closes, idle
/// keep-alive connections close at once, and the future ends when every
/// connection has finished the request it was serving.
///
/// Must be called inside a Tokio runtime (the listener registers with it).
pub fn bind(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let bound = listener.local_addr()?;
    let routes = warp::service(routes(state.metrics.clone()));
    let server = async move {
        let connections = GracefulShutdown::new();
        let http = http1::Builder::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, remote) = tokio::select! {
                accepted = accept(&listener) => accepted,
                () = &mut shutdown => break,
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
            let client = ClientAddr(remote);
            let (state, routes) = (state.clone(), routes.clone());
            // Each request carries the state and the client's address in its
            // extensions (see `with_state` for why no filter holds them).
            // warp's service is called through `&mut self` and hyper's
            // through `&self`, hence the copy of the routes per request: they
            // hold no state, only the metrics pointer of the log filter.
            let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(state.clone());
                request.extensions_mut().insert(client);
                routes.clone().call(request)
            });
            let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection error");
                }
            });
        }
        drop(listener);
        connections.shutdown().await;
    };
    Ok((bound, server))
}

/// The next connection. Errors of a connection that was reset before it was
/// accepted are skipped; any other error (such as running out of file
/// descriptors) is logged and retried after a second rather than ending the
/// server or spinning on it.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(error = %err, "accepted connection already failed")
            }
            Err(err) => {
                tracing::error!(error = %err, "accept error");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
