//! Payments: payment methods (tokenized cards), gift cards, authorizations,
//! captures, voids, refunds and fraud screening, through the simulated
//! gateway of the engine. The state is one write-ahead [`ledger::Ledger`];
//! owns the key `y`.
//!
//! The operations the order saga runs (`assess`, `authorize`, `capture`,
//! `void`, `refund`) answer once their log entry is durable, or, inside a
//! durability scope, leave the wait to the scope. Their outer `Result` is a
//! storage failure, the inner one the gateway's answer.

pub mod ledger;

use crate::engine::payment::card::CardFingerprint;
use crate::engine::payment::{
    tokenize, Authorization, AuthorizeRequest, BillingCountry, CardCursor, FraudCheck, FraudRules, SavedCard,
};
use crate::engine::{
    CardInput, CardRecord, CardToken, CustomerId, FraudDecision, GiftCardCode, Money, PaymentError, PaymentId,
    Timestamp,
};
use crate::store::Keyspace;
use crate::{Error, Mercato};
use ledger::{Ledger, Logged};

/// What the payments domain keeps.
pub(crate) struct State {
    ledger: Ledger,
    /// Keys card fingerprints (see [`crate::secret`]).
    secret_key: crate::secret::SecretKey,
}

impl State {
    pub(crate) fn open(
        store: Keyspace,
        rules: FraudRules,
        secret_key: crate::secret::SecretKey,
    ) -> Result<State, Error> {
        Ok(State { ledger: Ledger::open(store, rules)?, secret_key })
    }
}

/// Payments, reached as `mercato.payments()`.
#[derive(Clone, Copy)]
pub struct Payments<'a> {
    m: &'a Mercato,
    s: &'a State,
}

impl<'a> Payments<'a> {
    pub(crate) fn new(m: &'a Mercato, s: &'a State) -> Self {
        Payments { m, s }
    }

    /// Tokenizes a card and saves it for `owner`: only the record (brand,
    /// last four, expiry, fingerprint) and the billing country are kept; the
    /// number and CVC are dropped here.
    pub async fn add_payment_method(
        self,
        owner: &CustomerId,
        input: &CardInput,
        billing_country: Option<BillingCountry>,
    ) -> Result<SavedCard, Error> {
        let _pass = self.m.enter()?;
        let token = CardToken::generate(self.m.source().u128());
        let fingerprint = |digits: &str| {
            CardFingerprint::from_digest(&self.s.secret_key.digest(CardFingerprint::LABEL, digits.as_bytes()))
        };
        let now = self.m.now();
        let record = tokenize(input, token, now, fingerprint)?;
        Ok(self.logged(self.s.ledger.add_card(record, owner, billing_country, now)?).await??)
    }

    /// The card `token` if `customer` may pay with it: their own card, or a
    /// legacy card (saved before cards had owners), which becomes theirs
    /// now, durably ("trust on first use"). Anything else, another
    /// customer's card or a removed one included, is
    /// [`PaymentError::CardNotFound`].
    pub async fn use_card(self, customer: &CustomerId, token: &CardToken) -> Result<CardRecord, Error> {
        let _pass = self.m.enter()?;
        Ok(self.logged(self.s.ledger.use_card(token, customer, self.m.now())?).await??)
    }

    /// Up to `limit` of `customer`'s saved cards, newest first, after
    /// `after`; and the cursor of the next page, if any. Reads only their
    /// cards (an index per customer).
    pub fn saved_cards(
        self,
        customer: &CustomerId,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> (Vec<SavedCard>, Option<CardCursor>) {
        self.s.ledger.saved_cards(customer, after, limit)
    }

    /// Removes `customer`'s card `token`: it can no longer pay (another
    /// customer's card is [`PaymentError::CardNotFound`]).
    pub async fn remove_card(self, customer: &CustomerId, token: &CardToken) -> Result<(), Error> {
        let _pass = self.m.enter()?;
        Ok(self.logged(self.s.ledger.remove_card(token, customer, self.m.now())?).await??)
    }

    /// Issues a gift card holding `balance`.
    pub async fn issue_gift_card(self, balance: Money) -> Result<(GiftCardCode, Money), Error> {
        let _pass = self.m.enter()?;
        let code = GiftCardCode::generate(self.m.source().u128());
        let issued = self.logged(self.s.ledger.issue_gift_card(code.clone(), balance, self.m.now())?).await??;
        Ok((code, issued))
    }

    /// The card authorization made under a payment reference (an order id).
    pub fn authorization(self, reference: &str) -> Option<Authorization> {
        self.s.ledger.authorization(reference)
    }

    /// Charges `amount` to `token` at once (authorize and capture) under
    /// `reference`: a repeated reference is the same charge (its first
    /// answer), never a second one. The card is not checked for ownership
    /// here (see [`Payments::use_card`]).
    pub(crate) async fn charge(
        self,
        reference: &str,
        token: &CardToken,
        amount: Money,
        at: Timestamp,
    ) -> Result<Result<Authorization, PaymentError>, Error> {
        let request = AuthorizeRequest {
            id: PaymentId::generate(self.m.source().u128()),
            token: token.clone(),
            amount,
            reference: reference.to_owned(),
        };
        let authorized = match self.authorize(reference, None, Some(request), at).await? {
            Ok(Some(authorization)) => authorization,
            Ok(None) => return Ok(Err(PaymentError::InvalidAmount { amount })),
            Err(err) => return Ok(Err(err)),
        };
        self.capture(&authorized.id, at).await
    }

    /// The approved authorizations whose reference starts with `prefix`
    /// (e.g. one customer's membership charges), oldest first.
    pub fn authorizations_under(self, prefix: &str) -> Vec<Authorization> {
        self.s.ledger.read(|state| {
            let mut found: Vec<Authorization> =
                state.gateway.authorizations().filter(|auth| auth.reference.starts_with(prefix)).cloned().collect();
            found.sort_by(|a, b| (a.created_at, &a.reference).cmp(&(b.created_at, &b.reference)));
            found
        })
    }

    pub fn gift_card_balance(self, code: &GiftCardCode) -> Result<Money, Error> {
        Ok(self.s.ledger.gift_card_balance(code)?)
    }

    /// A tokenized card with its billing country, if the token is known
    /// (whoever owns it).
    pub(crate) fn saved_card(self, token: &CardToken) -> Option<SavedCard> {
        self.s.ledger.saved_card(token)
    }

    /// Screens a payment with the fraud rules (and records the attempt).
    pub(crate) async fn assess(self, check: &FraudCheck<'_>) -> Result<Result<FraudDecision, PaymentError>, Error> {
        self.logged(self.s.ledger.assess(check)?).await
    }

    /// Debits the gift card and authorizes the card, under `reference`.
    pub(crate) async fn authorize(
        self,
        reference: &str,
        gift_card: Option<(GiftCardCode, Money)>,
        card: Option<AuthorizeRequest>,
        at: Timestamp,
    ) -> Result<Result<Option<Authorization>, PaymentError>, Error> {
        self.logged(self.s.ledger.authorize(reference, gift_card, card, at)?).await
    }

    pub(crate) async fn capture(
        self,
        id: &PaymentId,
        at: Timestamp,
    ) -> Result<Result<Authorization, PaymentError>, Error> {
        self.logged(self.s.ledger.capture(id, at)?).await
    }

    /// Undoes what `reference` authorized and debited.
    pub(crate) async fn void(
        self,
        reference: &str,
        gift_card: Option<&GiftCardCode>,
        at: Timestamp,
    ) -> Result<Result<(), PaymentError>, Error> {
        self.logged(self.s.ledger.void(reference, gift_card, at)?).await
    }

    /// Gives money back: `card` to the captured card, and the gift card credit.
    pub(crate) async fn refund(
        self,
        reference: &str,
        refund_reference: &str,
        card: Money,
        gift_card: Option<(GiftCardCode, Money)>,
        at: Timestamp,
    ) -> Result<Result<(), PaymentError>, Error> {
        self.logged(self.s.ledger.refund(reference, refund_reference, card, gift_card, at)?).await
    }

    /// Waits for a payment write to be durable (or defers it, like `settle`).
    async fn logged<T>(self, (result, ticket): Logged<T>) -> Result<Result<T, PaymentError>, Error> {
        self.m.settle_ticket(ticket).await?;
        Ok(result)
    }
}
