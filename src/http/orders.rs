//! Placing orders, reading and listing them (a customer their own, the
//! admin any, with filters), cancellations and returns, and the admin
//! routes that move an order along (approve a hold, ship, deliver, receive
//! a return).
//! Placing is `POST /v1/checkouts/{id}/place`: the route and its action are
//! here, and this module uses the checkout's id parsing, never the reverse.

use super::checkout::checkout_id;
use super::dto::{parse_rfc3339, rfc3339};
use super::error::Problem;
use super::product_dto::MoneyBody;
use super::route::{query_param, route_path, Content, Query, Route, RouteFilter, Routes};
use super::{AppState, Caller};
use crate::domains::orders::OrderRecord;
use crate::engine::order::{MovementKind, MovementMethod, OrderCursor, OrderFilter, ReturnItem};
use crate::engine::{Address, CustomerId, Money, OrderId, OrderStatus, Sku, Timestamp};
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

/// What the order's payment stands at (see `payments` for each movement).
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

/// One money movement of an order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PaymentMovementView {
    #[schema(value_type = String, example = "authorization")]
    pub kind: MovementKind,
    /// `card` or `gift_card`.
    #[schema(value_type = String, example = "card")]
    pub method: MovementMethod,
    #[schema(value_type = MoneyBody)]
    pub amount: Money,
    pub at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AddressView {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

impl From<&Address> for AddressView {
    fn from(address: &Address) -> Self {
        AddressView {
            name: address.name().to_owned(),
            line1: address.line1().to_owned(),
            line2: address.line2().map(str::to_owned),
            city: address.city().to_owned(),
            region: address.region().map(str::to_owned),
            postal_code: address.postal_code().to_owned(),
            country: address.country().to_owned(),
        }
    }
}

/// The order statuses, as the API names them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusView {
    PendingPayment,
    OnHold,
    Paid,
    Fulfilling,
    Shipped,
    Delivered,
    Cancelled,
    ReturnRequested,
    Returned,
    Refunded,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub customer_id: String,
    #[schema(value_type = OrderStatusView)]
    pub status: String,
    pub lines: Vec<OrderLineView>,
    pub totals: TotalsView,
    /// Null for orders placed before orders kept their address.
    pub shipping_address: Option<AddressView>,
    pub shipments: Vec<ShipmentView>,
    /// Every money movement, oldest first.
    pub payments: Vec<PaymentMovementView>,
    pub payment: PaymentsView,
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
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub warehouse: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param::<String>("status", false, "only orders in this status"),
            query_param::<String>("customer_id", false, "only this customer's orders (a customer: only their own id)"),
            query_param::<String>("warehouse", false, "only orders with a shipment planned from this warehouse"),
            query_param::<String>("from", false, "RFC 3339: created at or after"),
            query_param::<String>("to", false, "RFC 3339: created at or before"),
            query_param::<String>("q", false, "text in a line's product title or SKU, any case (1..=100 characters)"),
            query_param::<i64>("limit", false, "1..=100, default 20"),
            query_param::<String>("cursor", false, "next_cursor of the previous page"),
        ]
    }
}

impl ListQuery {
    /// The filter this query asks for; `only` restricts it to one customer.
    fn filter(&self, only: Option<&CustomerId>) -> Result<OrderFilter, Problem> {
        let time = |name: &str, raw: &Option<String>| -> Result<Option<Timestamp>, Problem> {
            raw.as_deref()
                .map(|raw| {
                    parse_rfc3339(raw).ok_or_else(|| Problem::invalid(format!("{name} is not an RFC 3339 time")))
                })
                .transpose()
        };
        let asked = match self.customer_id.as_deref() {
            Some(raw) => {
                Some(CustomerId::parse(raw).map_err(|_| Problem::invalid("customer_id is not a customer id"))?)
            }
            None => None,
        };
        let customer = match (only, asked) {
            (Some(only), Some(asked)) if *only != asked => {
                return Err(Problem::invalid("a customer lists only their own orders"))
            }
            (Some(only), _) => Some(only.clone()),
            (None, asked) => asked,
        };
        let filter = OrderFilter {
            status: self.status.as_deref().map(parse_status).transpose()?,
            customer,
            warehouse: self.warehouse.as_deref().map(super::dto::warehouse).transpose()?,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
            ..OrderFilter::default()
        };
        filter.checked(self.q.as_deref()).map_err(|err| Problem::invalid(err.to_string()))
    }

    fn cursor(&self) -> Result<Option<OrderCursor>, Problem> {
        let parse = |raw: &str| OrderCursor::parse(raw).map_err(|err| Problem::invalid(err.to_string()));
        self.cursor.as_deref().map(parse).transpose()
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
        customer_id: order.customer.to_string(),
        status: status_name(order.status),
        shipping_address: record.shipping_address.as_ref().map(AddressView::from),
        payments: order
            .payment_movements()
            .into_iter()
            .map(|movement| PaymentMovementView {
                kind: movement.kind,
                method: movement.method,
                amount: movement.amount,
                at: rfc3339(movement.at),
            })
            .collect(),
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
        payment: PaymentsView {
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
            .responds(200, "the order with its history (the admin reads any order)", Content::json::<OrderView>())
            .problem(404, "not-found (also another customer's order)")
            .to(|state, caller, (id,), ()| read(state, caller, id)))
        .or(Route::get(route_path!("v1" / "orders"))
            .tag("orders")
            .signed_in()
            .input::<Query<ListQuery>>()
            .responds(
                200,
                "the caller's orders, newest first (for the admin token: every order, as /v1/admin/orders)",
                Content::json::<OrderListView>(),
            )
            .problem(422, "invalid-input: an unknown status, a bad time, id or cursor, from after to, q too long")
            .to(|state, caller, (), query| list(state, caller, query)))
        .or(Route::get(route_path!("v1" / "admin" / "orders"))
            .tag("orders")
            .admin()
            .input::<Query<ListQuery>>()
            .responds(200, "every order the filters keep, newest first", Content::json::<OrderListView>())
            .problem(422, "invalid-input: an unknown status, a bad time, id or cursor, from after to, q too long")
            .to(|state, caller, (), query| list(state, caller, query)))
        .or(Route::post(route_path!("v1" / "admin" / "orders" / {id} / "approve"))
            .tag("orders")
            .admin()
            .responds(200, "the order on hold is approved: captured, now paid", Content::json::<OrderView>())
            .problem(409, "conflict: the order is not on hold")
            .problem(404, "not-found")
            .to(|state, _, (id,), ()| approve(state, id)))
        .or(Route::post(route_path!("v1" / "orders" / {id} / "cancel"))
            .tag("orders")
            .signed_in()
            .responds(
                200,
                "the cancelled order: units back in stock, money refunded (or, on hold, the authorization voided); the admin cancels any order",
                Content::json::<OrderView>(),
            )
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
            .problem(409, "conflict: not paid yet (an order on hold ships only once approved), or already shipped")
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
    let id = order_id(&id)?;
    let orders = state.mercato.orders();
    let record = match caller {
        Caller::Admin => orders.get_any(&id).await?,
        Caller::Customer(customer) => orders.get(&customer.id, &id).await?,
    };
    Ok(warp::reply::json(&order_view(&record)?))
}

/// `GET /v1/orders` (a customer's own; the admin's: every order) and `GET
/// /v1/admin/orders`.
async fn list(state: AppState, caller: Caller, query: ListQuery) -> Result<impl Reply, Problem> {
    let only = match &caller {
        Caller::Admin => None,
        Caller::Customer(customer) => Some(&customer.id),
    };
    let filter = query.filter(only)?;
    let limit = super::dto::page_limit(query.limit)?;
    let cursor = query.cursor()?;
    let (records, next) = state.mercato.orders().list(&filter, limit, cursor.as_ref()).await?;
    let items = records.iter().map(order_view).collect::<Result<Vec<_>, Problem>>()?;
    Ok(warp::reply::json(&OrderListView { items, next_cursor: next.map(|cursor| cursor.encode()) }))
}

async fn cancel(state: AppState, caller: Caller, id: String) -> Result<impl Reply, Problem> {
    let id = order_id(&id)?;
    let orders = state.mercato.orders();
    let record = match caller {
        Caller::Admin => orders.cancel_any(&id).await?,
        Caller::Customer(customer) => orders.cancel(&customer.id, &id).await?,
    };
    Ok(warp::reply::json(&order_view(&record)?))
}

async fn approve(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let record = state.mercato.orders().approve(&order_id(&id)?).await?;
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
