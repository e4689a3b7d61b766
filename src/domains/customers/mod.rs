//! Customers, sessions, Prime membership and seller links. Owns the keys
//! `u`, `x`, `t`, `n` and `s`.
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
use crate::engine::{
    CardToken, CartId, Customer, CustomerError, CustomerId, Email, Membership, Plan, Role, SellerId, Session,
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
    memberships: DashMap<CustomerId, Membership, foldhash::fast::RandomState>,
    /// Customer -> the seller whose products they manage.
    sellers: DashMap<CustomerId, SellerId, foldhash::fast::RandomState>,
}

fn load(store: &Keyspace) -> Result<Directory, Error> {
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
    for (key, membership) in store.scan_prefix::<Membership>(&[keys::MEMBERSHIP])? {
        if let Some(customer) = keys::parse_membership(&key) {
            directory.memberships.insert(customer, membership);
        }
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
}

impl State {
    pub(crate) fn open(store: Keyspace) -> Result<State, Error> {
        let hashing = WorkPool::all_cores_but_one("mercato-hash", HASHES_QUEUED_MAX)
            .map_err(|err| crate::store::StoreError::Io(err.to_string()))?;
        Ok(State { directory: load(&store)?, store, hashing, failures: DashMap::default() })
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

    /// Starts Prime, to be paid with `card`, which must be the customer's
    /// (another customer's, a removed or an unknown card is not found; the
    /// charge itself is not made yet). Starting again while active changes
    /// nothing; a cancelled or ended membership restarts.
    pub async fn start_membership(
        self,
        customer: &CustomerId,
        plan: Plan,
        card: &CardToken,
    ) -> Result<Membership, Error> {
        let _pass = self.m.enter()?;
        self.m.payments().use_card(customer, card).await?;
        let now = self.m.now();
        if let Some(current) = self.membership(customer).filter(|m| m.is_active(now) && m.ends_at.is_none()) {
            return Ok(current);
        }
        self.save_membership(customer, Membership::start(plan, now)).await
    }

    /// Ends Prime at the end of the current period.
    pub async fn cancel_membership(self, customer: &CustomerId) -> Result<Option<Membership>, Error> {
        let _pass = self.m.enter()?;
        let Some(mut membership) = self.membership(customer) else { return Ok(None) };
        membership.cancel(self.m.now());
        self.save_membership(customer, membership).await.map(Some)
    }

    async fn save_membership(self, customer: &CustomerId, membership: Membership) -> Result<Membership, Error> {
        let ticket = self.s.store.write(Batch::new_put(keys::membership(customer), &membership)?)?;
        self.s.directory.memberships.insert(customer.clone(), membership.clone());
        self.s.store.durable(ticket).await?;
        Ok(membership)
    }

    pub fn membership(self, customer: &CustomerId) -> Option<Membership> {
        self.s.directory.memberships.get(customer).map(|entry| entry.value().clone())
    }

    /// Whether the customer is a Prime member now.
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
