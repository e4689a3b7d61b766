//! Checkout sessions: a cart frozen at its prices, then address, shipping and
//! payment, step by step. Each checkout is an actor; owns the key `a`.

pub mod actor;

pub use actor::CheckoutRecord;

use crate::actors::record::RecordCall;
use crate::actors::{ActorSetup, Registry};
use crate::engine::order::{plan_holds, PlannedHold, RoutingError, StockByWarehouse};
use crate::engine::pricing::ShippingQuote;
use crate::engine::Pricing;
use crate::engine::{
    apply_claims, Address, CartId, Checkout, CheckoutError, CheckoutId, CheckoutLine, CurrentPrices, CustomerId,
    GeoPoint, OrderId, PaymentChoice, PriceChange, QuoteContext, ReservationId, ShipmentPlan, ShippingOption, Sku,
    WarehouseId,
};
use crate::store::{keys, Keyspace};
use crate::{Error, Mercato};
use actor::{CheckoutActor, CheckoutCommand, CheckoutMessage, CheckoutRejection};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

impl From<CheckoutRejection> for Error {
    fn from(rejection: CheckoutRejection) -> Self {
        match rejection {
            CheckoutRejection::NotFound { id } => Error::CheckoutNotFound(id),
            CheckoutRejection::PlaceInProgress { .. } => Error::PlaceInProgress(rejection.to_string()),
            CheckoutRejection::Rule(rule) => Error::Checkout(rule),
        }
    }
}

/// What the checkout domain keeps.
pub(crate) struct State {
    store: Keyspace,
    checkouts: Registry<CheckoutActor>,
    pricing: Arc<Pricing>,
}

impl State {
    pub(crate) fn open(store: Keyspace, actors: &ActorSetup, config: &crate::Config) -> State {
        State {
            checkouts: actors.registry("checkout", store.clone(), ()),
            store,
            pricing: Arc::new(config.pricing.clone()),
        }
    }
}

/// Checkouts, reached as `mercato.checkouts()`.
#[derive(Clone, Copy)]
pub struct Checkouts<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Checkouts<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Checkouts { m, s }
    }

    /// The prices, taxes and shipping rates checkouts are priced with.
    pub(crate) fn pricing(self) -> &'a Pricing {
        &self.s.pricing
    }

    /// The checkouts marked as placing an order, with that order (the orders
    /// domain settles the ones a crash left without a saga).
    pub(crate) fn placing(self) -> Result<Vec<(CheckoutId, OrderId)>, Error> {
        let mut placing = Vec::new();
        for (_, record) in self.s.store.scan_prefix::<CheckoutRecord>(&[keys::CHECKOUT])? {
            if let Some(order) = record.placing {
                placing.push((record.checkout.id, order));
            }
        }
        Ok(placing)
    }

    /// A command on checkout `id`. With `owner`, another customer's checkout
    /// is not found and nothing changes: the actor checks, so a step costs
    /// one call, not a read first.
    pub(crate) async fn call(
        self,
        id: &CheckoutId,
        command: CheckoutCommand,
        owner: Option<&CustomerId>,
    ) -> Result<CheckoutRecord, Error> {
        let _pass = self.m.enter()?;
        let reply = self.s.checkouts.call(id, RecordCall(CheckoutMessage { command, owner: owner.cloned() })).await?;
        self.m.settle(reply).await
    }

    /// Starts a checkout of `cart` for `customer`: the cart's lines are frozen
    /// at the current catalog prices, except units the customer holds deal
    /// claims for, which are frozen at the deal's price.
    pub async fn start(self, customer: &CustomerId, cart: &CartId) -> Result<CheckoutRecord, Error> {
        let snapshot = self.m.carts().get(cart).await?;
        let mut lines = Vec::with_capacity(snapshot.lines.len());
        for line in &snapshot.lines {
            let unavailable = || CheckoutError::Unavailable { sku: line.sku.clone() };
            let product = self.m.catalog().product_of(&line.sku).ok_or_else(unavailable)?;
            let variant = product.variant(&line.sku).ok_or_else(unavailable)?;
            lines.push(CheckoutLine {
                sku: line.sku.clone(),
                product_id: product.id.clone(),
                title: product.title.clone(),
                quantity: line.quantity,
                unit_price: variant.price,
                tax_category: variant.tax_category,
                weight_grams: variant.weight_grams,
                claims: Vec::new(),
            });
        }
        let lines = apply_claims(lines, &self.m.deals().held_claims(customer).await?);
        let id = CheckoutId::generate(self.m.source().u128());
        let (checkout, _) = Checkout::start(id.clone(), cart.clone(), lines, self.m.now())?;
        let record = CheckoutRecord { checkout, customer: customer.clone(), placing: None };
        self.call(&id, CheckoutCommand::Create(Box::new(record)), None).await
    }

    /// The checkout, if `customer` owns it (another's is not found).
    pub async fn get(self, customer: &CustomerId, id: &CheckoutId) -> Result<CheckoutRecord, Error> {
        self.call(id, CheckoutCommand::Read, Some(customer)).await
    }

    pub async fn set_address(
        self,
        customer: &CustomerId,
        id: &CheckoutId,
        address: Address,
    ) -> Result<CheckoutRecord, Error> {
        let pricing = self.s.pricing.clone();
        self.call(id, CheckoutCommand::SetAddress { address, pricing }, Some(customer)).await
    }

    /// The priced shipping options for the checkout's address.
    pub async fn shipping_options(self, customer: &CustomerId, id: &CheckoutId) -> Result<Vec<ShippingQuote>, Error> {
        let record = self.get(customer, id).await?;
        let context = self.quote_context(customer, &record.checkout);
        Ok(record.checkout.shipping_options(&self.s.pricing, &context)?)
    }

    pub async fn set_shipping(
        self,
        customer: &CustomerId,
        id: &CheckoutId,
        option: ShippingOption,
    ) -> Result<CheckoutRecord, Error> {
        let record = self.get(customer, id).await?;
        let context = self.quote_context(customer, &record.checkout);
        let pricing = self.s.pricing.clone();
        self.call(id, CheckoutCommand::SetShipping { option, pricing, context }, None).await
    }

    /// Chooses how to pay: the card must be the customer's (another
    /// customer's, a removed or an unknown card is not found; see
    /// [`crate::domains::payments::Payments::use_card`]), and the gift card
    /// must exist.
    pub async fn set_payment(
        self,
        customer: &CustomerId,
        id: &CheckoutId,
        payment: PaymentChoice,
    ) -> Result<CheckoutRecord, Error> {
        if let Some(token) = &payment.card {
            self.m.payments().use_card(customer, token).await?;
        }
        if let Some(code) = &payment.gift_card {
            self.m.payments().gift_card_balance(code).map_err(|err| Error::InvalidInput(err.to_string()))?;
        }
        self.call(id, CheckoutCommand::SetPayment(payment), Some(customer)).await
    }

    /// Takes the current catalog prices (clears shipping and payment when any changed).
    pub async fn accept_prices(self, customer: &CustomerId, id: &CheckoutId) -> Result<CheckoutRecord, Error> {
        let record = self.get(customer, id).await?;
        let prices = self.current_prices(&record.checkout, customer).await?;
        self.call(id, CheckoutCommand::AcceptPrices(prices), None).await
    }

    /// The lines whose price changed since the checkout started (a catalog
    /// price moved, a deal claim lapsed).
    pub async fn price_changes(self, checkout: &Checkout, customer: &CustomerId) -> Result<Vec<PriceChange>, Error> {
        Ok(checkout.revalidate(&self.current_prices(checkout, customer).await?))
    }

    async fn current_prices(self, checkout: &Checkout, customer: &CustomerId) -> Result<CurrentPrices, Error> {
        let catalog = checkout
            .lines
            .iter()
            .filter_map(|line| {
                let product = self.m.catalog().product_of(&line.sku)?;
                Some((line.sku.clone(), product.variant(&line.sku)?.price))
            })
            .collect();
        let mut lapsed_claims = BTreeSet::new();
        for claim in checkout.claims() {
            if self.m.deals().claim_lapse(&claim.id, customer).await?.is_some() {
                lapsed_claims.insert(claim.id.clone());
            }
        }
        Ok(CurrentPrices { catalog, lapsed_claims })
    }

    /// Where the checkout would ship from (the first warehouse of the plan),
    /// whether the customer is Prime, and now.
    pub(crate) fn quote_context(self, customer: &CustomerId, checkout: &Checkout) -> QuoteContext {
        let destination = checkout.address.as_ref().map(Address::location);
        let origin = destination
            .and_then(|destination| {
                let (plans, _) = self.plan(checkout, destination).ok()?;
                let first = plans.first()?;
                self.m.inventory().warehouse(&first.warehouse).map(|warehouse| warehouse.location)
            })
            .or_else(|| self.m.inventory().warehouses().first().map(|warehouse| warehouse.location))
            .unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 });
        QuoteContext { origin, prime: self.m.customers().is_prime(customer), now: self.m.now() }
    }

    /// Routes the checkout's lines to warehouses from the stock board, with
    /// the holds the order will take: one per (warehouse, SKU) of the plan,
    /// under ids chosen now, then the deal claims the lines use. A claim's
    /// units ship from a warehouse already shipping the SKU, else the
    /// nearest one stocking it.
    pub(crate) fn plan(
        self,
        checkout: &Checkout,
        destination: GeoPoint,
    ) -> Result<(Vec<ShipmentPlan>, Vec<PlannedHold>), Error> {
        let (stock, stocking) = self.stock_picture(checkout);
        let warehouses = self.m.inventory().warehouses();
        let new_id = || ReservationId::generate(self.m.source().u128());
        plan_holds(&checkout.lines, &stock, &stocking, &warehouses, destination, new_id).map_err(|err| match err {
            RoutingError::InsufficientStock { requested, available, .. } => {
                Error::Inventory(crate::engine::InventoryError::InsufficientStock { requested, available })
            }
            RoutingError::NoOrigin { .. } => Error::Corrupt(err.to_string()),
        })
    }

    /// What routing the checkout's lines reads: the available units per
    /// warehouse of its catalog-price lines' SKUs (from the stock board),
    /// and the warehouses with a bucket of its deal-claim lines' SKUs.
    pub(crate) fn stock_picture(self, checkout: &Checkout) -> (StockByWarehouse, BTreeMap<Sku, Vec<WarehouseId>>) {
        let inventory = self.m.inventory();
        let mut stock = StockByWarehouse::new();
        let mut stocking: BTreeMap<Sku, Vec<WarehouseId>> = BTreeMap::new();
        for line in &checkout.lines {
            if line.claims.is_empty() {
                for (available, bucket) in inventory.ranked(&line.sku) {
                    stock.entry(bucket.warehouse).or_default().insert(bucket.sku, available);
                }
            } else {
                // A deal's sold units ship from the buckets holding them for
                // it; a deal of the older kind's, from any stocking one.
                let mut warehouses: Vec<WarehouseId> =
                    line.claims.iter().flat_map(|claim| self.m.deals().warehouses_of(&claim.deal)).collect();
                if warehouses.is_empty() {
                    warehouses = inventory.buckets_of(&line.sku).into_iter().map(|bucket| bucket.warehouse).collect();
                }
                warehouses.sort();
                warehouses.dedup();
                stocking.insert(line.sku.clone(), warehouses);
            }
        }
        (stock, stocking)
    }
}
