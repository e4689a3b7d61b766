//! A seeded whole-system simulation, in the spirit of TigerBeetle's VOPR:
//! random interleavings of cart edits, holds, retried holds, commits,
//! releases, deal claims, checkouts, cancels, restocks, clock jumps (so holds
//! and claims expire), passivations and restarts, over the embedded API on
//! a manual clock and a seeded source of ids. After every step, every
//! invariant is checked against a model kept by the simulation:
//!
//! - no oversell: in every bucket, held + committed + safety stock never
//!   exceed on hand, and on hand is what was stocked;
//! - held units are exactly the live holds (so each expiry returned its
//!   units once), committed units exactly the committed holds and the lines
//!   of orders not cancelled;
//! - a deal's units are all accounted for (remaining + held + sold + given
//!   back = quantity), held and sold are its live and sold claims, no
//!   customer holds more than the limit;
//! - no lost cart line: every cart is exactly the model's;
//! - idempotency: a retried hold is the same hold and holds nothing more;
//! - every hold, claim and order reads back with the model's status.
//!
//! A failure prints the seed, the step and the last steps taken, and the
//! command that replays that seed alone. `MERCATO_SIM_SEEDS` (how many
//! seeds, default 6), `MERCATO_SIM_STEPS` (steps per seed, default 250) and
//! `MERCATO_SIM_SEED` (one seed) change the run.
//!
//! It finds real bugs: with a bug planted in `DealShard::restore` (a shard
//! rebuilt after a restart or a passivation forgets its sold claims when it
//! counts a customer's units against the limit, one deleted line), 8 of
//! seeds 1 to 10 fail, at steps 55 to 174 (median about 75), each in under
//! a second; seed 2 fails at step 59 every time it is replayed.
//!
//! The operations and their arguments follow from the seed alone; the
//! actors' threads still interleave as the machine schedules them, which
//! the invariants must not notice.

use crate::common::START;
use mercato::clock::ManualClock;
use mercato::engine::deal::DealTerms;
use mercato::engine::GeoPoint;
use mercato::engine::{
    AddressInput, BucketKey, CardInput, CardToken, CartId, Currency, CustomerId, DealId, HoldStatus, Money, OrderId,
    PaymentChoice, ReservationId, Sku, Warehouse, WarehouseId,
};
use mercato::{Config, Durability, Error, Mercato, ReserveRequest, StockUpdate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

const WAREHOUSES: [&str; 2] = ["W-1", "W-2"];
/// Sold through carts, checkouts and holds.
const SKUS: [&str; 2] = ["SKU-A", "SKU-B"];
/// Sold only through the deal.
const DEAL_SKU: &str = "SKU-D";
const DEAL_QUANTITY: u32 = 6;
const DEAL_LIMIT: u32 = 2;
const SHOPPERS: usize = 3;
const PASSIVATE_AFTER: Duration = Duration::from_millis(15);
/// How many steps a failure report shows.
const TRACE: usize = 25;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|raw| raw.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_interleavings_keep_every_invariant() {
    let steps = env_u64("MERCATO_SIM_STEPS").unwrap_or(250);
    let seeds: Vec<u64> = match env_u64("MERCATO_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let count = env_u64("MERCATO_SIM_SEEDS").unwrap_or(6);
            // A fresh set each run (printed), so CI explores new seeds.
            let base: u64 = rand::random::<u64>() >> 16;
            (base..base + count).collect()
        }
    };
    for seed in seeds {
        let started = std::time::Instant::now();
        let summary = match simulate(seed, steps).await {
            Ok(summary) => summary,
            Err(failure) => panic!(
                "simulation seed {seed} failed at step {} of {steps}: {}\nlast steps:\n{}\nreplay: \
                 MERCATO_SIM_SEED={seed} MERCATO_SIM_STEPS={steps} cargo test --workspace simulation::",
                failure.step,
                failure.message,
                failure.trace.join("\n"),
            ),
        };
        println!("simulation seed {seed}: {steps} steps in {:?}: {summary}", started.elapsed());
    }
}

struct Failure {
    step: u64,
    message: String,
    trace: Vec<String>,
}

/// Turns a condition into a failure message.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

struct Shopper {
    id: CustomerId,
    cart: CartId,
    card: CardToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Held,
    Committed,
    Released,
    Expired,
}

impl Status {
    fn as_hold(self) -> HoldStatus {
        match self {
            Status::Held => HoldStatus::Held,
            Status::Committed => HoldStatus::Committed,
            Status::Released => HoldStatus::Released,
            Status::Expired => HoldStatus::Expired,
        }
    }
}

#[derive(Debug, Clone)]
struct Hold {
    sku: Sku,
    quantity: u32,
    expires_at: mercato::engine::Timestamp,
    /// The hold time asked for (a retry must ask the same).
    ttl_ms: u64,
    status: Status,
    /// The deal claim's customer; `None` for a plain hold.
    claimant: Option<usize>,
}

#[derive(Debug, Clone)]
struct Order {
    shopper: usize,
    lines: BTreeMap<Sku, u32>,
    cancelled: bool,
}

/// What the simulation expects the engine to hold.
#[derive(Default)]
struct Model {
    /// Units stocked per SKU, over its warehouses.
    stocked: BTreeMap<Sku, u64>,
    carts: Vec<BTreeMap<Sku, u32>>,
    holds: BTreeMap<ReservationId, Hold>,
    orders: BTreeMap<OrderId, Order>,
}

impl Model {
    /// Marks the live holds due at `now` as expired.
    fn expire(&mut self, now: mercato::engine::Timestamp) {
        for hold in self.holds.values_mut() {
            if hold.status == Status::Held && hold.expires_at <= now {
                hold.status = Status::Expired;
            }
        }
    }

    fn units(&self, sku: &Sku, claims: bool, status: Status) -> u64 {
        let holds = self.holds.values().filter(|hold| hold.claimant.is_some() == claims);
        holds.filter(|hold| &hold.sku == sku && hold.status == status).map(|hold| u64::from(hold.quantity)).sum()
    }

    fn claimed_by(&self, shopper: usize) -> u32 {
        let claims = self.holds.values().filter(|hold| hold.claimant == Some(shopper));
        claims.filter(|hold| matches!(hold.status, Status::Held | Status::Committed)).map(|hold| hold.quantity).sum()
    }
}

struct World {
    seed: u64,
    rng: StdRng,
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    /// `None` only while restarting (the old engine must be dropped, and
    /// with it the directory's lock, before the new one opens).
    mercato: Option<Mercato>,
    opened: u64,
    shoppers: Vec<Shopper>,
    deal: DealId,
    model: Model,
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn bucket(sku_raw: &str, warehouse: &str) -> BucketKey {
    BucketKey::new(sku(sku_raw), WarehouseId::parse(warehouse).unwrap())
}

/// Each opening of the data directory gets its own seed: a restart with
/// the same seed would make the same ids again.
fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, seed: u64, opened: u64) -> Mercato {
    let mut config = Config::new(dir).durability(Durability::Strict).clock(clock.clone());
    config = config.seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(opened));
    config.cache_capacity_bytes = 8 << 20;
    config.password_cost = mercato::PasswordCost::Fast;
    config.passivate_after = PASSIVATE_AFTER;
    config.idle_check_every = PASSIVATE_AFTER / 3;
    config.arbiters = 2;
    Mercato::open(config).expect("open")
}

/// Runs one seed; on success, what it went through.
async fn simulate(seed: u64, steps: u64) -> Result<String, Failure> {
    let mut world = World::start(seed).await;
    let mut trace: VecDeque<String> = VecDeque::new();
    for step in 1..=steps {
        let outcome = match world.step().await {
            Ok(done) => {
                trace.push_back(format!("{step:4} {done}"));
                world.check().await
            }
            Err(message) => Err(message),
        };
        if trace.len() > TRACE {
            trace.pop_front();
        }
        if let Err(message) = outcome {
            return Err(Failure { step, message, trace: trace.into() });
        }
    }
    world.m().shutdown().await.map_err(|err| Failure { step: steps, message: err.to_string(), trace: vec![] })?;
    let model = &world.model;
    let count = |claims: bool, status: Status| {
        model.holds.values().filter(|hold| hold.claimant.is_some() == claims && hold.status == status).count()
    };
    let cancelled = model.orders.values().filter(|order| order.cancelled).count();
    Ok(format!(
        "{} holds ({} expired, {} committed, {} released), {} claims ({} expired, {} sold), {} orders ({cancelled} \
         cancelled), {} restarts",
        model.holds.values().filter(|hold| hold.claimant.is_none()).count(),
        count(false, Status::Expired),
        count(false, Status::Committed),
        count(false, Status::Released),
        model.holds.values().filter(|hold| hold.claimant.is_some()).count(),
        count(true, Status::Expired),
        count(true, Status::Committed),
        model.orders.len(),
        world.opened,
    ))
}

impl World {
    async fn start(seed: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mercato = open(dir.path(), &clock, seed, 0);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = Model::default();
        for id in WAREHOUSES {
            let warehouse =
                Warehouse::new(WarehouseId::parse(id).unwrap(), id, GeoPoint { lat: 40.7, lon: -74.0 }, "US");
            mercato.inventory().create_warehouse(warehouse.unwrap()).await.unwrap();
        }
        let mut drafts = Vec::new();
        for (index, raw) in SKUS.iter().chain([&DEAL_SKU]).enumerate() {
            let cents = 1_000 + 500 * index;
            let body = serde_json::json!({"id": format!("P-{raw}"), "title": format!("Item {raw}"), "category": ["Sim"],
                "variants": [{"sku": raw, "price": {"cents": cents, "currency": "USD"}, "weight_grams": 300}]});
            let parsed: mercato::http::product_dto::ProductBody = serde_json::from_value(body).unwrap();
            drafts.push(parsed.parse().unwrap().draft);
        }
        for result in mercato.catalog().upsert_products(drafts).await.unwrap() {
            result.unwrap();
        }
        for raw in SKUS {
            for warehouse in WAREHOUSES {
                let on_hand = rng.random_range(3..12);
                mercato.inventory().set_stock(bucket(raw, warehouse), StockUpdate::on_hand(on_hand)).await.unwrap();
                *model.stocked.entry(sku(raw)).or_default() += on_hand;
            }
        }
        let deal_stock = u64::from(DEAL_QUANTITY) + rng.random_range(0..4);
        mercato.inventory().set_stock(bucket(DEAL_SKU, "W-1"), StockUpdate::on_hand(deal_stock)).await.unwrap();
        model.stocked.insert(sku(DEAL_SKU), deal_stock);
        let deal = DealId::generate(mercato.source().u128());
        let terms = DealTerms {
            id: deal.clone(),
            sku: sku(DEAL_SKU),
            price: Money::new(500, Currency::USD),
            quantity: DEAL_QUANTITY,
            starts_at: START,
            ends_at: START.plus_millis(10 * 24 * 3_600_000),
            per_customer_limit: DEAL_LIMIT,
            prime_early_access_ms: 0,
            claim_ttl_ms: None,
        };
        mercato.deals().create(terms).await.unwrap();
        let mut shoppers = Vec::new();
        for n in 0..SHOPPERS {
            let customer = mercato.customers().register(&format!("s{n}@example.com"), "long enough", "S").await;
            let id = customer.unwrap().id;
            let cart = mercato.customers().cart_id(&id).unwrap();
            mercato.carts().open(&cart).await.unwrap();
            let input =
                CardInput { number: "4242424242424242".into(), exp_month: 12, exp_year: 2099, cvc: "123".into() };
            let card = mercato.payments().add_payment_method(&id, &input, None).await.unwrap().record.token;
            shoppers.push(Shopper { id, cart, card });
            model.carts.push(BTreeMap::new());
        }
        World { seed, rng, dir, clock, mercato: Some(mercato), opened: 0, shoppers, deal, model }
    }

    /// Takes one random step and checks its answer; returns what it did.
    async fn step(&mut self) -> Result<String, String> {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=17 => self.edit_cart().await,
            18..=31 => self.reserve().await,
            32..=35 => self.retry_reserve().await,
            36..=43 => self.settle_hold().await,
            44..=55 => self.claim().await,
            56..=59 => self.commit_claim().await,
            60..=69 => self.checkout().await,
            70..=74 => self.cancel().await,
            75..=77 => self.restock().await,
            78..=89 => self.advance_clock().await,
            90..=95 => self.passivate().await,
            _ => self.restart().await,
        }
    }

    fn m(&self) -> &Mercato {
        self.mercato.as_ref().expect("open")
    }

    fn pick_sku(&mut self) -> Sku {
        sku(SKUS[self.rng.random_range(0..SKUS.len())])
    }

    async fn edit_cart(&mut self) -> Result<String, String> {
        let shopper = self.rng.random_range(0..SHOPPERS);
        let sku = self.pick_sku();
        let cart = self.shoppers[shopper].cart.clone();
        let lines = &mut self.model.carts[shopper];
        let (what, result) = match self.rng.random_range(0..4) {
            0 | 1 => {
                let quantity = self.rng.random_range(1..3);
                *lines.entry(sku.clone()).or_default() += quantity;
                (format!("add {quantity} {sku}"), self.m().carts().add(&cart, sku, quantity).await)
            }
            2 => {
                let quantity = self.rng.random_range(0..4);
                if quantity == 0 && lines.remove(&sku).is_none() {
                    let refused = self.m().carts().set_quantity(&cart, sku.clone(), 0).await;
                    ensure!(refused.is_err(), "cart {shopper}: setting absent {sku} to 0 answered {refused:?}");
                    return Ok(format!("cart {shopper}: set absent {sku} to 0: refused"));
                } else if quantity > 0 {
                    lines.insert(sku.clone(), quantity);
                }
                (format!("set {sku} to {quantity}"), self.m().carts().set_quantity(&cart, sku, quantity).await)
            }
            _ => {
                if lines.remove(&sku).is_none() {
                    return Ok(format!("cart {shopper}: nothing to remove"));
                }
                (format!("remove {sku}"), self.m().carts().remove(&cart, sku).await)
            }
        };
        let cart = result.map_err(|err| format!("cart {shopper}: {what}: {err}"))?;
        let got: BTreeMap<Sku, u32> = cart.lines.iter().map(|line| (line.sku.clone(), line.quantity)).collect();
        ensure!(got == self.model.carts[shopper], "cart {shopper}: {what} answered {got:?}");
        Ok(format!("cart {shopper}: {what}"))
    }

    async fn reserve(&mut self) -> Result<String, String> {
        let sku = self.pick_sku();
        let quantity = self.rng.random_range(1..5);
        let ttl_ms = self.rng.random_range(1..=20) * 60_000;
        let before = self.m().inventory().levels(&sku).await.map_err(|err| err.to_string())?;
        let request = ReserveRequest::new(sku.clone(), quantity).ttl_ms(ttl_ms);
        match self.m().inventory().reserve(request).await {
            Ok(reservation) => {
                let expected = self.clock_now().plus_millis(ttl_ms);
                ensure!(
                    reservation.expires_at == expected,
                    "hold expires at {:?}, not {expected:?}",
                    reservation.expires_at
                );
                let hold = Hold {
                    sku: sku.clone(),
                    quantity,
                    expires_at: expected,
                    ttl_ms,
                    status: Status::Held,
                    claimant: None,
                };
                self.model.holds.insert(reservation.id.clone(), hold);
                Ok(format!("reserve {quantity} {sku}: {}", reservation.id))
            }
            Err(Error::Inventory(err)) => {
                let most = before.warehouses.iter().map(|w| w.counts.available).max().unwrap_or(0);
                ensure!(most < u64::from(quantity), "reserve {quantity} {sku} refused ({err}) with {most} available");
                Ok(format!("reserve {quantity} {sku}: refused ({err})"))
            }
            Err(err) => Err(format!("reserve {quantity} {sku}: {err}")),
        }
    }

    fn pick_hold(&mut self, claims: bool) -> Option<(ReservationId, Hold)> {
        let holds: Vec<_> = self.model.holds.iter().filter(|(_, hold)| hold.claimant.is_some() == claims).collect();
        if holds.is_empty() {
            return None;
        }
        let (id, hold) = holds[self.rng.random_range(0..holds.len())];
        Some((id.clone(), hold.clone()))
    }

    /// Sends a hold again with its id: the same hold comes back and nothing
    /// more is held.
    async fn retry_reserve(&mut self) -> Result<String, String> {
        let Some((id, hold)) = self.pick_hold(false) else { return Ok("retry: no hold yet".into()) };
        let request = ReserveRequest::new(hold.sku.clone(), hold.quantity).id(id.clone()).ttl_ms(hold.ttl_ms);
        let again = self.m().inventory().reserve(request).await.map_err(|err| format!("retry {id}: {err}"))?;
        ensure!(again.id == id && again.quantity == hold.quantity, "retry {id} answered {again:?}");
        Ok(format!("retry {id}"))
    }

    async fn settle_hold(&mut self) -> Result<String, String> {
        let Some((id, hold)) = self.pick_hold(false) else { return Ok("settle: no hold yet".into()) };
        let commit = self.rng.random_bool(0.5);
        let result = match commit {
            true => self.m().inventory().commit(&id).await,
            false => self.m().inventory().release(&id).await,
        };
        let verb = if commit { "commit" } else { "release" };
        let model = &mut self.model.holds.get_mut(&id).unwrap().status;
        match (hold.status, result) {
            (Status::Held, Ok(reservation)) => {
                *model = if commit { Status::Committed } else { Status::Released };
                let want = if commit { HoldStatus::Committed } else { HoldStatus::Released };
                ensure!(reservation.status == want, "{verb} {id} answered {:?}", reservation.status);
            }
            (Status::Held, Err(err)) => return Err(format!("{verb} of live hold {id}: {err}")),
            // A settled hold stays as it was (a retry of the same verb, or
            // one that came too late).
            (before, Ok(reservation)) => {
                ensure!(
                    reservation.status == before.as_hold(),
                    "{verb} of a {before:?} hold {id}: {:?}",
                    reservation.status
                )
            }
            (_, Err(_)) => {}
        }
        Ok(format!("{verb} {id} ({:?} before)", hold.status))
    }

    async fn claim(&mut self) -> Result<String, String> {
        let shopper = self.rng.random_range(0..SHOPPERS);
        let quantity = self.rng.random_range(1..=DEAL_LIMIT);
        let customer = self.shoppers[shopper].id.clone();
        let result = self.m().deals().claim(&self.deal, &customer, quantity, false).await;
        let live: u64 = [Status::Held, Status::Committed]
            .into_iter()
            .map(|status| self.model.units(&sku(DEAL_SKU), true, status))
            .sum();
        let remaining = u64::from(DEAL_QUANTITY) - live;
        let claimed = self.model.claimed_by(shopper);
        match result {
            Ok(claimed_now) => {
                ensure!(claimed + quantity <= DEAL_LIMIT, "shopper {shopper} claimed {quantity} over {claimed}");
                ensure!(u64::from(quantity) <= remaining, "claimed {quantity} with {remaining} remaining");
                let hold = Hold {
                    sku: sku(DEAL_SKU),
                    quantity,
                    expires_at: claimed_now.claim.expires_at,
                    ttl_ms: 0,
                    status: Status::Held,
                    claimant: Some(shopper),
                };
                self.model.holds.insert(claimed_now.id.clone(), hold);
                Ok(format!("shopper {shopper} claims {quantity}: {}", claimed_now.id))
            }
            Err(Error::Deal(err)) => {
                let fits = claimed + quantity <= DEAL_LIMIT && u64::from(quantity) <= remaining;
                ensure!(!fits, "shopper {shopper}: claim of {quantity} refused ({err}) with {remaining} remaining");
                Ok(format!("shopper {shopper} claims {quantity}: refused ({err})"))
            }
            Err(err) => Err(format!("claim: {err}")),
        }
    }

    async fn commit_claim(&mut self) -> Result<String, String> {
        let Some((id, hold)) = self.pick_hold(true) else { return Ok("commit claim: none yet".into()) };
        let result = self.m().inventory().commit(&id).await;
        match (hold.status, result) {
            (Status::Held, Ok(reservation)) => {
                ensure!(
                    reservation.status == HoldStatus::Committed,
                    "claim {id} committed as {:?}",
                    reservation.status
                );
                self.model.holds.get_mut(&id).unwrap().status = Status::Committed;
            }
            (Status::Held, Err(err)) => return Err(format!("commit of live claim {id}: {err}")),
            (before, Ok(reservation)) => {
                ensure!(
                    reservation.status == before.as_hold(),
                    "commit of a {before:?} claim {id}: {:?}",
                    reservation.status
                )
            }
            (_, Err(_)) => {}
        }
        Ok(format!("commit claim {id} ({:?} before)", hold.status))
    }

    async fn checkout(&mut self) -> Result<String, String> {
        let shopper = self.rng.random_range(0..SHOPPERS);
        if self.model.carts[shopper].is_empty() {
            return Ok(format!("checkout {shopper}: empty cart"));
        }
        let (customer, cart, card) = {
            let s = &self.shoppers[shopper];
            (s.id.clone(), s.cart.clone(), s.card.clone())
        };
        let lines = self.model.carts[shopper].clone();
        let checkouts = self.m().checkouts();
        let fail = |what: &str, err: Error| format!("checkout {shopper}: {what}: {err}");
        let started = checkouts.start(&customer, &cart).await.map_err(|err| fail("start", err))?;
        let id = started.checkout.id.clone();
        let address = AddressInput {
            name: "S".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "New York".into(),
            region: Some("NY".into()),
            postal_code: "10001".into(),
            country: "US".into(),
        };
        let address = address.try_into().map_err(|err| format!("address: {err:?}"))?;
        checkouts.set_address(&customer, &id, address).await.map_err(|err| fail("address", err))?;
        let options = checkouts.shipping_options(&customer, &id).await.map_err(|err| fail("options", err))?;
        checkouts.set_shipping(&customer, &id, options[0].option).await.map_err(|err| fail("shipping", err))?;
        let payment = PaymentChoice { card: Some(card), gift_card: None };
        checkouts.set_payment(&customer, &id, payment).await.map_err(|err| fail("payment", err))?;
        match self.m().orders().place(&customer, &id).await {
            Ok(order) => {
                let ordered: BTreeMap<Sku, u32> =
                    order.order.lines.iter().map(|line| (line.sku.clone(), line.quantity)).collect();
                ensure!(ordered == lines, "order {} has {ordered:?}, the cart had {lines:?}", order.order.id);
                self.model.carts[shopper].clear();
                self.model.orders.insert(order.order.id.clone(), Order { shopper, lines, cancelled: false });
                Ok(format!("checkout {shopper}: order {}", order.order.id))
            }
            Err(err @ (Error::Inventory(_) | Error::Payment(_) | Error::FraudDeclined)) => {
                Ok(format!("checkout {shopper}: refused ({err})"))
            }
            Err(err) => Err(fail("place", err)),
        }
    }

    async fn cancel(&mut self) -> Result<String, String> {
        let live: Vec<OrderId> =
            self.model.orders.iter().filter(|(_, order)| !order.cancelled).map(|(id, _)| id.clone()).collect();
        if live.is_empty() {
            return Ok("cancel: no order".into());
        }
        let id = live[self.rng.random_range(0..live.len())].clone();
        let shopper = self.model.orders[&id].shopper;
        let customer = self.shoppers[shopper].id.clone();
        self.m().orders().cancel(&customer, &id).await.map_err(|err| format!("cancel {id}: {err}"))?;
        self.model.orders.get_mut(&id).unwrap().cancelled = true;
        Ok(format!("cancel {id}"))
    }

    async fn restock(&mut self) -> Result<String, String> {
        let sku = self.pick_sku();
        let warehouse = WAREHOUSES[self.rng.random_range(0..WAREHOUSES.len())];
        let units = self.rng.random_range(1..6);
        let key = BucketKey::new(sku.clone(), WarehouseId::parse(warehouse).unwrap());
        self.m().inventory().restock(&key, units).await.map_err(|err| format!("restock: {err}"))?;
        *self.model.stocked.get_mut(&sku).unwrap() += units;
        Ok(format!("restock {units} {sku} in {warehouse}"))
    }

    fn clock_now(&self) -> mercato::engine::Timestamp {
        use mercato::clock::Clock;
        self.clock.now()
    }

    async fn advance_clock(&mut self) -> Result<String, String> {
        let millis = match self.rng.random_range(0..3) {
            0 => self.rng.random_range(1..60_000),
            1 => self.rng.random_range(60_000..900_000),
            // Just to the next expiry (the boundary is where bugs hide).
            _ => {
                let now = self.clock_now();
                let next = self.model.holds.values().filter(|h| h.status == Status::Held).map(|h| h.expires_at).min();
                next.map_or(1, |at| at.millis_since(now).max(1))
            }
        };
        self.clock.advance_millis(millis);
        self.model.expire(self.clock_now());
        Ok(format!("clock +{millis} ms"))
    }

    /// Lets every actor go idle long enough to passivate.
    async fn passivate(&mut self) -> Result<String, String> {
        tokio::time::sleep(PASSIVATE_AFTER * 3).await;
        Ok("passivate".into())
    }

    async fn restart(&mut self) -> Result<String, String> {
        let old = self.mercato.take().unwrap();
        old.shutdown().await.map_err(|err| format!("shutdown: {err}"))?;
        drop(old);
        self.opened += 1;
        self.mercato = Some(open(self.dir.path(), &self.clock, self.seed, self.opened));
        Ok(format!("restart ({})", self.opened))
    }

    /// Every invariant, against the model.
    async fn check(&self) -> Result<(), String> {
        let inventory = self.m().inventory();
        for raw in SKUS {
            let sku = sku(raw);
            let levels = inventory.levels(&sku).await.map_err(|err| err.to_string())?;
            for warehouse in &levels.warehouses {
                let c = warehouse.counts;
                ensure!(
                    c.held + c.committed + c.safety_stock <= c.on_hand,
                    "{sku} oversold in {}: {c:?}",
                    warehouse.warehouse
                );
            }
            let totals = levels.totals;
            ensure!(
                totals.on_hand == self.model.stocked[&sku],
                "{sku} on hand {} != stocked {}",
                totals.on_hand,
                self.model.stocked[&sku]
            );
            let held = self.model.units(&sku, false, Status::Held);
            ensure!(totals.held == held, "{sku} held {} != live holds {held}", totals.held);
            let ordered: u64 = self
                .model
                .orders
                .values()
                .filter(|order| !order.cancelled)
                .filter_map(|order| order.lines.get(&sku))
                .map(|&quantity| u64::from(quantity))
                .sum();
            let committed = self.model.units(&sku, false, Status::Committed) + ordered;
            ensure!(
                totals.committed == committed,
                "{sku} committed {} != {committed} (holds and orders)",
                totals.committed
            );
        }
        let deal = self.m().deals().get(&self.deal).await.map_err(|err| err.to_string())?;
        let deal_sku = sku(DEAL_SKU);
        let (held, sold) =
            (self.model.units(&deal_sku, true, Status::Held), self.model.units(&deal_sku, true, Status::Committed));
        ensure!(
            deal.held == held && deal.sold == sold,
            "deal held {} sold {}, model {held} {sold}",
            deal.held,
            deal.sold
        );
        let total = deal.remaining + deal.held + deal.sold + deal.returned;
        ensure!(
            total == u64::from(DEAL_QUANTITY),
            "deal units {total}: {} {} {} {}",
            deal.remaining,
            deal.held,
            deal.sold,
            deal.returned
        );
        let deal_levels = inventory.levels(&deal_sku).await.map_err(|err| err.to_string())?;
        let stocked = self.model.stocked[&deal_sku];
        let c = deal_levels.totals;
        ensure!(
            c.on_hand == stocked,
            "deal SKU on hand {} != stocked {stocked}: a deal never moves on_hand",
            c.on_hand
        );
        c.check_identity("deal SKU").map_err(|violation| violation.to_string())?;
        ensure!(c.committed == deal.sold, "deal SKU committed {} != sold {}", c.committed, deal.sold);
        // Units the shards still have are held in the bucket; units given
        // back may still be on their way (the closer runs on its own).
        ensure!(
            deal.remaining + deal.held <= c.deal_held && c.deal_held <= deal.remaining + deal.held + deal.returned,
            "deal SKU deal_held {} for {deal:?}",
            c.deal_held
        );
        for (n, shopper) in self.shoppers.iter().enumerate() {
            ensure!(self.model.claimed_by(n) <= DEAL_LIMIT, "model: shopper {n} over the limit");
            let cart = self.m().carts().get(&shopper.cart).await.map_err(|err| err.to_string())?;
            let got: BTreeMap<Sku, u32> = cart.lines.iter().map(|line| (line.sku.clone(), line.quantity)).collect();
            ensure!(got == self.model.carts[n], "cart {n} is {got:?}, model {:?}", self.model.carts[n]);
        }
        for (id, hold) in &self.model.holds {
            let read = inventory.reservation(id).await.map_err(|err| format!("read {id}: {err}"))?;
            ensure!(read.status == hold.status.as_hold(), "hold {id} is {:?}, model {:?}", read.status, hold.status);
        }
        for (id, order) in &self.model.orders {
            let customer = &self.shoppers[order.shopper].id;
            let record = self.m().orders().get(customer, id).await.map_err(|err| format!("order {id}: {err}"))?;
            let cancelled = record.order.status == mercato::engine::OrderStatus::Cancelled;
            ensure!(cancelled == order.cancelled, "order {id} is {:?}", record.order.status);
        }
        Ok(())
    }
}
