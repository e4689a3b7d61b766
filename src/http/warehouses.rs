//! Warehouse admin.

use super::dto::{self, WarehouseBody};
use super::error::Problem;
use super::route::{route_path, Content, Route, RouteFilter, Routes};
use super::AppState;
use crate::engine::{GeoPoint, Warehouse};
use warp::http::StatusCode;
use warp::Reply;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "admin" / "warehouses"))
        .tag("inventory")
        .admin()
        .json::<WarehouseBody>()
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(201, "the warehouse", Content::json::<WarehouseBody>())
        .problem(409, "conflict")
        .problem(422, "invalid-input")
        .to(|state, _, (), body| create(state, body))
}

async fn create(state: AppState, body: WarehouseBody) -> Result<impl Reply, Problem> {
    let location = GeoPoint { lat: body.location.lat, lon: body.location.lon };
    let warehouse = Warehouse::new(dto::warehouse(&body.id)?, &body.name, location, &body.region)
        .map_err(|err| Problem::invalid(err.to_string()))?;
    let created = state.mercato.inventory().create_warehouse(warehouse).await?;
    Ok(warp::reply::with_status(warp::reply::json(&created), StatusCode::CREATED))
}
