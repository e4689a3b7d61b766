//! Customers and sessions: registration, sign-in (merging a guest cart into
//! the customer's cart), and the signed-in customer.

use super::error::Problem;
use super::route::{route_path, Bearer, Content, FromClient, Json, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::engine::CartId;
use serde::{Deserialize, Serialize};
use std::future::ready;
use warp::http::StatusCode;
use warp::Reply;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    pub email: String,
    pub password: String,
    /// A guest cart to merge into the customer's cart at sign-in.
    pub guest_cart_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionView {
    token: String,
    customer_id: String,
    cart_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PrimeView {
    active: bool,
    plan: Option<String>,
    renews_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MeView {
    customer_id: String,
    email: String,
    name: String,
    #[schema(value_type = String, example = "customer")]
    role: crate::engine::Role,
    /// The seller whose products this customer manages, if any.
    seller_id: Option<String>,
    cart_id: String,
    prime: PrimeView,
}

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "customers"))
        .tag("customers")
        .input::<FromClient<Json<RegisterBody>>>()
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(201, "registered: {\"customer_id\"}", Content::Unspecified)
        .problem(409, "conflict (email exists)")
        .problem(422, "invalid-input")
        .problem(429, "rate-limited: too many from this address, or the password hashers are busy")
        .to(|state, (), (), (client, body)| register(state, client, body))
        .or(Route::post(route_path!("v1" / "sessions"))
            .tag("customers")
            .input::<FromClient<Json<SignInBody>>>()
            .responds(200, "a bearer token valid 30 days", Content::json::<SessionView>())
            .problem(401, "unauthorized")
            .problem(429, "rate-limited: too many from this address, locked out after failed sign-ins, or busy")
            .to(|state, (), (), (client, body)| sign_in(state, client, body)))
        .or(Route::delete(route_path!("v1" / "sessions" / "current"))
            .tag("customers")
            .signed_in()
            .input::<Bearer>()
            .responds(204, "signed out: the token stops working at once", Content::Unspecified)
            .problem(401, "unauthorized")
            .to(|state, _, (), token| sign_out(state, token)))
        .or(Route::get(route_path!("v1" / "me"))
            .tag("customers")
            .signed_in()
            .responds(200, "the signed-in customer", Content::json::<MeView>())
            .problem(401, "unauthorized")
            .problem(403, "forbidden")
            .to(|state, caller, (), ()| ready(me(state, caller))))
        .or(Route::put(route_path!("v1" / "admin" / "customers" / { id } / "seller"))
            .tag("customers")
            .admin()
            .json::<SellerBody>()
            .responds(
                200,
                "the customer now manages that seller's products: {\"customer_id\", \"seller_id\"}",
                Content::Unspecified,
            )
            .problem(404, "not-found")
            .problem(422, "invalid-input")
            .to(|state, _, (id,), body| assign_seller(state, id, body)))
        .or(Route::post(route_path!("v1" / "me" / "membership"))
            .tag("customers")
            .signed_in()
            .json::<MembershipBody>()
            .idempotent("retry safely: the first response is replayed for 24 h, never a second charge")
            .responds(201, "Prime started: {\"active\", \"plan\", \"renews_at\"}", Content::Unspecified)
            .problem(422, "invalid-input")
            .problem(401, "unauthorized")
            .problem(404, "not-found: the token is not one of the customer's cards (another's, removed or unknown)")
            .to(|state, caller, (), body| start_membership(state, caller, body)))
        .or(Route::delete(route_path!("v1" / "me" / "membership"))
            .tag("customers")
            .signed_in()
            .responds(200, "Prime ends at the end of the current period", Content::Unspecified)
            .problem(404, "no membership")
            .to(|state, caller, (), ()| cancel_membership(state, caller)))
}

/// The client's address as the auth limits and lockouts key it.
fn client_ip(client: Option<std::net::SocketAddr>) -> Option<std::net::IpAddr> {
    client.map(|addr| addr.ip())
}

async fn register(
    state: AppState,
    client: Option<std::net::SocketAddr>,
    body: RegisterBody,
) -> Result<impl Reply, Problem> {
    let address = client_ip(client).map(|ip| ip.to_string()).unwrap_or_default();
    state.claim_limits.admit_auth(&address, state.mercato.now())?;
    let customer = state.mercato.customers().register(&body.email, &body.password, &body.name).await?;
    let reply = serde_json::json!({"customer_id": customer.id.to_string()});
    Ok(warp::reply::with_status(warp::reply::json(&reply), StatusCode::CREATED))
}

async fn sign_in(
    state: AppState,
    client: Option<std::net::SocketAddr>,
    body: SignInBody,
) -> Result<impl Reply, Problem> {
    let address = client_ip(client).map(|ip| ip.to_string()).unwrap_or_default();
    state.claim_limits.admit_auth(&address, state.mercato.now())?;
    let (token, customer) =
        state.mercato.customers().sign_in_from(&body.email, &body.password, client_ip(client)).await?;
    let cart = state.mercato.customers().cart_id(&customer.id)?;
    state.mercato.carts().open(&cart).await?;
    if let Some(guest) = body.guest_cart_id {
        let guest = guest_cart(&guest)?;
        state.mercato.carts().merge(&guest, &cart).await?;
    }
    let view = SessionView { token, customer_id: customer.id.to_string(), cart_id: cart.to_string() };
    Ok(warp::reply::json(&view))
}

async fn sign_out(state: AppState, token: String) -> Result<impl Reply, Problem> {
    state.mercato.customers().sign_out(&token).await?;
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT))
}

fn me(state: AppState, caller: Caller) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let view = MeView {
        cart_id: state.mercato.customers().cart_id(&customer.id)?.to_string(),
        customer_id: customer.id.to_string(),
        email: customer.email.to_string(),
        name: customer.name,
        role: customer.role,
        seller_id: state.mercato.customers().seller_of(&customer.id).map(|seller| seller.to_string()),
        prime: prime_view(&state, &customer.id),
    };
    Ok(warp::reply::json(&view))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerBody {
    pub seller_id: String,
}

async fn assign_seller(state: AppState, id: String, body: SellerBody) -> Result<impl Reply, Problem> {
    let customer =
        crate::engine::CustomerId::parse(&id).map_err(|_| Problem::not_found(format!("customer {id} not found")))?;
    let seller =
        crate::engine::SellerId::parse(&body.seller_id).map_err(|err| Problem::invalid(format!("seller_id: {err}")))?;
    state.mercato.customers().assign_seller(&customer, seller.clone()).await?;
    Ok(warp::reply::json(&serde_json::json!({"customer_id": customer.to_string(), "seller_id": seller.to_string()})))
}

fn prime_view(state: &AppState, customer: &crate::engine::CustomerId) -> PrimeView {
    let now = state.mercato.now();
    match state.mercato.customers().membership(customer) {
        Some(membership) => PrimeView {
            active: membership.is_active(now),
            plan: Some(
                serde_json::to_value(membership.plan)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ),
            renews_at: membership.renews_at(now).map(super::dto::rfc3339),
        },
        None => PrimeView { active: false, plan: None, renews_at: None },
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipBody {
    /// `monthly` or `annual`.
    pub plan: String,
    /// One of the customer's own payment-method tokens (charged once
    /// checkout's payments exist).
    pub token: String,
}

async fn start_membership(state: AppState, caller: Caller, body: MembershipBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let plan =
        crate::engine::Plan::parse(&body.plan).ok_or_else(|| Problem::invalid("plan must be monthly or annual"))?;
    if body.token.trim().is_empty() {
        return Err(Problem::invalid("token: a payment-method token is required"));
    }
    let card = super::payment_methods::card_token(&body.token)?;
    state.mercato.customers().start_membership(&customer.id, plan, &card).await?;
    Ok(warp::reply::with_status(warp::reply::json(&prime_view(&state, &customer.id)), StatusCode::CREATED))
}

async fn cancel_membership(state: AppState, caller: Caller) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    if state.mercato.customers().cancel_membership(&customer.id).await?.is_none() {
        return Err(Problem::not_found("no membership"));
    }
    Ok(warp::reply::json(&prime_view(&state, &customer.id)))
}

/// A guest cart id from the client: never a customer's cart.
pub fn guest_cart(raw: &str) -> Result<CartId, Problem> {
    let not_found = || Problem::not_found(format!("cart {raw} not found"));
    if raw.starts_with(crate::CUSTOMER_CART_PREFIX) {
        return Err(not_found());
    }
    CartId::parse(raw).map_err(|_| not_found())
}
