//! HTTP to the server: one keep-alive client per connection, and what an answer
//! counts as.
//!
//! Each worker owns a [`Client`], which keeps one connection alive, and a
//! worker has one request in flight at a time, so a worker is one keep-alive
//! connection. Every request is bounded by the run's timeout, body included.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{ensure, Context};
use bytes::Bytes;
use hyper::client::conn::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Body, Method, StatusCode, Uri};
use serde::Deserialize;
use tokio::net::TcpStream;

/// The server being driven: base URL, admin token and request timeout.
#[derive(Debug)]
pub struct Target {
    /// `http://host:port`, without a trailing slash.
    base: String,
    /// `host:port`, what is connected to and sent as `Host`.
    authority: String,
    admin_token: Option<String>,
    timeout: Duration,
}

impl Target {
    /// Parses the base URL: plain `http` (no TLS), a host, and no path.
    pub fn new(url: &str, admin_token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("bad --url {url:?}"))?;
        ensure!(uri.scheme_str() == Some("http"), "--url must start with http:// (TLS is not supported), got {url:?}");
        let Some(authority) = uri.authority() else { anyhow::bail!("--url needs a host, got {url:?}") };
        ensure!(matches!(uri.path(), "" | "/") && uri.query().is_none(), "--url takes no path, got {url:?}");
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Target { base: url.trim_end_matches('/').to_owned(), authority, admin_token, timeout })
    }

    pub fn base(&self) -> &str {
        &self.base
    }
}

/// One request of a scenario, relative to the target.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub body: Option<Bytes>,
    /// Who the request is sent as.
    pub auth: Auth,
    /// Sent as `Idempotency-Key`: a retry with the same key gets the first answer.
    pub idempotency_key: Option<String>,
    /// Sent as `X-Forwarded-For`: the client this request stands for, which a
    /// server trusting this machine as a proxy limits and locks out by.
    pub forwarded_for: Option<IpAddr>,
}

/// The bearer token a request carries, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// The target's admin token.
    Admin,
    /// A customer's session token.
    Customer(String),
}

impl Request {
    pub fn get(path: String) -> Self {
        Request {
            method: Method::GET,
            path,
            body: None,
            auth: Auth::Anonymous,
            idempotency_key: None,
            forwarded_for: None,
        }
    }

    pub fn post_json(path: String, body: Bytes) -> Self {
        Request { method: Method::POST, body: Some(body), ..Request::get(path) }
    }

    pub fn put_json(path: String, body: Bytes) -> Self {
        Request { method: Method::PUT, body: Some(body), ..Request::get(path) }
    }

    /// The same request, with the admin token.
    pub fn as_admin(self) -> Self {
        Request { auth: Auth::Admin, ..self }
    }

    /// The same request, with a customer's session token.
    pub fn as_customer(self, token: &str) -> Self {
        Request { auth: Auth::Customer(token.to_owned()), ..self }
    }

    /// The same request, with an `Idempotency-Key`.
    pub fn with_idempotency_key(self, key: &str) -> Self {
        Request { idempotency_key: Some(key.to_owned()), ..self }
    }

    /// The same request, on behalf of the client at `address` (`X-Forwarded-For`).
    pub fn forwarded_for(self, address: IpAddr) -> Self {
        Request { forwarded_for: Some(address), ..self }
    }
}

/// A complete answer.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub content_type: Option<String>,
    /// `Retry-After` in whole seconds; `None` when absent or not a number of
    /// seconds (the HTTP-date form is not used by Mercato).
    pub retry_after_s: Option<u64>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The connection could not be opened (refused, unreachable).
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// The connection broke, or the answer was not HTTP.
    Io,
    /// The request could not be built (a scenario produced a bad path).
    Request,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Io => "io",
            Failure::Request => "request",
        }
    }
}

/// A request that got no answer, with the underlying error's text.
#[derive(Debug)]
pub struct SendError {
    pub failure: Failure,
    pub detail: String,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.failure.as_str(), self.detail)
    }
}

impl std::error::Error for SendError {}

/// What one request came to, as the report counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer; `problem` is the problem `type` of a 4xx/5xx answer, or
    /// [`NOT_A_PROBLEM`] when its body is not `application/problem+json`.
    Answered { status: u16, problem: Option<String> },
    /// No answer.
    Failed(Failure),
}

/// The problem type counted for a 4xx/5xx answer without a problem+json body.
pub const NOT_A_PROBLEM: &str = "(not problem+json)";
/// The header that makes a creating POST safe to retry (API.md, Conventions).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header naming the client a request is forwarded for.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// A keep-alive HTTP/1.1 client for one connection.
///
/// It holds its connection itself rather than in hyper's pool: a checkout
/// from the pool hashes the host and takes a lock, and a pooled request
/// carries an absolute URI to parse, which together cost the load tester a
/// fifth of its work per request, on the cores the server under test needs.
/// Used by several tasks at once (clones share the kept connection), it
/// opens one more connection per concurrent request and keeps one.
#[derive(Clone)]
pub struct Client {
    target: Arc<Target>,
    idle: Arc<Mutex<Option<SendRequest<Body>>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("target", &self.target).finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(target: Arc<Target>) -> Self {
        Client { target, idle: Arc::new(Mutex::new(None)) }
    }

    /// Sends `request` and reads the whole answer, within the timeout.
    pub async fn send(&self, request: &Request) -> Result<Response, SendError> {
        let http_request = self.build(request)?;
        let exchange = async {
            let (mut sender, kept) = self.connection().await?;
            let mut answer = sender.send_request(http_request).await;
            // A kept connection the server closed just now: the request was
            // never sent, so it goes again on a new connection.
            if kept && matches!(&answer, Err(error) if error.is_canceled()) {
                sender = self.connect().await?;
                answer = sender.send_request(self.build(request)?).await;
            }
            let response = answer.map_err(io_error)?;
            let status = response.status();
            let content_type =
                response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(str::to_owned);
            let retry_after_s = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse().ok());
            let body = hyper::body::to_bytes(response.into_body()).await.map_err(io_error)?;
            self.keep(sender);
            Ok(Response { status, content_type, retry_after_s, body })
        };
        match tokio::time::timeout(self.target.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(SendError {
                failure: Failure::Timeout,
                detail: format!("no answer within {:?}", self.target.timeout),
            }),
        }
    }

    /// The kept connection if the server has not closed it (`true`), else a
    /// new one.
    async fn connection(&self) -> Result<(SendRequest<Body>, bool), SendError> {
        let kept = self.idle.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut sender) = kept {
            if std::future::poll_fn(|cx| sender.poll_ready(cx)).await.is_ok() {
                return Ok((sender, true));
            }
        }
        Ok((self.connect().await?, false))
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let connect_error = |detail: String| SendError { failure: Failure::Connect, detail };
        let stream =
            TcpStream::connect(&self.target.authority).await.map_err(|error| connect_error(error.to_string()))?;
        stream.set_nodelay(true).map_err(|error| connect_error(error.to_string()))?;
        let (mut sender, connection) =
            hyper::client::conn::handshake(stream).await.map_err(|error| connect_error(error.to_string()))?;
        // Ends when the connection closes; an error there shows in the next send.
        tokio::spawn(connection);
        std::future::poll_fn(|cx| sender.poll_ready(cx)).await.map_err(|error| connect_error(error.to_string()))?;
        Ok(sender)
    }

    /// Keeps `sender` for the next request, unless one is kept already.
    fn keep(&self, sender: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.is_none() {
            *idle = Some(sender);
        }
    }

    /// Sends `request` and classifies the answer.
    pub async fn call(&self, request: &Request) -> Outcome {
        match self.send(request).await {
            Ok(response) => classify(&response),
            Err(error) => Outcome::Failed(error.failure),
        }
    }

    fn build(&self, request: &Request) -> Result<hyper::Request<Body>, SendError> {
        let mut builder = hyper::Request::builder()
            .method(request.method.clone())
            .uri(request.path.as_str())
            .header(HOST, self.target.authority.as_str());
        if request.body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        let token = match &request.auth {
            Auth::Anonymous => None,
            Auth::Admin => self.target.admin_token.as_deref(),
            Auth::Customer(token) => Some(token.as_str()),
        };
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header(IDEMPOTENCY_KEY, key.as_str());
        }
        if let Some(address) = request.forwarded_for {
            builder = builder.header(X_FORWARDED_FOR, address.to_string());
        }
        builder
            .body(request.body.clone().map_or_else(Body::empty, Body::from))
            .map_err(|error| SendError { failure: Failure::Request, detail: error.to_string() })
    }
}

fn io_error(error: hyper::Error) -> SendError {
    SendError { failure: Failure::Io, detail: error.to_string() }
}

/// The outcome of a complete answer.
pub fn classify(response: &Response) -> Outcome {
    let status = response.status;
    let problem = (status.is_client_error() || status.is_server_error()).then(|| {
        problem_type(response.content_type.as_deref(), &response.body).unwrap_or_else(|| NOT_A_PROBLEM.to_owned())
    });
    Outcome::Answered { status: status.as_u16(), problem }
}

/// The `type` of an `application/problem+json` body, if it is one.
pub fn problem_type(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Problem {
        #[serde(rename = "type")]
        kind: String,
    }
    let media_type = content_type?.split(';').next()?.trim();
    if !media_type.eq_ignore_ascii_case("application/problem+json") {
        return None;
    }
    serde_json::from_slice::<Problem>(body).ok().map(|problem| problem.kind)
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters stay).
pub fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_problem_type_comes_from_a_problem_json_body() {
        let body = br#"{"type":"not-found","title":"Not Found","status":404,"detail":"no product P-1"}"#;
        assert_eq!(problem_type(Some("application/problem+json"), body), Some("not-found".to_owned()));
        assert_eq!(problem_type(Some("Application/Problem+JSON; charset=utf-8"), body), Some("not-found".to_owned()));
        assert_eq!(problem_type(Some("application/json"), body), None);
        assert_eq!(problem_type(None, body), None);
        assert_eq!(problem_type(Some("application/problem+json"), b"not json"), None);
        assert_eq!(problem_type(Some("application/problem+json"), br#"{"title":"no type"}"#), None);
    }

    #[test]
    fn only_errors_count_a_problem_type() {
        let answer = |status: u16, content_type: &str, body: &'static [u8]| Response {
            status: StatusCode::from_u16(status).expect("status"),
            content_type: Some(content_type.to_owned()),
            retry_after_s: None,
            body: Bytes::from_static(body),
        };
        let problem = br#"{"type":"sold-out"}"#;
        assert_eq!(
            classify(&answer(409, "application/problem+json", problem)),
            Outcome::Answered { status: 409, problem: Some("sold-out".to_owned()) }
        );
        assert_eq!(
            classify(&answer(502, "text/html", b"<html>")),
            Outcome::Answered { status: 502, problem: Some(NOT_A_PROBLEM.to_owned()) }
        );
        assert_eq!(
            classify(&answer(200, "application/problem+json", problem)),
            Outcome::Answered { status: 200, problem: None }
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("salon chair"), "salon%20chair");
        assert_eq!(encode_query_value("a&b=c/d?é"), "a%26b%3Dc%2Fd%3F%C3%A9");
        assert_eq!(encode_query_value("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn the_admin_token_goes_only_on_admin_requests() {
        let target = Arc::new(
            Target::new("http://127.0.0.1:9/", Some("secret".to_owned()), Duration::from_secs(1)).expect("target"),
        );
        let client = Client::new(target);
        let plain = client.build(&Request::get("/v1/categories".to_owned())).expect("request");
        assert_eq!(plain.uri(), "/v1/categories");
        assert_eq!(plain.headers().get(HOST).map(|value| value.as_bytes()), Some(&b"127.0.0.1:9"[..]));
        assert!(plain.headers().get(AUTHORIZATION).is_none());
        let admin = client.build(&Request::get("/v1/categories".to_owned()).as_admin()).expect("request");
        assert_eq!(admin.headers().get(AUTHORIZATION).map(|value| value.as_bytes()), Some(&b"Bearer secret"[..]));
    }

    #[test]
    fn a_claim_carries_the_customer_token_and_its_idempotency_key() {
        let target = Arc::new(
            Target::new("http://127.0.0.1:9", Some("secret".to_owned()), Duration::from_secs(1)).expect("target"),
        );
        let client = Client::new(target);
        let claim = Request::post_json("/v1/deals/d1/claims".to_owned(), Bytes::from_static(b"{}"))
            .as_customer("tok_ann")
            .with_idempotency_key("run-7");
        let built = client.build(&claim).expect("request");
        assert_eq!(built.headers().get(AUTHORIZATION).map(|value| value.as_bytes()), Some(&b"Bearer tok_ann"[..]));
        assert_eq!(built.headers().get(IDEMPOTENCY_KEY).map(|value| value.as_bytes()), Some(&b"run-7"[..]));
        assert_eq!(built.headers().get(CONTENT_TYPE).map(|value| value.as_bytes()), Some(&b"application/json"[..]));
        assert!(built.headers().get(X_FORWARDED_FOR).is_none());
        let forwarded = client
            .build(&Request::get("/v1/me".to_owned()).forwarded_for(IpAddr::from([10, 1, 2, 3])))
            .expect("request");
        assert_eq!(forwarded.headers().get(X_FORWARDED_FOR).map(|value| value.as_bytes()), Some(&b"10.1.2.3"[..]));
    }

    #[test]
    fn the_url_is_a_plain_http_origin() {
        let timeout = Duration::from_secs(1);
        assert!(Target::new("http://127.0.0.1:8080", None, timeout).is_ok());
        assert!(Target::new("https://127.0.0.1:8080", None, timeout).is_err());
        assert!(Target::new("http://127.0.0.1:8080/v1", None, timeout).is_err());
        assert!(Target::new("127.0.0.1:8080", None, timeout).is_err());
        assert_eq!(
            Target::new("http://localhost", None, timeout).map(|target| target.authority).ok(),
            Some("localhost:80".to_owned())
        );
    }
}
