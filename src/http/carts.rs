//! Guest carts: create, read and edit by unguessable id.

use super::customers::guest_cart;
use super::dto::{self, AddItemBody, CartView, SetQuantityBody};
use super::error::{Problem, ProblemBody};
use super::{idempotency, json_body, maybe_signed_in, respond, signed_in, with_state, AppState, Caller};
use crate::domains::carts::CartSnapshot;
use crate::engine::{CartId, Sku};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let create = warp::path!("v1" / "carts").and(warp::post()).and(with_state()).and(idempotency::parts()).then(
        |state: AppState, parts| async move {
            idempotency::idempotent(&state.clone(), parts, "POST /v1/carts", &[], || async move {
                respond(create(state).await)
            })
            .await
        },
    );
    let merge = warp::path!("v1" / "carts" / "mine" / "merge")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<MergeBody>())
        .then(|state, caller, body| async move { respond(merge(state, caller, body).await) });
    let read = warp::path!("v1" / "carts" / String)
        .and(warp::get())
        .and(with_state())
        .and(maybe_signed_in())
        .then(|id, state, caller| async move { respond(read(state, caller, id).await) });
    let add = warp::path!("v1" / "carts" / String / "items")
        .and(warp::post())
        .and(with_state())
        .and(maybe_signed_in())
        .and(json_body::<AddItemBody>())
        .then(|id, state, caller, body| async move { respond(add(state, caller, id, body).await) });
    let set = warp::path!("v1" / "carts" / String / "items" / String)
        .and(warp::put())
        .and(with_state())
        .and(maybe_signed_in())
        .and(json_body::<SetQuantityBody>())
        .then(|id, sku, state, caller, body| async move { respond(set(state, caller, id, sku, body).await) });
    let remove = warp::path!("v1" / "carts" / String / "items" / String)
        .and(warp::delete())
        .and(with_state())
        .and(maybe_signed_in())
        .then(|id, sku, state, caller| async move { respond(remove(state, caller, id, sku).await) });
    let save = warp::path!("v1" / "carts" / String / "items" / String / "save-for-later")
        .and(warp::post())
        .and(with_state())
        .and(maybe_signed_in())
        .then(|id, sku, state, caller| async move { respond(save_for_later(state, caller, id, sku).await) });
    let restore = warp::path!("v1" / "carts" / String / "saved" / String / "move-to-cart")
        .and(warp::post())
        .and(with_state())
        .and(maybe_signed_in())
        .then(|id, sku, state, caller| async move { respond(move_to_cart(state, caller, id, sku).await) });
    create
        .or(merge)
        .unify()
        .or(read)
        .unify()
        .or(add)
        .unify()
        .or(set)
        .unify()
        .or(remove)
        .unify()
        .or(save)
        .unify()
        .or(restore)
        .unify()
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

#[utoipa::path(
    post,
    path = "/v1/carts/mine/merge",
    tag = "carts",
    request_body = MergeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the customer's cart after the merge", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json")
    )
)]
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

/// A SKU to put in a cart: it must be sold by a product of the catalog.
#[utoipa::path(
    post,
    path = "/v1/carts",
    tag = "carts",
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the first response is replayed for 24 h")),
    responses(
        (status = 201, description = "a new guest cart", body = CartView)
    )
)]
async fn create(state: AppState) -> Result<impl Reply, Problem> {
    let cart = state.mercato.carts().create().await?;
    Ok(warp::reply::with_status(warp::reply::json(&view(&state, cart).await?), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/carts/{id}",
    tag = "carts",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "the cart, priced", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn read(state: AppState, caller: Option<Caller>, id: String) -> Result<impl Reply, Problem> {
    let cart = state.mercato.carts().get(&cart_id(&state, &caller, &id).await?).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

#[utoipa::path(
    post,
    path = "/v1/carts/{id}/items",
    tag = "carts",
    params(("id" = String, Path)),
    request_body = AddItemBody,
    responses(
        (status = 200, description = "the cart", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn add(state: AppState, caller: Option<Caller>, id: String, body: AddItemBody) -> Result<impl Reply, Problem> {
    let max = state.mercato.config().cart_limits.quantity_per_line_max;
    let quantity = dto::quantity(body.quantity, max)?;
    let id = cart_id(&state, &caller, &id).await?;
    let cart = state.mercato.carts().add(&id, dto::sku(&body.sku)?, quantity).await?;
    Ok(warp::reply::json(&view(&state, cart).await?))
}

#[utoipa::path(
    put,
    path = "/v1/carts/{id}/items/{sku}",
    tag = "carts",
    params(("id" = String, Path), ("sku" = String, Path)),
    request_body = SetQuantityBody,
    responses(
        (status = 200, description = "the cart (0 removes the line)", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
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

#[utoipa::path(
    delete,
    path = "/v1/carts/{id}/items/{sku}",
    tag = "carts",
    params(("id" = String, Path), ("sku" = String, Path)),
    responses(
        (status = 200, description = "removes the line", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn remove(state: AppState, caller: Option<Caller>, id: String, sku: String) -> Result<impl Reply, Problem> {
    edit(state, caller, id, sku, Edit::Remove).await
}

#[utoipa::path(
    post,
    path = "/v1/carts/{id}/items/{sku}/save-for-later",
    tag = "carts",
    params(("id" = String, Path), ("sku" = String, Path)),
    responses(
        (status = 200, description = "moves the line to saved", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn save_for_later(
    state: AppState,
    caller: Option<Caller>,
    id: String,
    sku: String,
) -> Result<impl Reply, Problem> {
    edit(state, caller, id, sku, Edit::Save).await
}

#[utoipa::path(
    post,
    path = "/v1/carts/{id}/saved/{sku}/move-to-cart",
    tag = "carts",
    params(("id" = String, Path), ("sku" = String, Path)),
    responses(
        (status = 200, description = "moves the saved line back", body = CartView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "limit-exceeded", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn move_to_cart(state: AppState, caller: Option<Caller>, id: String, sku: String) -> Result<impl Reply, Problem> {
    edit(state, caller, id, sku, Edit::MoveToCart).await
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
