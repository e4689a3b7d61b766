//! Anti-bot limits on deal claims and customer reservations: a token bucket
//! per customer and per client address (429 `rate-limited` with
//! `Retry-After`), and at most one claim in flight per customer; and on
//! registrations and sign-ins, a token bucket per client address; on
//! gift-card balance checks, one per caller and one per address. The maps forget full buckets once they grow
//! past a bound, so a flood of distinct callers cannot grow memory forever.

use super::error::Problem;
use crate::engine::rate::{RateLimit, TokenBucket};
use crate::engine::{CustomerId, Timestamp};
use dashmap::DashMap;

/// Buckets kept before full ones are forgotten.
const BUCKETS_MAX: usize = 100_000;

/// The limits, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimitConfig {
    pub per_customer: RateLimit,
    pub per_address: RateLimit,
    /// Registrations and sign-ins per client address.
    pub auth_per_address: RateLimit,
    /// Gift-card balance checks per caller and per client address.
    pub gift_card_checks: RateLimit,
}

impl Default for ClaimLimitConfig {
    fn default() -> Self {
        ClaimLimitConfig {
            per_customer: RateLimit { rate_per_second: 5, burst: 10 },
            per_address: RateLimit { rate_per_second: 200, burst: 400 },
            auth_per_address: RateLimit { rate_per_second: 10, burst: 20 },
            gift_card_checks: RateLimit { rate_per_second: 1, burst: 10 },
        }
    }
}

#[derive(Debug, Default)]
pub struct ClaimLimits {
    config: ClaimLimitConfig,
    customers: DashMap<CustomerId, TokenBucket, foldhash::fast::RandomState>,
    addresses: DashMap<String, TokenBucket, foldhash::fast::RandomState>,
    auth_addresses: DashMap<String, TokenBucket, foldhash::fast::RandomState>,
    /// Keyed `c:<customer>` and `a:<address>`.
    gift_card_checks: DashMap<String, TokenBucket, foldhash::fast::RandomState>,
    in_flight: DashMap<CustomerId, (), foldhash::fast::RandomState>,
}

/// A claim in flight; dropping it lets the customer claim again.
pub struct InFlight<'a> {
    limits: &'a ClaimLimits,
    customer: CustomerId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.limits.in_flight.remove(&self.customer);
    }
}

fn take<K: std::hash::Hash + Eq + Clone>(
    map: &DashMap<K, TokenBucket, foldhash::fast::RandomState>,
    key: &K,
    limit: RateLimit,
    now: Timestamp,
) -> Result<(), u64> {
    if map.len() > BUCKETS_MAX {
        map.retain(|_, bucket| !bucket.is_full(limit, now));
    }
    map.entry(key.clone()).or_insert_with(|| TokenBucket::new(limit, now)).try_take(limit, now)
}

impl ClaimLimits {
    pub fn new(config: ClaimLimitConfig) -> Self {
        ClaimLimits { config, ..ClaimLimits::default() }
    }

    /// Admits a claim, or refuses it with 429.
    pub fn admit(&self, customer: &CustomerId, address: &str, now: Timestamp) -> Result<InFlight<'_>, Problem> {
        take(&self.addresses, &address.to_owned(), self.config.per_address, now)
            .map_err(|wait| Problem::rate_limited("too many claims from this address", wait))?;
        take(&self.customers, customer, self.config.per_customer, now)
            .map_err(|wait| Problem::rate_limited("too many claims from this customer", wait))?;
        if self.in_flight.insert(customer.clone(), ()).is_some() {
            return Err(Problem::rate_limited("a claim by this customer is already in flight", 1));
        }
        Ok(InFlight { limits: self, customer: customer.clone() })
    }

    /// Admits a registration or sign-in from `address`, or refuses it with 429.
    pub fn admit_auth(&self, address: &str, now: Timestamp) -> Result<(), Problem> {
        take(&self.auth_addresses, &address.to_owned(), self.config.auth_per_address, now)
            .map_err(|wait| Problem::rate_limited("too many sign-ins and registrations from this address", wait))
    }

    /// Admits a gift-card balance check by `customer` (when signed in) from
    /// `address`, or refuses it with 429.
    pub fn admit_gift_card_check(&self, customer: Option<&str>, address: &str, now: Timestamp) -> Result<(), Problem> {
        let limit = self.config.gift_card_checks;
        take(&self.gift_card_checks, &format!("a:{address}"), limit, now)
            .map_err(|wait| Problem::rate_limited("too many gift-card checks from this address", wait))?;
        if let Some(customer) = customer {
            take(&self.gift_card_checks, &format!("c:{customer}"), limit, now)
                .map_err(|wait| Problem::rate_limited("too many gift-card checks by this customer", wait))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_over_the_rate_or_with_a_claim_in_flight_is_refused() {
        let limits = ClaimLimits::new(ClaimLimitConfig {
            per_customer: RateLimit { rate_per_second: 1, burst: 2 },
            per_address: RateLimit { rate_per_second: 100, burst: 100 },
            ..ClaimLimitConfig::default()
        });
        let ann = CustomerId::parse("cus_ann").unwrap();
        let now = Timestamp::from_millis(1_000);
        let first = limits.admit(&ann, "10.0.0.1", now).unwrap();
        let concurrent = limits.admit(&ann, "10.0.0.1", now);
        assert!(matches!(concurrent, Err(ref problem) if problem.code == "rate-limited"));
        drop(first);
        let over = limits.admit(&ann, "10.0.0.1", now).err().unwrap();
        assert_eq!((over.status.as_u16(), over.retry_after_secs), (429, Some(1)));
        assert!(limits.admit(&ann, "10.0.0.1", now.plus_millis(1_000)).is_ok());
    }

    #[test]
    fn one_address_is_limited_across_customers() {
        let limits = ClaimLimits::new(ClaimLimitConfig {
            per_customer: RateLimit { rate_per_second: 100, burst: 100 },
            per_address: RateLimit { rate_per_second: 1, burst: 3 },
            ..ClaimLimitConfig::default()
        });
        let now = Timestamp::from_millis(1_000);
        for n in 0..3 {
            drop(limits.admit(&CustomerId::parse(&format!("cus_{n}")).unwrap(), "10.0.0.9", now).unwrap());
        }
        assert!(limits.admit(&CustomerId::parse("cus_9").unwrap(), "10.0.0.9", now).is_err());
        assert!(limits.admit(&CustomerId::parse("cus_9").unwrap(), "10.0.0.10", now).is_ok());
    }
}
