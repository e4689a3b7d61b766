//! Payment methods: saving a card (`POST /v1/payment-methods`), and the
//! signed-in customer's saved cards (`GET /v1/me/payment-methods`,
//! `DELETE /v1/me/payment-methods/{token}`).
//!
//! A card is the customer's who saved it: another customer's token, a
//! removed one and an unknown one are all 404 `not-found`, here and wherever
//! a token is taken (the checkout's payment step, placing, membership).

use super::error::Problem;
use super::route::{query_param, route_path, Content, Query, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::engine::payment::{BillingCountry, CardCursor, SavedCard};
use crate::engine::{CardInput, CardToken};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use warp::http::StatusCode;
use warp::Reply;

/// A card as the customer typed it. Its `Debug` shows neither the number
/// nor the CVC, so it can be logged.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: String,
    /// Where the card is billed: two uppercase letters (ISO 3166-1 alpha-2).
    pub billing_country: Option<String>,
}

impl fmt::Debug for CardBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardBody")
            .field("kind", &self.kind)
            .field("number", &"[redacted]")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"[redacted]")
            .field("billing_country", &self.billing_country)
            .finish()
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CardView {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub billing_country: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CardListView {
    pub items: Vec<CardView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CardListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl IntoParams for CardListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param::<i64>("limit", false, "1..=100, default 20"),
            query_param::<String>("cursor", false, "next_cursor of the previous page"),
        ]
    }
}

fn card_view(card: SavedCard) -> CardView {
    let record = card.record;
    let brand = serde_json::to_value(record.brand).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    CardView {
        token: record.token.to_string(),
        brand,
        last4: record.last4,
        exp_month: record.exp_month,
        exp_year: record.exp_year,
        billing_country: card.billing_country.map(|country| country.to_string()),
    }
}

/// A card token from the client: one that cannot be a token is not found,
/// like another customer's.
pub fn card_token(raw: &str) -> Result<CardToken, Problem> {
    CardToken::parse(raw).map_err(|_| Problem::not_found(format!("card {raw} not found")))
}

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "payment-methods"))
        .tag("checkout")
        .signed_in()
        .json::<CardBody>()
        .idempotent("retry safely: the first response is replayed for 24 h")
        .responds(
            201,
            "the card's token, saved for the customer; the number and CVC are never stored or logged",
            Content::json::<CardView>(),
        )
        .problem(422, "invalid-input: Luhn check failed, expired, bad CVC, billing_country not two uppercase letters")
        .to(|state, caller, (), body| add(state, caller, body))
        .or(Route::get(route_path!("v1" / "me" / "payment-methods"))
            .tag("customers")
            .signed_in()
            .input::<Query<CardListQuery>>()
            .responds(200, "the customer's saved cards, newest first", Content::json::<CardListView>())
            .problem(422, "invalid-input: bad limit or cursor")
            .to(|state, caller, (), query| list(state, caller, query)))
        .or(Route::delete(route_path!("v1" / "me" / "payment-methods" / { token }))
            .tag("customers")
            .signed_in()
            .responds(204, "removed: the card can no longer pay", Content::Unspecified)
            .problem(404, "not-found: not one of the customer's cards (another's, removed or unknown)")
            .to(|state, caller, (token,), ()| remove(state, caller, token)))
}

async fn add(state: AppState, caller: Caller, body: CardBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    if body.kind != "card" {
        return Err(Problem::invalid("type must be \"card\""));
    }
    let month = u32::try_from(body.exp_month).map_err(|_| Problem::invalid("exp_month must be 1..=12"))?;
    let year = u32::try_from(body.exp_year).map_err(|_| Problem::invalid("exp_year is invalid"))?;
    let billing_country = body.billing_country.as_deref().map(BillingCountry::parse).transpose();
    let billing_country = billing_country.map_err(|err| Problem::invalid(err.to_string()))?;
    let input = CardInput { number: body.number, exp_month: month, exp_year: year, cvc: body.cvc };
    let card = state.mercato.payments().add_payment_method(&customer.id, &input, billing_country).await?;
    Ok(warp::reply::with_status(warp::reply::json(&card_view(card)), StatusCode::CREATED))
}

async fn list(state: AppState, caller: Caller, query: CardListQuery) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let limit = super::dto::page_limit(query.limit)?;
    let cursor =
        query.cursor.as_deref().map(|raw| CardCursor::parse(raw).ok_or_else(|| Problem::invalid("bad cursor")));
    let cursor = cursor.transpose()?;
    let (cards, next) = state.mercato.payments().saved_cards(&customer.id, cursor.as_ref(), limit);
    let items = cards.into_iter().map(card_view).collect();
    Ok(warp::reply::json(&CardListView { items, next_cursor: next.map(|cursor| cursor.to_string()) }))
}

async fn remove(state: AppState, caller: Caller, token: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    state.mercato.payments().remove_card(&customer.id, &card_token(&token)?).await?;
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_body_never_prints_its_number_or_cvc() {
        let body: CardBody = serde_json::from_value(serde_json::json!({
            "type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "987",
            "billing_country": "US"
        }))
        .unwrap();
        for printed in [format!("{body:?}"), format!("{body:#?}")] {
            assert!(!printed.contains("4242") && !printed.contains("987"), "{printed}");
            assert!(printed.contains("[redacted]") && printed.contains("US"), "{printed}");
        }
    }
}
