//! Checkout sessions, payment methods and gift cards through the handle.

use super::{Error, Mercato};
use crate::actors::checkout::{CheckoutCommand, CheckoutMessage, CheckoutRecord, CheckoutRejection};
use crate::actors::order::PlannedHold;
use crate::engine::order::{ShipmentLine, StockByWarehouse};
use crate::engine::payment::tokenize;
use crate::engine::pricing::ShippingQuote;
use crate::engine::{
    plan_shipments, Address, BucketKey, CardInput, CardRecord, CardToken, CartId, Checkout, CheckoutError, CheckoutId,
    CheckoutLine, CustomerId, GeoPoint, GiftCardCode, Money, PaymentChoice, PriceChange, QuoteContext, ReservationId,
    ShipmentPlan, ShippingOption, Sku,
};
use std::collections::BTreeMap;

impl From<CheckoutRejection> for Error {
    fn from(rejection: CheckoutRejection) -> Self {
        match rejection {
            CheckoutRejection::NotFound { id } => Error::CheckoutNotFound(id),
            CheckoutRejection::PlaceInProgress { .. } => Error::PlaceInProgress(rejection.to_string()),
            CheckoutRejection::Rule(rule) => Error::Checkout(rule),
        }
    }
}

impl Mercato {
    async fn checkout_call(&self, id: &CheckoutId, command: CheckoutCommand) -> Result<CheckoutRecord, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.checkouts.call(id, CheckoutMessage(command)).await?;
        self.settle(reply).await
    }

    /// Starts a checkout of `cart` for `customer`: the cart's lines are frozen
    /// at the current catalog prices.
    pub async fn start_checkout(&self, customer: &CustomerId, cart: &CartId) -> Result<CheckoutRecord, Error> {
        let snapshot = self.cart(cart).await?;
        let mut lines = Vec::with_capacity(snapshot.lines.len());
        for line in &snapshot.lines {
            let product = self.product_of(&line.sku).ok_or(CheckoutError::Unavailable { sku: line.sku.clone() })?;
            let variant = product
                .variants
                .iter()
                .find(|variant| variant.sku == line.sku)
                .ok_or(CheckoutError::Unavailable { sku: line.sku.clone() })?;
            lines.push(CheckoutLine {
                sku: line.sku.clone(),
                product_id: product.id.clone(),
                title: product.title.clone(),
                quantity: line.quantity,
                unit_price: variant.price,
                tax_category: variant.tax_category,
                weight_grams: variant.weight_grams,
            });
        }
        let id = CheckoutId::generate(rand::random());
        let (checkout, _) = Checkout::start(id.clone(), cart.clone(), lines, self.now())?;
        let record = CheckoutRecord { checkout, customer: customer.clone(), placing: None };
        self.checkout_call(&id, CheckoutCommand::Create(Box::new(record))).await
    }

    /// The checkout, if `customer` owns it (another's is not found).
    pub async fn checkout(&self, customer: &CustomerId, id: &CheckoutId) -> Result<CheckoutRecord, Error> {
        let record = self.checkout_call(id, CheckoutCommand::Read).await?;
        if record.customer != *customer {
            return Err(Error::CheckoutNotFound(id.clone()));
        }
        Ok(record)
    }

    pub async fn set_checkout_address(
        &self,
        customer: &CustomerId,
        id: &CheckoutId,
        address: Address,
    ) -> Result<CheckoutRecord, Error> {
        self.checkout(customer, id).await?;
        let pricing = self.inner.pricing.clone();
        self.checkout_call(id, CheckoutCommand::SetAddress { address, pricing }).await
    }

    /// The priced shipping options for the checkout's address.
    pub async fn shipping_options(&self, customer: &CustomerId, id: &CheckoutId) -> Result<Vec<ShippingQuote>, Error> {
        let record = self.checkout(customer, id).await?;
        let context = self.quote_context(customer, &record.checkout);
        Ok(record.checkout.shipping_options(&self.inner.pricing, &context)?)
    }

    pub async fn set_checkout_shipping(
        &self,
        customer: &CustomerId,
        id: &CheckoutId,
        option: ShippingOption,
    ) -> Result<CheckoutRecord, Error> {
        let record = self.checkout(customer, id).await?;
        let context = self.quote_context(customer, &record.checkout);
        let pricing = self.inner.pricing.clone();
        self.checkout_call(id, CheckoutCommand::SetShipping { option, pricing, context }).await
    }

    /// Chooses how to pay: the card token must be the customer's... any
    /// tokenized card, and the gift card must exist.
    pub async fn set_checkout_payment(
        &self,
        customer: &CustomerId,
        id: &CheckoutId,
        payment: PaymentChoice,
    ) -> Result<CheckoutRecord, Error> {
        self.checkout(customer, id).await?;
        if let Some(token) = &payment.card {
            if self.inner.payments.card(token).is_none() {
                return Err(Error::InvalidInput(format!("unknown card token {token}")));
            }
        }
        if let Some(code) = &payment.gift_card {
            self.inner.payments.gift_card_balance(code).map_err(|err| Error::InvalidInput(err.to_string()))?;
        }
        self.checkout_call(id, CheckoutCommand::SetPayment(payment)).await
    }

    /// Takes the current catalog prices (clears shipping and payment when any changed).
    pub async fn accept_checkout_prices(
        &self,
        customer: &CustomerId,
        id: &CheckoutId,
    ) -> Result<CheckoutRecord, Error> {
        let record = self.checkout(customer, id).await?;
        let prices = self.current_prices(&record.checkout);
        self.checkout_call(id, CheckoutCommand::AcceptPrices(prices)).await
    }

    /// The lines whose catalog price changed since the checkout started.
    pub fn price_changes(&self, checkout: &Checkout) -> Vec<PriceChange> {
        checkout.revalidate(&self.current_prices(checkout))
    }

    fn current_prices(&self, checkout: &Checkout) -> BTreeMap<Sku, Money> {
        checkout
            .lines
            .iter()
            .filter_map(|line| {
                let product = self.product_of(&line.sku)?;
                let variant = product.variants.iter().find(|variant| variant.sku == line.sku)?;
                Some((line.sku.clone(), variant.price))
            })
            .collect()
    }

    /// Where the checkout would ship from (the first warehouse of the plan),
    /// whether the customer is Prime, and now.
    pub(super) fn quote_context(&self, customer: &CustomerId, checkout: &Checkout) -> QuoteContext {
        let destination = checkout.address.as_ref().map(Address::location);
        let origin = destination
            .and_then(|destination| {
                let plans = self.plan(checkout, destination).ok()?;
                let first = plans.first()?;
                self.warehouse(&first.warehouse).map(|warehouse| warehouse.location)
            })
            .or_else(|| self.warehouses().first().map(|warehouse| warehouse.location))
            .unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 });
        QuoteContext { origin, prime: self.is_prime(customer), now: self.now() }
    }

    /// Routes the checkout's lines to warehouses from the stock board.
    pub(super) fn plan(&self, checkout: &Checkout, destination: GeoPoint) -> Result<Vec<ShipmentPlan>, Error> {
        let mut stock = StockByWarehouse::new();
        let board = &self.inner.env.board;
        for line in &checkout.lines {
            for bucket in self.buckets_of(&line.sku) {
                let available = board.available(&bucket);
                stock.entry(bucket.warehouse.clone()).or_default().insert(bucket.sku.clone(), available);
            }
        }
        let lines: Vec<ShipmentLine> =
            checkout.lines.iter().map(|line| ShipmentLine { sku: line.sku.clone(), quantity: line.quantity }).collect();
        plan_shipments(&lines, &stock, &self.warehouses(), destination).map_err(|err| {
            let crate::engine::order::RoutingError::InsufficientStock { requested, available, .. } = err;
            Error::Inventory(crate::engine::InventoryError::InsufficientStock { requested, available })
        })
    }

    /// One hold per (warehouse, SKU) of the plan, with ids chosen now.
    pub(super) fn planned_holds(plans: &[ShipmentPlan]) -> Vec<PlannedHold> {
        plans
            .iter()
            .flat_map(|plan| {
                plan.lines.iter().map(|line| PlannedHold {
                    id: ReservationId::generate(rand::random()),
                    bucket: BucketKey::new(line.sku.clone(), plan.warehouse.clone()),
                    quantity: line.quantity,
                })
            })
            .collect()
    }

    /// Tokenizes a card: only the record (brand, last four, expiry,
    /// fingerprint) is kept; the number and CVC are dropped here.
    pub async fn add_payment_method(&self, input: &CardInput) -> Result<CardRecord, Error> {
        let _pass = self.enter()?;
        let token = CardToken::generate(rand::random());
        let record = tokenize(input, token, self.now())?;
        let (result, ticket) = self.inner.payments.add_card(record)?;
        self.wait_logged(ticket).await?;
        Ok(result?)
    }

    /// Issues a gift card holding `balance`.
    pub async fn issue_gift_card(&self, balance: Money) -> Result<(GiftCardCode, Money), Error> {
        let _pass = self.enter()?;
        let code = GiftCardCode::generate(rand::random());
        let (result, ticket) = self.inner.payments.issue_gift_card(code.clone(), balance, self.now())?;
        self.wait_logged(ticket).await?;
        Ok((code, result?))
    }

    /// The card authorization made under a payment reference (an order id).
    pub fn payment_authorization(&self, reference: &str) -> Option<crate::engine::payment::Authorization> {
        self.inner.payments.authorization(reference)
    }

    pub fn gift_card_balance(&self, code: &GiftCardCode) -> Result<Money, Error> {
        Ok(self.inner.payments.gift_card_balance(code)?)
    }

    /// Waits for a payment write to be durable (or defers it, like `settle`).
    pub(super) async fn wait_logged(&self, ticket: crate::store::Ticket) -> Result<(), Error> {
        let deferred = super::DEFERRED.try_with(|cell| cell.set(Some(cell.get().map_or(ticket, |t| t.max(ticket)))));
        if deferred.is_err() {
            self.inner.env.store.durable(ticket).await?;
        }
        Ok(())
    }
}
