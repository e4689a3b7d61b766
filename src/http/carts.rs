//! Guest carts: create, read and edit by unguessable id.

use super::dto::{self, AddItemBody, CartView, LineFacts, SetQuantityBody};
use super::error::Problem;
use super::{json_body, respond, with_state, AppState};
use crate::actors::cart::CartSnapshot;
use crate::engine::{CartId, Sku};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes(state: AppState) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let create = warp::path!("v1" / "carts")
        .and(warp::post())
        .and(with_state(state.clone()))
        .then(|state| async move { respond(create(state).await) });
    let read = warp::path!("v1" / "carts" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(|id, state| async move { respond(read(state, id).await) });
    let add = warp::path!("v1" / "carts" / String / "items")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(json_body::<AddItemBody>())
        .then(|id, state, body| async move { respond(add(state, id, body).await) });
    let set = warp::path!("v1" / "carts" / String / "items" / String)
        .and(warp::put())
        .and(with_state(state.clone()))
        .and(json_body::<SetQuantityBody>())
        .then(|id, sku, state, body| async move { respond(set(state, id, sku, body).await) });
    let remove = warp::path!("v1" / "carts" / String / "items" / String)
        .and(warp::delete())
        .and(with_state(state.clone()))
        .then(|id, sku, state| async move { respond(edit(state, id, sku, Edit::Remove).await) });
    let save = warp::path!("v1" / "carts" / String / "items" / String / "save-for-later")
        .and(warp::post())
        .and(with_state(state.clone()))
        .then(|id, sku, state| async move { respond(edit(state, id, sku, Edit::Save).await) });
    let restore = warp::path!("v1" / "carts" / String / "saved" / String / "move-to-cart")
        .and(warp::post())
        .and(with_state(state))
        .then(|id, sku, state| async move { respond(edit(state, id, sku, Edit::MoveToCart).await) });
    create.or(read).unify().or(add).unify().or(set).unify().or(remove).unify().or(save).unify().or(restore).unify()
}

fn cart_id(raw: &str) -> Result<CartId, Problem> {
    CartId::parse(raw).map_err(|_| Problem::not_found(format!("cart {raw} not found")))
}

fn line_sku(raw: &str) -> Result<Sku, Problem> {
    Sku::parse(raw).map_err(|_| Problem::not_found(format!("{raw} is not in the cart")))
}

/// The cart priced at the current catalog price, with each line's live
/// availability (from the stock board).
async fn view(state: &AppState, cart: CartSnapshot) -> Result<CartView, Problem> {
    Ok(CartView::new(cart, |line| {
        let product = state.mercato.product_of(&line.sku);
        LineFacts {
            product_id: product.as_ref().map(|product| product.id.to_string()),
            title: product.as_ref().map(|product| product.title.clone()),
            unit_price: product.as_ref().and_then(|product| product.variant(&line.sku)).map(|variant| variant.price),
            available_units: state.mercato.available(&line.sku),
        }
    }))
}

/// A SKU to put in a cart: it must be sold by a product of the catalog.
fn catalog_sku(state: &AppState, raw: &str) -> Result<Sku, Problem> {
    let sku = dto::sku(raw)?;
    if state.mercato.product_of(&sku).is_none() {
        return Err(Problem::not_found(format!("sku {sku} not found")));
    }
    Ok(sku)
}

async fn create(state: AppState) -> Result<impl Reply, Problem> {
    let cart = state.mercato.create_cart().await?;
    Ok(warp::reply::with_status(warp::reply::json(&view(&state, cart).await?), StatusCode::CREATED))
}

async fn read(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let cart = state.mercato.cart(&cart_id(&id)?).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

async fn add(state: AppState, id: String, body: AddItemBody) -> Result<impl Reply, Problem> {
    let max = state.mercato.config().cart_limits.quantity_per_line_max;
    let quantity = dto::quantity(body.quantity, max)?;
    let cart = state.mercato.add_to_cart(&cart_id(&id)?, catalog_sku(&state, &body.sku)?, quantity).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

async fn set(state: AppState, id: String, sku: String, body: SetQuantityBody) -> Result<impl Reply, Problem> {
    let max = state.mercato.config().cart_limits.quantity_per_line_max;
    let quantity = match body.quantity {
        0 => 0,
        raw => dto::quantity(raw, max)?,
    };
    let sku = if quantity == 0 { line_sku(&sku)? } else { catalog_sku(&state, &sku)? };
    let cart = state.mercato.set_cart_quantity(&cart_id(&id)?, sku, quantity).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

enum Edit {
    Remove,
    Save,
    MoveToCart,
}

async fn edit(state: AppState, id: String, sku: String, edit: Edit) -> Result<impl Reply, Problem> {
    let (id, sku) = (cart_id(&id)?, line_sku(&sku)?);
    let cart = match edit {
        Edit::Remove => state.mercato.remove_from_cart(&id, sku).await?,
        Edit::Save => state.mercato.save_for_later(&id, sku).await?,
        Edit::MoveToCart => state.mercato.move_to_cart(&id, sku).await?,
    };
    Ok(warp::reply::json(&view(&state, cart).await?))
}
