//! Placing orders, reading and listing them, cancellations and returns, and
//! the admin routes that move an order along (ship, deliver, receive a return).
//! Placing is `POST /v1/checkouts/{id}/place`: the route and its action are
//! here, and this module uses the checkout's id parsing, never the reverse.

use super::checkout::checkout_id;
use super::dto::rfc3339;
use super::error::Problem;
use super::product_dto::MoneyBody;
use super::route::{query_param, route_path, Content, Query, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::domains::orders::OrderRecord;
use crate::engine::order::ReturnItem;
use crate::engine::{Money, OrderId, OrderStatus, Sku};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use warp::http::StatusCode;
use warp::Reply;

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderLineView {
    pub sku: String,
    pub product_id: String,
    pub title: String,
    pub quantity: u32,
    #[schema(value_type = MoneyBody)]
    pub unit_price: Money,
    #[schema(value_type = MoneyBody)]
    pub line_total: Money,
    #[schema(value_type = MoneyBody)]
    pub tax: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TotalsView {
    #[schema(value_type = MoneyBody)]
    pub subtotal: Money,
    #[schema(value_type = MoneyBody)]
    pub tax: Money,
    #[schema(value_type = MoneyBody)]
    pub shipping: Money,
    #[schema(value_type = MoneyBody)]
    pub discount: Money,
    #[schema(value_type = MoneyBody)]
    pub total: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ShipmentLineView {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ShipmentView {
    pub warehouse: String,
    pub lines: Vec<ShipmentLineView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentsView {
    pub authorization: Option<String>,
    #[schema(value_type = MoneyBody)]
    pub card_amount: Money,
    pub gift_card: Option<String>,
    #[schema(value_type = MoneyBody)]
    pub captured: Money,
    #[schema(value_type = MoneyBody)]
    pub gift_card_debited: Money,
    #[schema(value_type = MoneyBody)]
    pub refunded: Money,
    #[schema(value_type = MoneyBody)]
    pub gift_card_credited: Money,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub from: Option<String>,
    pub to: String,
    pub at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub status: String,
    pub lines: Vec<OrderLineView>,
    pub totals: TotalsView,
    pub shipments: Vec<ShipmentView>,
    pub payments: PaymentsView,
    pub history: Vec<HistoryView>,
    #[schema(value_type = Option<Object>)]
    pub return_request: Option<serde_json::Value>,
    pub created_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderListView {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnItemBody {
    pub sku: String,
    pub quantity: i64,
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    pub items: Vec<ReturnItemBody>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param::<String>("status", false, "only orders in this status"),
            query_param::<i64>("limit", false, "1..=100, default 20"),
            query_param::<String>("cursor", false, "next_cursor of the previous page"),
        ]
    }
}

pub fn status_name(status: OrderStatus) -> String {
    serde_json::to_value(status).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

fn parse_status(raw: &str) -> Result<OrderStatus, Problem> {
    OrderStatus::ALL
        .into_iter()
        .find(|status| status_name(*status) == raw)
        .ok_or_else(|| Problem::invalid(format!("unknown status {:?}", raw.chars().take(32).collect::<String>())))
}

pub fn order_view(record: &OrderRecord) -> Result<OrderView, Problem> {
    let order = &record.order;
    let totals = &order.totals;
    let payment = &order.payment;
    let lines = order
        .lines
        .iter()
        .map(|line| {
            Ok(OrderLineView {
                sku: line.sku.to_string(),
                product_id: line.product_id.to_string(),
                title: line.title.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                line_total: line.line_total().map_err(|err| Problem::invalid(err.to_string()))?,
                tax: line.tax,
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(OrderView {
        order_id: order.id.to_string(),
        status: status_name(order.status),
        lines,
        totals: TotalsView {
            subtotal: totals.subtotal,
            tax: totals.tax,
            shipping: totals.shipping,
            discount: totals.discount,
            total: totals.total,
        },
        shipments: order
            .shipments
            .iter()
            .map(|plan| ShipmentView {
                warehouse: plan.warehouse.to_string(),
                lines: plan
                    .lines
                    .iter()
                    .map(|line| ShipmentLineView { sku: line.sku.to_string(), quantity: line.quantity })
                    .collect(),
            })
            .collect(),
        payments: PaymentsView {
            authorization: payment.authorization.as_ref().map(ToString::to_string),
            card_amount: payment.card_amount,
            gift_card: payment.gift_card.as_ref().map(|(code, _)| code.to_string()),
            captured: payment.captured,
            gift_card_debited: payment.gift_card_debited,
            refunded: payment.refunded,
            gift_card_credited: payment.gift_card_credited,
        },
        history: order
            .history
            .iter()
            .map(|change| HistoryView {
                from: change.from.map(status_name),
                to: status_name(change.to),
                at: rfc3339(change.at),
            })
            .collect(),
        return_request: order.return_request.as_ref().and_then(|request| serde_json::to_value(request).ok()),
        created_at: rfc3339(order.created_at),
    })
}

fn order_id(raw: &str) -> Result<OrderId, Problem> {
    OrderId::parse(raw).map_err(|_| Problem::not_found(format!("order {raw} not found")))
}

pub fn routes() -> Routes<impl RouteFilter> {
    // Placing comes first: it was tried right after the checkout routes.
    Route::post(route_path!("v1" / "checkouts" / {id} / "place"))
        .tag("checkout")
        .signed_in()
        .idempotent("a retry returns the same order and never charges twice")
        .responds(201, "the paid order", Content::json::<OrderView>())
        .problem(402, "payment-declined: every hold released, nothing charged")
        .problem(
            409,
            "insufficient-stock (every hold released), or conflict: a step was skipped or prices changed (see price_changes at GET /v1/checkouts/{id})",
        )
        .problem(404, "not-found: the checkout, or its card (removed since the payment step): nothing held")
        .to(|state, caller, (id,), ()| place(state, caller, id))
        .or(Route::get(route_path!("v1" / "orders" / {id}))
            .tag("orders")
            .signed_in()
            .responds(200, "the order with its history", Content::json::<OrderView>())
            .problem(404, "not-found (also another customer's order)")
            .to(|state, caller, (id,), ()| read(state, caller, id)))
        .or(Route::get(route_path!("v1" / "orders"))
            .tag("orders")
            .signed_in()
            .input::<Query<ListQuery>>()
            .responds(200, "the caller's orders, newest first", Content::json::<OrderListView>())
            .problem(422, "invalid-input")
            .to(|state, caller, (), query| list(state, caller, query)))
        .or(Route::post(route_path!("v1" / "orders" / {id} / "cancel"))
            .tag("orders")
            .signed_in()
            .responds(200, "the cancelled order: units back in stock, money refunded", Content::json::<OrderView>())
            .problem(409, "conflict: the order has shipped")
            .problem(404, "not-found")
            .to(|state, caller, (id,), ()| cancel(state, caller, id)))
        .or(Route::post(route_path!("v1" / "orders" / {id} / "returns"))
            .tag("orders")
            .signed_in()
            .json::<ReturnBody>()
            .responds(200, "the order, now return_requested", Content::json::<OrderView>())
            .problem(409, "conflict: the order is not delivered")
            .problem(422, "invalid-input: unknown SKU, too many units, missing reason")
            .to(|state, caller, (id,), body| request_return(state, caller, id, body)))
        .or(Route::post(route_path!("v1" / "admin" / "orders" / {id} / "ship"))
            .tag("orders")
            .admin()
            .responds(200, "shipped: the units left their warehouses", Content::json::<OrderView>())
            .problem(409, "conflict")
            .to(|state, _, (id,), ()| ship(state, id)))
        .or(Route::post(route_path!("v1" / "admin" / "orders" / {id} / "deliver"))
            .tag("orders")
            .admin()
            .responds(200, "delivered", Content::json::<OrderView>())
            .problem(409, "conflict")
            .to(|state, _, (id,), ()| deliver(state, id)))
        .or(Route::post(route_path!("v1" / "admin" / "orders" / {id} / "returns" / "receive"))
            .tag("orders")
            .admin()
            .responds(
                200,
                "the return arrived: units restocked, money refunded; the order is refunded",
                Content::json::<OrderView>(),
            )
            .problem(409, "conflict: no return requested")
            .to(|state, _, (id,), ()| receive_return(state, id)))
}

async fn place(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let checkout = checkout_id(&id)?;
    let record = state.mercato.orders().place(&customer.id, &checkout).await?;
    Ok(warp::reply::with_status(warp::reply::json(&order_view(&record)?), StatusCode::CREATED))
}

async fn read(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.orders().get(&customer.id, &order_id(&id)?).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn list(state: AppState, caller: Caller, query: ListQuery) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let limit = super::dto::page_limit(query.limit)?;
    let cursor = query.cursor.as_deref().map(|raw| OrderId::parse(raw).map_err(|_| Problem::invalid("bad cursor")));
    let cursor = cursor.transpose()?;
    let (records, next) = state.mercato.orders().list(&customer.id, status, limit, cursor.as_ref()).await?;
    let items = records.iter().map(order_view).collect::<Result<Vec<_>, Problem>>()?;
    Ok(warp::reply::json(&OrderListView { items, next_cursor: next.map(|id| id.to_string()) }))
}

async fn cancel(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let record = state.mercato.orders().cancel(&customer.id, &order_id(&id)?).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn request_return(state: AppState, caller: Caller, id: String, body: ReturnBody) -> Result<impl Reply, Problem> {
    let customer = caller.customer()?;
    let mut items = Vec::with_capacity(body.items.len());
    for item in body.items {
        let quantity = u32::try_from(item.quantity)
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| Problem::invalid("quantity must be positive"))?;
        let sku = Sku::parse(&item.sku).map_err(|_| Problem::invalid(format!("{} is not in this order", item.sku)))?;
        items.push(ReturnItem { sku, quantity, reason: item.reason });
    }
    let record = state.mercato.orders().request_return(&customer.id, &order_id(&id)?, items).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn ship(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let record = state.mercato.orders().ship(&order_id(&id)?).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn deliver(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let record = state.mercato.orders().deliver(&order_id(&id)?).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn receive_return(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let record = state.mercato.orders().receive_return(&order_id(&id)?).await?;
    Ok(warp::reply::json(&order_view(&record)?))
}
