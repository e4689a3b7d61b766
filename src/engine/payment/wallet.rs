//! Saved cards: whose each tokenized card is, its billing country, and each
//! customer's cards, as pure state beside the gateway's card vault.
//!
//! A card is saved for the customer who adds it, and only that customer can
//! pay with it, list it or remove it. Another customer's card, a removed card
//! and an unknown token get the same answer, [`PaymentError::CardNotFound`],
//! so a token cannot be probed for.
//!
//! Cards tokenized before owners were recorded (*legacy* cards, logged
//! without one) are bound to the first customer who uses one to pay ("trust
//! on first use"): that use is a [`WalletEvent::Claimed`], persisted like the
//! others, after which the card is that customer's for good. Until then a
//! legacy card is in no one's list and no one can remove it.
//!
//! Invariant `wallet.index_matches_owners`: a customer's index holds exactly
//! the cards they own.

use super::card::{CardError, CardRecord};
use super::PaymentError;
use crate::engine::ids::{CardToken, CustomerId};
use crate::engine::time::Timestamp;
use crate::engine::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;

/// The country a card is billed in: two uppercase ASCII letters (ISO
/// 3166-1 alpha-2 in form; any such pair is taken, since cards are billed
/// in countries Mercato does not ship to).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BillingCountry(String);

impl BillingCountry {
    pub fn parse(raw: &str) -> Result<BillingCountry, CardError> {
        if raw.len() != 2 || !raw.bytes().all(|byte| byte.is_ascii_uppercase()) {
            return Err(CardError::InvalidBillingCountry);
        }
        Ok(BillingCountry(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BillingCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the wallet knows of an owned card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub owner: CustomerId,
    pub billing_country: Option<BillingCountry>,
    /// When the owner saved it (for a legacy card, when they claimed it).
    pub saved_at: Timestamp,
}

/// A customer's saved card as listed: the vault's record and the wallet's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCard {
    pub record: CardRecord,
    pub billing_country: Option<BillingCountry>,
    pub saved_at: Timestamp,
}

/// A change to the wallets, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalletEvent {
    /// A card tokenized for `owner`; its record goes to the vault.
    Saved { record: CardRecord, owner: CustomerId, billing_country: Option<BillingCountry>, at: Timestamp },
    /// A legacy card bound to the first customer who used it.
    Claimed { token: CardToken, owner: CustomerId, at: Timestamp },
    /// A card removed by its owner; it leaves the vault too.
    Removed { token: CardToken, owner: CustomerId, at: Timestamp },
}

/// Where a page of a customer's cards resumes: after this card, in the
/// list's order (newest first). Written `<saved_at millis>.<token>`, so a
/// page resumes at the right place even if that card was removed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCursor {
    saved_at: Timestamp,
    token: CardToken,
}

impl CardCursor {
    pub fn parse(raw: &str) -> Option<CardCursor> {
        let (millis, token) = raw.split_once('.')?;
        if millis.is_empty() || !millis.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let saved_at = Timestamp::from_millis(millis.parse().ok()?);
        Some(CardCursor { saved_at, token: CardToken::parse(token).ok()? })
    }

    fn key(&self) -> IndexKey {
        (Reverse(self.saved_at), self.token.clone())
    }
}

impl fmt::Display for CardCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.saved_at.as_millis(), self.token)
    }
}

/// A customer's cards are ordered newest first, then by token.
type IndexKey = (Reverse<Timestamp>, CardToken);

/// Every card's holding and each customer's cards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wallets {
    /// Every card of the vault: `None` for a legacy card nobody claimed yet.
    cards: BTreeMap<CardToken, Option<Holding>>,
    /// Each customer's cards, so a list reads only theirs.
    by_customer: BTreeMap<CustomerId, BTreeSet<IndexKey>>,
}

impl Wallets {
    /// A card tokenized before owners were recorded (a legacy log entry).
    pub fn add_legacy(&mut self, token: CardToken) {
        self.unindex(&token);
        self.cards.insert(token, None);
    }

    /// Saves `record` for `owner`.
    pub fn save(
        &self,
        record: CardRecord,
        owner: &CustomerId,
        billing_country: Option<BillingCountry>,
        now: Timestamp,
    ) -> WalletEvent {
        WalletEvent::Saved { record, owner: owner.clone(), billing_country, at: now }
    }

    /// Whether `customer` may pay with `token`: `Ok(None)` for their own
    /// card, `Ok(Some(Claimed))` for a legacy card they use first (apply it
    /// to bind the card), and `CardNotFound` otherwise.
    pub fn use_card(
        &self,
        token: &CardToken,
        customer: &CustomerId,
        now: Timestamp,
    ) -> Result<Option<WalletEvent>, PaymentError> {
        match self.cards.get(token) {
            Some(Some(holding)) if holding.owner == *customer => Ok(None),
            Some(None) => Ok(Some(WalletEvent::Claimed { token: token.clone(), owner: customer.clone(), at: now })),
            _ => Err(PaymentError::CardNotFound { token: token.clone() }),
        }
    }

    /// Removes `customer`'s card `token` (another's or an unclaimed legacy
    /// card is not found).
    pub fn remove(
        &self,
        token: &CardToken,
        customer: &CustomerId,
        now: Timestamp,
    ) -> Result<WalletEvent, PaymentError> {
        match self.holding(token) {
            Some(holding) if holding.owner == *customer => {
                Ok(WalletEvent::Removed { token: token.clone(), owner: customer.clone(), at: now })
            }
            _ => Err(PaymentError::CardNotFound { token: token.clone() }),
        }
    }

    pub fn apply(&mut self, event: &WalletEvent) {
        match event {
            WalletEvent::Saved { record, owner, billing_country, at } => {
                let holding = Holding { owner: owner.clone(), billing_country: billing_country.clone(), saved_at: *at };
                self.hold(record.token.clone(), holding);
            }
            WalletEvent::Claimed { token, owner, at } => {
                self.hold(token.clone(), Holding { owner: owner.clone(), billing_country: None, saved_at: *at });
            }
            WalletEvent::Removed { token, .. } => {
                self.unindex(token);
                self.cards.remove(token);
            }
        }
    }

    /// The holding of an owned card.
    pub fn holding(&self, token: &CardToken) -> Option<&Holding> {
        self.cards.get(token).and_then(Option::as_ref)
    }

    /// Whether the wallet knows `token` (owned or legacy).
    pub fn contains(&self, token: &CardToken) -> bool {
        self.cards.contains_key(token)
    }

    /// How many cards the wallet knows (owned or legacy).
    pub fn len(&self) -> usize {
        self.cards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// Up to `limit` of `customer`'s cards, newest first, after `after`;
    /// and the cursor of the next page, if there are more.
    pub fn page(
        &self,
        customer: &CustomerId,
        after: Option<&CardCursor>,
        limit: usize,
    ) -> (Vec<(&CardToken, &Holding)>, Option<CardCursor>) {
        let Some(index) = self.by_customer.get(customer) else { return (Vec::new(), None) };
        let start = after.map_or(Bound::Unbounded, |cursor| Bound::Excluded(cursor.key()));
        let mut keys = index.range((start, Bound::Unbounded));
        let mut items = Vec::new();
        for (_, token) in keys.by_ref().take(limit) {
            if let Some(holding) = self.holding(token) {
                items.push((token, holding));
            }
        }
        let next = match (keys.next(), items.last()) {
            (Some(_), Some((token, holding))) => {
                Some(CardCursor { saved_at: holding.saved_at, token: (*token).clone() })
            }
            _ => None,
        };
        (items, next)
    }

    fn hold(&mut self, token: CardToken, holding: Holding) {
        self.unindex(&token);
        let key = (Reverse(holding.saved_at), token.clone());
        self.by_customer.entry(holding.owner.clone()).or_default().insert(key);
        self.cards.insert(token, Some(holding));
    }

    /// Takes `token` out of its owner's index.
    fn unindex(&mut self, token: &CardToken) {
        let Some(Some(holding)) = self.cards.get(token) else { return };
        let key = (Reverse(holding.saved_at), token.clone());
        if let Some(index) = self.by_customer.get_mut(&holding.owner) {
            index.remove(&key);
            if index.is_empty() {
                self.by_customer.remove(&holding.owner);
            }
        }
    }

    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let violation = |detail: String| InvariantViolation { name: "wallet.index_matches_owners", detail };
        let mut indexed = 0;
        for (customer, index) in &self.by_customer {
            if index.is_empty() {
                return Err(violation(format!("{customer} has an empty index")));
            }
            for (Reverse(saved_at), token) in index {
                match self.holding(token) {
                    Some(holding) if holding.owner == *customer && holding.saved_at == *saved_at => indexed += 1,
                    _ => return Err(violation(format!("{token} is indexed under {customer} but not theirs"))),
                }
            }
        }
        let owned = self.cards.values().filter(|holding| holding.is_some()).count();
        if owned != indexed {
            return Err(violation(format!("{owned} owned cards but {indexed} indexed")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::card::{test_fingerprint, tokenize, CardInput};
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_710_460_800_000);

    fn record(random: u128) -> CardRecord {
        let input = CardInput { number: "4242424242424242".into(), exp_month: 12, exp_year: 2030, cvc: "123".into() };
        tokenize(&input, CardToken::generate(random), NOW, test_fingerprint).unwrap()
    }

    fn customer(raw: &str) -> CustomerId {
        CustomerId::parse(raw).unwrap()
    }

    fn applied(wallets: &mut Wallets, event: &WalletEvent) {
        wallets.apply(event);
        wallets.check_invariants().unwrap();
    }

    #[test]
    fn a_card_is_usable_listed_and_removable_by_its_owner_only() {
        let (ann, bob) = (customer("cus_ann"), customer("cus_bob"));
        let mut wallets = Wallets::default();
        let card = record(1);
        let token = card.token.clone();
        let us = BillingCountry::parse("US").ok();
        let saved = wallets.save(card, &ann, us.clone(), NOW);
        applied(&mut wallets, &saved);
        assert_eq!(wallets.use_card(&token, &ann, NOW), Ok(None));
        let not_found = PaymentError::CardNotFound { token: token.clone() };
        assert_eq!(wallets.use_card(&token, &bob, NOW), Err(not_found.clone()));
        assert!(wallets.page(&bob, None, 20).0.is_empty());
        let (items, next) = wallets.page(&ann, None, 20);
        assert_eq!((items.len(), items[0].1.billing_country.clone(), next), (1, us, None));
        assert_eq!(wallets.remove(&token, &bob, NOW), Err(not_found.clone()));
        let removed = wallets.remove(&token, &ann, NOW).unwrap();
        applied(&mut wallets, &removed);
        assert_eq!(wallets.use_card(&token, &ann, NOW), Err(not_found), "gone");
        assert!(wallets.is_empty() && wallets.page(&ann, None, 20).0.is_empty());
    }

    #[test]
    fn a_legacy_card_belongs_to_the_first_customer_who_uses_it() {
        let (ann, bob) = (customer("cus_ann"), customer("cus_bob"));
        let mut wallets = Wallets::default();
        let token = record(1).token;
        wallets.add_legacy(token.clone());
        assert!(wallets.page(&ann, None, 20).0.is_empty(), "in no one's list");
        assert!(wallets.remove(&token, &ann, NOW).is_err(), "nor removable");
        let claimed = wallets.use_card(&token, &bob, NOW).unwrap().expect("the first use claims it");
        applied(&mut wallets, &claimed);
        assert_eq!(wallets.use_card(&token, &bob, NOW), Ok(None));
        assert_eq!(wallets.use_card(&token, &ann, NOW), Err(PaymentError::CardNotFound { token: token.clone() }));
        assert_eq!(wallets.page(&bob, None, 20).0.len(), 1);
    }

    #[test]
    fn pages_run_newest_first_and_resume_after_a_removed_card() {
        let ann = customer("cus_ann");
        let mut wallets = Wallets::default();
        let mut tokens = Vec::new();
        for n in 0..5u64 {
            let card = record(u128::from(n) + 1);
            tokens.push(card.token.clone());
            let saved = wallets.save(card, &ann, None, NOW.plus_millis(n));
            applied(&mut wallets, &saved);
        }
        let (first, next) = wallets.page(&ann, None, 2);
        let listed: Vec<&CardToken> = first.iter().map(|(token, _)| *token).collect();
        assert_eq!(listed, [&tokens[4], &tokens[3]]);
        let next = next.expect("more pages");
        let parsed = CardCursor::parse(&next.to_string()).unwrap();
        assert_eq!(parsed, next);
        let removed = wallets.remove(&tokens[3], &ann, NOW).unwrap();
        applied(&mut wallets, &removed);
        let (second, next) = wallets.page(&ann, Some(&parsed), 2);
        let listed: Vec<&CardToken> = second.iter().map(|(token, _)| *token).collect();
        assert_eq!(listed, [&tokens[2], &tokens[1]]);
        let (third, last) = wallets.page(&ann, next.as_ref(), 2);
        assert_eq!((third.len(), last), (1, None));
        assert!(CardCursor::parse("x.tok_1").is_none() && CardCursor::parse("12").is_none());
    }

    #[test]
    fn a_billing_country_is_two_uppercase_letters() {
        assert_eq!(BillingCountry::parse("US").map(|c| c.to_string()), Ok("US".to_owned()));
        for bad in ["us", "USA", "U", "", "U1", "ÜS"] {
            assert_eq!(BillingCountry::parse(bad), Err(CardError::InvalidBillingCountry), "{bad}");
        }
    }
}
