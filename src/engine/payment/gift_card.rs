//! Gift cards: a ledger of balances, and splitting a payment between a gift
//! card and a card.
//!
//! Invariant `gift_card.balance_matches_entries`: a card's balance is its issued
//! amount minus its debits plus its credits, and it is never negative. Debits
//! and credits are exactly-once by reference, and credits (refunds) never give
//! back more than was debited, so the balance never exceeds the issued amount.

use super::PaymentError;
use crate::engine::ids::{CardToken, GiftCardCode};
use crate::engine::money::Money;
use crate::engine::time::Timestamp;
use crate::engine::InvariantViolation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One movement on a gift card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Issue,
    /// Money spent (redeemed for an order).
    Debit,
    /// Money given back (a refund or a cancelled order).
    Credit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardEntry {
    pub kind: EntryKind,
    pub amount: Money,
    pub reference: String,
    pub at: Timestamp,
}

/// What happened to the ledger; `apply` replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCardEvent {
    pub code: GiftCardCode,
    pub entry: GiftCardEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftCard {
    pub balance: Money,
    pub entries: Vec<GiftCardEntry>,
}

/// Every gift card and its entries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GiftCardLedger {
    cards: BTreeMap<GiftCardCode, GiftCard>,
}

impl GiftCardLedger {
    pub fn card(&self, code: &GiftCardCode) -> Option<&GiftCard> {
        self.cards.get(code)
    }

    pub fn balance(&self, code: &GiftCardCode) -> Result<Money, PaymentError> {
        self.cards
            .get(code)
            .map(|card| card.balance)
            .ok_or_else(|| PaymentError::UnknownGiftCard { code: code.clone() })
    }

    /// Issues a new card holding `amount` (more than zero).
    pub fn issue(
        &mut self,
        code: GiftCardCode,
        amount: Money,
        now: Timestamp,
    ) -> Result<Vec<GiftCardEvent>, PaymentError> {
        if self.cards.contains_key(&code) {
            return Err(PaymentError::GiftCardExists { code });
        }
        if amount.cents <= 0 {
            return Err(PaymentError::InvalidAmount { amount });
        }
        let entry = GiftCardEntry { kind: EntryKind::Issue, amount, reference: code.to_string(), at: now };
        Ok(self.apply_one(GiftCardEvent { code, entry }))
    }

    /// Spends `amount`; a retry with the same reference and amount is a no-op.
    pub fn debit(
        &mut self,
        code: &GiftCardCode,
        amount: Money,
        reference: &str,
        now: Timestamp,
    ) -> Result<Vec<GiftCardEvent>, PaymentError> {
        let card = self.checked(code, EntryKind::Debit, amount, reference)?;
        let Some(card) = card else { return Ok(Vec::new()) };
        if amount.cents > card.balance.cents {
            return Err(PaymentError::InsufficientGiftCardBalance { requested: amount, balance: card.balance });
        }
        let entry = GiftCardEntry { kind: EntryKind::Debit, amount, reference: reference.to_owned(), at: now };
        Ok(self.apply_one(GiftCardEvent { code: code.clone(), entry }))
    }

    /// Gives back `amount`, at most what was debited and not yet credited.
    pub fn credit(
        &mut self,
        code: &GiftCardCode,
        amount: Money,
        reference: &str,
        now: Timestamp,
    ) -> Result<Vec<GiftCardEvent>, PaymentError> {
        let card = self.checked(code, EntryKind::Credit, amount, reference)?;
        let Some(card) = card else { return Ok(Vec::new()) };
        let sum =
            |kind| card.entries.iter().filter(|entry| entry.kind == kind).map(|entry| entry.amount.cents).sum::<i64>();
        let refundable = Money::new(sum(EntryKind::Debit) - sum(EntryKind::Credit), amount.currency);
        if amount.cents > refundable.cents {
            return Err(PaymentError::RefundExceedsCaptured { requested: amount, refundable });
        }
        let entry = GiftCardEntry { kind: EntryKind::Credit, amount, reference: reference.to_owned(), at: now };
        Ok(self.apply_one(GiftCardEvent { code: code.clone(), entry }))
    }

    /// Common checks; `Ok(None)` when the same reference was already applied.
    fn checked(
        &self,
        code: &GiftCardCode,
        kind: EntryKind,
        amount: Money,
        reference: &str,
    ) -> Result<Option<&GiftCard>, PaymentError> {
        let card = self.cards.get(code).ok_or_else(|| PaymentError::UnknownGiftCard { code: code.clone() })?;
        if let Some(earlier) = card.entries.iter().find(|entry| entry.kind == kind && entry.reference == reference) {
            if earlier.amount != amount {
                return Err(PaymentError::ReferenceReused { reference: reference.to_owned() });
            }
            return Ok(None);
        }
        if amount.cents <= 0 || amount.currency != card.balance.currency {
            return Err(PaymentError::InvalidAmount { amount });
        }
        Ok(Some(card))
    }

    fn apply_one(&mut self, event: GiftCardEvent) -> Vec<GiftCardEvent> {
        self.apply(&event);
        vec![event]
    }

    /// Replays one event (no checks: events were valid when produced).
    pub fn apply(&mut self, event: &GiftCardEvent) {
        let entry = &event.entry;
        let card = self
            .cards
            .entry(event.code.clone())
            .or_insert_with(|| GiftCard { balance: Money::zero(entry.amount.currency), entries: Vec::new() });
        let delta = match entry.kind {
            EntryKind::Issue | EntryKind::Credit => entry.amount.cents,
            EntryKind::Debit => -entry.amount.cents,
        };
        card.balance.cents = card.balance.cents.saturating_add(delta);
        card.entries.push(entry.clone());
    }

    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        for (code, card) in &self.cards {
            let replayed = card.entries.iter().fold(0i64, |sum, entry| match entry.kind {
                EntryKind::Issue | EntryKind::Credit => sum.saturating_add(entry.amount.cents),
                EntryKind::Debit => sum.saturating_sub(entry.amount.cents),
            });
            if replayed != card.balance.cents || card.balance.cents < 0 {
                return Err(InvariantViolation {
                    name: "gift_card.balance_matches_entries",
                    detail: format!("{code}: balance {} but entries give {replayed}", card.balance),
                });
            }
        }
        Ok(())
    }
}

/// How an amount is paid: part by gift card, the rest by card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentPlan {
    pub gift_card: Option<(GiftCardCode, Money)>,
    pub card: Option<(CardToken, Money)>,
}

impl PaymentPlan {
    /// Splits `total`: the gift card (if any) pays as much as its `balance`
    /// allows, the card (if any) pays the rest. Without a card the gift card
    /// must cover everything. A part of zero is left out.
    pub fn split(
        total: Money,
        gift_card: Option<(GiftCardCode, Money)>,
        card: Option<CardToken>,
    ) -> Result<PaymentPlan, PaymentError> {
        if total.cents < 0 {
            return Err(PaymentError::InvalidAmount { amount: total });
        }
        if gift_card.is_none() && card.is_none() && total.cents > 0 {
            return Err(PaymentError::NoPaymentMethod);
        }
        let (gift_part, balance) = match gift_card {
            Some((code, balance)) => {
                if balance.currency != total.currency {
                    return Err(PaymentError::InvalidAmount { amount: balance });
                }
                let covered = Money::new(balance.cents.clamp(0, total.cents), total.currency);
                (Some((code, covered)).filter(|(_, part)| part.cents > 0), balance)
            }
            None => (None, Money::zero(total.currency)),
        };
        let rest = Money::new(total.cents - gift_part.as_ref().map_or(0, |(_, part)| part.cents), total.currency);
        let card_part = match card {
            Some(token) => Some((token, rest)).filter(|(_, part)| part.cents > 0),
            None if rest.cents > 0 => {
                return Err(PaymentError::InsufficientGiftCardBalance { requested: total, balance });
            }
            None => None,
        };
        Ok(PaymentPlan { gift_card: gift_part, card: card_part })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::money::Currency;

    const NOW: Timestamp = Timestamp::from_millis(1_000);

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::USD)
    }

    fn code() -> GiftCardCode {
        GiftCardCode::generate(1)
    }

    fn ledger_with(cents: i64) -> GiftCardLedger {
        let mut ledger = GiftCardLedger::default();
        ledger.issue(code(), usd(cents), NOW).unwrap();
        ledger
    }

    #[test]
    fn debits_and_credits_move_the_balance_once_per_reference() {
        let mut ledger = ledger_with(5_000);
        assert_eq!(ledger.debit(&code(), usd(2_000), "ord_1", NOW).unwrap().len(), 1);
        assert!(ledger.debit(&code(), usd(2_000), "ord_1", NOW).unwrap().is_empty(), "a retry is a no-op");
        assert!(matches!(ledger.debit(&code(), usd(1), "ord_1", NOW), Err(PaymentError::ReferenceReused { .. })));
        assert_eq!(ledger.balance(&code()), Ok(usd(3_000)));
        ledger.credit(&code(), usd(500), "refund_1", NOW).unwrap();
        assert_eq!(ledger.balance(&code()), Ok(usd(3_500)));
        assert_eq!(ledger.check_invariants(), Ok(()));
    }

    #[test]
    fn the_balance_never_goes_negative_or_above_what_was_issued() {
        let mut ledger = ledger_with(1_000);
        assert_eq!(
            ledger.debit(&code(), usd(1_001), "a", NOW),
            Err(PaymentError::InsufficientGiftCardBalance { requested: usd(1_001), balance: usd(1_000) })
        );
        ledger.debit(&code(), usd(400), "a", NOW).unwrap();
        assert!(matches!(ledger.credit(&code(), usd(401), "r", NOW), Err(PaymentError::RefundExceedsCaptured { .. })));
        assert!(matches!(ledger.debit(&code(), usd(0), "z", NOW), Err(PaymentError::InvalidAmount { .. })));
        assert!(matches!(
            ledger.debit(&code(), Money::new(1, Currency::EUR), "e", NOW),
            Err(PaymentError::InvalidAmount { .. })
        ));
        assert!(matches!(ledger.issue(code(), usd(1), NOW), Err(PaymentError::GiftCardExists { .. })));
        let other = GiftCardCode::generate(2);
        assert!(matches!(ledger.balance(&other), Err(PaymentError::UnknownGiftCard { .. })));
        assert_eq!(ledger.check_invariants(), Ok(()));
    }

    #[test]
    fn replaying_events_rebuilds_the_ledger() {
        let mut ledger = GiftCardLedger::default();
        let mut events = ledger.issue(code(), usd(900), NOW).unwrap();
        events.extend(ledger.debit(&code(), usd(300), "a", NOW).unwrap());
        events.extend(ledger.credit(&code(), usd(100), "b", NOW).unwrap());
        let mut replayed = GiftCardLedger::default();
        events.iter().for_each(|event| replayed.apply(event));
        assert_eq!(replayed, ledger);
    }

    #[test]
    fn a_plan_uses_the_gift_card_first_and_the_card_for_the_rest() {
        let token = CardToken::generate(9);
        let plan = PaymentPlan::split(usd(5_000), Some((code(), usd(2_000))), Some(token.clone())).unwrap();
        assert_eq!(plan.gift_card, Some((code(), usd(2_000))));
        assert_eq!(plan.card, Some((token.clone(), usd(3_000))));
        let covered = PaymentPlan::split(usd(1_500), Some((code(), usd(2_000))), Some(token.clone())).unwrap();
        assert_eq!((covered.gift_card, covered.card), (Some((code(), usd(1_500))), None));
        let empty_gift = PaymentPlan::split(usd(100), Some((code(), usd(0))), Some(token.clone())).unwrap();
        assert_eq!((empty_gift.gift_card, empty_gift.card), (None, Some((token, usd(100)))));
        assert_eq!(
            PaymentPlan::split(usd(5_000), Some((code(), usd(2_000))), None),
            Err(PaymentError::InsufficientGiftCardBalance { requested: usd(5_000), balance: usd(2_000) })
        );
        assert_eq!(PaymentPlan::split(usd(1), None, None), Err(PaymentError::NoPaymentMethod));
    }
}
