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

use crate::engine::payment::{
    Authorization, AuthorizeRequest, BillingCountry, CardCursor, FraudAttempt, FraudCheck, GiftCardEvent, SavedCard,
    WalletEvent, Wallets,
};
use crate::engine::{
    CardRecord, CardToken, CustomerId, FraudDecision, FraudHistory, FraudRules, GiftCardCode, GiftCardLedger, Money,
    PaymentError, PaymentGateway, PaymentId, SimulatedGateway, Timestamp,
};
use crate::store::{keys, Batch, Keyspace, StoreError, Ticket};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One change to the payment state, as written ahead. The encoding is not
/// self-describing: a variant's fields never change, and new variants are
/// appended last, so every entry ever written still reads. `CardAdded` is
/// a card saved before cards had owners (no longer written; it replays as a
/// legacy card, see [`Wallets`]); `Wallet` saves a card for its owner,
/// binds a legacy card to its first user or removes a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentLogEntry {
    CardAdded { record: CardRecord },
    Authorize { request: AuthorizeRequest, at: Timestamp },
    Capture { id: PaymentId, at: Timestamp },
    Void { id: PaymentId, at: Timestamp },
    Refund { id: PaymentId, amount: Money, reference: String, at: Timestamp },
    GiftCard { event: GiftCardEvent },
    FraudAttempt { attempt: FraudAttempt },
    Wallet { event: WalletEvent },
}

/// The payment state.
#[derive(Debug, Default)]
pub struct PaymentState {
    pub gateway: SimulatedGateway,
    pub ledger: GiftCardLedger,
    pub fraud: FraudHistory,
    pub rules: FraudRules,
    /// Whose each card of the gateway's vault is.
    pub wallets: Wallets,
}

impl PaymentState {
    /// Replays one entry (results were decided when it was first applied).
    fn replay(&mut self, entry: &PaymentLogEntry) {
        match entry {
            PaymentLogEntry::CardAdded { record } => {
                self.gateway.add_card(record.clone());
                self.wallets.add_legacy(record.token.clone());
            }
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
            PaymentLogEntry::Wallet { event } => self.apply_wallet(event),
        }
    }

    /// Applies a wallet change to the wallets and the vault.
    fn apply_wallet(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Saved { record, .. } => self.gateway.add_card(record.clone()),
            WalletEvent::Removed { token, .. } => {
                self.gateway.remove_card(token);
            }
            WalletEvent::Claimed { .. } => {}
        }
        self.wallets.apply(event);
    }

    /// The wallets' own invariant, and `wallet.cards_are_the_vaults`: the
    /// wallets know exactly the cards of the vault.
    fn check_wallets(&self) -> Result<(), crate::engine::InvariantViolation> {
        self.wallets.check_invariants()?;
        let vault = self.gateway.tokens().count();
        let unknown = self.gateway.tokens().find(|token| !self.wallets.contains(token));
        if vault != self.wallets.len() || unknown.is_some() {
            return Err(crate::engine::InvariantViolation {
                name: "wallet.cards_are_the_vaults",
                detail: format!("{vault} cards in the vault, {} in the wallets", self.wallets.len()),
            });
        }
        Ok(())
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
        if let Err(violation) = state.ledger.check_invariants().and_then(|()| state.check_wallets()) {
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

    /// Saves a tokenized card for `owner`.
    pub fn add_card(
        &self,
        record: CardRecord,
        owner: &CustomerId,
        billing_country: Option<BillingCountry>,
        at: Timestamp,
    ) -> Result<Logged<SavedCard>, StoreError> {
        self.change(|state| {
            let saved = SavedCard { record: record.clone(), billing_country: billing_country.clone(), saved_at: at };
            let event = state.wallets.save(record, owner, billing_country, at);
            state.apply_wallet(&event);
            (Ok(saved), vec![PaymentLogEntry::Wallet { event }])
        })
    }

    /// The card `token`, if `customer` may pay with it; a legacy card is
    /// bound to them here (see [`crate::engine::payment::wallet`]).
    pub fn use_card(
        &self,
        token: &CardToken,
        customer: &CustomerId,
        at: Timestamp,
    ) -> Result<Logged<CardRecord>, StoreError> {
        self.change(|state| {
            let claim = match state.wallets.use_card(token, customer, at) {
                Ok(claim) => claim,
                Err(err) => return (Err(err), Vec::new()),
            };
            let Some(record) = state.gateway.card(token).cloned() else {
                return (Err(PaymentError::CardNotFound { token: token.clone() }), Vec::new());
            };
            let mut entries = Vec::new();
            if let Some(event) = claim {
                state.apply_wallet(&event);
                entries.push(PaymentLogEntry::Wallet { event });
            }
            (Ok(record), entries)
        })
    }

    /// Removes `customer`'s card `token` from the wallets and the vault.
    pub fn remove_card(
        &self,
        token: &CardToken,
        customer: &CustomerId,
        at: Timestamp,
    ) -> Result<Logged<()>, StoreError> {
        self.change(|state| match state.wallets.remove(token, customer, at) {
            Ok(event) => {
                state.apply_wallet(&event);
                (Ok(()), vec![PaymentLogEntry::Wallet { event }])
            }
            Err(err) => (Err(err), Vec::new()),
        })
    }

    /// A page of `customer`'s saved cards, newest first (see [`Wallets::page`]).
    pub fn saved_cards(
        &self,
        customer: &CustomerId,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> (Vec<SavedCard>, Option<CardCursor>) {
        self.read(|state| {
            let (page, next) = state.wallets.page(customer, after, limit);
            let cards = page
                .into_iter()
                .filter_map(|(token, holding)| {
                    Some(SavedCard {
                        record: state.gateway.card(token)?.clone(),
                        billing_country: holding.billing_country.clone(),
                        saved_at: holding.saved_at,
                    })
                })
                .collect();
            (cards, next)
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

    /// A tokenized card and what its wallet knows (a legacy card nobody
    /// claimed yet has no billing country and the epoch as `saved_at`).
    pub fn saved_card(&self, token: &CardToken) -> Option<SavedCard> {
        self.read(|state| {
            let holding = state.wallets.holding(token);
            Some(SavedCard {
                record: state.gateway.card(token)?.clone(),
                billing_country: holding.and_then(|holding| holding.billing_country.clone()),
                saved_at: holding.map_or(Timestamp::EPOCH, |holding| holding.saved_at),
            })
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::payment::{CardBrand, CardFingerprint, SimulatedBehaviour};
    use crate::store::{codec, Store, StoreConfig};

    fn record(token: &str) -> CardRecord {
        CardRecord {
            token: CardToken::parse(token).unwrap(),
            brand: CardBrand::Visa,
            last4: "4242".to_owned(),
            exp_month: 12,
            exp_year: 2030,
            fingerprint: CardFingerprint::from_digest(&[0xab; 32]),
            behaviour: SimulatedBehaviour::Approve,
        }
    }

    const AT: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    /// The log's entries as written, frozen: `CardAdded` as every build
    /// before cards had owners wrote it, and the wallet entries since. Each
    /// is the format byte, the variant's index, then its fields in order
    /// (strings length-prefixed, integers as bincode varints).
    #[test]
    fn card_entries_keep_their_encoding() {
        let owner = CustomerId::parse("cus_1").unwrap();
        let token = CardToken::parse("tok_1").unwrap();
        let us = BillingCountry::parse("US").ok();
        let wallet = |event| PaymentLogEntry::Wallet { event };
        // tok_1, visa, 4242, 12, 2030, the fingerprint "abab..." (64 characters), approve.
        let card = format!("05746f6b5f31 00 0434323432 0c fbee07 40{} 00", "6162".repeat(32));
        let (owner_hex, at_hex) = ("056375735f31", "fd00505c18a3010000");
        let entries = [
            (PaymentLogEntry::CardAdded { record: record("tok_1") }, format!("01 00 {card}")),
            (
                wallet(WalletEvent::Saved {
                    record: record("tok_1"),
                    owner: owner.clone(),
                    billing_country: us,
                    at: AT,
                }),
                format!("01 07 00 {card} {owner_hex} 01 025553 {at_hex}"),
            ),
            (
                wallet(WalletEvent::Claimed { token: token.clone(), owner: owner.clone(), at: AT }),
                format!("01 07 01 05746f6b5f31 {owner_hex} {at_hex}"),
            ),
            (
                wallet(WalletEvent::Removed { token, owner, at: AT }),
                format!("01 07 02 05746f6b5f31 {owner_hex} {at_hex}"),
            ),
        ];
        for (entry, frozen) in entries {
            let frozen = frozen.replace(' ', "");
            assert_eq!(hex::encode(codec::encode(&entry).unwrap()), frozen, "{entry:?}");
            let decoded: PaymentLogEntry = codec::decode(b"y", &hex::decode(&frozen).unwrap()).unwrap();
            assert_eq!(decoded, entry);
        }
    }

    /// A log holding a legacy card, saved cards, a claim and a removal
    /// replays to the same wallets and vault.
    #[test]
    fn a_reopened_ledger_has_the_same_wallets() {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            path: dir.path().to_path_buf(),
            durability: crate::Durability::Strict,
            cache_capacity_bytes: 8 << 20,
        };
        let (ann, bob) = (CustomerId::parse("cus_ann").unwrap(), CustomerId::parse("cus_bob").unwrap());
        let before = {
            let store = Store::open(&config).unwrap();
            let keyspace = store.keyspace("payments");
            let legacy = PaymentLogEntry::CardAdded { record: record("tok_legacy") };
            keyspace.write(crate::store::Batch::new_put(keys::payment_log(1), &legacy).unwrap()).unwrap();
            let ledger = Ledger::open(keyspace, FraudRules::default()).unwrap();
            for (token, owner) in [("tok_a1", &ann), ("tok_a2", &ann), ("tok_b1", &bob)] {
                ledger.add_card(record(token), owner, BillingCountry::parse("FR").ok(), AT).unwrap().0.unwrap();
            }
            let legacy = CardToken::parse("tok_legacy").unwrap();
            ledger.use_card(&legacy, &bob, AT).unwrap().0.unwrap();
            ledger.remove_card(&CardToken::parse("tok_a1").unwrap(), &ann, AT).unwrap().0.unwrap();
            let refused = ledger.use_card(&CardToken::parse("tok_b1").unwrap(), &ann, AT).unwrap().0;
            assert_eq!(refused, Err(PaymentError::CardNotFound { token: CardToken::parse("tok_b1").unwrap() }));
            let wallets = ledger.read(|state| (state.wallets.clone(), state.gateway.tokens().count()));
            store.close().unwrap();
            wallets
        };
        let store = Store::open(&config).unwrap();
        let ledger = Ledger::open(store.keyspace("payments"), FraudRules::default()).unwrap();
        let after = ledger.read(|state| (state.wallets.clone(), state.gateway.tokens().count()));
        assert_eq!(after, before);
        assert_eq!(after.1, 3, "the removed card left the vault");
        let (bobs, _) = ledger.saved_cards(&bob, None, 20);
        let listed: Vec<&str> = bobs.iter().map(|card| card.record.token.as_str()).collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.contains(&"tok_legacy") && listed.contains(&"tok_b1"));
        store.close().unwrap();
    }
}
