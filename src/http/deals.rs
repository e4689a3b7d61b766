//! Flash deals: admin creation, the deal's live view, and claims.

use super::dto::{self, parse_rfc3339, rfc3339};
use super::error::{Problem, ProblemBody};
use super::product_dto::MoneyBody;
use super::{admin, idempotency, json_body_raw, respond, signed_in, with_state, AppState, Caller};
use crate::engine::deal::{DealStatus, DealTerms};
use crate::engine::{DealId, Money};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealBody {
    pub sku: String,
    pub price: MoneyBody,
    pub quantity: i64,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    pub per_customer_limit: i64,
    pub prime_early_access_minutes: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    pub quantity: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DealView {
    pub deal_id: String,
    pub sku: String,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub quantity: u32,
    pub remaining: u64,
    /// Units in unpaid claims.
    pub held: u64,
    /// Units in paid claims.
    pub sold: u64,
    /// Unsold units given back to the SKU's stock once the deal ended.
    pub returned: u64,
    #[schema(value_type = String, example = "active")]
    pub status: DealStatus,
    pub starts_at: String,
    pub ends_at: String,
    pub per_customer_limit: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimView {
    pub reservation_id: String,
    pub expires_at: String,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub quantity: u32,
}

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let create = warp::path!("v1" / "admin" / "deals")
        .and(warp::post())
        .and(with_state())
        .and(admin())
        .and(idempotency::parts())
        .and(json_body_raw::<DealBody>())
        .then(|state: AppState, _caller, parts, body, raw: Bytes| async move {
            idempotency::idempotent(&state.clone(), parts, "POST /v1/admin/deals", &raw, || async move {
                respond(create(state, body).await)
            })
            .await
        });
    let read = warp::path!("v1" / "deals" / String)
        .and(warp::get())
        .and(with_state())
        .then(|id, state| async move { respond(read(state, id).await) });
    let claim = warp::path!("v1" / "deals" / String / "claims")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(super::client_addr())
        .and(idempotency::parts())
        .and(json_body_raw::<ClaimBody>())
        .then(|id: String, state: AppState, caller, remote: Option<SocketAddr>, parts, body, raw: Bytes| async move {
            let route = format!("POST /v1/deals/{id}/claims");
            let address = remote.map(|addr| addr.ip().to_string()).unwrap_or_default();
            idempotency::idempotent(&state.clone(), parts, &route, &raw, || async move {
                respond(claim(state, caller, address, id, body).await)
            })
            .await
        });
    let events = warp::path!("v1" / "deals" / String / "events").and(warp::get()).and(with_state()).then(
        |id: String, state: AppState| async move { events(state, id).await.unwrap_or_else(Reply::into_response) },
    );
    let join = warp::path!("v1" / "deals" / String / "waitlist")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(join_waitlist(state, caller, id).await) });
    let spot = warp::path!("v1" / "deals" / String / "waitlist")
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(waitlist_spot(state, caller, id).await) });
    claim.or(create).unify().or(read).unify().or(events).unify().or(join).unify().or(spot).unify()
}

fn deal_id(raw: &str) -> Result<DealId, Problem> {
    DealId::parse(raw).map_err(|_| Problem::not_found(format!("deal {raw} not found")))
}

fn count(name: &str, raw: i64) -> Result<u32, Problem> {
    u32::try_from(raw)
        .ok()
        .filter(|value| *value > 0)
        .ok_or_else(|| Problem::invalid(format!("{name} must be a positive integer")))
}

#[utoipa::path(
    post,
    path = "/v1/admin/deals",
    tag = "deals",
    request_body = DealBody,
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the first response is replayed for 24 h")),
    responses(
        (status = 201, description = "created: {\"deal_id\"}"),
        (status = 409, description = "insufficient-stock", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn create(state: AppState, body: DealBody) -> Result<impl Reply, Problem> {
    let time =
        |name: &str, raw: &str| parse_rfc3339(raw).ok_or_else(|| Problem::invalid(format!("{name} must be RFC 3339")));
    let early_minutes = body.prime_early_access_minutes.unwrap_or(0);
    let early_minutes = u64::try_from(early_minutes)
        .map_err(|_| Problem::invalid("prime_early_access_minutes must not be negative"))?;
    let terms = DealTerms {
        id: DealId::generate(state.mercato.source().u128()),
        sku: dto::sku(&body.sku)?,
        price: Money::new(body.price.cents, body.price.currency),
        quantity: count("quantity", body.quantity)?,
        starts_at: time("starts_at", &body.starts_at)?,
        ends_at: time("ends_at", &body.ends_at)?,
        per_customer_limit: count("per_customer_limit", body.per_customer_limit)?,
        prime_early_access_ms: early_minutes.saturating_mul(60_000),
    };
    let record = state.mercato.deals().create(terms).await?;
    let reply = serde_json::json!({"deal_id": record.terms.id.to_string()});
    Ok(warp::reply::with_status(warp::reply::json(&reply), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/deals/{id}",
    tag = "deals",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "the deal with its remaining units", body = DealView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn read(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let view = state.mercato.deals().get(&deal_id(&id)?).await?;
    let terms = &view.record.terms;
    Ok(warp::reply::json(&DealView {
        deal_id: terms.id.to_string(),
        sku: terms.sku.to_string(),
        price: terms.price,
        quantity: terms.quantity,
        remaining: view.remaining,
        held: view.held,
        sold: view.sold,
        returned: view.returned,
        status: view.status,
        starts_at: rfc3339(terms.starts_at),
        ends_at: rfc3339(terms.ends_at),
        per_customer_limit: terms.per_customer_limit,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/deals/{id}/claims",
    tag = "deals",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "a retry returns the same claim")),
    request_body = ClaimBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "a hold on deal units, visible at /v1/reservations/{id}", body = ClaimView),
        (status = 409, description = "deal-not-active, limit-exceeded or sold-out", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "rate-limited (with Retry-After)", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn claim(
    state: AppState,
    caller: Caller,
    address: String,
    id: String,
    body: ClaimBody,
) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let _in_flight = state.claim_limits.admit(&customer.id, &address, state.mercato.now())?;
    let quantity = count("quantity", body.quantity)?;
    let prime = state.mercato.customers().is_prime(&customer.id);
    let claimed = state.mercato.deals().claim(&deal_id(&id)?, &customer.id, quantity, prime).await?;
    let view = ClaimView {
        reservation_id: claimed.id.to_string(),
        expires_at: rfc3339(claimed.claim.expires_at),
        price: claimed.terms.price,
        quantity: claimed.claim.quantity,
    };
    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/deals/{id}/events",
    tag = "deals",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Server-Sent Events: `event: deal` with {\"deal_id\", \"remaining\", \"status\"}, at most ~10 per second", content_type = "text/event-stream"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn events(state: AppState, id: String) -> Result<warp::reply::Response, Problem> {
    let deal = deal_id(&id)?;
    state.mercato.deals().get(&deal).await?;
    let receiver = state.feeds.subscribe(&state, &deal);
    let updates = futures::stream::unfold((receiver, true), |(mut receiver, first)| async move {
        if !first && receiver.changed().await.is_err() {
            return None;
        }
        if first && receiver.borrow().is_none() && receiver.changed().await.is_err() {
            return None;
        }
        let update = receiver.borrow_and_update().clone();
        let event = match update {
            Some(update) => warp::sse::Event::default().event("deal").json_data(&update).unwrap_or_default(),
            None => warp::sse::Event::default().comment("waiting"),
        };
        Some((Ok::<_, std::convert::Infallible>(event), (receiver, false)))
    });
    Ok(warp::sse::reply(warp::sse::keep_alive().stream(updates)).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitlistView {
    /// 1-based place in line; null once offered.
    pub position: Option<usize>,
    /// The claim offered from returned units, if any.
    pub offer: Option<ClaimOfferView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimOfferView {
    pub reservation_id: String,
    pub status: String,
    pub expires_at: String,
}

fn waitlist_view(spot: crate::WaitlistSpot) -> WaitlistView {
    WaitlistView {
        position: spot.position,
        offer: spot.offer.map(|offer| ClaimOfferView {
            reservation_id: offer.id.to_string(),
            status: offer.status.as_str().to_owned(),
            expires_at: rfc3339(offer.expires_at),
        }),
    }
}

#[utoipa::path(
    post,
    path = "/v1/deals/{id}/waitlist",
    tag = "deals",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "on the waitlist (joining again keeps the first place); returned units are offered in order", body = WaitlistView),
        (status = 409, description = "conflict: the deal has units, claim instead", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn join_waitlist(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let spot = state.mercato.deals().join_waitlist(&deal_id(&id)?, &customer.id).await?;
    Ok(warp::reply::with_status(warp::reply::json(&waitlist_view(spot)), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/deals/{id}/waitlist",
    tag = "deals",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's place in line, or the claim offered to them", body = WaitlistView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn waitlist_spot(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let spot = state.mercato.deals().waitlist_spot(&deal_id(&id)?, &customer.id).await?;
    Ok(warp::reply::json(&waitlist_view(spot)))
}
