//! Customers and sessions: registration, sign-in (merging a guest cart into
//! the customer's cart), and the signed-in customer.

use super::error::{Problem, ProblemBody};
use super::{idempotency, json_body, json_body_raw, respond, signed_in, with_state, AppState, Caller};
use crate::engine::CartId;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

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

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let register = warp::path!("v1" / "customers")
        .and(warp::post())
        .and(with_state())
        .and(idempotency::parts())
        .and(json_body_raw::<RegisterBody>())
        .then(|state: AppState, parts, body, raw: bytes::Bytes| async move {
            idempotency::idempotent(&state.clone(), parts, "POST /v1/customers", &raw, || async move {
                respond(register(state, body).await)
            })
            .await
        });
    let sign_in = warp::path!("v1" / "sessions")
        .and(warp::post())
        .and(with_state())
        .and(json_body::<SignInBody>())
        .then(|state, body| async move { respond(sign_in(state, body).await) });
    let me = warp::path!("v1" / "me")
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|state, caller| async move { respond(me(state, caller)) });
    let assign = warp::path!("v1" / "admin" / "customers" / String / "seller")
        .and(warp::put())
        .and(with_state())
        .and(super::admin())
        .and(json_body::<SellerBody>())
        .then(|id, state, _caller, body| async move { respond(assign_seller(state, id, body).await) });
    let join = warp::path!("v1" / "me" / "membership")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<MembershipBody>())
        .then(|state, caller, body| async move { respond(start_membership(state, caller, body).await) });
    let leave = warp::path!("v1" / "me" / "membership")
        .and(warp::delete())
        .and(with_state())
        .and(signed_in())
        .then(|state, caller| async move { respond(cancel_membership(state, caller).await) });
    register.or(sign_in).unify().or(me).unify().or(assign).unify().or(join).unify().or(leave).unify()
}

#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "customers",
    request_body = RegisterBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry safely: the first response is replayed for 24 h")),
    responses(
        (status = 201, description = "registered: {\"customer_id\"}"),
        (status = 409, description = "conflict (email exists)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn register(state: AppState, body: RegisterBody) -> Result<impl Reply, Problem> {
    let customer = state.mercato.customers().register(&body.email, &body.password, &body.name).await?;
    let reply = serde_json::json!({"customer_id": customer.id.to_string()});
    Ok(warp::reply::with_status(warp::reply::json(&reply), StatusCode::CREATED))
}

#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "customers",
    request_body = SignInBody,
    responses(
        (status = 200, description = "a bearer token valid 30 days", body = SessionView),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn sign_in(state: AppState, body: SignInBody) -> Result<impl Reply, Problem> {
    let (token, customer) = state.mercato.customers().sign_in(&body.email, &body.password).await?;
    let cart = state.mercato.customers().cart_id(&customer.id)?;
    state.mercato.carts().open(&cart).await?;
    if let Some(guest) = body.guest_cart_id {
        let guest = guest_cart(&guest)?;
        state.mercato.carts().merge(&guest, &cart).await?;
    }
    let view = SessionView { token, customer_id: customer.id.to_string(), cart_id: cart.to_string() };
    Ok(warp::reply::json(&view))
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "customers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the signed-in customer", body = MeView),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "forbidden", body = ProblemBody, content_type = "application/problem+json")
    )
)]
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

#[utoipa::path(
    put,
    path = "/v1/admin/customers/{id}/seller",
    tag = "customers",
    params(("id" = String, Path)),
    request_body = SellerBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the customer now manages that seller's products: {\"customer_id\", \"seller_id\"}"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
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
    /// A payment-method token (charged once checkout's payments exist).
    pub token: String,
}

#[utoipa::path(
    post,
    path = "/v1/me/membership",
    tag = "customers",
    request_body = MembershipBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Prime started: {\"active\", \"plan\", \"renews_at\"}"),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthorized", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn start_membership(state: AppState, caller: Caller, body: MembershipBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let plan =
        crate::engine::Plan::parse(&body.plan).ok_or_else(|| Problem::invalid("plan must be monthly or annual"))?;
    if body.token.trim().is_empty() {
        return Err(Problem::invalid("token: a payment-method token is required"));
    }
    state.mercato.customers().start_membership(&customer.id, plan).await?;
    Ok(warp::reply::with_status(warp::reply::json(&prime_view(&state, &customer.id)), StatusCode::CREATED))
}

#[utoipa::path(
    delete,
    path = "/v1/me/membership",
    tag = "customers",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prime ends at the end of the current period"),
        (status = 404, description = "no membership", body = ProblemBody, content_type = "application/problem+json")
    )
)]
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
