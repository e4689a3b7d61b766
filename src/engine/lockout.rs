//! Lockout after failed sign-ins, as plain data: the first few failures are
//! free, then each further failure locks the key (an email and a client
//! address) for twice as long as the one before, up to a ceiling. A
//! success clears the key. Keyed by email *and* address, so that an
//! attacker guessing from one address cannot lock the owner out of their
//! account from another.

use super::time::Timestamp;

/// Failures allowed before the first lockout.
pub const FREE_FAILURES: u32 = 5;
/// The first lockout; each further failure doubles it.
pub const FIRST_LOCKOUT_MS: u64 = 1_000;
/// The longest lockout.
pub const LOCKOUT_MAX_MS: u64 = 15 * 60 * 1_000;
/// A key with no failure for this long starts afresh.
pub const FORGET_AFTER_MS: u64 = 24 * 60 * 60 * 1_000;

/// The failed sign-ins of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    count: u32,
    last_at: Timestamp,
    locked_until: Timestamp,
}

impl Failures {
    /// No failure yet, at `now`.
    pub fn new(now: Timestamp) -> Self {
        Failures { count: 0, last_at: now, locked_until: now }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// May the key try a password at `now`? Otherwise the milliseconds until
    /// it may (for `Retry-After`).
    pub fn check(&self, now: Timestamp) -> Result<(), u64> {
        if now < self.locked_until {
            return Err(self.locked_until.millis_since(now));
        }
        Ok(())
    }

    /// A wrong password at `now`: past the free failures, the key is locked
    /// for a time that doubles with every failure (up to the ceiling).
    pub fn fail(&mut self, now: Timestamp) {
        if self.is_forgotten(now) {
            *self = Failures::new(now);
        }
        self.count = self.count.saturating_add(1);
        self.last_at = now;
        if let Some(over) = self.count.checked_sub(FREE_FAILURES).filter(|over| *over > 0) {
            let doublings = (over - 1).min(30);
            let lockout = FIRST_LOCKOUT_MS.saturating_mul(1 << doublings).min(LOCKOUT_MAX_MS);
            self.locked_until = now.plus_millis(lockout);
        }
    }

    /// Whether the key may be dropped at `now`: unlocked, and quiet for
    /// [`FORGET_AFTER_MS`] (a bounded table drops these first).
    pub fn is_forgotten(&self, now: Timestamp) -> bool {
        now >= self.locked_until && now.millis_since(self.last_at) >= FORGET_AFTER_MS
    }

    /// Whether nothing is held against the key at `now` any more but its count.
    pub fn is_unlocked(&self, now: Timestamp) -> bool {
        now >= self.locked_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    #[test]
    fn free_failures_then_a_lockout_that_doubles_up_to_the_ceiling() {
        let mut failures = Failures::new(at(0));
        for _ in 0..FREE_FAILURES {
            failures.fail(at(0));
            assert_eq!(failures.check(at(0)), Ok(()));
        }
        failures.fail(at(0));
        assert_eq!(failures.check(at(0)), Err(1_000));
        assert_eq!(failures.check(at(1_000)), Ok(()));
        failures.fail(at(1_000));
        assert_eq!(failures.check(at(1_000)), Err(2_000));
        for _ in 0..40 {
            failures.fail(at(5_000));
        }
        assert_eq!(failures.check(at(5_000)), Err(LOCKOUT_MAX_MS), "never longer than the ceiling");
        assert!(!failures.is_forgotten(at(5_000 + LOCKOUT_MAX_MS)));
        assert!(failures.is_forgotten(at(5_000 + FORGET_AFTER_MS)));
        failures.fail(at(5_000 + FORGET_AFTER_MS));
        assert_eq!((failures.count(), failures.check(at(5_000 + FORGET_AFTER_MS))), (1, Ok(())), "a fresh start");
    }
}
