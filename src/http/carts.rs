//! Guest carts: create, read and edit by unguessable id.

use super::customers::guest_cart;
use super::dto::{self, AddItemBody, CartView, SetQuantityBody};
use super::error::Problem;
use super::route::{route_path, Content, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::domains::carts::CartSnapshot;
use crate::engine::{CartId, Sku};
use warp::http::StatusCode;
use warp::Reply;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "carts"))
        .tag("carts")
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(201, "a new guest cart", Content::json::<CartView>())
        .to(|state, (), (), ()| create(state))
        .or(Route::post(route_path!("v1" / "carts" / "mine" / "merge"))
            .tag("carts")
            .signed_in()
            .json::<MergeBody>()
            .responds(200, "the customer's cart after the merge", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .to(|state, caller, (), body| merge(state, caller, body)))
        .or(Route::get(route_path!("v1" / "carts" / { id }))
            .tag("carts")
            .guest()
            .responds(200, "the cart, priced", Content::json::<CartView>())
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| read(state, caller, id)))
        .or(Route::post(route_path!("v1" / "carts" / { id } / "items"))
            .tag("carts")
            .guest()
            .json::<AddItemBody>()
            .responds(200, "the cart", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .problem(422, "invalid-input")
            .to(|state, caller, (id,), body| add(state, caller, id, body)))
        .or(Route::put(route_path!("v1" / "carts" / { id } / "items" / { sku }))
            .tag("carts")
            .guest()
            .json::<SetQuantityBody>()
            .responds(200, "the cart (0 removes the line)", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .problem(422, "invalid-input")
            .to(|state, caller, (id, sku), body| set(state, caller, id, sku, body)))
        .or(Route::delete(route_path!("v1" / "carts" / { id } / "items" / { sku }))
            .tag("carts")
            .guest()
            .responds(200, "removes the line", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .to(|state, caller, (id, sku), ()| edit(state, caller, id, sku, Edit::Remove)))
        .or(Route::post(route_path!("v1" / "carts" / { id } / "items" / { sku } / "save-for-later"))
            .tag("carts")
            .guest()
            .responds(200, "moves the line to saved", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .to(|state, caller, (id, sku), ()| edit(state, caller, id, sku, Edit::Save)))
        .or(Route::post(route_path!("v1" / "carts" / { id } / "saved" / { sku } / "move-to-cart"))
            .tag("carts")
            .guest()
            .responds(200, "moves the saved line back", Content::json::<CartView>())
            .problem(404, "not-found")
            .problem(409, "limit-exceeded")
            .to(|state, caller, (id, sku), ()| edit(state, caller, id, sku, Edit::MoveToCart)))
}

/// The cart a path names: `mine` is the signed-in customer's own cart
/// (opened on first use); anything else is a guest cart.
async fn cart_id(state: &AppState, caller: &Option<Caller>, raw: &str) -> Result<CartId, Problem> {
    if raw != "mine" {
        return guest_cart(raw);
    }
    let Some(Caller::Customer(customer)) = caller else {
        return Err(Problem::unauthorized("the 'mine' cart needs a customer token"));
    };
    let id = state.mercato.customers().cart_id(&customer.id)?;
    state.mercato.carts().open(&id).await?;
    Ok(id)
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    pub guest_cart_id: String,
}

async fn merge(state: AppState, caller: Caller, body: MergeBody) -> Result<impl Reply, Problem> {
    let into = cart_id(&state, &Some(caller), "mine").await?;
    let cart = state.mercato.carts().merge(&guest_cart(&body.guest_cart_id)?, &into).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

fn line_sku(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|_| Problem::not_found(format!("{raw} is not in the cart")))
}

/// The cart priced at the current catalog price, with each line's live
/// availability (from the stock board), as the embedded API prices it.
async fn view(state: &AppState, cart: CartSnapshot) -> Result<CartView, Problem> {
    Ok(CartView::from(state.mercato.carts().price(&cart)))
}

async fn create(state: AppState) -> Result<impl Reply, Problem> {
    let cart = state.mercato.carts().create().await?;
    Ok(warp::reply::with_status(warp::reply::json(&view(&state, cart).await?), StatusCode::CREATED))
}

async fn read(state: AppState, caller: Option<Caller>, id: String) -> Result<impl Reply, Problem> {
    let cart = state.mercato.carts().get(&cart_id(&state, &caller, &id).await?).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

async fn add(state: AppState, caller: Option<Caller>, id: String, body: AddItemBody) -> Result<impl Reply, Problem> {
    let max = state.mercato.config().cart_limits.quantity_per_line_max;
    let quantity = dto::quantity(body.quantity, max)?;
    let id = cart_id(&state, &caller, &id).await?;
    let cart = state.mercato.carts().add(&id, dto::sku(&body.sku)?, quantity).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

async fn set(
    state: AppState,
    caller: Option<Caller>,
    id: String,
    sku: String,
    body: SetQuantityBody,
) -> Result<impl Reply, Problem> {
    let max = state.mercato.config().cart_limits.quantity_per_line_max;
    let quantity = match body.quantity {
        0 => 0,
        raw => dto::quantity(raw, max)?,
    };
    let sku = if quantity == 0 { line_sku(&sku)? } else { dto::sku(&sku)? };
    let cart = state.mercato.carts().set_quantity(&cart_id(&state, &caller, &id).await?, sku, quantity).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

enum Edit {
    Remove,
    Save,
    MoveToCart,
}

async fn edit(
    state: AppState,
    caller: Option<Caller>,
    id: String,
    sku: String,
    edit: Edit,
) -> Result<impl Reply, Problem> {
    let (id, sku) = (cart_id(&state, &caller, &id).await?, line_sku(&sku)?);
    let cart = match edit {
        Edit::Remove => state.mercato.carts().remove(&id, sku).await?,
        Edit::Save => state.mercato.carts().save_for_later(&id, sku).await?,
        Edit::MoveToCart => state.mercato.carts().move_to_cart(&id, sku).await?,
    };
    Ok(warp::reply::json(&view(&state, cart).await?))
}
