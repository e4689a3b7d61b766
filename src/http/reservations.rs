//! Reservations (the raw two-phase primitive) and inventory admin.
//! Reservations are made by a customer (who then owns them) or the admin.

use super::dto::{self, CountsView, InventoryView, ReservationView, ReserveBody, StockBody};
use super::error::Problem;
use super::route::{route_path, Content, FromClient, Json, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::engine::{BucketKey, ReservationId};
use crate::{ReserveRequest, StockUpdate};
use warp::http::StatusCode;
use warp::Reply;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "reservations"))
        .tag("reservations")
        .signed_in()
        .input::<FromClient<Json<ReserveBody>>>()
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(201, "held", Content::json::<ReservationView>())
        .problem(409, "insufficient-stock, or limit-exceeded (a customer's 20 held reservations of 999 units)")
        .problem(422, "invalid-input or idempotency-key-reused")
        .problem(401, "unauthorized")
        .problem(429, "rate-limited, like deal claims")
        .to(|state, caller, (), (client, body)| create(state, caller, client, body))
        .or(Route::get(route_path!("v1" / "reservations" / { id }))
            .tag("reservations")
            .signed_in()
            .responds(200, "the reservation", Content::json::<ReservationView>())
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| read(state, caller, id)))
        .or(Route::post(route_path!("v1" / "reservations" / { id } / "commit"))
            .tag("reservations")
            .admin()
            .responds(200, "committed (idempotent)", Content::json::<ReservationView>())
            .problem(403, "forbidden: a customer's holds become sales only by placing an order")
            .problem(409, "hold-not-active")
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| commit(state, caller, id)))
        .or(Route::delete(route_path!("v1" / "reservations" / { id }))
            .tag("reservations")
            .signed_in()
            .responds(200, "released (idempotent)", Content::json::<ReservationView>())
            .problem(409, "hold-not-active")
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| release(state, caller, id)))
        .or(Route::get(route_path!("v1" / "inventory" / { sku }))
            .tag("inventory")
            .responds(200, "counts per warehouse and in total", Content::json::<InventoryView>())
            .problem(404, "not-found")
            .to(|state, (), (sku,), ()| inventory(state, sku)))
        .or(Route::put(route_path!("v1" / "admin" / "inventory" / { sku } / { warehouse }))
            .tag("inventory")
            .admin()
            .json::<StockBody>()
            .responds(200, "the bucket's new counts", Content::json::<CountsView>())
            .problem(404, "not-found")
            .problem(409, "conflict")
            .problem(422, "invalid-input")
            .to(|state, _, (sku, warehouse), body| set_stock(state, sku, warehouse, body)))
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

async fn create(
    state: AppState,
    caller: Caller,
    client: Option<std::net::SocketAddr>,
    body: ReserveBody,
) -> Result<impl Reply, Problem> {
    // A customer's reservations are limited as their deal claims are.
    let address = client.map(|addr| addr.ip().to_string()).unwrap_or_default();
    let _in_flight = match &caller {
        Caller::Customer(customer) => Some(state.claim_limits.admit(&customer.id, &address, state.mercato.now())?),
        Caller::Admin => None,
    };
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

async fn read(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().reservation(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

async fn commit(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().commit(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

async fn release(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let reservation = state.mercato.inventory().release(&reservation_id(&state, &caller, &id)?).await?;
    Ok(warp::reply::json(&ReservationView::from(reservation)))
}

async fn inventory(state: AppState, sku: String) -> Result<impl Reply, Problem> {
    let sku = dto::sku(&sku).map_err(|_| Problem::not_found(format!("sku {sku} not found")))?;
    let inventory = state.mercato.inventory().levels(&sku).await?;
    if inventory.warehouses.is_empty() {
        return Err(Problem::not_found(format!("sku {sku} not found")));
    }
    Ok(warp::reply::json(&InventoryView::from(inventory)))
}

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
