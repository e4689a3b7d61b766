//! The order as it is stored: the engine's [`Order`] with the holds its
//! units were reserved under and the effects still owed, the commands an
//! order takes, and the stock tasks each event owes its buckets (`T`
//! records: units to ship or to take back). Pure: the orders domain's actor
//! applies these and writes what they return.

use super::{plan_shipments, RoutingError, ShipmentLine, ShipmentPlan, StockByWarehouse};
use super::{Order, OrderAction, OrderError, OrderEvent, OrderStatus, ReturnItem, StockAction};
use crate::engine::address::Address;
use crate::engine::checkout::CheckoutLine;
use crate::engine::ids::{DealId, ReservationId, Sku, WarehouseId};
use crate::engine::pricing::distance_km;
use crate::engine::time::Timestamp;
use crate::engine::warehouse::{GeoPoint, Warehouse};
use crate::engine::BucketKey;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A hold the order's units were reserved under: a bucket's, or a deal
/// claim the customer held (`deal`), whose units already left the bucket
/// when the deal took its stock; `bucket` then names where they ship from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHold {
    pub id: ReservationId,
    pub bucket: BucketKey,
    pub quantity: u32,
    pub deal: Option<DealId>,
}

/// What is stored per order. Its encoding is the fields in this order;
/// `shipping_address` came last and later, so a record written before it
/// existed ends after `pending` and reads with no address (see
/// [`saga_layout`] for the copy a saga keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub order: Order,
    pub holds: Vec<PlannedHold>,
    /// The event whose effects are still owed, if any.
    pub pending: Option<OrderEvent>,
    /// Where the order ships, from the checkout at placement (`None` for
    /// orders placed before orders kept it).
    pub shipping_address: Option<Address>,
}

const RECORD_FIELDS: &[&str] = &["order", "holds", "pending", "shipping_address"];

impl Serialize for OrderRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("OrderRecord", RECORD_FIELDS.len())?;
        fields.serialize_field("order", &self.order)?;
        fields.serialize_field("holds", &self.holds)?;
        fields.serialize_field("pending", &self.pending)?;
        fields.serialize_field("shipping_address", &self.shipping_address)?;
        fields.end()
    }
}

impl<'de> Deserialize<'de> for OrderRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = OrderRecord;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an order record")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderRecord, A::Error> {
                let order = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let holds = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let pending = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(2, &self))?;
                // An older record ends here: reading on finds no bytes. (The
                // store refuses a record with bytes left over, so a newer
                // record is read whole or not at all.)
                let shipping_address = seq.next_element::<Option<Address>>().ok().flatten().flatten();
                Ok(OrderRecord { order, holds, pending, shipping_address })
            }
        }
        deserializer.deserialize_struct("OrderRecord", RECORD_FIELDS, Fields)
    }
}

/// The order a running saga keeps (`j` records) is encoded as every build
/// before `shipping_address` wrote it, so a saga a crash left behind still
/// reads after an upgrade; the address is taken from the checkout again
/// when the order is created.
pub mod saga_layout {
    use super::{Order, OrderEvent, OrderRecord, PlannedHold};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(record: &OrderRecord, serializer: S) -> Result<S::Ok, S::Error> {
        (&record.order, &record.holds, &record.pending).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OrderRecord, D::Error> {
        let (order, holds, pending) = <(Order, Vec<PlannedHold>, Option<OrderEvent>)>::deserialize(deserializer)?;
        Ok(OrderRecord { order, holds, pending, shipping_address: None })
    }
}

#[derive(Debug, Clone)]
pub enum OrderCommand {
    /// Creates the order from a completed saga, already paid (idempotent).
    Create(Box<OrderRecord>),
    Read,
    /// The admin approves an order on hold: it is paid, and owes the capture.
    Approve,
    Cancel {
        reason: String,
    },
    /// Starts fulfilment and ships every shipment.
    Ship,
    Deliver,
    RequestReturn {
        items: Vec<ReturnItem>,
    },
    /// The returned units arrived: restock them and refund.
    ReceiveReturn,
    /// The pending effects were carried out.
    EffectsDone,
}

/// A stock change an order owes a bucket (its `T` record).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StockTask {
    pub bucket: BucketKey,
    pub op: StockOp,
}

/// The stock change of a task (applied by the bucket's `SettleTask`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StockOp {
    /// Committed units leave the warehouse.
    Ship { quantity: u64 },
    /// Returned units are received back.
    Restock { quantity: u64 },
    /// The committed units of an order's hold come back (the order was
    /// cancelled before shipping), whether or not the hold's settled record
    /// is still kept ([`crate::engine::Bucket::return_committed_units`]).
    ReturnCommitted { id: ReservationId, quantity: u64 },
}

/// The stock tasks an event owes: `(task name, task)`.
pub fn stock_tasks(record: &OrderRecord, event: &OrderEvent) -> Vec<(String, StockTask)> {
    let order = &record.order;
    match event {
        // One hold per (warehouse, SKU) of the routing plan; a deal claim's
        // units are not on their bucket's books, so only bucket holds ship.
        OrderEvent::Shipped { .. } => record
            .holds
            .iter()
            .enumerate()
            .filter(|(_, hold)| hold.deal.is_none())
            .map(|(index, hold)| {
                let op = StockOp::Ship { quantity: u64::from(hold.quantity) };
                (format!("ship-{index}"), StockTask { bucket: hold.bucket.clone(), op })
            })
            .collect(),
        // The units of a cancelled order's bucket holds come back by a task
        // (exactly once, even after the hold's settled record was pruned);
        // deal claims go back to their deal in `carry_out`.
        OrderEvent::Cancelled { stock: StockAction::Restock, .. } => record
            .holds
            .iter()
            .enumerate()
            .filter(|(_, hold)| hold.deal.is_none())
            .map(|(index, hold)| {
                let op = StockOp::ReturnCommitted { id: hold.id.clone(), quantity: u64::from(hold.quantity) };
                (format!("return-{index}"), StockTask { bucket: hold.bucket.clone(), op })
            })
            .collect(),
        OrderEvent::ReturnReceived { .. } | OrderEvent::Refunded { .. } => order
            .return_request
            .iter()
            .flat_map(|request| request.items.iter())
            .enumerate()
            .filter_map(|(index, item)| {
                let plan = order.shipments.iter().find(|plan| plan.lines.iter().any(|line| line.sku == item.sku))?;
                let bucket = BucketKey::new(item.sku.clone(), plan.warehouse.clone());
                let op = StockOp::Restock { quantity: u64::from(item.quantity) };
                Some((format!("restock-{index}"), StockTask { bucket, op }))
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl OrderRecord {
    /// Applies `command` at `now`; the events it caused. An event whose
    /// effects the domain still owes (an approval's capture, cancel, ship,
    /// refund) becomes `pending`.
    pub fn execute(&mut self, command: OrderCommand, now: Timestamp) -> Result<Vec<OrderEvent>, OrderError> {
        let record = self;
        let order = &mut record.order;
        let events = match command {
            OrderCommand::Create(_) | OrderCommand::Read => Vec::new(),
            OrderCommand::EffectsDone => {
                record.pending = None;
                return Ok(Vec::new());
            }
            OrderCommand::Approve if order.status != OrderStatus::OnHold => {
                return Err(OrderError::InvalidTransition { status: order.status, action: OrderAction::MarkPaid });
            }
            OrderCommand::Approve => order.mark_paid(now)?,
            OrderCommand::Cancel { reason } => order.cancel(&reason, now)?,
            OrderCommand::Ship => {
                let mut events = order.start_fulfilment(now)?;
                events.extend(order.ship(now)?);
                events
            }
            OrderCommand::Deliver => order.deliver(now)?,
            OrderCommand::RequestReturn { items } => order.request_return(items, now)?,
            OrderCommand::ReceiveReturn => {
                let mut events = order.receive_return(now)?;
                events.extend(order.refund_return(now)?);
                events
            }
        };
        if let Some(owed) = events.iter().rev().find(|event| {
            matches!(
                event,
                OrderEvent::Paid { .. }
                    | OrderEvent::Cancelled { .. }
                    | OrderEvent::Shipped { .. }
                    | OrderEvent::Refunded { .. }
            )
        }) {
            record.pending = Some(owed.clone());
        }
        Ok(events)
    }
}

/// Where a checkout's lines ship from, and the holds that place takes.
///
/// Catalog-price lines are routed by [`plan_shipments`] over `stock` (all or
/// nothing), one hold per warehouse and SKU under an id from `new_id`. A
/// line bought with deal claims ships from a warehouse already shipping its
/// SKU, else from the nearest warehouse in `stocking` (those with a bucket
/// of the SKU: the deal's units left their bucket when the deal took them);
/// each claim is a hold under its own id.
pub fn plan_holds(
    lines: &[CheckoutLine],
    stock: &StockByWarehouse,
    stocking: &BTreeMap<Sku, Vec<WarehouseId>>,
    warehouses: &[Warehouse],
    destination: GeoPoint,
    mut new_id: impl FnMut() -> ReservationId,
) -> Result<(Vec<ShipmentPlan>, Vec<PlannedHold>), RoutingError> {
    let regular: Vec<ShipmentLine> = lines
        .iter()
        .filter(|line| line.claims.is_empty())
        .map(|line| ShipmentLine { sku: line.sku.clone(), quantity: line.quantity })
        .collect();
    let mut plans =
        if regular.is_empty() { Vec::new() } else { plan_shipments(&regular, stock, warehouses, destination)? };
    let mut holds: Vec<PlannedHold> = plans
        .iter()
        .flat_map(|plan| plan.lines.iter().map(move |line| (plan, line)))
        .map(|(plan, line)| PlannedHold {
            id: new_id(),
            bucket: BucketKey::new(line.sku.clone(), plan.warehouse.clone()),
            quantity: line.quantity,
            deal: None,
        })
        .collect();
    for line in lines.iter().filter(|line| !line.claims.is_empty()) {
        let warehouse = claim_origin(&line.sku, &plans, stocking, warehouses, destination)?;
        match plans.iter_mut().find(|plan| plan.warehouse == warehouse) {
            Some(plan) => match plan.lines.iter_mut().find(|shipped| shipped.sku == line.sku) {
                Some(shipped) => shipped.quantity = shipped.quantity.saturating_add(line.quantity),
                None => plan.lines.push(ShipmentLine { sku: line.sku.clone(), quantity: line.quantity }),
            },
            None => plans.push(ShipmentPlan {
                warehouse: warehouse.clone(),
                lines: vec![ShipmentLine { sku: line.sku.clone(), quantity: line.quantity }],
            }),
        }
        holds.extend(line.claims.iter().map(|claim| PlannedHold {
            id: claim.id.clone(),
            bucket: BucketKey::new(line.sku.clone(), warehouse.clone()),
            quantity: claim.quantity,
            deal: Some(claim.deal.clone()),
        }));
    }
    Ok((plans, holds))
}

/// Where a deal claim's units of `sku` ship from.
fn claim_origin(
    sku: &Sku,
    plans: &[ShipmentPlan],
    stocking: &BTreeMap<Sku, Vec<WarehouseId>>,
    warehouses: &[Warehouse],
    destination: GeoPoint,
) -> Result<WarehouseId, RoutingError> {
    if let Some(plan) = plans.iter().find(|plan| plan.lines.iter().any(|line| line.sku == *sku)) {
        return Ok(plan.warehouse.clone());
    }
    let stocking = stocking.get(sku).map(Vec::as_slice).unwrap_or_default();
    warehouses
        .iter()
        .filter(|warehouse| stocking.contains(&warehouse.id))
        .min_by(|a, b| distance_km(a.location, destination).total_cmp(&distance_km(b.location, destination)))
        .map(|warehouse| warehouse.id.clone())
        .ok_or_else(|| RoutingError::NoOrigin { sku: sku.clone() })
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::engine::catalog::TaxCategory;
    use crate::engine::checkout::ClaimUse;
    use crate::engine::ids::ProductId;
    use crate::engine::money::{Currency, Money};

    fn warehouse(id: &str, lon: f64) -> Warehouse {
        Warehouse::new(WarehouseId::parse(id).unwrap(), id, GeoPoint { lat: 40.0, lon }, "US").unwrap()
    }

    fn line(sku: &str, quantity: u32, claims: Vec<ClaimUse>) -> CheckoutLine {
        CheckoutLine {
            sku: Sku::parse(sku).unwrap(),
            product_id: ProductId::parse("P-1").unwrap(),
            title: "T".into(),
            quantity,
            unit_price: Money::new(100, Currency::USD),
            tax_category: TaxCategory::Standard,
            weight_grams: 100,
            claims,
        }
    }

    fn claim(id: &str, quantity: u32) -> ClaimUse {
        ClaimUse { id: ReservationId::parse(id).unwrap(), deal: DealId::parse("deal_1").unwrap(), quantity }
    }

    #[test]
    fn claims_ship_with_the_routed_lines_or_from_the_nearest_stocking_warehouse() {
        let warehouses = [warehouse("W-NEAR", -74.0), warehouse("W-FAR", -120.0)];
        let destination = GeoPoint { lat: 40.0, lon: -74.5 };
        let sku = |raw: &str| Sku::parse(raw).unwrap();
        let mut stock = StockByWarehouse::new();
        stock.entry(WarehouseId::parse("W-FAR").unwrap()).or_default().insert(sku("A"), 10);
        let mut stocking = BTreeMap::new();
        stocking.insert(sku("A"), vec![WarehouseId::parse("W-FAR").unwrap()]);
        stocking.insert(sku("D"), vec![WarehouseId::parse("W-FAR").unwrap(), WarehouseId::parse("W-NEAR").unwrap()]);
        let mut n = 0;
        let new_id = || {
            n += 1;
            ReservationId::parse(&format!("res_{n}")).unwrap()
        };
        let lines =
            [line("A", 2, vec![]), line("A", 1, vec![claim("res_c1", 1)]), line("D", 3, vec![claim("res_c2", 3)])];
        let (plans, holds) = plan_holds(&lines, &stock, &stocking, &warehouses, destination, new_id).unwrap();

        // The claim on A ships with the routed A line (from W-FAR); the claim
        // on D from the nearest warehouse with a bucket of D.
        let far = plans.iter().find(|plan| plan.warehouse.as_str() == "W-FAR").unwrap();
        assert_eq!(far.lines, vec![ShipmentLine { sku: sku("A"), quantity: 3 }]);
        let near = plans.iter().find(|plan| plan.warehouse.as_str() == "W-NEAR").unwrap();
        assert_eq!(near.lines, vec![ShipmentLine { sku: sku("D"), quantity: 3 }]);
        let ids: Vec<(&str, &str, Option<&str>)> = holds
            .iter()
            .map(|hold| (hold.id.as_str(), hold.bucket.warehouse.as_str(), hold.deal.as_ref().map(DealId::as_str)))
            .collect();
        assert_eq!(
            ids,
            [("res_1", "W-FAR", None), ("res_c1", "W-FAR", Some("deal_1")), ("res_c2", "W-NEAR", Some("deal_1"))]
        );

        let too_many = [line("A", 11, vec![])];
        let refused = plan_holds(&too_many, &stock, &stocking, &warehouses, destination, || unreachable!());
        assert!(matches!(refused, Err(RoutingError::InsufficientStock { requested: 11, available: 10, .. })));
        let nowhere = [line("Z", 1, vec![claim("res_c3", 1)])];
        let refused = plan_holds(&nowhere, &stock, &stocking, &warehouses, destination, || unreachable!());
        assert_eq!(refused, Err(RoutingError::NoOrigin { sku: sku("Z") }));
    }
}
