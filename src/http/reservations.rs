//! Reservations (the raw two-phase primitive) and inventory admin.
//! Reservations are made by a customer (who then owns them) or the admin.

use super::dto::{self, CountsView, InventoryView, ReservationView, ReserveBody, StockBody};
use super::error::{Problem, ProblemBody};
use super::{admin, idempotency, json_body, json_body_raw, respond, signed_in, with_state, AppState, Caller};
use crate::engine::{BucketKey, ReservationId};
use crate::{ReserveRequest, StockUpdate};
use bytes::Bytes;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let create = warp::path!("v1" / "reservations")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(idempotency::parts())
        .and(json_body_raw::<ReserveBody>())
        .then(|state: AppState, caller, parts, body, raw: Bytes| async move {
            idempotency::idempotent(&state.clone(), parts, "POST /v1/reservations", &raw, || async move {
                respond(create(state, caller, body).await)
            })
            .await
        });
    let read = warp::path!("v1" / "reservations" / String)
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(read(state, caller, id).await) });
    let commit = warp::path!("v1" / "reservations" / String / "commit")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(commit(state, caller, id).await) });
    let release = warp::path!("v1" / "reservations" / String)
        .and(warp::delete())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(release(state, caller, id).await) });
    let inventory = warp::path!("v1" / "inventory" / String)
        .and(warp::get())
        .and(with_state())
        .then(|sku, state| async move { respond(inventory(state, sku).await) });
    let set_stock = warp::path!("v1" / "admin" / "inventory" / String / String)
        .and(warp::put())
        .and(with_state())
        .and(admin())
        .and(json_body::<StockBody>())
        .then(
            |sku, warehouse, state, _caller, body| async move { respond(set_stock(state, sku, warehouse, body).await) },
        );
    create.or(read).unify().or(commit).unify().or(release).unify().or(inventory).unify().or(set_stock).unify()
}

/// A reservation the caller may see: the admin sees all, a customer only
/// their own (another customer's is 404, as if it did not exist).
fn reservation_id(state: &AppState, caller: &Caller, raw: &str) -> Result<ReservationId, Problem> {
    let not_found = || Problem::not_found(format!("reservation {raw} not found"));
    let id = ReservationId::parse(raw).map_err(|_| not_found())?;
    match caller {
        Caller::Admin => Ok(id),
        Caller::Customer(customer) if state.mercato.inventory().owner_of(&id).as_ref() == Some(&customer.id) => Ok(id),
        Caller::Customer(_) => Err(not_found()),
    }
}

#[utoipa::path(
    post,
    path = "/v1/reservations",
    tag = "reservations",
    request_body = ReserveBody,
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the first response is replayed for 24 h")),
    responses(
        (status = 201, description = "held", body = ReservationView),
        (status = 409, description = "insufficient-stock", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input or idempotency-key-reused", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn create(state: AppState, caller: Caller, body: ReserveBody) -> Result<impl Reply, Problem> {
    let config = state.mercato.config();
    let quantity = dto::quantity(body.quantity, u32::MAX)?;
    let ttl_seconds =
        body.ttl_seconds.unwrap_or(i64::try_from(config.reservation_ttl_default_ms / 1000).unwrap_or(600));
    let ttl_max_seconds = i64::try_from(config.reservation_ttl_max_ms / 1000).unwrap_or(3600);
    if !(1..=ttl_max_seconds).contains(&ttl_seconds) {
        return Err(Problem::invalid(format!("ttl_seconds must be 1..={ttl_max_seconds}")));
    }
    let mut request = ReserveRequest::new(dto::sku(&body.sku)?, quantity).ttl_ms(ttl_seconds.unsigned_abs() * 1000);
    if let Some(warehouse) = &body.warehouse {
        request = request.warehouse(dto::warehouse(warehouse)?);
    }
    let reservation = match &caller {
        Caller::Admin => state.mercato.inventory().reserve(request).await?,
        Caller::Customer(customer) => state.mercato.inventory().reserve_for(&customer.id, request).await?,
    };
    Ok(warp::reply::with_status(warp::reply::json(&ReservationView::from(reservation)), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/reservations/{id}",
    tag = "reservations",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the reservation", body = ReservationView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn read(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().reservation(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

#[utoipa::path(
    post,
    path = "/v1/reservations/{id}/commit",
    tag = "reservations",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "committed (idempotent)", body = ReservationView),
        (status = 409, description = "hold-not-active", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn commit(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().commit(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

#[utoipa::path(
    delete,
    path = "/v1/reservations/{id}",
    tag = "reservations",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "released (idempotent)", body = ReservationView),
        (status = 409, description = "hold-not-active", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn release(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().release(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

#[utoipa::path(
    get,
    path = "/v1/inventory/{sku}",
    tag = "inventory",
    params(("sku" = String, Path)),
    responses(
        (status = 200, description = "counts per warehouse and in total", body = InventoryView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn inventory(state: AppState, sku: String) -> Result<impl Reply, Problem> {
    let sku = dto::sku(&sku).map_err(|_| Problem::not_found(format!("sku {sku} not found")))?;
    let inventory = state.mercato.inventory().levels(&sku).await?;
    if inventory.warehouses.is_empty() {
        return Err(Problem::not_found(format!("sku {sku} not found")));
    }
    Ok(warp::reply::json(&InventoryView::from(inventory)))
}

#[utoipa::path(
    put,
    path = "/v1/admin/inventory/{sku}/{warehouse}",
    tag = "inventory",
    params(("sku" = String, Path), ("warehouse" = String, Path)),
    request_body = StockBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the bucket's new counts", body = CountsView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "conflict", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn set_stock(state: AppState, sku: String, warehouse: String, body: StockBody) -> Result<impl Reply, Problem> {
    if body.on_hand.is_none() && body.safety_stock.is_none() {
        return Err(Problem::invalid("give on_hand, safety_stock or both"));
    }
    let update = StockUpdate {
        on_hand: body.on_hand.map(|raw| dto::count("on_hand", raw)).transpose()?,
        safety_stock: body.safety_stock.map(|raw| dto::count("safety_stock", raw)).transpose()?,
    };
    let warehouse =
        dto::warehouse(&warehouse).map_err(|_| Problem::not_found(format!("warehouse {warehouse} not found")))?;
    if state.mercato.inventory().warehouse(&warehouse).is_none() {
        return Err(crate::Error::WarehouseNotFound(warehouse).into());
    }
    let bucket = BucketKey::new(dto::sku(&sku)?, warehouse);
    let counts = state.mercato.inventory().set_stock(bucket, update).await?;
    Ok(warp::reply::json(&CountsView::from(counts)))
}
