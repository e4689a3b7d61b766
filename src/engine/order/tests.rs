use super::*;
use crate::engine::money::Currency;

const NOW: Timestamp = Timestamp::from_millis(1_000);

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::USD)
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn line(raw: &str, quantity: u32, unit_cents: i64, tax_cents: i64) -> OrderLine {
    OrderLine {
        sku: sku(raw),
        product_id: ProductId::parse("P-1").unwrap(),
        title: format!("Item {raw}"),
        quantity,
        unit_price: usd(unit_cents),
        tax_category: TaxCategory::Standard,
        tax: usd(tax_cents),
    }
}

/// Two lines: 3 x 10.00 (tax 2.18) and 1 x 5.00 (tax 0.36), shipping 4.99;
/// the gift card pays 10.00 of the 47.53.
fn draft(gift: bool) -> OrderDraft {
    let lines = vec![line("A", 3, 1_000, 218), line("B", 1, 500, 36)];
    let totals =
        Totals { subtotal: usd(3_500), tax: usd(254), shipping: usd(499), discount: usd(0), total: usd(4_253) };
    let shipment = |warehouse: &str, lines: Vec<ShipmentLine>| ShipmentPlan {
        warehouse: crate::engine::ids::WarehouseId::parse(warehouse).unwrap(),
        lines,
    };
    OrderDraft {
        id: OrderId::generate(1),
        customer: CustomerId::parse("cus_1").unwrap(),
        lines,
        totals,
        authorization: Some(PaymentId::generate(2)),
        gift_card: gift.then(|| (GiftCardCode::generate(3), usd(1_000))),
        shipments: vec![
            shipment("NJ", vec![ShipmentLine { sku: sku("A"), quantity: 3 }]),
            shipment("OH", vec![ShipmentLine { sku: sku("B"), quantity: 1 }]),
        ],
    }
}

/// Runs an operation and checks: an error changes nothing; replaying the
/// events on the old state gives the new state; the invariants hold.
fn checked(
    order: &mut Order,
    op: impl FnOnce(&mut Order) -> Result<Vec<OrderEvent>, OrderError>,
) -> Result<Vec<OrderEvent>, OrderError> {
    let before = order.clone();
    let result = op(order);
    match &result {
        Ok(events) => {
            let mut replayed = before;
            events.iter().for_each(|event| replayed.apply(event));
            assert_eq!(&replayed, order);
        }
        Err(_) => assert_eq!(&before, order),
    }
    assert_eq!(order.check_invariants(), Ok(()));
    result
}

fn return_items() -> Vec<ReturnItem> {
    vec![ReturnItem { sku: sku("A"), quantity: 1, reason: "too small".into() }]
}

fn act(order: &mut Order, action: OrderAction) -> Result<Vec<OrderEvent>, OrderError> {
    checked(order, |order| match action {
        OrderAction::MarkPaid => order.mark_paid(NOW),
        OrderAction::StartFulfilment => order.start_fulfilment(NOW),
        OrderAction::Ship => order.ship(NOW),
        OrderAction::Deliver => order.deliver(NOW),
        OrderAction::Cancel => order.cancel("changed my mind", NOW),
        OrderAction::RequestReturn => order.request_return(return_items(), NOW),
        OrderAction::ReceiveReturn => order.receive_return(NOW),
        OrderAction::RefundReturn => order.refund_return(NOW),
        OrderAction::Hold => order.hold(NOW),
    })
}

/// An order brought to `status` through allowed transitions.
fn order_in(status: OrderStatus) -> Order {
    let (mut order, _) = Order::place(draft(true), NOW).unwrap();
    let path: &[OrderAction] = match status {
        OrderStatus::PendingPayment => &[],
        OrderStatus::OnHold => &[OrderAction::Hold],
        OrderStatus::Paid => &[OrderAction::MarkPaid],
        OrderStatus::Fulfilling => &[OrderAction::MarkPaid, OrderAction::StartFulfilment],
        OrderStatus::Shipped => &[OrderAction::MarkPaid, OrderAction::StartFulfilment, OrderAction::Ship],
        OrderStatus::Delivered => {
            &[OrderAction::MarkPaid, OrderAction::StartFulfilment, OrderAction::Ship, OrderAction::Deliver]
        }
        OrderStatus::Cancelled => &[OrderAction::Cancel],
        OrderStatus::ReturnRequested => &[
            OrderAction::MarkPaid,
            OrderAction::StartFulfilment,
            OrderAction::Ship,
            OrderAction::Deliver,
            OrderAction::RequestReturn,
        ],
        OrderStatus::Returned => &[
            OrderAction::MarkPaid,
            OrderAction::StartFulfilment,
            OrderAction::Ship,
            OrderAction::Deliver,
            OrderAction::RequestReturn,
            OrderAction::ReceiveReturn,
        ],
        OrderStatus::Refunded => &[
            OrderAction::MarkPaid,
            OrderAction::StartFulfilment,
            OrderAction::Ship,
            OrderAction::Deliver,
            OrderAction::RequestReturn,
            OrderAction::ReceiveReturn,
            OrderAction::RefundReturn,
        ],
    };
    for action in path {
        act(&mut order, *action).unwrap();
    }
    assert_eq!(order.status, status);
    order
}

#[test]
fn every_status_and_action_pair_follows_the_table() {
    for status in OrderStatus::ALL {
        for action in OrderAction::ALL {
            let mut order = order_in(status);
            let result = act(&mut order, action);
            match next_status(status, action) {
                Some(to) => {
                    assert!(result.is_ok(), "{status:?} {action:?}: {result:?}");
                    assert_eq!(order.status, to);
                    assert_eq!(order.history.last().map(|change| (change.from, change.to)), Some((Some(status), to)));
                }
                None => {
                    assert_eq!(result, Err(OrderError::InvalidTransition { status, action }), "{status:?} {action:?}")
                }
            }
        }
    }
    assert_eq!(TRANSITIONS.len(), 13);
}

#[test]
fn statuses_serialize_in_snake_case() {
    let names: Vec<String> = OrderStatus::ALL.iter().map(|status| serde_json::to_string(status).unwrap()).collect();
    assert_eq!(
        names.join(","),
        r#""pending_payment","on_hold","paid","fulfilling","shipped","delivered","cancelled","return_requested","returned","refunded""#
    );
}

#[test]
fn cancelling_before_payment_releases_holds_and_voids() {
    let mut order = order_in(OrderStatus::PendingPayment);
    let events = act(&mut order, OrderAction::Cancel).unwrap();
    let [OrderEvent::Cancelled { stock, payments, .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(*stock, StockAction::ReleaseHolds);
    assert_eq!(payments, &[PaymentAction::Void { authorization: PaymentId::generate(2) }]);
    assert_eq!(order.payment.refunded, usd(0));
}

#[test]
fn cancelling_after_payment_restocks_and_refunds_card_and_gift_card() {
    let mut order = order_in(OrderStatus::Fulfilling);
    assert_eq!((order.payment.captured, order.payment.gift_card_debited), (usd(3_253), usd(1_000)));
    let events = act(&mut order, OrderAction::Cancel).unwrap();
    let [OrderEvent::Cancelled { stock, payments, .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(*stock, StockAction::Restock);
    assert_eq!(
        payments,
        &[
            PaymentAction::RefundCard { authorization: PaymentId::generate(2), amount: usd(3_253) },
            PaymentAction::CreditGiftCard { code: GiftCardCode::generate(3), amount: usd(1_000) },
        ]
    );
    assert_eq!((order.payment.refunded, order.payment.gift_card_credited), (usd(3_253), usd(1_000)));
}

#[test]
fn a_return_refunds_the_price_and_its_share_of_the_line_tax() {
    let mut order = order_in(OrderStatus::Delivered);
    let items = vec![
        ReturnItem { sku: sku("A"), quantity: 1, reason: "too small".into() },
        ReturnItem { sku: sku("B"), quantity: 1, reason: "broken".into() },
    ];
    checked(&mut order, |order| order.request_return(items, NOW)).unwrap();
    // A: 10.00 + 218/3 = 72.67 -> 73; B: the whole line, 5.00 + 0.36.
    assert_eq!(order.return_request.as_ref().map(|request| request.refund), Some(usd(1_000 + 73 + 500 + 36)));
    act(&mut order, OrderAction::ReceiveReturn).unwrap();
    let events = act(&mut order, OrderAction::RefundReturn).unwrap();
    let [OrderEvent::Refunded { payments, .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(payments, &[PaymentAction::RefundCard { authorization: PaymentId::generate(2), amount: usd(1_609) }]);
}

#[test]
fn a_whole_order_returned_refunds_exactly_its_tax() {
    let (mut order, _) = Order::place(draft(false), NOW).unwrap();
    for action in [OrderAction::MarkPaid, OrderAction::StartFulfilment, OrderAction::Ship, OrderAction::Deliver] {
        act(&mut order, action).unwrap();
    }
    let items = vec![
        ReturnItem { sku: sku("A"), quantity: 2, reason: "r".into() },
        ReturnItem { sku: sku("A"), quantity: 1, reason: "r".into() },
        ReturnItem { sku: sku("B"), quantity: 1, reason: "r".into() },
    ];
    checked(&mut order, |order| order.request_return(items, NOW)).unwrap();
    // 2/3 of 218 = 145.33 -> 145 and 1/3 = 72.67 -> 73: exactly the line's 218.
    assert_eq!(order.return_request.as_ref().map(|request| request.refund), Some(usd(3_500 + 145 + 73 + 36)));
}

#[test]
fn invalid_returns_are_refused() {
    let mut order = order_in(OrderStatus::Delivered);
    let refuse = |order: &mut Order, items: Vec<ReturnItem>| {
        matches!(checked(order, |order| order.request_return(items, NOW)), Err(OrderError::InvalidReturn { .. }))
    };
    let item = |raw: &str, quantity: u32, reason: &str| ReturnItem { sku: sku(raw), quantity, reason: reason.into() };
    assert!(refuse(&mut order, vec![]));
    assert!(refuse(&mut order, vec![item("Z", 1, "r")]));
    assert!(refuse(&mut order, vec![item("A", 4, "r")]));
    assert!(refuse(&mut order, vec![item("A", 2, "r"), item("A", 2, "r")]));
    assert!(refuse(&mut order, vec![item("A", 0, "r")]));
    assert!(refuse(&mut order, vec![item("A", 1, " ")]));
    assert!(refuse(&mut order, vec![item("A", 1, &"x".repeat(RETURN_REASON_CHARS_MAX + 1))]));
}

#[test]
fn placing_checks_the_totals() {
    let mut bad = draft(false);
    bad.totals.tax = usd(1);
    assert!(matches!(Order::place(bad, NOW), Err(OrderError::TotalsMismatch { .. })));
    let mut empty = draft(false);
    empty.lines.clear();
    assert_eq!(Order::place(empty, NOW).map(|_| ()), Err(OrderError::NoLines));
    let mut too_much_gift = draft(true);
    too_much_gift.gift_card = Some((GiftCardCode::generate(3), usd(5_000)));
    assert!(matches!(Order::place(too_much_gift, NOW), Err(OrderError::TotalsMismatch { .. })));
    let mut short_shipment = draft(false);
    short_shipment.shipments.pop();
    assert!(matches!(Order::place(short_shipment, NOW), Err(OrderError::TotalsMismatch { .. })));
}

#[test]
fn placed_events_rebuild_the_order_and_round_trip_through_bincode() {
    let (order, events) = Order::place(draft(true), NOW).unwrap();
    let mut replayed = order_in(OrderStatus::Cancelled);
    events.iter().for_each(|event| replayed.apply(event));
    assert_eq!(replayed, order);
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&events, config).unwrap();
    let (back, _): (Vec<OrderEvent>, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, events);
}

#[test]
fn a_held_order_waits_authorized_and_not_captured_and_cannot_ship() {
    let mut order = order_in(OrderStatus::OnHold);
    assert_eq!((order.payment.captured, order.payment.gift_card_debited), (usd(0), usd(1_000)));
    for action in [OrderAction::StartFulfilment, OrderAction::Ship, OrderAction::Deliver, OrderAction::Hold] {
        let refused = act(&mut order, action);
        assert_eq!(refused, Err(OrderError::InvalidTransition { status: OrderStatus::OnHold, action }));
    }
    let kinds: Vec<(MovementKind, MovementMethod)> =
        order.payment_movements().iter().map(|movement| (movement.kind, movement.method)).collect();
    assert_eq!(
        kinds,
        [(MovementKind::Authorization, MovementMethod::Card), (MovementKind::Authorization, MovementMethod::GiftCard)]
    );
    // Approved: paid (captured), and from there the ordinary path.
    act(&mut order, OrderAction::MarkPaid).unwrap();
    assert_eq!((order.status, order.payment.captured), (OrderStatus::Paid, usd(3_253)));
    let captures: Vec<Money> = order
        .payment_movements()
        .iter()
        .filter(|movement| movement.kind == MovementKind::Capture)
        .map(|movement| movement.amount)
        .collect();
    assert_eq!(captures, [usd(3_253), usd(1_000)]);
    act(&mut order, OrderAction::StartFulfilment).unwrap();
}

#[test]
fn cancelling_a_held_order_restocks_and_voids_without_refunding() {
    let mut order = order_in(OrderStatus::OnHold);
    let events = act(&mut order, OrderAction::Cancel).unwrap();
    let [OrderEvent::Cancelled { stock, payments, .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(*stock, StockAction::Restock, "the held order's units were committed");
    assert_eq!(payments, &[PaymentAction::Void { authorization: PaymentId::generate(2) }]);
    assert_eq!((order.payment.captured, order.payment.refunded), (usd(0), usd(0)));
    let kinds: Vec<MovementKind> = order.payment_movements().iter().map(|movement| movement.kind).collect();
    assert_eq!(
        kinds,
        [MovementKind::Authorization, MovementKind::Authorization, MovementKind::Void, MovementKind::Void]
    );

    // Paid by gift card alone: the card is credited back.
    let mut gift_only = draft(true);
    gift_only.authorization = None;
    gift_only.gift_card = Some((GiftCardCode::generate(3), usd(4_253)));
    let (mut order, _) = Order::place(gift_only, NOW).unwrap();
    act(&mut order, OrderAction::Hold).unwrap();
    let events = act(&mut order, OrderAction::Cancel).unwrap();
    let [OrderEvent::Cancelled { payments, .. }] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(payments, &[PaymentAction::CreditGiftCard { code: GiftCardCode::generate(3), amount: usd(4_253) }]);
}

#[test]
fn payment_movements_follow_the_money_of_a_cancel_after_payment_and_of_a_return() {
    let mut order = order_in(OrderStatus::Paid);
    act(&mut order, OrderAction::Cancel).unwrap();
    let moves: Vec<(MovementKind, MovementMethod, i64)> =
        order.payment_movements().iter().map(|m| (m.kind, m.method, m.amount.cents)).collect();
    assert_eq!(
        moves,
        [
            (MovementKind::Authorization, MovementMethod::Card, 3_253),
            (MovementKind::Authorization, MovementMethod::GiftCard, 1_000),
            (MovementKind::Capture, MovementMethod::Card, 3_253),
            (MovementKind::Capture, MovementMethod::GiftCard, 1_000),
            (MovementKind::Refund, MovementMethod::Card, 3_253),
            (MovementKind::Refund, MovementMethod::GiftCard, 1_000),
        ]
    );
    let refunded = order_in(OrderStatus::Refunded);
    let last = refunded.payment_movements().pop().unwrap();
    assert_eq!((last.kind, last.method, last.amount), (MovementKind::Refund, MovementMethod::Card, usd(1_073)));
}

#[test]
fn a_record_written_before_shipping_addresses_reads_with_none_and_a_new_one_round_trips() {
    use crate::engine::address::{Address, AddressInput};
    use crate::store::codec::{decode, encode};
    let (order, _) = Order::place(draft(true), NOW).unwrap();
    let holds = Vec::<PlannedHold>::new();
    // Every build before the address encoded exactly these three fields.
    let old = encode(&(order.clone(), holds.clone(), Option::<OrderEvent>::None)).unwrap();
    let read: OrderRecord = decode(b"v", &old).unwrap();
    assert_eq!(read, OrderRecord { order: order.clone(), holds, pending: None, shipping_address: None });

    let address = Address::parse(&AddressInput {
        name: "Ann".into(),
        line1: "1 Main St".into(),
        city: "Newark".into(),
        region: Some("NJ".into()),
        postal_code: "07102".into(),
        country: "US".into(),
        ..AddressInput::default()
    })
    .unwrap();
    let record = OrderRecord { shipping_address: Some(address), ..read };
    let bytes = encode(&record).unwrap();
    assert_eq!(decode::<OrderRecord>(b"v", &bytes).unwrap(), record);
    assert!(bytes.starts_with(&old), "the address is appended after the older fields");
    let mut truncated = bytes.clone();
    truncated.push(0);
    assert!(decode::<OrderRecord>(b"v", &truncated).is_err(), "bytes left over are refused");
}
