//! Service routes: health, metrics and the OpenAPI document.

use super::error::Problem;
use super::route::{route_path, Content, Route, RouteFilter, Routes};
use super::AppState;
use std::future::ready;
use warp::Reply;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::get(route_path!("health"))
        .tag("service")
        .responds(200, "{\"status\":\"ok\"}", Content::Unspecified)
        .to(|_, (), (), ()| ready(Ok::<_, Problem>(health())))
        .or(Route::get(route_path!("metrics"))
            .tag("service")
            .responds(200, "Prometheus text format", Content::Media("text/plain"))
            .to(|state, (), (), ()| ready(Ok::<_, Problem>(metrics(state)))))
        .or(Route::get(route_path!("openapi.json"))
            .tag("service")
            .responds(200, "this document", Content::Unspecified)
            .to(|_, (), (), ()| ready(Ok::<_, Problem>(openapi()))))
}

fn health() -> warp::reply::Response {
    warp::reply::json(&serde_json::json!({"status": "ok"})).into_response()
}

fn metrics(state: AppState) -> warp::reply::Response {
    let body = state.metrics.render(&state.mercato.stats());
    warp::reply::with_header(body, "content-type", "text/plain; version=0.0.4").into_response()
}

fn openapi() -> warp::reply::Response {
    warp::reply::json(&super::openapi::document()).into_response()
}
