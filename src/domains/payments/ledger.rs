//! Payments: the simulated gateway (card vault and authorizations), the gift
//! card ledger and the fraud history, as one piece of state.
//!
//! Every change is written ahead as one [`PaymentLogEntry`] (the operation and
//! its inputs, `now` included) under the next sequence number, in the same
//! critical section that applies it, so the log's order is the order of the
//! changes. On open the log is replayed through the same deterministic engine
//! calls, which rebuilds the exact state. Not an actor: the critical section
//! is a few microseconds of pure engine work plus one store write, and every
//! caller awaits the returned ticket outside of it.

use crate::engine::payment::{Authorization, AuthorizeRequest, FraudAttempt, FraudCheck, GiftCardEvent};
use crate::engine::{
    CardRecord, CardToken, FraudDecision, FraudHistory, FraudRules, GiftCardCode, GiftCardLedger, Money, PaymentError,
    PaymentGateway, PaymentId, SimulatedGateway, Timestamp,
};
use crate::store::{keys, Batch, Keyspace, StoreError, Ticket};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One change to the payment state, as written ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentLogEntry {
    CardAdded { record: CardRecord },
    Authorize { request: AuthorizeRequest, at: Timestamp },
    Capture { id: PaymentId, at: Timestamp },
    Void { id: PaymentId, at: Timestamp },
    Refund { id: PaymentId, amount: Money, reference: String, at: Timestamp },
    GiftCard { event: GiftCardEvent },
    FraudAttempt { attempt: FraudAttempt },
}

/// The payment state.
#[derive(Debug, Default)]
pub struct PaymentState {
    pub gateway: SimulatedGateway,
    pub ledger: GiftCardLedger,
    pub fraud: FraudHistory,
    pub rules: FraudRules,
}

impl PaymentState {
    /// Replays one entry (results were decided when it was first applied).
    fn replay(&mut self, entry: &PaymentLogEntry) {
        match entry {
            PaymentLogEntry::CardAdded { record } => self.gateway.add_card(record.clone()),
            PaymentLogEntry::Authorize { request, at } => {
                let _ = self.gateway.authorize(request, *at);
            }
            PaymentLogEntry::Capture { id, at } => {
                let _ = self.gateway.capture(id, *at);
            }
            PaymentLogEntry::Void { id, at } => {
                let _ = self.gateway.void(id, *at);
            }
            PaymentLogEntry::Refund { id, amount, reference, at } => {
                let _ = self.gateway.refund(id, *amount, reference, *at);
            }
            PaymentLogEntry::GiftCard { event } => self.ledger.apply(event),
            PaymentLogEntry::FraudAttempt { attempt } => self.fraud.record(attempt.clone(), &self.rules),
        }
    }
}

struct Inner {
    state: PaymentState,
    next_seq: u64,
}

/// The payment state behind a lock, persisted per change.
pub struct Ledger {
    store: Keyspace,
    inner: Mutex<Inner>,
}

/// The outcome of a payment operation and the ticket to await before
/// acknowledging it.
pub type Logged<T> = (Result<T, PaymentError>, Ticket);

impl Ledger {
    /// Rebuilds the state from the log.
    pub fn open(store: Keyspace, rules: FraudRules) -> Result<Ledger, StoreError> {
        let mut state = PaymentState { rules, ..PaymentState::default() };
        let mut next_seq = 1;
        for (key, entry) in store.scan_prefix::<PaymentLogEntry>(&[keys::PAYMENT_LOG])? {
            state.replay(&entry);
            next_seq = keys::parse_payment_log(&key).map_or(next_seq, |seq| seq + 1);
        }
        if let Err(violation) = state.ledger.check_invariants() {
            return Err(StoreError::Decode { key: "payments".to_owned(), reason: violation.to_string() });
        }
        Ok(Ledger { store, inner: Mutex::new(Inner { state, next_seq }) })
    }

    /// Runs `operation` on the state; the entries it returns are written in
    /// one batch before the lock is released.
    fn change<T>(
        &self,
        operation: impl FnOnce(&mut PaymentState) -> (Result<T, PaymentError>, Vec<PaymentLogEntry>),
    ) -> Result<Logged<T>, StoreError> {
        let mut inner = self.inner.lock();
        let (result, entries) = operation(&mut inner.state);
        if entries.is_empty() || !self.store.keeps_records() {
            return Ok((result, self.store.last_ticket()));
        }
        let mut batch = Batch::new();
        for entry in &entries {
            batch.put(keys::payment_log(inner.next_seq), entry)?;
            inner.next_seq += 1;
        }
        let ticket = self.store.write(batch)?;
        Ok((result, ticket))
    }

    /// Reads the state.
    pub fn read<T>(&self, reader: impl FnOnce(&PaymentState) -> T) -> T {
        reader(&self.inner.lock().state)
    }

    pub fn add_card(&self, record: CardRecord) -> Result<Logged<CardRecord>, StoreError> {
        self.change(|state| {
            state.gateway.add_card(record.clone());
            (Ok(record.clone()), vec![PaymentLogEntry::CardAdded { record }])
        })
    }

    pub fn issue_gift_card(
        &self,
        code: GiftCardCode,
        amount: Money,
        at: Timestamp,
    ) -> Result<Logged<Money>, StoreError> {
        self.change(|state| match state.ledger.issue(code.clone(), amount, at) {
            Ok(events) => (state.ledger.balance(&code), gift_entries(events)),
            Err(err) => (Err(err), Vec::new()),
        })
    }

    /// Screens an attempt and records it in the history.
    pub fn assess(&self, check: &FraudCheck<'_>) -> Result<Logged<FraudDecision>, StoreError> {
        self.change(|state| {
            let decision = state.rules.assess(check, &state.fraud);
            let attempt = FraudAttempt {
                customer: check.customer.clone(),
                fingerprint: check.fingerprint.cloned(),
                at: check.now,
            };
            state.fraud.record(attempt.clone(), &state.rules);
            (Ok(decision), vec![PaymentLogEntry::FraudAttempt { attempt }])
        })
    }

    /// Debits the gift card part and authorizes the card part under
    /// `reference`, all or nothing: a declined card credits the gift card back.
    /// Retries with the same reference return the first result.
    pub fn authorize(
        &self,
        reference: &str,
        gift_card: Option<(GiftCardCode, Money)>,
        card: Option<AuthorizeRequest>,
        at: Timestamp,
    ) -> Result<Logged<Option<Authorization>>, StoreError> {
        self.change(|state| {
            let mut entries = Vec::new();
            if let Some((code, amount)) = &gift_card {
                match state.ledger.debit(code, *amount, reference, at) {
                    Ok(events) => entries.extend(gift_entries(events)),
                    Err(err) => return (Err(err), entries),
                }
            }
            let Some(request) = card else { return (Ok(None), entries) };
            let result = state.gateway.authorize(&request, at);
            entries.push(PaymentLogEntry::Authorize { request, at });
            match result {
                Ok(authorization) => (Ok(Some(authorization)), entries),
                Err(err) => {
                    if let Some((code, amount)) = &gift_card {
                        if let Ok(events) = state.ledger.credit(code, *amount, reference, at) {
                            entries.extend(gift_entries(events));
                        }
                    }
                    (Err(err), entries)
                }
            }
        })
    }

    pub fn capture(&self, id: &PaymentId, at: Timestamp) -> Result<Logged<Authorization>, StoreError> {
        self.change(|state| {
            let result = state.gateway.capture(id, at);
            (result, vec![PaymentLogEntry::Capture { id: id.clone(), at }])
        })
    }

    /// Undoes whatever `reference` authorized and debited: voids the card
    /// authorization (refused once captured) and credits the gift card. A
    /// reference that never authorized anything is a no-op.
    pub fn void(
        &self,
        reference: &str,
        gift_card: Option<&GiftCardCode>,
        at: Timestamp,
    ) -> Result<Logged<()>, StoreError> {
        self.change(|state| {
            let mut entries = Vec::new();
            if let Some(id) = state.gateway.by_reference(reference).map(|auth| auth.id.clone()) {
                let result = state.gateway.void(&id, at);
                entries.push(PaymentLogEntry::Void { id, at });
                if let Err(err) = result {
                    return (Err(err), entries);
                }
            }
            if let Some(code) = gift_card {
                entries.extend(credit_debit(state, code, reference, reference, at));
            }
            (Ok(()), entries)
        })
    }

    /// Refunds `card` on the authorization of `reference` and credits
    /// `gift_card` to the card debited under it; keyed by `refund_reference`.
    pub fn refund(
        &self,
        reference: &str,
        refund_reference: &str,
        card: Money,
        gift_card: Option<(GiftCardCode, Money)>,
        at: Timestamp,
    ) -> Result<Logged<()>, StoreError> {
        self.change(|state| {
            let mut entries = Vec::new();
            if card.cents > 0 {
                if let Some(id) = state.gateway.by_reference(reference).map(|auth| auth.id.clone()) {
                    let result = state.gateway.refund(&id, card, refund_reference, at);
                    entries.push(PaymentLogEntry::Refund {
                        id,
                        amount: card,
                        reference: refund_reference.to_owned(),
                        at,
                    });
                    if let Err(err) = result {
                        return (Err(err), entries);
                    }
                }
            }
            if let Some((code, amount)) = gift_card.filter(|(_, amount)| amount.cents > 0) {
                match state.ledger.credit(&code, amount, refund_reference, at) {
                    Ok(events) => entries.extend(gift_entries(events)),
                    Err(err) => return (Err(err), entries),
                }
            }
            (Ok(()), entries)
        })
    }

    /// A tokenized card, if known.
    pub fn card(&self, token: &CardToken) -> Option<CardRecord> {
        self.read(|state| state.gateway.card(token).cloned())
    }

    pub fn gift_card_balance(&self, code: &GiftCardCode) -> Result<Money, PaymentError> {
        self.read(|state| state.ledger.balance(code))
    }

    /// The authorization made under `reference`, if any was approved.
    pub fn authorization(&self, reference: &str) -> Option<Authorization> {
        self.read(|state| state.gateway.by_reference(reference).cloned())
    }
}

fn gift_entries(events: Vec<GiftCardEvent>) -> Vec<PaymentLogEntry> {
    events.into_iter().map(|event| PaymentLogEntry::GiftCard { event }).collect()
}

/// Credits back what `debit_reference` debited from `code` (if anything).
fn credit_debit(
    state: &mut PaymentState,
    code: &GiftCardCode,
    debit_reference: &str,
    credit_reference: &str,
    at: Timestamp,
) -> Vec<PaymentLogEntry> {
    let debited = state.ledger.card(code).and_then(|card| {
        card.entries
            .iter()
            .find(|entry| entry.kind == crate::engine::payment::EntryKind::Debit && entry.reference == debit_reference)
            .map(|entry| entry.amount)
    });
    let Some(amount) = debited else { return Vec::new() };
    state.ledger.credit(code, amount, credit_reference, at).map(gift_entries).unwrap_or_default()
}
