//! Checkout sessions, payment methods and gift cards.
//!
//! A step cannot be skipped: setting shipping before an address, payment
//! before shipping, or placing before payment is 409 `conflict` (the request
//! is well-formed but out of order for the checkout's current state).

use super::customers::guest_cart;
use super::dto::rfc3339;
use super::error::Problem;
use super::product_dto::MoneyBody;
use super::route::{route_path, Content, FromClient, Json, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::domains::checkout::CheckoutRecord;
use crate::engine::{AddressInput, CheckoutId, GiftCardCode, Money, PaymentChoice, PriceChange, ShippingOption};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use warp::http::StatusCode;
use warp::Reply;

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

/// A gift card's code, asked about in a body so it never shows in a URL.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftCardCodeBody {
    pub code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GiftCardBalanceView {
    #[schema(value_type = MoneyBody)]
    pub balance: Money,
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

pub fn routes() -> Routes<impl RouteFilter> {
    // Saving a card is a payment-methods route (`super::payment_methods`);
    // placing a checkout is an orders route (`super::orders`), tried right
    // after these.
    Route::post(route_path!("v1" / "admin" / "gift-cards"))
        .tag("checkout")
        .admin()
        .json::<GiftCardBody>()
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(201, "a new gift card", Content::json::<GiftCardView>())
        .problem(422, "invalid-input")
        .to(|state, _, (), body| issue_gift_card(state, body))
        .or(Route::post(route_path!("v1" / "gift-cards" / "balance"))
            .tag("checkout")
            .guest()
            .input::<FromClient<Json<GiftCardCodeBody>>>()
            .responds(
                200,
                "the gift card's balance (the code travels in the body, never in a URL)",
                Content::json::<GiftCardBalanceView>(),
            )
            .problem(404, "not-found: no such gift card")
            .problem(429, "rate-limited: too many balance checks from this caller or address")
            .to(|state, caller, (), (client, body)| gift_card_balance(state, caller, client, body)))
        .or(Route::post(route_path!("v1" / "checkouts"))
            .tag("checkout")
            .signed_in()
            .json::<StartBody>()
            .idempotent("retry safely: the first response is replayed for 24 h")
            .responds(
                201,
                "{\"checkout_id\",\"step\":\"address\"} and the frozen lines",
                Content::json::<CheckoutView>(),
            )
            .problem(404, "not-found: no such cart, or another customer's")
            .problem(422, "invalid-input: the cart is empty")
            .to(|state, caller, (), body| start(state, caller, body)))
        .or(Route::get(route_path!("v1" / "checkouts" / { id }))
            .tag("checkout")
            .signed_in()
            .responds(
                200,
                "step, lines, subtotal, tax, shipping, total, price_changes",
                Content::json::<CheckoutView>(),
            )
            .problem(404, "not-found (also another customer's)")
            .to(|state, caller, (id,), ()| read(state, caller, id)))
        .or(Route::put(route_path!("v1" / "checkouts" / { id } / "address"))
            .tag("checkout")
            .signed_in()
            .json::<AddressBody>()
            .responds(
                200,
                "the checkout, now at `shipping` (later choices are cleared)",
                Content::json::<CheckoutView>(),
            )
            .problem(422, "invalid-input: a field is missing or invalid")
            .problem(404, "not-found")
            .to(|state, caller, (id,), body| set_address(state, caller, id, body)))
        .or(Route::get(route_path!("v1" / "checkouts" / { id } / "shipping-options"))
            .tag("checkout")
            .signed_in()
            .responds(
                200,
                "{\"items\":[{\"id\",\"name\",\"price\",\"delivery_by\"}]} from the warehouse that would ship",
                Content::json::<ShippingOptionsView>(),
            )
            .problem(409, "conflict: no address yet")
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| shipping_options(state, caller, id)))
        .or(Route::put(route_path!("v1" / "checkouts" / { id } / "shipping"))
            .tag("checkout")
            .signed_in()
            .json::<ShippingBody>()
            .responds(200, "the checkout with its totals, now at `payment`", Content::json::<CheckoutView>())
            .problem(409, "conflict: the address step was skipped")
            .problem(422, "invalid-input: unknown option")
            .to(|state, caller, (id,), body| set_shipping(state, caller, id, body)))
        .or(Route::put(route_path!("v1" / "checkouts" / { id } / "payment"))
            .tag("checkout")
            .signed_in()
            .json::<PaymentBody>()
            .responds(200, "the checkout, now at `review`", Content::json::<CheckoutView>())
            .problem(409, "conflict: the shipping step was skipped")
            .problem(422, "invalid-input: no payment method, or an unknown gift card")
            .problem(
                404,
                "not-found: the checkout, or a card token not of this customer's cards (another's, removed or unknown)",
            )
            .to(|state, caller, (id,), body| set_payment(state, caller, id, body)))
        .or(Route::post(route_path!("v1" / "checkouts" / { id } / "accept-prices"))
            .tag("checkout")
            .signed_in()
            .responds(
                200,
                "the checkout at the current prices; shipping and payment are cleared if any price changed",
                Content::json::<CheckoutView>(),
            )
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| accept_prices(state, caller, id)))
}

async fn issue_gift_card(state: AppState, body: GiftCardBody) -> Result<impl Reply, Problem> {
    let balance = Money::new(body.balance.cents, body.balance.currency);
    let (code, balance) = state.mercato.payments().issue_gift_card(balance).await?;
    let view = GiftCardView { code: code.to_string(), balance };
    Ok(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED))
}

/// A gift card's balance. Throttled per caller and per address, and the
/// answer for a code that is not a card's never repeats it: codes are bearer
/// secrets (anyone holding one can spend it).
async fn gift_card_balance(
    state: AppState,
    caller: Option<Caller>,
    client: Option<SocketAddr>,
    body: GiftCardCodeBody,
) -> Result<impl Reply, Problem> {
    let address = client.map(|addr| addr.ip().to_string()).unwrap_or_default();
    let who = match &caller {
        Some(Caller::Customer(customer)) => Some(customer.id.as_str()),
        Some(Caller::Admin) | None => None,
    };
    state.claim_limits.admit_gift_card_check(who, &address, state.mercato.now())?;
    let not_found = || Problem::not_found("no such gift card");
    let code = GiftCardCode::parse(&body.code).map_err(|_| not_found())?;
    let balance = state.mercato.payments().gift_card_balance(&code).map_err(|_| not_found())?;
    Ok(warp::reply::json(&GiftCardBalanceView { balance }))
}

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

async fn read(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.checkouts().get(&customer.id, &checkout_id(&id)?).await?;
    reply(&state, &record).await
}

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

async fn set_shipping(state: AppState, caller: Caller, id: String, body: ShippingBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let option = ShippingOption::parse(&body.option_id).map_err(|err| Problem::invalid(err.to_string()))?;
    let record = state.mercato.checkouts().set_shipping(&customer.id, &checkout_id(&id)?, option).await?;
    reply(&state, &record).await
}

async fn set_payment(state: AppState, caller: Caller, id: String, body: PaymentBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let card = body.token.as_deref().map(super::payment_methods::card_token).transpose()?;
    let gift_card = body
        .gift_card
        .map(|raw| GiftCardCode::parse(&raw).map_err(|_| Problem::invalid("unknown gift card")))
        .transpose()?;
    let choice = PaymentChoice { card, gift_card };
    let record = state.mercato.checkouts().set_payment(&customer.id, &checkout_id(&id)?, choice).await?;
    reply(&state, &record).await
}

async fn accept_prices(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.checkouts().accept_prices(&customer.id, &checkout_id(&id)?).await?;
    reply(&state, &record).await
}
