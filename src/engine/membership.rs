//! Paid Prime membership: the billing rules, pure (time is passed in).
//!
//! - A period is a fixed length: monthly = 30 days, annual = 365 days
//!   ([`Plan::period_ms`]); period `n + 1` starts exactly where period `n`
//!   ended, whatever time the charge was actually made.
//! - Period 1 is paid before the membership exists. Period `n + 1` is due at
//!   `renews_at`; the charge reference is deterministic per (customer,
//!   period, attempt) ([`charge_reference`]) so that a charge repeated after
//!   a crash is the gateway's same charge.
//! - A declined renewal makes the membership `past_due` (still active) and
//!   is retried daily ([`RETRY_EVERY_MS`]) [`RETRIES`] times; the last retry
//!   declined, it lapses (not active). A retry approved makes it active
//!   again, the new period continuing from the original `renews_at`.
//! - Cancelling sets `cancel_at_period_end`: no charge at `renews_at`, the
//!   membership ends there.

use super::customer::Plan;
use super::ids::CardToken;
use super::ids::CustomerId;
use super::money::Money;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// How many daily retries follow a declined renewal before it lapses.
pub const RETRIES: u32 = 3;
/// The time between two attempts at a declined renewal.
pub const RETRY_EVERY_MS: u64 = 24 * 3600 * 1000;

/// Where a paid membership stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipStatus {
    Active,
    /// The renewal declined; `failures` attempts so far.
    PastDue {
        failures: u32,
    },
    /// The last retry declined: over.
    Lapsed,
}

/// One charge attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRecord {
    pub amount: Money,
    pub at: Timestamp,
    /// The period it pays for (1 = the first).
    pub period: u32,
    pub approved: bool,
}

/// The price of each plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPrices {
    pub monthly: Money,
    pub annual: Money,
}

impl Default for PlanPrices {
    fn default() -> Self {
        PlanPrices {
            monthly: Money::new(1499, super::money::Currency::USD),
            annual: Money::new(13900, super::money::Currency::USD),
        }
    }
}

impl PlanPrices {
    pub fn of(&self, plan: Plan) -> Money {
        match plan {
            Plan::Monthly => self.monthly,
            Plan::Annual => self.annual,
        }
    }
}

/// What a member has not paid thanks to Prime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Savings {
    pub shipping: Money,
    pub deals: Money,
}

/// A paid Prime membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidMembership {
    /// 1 for a customer's first membership, one more for each restart after
    /// one ended (keeps charge references unique).
    pub generation: u32,
    pub plan: Plan,
    pub price: Money,
    /// The card renewals are charged to (`None` for a membership of an
    /// older build that never had one: its renewal declines).
    pub card: Option<CardToken>,
    pub started_at: Timestamp,
    /// The period being paid for now (1 = the first).
    pub period: u32,
    /// When the current period ends and the next one is due.
    pub renews_at: Timestamp,
    pub status: MembershipStatus,
    pub cancel_at_period_end: bool,
    pub charges: Vec<ChargeRecord>,
    pub savings: Savings,
}

/// What the membership needs at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing now.
    Nothing,
    /// Charge `amount` for `period`, attempt `attempt` (0 = at `renews_at`).
    Charge { period: u32, attempt: u32, amount: Money },
    /// Cancelled and the period is over: it ends (no charge).
    End,
}

/// The gateway reference of a renewal charge: one per (customer,
/// membership generation, period, attempt).
pub fn charge_reference(customer: &CustomerId, generation: u32, period: u32, attempt: u32) -> String {
    format!("prime.{customer}.{generation}.{period}.{attempt}")
}

/// The gateway reference of a membership's first charge, per card: a
/// start retried with the same card after a crash is the same charge, and
/// another card after a decline is a new one.
pub fn start_reference(customer: &CustomerId, generation: u32, card: &CardToken) -> String {
    format!("prime.{customer}.{generation}.1.{card}")
}

impl PaidMembership {
    /// A membership whose first period was just paid at `now` with `card`.
    pub fn start(generation: u32, plan: Plan, price: Money, card: CardToken, now: Timestamp) -> PaidMembership {
        PaidMembership {
            generation,
            plan,
            price,
            card: Some(card),
            started_at: now,
            period: 1,
            renews_at: now.plus_millis(plan.period_ms()),
            status: MembershipStatus::Active,
            cancel_at_period_end: false,
            charges: vec![ChargeRecord { amount: price, at: now, period: 1, approved: true }],
            savings: Savings { shipping: Money::zero(price.currency), deals: Money::zero(price.currency) },
        }
    }

    /// A membership stored by an older build (never charged): active until
    /// the end of the period that contains `now`, then renewed by charge
    /// like any other; it has no card, so unless the member sets one its
    /// renewal declines and it lapses after the retries.
    pub fn from_legacy(old: &super::customer::Membership, price: Money, now: Timestamp) -> PaidMembership {
        let renews_at = old.ends_at.unwrap_or_else(|| old.period_end(now));
        let period = u32::try_from(renews_at.millis_since(old.started_at) / old.plan.period_ms()).unwrap_or(1).max(1);
        PaidMembership {
            generation: 1,
            plan: old.plan,
            price,
            card: None,
            started_at: old.started_at,
            period,
            renews_at,
            status: if old.ends_at.is_some() && now >= renews_at {
                MembershipStatus::Lapsed
            } else {
                MembershipStatus::Active
            },
            cancel_at_period_end: old.ends_at.is_some(),
            charges: Vec::new(),
            savings: Savings { shipping: Money::zero(price.currency), deals: Money::zero(price.currency) },
        }
    }

    /// Whether Prime benefits apply at `now`: active or past due, not past
    /// a cancelled period's end, and not past the last retry's time (a
    /// renewal that was never attempted does not extend the benefits).
    pub fn is_active(&self, now: Timestamp) -> bool {
        match self.status {
            MembershipStatus::Lapsed => false,
            _ if self.cancel_at_period_end => now < self.renews_at,
            _ => now < self.renews_at.plus_millis(u64::from(RETRIES) * RETRY_EVERY_MS),
        }
    }

    /// The status as the API names it.
    pub fn status_name(&self, now: Timestamp) -> &'static str {
        match self.status {
            _ if self.cancel_at_period_end => "cancelled",
            MembershipStatus::Lapsed => "lapsed",
            MembershipStatus::PastDue { .. } => "past_due",
            MembershipStatus::Active if !self.is_active(now) => "lapsed",
            MembershipStatus::Active => "active",
        }
    }

    /// Whether the membership is over for good (a new one may start).
    pub fn is_over(&self, now: Timestamp) -> bool {
        !self.is_active(now)
    }

    /// What is due at `now`.
    pub fn due(&self, now: Timestamp) -> Due {
        match self.status {
            MembershipStatus::Lapsed => Due::Nothing,
            _ if now < self.renews_at => Due::Nothing,
            _ if self.cancel_at_period_end => Due::End,
            MembershipStatus::Active => Due::Charge { period: self.period + 1, attempt: 0, amount: self.price },
            MembershipStatus::PastDue { failures } => {
                let next = self.renews_at.plus_millis(u64::from(failures) * RETRY_EVERY_MS);
                if now < next {
                    Due::Nothing
                } else {
                    Due::Charge { period: self.period + 1, attempt: failures, amount: self.price }
                }
            }
        }
    }

    /// Applies what [`PaidMembership::due`] asked for: the charge's outcome
    /// (`approved`) made at `now`, or the end.
    pub fn apply(&mut self, due: &Due, approved: bool, now: Timestamp) {
        match due {
            Due::Nothing => {}
            Due::End => self.status = MembershipStatus::Lapsed,
            Due::Charge { period, amount, .. } => {
                self.charges.push(ChargeRecord { amount: *amount, at: now, period: *period, approved });
                if approved {
                    self.period = *period;
                    self.renews_at = self.renews_at.plus_millis(self.plan.period_ms());
                    self.status = MembershipStatus::Active;
                } else {
                    let failures = match self.status {
                        MembershipStatus::PastDue { failures } => failures + 1,
                        _ => 1,
                    };
                    self.status = if failures > RETRIES {
                        MembershipStatus::Lapsed
                    } else {
                        MembershipStatus::PastDue { failures }
                    };
                }
            }
        }
    }

    /// Cancels at the end of the current period (idempotent).
    pub fn cancel(&mut self) {
        self.cancel_at_period_end = true;
    }

    /// Adds a saving; amounts of another currency are not counted.
    pub fn add_savings(&mut self, shipping: Money, deals: Money) {
        if let Ok(sum) = self.savings.shipping.checked_add(shipping) {
            self.savings.shipping = sum;
        }
        if let Ok(sum) = self.savings.deals.checked_add(deals) {
            self.savings.deals = sum;
        }
    }

    /// Approved charges.
    pub fn paid_periods(&self) -> usize {
        self.charges.iter().filter(|charge| charge.approved).count()
    }
}

/// What a deal line saved: (list price - deal price) x quantity, never
/// negative (a deal above the list price saves nothing), zero across
/// currencies.
pub fn deal_saving(list: Money, deal: Money, quantity: u32) -> Money {
    if list.currency != deal.currency {
        return Money::zero(deal.currency);
    }
    let cents = (list.cents - deal.cents).max(0).saturating_mul(i64::from(quantity));
    Money::new(cents, deal.currency)
}

/// What free shipping saved: the standard (non-member) price of the option
/// minus what the member paid, never negative.
pub fn shipping_saving(standard: Money, paid: Money) -> Money {
    if standard.currency != paid.currency {
        return Money::zero(paid.currency);
    }
    Money::new((standard.cents - paid.cents).max(0), paid.currency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::money::Currency;
    use proptest::prelude::*;

    const DAY: u64 = RETRY_EVERY_MS;
    const T0: Timestamp = Timestamp::from_millis(1_000_000);

    fn price() -> Money {
        Money::new(1499, Currency::USD)
    }

    fn card() -> CardToken {
        CardToken::parse("tok_a").unwrap()
    }

    fn step(m: &mut PaidMembership, now: Timestamp, approve: bool) -> Due {
        let due = m.due(now);
        m.apply(&due, approve, now);
        due
    }

    #[test]
    fn a_renewal_is_due_at_renews_at_and_moves_the_period_by_its_length() {
        let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        assert_eq!(m.renews_at, T0.plus_millis(30 * DAY));
        assert_eq!(m.due(T0.plus_millis(30 * DAY - 1)), Due::Nothing);
        let due = step(&mut m, T0.plus_millis(30 * DAY + 5), true);
        assert_eq!(due, Due::Charge { period: 2, attempt: 0, amount: price() });
        assert_eq!(m.renews_at, T0.plus_millis(60 * DAY), "from the original renews_at, not the charge time");
        assert_eq!(m.period, 2);
        assert_eq!(m.paid_periods(), 2);
        let annual = PaidMembership::start(1, Plan::Annual, price(), card(), T0);
        assert_eq!(annual.renews_at, T0.plus_millis(365 * DAY));
    }

    #[test]
    fn a_declined_renewal_is_retried_daily_three_times_then_lapses() {
        let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        let renew = m.renews_at;
        assert_eq!(step(&mut m, renew, false), Due::Charge { period: 2, attempt: 0, amount: price() });
        assert_eq!(m.status, MembershipStatus::PastDue { failures: 1 });
        assert!(m.is_active(renew.plus_millis(1)));
        assert_eq!(m.status_name(renew), "past_due");
        assert_eq!(m.due(renew.plus_millis(DAY - 1)), Due::Nothing);
        for attempt in 1..=RETRIES {
            let at = renew.plus_millis(u64::from(attempt) * DAY);
            assert_eq!(step(&mut m, at, false), Due::Charge { period: 2, attempt, amount: price() });
        }
        assert_eq!(m.status, MembershipStatus::Lapsed);
        assert!(!m.is_active(renew.plus_millis(3 * DAY)));
        assert_eq!(m.due(renew.plus_millis(100 * DAY)), Due::Nothing);
        assert_eq!(m.charges.len(), 5, "the start, the renewal and three retries");
    }

    #[test]
    fn an_approved_retry_continues_from_the_original_renews_at() {
        let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        let renew = m.renews_at;
        step(&mut m, renew, false);
        step(&mut m, renew.plus_millis(DAY), false);
        assert_eq!(
            step(&mut m, renew.plus_millis(2 * DAY), true),
            Due::Charge { period: 2, attempt: 2, amount: price() }
        );
        assert_eq!(m.status, MembershipStatus::Active);
        assert_eq!(m.renews_at, renew.plus_millis(30 * DAY));
        assert_eq!(m.due(renew.plus_millis(30 * DAY)), Due::Charge { period: 3, attempt: 0, amount: price() });
    }

    #[test]
    fn a_cancelled_membership_ends_at_renews_at_without_a_charge() {
        let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        m.cancel();
        assert!(m.is_active(Timestamp::from_millis(m.renews_at.as_millis() - 1)));
        assert_eq!(m.status_name(T0), "cancelled");
        let renew = m.renews_at;
        assert_eq!(step(&mut m, renew, true), Due::End);
        assert!(!m.is_active(renew));
        assert_eq!(m.paid_periods(), 1);
    }

    #[test]
    fn a_renewal_never_attempted_does_not_extend_the_benefits() {
        let m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        assert!(m.is_active(m.renews_at.plus_millis(DAY)));
        assert!(!m.is_active(m.renews_at.plus_millis(3 * DAY)));
    }

    #[test]
    fn a_legacy_membership_is_active_to_its_period_end_without_a_card() {
        let old = crate::engine::customer::Membership::start(Plan::Monthly, T0);
        let now = T0.plus_millis(40 * DAY);
        let m = PaidMembership::from_legacy(&old, price(), now);
        assert_eq!(m.renews_at, T0.plus_millis(60 * DAY));
        assert_eq!(m.period, 2);
        assert!(m.is_active(now));
        assert_eq!(m.card, None);
        let mut cancelled = old.clone();
        cancelled.cancel(T0.plus_millis(DAY));
        let m = PaidMembership::from_legacy(&cancelled, price(), now);
        assert!(!m.is_active(now));
    }

    #[test]
    fn savings_are_the_differences_never_negative() {
        let usd = |cents| Money::new(cents, Currency::USD);
        assert_eq!(deal_saving(usd(2000), usd(1500), 3), usd(1500));
        assert_eq!(deal_saving(usd(1000), usd(1500), 3), usd(0));
        assert_eq!(shipping_saving(usd(599), usd(0)), usd(599));
        assert_eq!(shipping_saving(usd(599), usd(999)), usd(0));
        assert_eq!(deal_saving(Money::new(2000, Currency::EUR), usd(1500), 1), usd(0));
        let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
        m.add_savings(usd(599), usd(1500));
        m.add_savings(usd(100), usd(0));
        assert_eq!(m.savings, Savings { shipping: usd(699), deals: usd(1500) });
    }

    proptest! {
        /// Across any sequence of clock advances and gateway answers, and
        /// "crashes" (the charge made, its outcome lost, then the due
        /// recomputed), each approved charge starts exactly one period, the
        /// renewal is never ahead of the clock by more than one period, and
        /// a repeated attempt uses the same reference.
        #[test]
        fn charges_equal_periods_started(steps in proptest::collection::vec((0u64..40 * DAY, any::<bool>(), any::<bool>()), 1..60)) {
            let customer = CustomerId::parse("c1").unwrap();
            let mut m = PaidMembership::start(1, Plan::Monthly, price(), card(), T0);
            let mut now = T0;
            let mut gateway: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
            for (advance, approve, crash) in steps {
                now = now.plus_millis(advance);
                loop {
                    let due = m.due(now);
                    let Due::Charge { period, attempt, .. } = due else {
                        m.apply(&due, false, now);
                        break;
                    };
                    let reference = charge_reference(&customer, 1, period, attempt);
                    let outcome = *gateway.entry(reference).or_insert(approve);
                    if crash {
                        // The outcome was not recorded: the same due comes back.
                        prop_assert_eq!(m.due(now), due.clone());
                    }
                    m.apply(&due, outcome, now);
                    if m.status == MembershipStatus::Lapsed {
                        break;
                    }
                }
                let approved = gateway.values().filter(|ok| **ok).count() + 1;
                prop_assert_eq!(approved, m.paid_periods());
                prop_assert_eq!(m.paid_periods(), m.period as usize);
                prop_assert_eq!(m.charges.len(), gateway.len() + 1);
                if m.status != MembershipStatus::Lapsed {
                    let past_due = matches!(m.status, MembershipStatus::PastDue { .. });
                    prop_assert!(m.renews_at > now || past_due);
                }
            }
        }
    }
}
