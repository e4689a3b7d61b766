//! `Idempotency-Key` on creating POSTs (API.md, Conventions): the key is
//! scoped to the principal (the admin or the customer, whichever session
//! the token belongs to; the client address when anonymous) and
//! the route; the same key with the same body gets the first response again
//! (4xx included, but not 429 or 5xx), kept for 24 h; concurrent
//! duplicates run once; the same key with another body is 422
//! `idempotency-key-reused`. A response that changed something is kept
//! durably before it is sent; a 4xx whose request wrote nothing (bad input
//! changes nothing, e.g. a sold-out claim) is flushed in the next group
//! commit, milliseconds later, but not waited for: after a crash inside that
//! window, a retry runs again (as harmlessly as the first run). The body is
//! kept only as a keyed digest, which the idempotency domain makes and
//! compares (a body may hold a password).
//!
//! An action may keep its own first result instead ([`kept_by_action`]): it
//! derives what it creates from the key's scope (a claim's id), so a retry
//! finds it again and answers the same. Its success then costs no second
//! record: a granted claim is one store write. Its rejections are
//! remembered as above.

use super::error::Problem;
use super::AppState;
use crate::{Claim, Remembered};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Reply};

/// Longest accepted key.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// The parts of a request that scope its idempotency key.
#[derive(Debug, Clone)]
pub struct IdempotencyParts {
    key: Option<String>,
    caller: String,
}

impl IdempotencyParts {
    /// Whether the request carries a key (without one, nothing is kept).
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Scoped to `principal` (see [`super::Caller::principal`]) when the
    /// route authenticated one; an anonymous call stays scoped to its
    /// client address.
    pub fn of(self, principal: Option<String>) -> Self {
        match principal {
            Some(principal) => IdempotencyParts { key: self.key, caller: principal },
            None => self,
        }
    }
}

/// Extracts the key, and the client address that scopes it until the
/// route names its principal ([`IdempotencyParts::of`]).
pub fn parts() -> impl Filter<Extract = (IdempotencyParts,), Error = Infallible> + Clone {
    warp::header::optional::<String>("idempotency-key")
        .or(warp::any().map(|| None))
        .unify()
        .and(super::client_addr())
        .map(|key: Option<String>, remote: Option<SocketAddr>| {
            let caller = format!("client:{}", remote.map(|addr| addr.ip().to_string()).unwrap_or_default());
            IdempotencyParts { key, caller }
        })
}

fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hasher.update(part);
    }
    crate::engine::hex_lower(&hasher.finalize())
}

/// Whether the action under way keeps its own first result, and the scope
/// it derives it from.
struct KeyedRun {
    scope: String,
    kept: std::cell::Cell<bool>,
    /// The action found its first result under another body ([`key_reused`]):
    /// that first result stays the key's answer.
    reused: std::cell::Cell<bool>,
}

tokio::task_local! {
    static KEYED: KeyedRun;
}

/// Called by an action that keeps its own first result, derived from the
/// key: the scope to derive it from (`None`: the request has no key). A
/// success of the action is then not remembered here (the action answers
/// a retry with the same body); a rejection still is.
pub fn kept_by_action() -> Option<String> {
    KEYED
        .try_with(|run| {
            run.kept.set(true);
            run.scope.clone()
        })
        .ok()
}

/// Runs `run` at most once per (caller, route, key); without a key, just runs it.
pub async fn idempotent<Fut>(
    state: &AppState,
    parts: IdempotencyParts,
    route: &str,
    body: &[u8],
    run: impl FnOnce() -> Fut,
) -> warp::reply::Response
where
    Fut: Future<Output = warp::reply::Response>,
{
    let Some(key) = parts.key else { return run().await };
    if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_CHARS_MAX {
        return Problem::invalid(format!("Idempotency-Key must be 1..={IDEMPOTENCY_KEY_CHARS_MAX} characters"))
            .into_response();
    }
    let scope = digest(&[parts.caller.as_bytes(), route.as_bytes(), key.as_bytes()]);
    let idempotency = state.mercato.idempotency();
    let guard = match idempotency.claim(&scope).await {
        Err(err) => return Problem::from(err).into_response(),
        Ok(Claim::Replay(remembered)) => {
            let same_body = idempotency.same_body(&remembered, body);
            return replay(remembered, same_body);
        }
        Ok(Claim::Run(guard)) => guard,
    };
    // The action's writes and the remembered response share one flush.
    let keyed = KeyedRun { scope, kept: std::cell::Cell::new(false), reused: std::cell::Cell::new(false) };
    let (kept, (response, deferred)) = KEYED
        .scope(keyed, async {
            let ran = state.mercato.deferring_durability(run()).await;
            (KEYED.with(|run| run.kept.get() && (ran.0.status().is_success() || run.reused.get())), ran)
        })
        .await;
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() || kept {
        if let Err(err) = state.mercato.wait_durable(deferred).await {
            return Problem::from(err).into_response();
        }
        return response;
    }
    let body_digest = idempotency.body_digest(body);
    let (head, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", err.to_string()).into_response()
        }
    };
    let remembered = Remembered {
        body_digest,
        status: status.as_u16(),
        content_type: head.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        body: bytes.to_vec(),
        created_at: state.mercato.now(),
    };
    let changed_nothing = status.is_client_error();
    if let Err(err) = state.mercato.idempotency().remember(&guard, &remembered, deferred, changed_nothing).await {
        tracing::error!(error = %err, "cannot remember an idempotent response");
        return Problem::from(err).into_response();
    }
    drop(guard);
    warp::reply::Response::from_parts(head, bytes.into())
}

/// 422 `idempotency-key-reused`. From an action that keeps its own first
/// result, it is not remembered: the first result stays the answer.
pub fn key_reused() -> Problem {
    let _ = KEYED.try_with(|run| run.reused.set(true));
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "this Idempotency-Key was used with a different request body",
    )
}

/// Says that `response` is the first one again.
pub fn mark_replayed(response: &mut warp::reply::Response) {
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
}

fn replay(remembered: Remembered, same_body: bool) -> warp::reply::Response {
    if !same_body {
        return key_reused().into_response();
    }
    let mut response = warp::reply::Response::new(remembered.body.into());
    *response.status_mut() = StatusCode::from_u16(remembered.status).unwrap_or(StatusCode::OK);
    if let Ok(content_type) = HeaderValue::from_str(&remembered.content_type) {
        response.headers_mut().insert("content-type", content_type);
    }
    mark_replayed(&mut response);
    response
}
