//! Customers, sessions, Prime membership and seller links. Owns the keys
//! `u`, `x`, `t`, `N` (`n` of older builds is read once) and `s`.
//!
//! Prime is paid: see [`crate::engine::membership`] for the rules. Every
//! membership change holds one async lock (`billing`), so the periodic
//! renewal and the check on access never charge the same period twice in
//! one process; across a crash the deterministic charge reference does.
//!
//! Passwords are hashed with argon2id (salted, memory-hard) on a pool of its
//! own (all cores but one, a bounded queue: a flood of sign-ins can neither
//! take every core nor ask for unbounded hashing memory; a full queue is
//! [`CustomerError::Busy`] at once), never on an async worker or an actor.
//! Failed sign-ins lock the (email, client address) pair out for a growing
//! time ([`crate::engine::lockout`]), checked before any hashing. A session token is 256 random
//! bits shown once to the client; the store keeps only its SHA-256 digest, so
//! a copy of the data directory does not hand out live tokens. Emails are
//! unique case-insensitively: the email index is claimed under its map entry
//! lock and written in the same batch as the customer.

use crate::engine::customer::{check_name, check_password};
use crate::engine::lockout::Failures;
use crate::engine::membership::{self, Due, MembershipStatus, PaidMembership, PlanPrices};
use crate::engine::pricing::QuoteContext;
use crate::engine::Checkout;
use crate::engine::{
    CardToken, CartId, Customer, CustomerError, CustomerId, Email, Membership, Money, PaymentError, Plan, Role,
    SellerId, Session, Timestamp,
};
use crate::pool::{PoolError, PoolStats, WorkPool};
use crate::store::{keys, Batch, Keyspace};
use crate::{Error, Mercato, PasswordCost};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::OnceLock;

/// Hashes waiting for a hashing thread before more are refused (each
/// running hash takes 19 MiB; waiting ones hold only their password).
const HASHES_QUEUED_MAX: usize = 64;
/// (email, client address) pairs with failures kept before the ones that
/// are no longer locked out are forgotten.
const FAILURE_KEYS_MAX: usize = 100_000;

/// Whose failed sign-ins are counted together: an email from one client.
type FailureKey = (Email, Option<IpAddr>);

/// Every customer, the email index and the live sessions, in memory.
#[derive(Default)]
struct Directory {
    customers: DashMap<CustomerId, Customer, foldhash::fast::RandomState>,
    emails: DashMap<Email, CustomerId, foldhash::fast::RandomState>,
    sessions: DashMap<String, Session, foldhash::fast::RandomState>,
    /// Customer -> their Prime membership.
    memberships: DashMap<CustomerId, PaidMembership, foldhash::fast::RandomState>,
    /// Customer -> the seller whose products they manage.
    sellers: DashMap<CustomerId, SellerId, foldhash::fast::RandomState>,
}

fn load(store: &Keyspace, prices: &PlanPrices, now: Timestamp) -> Result<Directory, Error> {
    let directory = Directory::default();
    for (_, customer) in store.scan_prefix::<Customer>(&[keys::CUSTOMER])? {
        directory.emails.insert(customer.email.clone(), customer.id.clone());
        directory.customers.insert(customer.id.clone(), customer);
    }
    for (key, session) in store.scan_prefix::<Session>(&[keys::SESSION])? {
        if let Some(digest) = keys::parse_session(&key) {
            directory.sessions.insert(digest, session);
        }
    }
    for (key, membership) in store.scan_prefix::<PaidMembership>(&[keys::PAID_MEMBERSHIP])? {
        if let Some(customer) = keys::parse_paid_membership(&key) {
            directory.memberships.insert(customer, membership);
        }
    }
    // Memberships of older builds (never charged) become paid ones, active
    // to the end of their current period, with no card (see
    // `PaidMembership::from_legacy`); rewritten under the new key once.
    let mut upgraded = Batch::new();
    for (key, old) in store.scan_prefix::<Membership>(&[keys::MEMBERSHIP])? {
        let Some(customer) = keys::parse_membership(&key) else { continue };
        if !directory.memberships.contains_key(&customer) {
            let membership = PaidMembership::from_legacy(&old, prices.of(old.plan), now);
            upgraded.put(keys::paid_membership(&customer), &membership)?;
            directory.memberships.insert(customer, membership);
        }
        upgraded.delete(key);
    }
    if !upgraded.is_empty() {
        store.write(upgraded)?;
    }
    for (key, seller) in store.scan_prefix::<SellerId>(&[keys::SELLER_LINK])? {
        if let Some(customer) = keys::parse_seller_link(&key) {
            directory.sellers.insert(customer, seller);
        }
    }
    Ok(directory)
}

/// What the customers domain keeps: customers, sessions, memberships and
/// seller links (keys `u`, `x`, `t`, `n`, `s`).
pub(crate) struct State {
    store: Keyspace,
    directory: Directory,
    hashing: WorkPool,
    failures: DashMap<FailureKey, Failures, foldhash::fast::RandomState>,
    /// Held by every membership change, so a renewal is charged and
    /// recorded by one task at a time.
    billing: tokio::sync::Mutex<()>,
}

impl State {
    pub(crate) fn open(store: Keyspace, prices: &PlanPrices, now: Timestamp) -> Result<State, Error> {
        let hashing = WorkPool::all_cores_but_one("mercato-hash", HASHES_QUEUED_MAX)
            .map_err(|err| crate::store::StoreError::Io(err.to_string()))?;
        Ok(State {
            directory: load(&store, prices, now)?,
            store,
            hashing,
            failures: DashMap::default(),
            billing: tokio::sync::Mutex::new(()),
        })
    }
}

/// Customers, sessions and membership, reached as `mercato.customers()`.
#[derive(Clone, Copy)]
pub struct Customers<'a> {
    m: &'a Mercato,
    s: &'a State,
}

fn digest(token: &str) -> String {
    crate::engine::hex_lower(&Sha256::digest(token.as_bytes()))
}

fn hasher(cost: PasswordCost) -> Argon2<'static> {
    match cost {
        PasswordCost::Standard => Argon2::default(),
        PasswordCost::Fast => {
            let params = argon2::Params::new(64, 1, 1, None).unwrap_or_default();
            Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        }
    }
}

fn hash_password(password: &str, salt: [u8; 16], cost: PasswordCost) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&salt).map_err(|err| Error::InvalidInput(err.to_string()))?;
    hasher(cost)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| Error::InvalidInput(err.to_string()))
}

/// Verifies against the parameters stored in the hash itself, so hashes of
/// either cost verify whatever the server's current setting.
fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash to verify against when the email is unknown, of the server's
/// cost, so that a wrong email costs the same time as a wrong password (no
/// account enumeration by timing).
fn decoy_hash(cost: PasswordCost) -> &'static str {
    static STANDARD: OnceLock<String> = OnceLock::new();
    static FAST: OnceLock<String> = OnceLock::new();
    let cell = match cost {
        PasswordCost::Standard => &STANDARD,
        PasswordCost::Fast => &FAST,
    };
    cell.get_or_init(|| hash_password("decoy password", [0x5a; 16], cost).unwrap_or_default())
}

/// Runs a hash on the hashing pool.
async fn hashed<T: Send + 'static>(pool: &WorkPool, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    pool.run(work).await.map_err(|err| match err {
        PoolError::Full => CustomerError::Busy.into(),
        PoolError::Failed => Error::Pool(err),
    })
}

impl<'a> Customers<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Customers { m, s }
    }

    /// Registers a customer; [`CustomerError::EmailTaken`] if the email (in
    /// any case) is registered already.
    pub async fn register(self, email: &str, password: &str, name: &str) -> Result<Customer, Error> {
        let _pass = self.m.enter()?;
        let email = Email::parse(email)?;
        let name = check_name(name)?;
        check_password(password)?;
        if self.s.directory.emails.contains_key(&email) {
            return Err(CustomerError::EmailTaken.into());
        }
        let password = password.to_owned();
        let cost = self.m.config().password_cost;
        let salt = self.m.source().bytes::<16>();
        let password_hash = hashed(&self.s.hashing, move || hash_password(&password, salt, cost)).await??;
        let customer = Customer {
            id: CustomerId::generate(self.m.source().u128()),
            email,
            name,
            password_hash,
            role: Role::Customer,
            created_at: self.m.now(),
        };
        let ticket = match self.s.directory.emails.entry(customer.email.clone()) {
            Entry::Occupied(_) => return Err(CustomerError::EmailTaken.into()),
            Entry::Vacant(vacant) => {
                let mut batch = Batch::new();
                batch.put(keys::customer(&customer.id), &customer)?;
                batch.put(keys::email(customer.email.as_str()), &customer.id)?;
                let ticket = self.s.store.write(batch)?;
                vacant.insert(customer.id.clone());
                self.s.directory.customers.insert(customer.id.clone(), customer.clone());
                ticket
            }
        };
        self.s.store.durable(ticket).await?;
        Ok(customer)
    }

    /// Checks the credentials and starts a 30-day session; returns the token
    /// (shown once) and the customer. As [`Customers::sign_in_from`] with
    /// no client address (an embedding program's own sign-in).
    pub async fn sign_in(self, email: &str, password: &str) -> Result<(String, Customer), Error> {
        self.sign_in_from(email, password, None).await
    }

    /// Checks the credentials of a sign-in from `client` and starts a
    /// 30-day session. Past a few failures for this email from this client,
    /// [`CustomerError::LockedOut`] until a lockout that grows with every
    /// further failure is over; no password is checked meanwhile.
    pub async fn sign_in_from(
        self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(String, Customer), Error> {
        let _pass = self.m.enter()?;
        let email = Email::parse(email).ok();
        let key = email.clone().map(|email| (email, client));
        if let Some(failures) = key.as_ref().and_then(|key| self.s.failures.get(key)) {
            failures.check(self.m.now()).map_err(|retry_after_ms| CustomerError::LockedOut { retry_after_ms })?;
        }
        let customer = email
            .and_then(|email| self.s.directory.emails.get(&email).map(|id| id.value().clone()))
            .and_then(|id| self.get(&id));
        let cost = self.m.config().password_cost;
        let hash =
            customer.as_ref().map_or_else(|| decoy_hash(cost).to_owned(), |customer| customer.password_hash.clone());
        let password = password.to_owned();
        let verified = hashed(&self.s.hashing, move || verify_password(&password, &hash)).await?;
        let Some(customer) = customer.filter(|_| verified) else {
            if let Some(key) = key {
                self.failed(key);
            }
            return Err(CustomerError::BadCredentials.into());
        };
        if let Some(key) = key {
            self.s.failures.remove(&key);
        }
        let token = format!("tok_{}", hex::encode(self.m.source().bytes::<32>()));
        let session = Session::start(customer.id.clone(), self.m.now());
        let key = digest(&token);
        let ticket = self.s.store.write(Batch::new_put(keys::session(&key), &session)?)?;
        self.s.directory.sessions.insert(key, session);
        self.s.store.durable(ticket).await?;
        Ok((token, customer))
    }

    /// Counts a failed sign-in of `key`; keeps the table bounded by
    /// forgetting keys that are not locked out once it is full.
    fn failed(self, key: FailureKey) {
        let now = self.m.now();
        if self.s.failures.len() >= FAILURE_KEYS_MAX {
            self.s.failures.retain(|_, failures| !failures.is_unlocked(now));
        }
        self.s.failures.entry(key).or_insert_with(|| Failures::new(now)).fail(now);
    }

    /// Ends the session of `token` at once (its record is deleted); `false`
    /// when no live session had that token.
    pub async fn sign_out(self, token: &str) -> Result<bool, Error> {
        let _pass = self.m.enter()?;
        let key = digest(token);
        if self.s.directory.sessions.remove(&key).is_none() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        batch.delete(keys::session(&key));
        let ticket = self.s.store.write(batch)?;
        self.s.store.durable(ticket).await?;
        Ok(true)
    }

    /// Deletes the sessions past their end; how many.
    pub async fn sweep(self) -> Result<usize, Error> {
        let _pass = self.m.enter()?;
        let now = self.m.now();
        let mut ended = Vec::new();
        self.s.directory.sessions.retain(|key, session| {
            let active = session.is_active(now);
            if !active {
                ended.push(key.clone());
            }
            active
        });
        if ended.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        for key in &ended {
            batch.delete(keys::session(key));
        }
        let ticket = self.s.store.write(batch)?;
        self.s.store.flush_soon(ticket);
        Ok(ended.len())
    }

    /// Live sessions.
    pub fn session_count(self) -> usize {
        self.s.directory.sessions.len()
    }

    /// The password hashing pool's threads and load.
    pub fn hashing_stats(self) -> PoolStats {
        self.s.hashing.stats()
    }

    /// The customer a bearer token belongs to, if the session is live.
    pub fn authenticate(self, token: &str) -> Option<Customer> {
        let session = self.s.directory.sessions.get(&digest(token))?.value().clone();
        if !session.is_active(self.m.now()) {
            return None;
        }
        self.get(&session.customer_id)
    }

    /// The customer, with `role` Seller when they act for a seller.
    pub fn get(self, id: &CustomerId) -> Option<Customer> {
        let mut customer = self.s.directory.customers.get(id).map(|entry| entry.value().clone())?;
        if self.s.directory.sellers.contains_key(id) {
            customer.role = Role::Seller;
        }
        Some(customer)
    }

    /// Lets a customer manage the products of `seller` (admin action).
    pub async fn assign_seller(self, customer: &CustomerId, seller: SellerId) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        if !self.s.directory.customers.contains_key(customer) {
            return Err(CustomerError::NotFound(customer.clone()).into());
        }
        let ticket = self.s.store.write(Batch::new_put(keys::seller_link(customer), &seller)?)?;
        self.s.directory.sellers.insert(customer.clone(), seller);
        self.s.store.durable(ticket).await?;
        Ok(())
    }

    /// Starts Prime: the plan's price is charged to `card`, which must be
    /// the customer's (another customer's, a removed or an unknown card is
    /// not found), before the membership exists; a decline starts nothing.
    /// An active membership is [`CustomerError::MembershipActive`]; an
    /// ended one is replaced (the next generation).
    pub async fn start_membership(
        self,
        customer: &CustomerId,
        plan: Plan,
        card: &CardToken,
    ) -> Result<PaidMembership, Error> {
        let _pass = self.m.enter()?;
        let _billing = self.s.billing.lock().await;
        let previous = self.renew_locked(customer).await?;
        let now = self.m.now();
        if previous.as_ref().is_some_and(|m| m.is_active(now)) {
            return Err(CustomerError::MembershipActive.into());
        }
        self.m.payments().use_card(customer, card).await?;
        let generation = previous.map_or(1, |m| m.generation + 1);
        let price = self.m.config().prime_prices.of(plan);
        let reference = membership::start_reference(customer, generation, card);
        self.m.payments().charge(&reference, card, price, now).await??;
        self.save_membership(customer, PaidMembership::start(generation, plan, price, card.clone(), now)).await
    }

    /// Ends Prime at the end of the current period: no renewal charge.
    pub async fn cancel_membership(self, customer: &CustomerId) -> Result<Option<PaidMembership>, Error> {
        let _pass = self.m.enter()?;
        let _billing = self.s.billing.lock().await;
        let Some(mut membership) = self.renew_locked(customer).await? else { return Ok(None) };
        if !membership.is_active(self.m.now()) {
            return Ok(Some(membership));
        }
        membership.cancel();
        self.save_membership(customer, membership).await.map(Some)
    }

    /// Sets the card future renewals are charged to; it must be the
    /// customer's own (as for [`Customers::start_membership`]).
    pub async fn set_membership_card(
        self,
        customer: &CustomerId,
        card: &CardToken,
    ) -> Result<Option<PaidMembership>, Error> {
        let _pass = self.m.enter()?;
        let _billing = self.s.billing.lock().await;
        let Some(mut membership) = self.renew_locked(customer).await? else { return Ok(None) };
        self.m.payments().use_card(customer, card).await?;
        membership.card = Some(card.clone());
        self.save_membership(customer, membership).await.map(Some)
    }

    /// The membership after charging whatever is due now (the check on
    /// access; the periodic [`Customers::renew_due`] does the same for all).
    pub async fn current_membership(self, customer: &CustomerId) -> Result<Option<PaidMembership>, Error> {
        let _pass = self.m.enter()?;
        if self.membership(customer).is_none_or(|m| m.due(self.m.now()) == Due::Nothing) {
            return Ok(self.membership(customer));
        }
        let _billing = self.s.billing.lock().await;
        self.renew_locked(customer).await
    }

    /// Charges every membership whose renewal (or retry) is due, and ends
    /// the cancelled ones whose period is over; how many changed.
    pub async fn renew_due(self) -> Result<usize, Error> {
        let _pass = self.m.enter()?;
        let now = self.m.now();
        let due: Vec<CustomerId> = self
            .s
            .directory
            .memberships
            .iter()
            .filter(|entry| entry.value().due(now) != Due::Nothing)
            .map(|entry| entry.key().clone())
            .collect();
        let _billing = self.s.billing.lock().await;
        for customer in &due {
            self.renew_locked(customer).await?;
        }
        Ok(due.len())
    }

    /// Applies everything due at now, one step at a time (a clock far ahead
    /// charges each period in turn). Each charge's reference is fixed by
    /// (customer, generation, period, attempt), so a charge made before a
    /// crash that lost its record is found again, never made twice. Called
    /// with `billing` held.
    async fn renew_locked(self, customer: &CustomerId) -> Result<Option<PaidMembership>, Error> {
        let Some(mut membership) = self.membership(customer) else { return Ok(None) };
        let now = self.m.now();
        let mut changed = false;
        loop {
            let due = membership.due(now);
            let approved = match &due {
                Due::Nothing => break,
                Due::End => false,
                Due::Charge { period, attempt, amount } => {
                    let reference = membership::charge_reference(customer, membership.generation, *period, *attempt);
                    self.renewal_charge(&reference, membership.card.as_ref(), *amount, now).await?
                }
            };
            let ended = due == Due::End;
            membership.apply(&due, approved, now);
            changed = true;
            if let Due::Charge { period, .. } = due {
                tracing::info!(customer = %customer, period, approved, "prime renewal charged");
            }
            if ended || membership.status == MembershipStatus::Lapsed {
                break;
            }
        }
        if changed {
            return self.save_membership(customer, membership).await.map(Some);
        }
        Ok(Some(membership))
    }

    /// Whether the renewal charge under `reference` was approved. No card,
    /// a removed card and any decline are a decline; the same reference
    /// already used with another card (the card changed after a crash)
    /// is answered by what that reference did.
    async fn renewal_charge(
        self,
        reference: &str,
        card: Option<&CardToken>,
        amount: Money,
        now: Timestamp,
    ) -> Result<bool, Error> {
        let Some(card) = card else { return Ok(false) };
        match self.m.payments().charge(reference, card, amount, now).await? {
            Ok(_) => Ok(true),
            Err(PaymentError::ReferenceReused { .. }) => Ok(self.m.payments().authorization(reference).is_some()),
            Err(_) => Ok(false),
        }
    }

    /// Adds to a member's savings: `shipping` they did not pay and `deals`
    /// (list price minus deal price of deal units bought). Nothing for a
    /// customer without a membership.
    pub async fn record_savings(self, customer: &CustomerId, shipping: Money, deals: Money) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        if shipping.cents <= 0 && deals.cents <= 0 {
            return Ok(());
        }
        let _billing = self.s.billing.lock().await;
        let Some(mut membership) = self.membership(customer) else { return Ok(()) };
        membership.add_savings(
            Money { cents: shipping.cents.max(0), ..shipping },
            Money { cents: deals.cents.max(0), ..deals },
        );
        self.save_membership(customer, membership).await.map(|_| ())
    }

    /// Records what a Prime member saved on the order placed from
    /// `checkout`: the shipping they did not pay (the same option priced
    /// for a non-member minus what they paid) and the deal discounts (list
    /// price minus deal price of each deal unit). Nothing for a non-member.
    pub async fn record_order_savings(self, customer: &CustomerId, checkout: &Checkout) -> Result<(), Error> {
        if !self.is_prime(customer) {
            return Ok(());
        }
        let currency = checkout.lines.first().map_or(crate::engine::Currency::USD, |line| line.unit_price.currency);
        let mut shipping = Money::zero(currency);
        if let Some(paid) = &checkout.shipping {
            let checkouts = self.m.checkouts();
            let context = QuoteContext { prime: false, ..checkouts.quote_context(customer, checkout) };
            let standard = checkout.shipping_options(checkouts.pricing(), &context).ok().and_then(|options| {
                options.into_iter().find(|quote| quote.option == paid.option).map(|quote| quote.price)
            });
            if let Some(standard) = standard {
                shipping = membership::shipping_saving(standard, paid.price);
            }
        }
        let mut deals = Money::zero(currency);
        for line in checkout.lines.iter().filter(|line| !line.claims.is_empty()) {
            let list = self.m.catalog().product_of(&line.sku).and_then(|p| p.variant(&line.sku).map(|v| v.price));
            if let Some(list) = list {
                let saved = membership::deal_saving(list, line.unit_price, line.quantity);
                deals = deals.checked_add(saved).unwrap_or(deals);
            }
        }
        self.record_savings(customer, shipping, deals).await
    }

    async fn save_membership(self, customer: &CustomerId, membership: PaidMembership) -> Result<PaidMembership, Error> {
        let ticket = self.s.store.write(Batch::new_put(keys::paid_membership(customer), &membership)?)?;
        self.s.directory.memberships.insert(customer.clone(), membership.clone());
        self.s.store.durable(ticket).await?;
        Ok(membership)
    }

    /// The membership as last recorded (renewals due are not applied).
    pub fn membership(self, customer: &CustomerId) -> Option<PaidMembership> {
        self.s.directory.memberships.get(customer).map(|entry| entry.value().clone())
    }

    /// Whether the customer is a Prime member now: a paid membership,
    /// active or past due (see [`PaidMembership::is_active`]).
    pub fn is_prime(self, customer: &CustomerId) -> bool {
        let now = self.m.now();
        self.membership(customer).is_some_and(|membership| membership.is_active(now))
    }

    /// The seller a customer acts for, if any.
    pub fn seller_of(self, customer: &CustomerId) -> Option<SellerId> {
        self.s.directory.sellers.get(customer).map(|entry| entry.value().clone())
    }

    /// The id of a customer's own cart (`mine` in the API). Guest cart ids
    /// never take this form, so a guest route cannot reach a customer's cart.
    pub fn cart_id(self, id: &CustomerId) -> Result<CartId, Error> {
        Ok(CartId::parse(&format!("{CUSTOMER_CART_PREFIX}{id}"))?)
    }
}

pub use crate::domains::carts::CUSTOMER_CART_PREFIX;
