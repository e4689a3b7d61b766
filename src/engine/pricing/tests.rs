use super::*;
use crate::engine::address::AddressInput;

/// 2024-01-01T10:00:00Z, a Monday.
const NOW: Timestamp = Timestamp::from_millis(1_704_103_200_000);
/// A warehouse in New Jersey.
const EAST: GeoPoint = GeoPoint { lat: 40.5, lon: -74.4 };

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::USD)
}

fn line(sku: &str, quantity: u32, cents: i64, tax_category: TaxCategory, weight_grams: u32) -> PricedLine {
    PricedLine { sku: Sku::parse(sku).unwrap(), quantity, unit_price: usd(cents), tax_category, weight_grams }
}

fn address(region: Option<&str>, postal_code: &str, country: &str) -> Address {
    Address::parse(&AddressInput {
        name: "Ada".into(),
        line1: "1 Main St".into(),
        line2: None,
        city: "Town".into(),
        region: region.map(str::to_owned),
        postal_code: postal_code.into(),
        country: country.into(),
    })
    .unwrap()
}

fn context(prime: bool) -> QuoteContext {
    QuoteContext { origin: EAST, prime, now: NOW }
}

#[test]
fn tax_rounds_half_up_per_line() {
    assert_eq!(tax_on(usd(1000), 72_500), Ok(usd(73)), "72.5 cents rounds up");
    assert_eq!(tax_on(usd(999), 72_500), Ok(usd(72)), "72.4275 rounds down");
    assert_eq!(tax_on(usd(200), 62_500), Ok(usd(13)), "12.5 rounds up");
    assert_eq!(tax_on(usd(-200), 62_500), Ok(usd(-13)), "symmetric for negatives");
    assert_eq!(tax_on(usd(i64::MAX), PPM), Ok(usd(i64::MAX)));
    assert_eq!(tax_on(usd(i64::MAX), 2 * PPM), Err(MoneyError::Overflow));
}

#[test]
fn default_rates_cover_every_destination() {
    let table = TaxTable::default();
    assert_eq!(table.validate(), Ok(()));
    for country in crate::engine::address::COUNTRIES {
        if country.regions.is_empty() {
            assert!(table.rates_for(country.code, None).is_ok(), "{}", country.code);
        }
        for region in country.regions {
            assert!(table.rates_for(country.code, Some(region.code)).is_ok(), "{}", region.code);
        }
    }
    assert_eq!(table.rates_for("US", Some("CA")).unwrap().standard_ppm, 72_500);
    assert_eq!(table.rates_for("US", Some("NJ")).unwrap().standard_ppm, 66_250);
    assert_eq!(table.rates_for("US", Some("OR")).unwrap().standard_ppm, 0);
    assert_eq!(table.rates_for("DE", None).unwrap(), TaxRates { standard_ppm: 190_000, reduced_ppm: 70_000 });
    assert_eq!(table.rates_for("FR", Some("Paris")).unwrap().reduced_ppm, 55_000);
    assert_eq!(table.rates_for("IE", None).unwrap().reduced_ppm, 135_000);
}

#[test]
fn unknown_jurisdictions_fail_unless_a_fallback_is_configured() {
    let mut table = TaxTable::default();
    assert_eq!(table.rates_for("JP", None), Err(PricingError::UnknownJurisdiction { jurisdiction: "JP".to_owned() }));
    table.fallback = Some(TaxRates { standard_ppm: 100_000, reduced_ppm: 0 });
    assert_eq!(table.rates_for("JP", None).unwrap().standard_ppm, 100_000);
    table.fallback = Some(TaxRates { standard_ppm: PPM + 1, reduced_ppm: 0 });
    assert!(table.validate().is_err());
}

#[test]
fn the_zero_category_is_never_taxed() {
    let pricing = Pricing::default();
    let lines = [line("A", 2, 1_000, TaxCategory::Zero, 100), line("B", 1, 1_000, TaxCategory::Reduced, 100)];
    let taxes = pricing.line_taxes(&lines, &address(None, "10115", "DE")).unwrap();
    assert_eq!(taxes[0].tax, usd(0));
    assert_eq!(taxes[1].tax, usd(70));
}

#[test]
fn a_quote_adds_subtotal_tax_and_shipping() {
    let pricing = Pricing::default();
    let lines = [line("A", 3, 333, TaxCategory::Standard, 400), line("B", 1, 1_999, TaxCategory::Standard, 900)];
    let quote = pricing
        .quote(&lines, &address(Some("CA"), "94105", "US"), ShippingOption::Standard, None, &context(false))
        .unwrap();
    // 999 * 7.25% = 72.43 -> 72; 1999 * 7.25% = 144.93 -> 145.
    assert_eq!(quote.lines.iter().map(|line| line.tax.cents).collect::<Vec<_>>(), [72, 145]);
    // NJ to California is about 3,900 km: zone 2; 2.1 kg: 2 extra started kg.
    assert_eq!(quote.shipping.zone, 2);
    assert_eq!(quote.shipping.price, usd(799 + 2 * 100));
    assert_eq!(quote.shipping.delivery_by, delivery_by(NOW, 5));
    let totals = quote.totals;
    assert_eq!(
        (totals.subtotal, totals.tax, totals.shipping, totals.discount),
        (usd(2_998), usd(217), usd(999), usd(0))
    );
    assert_eq!(totals.total, usd(2_998 + 217 + 999));
}

#[test]
fn prime_ships_standard_and_two_day_free_but_not_next_day() {
    let pricing = Pricing::default();
    let lines = [line("A", 1, 1_000, TaxCategory::Standard, 500)];
    let destination = address(Some("NY"), "10001", "US");
    let options = pricing.shipping_options(&lines, &destination, &context(true)).unwrap();
    let prices: Vec<_> = options.iter().map(|quote| (quote.option, quote.price.cents)).collect();
    assert_eq!(prices, [(ShippingOption::Standard, 0), (ShippingOption::TwoDay, 0), (ShippingOption::NextDay, 1_499)]);
    let regular = pricing.shipping_options(&lines, &destination, &context(false)).unwrap();
    assert_eq!(regular[0].price, usd(499));
    assert_eq!(regular[2].delivery_by, delivery_by(NOW, 1));
}

#[test]
fn farther_destinations_cost_more_and_take_longer() {
    let pricing = Pricing::default();
    let lines = [line("A", 1, 1_000, TaxCategory::Standard, 500)];
    let near = pricing
        .shipping_quote(
            ShippingOption::Standard,
            &lines,
            Currency::USD,
            &address(Some("NJ"), "07001", "US"),
            &context(false),
        )
        .unwrap();
    let far = pricing
        .shipping_quote(ShippingOption::Standard, &lines, Currency::USD, &address(None, "10115", "DE"), &context(false))
        .unwrap();
    assert_eq!((near.zone, far.zone), (0, 3));
    assert!(far.price.cents > near.price.cents);
    assert!(far.delivery_by > near.delivery_by);
}

#[test]
fn discounts_lower_the_total_but_not_below_tax_and_shipping() {
    let pricing = Pricing::default();
    let lines = [line("A", 1, 1_000, TaxCategory::Standard, 500)];
    let destination = address(Some("OR"), "97201", "US");
    let quote = pricing.quote(&lines, &destination, ShippingOption::Standard, Some(usd(300)), &context(true)).unwrap();
    assert_eq!(quote.totals.total, usd(700));
    let too_much = pricing.quote(&lines, &destination, ShippingOption::Standard, Some(usd(1_001)), &context(true));
    assert!(matches!(too_much, Err(PricingError::DiscountTooLarge { .. })));
}

#[test]
fn bad_lines_and_overflow_are_errors_not_panics() {
    let pricing = Pricing::default();
    let destination = address(Some("TX"), "73301", "US");
    let quote =
        |lines: &[PricedLine]| pricing.quote(lines, &destination, ShippingOption::Standard, None, &context(false));
    assert_eq!(quote(&[]), Err(PricingError::NoLines));
    assert!(matches!(quote(&[line("A", 0, 1, TaxCategory::Standard, 1)]), Err(PricingError::ZeroQuantity { .. })));
    let mut euro = line("B", 1, 1, TaxCategory::Standard, 1);
    euro.unit_price = Money::new(1, Currency::EUR);
    assert!(matches!(
        quote(&[line("A", 1, 1, TaxCategory::Standard, 1), euro]),
        Err(PricingError::Money(MoneyError::CurrencyMismatch { .. }))
    ));
    assert_eq!(
        quote(&[line("A", 2, i64::MAX / 2 + 1, TaxCategory::Standard, 1)]),
        Err(PricingError::Money(MoneyError::Overflow))
    );
    assert_eq!(
        quote(&[
            line("A", u32::MAX, 1, TaxCategory::Zero, u32::MAX),
            line("B", u32::MAX, 1, TaxCategory::Zero, u32::MAX)
        ])
        .map(|quote| quote.totals.subtotal),
        Err(PricingError::Money(MoneyError::Overflow)),
        "a weight beyond u64 grams is an error"
    );
}

#[test]
fn the_tables_round_trip_through_serde() {
    let pricing = Pricing::default();
    let json = serde_json::to_string(&pricing).unwrap();
    assert_eq!(serde_json::from_str::<Pricing>(&json).unwrap(), pricing);
    assert_eq!(pricing.validate(), Ok(()));
}
