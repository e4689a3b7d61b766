//! Orders: placing them (the saga driver), their lifecycle (holds for
//! review included), and the index their lists are served from. Owns the
//! keys `v`, `j`, `T` and `V`.
//!
//! The saga's record (`j` key) is written before its first action and after
//! every step, in the same ordered store as every effect, so after a crash the
//! persisted step is never behind more than the one action that may have run;
//! `PlaceOrderSaga::recover` covers that action. The whole place runs with
//! deferred durability and waits once, at the end, for everything it wrote.

pub mod actor;
pub mod index;

pub use crate::engine::order::OrderRecord;

use crate::actors::record::RecordCall;
use crate::actors::{ActorSetup, Registry};
use crate::domains::carts::actor::CartCommand;
use crate::domains::checkout::actor::CheckoutCommand;
use crate::engine::order::{
    prepare_place, stock_tasks, OrderCommand, OrderCursor, OrderFilter, PlaceError, PlaceInput,
};
use crate::engine::order::{PaymentAction, ReturnItem, RoutingError, SagaRecord};
use crate::engine::payment::{AuthorizationStatus, AuthorizeRequest, FraudCheck};
use crate::engine::{
    CheckoutId, CheckoutStep, CustomerId, FraudDecision, InventoryError, Money, OrderEvent, OrderId, OrderStatus,
    PaymentError, PaymentId, ReservationId, SagaAction, SagaOutcome,
};
use crate::store::{keys, Batch, Keyspace};
use crate::{Error, Mercato};
use actor::{OrderActor, OrderRejection};
use futures::future::join_all;
use index::OrderIndex;

impl From<OrderRejection> for Error {
    fn from(rejection: OrderRejection) -> Self {
        match rejection {
            OrderRejection::NotFound { id } => Error::OrderNotFound(id),
            OrderRejection::Rule(rule) => Error::Order(rule),
        }
    }
}

/// What the orders domain keeps: the order actors and the index of every
/// order, newest first. Owns the keys `v`, `j`, `T` and `V`.
pub(crate) struct State {
    store: Keyspace,
    orders: Registry<OrderActor>,
    index: OrderIndex,
}

impl State {
    pub(crate) fn open(store: Keyspace, actors: &ActorSetup) -> Result<State, Error> {
        Ok(State { index: OrderIndex::open(&store)?, orders: actors.registry("order", store.clone(), ()), store })
    }
}

/// Orders, reached as `mercato.orders()`.
#[derive(Clone, Copy)]
pub struct Orders<'a> {
    m: &'a Mercato,
    s: &'a State,
}

/// A saga step's outcome, with the typed error of a failed step for the
/// caller (the saga's record keeps only the reason).
struct Step {
    outcome: SagaOutcome,
    error: Option<Error>,
}

impl Step {
    fn ok() -> Step {
        Step::from(SagaOutcome::Succeeded { authorization: None })
    }

    fn failed(error: Error) -> Step {
        Step { outcome: SagaOutcome::Failed { reason: error.to_string() }, error: Some(error) }
    }
}

impl From<SagaOutcome> for Step {
    fn from(outcome: SagaOutcome) -> Step {
        Step { outcome, error: None }
    }
}

impl<'a> Orders<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Orders { m, s }
    }

    /// Finishes or compensates the sagas a crash interrupted, on an arbiter.
    /// The checkouts a crash left marked as placing without a saga are found
    /// here, before any new place can begin.
    pub(crate) fn start_recovery(self) -> Result<(), Error> {
        let stale = self.stale_placings()?;
        let mercato = self.m.clone();
        self.m.arbiter(false)?.spawn(async move {
            match mercato.orders().recover(stale).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(sagas = count, "interrupted orders recovered"),
                Err(err) => tracing::error!(error = %err, "cannot recover interrupted orders"),
            }
        });
        Ok(())
    }

    async fn order_call(self, id: &OrderId, command: OrderCommand) -> Result<OrderRecord, Error> {
        let _pass = self.m.enter()?;
        let reply = self.s.orders.call(id, RecordCall(command)).await?;
        let record: OrderRecord = self.m.settle(reply).await?;
        self.s.index.update(&record.order);
        Ok(record)
    }

    /// Places the checkout: reserve -> fraud check -> authorize -> commit ->
    /// capture -> paid (or, sent to review by the fraud check, no capture:
    /// on hold). Any failure compensates and returns its typed error,
    /// leaving no order and no hold. A placed checkout returns its order.
    pub async fn place(self, customer: &CustomerId, id: &CheckoutId) -> Result<OrderRecord, Error> {
        let (result, ticket) = self.m.deferring_durability(Box::pin(self.place_now(customer, id))).await;
        self.m.wait_durable(ticket).await?;
        result
    }

    async fn place_now(self, customer: &CustomerId, id: &CheckoutId) -> Result<OrderRecord, Error> {
        let record = self.m.checkouts().get(customer, id).await?;
        let checkout = &record.checkout;
        if let Some(order) = &checkout.order_id {
            return self.order_call(order, OrderCommand::Read).await;
        }
        if let Some(order) = &record.placing {
            return Err(Error::PlaceInProgress(format!("checkout {id} is being placed as order {order}")));
        }
        let checkouts = self.m.checkouts();
        let price_changes = match checkout.step {
            CheckoutStep::Review => checkouts.price_changes(checkout, customer).await?,
            _ => Vec::new(),
        };
        // The card may have been removed since the payment step, and a
        // checkout paid before cards had owners binds its card here.
        if let Some(token) = checkout.payment.as_ref().and_then(|payment| payment.card.as_ref()) {
            self.m.payments().use_card(customer, token).await?;
        }
        let gift_card_balance = match checkout.payment.as_ref().and_then(|payment| payment.gift_card.as_ref()) {
            Some(code) => Some((code.clone(), self.m.payments().gift_card_balance(code)?)),
            None => None,
        };
        let (stock, stocking) = checkouts.stock_picture(checkout);
        let order_id = OrderId::generate(self.m.source().u128());
        let input = PlaceInput {
            checkout,
            customer,
            price_changes,
            stock: &stock,
            stocking: &stocking,
            warehouses: &self.m.inventory().warehouses(),
            pricing: checkouts.pricing(),
            gift_card_balance,
            order_id: order_id.clone(),
            payment_id: PaymentId::generate(self.m.source().u128()),
            now: self.m.now(),
        };
        let saga = prepare_place(input, || ReservationId::generate(self.m.source().u128())).map_err(place_failure)?;
        self.m.checkouts().call(id, CheckoutCommand::BeginPlace { order: order_id.clone() }, None).await?;
        let placed = Box::pin(self.drive(saga)).await?;
        // Prime savings are the customers domain's (a failure there does not undo the order).
        if let Err(err) = self.m.customers().record_order_savings(customer, checkout).await {
            tracing::warn!(error = %err, order = %placed.order.id, "cannot record the Prime savings");
        }
        Ok(placed)
    }

    /// Writes the saga's record at its checkpoints (see `engine::saga`).
    fn write_saga(self, record: &SagaRecord) -> Result<(), Error> {
        if !self.s.store.keeps_records() || !record.saga.is_checkpoint() {
            return Ok(());
        }
        let key = keys::saga(&record.saga.order_id);
        let mut batch = Batch::new();
        if record.saga.is_finished() {
            batch.delete(key);
        } else {
            batch.put(key, record)?;
        }
        let ticket = self.s.store.write(batch)?;
        let _ = crate::mercato::defer(ticket);
        Ok(())
    }

    /// Runs the saga to its end (completed or compensated).
    pub(crate) async fn drive(self, mut record: SagaRecord) -> Result<OrderRecord, Error> {
        self.write_saga(&record)?;
        let mut failure: Option<Error> = None;
        // The order as MarkPaid created it in this run (a recovered saga may
        // have created it before the crash: it is read back then).
        let mut created: Option<OrderRecord> = None;
        loop {
            let action = record.saga.next_action();
            if action == SagaAction::Done {
                break;
            }
            let step = Box::pin(self.run_action(&record, &action, &mut created)).await?;
            if let SagaOutcome::Failed { reason } = &step.outcome {
                tracing::debug!(order = %record.saga.order_id, reason = %reason, "place-order step failed");
                if failure.is_none() {
                    let fallback = match action {
                        SagaAction::Reserve { .. } => {
                            Error::Inventory(InventoryError::InsufficientStock { requested: 0, available: 0 })
                        }
                        _ => Error::PlaceInterrupted,
                    };
                    failure = Some(step.error.unwrap_or(fallback));
                }
            }
            record.saga.advance(step.outcome).map_err(|err| Error::Corrupt(err.to_string()))?;
            self.write_saga(&record)?;
        }
        let order_id = record.saga.order_id.clone();
        let completed = matches!(record.saga.step, crate::engine::SagaStep::Completed);
        let placed_at = completed.then(|| self.m.now());
        let end = CheckoutCommand::EndPlace { order: order_id.clone(), placed_at };
        self.m.checkouts().call(&record.checkout, end, None).await?;
        if !completed {
            return Err(failure.unwrap_or(Error::PlaceInterrupted));
        }
        let placed = match created {
            Some(created) => created,
            None => self.order_call(&order_id, OrderCommand::Read).await?,
        };
        let ordered = placed.order.lines.iter().map(|line| line.sku.clone()).collect();
        // The cart may be gone or changed since; what it still has of the order leaves it.
        let _ = self.m.carts().command(&record.cart, CartCommand::RemoveOrdered { skus: ordered }).await;
        Ok(placed)
    }

    async fn run_action(
        self,
        record: &SagaRecord,
        action: &SagaAction,
        created: &mut Option<OrderRecord>,
    ) -> Result<Step, Error> {
        let order = &record.saga.order_id;
        let ok = Step::ok;
        let now = self.m.now();
        Ok(match action {
            SagaAction::Reserve { claims, .. } => {
                let customer = &record.order.order.customer;
                for id in claims {
                    if let Some(lapse) = self.m.deals().claim_lapse(id, customer).await? {
                        return Ok(Step::failed(lapse.into()));
                    }
                }
                let ttl_ms = self.m.config().reservation_ttl_default_ms;
                let holds = record.order.holds.iter().filter(|hold| hold.deal.is_none());
                let inventory = self.m.inventory();
                let results = join_all(
                    holds.map(|hold| inventory.reserve_in(hold.bucket.clone(), hold.id.clone(), hold.quantity, ttl_ms)),
                )
                .await;
                match results.into_iter().find_map(Result::err) {
                    None => ok(),
                    Some(error @ (Error::Inventory(_) | Error::Deal(_))) => Step::failed(error),
                    Some(other) => return Err(other),
                }
            }
            SagaAction::CheckFraud => {
                let customer = self.m.customers().get(&record.order.order.customer);
                let card = record.card.as_ref().and_then(|(token, _)| self.m.payments().saved_card(token));
                let check = FraudCheck {
                    customer: &record.order.order.customer,
                    fingerprint: card.as_ref().map(|card| &card.record.fingerprint),
                    amount: record.order.order.totals.total,
                    account_created_at: customer.map_or(now, |customer| customer.created_at),
                    billing_country: card.as_ref().and_then(|card| card.billing_country.as_ref()).map(|c| c.as_str()),
                    shipping_country: &record.shipping_country,
                    now,
                };
                match self.m.payments().assess(&check).await?? {
                    FraudDecision::Decline { .. } => Step {
                        outcome: SagaOutcome::Failed { reason: "declined by fraud rules".to_owned() },
                        error: Some(Error::FraudDeclined),
                    },
                    FraudDecision::Review { score, .. } => {
                        tracing::info!(order = %order, score, "order held for review by fraud rules");
                        Step::from(SagaOutcome::Review)
                    }
                    FraudDecision::Approve => ok(),
                }
            }
            SagaAction::Authorize { reference } => {
                let request = record.card.as_ref().map(|(token, amount)| AuthorizeRequest {
                    id: record.payment_id.clone(),
                    token: token.clone(),
                    amount: *amount,
                    reference: reference.clone(),
                });
                match self.m.payments().authorize(reference, record.gift_card.clone(), request, now).await? {
                    Ok(authorization) => {
                        Step::from(SagaOutcome::Succeeded { authorization: authorization.map(|auth| auth.id) })
                    }
                    Err(error) => Step::failed(Error::Payment(error)),
                }
            }
            SagaAction::CommitHolds { reservations, claims } => {
                let (inventory, deals) = (self.m.inventory(), self.m.deals());
                let holds = join_all(reservations.iter().map(|id| async { inventory.commit(id).await.map(drop) }));
                // A claim's units are sold from the warehouse the order ships them from, if it can.
                let origin = |id: &ReservationId| {
                    record.order.holds.iter().find(|hold| hold.id == *id).map(|hold| &hold.bucket.warehouse)
                };
                let claims = join_all(claims.iter().map(|id| deals.commit_claim(id, order, origin(id))));
                let (holds, claims) = futures::join!(holds, claims);
                match holds.into_iter().chain(claims).find_map(Result::err) {
                    None => ok(),
                    Some(error @ (Error::Inventory(_) | Error::Deal(_))) => Step::failed(error),
                    Some(other) => return Err(other),
                }
            }
            SagaAction::Capture { authorization } => match self.m.payments().capture(authorization, now).await? {
                Ok(_) => ok(),
                Err(error) => Step::failed(Error::Payment(error)),
            },
            SagaAction::MarkPaid | SagaAction::HoldForReview => {
                let mut placed = record.order.clone();
                if placed.order.status == OrderStatus::PendingPayment {
                    match action {
                        SagaAction::HoldForReview => placed.order.hold(now)?,
                        _ => placed.order.mark_paid(now)?,
                    };
                }
                if placed.shipping_address.is_none() {
                    // A saga read back after a crash keeps no address: the
                    // checkout has it (an order without one still gets made).
                    let customer = &placed.order.customer;
                    if let Ok(checkout) = self.m.checkouts().get(customer, &record.checkout).await {
                        placed.shipping_address = checkout.checkout.address;
                    }
                }
                *created = Some(self.order_call(order, OrderCommand::Create(Box::new(placed))).await?);
                ok()
            }
            SagaAction::ReleaseHolds { reservations } => {
                for id in reservations {
                    match self.m.inventory().release(id).await {
                        Ok(_) | Err(Error::Inventory(_) | Error::Deal(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
                ok()
            }
            SagaAction::Restock { reservations, claims } => {
                for id in reservations {
                    self.m.inventory().return_committed(id).await?;
                }
                for id in claims {
                    self.m.deals().return_claim(id, order).await?;
                }
                ok()
            }
            SagaAction::VoidAuthorization { reference, .. } => {
                let gift = record.gift_card.as_ref().map(|(code, _)| code);
                match self.m.payments().void(reference, gift, now).await? {
                    Ok(()) => ok(),
                    Err(PaymentError::InvalidTransition { status, .. }) if status != AuthorizationStatus::Voided => {
                        Step::from(SagaOutcome::AlreadyCaptured)
                    }
                    Err(error) => Step::failed(Error::Payment(error)),
                }
            }
            SagaAction::RefundCapture { reference, .. } => {
                let card = record.card.as_ref().map_or(Money::zero(record.order.order.totals.total.currency), |c| c.1);
                let refund_reference = format!("compensate:{order}");
                let gift_card = record.gift_card.clone();
                match self.m.payments().refund(reference, &refund_reference, card, gift_card, now).await? {
                    Ok(()) => ok(),
                    Err(error) => Step::failed(Error::Payment(error)),
                }
            }
            SagaAction::Done => ok(),
        })
    }

    /// The checkouts marked as placing an order that has no saga record: a
    /// crash came after the saga's last write and before the checkout was
    /// told, or after the checkout was marked and before the saga's first
    /// write. Only meaningful before any new place begins (at open).
    fn stale_placings(self) -> Result<Vec<(CheckoutId, OrderId)>, Error> {
        let mut stale = Vec::new();
        for (checkout, order) in self.m.checkouts().placing()? {
            if self.s.store.get::<SagaRecord>(&keys::saga(&order))?.is_none() {
                stale.push((checkout, order));
            }
        }
        Ok(stale)
    }

    /// The order, if `customer` placed it (another's is not found).
    pub async fn get(self, customer: &CustomerId, id: &OrderId) -> Result<OrderRecord, Error> {
        let record = self.order_call(id, OrderCommand::Read).await?;
        if record.order.customer != *customer {
            return Err(Error::OrderNotFound(id.clone()));
        }
        Ok(record)
    }

    /// Admin: any order.
    pub async fn get_any(self, id: &OrderId) -> Result<OrderRecord, Error> {
        self.order_call(id, OrderCommand::Read).await
    }

    /// The orders `filter` keeps (a customer's list sets its `customer`),
    /// newest first: at most `limit` after the cursor `after`, and the
    /// cursor of the next page. Costs the index's scan of summaries and
    /// one read per order shown (see [`index`]).
    pub async fn list(
        self,
        filter: &OrderFilter,
        limit: usize,
        after: Option<&OrderCursor>,
    ) -> Result<(Vec<OrderRecord>, Option<OrderCursor>), Error> {
        let page = self.s.index.page(filter, after, limit);
        let records = join_all(page.orders.iter().map(|id| self.order_call(id, OrderCommand::Read))).await;
        Ok((records.into_iter().collect::<Result<Vec<_>, Error>>()?, page.next))
    }

    /// Cancels before shipping: returns the units to stock and the money.
    pub async fn cancel(self, customer: &CustomerId, id: &OrderId) -> Result<OrderRecord, Error> {
        self.get(customer, id).await?;
        let record = self.order_call(id, OrderCommand::Cancel { reason: "cancelled by the customer".into() }).await?;
        Box::pin(self.carry_out(record)).await
    }

    /// Admin: cancels any order before it ships (an order on hold included:
    /// its authorization is voided and its units go back to stock).
    pub async fn cancel_any(self, id: &OrderId) -> Result<OrderRecord, Error> {
        let record = self.order_call(id, OrderCommand::Cancel { reason: "cancelled by the admin".into() }).await?;
        Box::pin(self.carry_out(record)).await
    }

    /// Admin: approves an order on hold; it is paid and its card captured.
    pub async fn approve(self, id: &OrderId) -> Result<OrderRecord, Error> {
        let record = self.order_call(id, OrderCommand::Approve).await?;
        Box::pin(self.carry_out(record)).await
    }

    pub async fn request_return(
        self,
        customer: &CustomerId,
        id: &OrderId,
        items: Vec<ReturnItem>,
    ) -> Result<OrderRecord, Error> {
        self.get(customer, id).await?;
        self.order_call(id, OrderCommand::RequestReturn { items }).await
    }

    /// Admin: the order ships (its units leave their warehouses).
    pub async fn ship(self, id: &OrderId) -> Result<OrderRecord, Error> {
        let record = self.order_call(id, OrderCommand::Ship).await?;
        self.carry_out(record).await
    }

    pub async fn deliver(self, id: &OrderId) -> Result<OrderRecord, Error> {
        self.order_call(id, OrderCommand::Deliver).await
    }

    /// Admin: the returned units arrived: restock them and refund.
    pub async fn receive_return(self, id: &OrderId) -> Result<OrderRecord, Error> {
        let record = self.order_call(id, OrderCommand::ReceiveReturn).await?;
        self.carry_out(record).await
    }

    /// Carries out the effects the order still owes, then clears them.
    pub(crate) async fn carry_out(self, record: OrderRecord) -> Result<OrderRecord, Error> {
        let Some(event) = record.pending.clone() else { return Ok(record) };
        let order = &record.order;
        let reference = order.id.to_string();
        let now = self.m.now();
        if let OrderEvent::Cancelled { stock, .. } = &event {
            for hold in &record.holds {
                match stock {
                    crate::engine::order::StockAction::Restock if hold.deal.is_some() => {
                        self.m.deals().return_claim(&hold.id, &order.id).await?;
                    }
                    // A stock task (below), which outlives the hold's record.
                    crate::engine::order::StockAction::Restock => {}
                    crate::engine::order::StockAction::ReleaseHolds => match self.m.inventory().release(&hold.id).await
                    {
                        Ok(_) | Err(Error::Inventory(_)) => {}
                        Err(other) => return Err(other),
                    },
                }
            }
        }
        let payments = match &event {
            OrderEvent::Cancelled { payments, .. } | OrderEvent::Refunded { payments, .. } => payments.clone(),
            _ => Vec::new(),
        };
        let refund_reference = match &event {
            OrderEvent::Cancelled { .. } => format!("cancel:{reference}"),
            _ => format!("return:{reference}"),
        };
        let zero = Money::zero(order.totals.total.currency);
        let gateway = self.m.payments();
        if let (OrderEvent::Paid { .. }, Some(authorization)) = (&event, &order.payment.authorization) {
            // An approved hold: the capture is idempotent, so a retry after a
            // crash captures once.
            if let Err(error) = gateway.capture(authorization, now).await? {
                tracing::error!(order = %reference, error = %error, "cannot capture an approved order");
            }
        }
        for action in payments {
            let result = match action {
                PaymentAction::Void { .. } => {
                    gateway.void(&reference, order.payment.gift_card.as_ref().map(|g| &g.0), now).await?
                }
                PaymentAction::RefundCard { amount, .. } => {
                    gateway.refund(&reference, &refund_reference, amount, None, now).await?
                }
                PaymentAction::CreditGiftCard { code, amount } => {
                    gateway.refund(&reference, &refund_reference, zero, Some((code, amount)), now).await?
                }
            };
            if let Err(error) = result {
                tracing::error!(order = %reference, error = %error, "cannot give money back");
            }
        }
        if let OrderEvent::Shipped { .. } = &event {
            // A deal claim's units leave the buckets they were sold from.
            for hold in record.holds.iter().filter(|hold| hold.deal.is_some()) {
                if let Err(error) = self.m.deals().ship_claim(&hold.id, Some(&hold.bucket.warehouse)).await {
                    tracing::error!(order = %reference, error = %error, "cannot ship a deal claim's units");
                }
            }
        }
        for (name, task) in stock_tasks(&record, &event) {
            let settles = self.s.store.settlement(keys::order_task(&order.id, &name))?;
            if let Err(error) = self.m.inventory().settle_task(&task.bucket, task.op, settles).await {
                tracing::error!(order = %reference, error = %error, "cannot settle a stock task");
            }
        }
        self.order_call(&order.id, OrderCommand::EffectsDone).await
    }

    /// After a restart: finishes or compensates every saga a crash left,
    /// settles the checkouts left placing without a saga (`stale`, from
    /// [`Orders::stale_placings`]), and carries out every order's owed effects.
    pub async fn recover(self, stale: Vec<(CheckoutId, OrderId)>) -> Result<usize, Error> {
        let store = &self.s.store;
        let sagas = store.scan_prefix::<SagaRecord>(&[keys::SAGA])?;
        let count = sagas.len();
        for (_, mut record) in sagas {
            let order_created = store.get::<OrderRecord>(&keys::order(&record.saga.order_id))?.is_some();
            record.saga.recover(order_created);
            let order = record.saga.order_id.clone();
            let (result, ticket) = self.m.deferring_durability(Box::pin(self.drive(record))).await;
            self.m.wait_durable(ticket).await?;
            match result {
                Ok(_) => tracing::info!(order = %order, "interrupted order completed"),
                Err(error @ (Error::Store(_) | Error::Unavailable(_) | Error::ShuttingDown)) => return Err(error),
                Err(error) => tracing::info!(order = %order, reason = %error, "interrupted order compensated"),
            }
        }
        for (checkout, order) in stale {
            // The order exists: its saga finished before the checkout heard
            // of it. It does not: the attempt died before its saga began.
            let placed_at = store.get::<OrderRecord>(&keys::order(&order))?.map(|record| record.order.created_at);
            tracing::info!(checkout = %checkout, order = %order, placed = placed_at.is_some(), "interrupted place settled");
            self.m.checkouts().call(&checkout, CheckoutCommand::EndPlace { order, placed_at }, None).await?;
        }
        for (_, record) in store.scan_prefix::<OrderRecord>(&[keys::ORDER])? {
            if record.pending.is_some() {
                let current = self.order_call(&record.order.id, OrderCommand::Read).await?;
                self.carry_out(current).await?;
            }
        }
        Ok(count)
    }
}

/// Why a place could not start, as the engine's error.
fn place_failure(err: PlaceError) -> Error {
    match err {
        PlaceError::Checkout(err) => Error::Checkout(err),
        PlaceError::PriceChanged(changes) => Error::PriceChanged(changes),
        PlaceError::Routing(RoutingError::InsufficientStock { requested, available, .. }) => {
            Error::Inventory(InventoryError::InsufficientStock { requested, available })
        }
        PlaceError::Routing(err @ RoutingError::NoOrigin { .. }) => Error::Corrupt(err.to_string()),
        PlaceError::Payment(err) => Error::Payment(err),
        PlaceError::Order(err) => Error::Order(err),
    }
}
