//! The transport: the listener, the connections and what every request gets
//! before it reaches a route: its client's address (behind trusted proxies,
//! the one they name), its request id, its log span and its metrics.
//!
//! warp's own server exposes none of the limits an open port needs, so the
//! routes are served through hyper's HTTP/1 connection builder:
//! - a header read timeout: a connection that has not sent a whole request
//!   head within it is closed (slow-loris). hyper starts that clock when it
//!   begins waiting for a request, so it is also the keep-alive idle timeout;
//! - a cap on request head size (431 above it);
//! - a cap on open connections: at the cap the server stops accepting until
//!   one closes (the kernel's backlog holds the rest);
//! - on shutdown: `/ready` answers 503, the listener closes, live-deal streams
//!   end, idle connections close, and the future ends once every connection
//!   has finished the request it was serving.

use super::metrics::{method_label, RouteIndex};
use super::{error, table, AppState, ClientAddr};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::IpNet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;
use tracing::Instrument;
use warp::http::{HeaderMap, HeaderValue};
use warp::Filter;

/// The transport's limits and the proxies it trusts (defaults in the README).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// A request head must arrive within this (also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub header_bytes_max: usize,
    /// Connections open at once; more wait to be accepted.
    pub connections_max: usize,
    /// Peers whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            header_timeout: Duration::from_secs(15),
            header_bytes_max: 16 << 10,
            connections_max: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest request id taken from a client.
const REQUEST_ID_BYTES_MAX: usize = 64;

/// Binds `addr` and returns the bound address and the server future, which
/// finishes in-flight requests and ends once `shutdown` resolves.
///
/// Connections speak HTTP/1.1 only (hyper's HTTP/1 server; no HTTP/2, so no
/// h2 in the build). Accepted sockets get TCP_NODELAY, since responses are
/// small and written at once.
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
    let table = table();
    let index = Arc::new(RouteIndex::new(table.operations().iter().map(|route| (route.method(), route.path()))));
    let routes = warp::service(table.filter().recover(error::recover));
    let transport = state.transport.clone();
    let server = async move {
        let connections = GracefulShutdown::new();
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(transport.header_timeout)
            .max_header_size(transport.header_bytes_max);
        let open = Arc::new(tokio::sync::Semaphore::new(transport.connections_max.max(1)));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = accept(&listener) => accepted,
                () = &mut shutdown => break,
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
            let (state, routes, index) = (state.clone(), routes.clone(), index.clone());
            // Each request carries the state and the client's address in its
            // extensions (see `with_state` for why no filter holds them).
            // warp's service is called through `&mut self` and hyper's
            // through `&self`, hence the copy of the routes per request: they
            // hold no state.
            let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                let started = Instant::now();
                let client = client_addr(&state.transport.trusted_proxies, remote, request.headers());
                let id = request_id(&state, request.headers());
                let method = method_label(request.method());
                let route = index.template(request.method().as_str(), request.uri().path());
                request.extensions_mut().insert(state.clone());
                request.extensions_mut().insert(ClientAddr(client));
                // At debug level, every line logged while the request is
                // served carries its id; the request's own warn line (5xx)
                // carries it at any level. (An info-level span would cost
                // every request an allocation and a formatting.)
                let span = tracing::debug_span!("request", request_id = %id.to_str().unwrap_or_default());
                let answer = routes.clone().call(request);
                let state = state.clone();
                async move {
                    let mut response = answer.await?;
                    let status = response.status().as_u16();
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    state.metrics.record(method, route, status, micros);
                    if status >= 500 {
                        let request_id = id.to_str().unwrap_or_default();
                        tracing::warn!(request_id, method, route, status, micros, "request");
                    } else {
                        tracing::debug!(method, route, status, micros, "request");
                    }
                    response.headers_mut().insert(REQUEST_ID, id);
                    Ok::<_, std::convert::Infallible>(response)
                }
                .instrument(span)
            });
            let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "connection error");
                }
                drop(permit);
            });
        }
        state.ready.store(false, Ordering::Release);
        state.feeds.close();
        drop(listener);
        connections.shutdown().await;
    };
    Ok((bound, server))
}

/// The request's id: the client's `X-Request-Id` when it is 1 to 64
/// characters of letters, digits and `-_.:`, otherwise a new one (the
/// server's random prefix and a counter).
fn request_id(state: &AppState, headers: &HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(REQUEST_ID) {
        let bytes = given.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= REQUEST_ID_BYTES_MAX
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if valid {
            return given.clone();
        }
    }
    let serial = state.requests.fetch_add(1, Ordering::Relaxed);
    // The prefix's 8 hex digits, a dash and the serial's 16.
    let mut id = [0u8; 25];
    id[..8].copy_from_slice(&state.request_prefix.as_bytes()[..8]);
    id[8] = b'-';
    for (index, byte) in id[9..].iter_mut().enumerate() {
        *byte = b"0123456789abcdef"[((serial >> (60 - 4 * index)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).expect("hex digits are a header value")
}

/// The client of a request from `peer`. From a trusted proxy, the client is
/// the nearest address its forwarding chain names that is not itself a
/// trusted proxy (`Forwarded` when present, otherwise `X-Forwarded-For`,
/// read from the right: the left part is whatever the client wrote). From
/// anyone else the headers are ignored: they could say anything.
pub fn client_addr(trusted: &[IpNet], peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer.ip()) {
        return peer;
    }
    let forwarded: Vec<&str> = headers.get_all("forwarded").iter().filter_map(|value| value.to_str().ok()).collect();
    let chain: Vec<Option<IpAddr>> = if forwarded.is_empty() {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|hop| parse_hop(hop.trim()))
            .collect()
    } else {
        forwarded.iter().flat_map(|value| value.split(',')).map(forwarded_for).collect()
    };
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = SocketAddr::new(*ip, 0);
                if !is_trusted(ip) {
                    break;
                }
            }
            // An entry that names no address ("unknown", garbage): the
            // chain cannot be followed past it.
            None => break,
        }
    }
    client
}

/// The `for=` address of one `Forwarded` element (RFC 7239).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| parse_hop(value.trim().trim_matches('"')))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    hop.strip_prefix('[')?.split(']').next()?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn proxies() -> Vec<IpNet> {
        vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5000)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let said = headers(&[("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=203.0.113.8")]);
        assert_eq!(client_addr(&proxies(), peer("198.51.100.1"), &said), peer("198.51.100.1"));
        assert_eq!(client_addr(&[], peer("127.0.0.1"), &said), peer("127.0.0.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_read_from_the_right() {
        let ip = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 0);
        let said = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        // 1.2.3.4 is whatever the client wrote; 203.0.113.9 reached the first proxy.
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &said), ip("203.0.113.9"));
        let split = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &split), ip("203.0.113.9"));
        let forwarded = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=http, for=10.2.2.2")]);
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &forwarded), ip("2001:db8::1"));
        let ported = headers(&[("x-forwarded-for", "203.0.113.9:443")]);
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &ported), ip("203.0.113.9"));
    }

    #[test]
    fn a_chain_stops_at_what_it_cannot_read() {
        let said = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 10.1.1.1")]);
        let ip = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 0);
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &said), ip("10.1.1.1"));
        let none = headers(&[]);
        assert_eq!(client_addr(&proxies(), peer("127.0.0.1"), &none), peer("127.0.0.1"));
    }
}
