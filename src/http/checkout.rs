//! Checkout sessions, payment methods and gift cards.
//!
//! A step cannot be skipped: setting shipping before an address, payment
//! before shipping, or placing before payment is 409 `conflict` (the request
//! is well-formed but out of order for the checkout's current state).

use super::customers::guest_cart;
use super::dto::rfc3339;
use super::error::{Problem, ProblemBody};
use super::product_dto::MoneyBody;
use super::{admin, idempotency, json_body, respond, signed_in, with_state, AppState, Caller};
use crate::domains::checkout::CheckoutRecord;
use crate::engine::{
    AddressInput, CardInput, CardToken, CheckoutId, GiftCardCode, Money, PaymentChoice, PriceChange, ShippingOption,
};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CardView {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub cart_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingBody {
    pub option_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    pub token: Option<String>,
    pub gift_card: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftCardBody {
    pub balance: MoneyBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardView {
    pub code: String,
    #[schema(value_type = MoneyBody)]
    pub balance: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutLineView {
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: u32,
    #[schema(value_type = MoneyBody)]
    pub unit_price: Money,
    #[schema(value_type = MoneyBody)]
    pub line_total: Money,
    /// The deal claims (reservation ids) these units are, bought at the
    /// deal's price; empty for a line at the catalog price.
    pub claims: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceChangeView {
    pub sku: String,
    #[schema(value_type = MoneyBody)]
    pub was: Money,
    /// Null when the SKU can no longer be bought.
    #[schema(value_type = Option<MoneyBody>)]
    pub now: Option<Money>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutView {
    pub checkout_id: String,
    pub cart_id: String,
    /// `address`, `shipping`, `payment`, `review` or `placed`.
    pub step: String,
    pub lines: Vec<CheckoutLineView>,
    #[schema(value_type = MoneyBody)]
    pub subtotal: Money,
    /// Null until shipping is chosen (it depends on the address).
    #[schema(value_type = Option<MoneyBody>)]
    pub tax: Option<Money>,
    #[schema(value_type = Option<MoneyBody>)]
    pub shipping: Option<Money>,
    #[schema(value_type = Option<MoneyBody>)]
    pub total: Option<Money>,
    pub shipping_option: Option<String>,
    pub payment: Option<PaymentChoiceView>,
    /// Prices that changed since the checkout started; placing is refused
    /// (409) until they are accepted.
    pub price_changes: Vec<PriceChangeView>,
    pub order_id: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentChoiceView {
    pub token: Option<String>,
    pub gift_card: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ShippingOptionView {
    pub id: String,
    pub name: String,
    #[schema(value_type = MoneyBody)]
    pub price: Money,
    pub delivery_by: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ShippingOptionsView {
    pub items: Vec<ShippingOptionView>,
}

fn checkout_view(record: &CheckoutRecord, changes: Vec<PriceChange>) -> Result<CheckoutView, Problem> {
    let checkout = &record.checkout;
    let overflow = |err: crate::engine::MoneyError| Problem::invalid(err.to_string());
    let lines = checkout
        .lines
        .iter()
        .map(|line| {
            Ok(CheckoutLineView {
                sku: line.sku.to_string(),
                product_id: line.product_id.to_string(),
                title: line.title.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                line_total: line.line_total().map_err(overflow)?,
                claims: line.claims.iter().map(|claim| claim.id.to_string()).collect(),
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let subtotal = match checkout.totals {
        Some(totals) => totals.subtotal,
        None => checkout.subtotal().map_err(overflow)?,
    };
    Ok(CheckoutView {
        checkout_id: checkout.id.to_string(),
        cart_id: checkout.cart_id.to_string(),
        step: step_name(checkout.step).to_owned(),
        lines,
        subtotal,
        tax: checkout.totals.map(|totals| totals.tax),
        shipping: checkout.totals.map(|totals| totals.shipping),
        total: checkout.totals.map(|totals| totals.total),
        shipping_option: checkout.shipping.as_ref().map(|quote| quote.option.as_str().to_owned()),
        payment: checkout.payment.as_ref().map(|payment| PaymentChoiceView {
            token: payment.card.as_ref().map(ToString::to_string),
            gift_card: payment.gift_card.as_ref().map(ToString::to_string),
        }),
        price_changes: changes
            .into_iter()
            .map(|change| PriceChangeView { sku: change.sku.to_string(), was: change.was, now: change.now })
            .collect(),
        order_id: checkout.order_id.as_ref().map(ToString::to_string),
        created_at: rfc3339(checkout.created_at),
    })
}

fn step_name(step: crate::engine::CheckoutStep) -> &'static str {
    use crate::engine::CheckoutStep;
    match step {
        CheckoutStep::Address => "address",
        CheckoutStep::Shipping => "shipping",
        CheckoutStep::Payment => "payment",
        CheckoutStep::Review => "review",
        CheckoutStep::Placed => "placed",
    }
}

pub(super) fn checkout_id(raw: &str) -> Result<CheckoutId, Problem> {
    CheckoutId::parse(raw).map_err(|_| Problem::not_found(format!("checkout {raw} not found")))
}

pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let card = warp::path!("v1" / "payment-methods")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<CardBody>())
        .then(|state, caller, body| async move { respond(add_payment_method(state, caller, body).await) });
    let issue = warp::path!("v1" / "admin" / "gift-cards")
        .and(warp::post())
        .and(with_state())
        .and(admin())
        .and(json_body::<GiftCardBody>())
        .then(|state, _caller, body| async move { respond(issue_gift_card(state, body).await) });
    let balance = warp::path!("v1" / "gift-cards" / String)
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|code, state, _caller| async move { respond(gift_card(state, code).await) });
    let start = warp::path!("v1" / "checkouts")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<StartBody>())
        .then(|state, caller, body| async move { respond(start(state, caller, body).await) });
    let read = warp::path!("v1" / "checkouts" / String)
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(read(state, caller, id).await) });
    let address = warp::path!("v1" / "checkouts" / String / "address")
        .and(warp::put())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<AddressBody>())
        .then(|id, state, caller, body| async move { respond(set_address(state, caller, id, body).await) });
    let options = warp::path!("v1" / "checkouts" / String / "shipping-options")
        .and(warp::get())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(shipping_options(state, caller, id).await) });
    let shipping = warp::path!("v1" / "checkouts" / String / "shipping")
        .and(warp::put())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<ShippingBody>())
        .then(|id, state, caller, body| async move { respond(set_shipping(state, caller, id, body).await) });
    let payment = warp::path!("v1" / "checkouts" / String / "payment")
        .and(warp::put())
        .and(with_state())
        .and(signed_in())
        .and(json_body::<PaymentBody>())
        .then(|id, state, caller, body| async move { respond(set_payment(state, caller, id, body).await) });
    let accept = warp::path!("v1" / "checkouts" / String / "accept-prices")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .then(|id, state, caller| async move { respond(accept_prices(state, caller, id).await) });
    let place = warp::path!("v1" / "checkouts" / String / "place")
        .and(warp::post())
        .and(with_state())
        .and(signed_in())
        .and(idempotency::parts())
        .then(|id: String, state: AppState, caller: Caller, parts| async move {
            let route = format!("POST /v1/checkouts/{id}/place");
            idempotency::idempotent(&state.clone(), parts, &route, &[], || async move {
                respond(super::orders::place(state, caller, id).await)
            })
            .await
        });
    card.or(issue)
        .unify()
        .or(balance)
        .unify()
        .or(start)
        .unify()
        .or(read)
        .unify()
        .or(address)
        .unify()
        .or(options)
        .unify()
        .or(shipping)
        .unify()
        .or(payment)
        .unify()
        .or(accept)
        .unify()
        .or(place)
        .unify()
}

#[utoipa::path(
    post,
    path = "/v1/payment-methods",
    tag = "checkout",
    request_body = CardBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the card's token; the number and CVC are never stored or logged", body = CardView),
        (status = 422, description = "invalid-input: Luhn check failed, expired, bad CVC", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn add_payment_method(state: AppState, caller: Caller, body: CardBody) -> Result<impl Reply, Problem> {
    caller.customer()?;
    if body.kind != "card" {
        return Err(Problem::invalid("type must be \"card\""));
    }
    let month = u32::try_from(body.exp_month).map_err(|_| Problem::invalid("exp_month must be 1..=12"))?;
    let year = u32::try_from(body.exp_year).map_err(|_| Problem::invalid("exp_year is invalid"))?;
    let input = CardInput { number: body.number, exp_month: month, exp_year: year, cvc: body.cvc };
    let record = state.mercato.payments().add_payment_method(&input).await?;
    let brand = serde_json::to_value(record.brand).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let view = CardView {
        token: record.token.to_string(),
        brand,
        last4: record.last4,
        exp_month: record.exp_month,
        exp_year: record.exp_year,
    };
    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED))
}

#[utoipa::path(
    post,
    path = "/v1/admin/gift-cards",
    tag = "checkout",
    request_body = GiftCardBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "a new gift card", body = GiftCardView),
        (status = 422, description = "invalid-input", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn issue_gift_card(state: AppState, body: GiftCardBody) -> Result<impl Reply, Problem> {
    let balance = Money::new(body.balance.cents, body.balance.currency);
    let (code, balance) = state.mercato.payments().issue_gift_card(balance).await?;
    let view = GiftCardView { code: code.to_string(), balance };
    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED))
}

#[utoipa::path(
    get,
    path = "/v1/gift-cards/{code}",
    tag = "checkout",
    params(("code" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the gift card's balance", body = GiftCardView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn gift_card(state: AppState, code: String) -> Result<impl Reply, Problem> {
    let not_found = || Problem::not_found(format!("gift card {code} not found"));
    let parsed = GiftCardCode::parse(&code).map_err(|_| not_found())?;
    let balance = state.mercato.payments().gift_card_balance(&parsed).map_err(|_| not_found())?;
    Ok(warp::reply::json(&GiftCardView { code: parsed.to_string(), balance }))
}

#[utoipa::path(
    post,
    path = "/v1/checkouts",
    tag = "checkout",
    request_body = StartBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "{\"checkout_id\",\"step\":\"address\"} and the frozen lines", body = CheckoutView),
        (status = 404, description = "not-found: no such cart, or another customer's", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input: the cart is empty", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn start(state: AppState, caller: Caller, body: StartBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let own = state.mercato.customers().cart_id(&customer.id)?;
    let cart = if body.cart_id == "mine" || body.cart_id == own.as_str() {
        state.mercato.carts().open(&own).await?;
        own
    } else if body.cart_id.starts_with(crate::CUSTOMER_CART_PREFIX) {
        return Err(Problem::not_found(format!("cart {} not found", body.cart_id)));
    } else {
        guest_cart(&body.cart_id)?
    };
    let record = state.mercato.checkouts().start(&customer.id, &cart).await?;
    let view = checkout_view(&record, Vec::new())?;
    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED))
}

async fn reply(state: &AppState, record: &CheckoutRecord) -> Result<warp::reply::Json, Problem> {
    let changes = state.mercato.checkouts().price_changes(&record.checkout, &record.customer).await?;
    Ok(warp::reply::json(&checkout_view(record, changes)?))
}

#[utoipa::path(
    get,
    path = "/v1/checkouts/{id}",
    tag = "checkout",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "step, lines, subtotal, tax, shipping, total, price_changes", body = CheckoutView),
        (status = 404, description = "not-found (also another customer's)", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn read(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.checkouts().get(&customer.id, &checkout_id(&id)?).await?;
    reply(&state, &record).await
}

#[utoipa::path(
    put,
    path = "/v1/checkouts/{id}/address",
    tag = "checkout",
    params(("id" = String, Path)),
    request_body = AddressBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the checkout, now at `shipping` (later choices are cleared)", body = CheckoutView),
        (status = 422, description = "invalid-input: a field is missing or invalid", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn set_address(state: AppState, caller: Caller, id: String, body: AddressBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let input = AddressInput {
        name: body.name,
        line1: body.line1,
        line2: body.line2,
        city: body.city,
        region: body.region,
        postal_code: body.postal_code,
        country: body.country,
    };
    let address = crate::engine::Address::parse(&input).map_err(|err| Problem::invalid(err.to_string()))?;
    let record = state.mercato.checkouts().set_address(&customer.id, &checkout_id(&id)?, address).await?;
    reply(&state, &record).await
}

#[utoipa::path(
    get,
    path = "/v1/checkouts/{id}/shipping-options",
    tag = "checkout",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"items\":[{\"id\",\"name\",\"price\",\"delivery_by\"}]} from the warehouse that would ship", body = ShippingOptionsView),
        (status = 409, description = "conflict: no address yet", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn shipping_options(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let quotes = state.mercato.checkouts().shipping_options(&customer.id, &checkout_id(&id)?).await?;
    let items = quotes
        .into_iter()
        .map(|quote| ShippingOptionView {
            id: quote.option.as_str().to_owned(),
            name: quote.name,
            price: quote.price,
            delivery_by: rfc3339(quote.delivery_by),
        })
        .collect();
    Ok(warp::reply::json(&ShippingOptionsView { items }))
}

#[utoipa::path(
    put,
    path = "/v1/checkouts/{id}/shipping",
    tag = "checkout",
    params(("id" = String, Path)),
    request_body = ShippingBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the checkout with its totals, now at `payment`", body = CheckoutView),
        (status = 409, description = "conflict: the address step was skipped", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input: unknown option", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn set_shipping(state: AppState, caller: Caller, id: String, body: ShippingBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let option = ShippingOption::parse(&body.option_id).map_err(|err| Problem::invalid(err.to_string()))?;
    let record = state.mercato.checkouts().set_shipping(&customer.id, &checkout_id(&id)?, option).await?;
    reply(&state, &record).await
}

#[utoipa::path(
    put,
    path = "/v1/checkouts/{id}/payment",
    tag = "checkout",
    params(("id" = String, Path)),
    request_body = PaymentBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the checkout, now at `review`", body = CheckoutView),
        (status = 409, description = "conflict: the shipping step was skipped", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid-input: no or unknown payment method", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn set_payment(state: AppState, caller: Caller, id: String, body: PaymentBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let card = body
        .token
        .map(|raw| CardToken::parse(&raw).map_err(|_| Problem::invalid(format!("unknown card token {raw}"))))
        .transpose()?;
    let gift_card = body
        .gift_card
        .map(|raw| GiftCardCode::parse(&raw).map_err(|_| Problem::invalid(format!("unknown gift card {raw}"))))
        .transpose()?;
    let choice = PaymentChoice { card, gift_card };
    let record = state.mercato.checkouts().set_payment(&customer.id, &checkout_id(&id)?, choice).await?;
    reply(&state, &record).await
}

#[utoipa::path(
    post,
    path = "/v1/checkouts/{id}/accept-prices",
    tag = "checkout",
    params(("id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the checkout at the current prices; shipping and payment are cleared if any price changed", body = CheckoutView),
        (status = 404, description = "not-found", body = ProblemBody, content_type = "application/problem+json")
    )
)]
async fn accept_prices(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.checkouts().accept_prices(&customer.id, &checkout_id(&id)?).await?;
    reply(&state, &record).await
}
