//! What order lists filter on: a small summary per order, the filters of
//! `GET /v1/orders` and `GET /v1/admin/orders`, and the cursor of a page.
//!
//! Lists are newest first: by `created_at` descending, then by id, so the
//! order of two orders never changes and a cursor (the last order shown)
//! names one place in it. A summary carries the number of status changes
//! it was made from (`changes`): of two summaries of one order, the one with
//! more is the newer, whatever order they arrive in.

use super::{Order, OrderStatus};
use crate::engine::ids::{CustomerId, OrderId, WarehouseId};
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest `q` of an order search, in characters.
pub const ORDER_QUERY_CHARS_MAX: usize = 100;

/// The fields order lists filter on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub id: OrderId,
    pub customer: CustomerId,
    pub status: OrderStatus,
    pub created_at: Timestamp,
    /// The length of the order's status history.
    pub changes: u32,
    /// The warehouses its shipments are planned from.
    pub warehouses: Vec<WarehouseId>,
    /// The lines' product titles and SKUs, lowercase, one per line.
    pub text: String,
}

impl OrderSummary {
    pub fn of(order: &Order) -> OrderSummary {
        let mut warehouses: Vec<WarehouseId> = order.shipments.iter().map(|plan| plan.warehouse.clone()).collect();
        warehouses.sort();
        warehouses.dedup();
        let text = order
            .lines
            .iter()
            .map(|line| {
                format!("{}\n{}", line.title.to_lowercase().replace('\n', " "), line.sku.as_str().to_lowercase())
            })
            .collect::<Vec<_>>()
            .join("\n");
        OrderSummary {
            id: order.id.clone(),
            customer: order.customer.clone(),
            status: order.status,
            created_at: order.created_at,
            changes: u32::try_from(order.history.len()).unwrap_or(u32::MAX),
            warehouses,
            text,
        }
    }

    /// Where this order stands in a list.
    pub fn cursor(&self) -> OrderCursor {
        OrderCursor { created_at: self.created_at, id: self.id.clone() }
    }
}

/// Why a filter or a cursor is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("from ({} ms) is after to ({} ms)", from.as_millis(), to.as_millis())]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error("q must be 1..={ORDER_QUERY_CHARS_MAX} characters")]
    QueryLength,
    #[error("not a cursor of this list")]
    BadCursor,
}

/// One place in a list: the last order of a page. Shown to clients as an
/// opaque string ([`OrderCursor::encode`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderCursor {
    pub created_at: Timestamp,
    pub id: OrderId,
}

impl OrderCursor {
    pub fn encode(&self) -> String {
        format!("{:x}.{}", self.created_at.as_millis(), self.id)
    }

    pub fn parse(raw: &str) -> Result<OrderCursor, FilterError> {
        let (millis, id) = raw.split_once('.').ok_or(FilterError::BadCursor)?;
        let millis = u64::from_str_radix(millis, 16).map_err(|_| FilterError::BadCursor)?;
        let id = OrderId::parse(id).map_err(|_| FilterError::BadCursor)?;
        Ok(OrderCursor { created_at: Timestamp::from_millis(millis), id })
    }
}

/// Which orders a list shows; every field is optional and they all apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub customer: Option<CustomerId>,
    /// Orders with a shipment planned from this warehouse.
    pub warehouse: Option<WarehouseId>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created at or before.
    pub to: Option<Timestamp>,
    /// Lowercase text found in a line's product title or SKU (set by [`OrderFilter::checked`]).
    pub(crate) query: Option<String>,
}

impl OrderFilter {
    /// Checks the range; keeps `query` (trimmed, lowercased) when given.
    pub fn checked(mut self, query: Option<&str>) -> Result<OrderFilter, FilterError> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                return Err(FilterError::EmptyRange { from, to });
            }
        }
        self.query = match query.map(str::trim) {
            None => None,
            Some(text) if text.is_empty() || text.chars().count() > ORDER_QUERY_CHARS_MAX => {
                return Err(FilterError::QueryLength)
            }
            Some(text) => Some(text.to_lowercase()),
        };
        Ok(self)
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    pub fn matches(&self, summary: &OrderSummary) -> bool {
        self.status.is_none_or(|status| summary.status == status)
            && self.customer.as_ref().is_none_or(|customer| summary.customer == *customer)
            && self.warehouse.as_ref().is_none_or(|warehouse| summary.warehouses.contains(warehouse))
            && self.from.is_none_or(|from| summary.created_at >= from)
            && self.to.is_none_or(|to| summary.created_at <= to)
            && self.query.as_deref().is_none_or(|query| summary.text.split('\n').any(|field| field.contains(query)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::catalog::TaxCategory;
    use crate::engine::ids::{ProductId, Sku};
    use crate::engine::money::{Currency, Money};
    use crate::engine::order::{OrderLine, ShipmentLine, ShipmentPlan, StatusChange};
    use crate::engine::pricing::Totals;

    fn order(id: &str, customer: &str, at: u64, warehouse: &str, title: &str, sku: &str) -> Order {
        let usd = |cents| Money::new(cents, Currency::USD);
        let sku = Sku::parse(sku).unwrap();
        let line = OrderLine {
            sku: sku.clone(),
            product_id: ProductId::parse("P-1").unwrap(),
            title: title.to_owned(),
            quantity: 1,
            unit_price: usd(100),
            tax_category: TaxCategory::Standard,
            tax: usd(0),
        };
        let draft = crate::engine::order::OrderDraft {
            id: OrderId::parse(id).unwrap(),
            customer: CustomerId::parse(customer).unwrap(),
            lines: vec![line],
            totals: Totals { subtotal: usd(100), tax: usd(0), shipping: usd(0), discount: usd(0), total: usd(100) },
            authorization: None,
            gift_card: None,
            shipments: vec![ShipmentPlan {
                warehouse: WarehouseId::parse(warehouse).unwrap(),
                lines: vec![ShipmentLine { sku, quantity: 1 }],
            }],
        };
        Order::place(draft, Timestamp::from_millis(at)).unwrap().0
    }

    #[test]
    fn a_filter_applies_every_field_it_has() {
        let summary = OrderSummary::of(&order("ord_1", "cus_a", 5_000, "W-EAST", "Wireless Headphones", "HP-BLK-01"));
        assert_eq!(summary.warehouses, [WarehouseId::parse("W-EAST").unwrap()]);
        let all = OrderFilter::default().checked(None).unwrap();
        assert!(all.matches(&summary));
        let accept = |filter: OrderFilter, query: Option<&str>| filter.checked(query).unwrap().matches(&summary);
        let at = Timestamp::from_millis;
        assert!(accept(OrderFilter { status: Some(OrderStatus::PendingPayment), ..OrderFilter::default() }, None));
        assert!(!accept(OrderFilter { status: Some(OrderStatus::Paid), ..OrderFilter::default() }, None));
        assert!(accept(OrderFilter { customer: CustomerId::parse("cus_a").ok(), ..OrderFilter::default() }, None));
        assert!(!accept(OrderFilter { customer: CustomerId::parse("cus_b").ok(), ..OrderFilter::default() }, None));
        assert!(!accept(OrderFilter { warehouse: WarehouseId::parse("W-WEST").ok(), ..OrderFilter::default() }, None));
        assert!(accept(OrderFilter { from: Some(at(5_000)), to: Some(at(5_000)), ..OrderFilter::default() }, None));
        assert!(!accept(OrderFilter { from: Some(at(5_001)), ..OrderFilter::default() }, None));
        assert!(!accept(OrderFilter { to: Some(at(4_999)), ..OrderFilter::default() }, None));
        assert!(accept(OrderFilter::default(), Some(" headPHONES ")), "titles, any case, trimmed");
        assert!(accept(OrderFilter::default(), Some("hp-blk")), "SKUs");
        assert!(!accept(OrderFilter::default(), Some("kettle")));
        assert!(!accept(OrderFilter::default(), Some("headphones\nhp")), "never across two fields");
    }

    #[test]
    fn bad_filters_and_cursors_are_refused() {
        let at = Timestamp::from_millis;
        let backwards = OrderFilter { from: Some(at(2)), to: Some(at(1)), ..OrderFilter::default() };
        assert_eq!(backwards.checked(None), Err(FilterError::EmptyRange { from: at(2), to: at(1) }));
        assert_eq!(OrderFilter::default().checked(Some("  ")), Err(FilterError::QueryLength));
        let long = "x".repeat(ORDER_QUERY_CHARS_MAX + 1);
        assert_eq!(OrderFilter::default().checked(Some(&long)), Err(FilterError::QueryLength));
        for raw in ["", "ord_1", "zz.ord_1", "10.", "10.bad id", ".ord_1"] {
            assert_eq!(OrderCursor::parse(raw), Err(FilterError::BadCursor), "{raw:?}");
        }
        let cursor = OrderCursor { created_at: at(1_733_000_000_123), id: OrderId::parse("ord_9").unwrap() };
        assert_eq!(OrderCursor::parse(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn a_summary_counts_the_status_changes_it_was_made_from() {
        let mut held = order("ord_2", "cus_a", 1, "W-EAST", "T", "S-1");
        let placed = OrderSummary::of(&held);
        held.hold(Timestamp::from_millis(2)).unwrap();
        let later = OrderSummary::of(&held);
        assert_eq!((placed.changes, later.changes, later.status), (1, 2, OrderStatus::OnHold));
        assert_eq!(
            held.history.last(),
            Some(&StatusChange {
                from: Some(OrderStatus::PendingPayment),
                to: OrderStatus::OnHold,
                at: Timestamp::from_millis(2)
            })
        );
    }
}
