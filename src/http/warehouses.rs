//! Warehouse admin.

use super::dto::{self, WarehouseBody};
use super::error::{Problem, ProblemBody};
use super::{admin, idempotency, json_body_raw, respond, with_state, AppState};
use crate::engine::{GeoPoint, Warehouse};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("v1" / "admin" / "warehouses")
        .and(warp::post())
        .and(with_state())
        .and(admin())
        .and(idempotency::parts())
        .and(json_body_raw::<WarehouseBody>())
        .then(|state: AppState, _caller, parts, body, raw: bytes::Bytes| async move {
            idempotency::idempotent(&state.clone(), parts, "POST /v1/admin/warehouses", &raw, || async move {
                respond(create(state, body).await)
            })
            .await
        })
}

#[utoipa::path(
    post,
    path = "/v1/admin/warehouses",
    tag = "inventory",
    request_body = WarehouseBody,
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the first response is replayed for 24 h")),
    responses(
        (status = 201, description = "the warehouse", body = WarehouseBody),
        (status = 409, description = "conflict", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn create(state: AppState, body: WarehouseBody) -> Result<impl Reply, Problem> {
    let location = GeoPoint { lat: body.location.lat, lon: body.location.lon };
    let warehouse = Warehouse::new(dto::warehouse(&body.id)?, &body.name, location, &body.region)
        .map_err(|err| Problem::invalid(err.to_string()))?;
    let created = state.mercato.inventory().create_warehouse(warehouse).await?;
    Ok(warp::reply::with_status(warp::reply::json(&created), StatusCode::CREATED))
}
