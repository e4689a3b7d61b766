use super::*;
use crate::engine::address::AddressInput;
use crate::engine::ids::CustomerId;
use crate::engine::money::Currency;
use crate::engine::warehouse::GeoPoint;
use std::sync::Arc;

const NOW: Timestamp = Timestamp::from_millis(1_704_103_200_000);

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::USD)
}

fn line(raw: &str, quantity: u32, cents: i64) -> CheckoutLine {
    CheckoutLine {
        sku: Sku::parse(raw).unwrap(),
        product_id: ProductId::parse("P-1").unwrap(),
        title: raw.to_owned(),
        quantity,
        unit_price: usd(cents),
        tax_category: TaxCategory::Standard,
        weight_grams: 500,
        claims: Vec::new(),
    }
}

fn address(region: &str, country: &str, postal_code: &str) -> Address {
    Address::parse(&AddressInput {
        name: "Ada".into(),
        line1: "1 Main St".into(),
        city: "Town".into(),
        region: Some(region.into()),
        postal_code: postal_code.into(),
        country: country.into(),
        ..AddressInput::default()
    })
    .unwrap()
}

fn context() -> QuoteContext {
    QuoteContext { origin: GeoPoint { lat: 40.5, lon: -74.4 }, prime: false, now: NOW }
}

fn card() -> PaymentChoice {
    PaymentChoice { card: Some(CardToken::generate(1)), gift_card: None }
}

fn started() -> Checkout {
    let lines = vec![line("A", 2, 1_000), line("B", 1, 2_500)];
    Checkout::start(CheckoutId::generate(1), CartId::parse("cart-1").unwrap(), lines, NOW).unwrap().0
}

/// Runs an operation: an error changes nothing, replayed events rebuild the
/// new state, and the invariants hold.
fn checked(
    checkout: &mut Checkout,
    op: impl FnOnce(&mut Checkout) -> Result<Vec<CheckoutEvent>, CheckoutError>,
) -> Result<Vec<CheckoutEvent>, CheckoutError> {
    let before = checkout.clone();
    let result = op(checkout);
    match &result {
        Ok(events) => {
            let mut replayed = before;
            events.iter().for_each(|event| replayed.apply(event));
            assert_eq!(&replayed, checkout);
        }
        Err(_) => assert_eq!(&before, checkout),
    }
    assert_eq!(checkout.check_invariants(), Ok(()));
    result
}

#[test]
fn the_steps_run_in_order_to_placed() {
    let pricing = Pricing::default();
    let mut checkout = started();
    assert_eq!(checkout.step, CheckoutStep::Address);
    checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)).unwrap();
    assert_eq!(checkout.step, CheckoutStep::Shipping);
    let options = checkout.shipping_options(&pricing, &context()).unwrap();
    assert_eq!(options.len(), 3);
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::TwoDay, &pricing, &context())).unwrap();
    assert_eq!(checkout.step, CheckoutStep::Payment);
    let totals = checkout.totals.unwrap();
    // 45.00 at NY 4%: 0.80 + 1.00 tax; two-day zone 0, 1.5 kg: 8.99 + 1.50.
    assert_eq!((totals.subtotal, totals.tax, totals.shipping), (usd(4_500), usd(180), usd(1_049)));
    assert_eq!(totals.total, usd(4_500 + 180 + 1_049));
    checked(&mut checkout, |c| c.set_payment(card())).unwrap();
    assert_eq!(checkout.step, CheckoutStep::Review);
    checked(&mut checkout, |c| c.place(OrderId::generate(9), NOW)).unwrap();
    assert_eq!(checkout.step, CheckoutStep::Placed);
    assert_eq!(checked(&mut checkout, |c| c.set_payment(card())), Err(CheckoutError::AlreadyPlaced));
    assert_eq!(checked(&mut checkout, |c| c.place(OrderId::generate(9), NOW)), Err(CheckoutError::AlreadyPlaced));
}

#[test]
fn steps_cannot_be_skipped() {
    let pricing = Pricing::default();
    let mut checkout = started();
    assert_eq!(
        checked(&mut checkout, |c| c.set_shipping(ShippingOption::Standard, &pricing, &context())),
        Err(CheckoutError::StepSkipped { required: CheckoutStep::Shipping, current: CheckoutStep::Address })
    );
    assert!(matches!(checkout.shipping_options(&pricing, &context()), Err(CheckoutError::StepSkipped { .. })));
    assert!(matches!(checked(&mut checkout, |c| c.set_payment(card())), Err(CheckoutError::StepSkipped { .. })));
    assert!(matches!(
        checked(&mut checkout, |c| c.place(OrderId::generate(1), NOW)),
        Err(CheckoutError::StepSkipped { .. })
    ));
    checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)).unwrap();
    assert_eq!(
        checked(&mut checkout, |c| c.set_payment(card())),
        Err(CheckoutError::StepSkipped { required: CheckoutStep::Payment, current: CheckoutStep::Shipping })
    );
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::Standard, &pricing, &context())).unwrap();
    let nothing = PaymentChoice { card: None, gift_card: None };
    assert_eq!(checked(&mut checkout, |c| c.set_payment(nothing)), Err(CheckoutError::NoPaymentMethod));
}

#[test]
fn a_new_address_clears_shipping_and_payment() {
    let pricing = Pricing::default();
    let mut checkout = started();
    checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)).unwrap();
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::Standard, &pricing, &context())).unwrap();
    let split = PaymentChoice { card: Some(CardToken::generate(1)), gift_card: Some(GiftCardCode::generate(2)) };
    checked(&mut checkout, |c| c.set_payment(split)).unwrap();
    checked(&mut checkout, |c| c.set_address(address("CA", "US", "94105"), &pricing)).unwrap();
    assert_eq!(
        (checkout.step, checkout.shipping.is_none(), checkout.payment.is_none()),
        (CheckoutStep::Shipping, true, true)
    );
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::Standard, &pricing, &context())).unwrap();
    assert_eq!(checkout.totals.map(|totals| totals.tax), Some(usd(145 + 181)), "California's 7.25%");
    checked(&mut checkout, |c| c.set_payment(card())).unwrap();
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::NextDay, &pricing, &context())).unwrap();
    assert_eq!((checkout.step, checkout.payment.is_none()), (CheckoutStep::Payment, true));
}

#[test]
fn an_address_without_tax_rates_is_refused() {
    let pricing = Pricing {
        tax: crate::engine::pricing::TaxTable { rates: BTreeMap::new(), fallback: None },
        ..Pricing::default()
    };
    let mut checkout = started();
    assert!(matches!(
        checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)),
        Err(CheckoutError::Pricing(PricingError::UnknownJurisdiction { .. }))
    ));
}

#[test]
fn price_changes_are_reported_not_applied_until_accepted() {
    let pricing = Pricing::default();
    let mut checkout = started();
    checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)).unwrap();
    checked(&mut checkout, |c| c.set_shipping(ShippingOption::Standard, &pricing, &context())).unwrap();
    let sku = |raw: &str| Sku::parse(raw).unwrap();
    let prices = |catalog: BTreeMap<Sku, Money>| CurrentPrices { catalog, lapsed_claims: BTreeSet::new() };
    let same = prices([(sku("A"), usd(1_000)), (sku("B"), usd(2_500))].into());
    assert!(checkout.revalidate(&same).is_empty());
    assert!(checked(&mut checkout, |c| c.accept_prices(&same)).unwrap().is_empty());
    let changed = prices([(sku("A"), usd(900)), (sku("B"), usd(2_500))].into());
    assert_eq!(checkout.revalidate(&changed), [PriceChange { sku: sku("A"), was: usd(1_000), now: Some(usd(900)) }]);
    assert_eq!(checkout.lines[0].unit_price, usd(1_000), "revalidate applies nothing");
    let gone = prices([(sku("A"), usd(900))].into());
    assert_eq!(checkout.revalidate(&gone)[1], PriceChange { sku: sku("B"), was: usd(2_500), now: None });
    assert_eq!(checked(&mut checkout, |c| c.accept_prices(&gone)), Err(CheckoutError::Unavailable { sku: sku("B") }));
    checked(&mut checkout, |c| c.accept_prices(&changed)).unwrap();
    assert_eq!((checkout.lines[0].unit_price, checkout.step), (usd(900), CheckoutStep::Shipping));
}

#[test]
fn starting_needs_lines_in_one_currency() {
    let cart = || CartId::parse("c").unwrap();
    assert_eq!(
        Checkout::start(CheckoutId::generate(1), cart(), vec![], NOW).map(|_| ()),
        Err(CheckoutError::EmptyCart)
    );
    let many = (0..=CHECKOUT_LINES_MAX).map(|i| line(&format!("S{i}"), 1, 1)).collect();
    assert_eq!(
        Checkout::start(CheckoutId::generate(1), cart(), many, NOW).map(|_| ()),
        Err(CheckoutError::TooManyLines)
    );
    let mut euro = line("E", 1, 1);
    euro.unit_price = Money::new(1, Currency::EUR);
    assert!(Checkout::start(CheckoutId::generate(1), cart(), vec![line("A", 1, 1), euro], NOW).is_err());
    assert!(Checkout::start(CheckoutId::generate(1), cart(), vec![line("A", 0, 1)], NOW).is_err());
}

#[test]
fn a_checkout_round_trips_through_bincode() {
    let pricing = Pricing::default();
    let mut checkout = started();
    let mut events = Vec::new();
    events.extend(checkout.set_address(address("WA", "US", "98101"), &pricing).unwrap());
    events.extend(checkout.set_shipping(ShippingOption::Standard, &pricing, &context()).unwrap());
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec((&checkout, &events), config).unwrap();
    let (back, _): ((Checkout, Vec<CheckoutEvent>), usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, (checkout, events));
}

#[test]
fn the_subtotal_is_the_sum_of_the_lines_and_must_fit() {
    let checkout = started();
    let expected: i64 = checkout.lines.iter().map(|line| line.unit_price.cents * i64::from(line.quantity)).sum();
    assert_eq!(checkout.subtotal().unwrap(), usd(expected));
    let huge = vec![line("SKU-BIG", 999, i64::MAX / 100), line("SKU-SMALL", 1, 100)];
    let started = Checkout::start(CheckoutId::generate(2), CartId::parse("cart-2").unwrap(), huge, NOW);
    assert!(matches!(started, Err(CheckoutError::Pricing(PricingError::Money(_)))), "{started:?}");
}

fn held(id: u128, deal: &str, sku: &str, quantity: u32, cents: i64, expires_ms: u64) -> HeldClaim {
    HeldClaim {
        id: ReservationId::generate(id),
        deal: DealId::parse(deal).unwrap(),
        sku: Sku::parse(sku).unwrap(),
        quantity,
        price: usd(cents),
        expires_at: Timestamp::from_millis(expires_ms),
    }
}

#[test]
fn held_claims_are_used_whole_at_the_deal_price_and_the_rest_at_the_catalog_price() {
    let claims = [
        held(1, "deal_a", "A", 1, 700, 5_000),
        held(2, "deal_a", "A", 1, 700, 4_000),
        held(3, "deal_b", "A", 3, 650, 3_000),
        held(4, "deal_c", "Z", 1, 10, 3_000),
    ];
    let lines = apply_claims(vec![line("A", 4, 1_000), line("B", 1, 2_500)], &claims);
    let summary: Vec<(&str, u32, i64, usize)> =
        lines.iter().map(|l| (l.sku.as_str(), l.quantity, l.unit_price.cents, l.claims.len())).collect();
    // deal_b's claim of 3 expires first and fits; then one of deal_a's (the
    // sooner, id 2); the other deal_a claim no longer fits.
    assert_eq!(summary, [("A", 1, 700, 1), ("A", 3, 650, 1), ("B", 1, 2_500, 0)]);
    assert_eq!(lines[0].claims[0].id, ReservationId::generate(2));
    let too_big = apply_claims(vec![line("A", 2, 1_000)], &[held(3, "deal_b", "A", 3, 650, 3_000)]);
    assert_eq!(
        (too_big.len(), too_big[0].claims.len(), too_big[0].quantity),
        (1, 0, 2),
        "a claim larger than the line is left alone"
    );
}

#[test]
fn a_lapsed_claim_is_a_price_change_and_its_units_fall_back_to_the_catalog_price() {
    let pricing = Pricing::default();
    let claims = [held(1, "deal_a", "A", 1, 700, 5_000), held(2, "deal_a", "A", 1, 700, 6_000)];
    let lines = apply_claims(vec![line("A", 3, 1_000)], &claims);
    let mut checkout = Checkout::start(CheckoutId::generate(9), CartId::parse("c").unwrap(), lines, NOW).unwrap().0;
    assert_eq!(checkout.subtotal().unwrap(), usd(2 * 700 + 1_000));
    checked(&mut checkout, |c| c.set_address(address("NY", "US", "10001"), &pricing)).unwrap();
    let catalog: BTreeMap<Sku, Money> = [(Sku::parse("A").unwrap(), usd(1_000))].into();
    let all_held = CurrentPrices { catalog: catalog.clone(), lapsed_claims: BTreeSet::new() };
    assert!(checkout.revalidate(&all_held).is_empty(), "a held claim keeps the deal price");
    let one_lapsed = CurrentPrices { catalog, lapsed_claims: [ReservationId::generate(1)].into() };
    assert_eq!(
        checkout.revalidate(&one_lapsed),
        [PriceChange { sku: Sku::parse("A").unwrap(), was: usd(700), now: Some(usd(1_000)) }]
    );
    checked(&mut checkout, |c| c.accept_prices(&one_lapsed)).unwrap();
    let summary: Vec<(u32, i64, usize)> =
        checkout.lines.iter().map(|l| (l.quantity, l.unit_price.cents, l.claims.len())).collect();
    assert_eq!(summary, [(1, 700, 1), (2, 1_000, 0)], "the lapsed unit joins the catalog line");
    assert_eq!(checkout.claims().map(|claim| claim.id.clone()).collect::<Vec<_>>(), [ReservationId::generate(2)]);
    assert_eq!(checkout.subtotal().unwrap(), usd(700 + 2_000));
}

#[test]
fn the_place_bracket_admits_one_attempt_and_ends_placed_or_given_up() {
    let pricing = Arc::new(Pricing::default());
    let customer = CustomerId::generate(7);
    let mut record = CheckoutRecord { checkout: started(), customer: customer.clone(), placing: None };
    let send = |record: &mut CheckoutRecord, command: CheckoutCommand| {
        let before = record.clone();
        let result = record.apply(CheckoutMessage { command, owner: Some(customer.clone()) });
        if result.is_err() {
            assert_eq!(&before, record, "a refusal changes nothing");
        }
        result
    };
    let (first, second) = (OrderId::generate(1), OrderId::generate(2));
    let early = send(&mut record, CheckoutCommand::BeginPlace { order: first.clone() });
    assert!(matches!(early, Err(CheckoutRejection::Rule(CheckoutError::StepSkipped { .. }))));
    let address = CheckoutCommand::SetAddress { address: address("NY", "US", "10001"), pricing: pricing.clone() };
    send(&mut record, address).unwrap();
    let shipping =
        CheckoutCommand::SetShipping { option: ShippingOption::Standard, pricing: pricing.clone(), context: context() };
    send(&mut record, shipping).unwrap();
    send(&mut record, CheckoutCommand::SetPayment(card())).unwrap();

    assert_eq!(send(&mut record, CheckoutCommand::BeginPlace { order: first.clone() }), Ok(true));
    assert_eq!(send(&mut record, CheckoutCommand::BeginPlace { order: first.clone() }), Ok(false), "a retry");
    let concurrent = send(&mut record, CheckoutCommand::BeginPlace { order: second.clone() });
    assert!(matches!(concurrent, Err(CheckoutRejection::PlaceInProgress { .. })));
    let edit = send(&mut record, CheckoutCommand::SetPayment(card()));
    assert!(matches!(edit, Err(CheckoutRejection::PlaceInProgress { .. })), "no edits while placing");
    assert_eq!(send(&mut record, CheckoutCommand::EndPlace { order: second.clone(), placed_at: None }), Ok(false));

    // Given up (a compensated saga): another attempt may start.
    assert_eq!(send(&mut record, CheckoutCommand::EndPlace { order: first.clone(), placed_at: None }), Ok(true));
    assert_eq!(record.placing, None);
    assert_eq!(send(&mut record, CheckoutCommand::BeginPlace { order: second.clone() }), Ok(true));
    assert_eq!(send(&mut record, CheckoutCommand::EndPlace { order: second, placed_at: Some(NOW) }), Ok(true));
    assert_eq!(record.checkout.step, CheckoutStep::Placed);
    assert_eq!(send(&mut record, CheckoutCommand::BeginPlace { order: first }), Ok(false), "placed already");

    let stranger =
        record.apply(CheckoutMessage { command: CheckoutCommand::Read, owner: Some(CustomerId::generate(8)) });
    assert!(matches!(stranger, Err(CheckoutRejection::NotFound { .. })), "another customer's checkout is not found");
}
