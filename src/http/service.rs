//! Service routes: health and metrics.

use super::{with_state, AppState};
use warp::{Filter, Rejection, Reply};

pub fn routes(state: AppState) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let health = warp::path!("health")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let metrics = warp::path!("metrics").and(warp::get()).and(with_state(state)).map(|state: AppState| {
        let body = state.metrics.render(&state.mercato.stats());
        warp::reply::with_header(body, "content-type", "text/plain; version=0.0.4").into_response()
    });
    health.or(metrics).unify()
}
