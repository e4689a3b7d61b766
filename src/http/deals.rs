//! Flash deals: admin creation, the deal's live view, and claims.

use super::dto::{self, parse_rfc3339, rfc3339};
use super::error::Problem;
use super::product_dto::MoneyBody;
use super::route::{query_param, route_path, Content, FromClient, Json, RawQuery, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::engine::deal::{DealError, DealStatus, DealTerms};
use crate::engine::{DealId, Money, ReservationId, Timestamp};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use warp::http::StatusCode;
use warp::Reply;

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
    /// How long a claim holds its units before it expires: 10..=3600,
    /// 600 when absent.
    pub claim_ttl_seconds: Option<i64>,
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
    /// How long a claim holds its units before it expires.
    pub claim_ttl_seconds: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DealListView {
    /// Soonest ending first.
    pub items: Vec<DealView>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/deals`'s query (parsed from the raw query: `status` repeats).
pub struct DealListQuery;

impl IntoParams for DealListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param::<String>(
                "status",
                false,
                "active, upcoming, sold_out or ended; several allowed; default active, sold_out and upcoming",
            ),
            query_param::<i64>("limit", false, "1..=100, default 20"),
            query_param::<String>("cursor", false, "next_cursor of the previous page"),
        ]
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimView {
    pub reservation_id: String,
    pub expires_at: String,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub quantity: u32,
}

pub fn routes() -> Routes<impl RouteFilter> {
    // The claim first: it is the stampede (see `super::table`).
    Route::post(route_path!("v1" / "deals" / {id} / "claims"))
        .tag("deals")
        .signed_in()
        .input::<FromClient<Json<ClaimBody>>>()
        .idempotent("a retry returns the same claim")
        .responds(201, "a hold on deal units, visible at /v1/reservations/{id}", Content::json::<ClaimView>())
        .problem(409, "deal-not-active, limit-exceeded or sold-out")
        .problem(401, "unauthorized")
        .problem(429, "rate-limited (with Retry-After)")
        .to(|state, caller, (id,), (client, body)| claim(state, caller, client, id, body))
        .or(Route::post(route_path!("v1" / "admin" / "deals"))
            .tag("deals")
            .admin()
            .json::<DealBody>()
            .idempotent("retry safely: the first response is replayed for 24 h")
            .responds(201, "created: {\"deal_id\"}", Content::Unspecified)
            .problem(409, "insufficient-stock")
            .problem(422, "invalid-input")
            .to(|state, _, (), body| create(state, body)))
        .or(Route::get(route_path!("v1" / "deals"))
            .tag("deals")
            .input::<RawQuery<DealListQuery>>()
            .responds(
                200,
                "deals soonest ending first, each as GET /v1/deals/{id} (countdown data: starts_at, ends_at, remaining)",
                Content::json::<DealListView>(),
            )
            .problem(422, "invalid-input: an unknown status, a bad limit or cursor")
            .to(|state, (), (), raw| list(state, raw)))
        .or(Route::post(route_path!("v1" / "admin" / "deals" / {id} / "end"))
            .tag("deals")
            .admin()
            .responds(
                200,
                "ended now (idempotent): unclaimed units are back in the SKU's stock, held claims stay valid until bought or expired",
                Content::json::<DealView>(),
            )
            .problem(404, "not-found")
            .to(|state, _, (id,), ()| end(state, id)))
        .or(Route::get(route_path!("v1" / "deals" / {id}))
            .tag("deals")
            .responds(200, "the deal with its remaining units", Content::json::<DealView>())
            .problem(404, "not-found")
            .to(|state, (), (id,), ()| read(state, id)))
        .or(Route::get(route_path!("v1" / "deals" / {id} / "events"))
            .tag("deals")
            .responds(
                200,
                "Server-Sent Events: `event: deal` with {\"deal_id\", \"remaining\", \"status\"}, at most ~10 per second",
                Content::Media("text/event-stream"),
            )
            .input::<FromClient<()>>()
            .problem(404, "not-found")
            .problem(429, "rate-limited: too many streams from this address, or in all")
            .to(|state, (), (id,), (client, ())| events(state, client, id)))
        .or(Route::post(route_path!("v1" / "deals" / {id} / "waitlist"))
            .tag("deals")
            .signed_in()
            .idempotent("retry safely: the first response is replayed for 24 h")
            .responds(
                201,
                "on the waitlist (joining again keeps the first place); returned units are offered in order",
                Content::json::<WaitlistView>(),
            )
            .problem(409, "conflict: the deal has units, claim instead")
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| join_waitlist(state, caller, id)))
        .or(Route::get(route_path!("v1" / "deals" / {id} / "waitlist"))
            .tag("deals")
            .signed_in()
            .responds(200, "the caller's place in line, or the claim offered to them", Content::json::<WaitlistView>())
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| waitlist_spot(state, caller, id)))
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
        claim_ttl_ms: claim_ttl_ms(body.claim_ttl_seconds)?,
    };
    let record = state.mercato.deals().create(terms).await?;
    let reply = serde_json::json!({"deal_id": record.terms.id.to_string()});
    Ok(warp::reply::with_status(warp::reply::json(&reply), StatusCode::CREATED))
}

/// `claim_ttl_seconds` in milliseconds (the deal's terms check the range).
fn claim_ttl_ms(seconds: Option<i64>) -> Result<Option<u64>, Problem> {
    seconds
        .map(|seconds| u64::try_from(seconds).map(|seconds| seconds.saturating_mul(1_000)))
        .transpose()
        .map_err(|_| Problem::invalid("claim_ttl_seconds must not be negative"))
}

async fn read(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let view = state.mercato.deals().get(&deal_id(&id)?).await?;
    Ok(warp::reply::json(&deal_view(&view)))
}

async fn end(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let view = state.mercato.deals().end(&deal_id(&id)?).await?;
    Ok(warp::reply::json(&deal_view(&view)))
}

fn parse_status(raw: &str) -> Result<DealStatus, Problem> {
    match raw {
        "active" => Ok(DealStatus::Active),
        "upcoming" => Ok(DealStatus::Upcoming),
        "sold_out" => Ok(DealStatus::SoldOut),
        "ended" => Ok(DealStatus::Ended),
        other => Err(Problem::invalid(format!("status must be active, upcoming, sold_out or ended, not {other}"))),
    }
}

/// A page cursor: the last deal's end (ms) and id.
fn cursor_text(cursor: &(Timestamp, DealId)) -> String {
    format!("{}.{}", cursor.0.as_millis(), cursor.1)
}

fn parse_cursor(raw: &str) -> Result<(Timestamp, DealId), Problem> {
    let bad = || Problem::invalid("bad cursor");
    let (millis, id) = raw.split_once('.').ok_or_else(bad)?;
    let millis: u64 = millis.parse().map_err(|_| bad())?;
    Ok((Timestamp::from_millis(millis), DealId::parse(id).map_err(|_| bad())?))
}

async fn list(state: AppState, raw: String) -> Result<impl Reply, Problem> {
    let mut statuses = Vec::new();
    let (mut limit, mut cursor) = (None, None);
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "status" => {
                for part in value.split(',').filter(|part| !part.is_empty()) {
                    let status = parse_status(part)?;
                    if !statuses.contains(&status) {
                        statuses.push(status);
                    }
                }
            }
            "limit" => limit = Some(value.parse::<i64>().map_err(|_| Problem::invalid("limit must be 1..=100"))?),
            "cursor" => cursor = Some(parse_cursor(&value)?),
            _ => {}
        }
    }
    if statuses.is_empty() {
        statuses = vec![DealStatus::Active, DealStatus::SoldOut, DealStatus::Upcoming];
    }
    let limit = dto::page_limit(limit)?;
    let (views, next) = state.mercato.deals().list(&statuses, limit, cursor.as_ref()).await?;
    let items = views.iter().map(deal_view).collect();
    Ok(warp::reply::json(&DealListView { items, next_cursor: next.as_ref().map(cursor_text) }))
}

fn deal_view(view: &crate::domains::deals::DealView) -> DealView {
    let terms = &view.record.terms;
    DealView {
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
        claim_ttl_seconds: view.claim_ttl_ms / 1_000,
    }
}

async fn claim(
    state: AppState,
    caller: Caller,
    client: Option<SocketAddr>,
    id: String,
    body: ClaimBody,
) -> Result<impl Reply, Problem> {
    let address = client.map(|addr| addr.ip().to_string()).unwrap_or_default();
    let customer = caller.customer()?;
    let _in_flight = state.claim_limits.admit(&customer.id, &address, state.mercato.now())?;
    let quantity = count("quantity", body.quantity)?;
    let prime = state.mercato.customers().is_prime(&customer.id);
    // A claim is its own idempotency record: its id comes from the key's
    // scope, so a retry finds it and is answered from it.
    let claim_id = super::idempotency::kept_by_action()
        .map(|scope| ReservationId::generate(state.mercato.idempotency().derived_id(&scope)));
    let claimed =
        match state.mercato.deals().claim_with_id(&deal_id(&id)?, &customer.id, quantity, prime, claim_id).await {
            Err(crate::Error::Deal(DealError::IdempotencyConflict { .. })) => {
                return Err(super::idempotency::key_reused());
            }
            other => other?,
        };
    let view = ClaimView {
        reservation_id: claimed.id.to_string(),
        expires_at: rfc3339(claimed.claim.expires_at),
        price: claimed.terms.price,
        quantity: claimed.claim.quantity,
    };
    let mut response = warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED).into_response();
    if claimed.replayed {
        super::idempotency::mark_replayed(&mut response);
    }
    Ok(response)
}

async fn events(state: AppState, client: Option<SocketAddr>, id: String) -> Result<warp::reply::Response, Problem> {
    let deal = deal_id(&id)?;
    state.mercato.deals().get(&deal).await?;
    let address = client.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |client| client.ip());
    let permit = state.feeds.admit(address)?;
    let receiver = state.feeds.subscribe(&state, &deal);
    // The permit lives as long as the stream; the stream ends at shutdown.
    let closed = state.feeds.closed();
    let updates = futures::stream::unfold((receiver, true, permit), |(mut receiver, first, permit)| async move {
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
        Some((Ok::<_, std::convert::Infallible>(event), (receiver, false, permit)))
    });
    let updates = futures::StreamExt::take_until(updates, closed);
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

async fn join_waitlist(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let spot = state.mercato.deals().join_waitlist(&deal_id(&id)?, &customer.id).await?;
    Ok(warp::reply::with_status(warp::reply::json(&waitlist_view(spot)), StatusCode::CREATED))
}

async fn waitlist_spot(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let spot = state.mercato.deals().waitlist_spot(&deal_id(&id)?, &customer.id).await?;
    Ok(warp::reply::json(&waitlist_view(spot)))
}
