//! Service routes: health, readiness, metrics and the OpenAPI document.

use super::error::Problem;
use super::route::{route_path, Content, MaybeBearer, Route, RouteFilter, Routes};
use super::{constant_time_eq, AppState};
use std::future::ready;
use std::sync::atomic::Ordering;
use warp::http::StatusCode;
use warp::Reply;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::get(route_path!("health"))
        .tag("service")
        .responds(
            200,
            "{\"status\":\"ok\"}, and \"mode\":\"load-test\" on a server started with --load-test-mode",
            Content::Unspecified,
        )
        .to(|state, (), (), ()| ready(Ok::<_, Problem>(health(state))))
        .or(Route::get(route_path!("ready"))
            .tag("service")
            .responds(200, "{\"status\":\"ready\"}: the data is open and recovered", Content::Unspecified)
            .problem(503, "unavailable: shutting down")
            .to(|state, (), (), ()| ready(readiness(state))))
        .or(Route::get(route_path!("metrics"))
            .tag("service")
            .input::<MaybeBearer>()
            .responds(200, "Prometheus text format", Content::Media("text/plain"))
            .problem(401, "unauthorized: the server has a metrics token and it was not given")
            .to(|state, (), (), token| ready(metrics(state, token))))
        .or(Route::get(route_path!("openapi.json"))
            .tag("service")
            .responds(200, "this document", Content::Unspecified)
            .to(|_, (), (), ()| ready(Ok::<_, Problem>(openapi()))))
}

fn health(state: AppState) -> warp::reply::Response {
    let body = if state.mercato.config().load_test_mode {
        serde_json::json!({"status": "ok", "mode": "load-test"})
    } else {
        serde_json::json!({"status": "ok"})
    };
    warp::reply::json(&body).into_response()
}

/// Ready while the server serves: the state exists only once the data is
/// open and recovered, and stops being ready when shutdown begins.
fn readiness(state: AppState) -> Result<warp::reply::Response, Problem> {
    if !state.ready.load(Ordering::Acquire) || !state.mercato.is_ready() {
        return Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server is shutting down"));
    }
    Ok(warp::reply::json(&serde_json::json!({"status": "ready"})).into_response())
}

fn metrics(state: AppState, token: Option<String>) -> Result<warp::reply::Response, Problem> {
    if let Some(expected) = &state.metrics_token {
        let given = token.as_deref().unwrap_or_default().as_bytes();
        if !constant_time_eq(given, expected.as_bytes()) && !constant_time_eq(given, state.admin_token.as_bytes()) {
            return Err(Problem::unauthorized("the metrics token (or the admin token) is required"));
        }
    }
    let body = state.metrics.render(&state.mercato.stats());
    Ok(warp::reply::with_header(body, "content-type", "text/plain; version=0.0.4").into_response())
}

fn openapi() -> warp::reply::Response {
    warp::reply::json(&super::openapi::document()).into_response()
}
