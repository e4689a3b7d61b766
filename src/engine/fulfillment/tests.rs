use super::route::{self, Layout, Position, START};
use super::*;
use crate::engine::{ShipmentId, Sku, Timestamp};
use proptest::prelude::*;
use std::collections::HashMap;

fn bin(raw: &str) -> BinCode {
    raw.parse().unwrap()
}

fn at(aisle: u32, bay: u32) -> Position {
    Position { aisle, bay }
}

#[test]
fn bin_codes_parse_print_and_refuse_what_is_not_one() {
    assert_eq!(bin("A-03-2").to_string(), "A-03-2");
    assert_eq!(bin("A-3-2"), bin("A-03-2"), "a bay without its zero is the same bin");
    assert_eq!(bin("B-120-0").to_string(), "B-120-0");
    assert_eq!(bin("AA-01-1").aisle(), 26);
    assert_eq!(bin("ZZ-999-99").to_string(), "ZZ-999-99");
    for bad in [
        "", "A", "A-1", "A-1-1-1", "a-01-1", "A1-01-1", "AAA-01-1", "A-0-1", "A-1000-1", "A-01-100", "A--1", "A-x-1",
        "A-+1-1",
    ] {
        assert!(bad.parse::<BinCode>().is_err(), "{bad:?} is not a bin code");
    }
    let round: BinCode = serde_json::from_str("\"C-07-3\"").unwrap();
    assert_eq!(serde_json::to_string(&round).unwrap(), "\"C-07-3\"");
    assert!(serde_json::from_str::<BinCode>("\"C-7\"").is_err());
}

#[test]
fn bins_list_in_the_serpentine_walk_order() {
    let mut bins: Vec<BinCode> =
        ["B-01-1", "A-02-1", "C-01-0", "B-05-2", "A-01-2", "A-01-1", "B-05-1", "C-04-1"].map(bin).to_vec();
    bins.sort();
    let listed: Vec<String> = bins.iter().map(ToString::to_string).collect();
    assert_eq!(listed, ["A-01-1", "A-01-2", "A-02-1", "B-05-1", "B-05-2", "B-01-1", "C-01-0", "C-04-1"]);
}

#[test]
fn walking_goes_round_through_the_front_or_the_back() {
    // Bays 1..=10: the back cross-aisle is at 11.
    let layout = Layout::new(10);
    assert_eq!(layout.distance(at(0, 2), at(0, 9)), 7, "along one aisle");
    assert_eq!(layout.distance(at(0, 2), at(3, 1)), 3 + 3, "out the front: 2 + 1, across 3");
    assert_eq!(layout.distance(at(0, 9), at(1, 10)), 1 + 3, "out the back: 2 + 1, across 1");
    assert_eq!(layout.distance(START, at(2, 4)), 2 + 4);
    // A, B and C with one bay each, visited in serpentine order: up A to 3,
    // back out, across to B, up to 8 and out the back (3), across to C and
    // down to 5, then out the front and back to A.
    let route = [at(0, 3), at(1, 8), at(2, 5)];
    assert_eq!(layout.tour_length(&route), 3 + (3 + 1 + 8) + (3 + 1 + 6) + (5 + 2));
    assert_eq!(layout.tour_length(&[]), 0);
}

/// Every order of `positions`, the shortest length.
fn brute_force(layout: &Layout, positions: &[Position]) -> u64 {
    fn permute(layout: &Layout, items: &mut Vec<Position>, k: usize, best: &mut u64) {
        if k == items.len() {
            *best = (*best).min(layout.tour_length(items));
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permute(layout, items, k + 1, best);
            items.swap(k, i);
        }
    }
    let mut best = u64::MAX;
    permute(layout, &mut positions.to_vec(), 0, &mut best);
    best
}

fn positions(max: usize) -> impl Strategy<Value = (u32, Vec<Position>)> {
    (3_u32..=6, 4_u32..=30).prop_flat_map(move |(aisles, bays)| {
        let one = (0..aisles, 1..=bays).prop_map(|(aisle, bay)| Position { aisle, bay });
        (Just(bays), prop::collection::hash_set(one, 1..=max).prop_map(|set| set.into_iter().collect()))
    })
}

fn is_a_permutation_of(route: &[Position], positions: &[Position]) -> bool {
    let mut a = route.to_vec();
    let mut b = positions.to_vec();
    a.sort();
    b.sort();
    a == b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// The route optimizer against every order, up to nine bays: what it
    /// answers is the optimum (exact up to `EXACT_MAX`), and the heuristic
    /// it uses for larger lists is within 10% of it.
    #[test]
    fn small_routes_are_optimal_and_the_heuristic_is_within_ten_percent((bays, positions) in positions(9)) {
        let layout = Layout::new(bays);
        let optimum = brute_force(&layout, &positions);
        let route = route::optimize(&layout, &positions);
        prop_assert!(is_a_permutation_of(&route, &positions));
        prop_assert_eq!(layout.tour_length(&route), optimum);
        let heuristic = route::heuristic(&layout, &positions);
        prop_assert!(is_a_permutation_of(&heuristic, &positions));
        let length = layout.tour_length(&heuristic);
        prop_assert!(length * 10 <= optimum * 11, "heuristic {} against optimum {}", length, optimum);
    }

    /// Large routes visit every bay once and are never longer than the
    /// serpentine route.
    #[test]
    fn no_route_is_longer_than_the_serpentine_one((bays, positions) in positions(80)) {
        let layout = Layout::new(bays);
        let route = route::optimize(&layout, &positions);
        prop_assert!(is_a_permutation_of(&route, &positions));
        prop_assert!(layout.tour_length(&route) <= layout.tour_length(&route::serpentine(&positions)));
    }
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn shipment(id: &str, since: u64, prime: bool, lines: &[(&str, u32)]) -> ReadyShipment {
    ReadyShipment {
        id: ShipmentId::parse(id).unwrap(),
        ready_since: Timestamp::from_millis(since),
        prime,
        on_hold: false,
        lines: lines.iter().map(|(raw, units)| (sku(raw), *units)).collect(),
    }
}

fn stock(entries: &[(&str, &str, u32)]) -> Vec<BinStock> {
    entries
        .iter()
        .map(|(code, raw, quantity)| BinStock { bin: bin(code), sku: sku(raw), quantity: *quantity })
        .collect()
}

fn ids(plan: &PickPlan) -> Vec<&str> {
    plan.shipments.iter().map(ShipmentId::as_str).collect()
}

#[test]
fn a_wave_takes_prime_first_then_the_oldest_and_never_an_order_on_hold() {
    let shelves = stock(&[("A-01-1", "S1", 100), ("B-04-1", "S2", 100)]);
    let layout = Layout::of_bins(shelves.iter().map(|entry| entry.bin));
    let mut held = shipment("shp_held", 0, true, &[("S1", 1)]);
    held.on_hold = true;
    let ready = vec![
        shipment("shp_old", 10, false, &[("S1", 1)]),
        shipment("shp_new", 30, false, &[("S2", 1)]),
        shipment("shp_prime", 20, true, &[("S2", 2)]),
        held,
    ];
    let plan = plan_wave(&layout, &ready, &shelves, 2).unwrap();
    assert_eq!(ids(&plan), ["shp_prime", "shp_old"]);
    let plan = plan_wave(&layout, &ready, &shelves, 10).unwrap();
    assert_eq!(ids(&plan), ["shp_prime", "shp_old", "shp_new"]);
    assert_eq!(plan_wave(&layout, &ready, &shelves, 0), Err(WaveError::NoRoom));
    assert_eq!(plan_wave(&layout, &ready[3..], &shelves, 5), Err(WaveError::NothingReady));
}

#[test]
fn a_wave_merges_stops_and_leaves_out_what_the_bins_cannot_cover() {
    let shelves = stock(&[("A-02-1", "S1", 3), ("A-02-2", "S2", 5), ("C-09-1", "S1", 1), ("B-05-1", "S3", 1)]);
    let layout = Layout::of_bins(shelves.iter().map(|entry| entry.bin));
    let ready = vec![
        shipment("shp_1", 1, false, &[("S1", 2), ("S2", 1)]),
        shipment("shp_2", 2, false, &[("S1", 2)]),
        shipment("shp_3", 3, false, &[("S3", 2)]),
        shipment("shp_4", 4, false, &[("S2", 4)]),
    ];
    let plan = plan_wave(&layout, &ready, &shelves, 10).unwrap();
    assert_eq!(ids(&plan), ["shp_1", "shp_2", "shp_4"]);
    assert_eq!(plan.unpickable, [ShipmentId::parse("shp_3").unwrap()]);
    let stops: Vec<(String, &str, u32)> =
        plan.stops.iter().map(|stop| (stop.bin.to_string(), stop.sku.as_str(), stop.quantity)).collect();
    // shp_2's two units: one left in A-02-1, one in C-09-1.
    assert_eq!(stops, [("A-02-1".into(), "S1", 3), ("A-02-2".into(), "S2", 5), ("C-09-1".into(), "S1", 1)]);
    assert_eq!(plan.stops[1].serves.len(), 2, "one stop serves two shipments");
    assert!(plan.walk_distance <= plan.serpentine_distance);
}

fn wave_input() -> impl Strategy<Value = (Vec<BinStock>, Vec<ReadyShipment>, usize)> {
    let skus = ["S0", "S1", "S2", "S3", "S4", "S5"];
    let entry = (0_u16..5, 1_u16..=20, 0_u8..3, 0_usize..skus.len(), 0_u32..6);
    let stock = prop::collection::vec(entry, 1..40).prop_map(move |entries| {
        let mut seen = HashMap::new();
        for (aisle, bay, level, sku, quantity) in entries {
            seen.insert((BinCode::new(aisle, bay, level).unwrap(), skus[sku]), quantity);
        }
        seen.into_iter().map(|((bin, raw), quantity)| BinStock { bin, sku: sku(raw), quantity }).collect::<Vec<_>>()
    });
    let line = (0_usize..skus.len(), 1_u32..4).prop_map(move |(sku, units)| (skus[sku], units));
    let one = (0_u64..50, any::<bool>(), any::<bool>(), prop::collection::vec(line, 1..4));
    let ready = prop::collection::vec(one, 1..25).prop_map(|shipments| {
        shipments
            .into_iter()
            .enumerate()
            .map(|(n, (since, prime, on_hold, lines))| {
                let mut ready = shipment(&format!("shp_{n}"), since, prime, &lines);
                ready.on_hold = on_hold && n % 3 == 0;
                ready
            })
            .collect::<Vec<_>>()
    });
    (stock, ready, 1_usize..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the queue and the shelves: no bin gives more than it holds,
    /// every shipment taken gets exactly its lines, none on hold is taken,
    /// Prime ones come before the others, and the route is never longer
    /// than the serpentine one.
    #[test]
    fn a_wave_never_takes_more_than_a_bin_holds_and_serves_each_shipment_whole(
        (shelves, ready, max) in wave_input()
    ) {
        let layout = Layout::of_bins(shelves.iter().map(|entry| entry.bin));
        let plan = match plan_wave(&layout, &ready, &shelves, max) {
            Ok(plan) => plan,
            Err(err) => {
                // Nothing ready: no shipment off hold fits the shelves alone.
                prop_assert_eq!(err, WaveError::NothingReady);
                let on_shelves = |sku: &Sku| shelves.iter().filter(|entry| entry.sku == *sku).map(|entry| entry.quantity).sum::<u32>();
                for shipment in ready.iter().filter(|shipment| !shipment.on_hold) {
                    let short = shipment.lines.iter().any(|(sku, _)| {
                        let wanted: u32 = shipment.lines.iter().filter(|(other, _)| other == sku).map(|(_, units)| units).sum();
                        wanted > on_shelves(sku)
                    });
                    prop_assert!(short, "{} fits the shelves but was not taken", shipment.id);
                }
                return Ok(());
            }
        };
        prop_assert!(plan.shipments.len() <= max);
        let held: HashMap<(BinCode, &Sku), u32> =
            shelves.iter().map(|entry| ((entry.bin, &entry.sku), entry.quantity)).collect();
        let mut served: HashMap<(&ShipmentId, &Sku), u32> = HashMap::new();
        for stop in &plan.stops {
            prop_assert!(stop.quantity > 0);
            prop_assert!(stop.quantity <= held[&(stop.bin, &stop.sku)], "{} takes more than it holds", stop.bin);
            prop_assert_eq!(stop.serves.iter().map(|(_, units)| units).sum::<u32>(), stop.quantity);
            for (id, units) in &stop.serves {
                *served.entry((id, &stop.sku)).or_default() += units;
            }
        }
        let by_id: HashMap<&ShipmentId, &ReadyShipment> = ready.iter().map(|shipment| (&shipment.id, shipment)).collect();
        for id in &plan.shipments {
            let shipment = by_id[id];
            prop_assert!(!shipment.on_hold);
            let mut wanted: HashMap<&Sku, u32> = HashMap::new();
            for (sku, units) in &shipment.lines {
                *wanted.entry(sku).or_default() += units;
            }
            for (sku, units) in wanted {
                prop_assert_eq!(served.get(&(id, sku)).copied().unwrap_or(0), units);
            }
        }
        prop_assert_eq!(served.keys().filter(|(id, _)| !plan.shipments.contains(id)).count(), 0);
        let primes: Vec<bool> = plan.shipments.iter().map(|id| by_id[id].prime).collect();
        prop_assert!(primes.windows(2).all(|pair| pair[0] || !pair[1]), "Prime first: {:?}", primes);
        prop_assert!(plan.walk_distance <= plan.serpentine_distance);
        let stop_positions: Vec<Position> = plan.stops.iter().map(|stop| stop.bin.position()).collect();
        let mut route = stop_positions.clone();
        route.dedup();
        let mut unique = route.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(route.len(), unique.len(), "a bay's stops are next to each other");
        prop_assert_eq!(layout.tour_length(&route), plan.walk_distance);
    }
}

mod carriers {
    use super::super::carrier::*;
    use crate::engine::Timestamp;
    use proptest::prelude::*;

    const DAY: u64 = 24 * 3600 * 1000;
    /// 2024-01-01T00:00:00Z, a Monday.
    const MONDAY: u64 = 1_704_067_200_000;

    fn at(day: u64, hour: u64) -> Timestamp {
        Timestamp::from_millis(MONDAY + day * DAY + hour * 3600 * 1000)
    }

    #[test]
    fn tracking_numbers_carry_their_check_digits() {
        let s10 = TrackingFormat::S10 { service: *b"RR", country: *b"GB" };
        assert_eq!(s10.number(47_312_482), "RR473124829GB", "the UPU's own example");
        assert!(s10.is_valid("RR473124829GB"));
        assert!(!s10.is_valid("RR473124828GB"));
        assert!(!s10.is_valid("RX473124829GB"));
        let luhn = TrackingFormat::Luhn { prefix: *b"SW" };
        assert_eq!(luhn.number(7_992_739_871), "SW00079927398713", "the classic Luhn example ends in 3");
        assert_eq!(TrackingFormat::Gs1.number(629_104_150_021), "000006291041500213", "a GS1 example: check 3");
        for format in [luhn, s10, TrackingFormat::Gs1] {
            for serial in [0, 1, 99, 123_456_789, u64::MAX] {
                let number = format.number(serial);
                assert!(format.is_valid(&number), "{number}");
            }
            assert!(!format.is_valid(""));
            assert!(!format.is_valid("é"));
        }
    }

    proptest! {
        /// Luhn and GS1 numbers catch every single wrong digit.
        #[test]
        fn one_wrong_digit_is_caught(serial in any::<u64>(), position in 0_usize..16, change in 1_u8..10) {
            for format in [TrackingFormat::Luhn { prefix: *b"SW" }, TrackingFormat::Gs1] {
                let mut number = format.number(serial).into_bytes();
                let digits: Vec<usize> = (0..number.len()).filter(|index| number[*index].is_ascii_digit()).collect();
                let index = digits[position % digits.len()];
                number[index] = b'0' + (number[index] - b'0' + change) % 10;
                prop_assert!(!format.is_valid(&String::from_utf8(number).unwrap()));
            }
        }
    }

    #[test]
    fn the_cheapest_carrier_that_keeps_the_promise_is_chosen() {
        let carriers = simulated_carriers();
        // Zone 1 (up to 1,600 km), 2.5 kg: within 4 days the cheapest is
        // National Post's Parcel (560 + 2 x 100).
        let choice = choose_carrier(&carriers, 1, 2_500, 4).unwrap();
        assert_eq!((choice.carrier.id.as_str(), choice.service.name.as_str()), ("postal", "Parcel"));
        assert_eq!((choice.price_cents, choice.transit_days, choice.meets_promise), (760, 4, true));
        // Prime's two days: CargoLine's Two-day (1,080 + 2 x 160) is the
        // cheapest of the services that make it.
        let choice = choose_carrier(&carriers, 1, 2_500, promised_days(4, true)).unwrap();
        assert_eq!((choice.carrier.id.as_str(), choice.service.name.as_str()), ("cargoline", "Two-day"));
        assert_eq!(choice.price_cents, 1_400);
        // Nothing arrives next day beyond 5,000 km: the fastest is chosen.
        let choice = choose_carrier(&carriers, 3, 500, 1).unwrap();
        assert_eq!((choice.carrier.id.as_str(), choice.transit_days, choice.meets_promise), ("swiftship", 3, false));
        assert!(choose_carrier(&carriers, 9, 500, 5).is_none(), "a zone no table has");
        assert_eq!(promised_days(5, false), 5);
    }

    #[test]
    fn the_cutoff_and_weekends_move_the_departure() {
        let cutoff = 15 * 60;
        assert_eq!(departure_day(at(0, 14), cutoff), at(0, 0), "Monday before the cut-off");
        assert_eq!(departure_day(at(0, 15), cutoff), at(1, 0), "Monday at the cut-off: Tuesday");
        assert_eq!(departure_day(at(4, 16), cutoff), at(7, 0), "Friday after it: Monday");
        assert_eq!(departure_day(at(5, 9), cutoff), at(7, 0), "Saturday: Monday");
        assert_eq!(business_days_between(at(0, 10), at(0, 20)), 0);
        assert_eq!(business_days_between(at(0, 10), at(1, 1)), 1);
        assert_eq!(business_days_between(at(4, 10), at(7, 1)), 1, "Friday to Monday");
        assert_eq!(business_days_between(at(3, 10), at(10, 1)), 5);
    }

    #[test]
    fn estimates_use_observed_transit_times_once_there_are_enough() {
        let end_of = |day: u64| Timestamp::from_millis(MONDAY + day * DAY + DAY - 1);
        let start_of = |day: u64| Timestamp::from_millis(MONDAY + day * DAY);
        // Shipped Monday 10:00 before a 15:00 cut-off, 3 days by the table.
        let table = estimate_delivery(at(0, 10), 15 * 60, 3, None);
        assert_eq!((table.date, table.from, table.to), (end_of(3), start_of(2), end_of(4)));
        assert_eq!(table.source, EstimateSource::RateTable);
        let mut stats = TransitStats::default();
        for n in 0..(TransitStats::ENOUGH - 1) {
            stats.observe(if n % 2 == 0 { 1 } else { 2 });
        }
        assert_eq!(estimate_delivery(at(0, 10), 15 * 60, 3, Some(&stats)).source, EstimateSource::RateTable);
        stats.observe(4);
        let observed = estimate_delivery(at(0, 10), 15 * 60, 3, Some(&stats));
        assert_eq!(stats.percentiles(), Some((1, 1, 2)));
        assert_eq!((observed.date, observed.from, observed.to), (end_of(1), start_of(1), end_of(2)));
        assert_eq!(observed.source, EstimateSource::Observed);
        for _ in 0..2 * TransitStats::KEPT {
            stats.observe(6);
        }
        assert_eq!(stats.percentiles(), Some((6, 6, 6)), "only the newest observations count");
        assert_eq!(stats.observed, 20 + 2 * TransitStats::KEPT as u64);
    }
}
