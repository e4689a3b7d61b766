//! Fraud screening: a pure score of an order attempt against recent history.
//!
//! Each rule that fires adds its points and a [`FraudReason`]; the total score
//! decides: at least `decline_score` declines, at least `review_score` sends the
//! order to review, anything lower approves. The rules:
//!
//! - velocity per customer: more than `customer_orders_max` attempts by the
//!   customer within `velocity_window_ms` (this attempt included);
//! - velocity per card: more than `card_orders_max` attempts with the card
//!   fingerprint within the window, whoever made them;
//! - new account, large amount: an account younger than `new_account_age_ms`
//!   ordering more than `new_account_amount_cents`;
//! - country mismatch: the card's billing country differs from the shipping country.

use super::card::CardFingerprint;
use crate::engine::ids::CustomerId;
use crate::engine::money::Money;
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// The thresholds; deserializable from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudRules {
    pub velocity_window_ms: u64,
    pub customer_orders_max: u32,
    pub card_orders_max: u32,
    pub new_account_age_ms: u64,
    pub new_account_amount_cents: i64,
    pub velocity_points: u32,
    pub new_account_points: u32,
    pub country_mismatch_points: u32,
    pub review_score: u32,
    pub decline_score: u32,
    /// How many attempts [`FraudHistory`] keeps at most.
    pub history_attempts_max: usize,
}

impl FraudRules {
    /// Rules that approve every order (scores are still computed and the
    /// history kept): for load-test servers, whose few synthetic customers
    /// order far faster than any real one.
    pub fn approve_all() -> Self {
        FraudRules { review_score: u32::MAX, decline_score: u32::MAX, ..FraudRules::default() }
    }
}

impl Default for FraudRules {
    /// 5 orders per customer and 3 per card an hour; accounts under a day old
    /// ordering over 500.00; one rule sends to review, two decline.
    fn default() -> Self {
        FraudRules {
            velocity_window_ms: 3_600_000,
            customer_orders_max: 5,
            card_orders_max: 3,
            new_account_age_ms: 24 * 3_600_000,
            new_account_amount_cents: 50_000,
            velocity_points: 50,
            new_account_points: 50,
            country_mismatch_points: 30,
            review_score: 30,
            decline_score: 80,
            history_attempts_max: 100_000,
        }
    }
}

/// Why an attempt scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudReason {
    CustomerVelocity { attempts: u32, max: u32 },
    CardVelocity { attempts: u32, max: u32 },
    NewAccountLargeAmount { amount: Money },
    CountryMismatch { billing: String, shipping: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudDecision {
    Approve,
    Review { score: u32, reasons: Vec<FraudReason> },
    Decline { score: u32, reasons: Vec<FraudReason> },
}

/// One past order attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudAttempt {
    pub customer: CustomerId,
    pub fingerprint: Option<CardFingerprint>,
    pub at: Timestamp,
}

/// Recent attempts, oldest first, bounded by `history_attempts_max` and pruned
/// to the velocity window, with the attempts' times per customer and per card
/// so that screening an order costs that customer's and card's attempts, not
/// the whole history. Only the attempts are serialized; the per-key times are
/// rebuilt from them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "VecDeque<FraudAttempt>", into = "VecDeque<FraudAttempt>")]
pub struct FraudHistory {
    attempts: VecDeque<FraudAttempt>,
    by_customer: HashMap<CustomerId, VecDeque<u64>>,
    by_card: HashMap<CardFingerprint, VecDeque<u64>>,
}

impl From<VecDeque<FraudAttempt>> for FraudHistory {
    fn from(attempts: VecDeque<FraudAttempt>) -> Self {
        let mut history = FraudHistory::default();
        for attempt in attempts {
            history.push(attempt);
        }
        history
    }
}

impl From<FraudHistory> for VecDeque<FraudAttempt> {
    fn from(history: FraudHistory) -> Self {
        history.attempts
    }
}

impl FraudHistory {
    /// Records an attempt and forgets what fell out of the window or the bound.
    pub fn record(&mut self, attempt: FraudAttempt, rules: &FraudRules) {
        let horizon = attempt.at.as_millis().saturating_sub(rules.velocity_window_ms);
        self.push(attempt);
        while self.attempts.front().is_some_and(|oldest| oldest.at.as_millis() < horizon)
            || self.attempts.len() > rules.history_attempts_max
        {
            self.pop_oldest();
        }
    }

    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    fn push(&mut self, attempt: FraudAttempt) {
        let at = attempt.at.as_millis();
        self.by_customer.entry(attempt.customer.clone()).or_default().push_back(at);
        if let Some(fingerprint) = &attempt.fingerprint {
            self.by_card.entry(fingerprint.clone()).or_default().push_back(at);
        }
        self.attempts.push_back(attempt);
    }

    /// Drops the oldest attempt, which is also the oldest of its customer and
    /// of its card (every list is in arrival order).
    fn pop_oldest(&mut self) {
        let Some(oldest) = self.attempts.pop_front() else { return };
        forget_oldest(&mut self.by_customer, &oldest.customer);
        if let Some(fingerprint) = &oldest.fingerprint {
            forget_oldest(&mut self.by_card, fingerprint);
        }
    }

    fn customer_attempts_since(&self, customer: &CustomerId, since: u64) -> u32 {
        count_since(self.by_customer.get(customer), since)
    }

    fn card_attempts_since(&self, fingerprint: &CardFingerprint, since: u64) -> u32 {
        count_since(self.by_card.get(fingerprint), since)
    }
}

fn forget_oldest<K: std::hash::Hash + Eq>(times: &mut HashMap<K, VecDeque<u64>>, key: &K) {
    if let Some(list) = times.get_mut(key) {
        list.pop_front();
        if list.is_empty() {
            times.remove(key);
        }
    }
}

fn count_since(times: Option<&VecDeque<u64>>, since: u64) -> u32 {
    let count = times.map_or(0, |times| times.iter().filter(|at| **at >= since).count());
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// The order attempt to screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudCheck<'a> {
    pub customer: &'a CustomerId,
    pub fingerprint: Option<&'a CardFingerprint>,
    pub amount: Money,
    pub account_created_at: Timestamp,
    /// The card's billing country, when known.
    pub billing_country: Option<&'a str>,
    pub shipping_country: &'a str,
    pub now: Timestamp,
}

impl FraudRules {
    /// Scores `check` against `history` (which should not yet contain it).
    pub fn assess(&self, check: &FraudCheck<'_>, history: &FraudHistory) -> FraudDecision {
        let since = check.now.as_millis().saturating_sub(self.velocity_window_ms);
        let mut reasons = Vec::new();
        let mut score = 0u32;
        let customer_attempts = history.customer_attempts_since(check.customer, since).saturating_add(1);
        if customer_attempts > self.customer_orders_max {
            score = score.saturating_add(self.velocity_points);
            reasons.push(FraudReason::CustomerVelocity { attempts: customer_attempts, max: self.customer_orders_max });
        }
        if let Some(fingerprint) = check.fingerprint {
            let card_attempts = history.card_attempts_since(fingerprint, since).saturating_add(1);
            if card_attempts > self.card_orders_max {
                score = score.saturating_add(self.velocity_points);
                reasons.push(FraudReason::CardVelocity { attempts: card_attempts, max: self.card_orders_max });
            }
        }
        let account_age_ms = check.now.millis_since(check.account_created_at);
        if account_age_ms < self.new_account_age_ms && check.amount.cents > self.new_account_amount_cents {
            score = score.saturating_add(self.new_account_points);
            reasons.push(FraudReason::NewAccountLargeAmount { amount: check.amount });
        }
        if let Some(billing) =
            check.billing_country.filter(|billing| !billing.eq_ignore_ascii_case(check.shipping_country))
        {
            score = score.saturating_add(self.country_mismatch_points);
            reasons.push(FraudReason::CountryMismatch {
                billing: billing.to_owned(),
                shipping: check.shipping_country.to_owned(),
            });
        }
        if score >= self.decline_score {
            FraudDecision::Decline { score, reasons }
        } else if score >= self.review_score {
            FraudDecision::Review { score, reasons }
        } else {
            FraudDecision::Approve
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::money::Currency;

    const HOUR: u64 = 3_600_000;
    const NOW: Timestamp = Timestamp::from_millis(100 * HOUR);

    fn customer(raw: &str) -> CustomerId {
        CustomerId::parse(raw).unwrap()
    }

    fn card(raw: &str) -> CardFingerprint {
        crate::engine::payment::card::test_fingerprint(raw)
    }

    fn check<'a>(who: &'a CustomerId, fingerprint: Option<&'a CardFingerprint>, cents: i64) -> FraudCheck<'a> {
        FraudCheck {
            customer: who,
            fingerprint,
            amount: Money::new(cents, Currency::USD),
            account_created_at: Timestamp::EPOCH,
            billing_country: Some("US"),
            shipping_country: "US",
            now: NOW,
        }
    }

    fn history(attempts: &[(&str, Option<&str>, u64)]) -> FraudHistory {
        let rules = FraudRules::default();
        let mut history = FraudHistory::default();
        for (who, number, at) in attempts {
            let attempt = FraudAttempt {
                customer: customer(who),
                fingerprint: number.map(card),
                at: Timestamp::from_millis(*at),
            };
            history.record(attempt, &rules);
        }
        history
    }

    #[test]
    fn an_ordinary_order_is_approved() {
        let who = customer("c1");
        let print = card("4242424242424242");
        assert_eq!(
            FraudRules::default().assess(&check(&who, Some(&print), 5_000), &FraudHistory::default()),
            FraudDecision::Approve
        );
    }

    #[test]
    fn velocity_counts_only_the_window() {
        let rules = FraudRules::default();
        let who = customer("c1");
        let recent: Vec<_> = (0..5).map(|i| ("c1", None, NOW.as_millis() - i * 1_000)).collect();
        let decision = rules.assess(&check(&who, None, 100), &history(&recent));
        assert_eq!(
            decision,
            FraudDecision::Review { score: 50, reasons: vec![FraudReason::CustomerVelocity { attempts: 6, max: 5 }] }
        );
        let old: Vec<_> = (0..5).map(|i| ("c1", None, NOW.as_millis() - HOUR - 1 - i)).collect();
        assert_eq!(rules.assess(&check(&who, None, 100), &history(&old)), FraudDecision::Approve);
    }

    #[test]
    fn one_card_used_by_many_customers_is_caught_without_its_number() {
        let rules = FraudRules::default();
        let number = "4242424242424242";
        let print = card(number);
        let past = history(&[
            ("a", Some(number), NOW.as_millis() - 10),
            ("b", Some(number), NOW.as_millis() - 5),
            ("c", Some(number), NOW.as_millis()),
        ]);
        let who = customer("d");
        let decision = rules.assess(&check(&who, Some(&print), 100), &past);
        assert!(
            matches!(decision, FraudDecision::Review { ref reasons, .. } if reasons == &[FraudReason::CardVelocity { attempts: 4, max: 3 }])
        );
    }

    #[test]
    fn a_new_account_with_a_large_foreign_order_is_declined() {
        let rules = FraudRules::default();
        let who = customer("new");
        let mut attempt = check(&who, None, 60_000);
        attempt.account_created_at = Timestamp::from_millis(NOW.as_millis() - HOUR);
        attempt.billing_country = Some("FR");
        let FraudDecision::Decline { score, reasons } = rules.assess(&attempt, &FraudHistory::default()) else {
            panic!("expected a decline");
        };
        assert_eq!(score, 80);
        assert_eq!(reasons.len(), 2);
    }

    #[test]
    fn a_country_mismatch_alone_is_reviewed() {
        let rules = FraudRules::default();
        let who = customer("c");
        let mut attempt = check(&who, None, 100);
        attempt.billing_country = Some("de");
        attempt.shipping_country = "DE";
        assert_eq!(rules.assess(&attempt, &FraudHistory::default()), FraudDecision::Approve, "case-insensitive");
        attempt.shipping_country = "US";
        assert!(matches!(rules.assess(&attempt, &FraudHistory::default()), FraudDecision::Review { score: 30, .. }));
    }

    #[test]
    fn history_is_bounded() {
        let rules = FraudRules { history_attempts_max: 3, ..FraudRules::default() };
        let mut history = FraudHistory::default();
        for at in 0..10 {
            history.record(
                FraudAttempt { customer: customer("c"), fingerprint: None, at: Timestamp::from_millis(at) },
                &rules,
            );
        }
        assert_eq!(history.len(), 3);
    }

    proptest::proptest! {
        /// The per-customer and per-card counts equal a count over the whole
        /// history (what screening means), also after a serde round trip.
        #[test]
        fn per_key_counts_match_a_scan_of_the_history(
            attempts in proptest::collection::vec((0..5u8, proptest::option::of(0..4u8), 0..50u64), 1..120),
            bound in 1..40usize,
            since in 0..400u64,
        ) {
            let rules = FraudRules { history_attempts_max: bound, velocity_window_ms: 100, ..FraudRules::default() };
            let mut history = FraudHistory::default();
            let mut at = 0;
            for (who, card_number, step) in attempts {
                at += step;
                let fingerprint = card_number.map(|n| card(&format!("424242424242424{n}")));
                history.record(FraudAttempt { customer: customer(&format!("c{who}")), fingerprint, at: Timestamp::from_millis(at) }, &rules);
            }
            let bytes = crate::store::codec::encode(&history).unwrap();
            let decoded: FraudHistory = crate::store::codec::decode(b"fraud", &bytes).unwrap();
            proptest::prop_assert_eq!(&decoded, &history);
            for who in 0..5u8 {
                let id = customer(&format!("c{who}"));
                let scanned = history.attempts.iter().filter(|a| a.customer == id && a.at.as_millis() >= since).count();
                proptest::prop_assert_eq!(history.customer_attempts_since(&id, since) as usize, scanned);
            }
            for n in 0..4u8 {
                let fingerprint = card(&format!("424242424242424{n}"));
                let scanned = history
                    .attempts
                    .iter()
                    .filter(|a| a.fingerprint.as_ref() == Some(&fingerprint) && a.at.as_millis() >= since)
                    .count();
                proptest::prop_assert_eq!(history.card_attempts_since(&fingerprint, since) as usize, scanned);
            }
        }
    }
}
