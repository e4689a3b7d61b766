//! Token-bucket rate limiting as plain data: `rate_per_second` tokens flow
//! in, up to `burst`; each request takes one. Counted in thousandths of a
//! token, so a rate of 1/s refills one thousandth per millisecond, exactly.

use super::time::Timestamp;

/// One caller's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    milli_tokens: u64,
    updated_at: Timestamp,
}

/// The limit a bucket enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub rate_per_second: u64,
    pub burst: u64,
}

const TOKEN: u64 = 1_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit, now: Timestamp) -> Self {
        TokenBucket { milli_tokens: limit.burst.saturating_mul(TOKEN), updated_at: now }
    }

    /// Takes one token, or says in how many milliseconds one will be there.
    pub fn try_take(&mut self, limit: RateLimit, now: Timestamp) -> Result<(), u64> {
        let elapsed = now.millis_since(self.updated_at);
        let capacity = limit.burst.saturating_mul(TOKEN);
        self.milli_tokens =
            self.milli_tokens.saturating_add(elapsed.saturating_mul(limit.rate_per_second)).min(capacity);
        self.updated_at = self.updated_at.max(now);
        if self.milli_tokens >= TOKEN {
            self.milli_tokens -= TOKEN;
            return Ok(());
        }
        let missing = TOKEN - self.milli_tokens;
        Err(missing.div_ceil(limit.rate_per_second.max(1)))
    }

    /// Whether the bucket is full again (it can be forgotten).
    pub fn is_full(&self, limit: RateLimit, now: Timestamp) -> bool {
        let refilled =
            self.milli_tokens.saturating_add(now.millis_since(self.updated_at).saturating_mul(limit.rate_per_second));
        refilled >= limit.burst.saturating_mul(TOKEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit { rate_per_second: 2, burst: 3 };

    #[test]
    fn a_burst_passes_then_the_rate_rules() {
        let start = Timestamp::from_millis(10_000);
        let mut bucket = TokenBucket::new(LIMIT, start);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(LIMIT, start), Ok(()));
        }
        assert_eq!(bucket.try_take(LIMIT, start), Err(500), "2 per second: one token every 500 ms");
        assert_eq!(bucket.try_take(LIMIT, start.plus_millis(499)), Err(1));
        assert_eq!(bucket.try_take(LIMIT, start.plus_millis(500)), Ok(()));
        assert!(!bucket.is_full(LIMIT, start.plus_millis(500)));
        assert!(bucket.is_full(LIMIT, start.plus_millis(2_000)));
    }

    #[test]
    fn time_going_backwards_never_adds_tokens() {
        let start = Timestamp::from_millis(10_000);
        let mut bucket = TokenBucket::new(RateLimit { rate_per_second: 1, burst: 1 }, start);
        assert_eq!(bucket.try_take(RateLimit { rate_per_second: 1, burst: 1 }, start), Ok(()));
        assert!(bucket.try_take(RateLimit { rate_per_second: 1, burst: 1 }, Timestamp::from_millis(5_000)).is_err());
    }
}
