//! Service routes: health, metrics and the OpenAPI document.

use super::{with_state, AppState};
use warp::{Filter, Rejection, Reply};

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let health = warp::path!("health").and(warp::get()).map(health);
    let metrics = warp::path!("metrics").and(warp::get()).and(with_state()).map(metrics);
    let openapi = warp::path!("openapi.json").and(warp::get()).map(openapi);
    health.or(metrics).unify().or(openapi).unify()
}

#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, description = "{\"status\":\"ok\"}")))]
fn health() -> warp::reply::Response {
    warp::reply::json(&serde_json::json!({"status": "ok"})).into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
fn metrics(state: AppState) -> warp::reply::Response {
    let body = state.metrics.render(&state.mercato.stats());
    warp::reply::with_header(body, "content-type", "text/plain; version=0.0.4").into_response()
}

#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "this document")))]
fn openapi() -> warp::reply::Response {
    warp::reply::json(&super::openapi::document()).into_response()
}
