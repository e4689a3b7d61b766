//! Customers and sessions: registration, sign-in (merging a guest cart into
//! the customer's cart), and the signed-in customer.

use super::error::Problem;
use super::product_dto::MoneyBody;
use super::route::{route_path, Bearer, Content, FromClient, Json, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::engine::membership::PaidMembership;
use crate::engine::{CartId, Money};
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
            .idempotent("retry safely: the first response is replayed for 24 h (and the charge is never repeated)")
            .responds(201, "Prime started, its first period charged", Content::json::<MembershipView>())
            .problem(402, "payment-declined: nothing started")
            .problem(409, "conflict: a membership is active already")
            .problem(422, "invalid-input")
            .problem(401, "unauthorized")
            .problem(404, "not-found: the token is not one of the customer's cards (another's, removed or unknown)")
            .to(|state, caller, (), body| start_membership(state, caller, body)))
        .or(Route::get(route_path!("v1" / "me" / "membership"))
            .tag("customers")
            .signed_in()
            .responds(200, "the membership, its charges and savings", Content::json::<MembershipView>())
            .problem(401, "unauthorized")
            .problem(404, "not-found: the customer never had a membership")
            .to(|state, caller, (), ()| read_membership(state, caller)))
        .or(Route::put(route_path!("v1" / "me" / "membership"))
            .tag("customers")
            .signed_in()
            .json::<MembershipCardBody>()
            .responds(200, "renewals are charged to this card from now on", Content::json::<MembershipView>())
            .problem(401, "unauthorized")
            .problem(404, "not-found: no membership, or the token is not one of the customer's cards")
            .problem(422, "invalid-input")
            .to(|state, caller, (), body| set_membership_card(state, caller, body)))
        .or(Route::delete(route_path!("v1" / "me" / "membership"))
            .tag("customers")
            .signed_in()
            .responds(
                200,
                "Prime ends at the end of the current period, with no renewal charge",
                Content::json::<MembershipView>(),
            )
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
            plan: Some(plan_name(membership.plan)),
            renews_at: (!membership.cancel_at_period_end && membership.is_active(now))
                .then(|| super::dto::rfc3339(membership.renews_at)),
        },
        None => PrimeView { active: false, plan: None, renews_at: None },
    }
}

fn plan_name(plan: crate::engine::Plan) -> String {
    match plan {
        crate::engine::Plan::Monthly => "monthly",
        crate::engine::Plan::Annual => "annual",
    }
    .to_owned()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipBody {
    /// `monthly` or `annual`.
    pub plan: String,
    /// One of the customer's own payment-method tokens: charged the plan's
    /// price now, and each renewal later.
    pub token: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipCardBody {
    /// One of the customer's own payment-method tokens.
    pub token: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SavingsView {
    /// Shipping a member did not pay (standard price minus what they paid).
    #[schema(value_type = MoneyBody)]
    shipping: Money,
    /// List price minus deal price of the deal units bought.
    #[schema(value_type = MoneyBody)]
    deals: Money,
    #[schema(value_type = MoneyBody)]
    total: Money,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChargeView {
    #[schema(value_type = MoneyBody)]
    amount: Money,
    at: String,
    /// The period it pays for (1 = the first).
    period: u32,
    /// `approved` or `declined`.
    outcome: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MembershipView {
    /// Prime benefits apply now (`active`, `past_due`, or `cancelled` before `renews_at`).
    active: bool,
    /// `active`, `past_due`, `cancelled` or `lapsed`.
    status: String,
    plan: String,
    #[schema(value_type = MoneyBody)]
    price: Money,
    started_at: String,
    /// When the current period ends: the next charge, or the end once cancelled.
    renews_at: String,
    cancel_at_period_end: bool,
    savings: SavingsView,
    /// Every charge made, oldest first.
    charges: Vec<ChargeView>,
}

fn membership_view(state: &AppState, membership: &PaidMembership) -> MembershipView {
    let now = state.mercato.now();
    let savings = membership.savings;
    MembershipView {
        active: membership.is_active(now),
        status: membership.status_name(now).to_owned(),
        plan: plan_name(membership.plan),
        price: membership.price,
        started_at: super::dto::rfc3339(membership.started_at),
        renews_at: super::dto::rfc3339(membership.renews_at),
        cancel_at_period_end: membership.cancel_at_period_end,
        savings: SavingsView {
            shipping: savings.shipping,
            deals: savings.deals,
            total: savings.shipping.checked_add(savings.deals).unwrap_or(savings.shipping),
        },
        charges: membership
            .charges
            .iter()
            .map(|charge| ChargeView {
                amount: charge.amount,
                at: super::dto::rfc3339(charge.at),
                period: charge.period,
                outcome: if charge.approved { "approved" } else { "declined" }.to_owned(),
            })
            .collect(),
    }
}

fn card_token(raw: &str) -> Result<crate::engine::CardToken, Problem> {
    if raw.trim().is_empty() {
        return Err(Problem::invalid("token: a payment-method token is required"));
    }
    super::payment_methods::card_token(raw)
}

async fn start_membership(state: AppState, caller: Caller, body: MembershipBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let plan =
        crate::engine::Plan::parse(&body.plan).ok_or_else(|| Problem::invalid("plan must be monthly or annual"))?;
    let card = card_token(&body.token)?;
    let membership = state.mercato.customers().start_membership(&customer.id, plan, &card).await?;
    Ok(warp::reply::with_status(warp::reply::json(&membership_view(&state, &membership)), StatusCode::CREATED))
}

async fn read_membership(state: AppState, caller: Caller) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let membership = state.mercato.customers().current_membership(&customer.id).await?;
    let membership = membership.ok_or_else(|| Problem::not_found("no membership"))?;
    Ok(warp::reply::json(&membership_view(&state, &membership)))
}

async fn set_membership_card(state: AppState, caller: Caller, body: MembershipCardBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let card = card_token(&body.token)?;
    let membership = state.mercato.customers().set_membership_card(&customer.id, &card).await?;
    let membership = membership.ok_or_else(|| Problem::not_found("no membership"))?;
    Ok(warp::reply::json(&membership_view(&state, &membership)))
}

async fn cancel_membership(state: AppState, caller: Caller) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let membership = state.mercato.customers().cancel_membership(&customer.id).await?;
    let membership = membership.ok_or_else(|| Problem::not_found("no membership"))?;
    Ok(warp::reply::json(&membership_view(&state, &membership)))
}

/// A guest cart id from the client: never a customer's cart.
pub fn guest_cart(raw: &str) -> Result<CartId, Problem> {
    let not_found = || Problem::not_found(format!("cart {raw} not found"));
    if raw.starts_with(crate::CUSTOMER_CART_PREFIX) {
        return Err(not_found());
    }
    CartId::parse(raw).map_err(|_| not_found())
}
