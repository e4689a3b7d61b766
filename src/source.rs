//! The one source of time and randomness. Every timestamp the engine records
//! and every id, token and salt it makes comes from the [`Source`] of its
//! [`Config`](crate::Config): the system clock and the operating system's
//! entropy in production; a [`ManualClock`](crate::clock::ManualClock) and a
//! seed in tests, so that a run can be driven to a chosen moment and
//! replayed with the same ids.
//!
//! (Durations that only decide when idle actors sleep or how long a request
//! took are read from `std::time::Instant`; they change no record.)

use crate::clock::{Clock, SystemClock};
use crate::engine::Timestamp;
use rand::{RngCore, SeedableRng};
use std::sync::{Arc, Mutex};

/// Time and randomness, shared by every part of one engine.
#[derive(Clone)]
pub struct Source {
    clock: Arc<dyn Clock>,
    entropy: Arc<Entropy>,
}

enum Entropy {
    /// The thread-local generator seeded by the operating system (a
    /// cryptographically secure generator, with no lock on the hot path).
    Os,
    /// One seeded generator (ChaCha12: also cryptographically secure, but
    /// predictable to whoever knows the seed: tests only).
    Seeded(Box<Mutex<rand::rngs::StdRng>>),
}

impl Source {
    /// The system clock and the operating system's entropy.
    pub fn system() -> Source {
        Source::new(Arc::new(SystemClock), None)
    }

    /// `clock`, and entropy from `seed` when given (else from the operating
    /// system).
    pub fn new(clock: Arc<dyn Clock>, seed: Option<u64>) -> Source {
        let entropy = match seed {
            Some(seed) => Entropy::Seeded(Box::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))),
            None => Entropy::Os,
        };
        Source { clock, entropy: Arc::new(entropy) }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Whether ids come from a seed (and so repeat from run to run).
    pub fn is_seeded(&self) -> bool {
        matches!(*self.entropy, Entropy::Seeded(_))
    }

    /// 128 random bits: what an id is made from
    /// (`OrderId::generate(source.u128())`).
    pub fn u128(&self) -> u128 {
        u128::from_le_bytes(self.bytes())
    }

    pub fn u64(&self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }

    /// `N` random bytes, for tokens and salts.
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0; N];
        self.fill(&mut bytes);
        bytes
    }

    fn fill(&self, bytes: &mut [u8]) {
        match &*self.entropy {
            Entropy::Os => rand::rng().fill_bytes(bytes),
            Entropy::Seeded(rng) => rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fill_bytes(bytes),
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("now", &self.now()).field("seeded", &self.is_seeded()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn seeded(seed: u64) -> Source {
        Source::new(Arc::new(ManualClock::new(Timestamp::from_millis(7))), Some(seed))
    }

    #[test]
    fn a_seed_repeats_its_ids_and_another_seed_does_not() {
        let draw = |source: &Source| (source.u128(), source.u64(), source.bytes::<32>());
        let (first, again, other) = (seeded(1), seeded(1), seeded(2));
        let run: Vec<_> = (0..3).map(|_| draw(&first)).collect();
        assert_eq!(run, (0..3).map(|_| draw(&again)).collect::<Vec<_>>());
        assert_ne!(run, (0..3).map(|_| draw(&other)).collect::<Vec<_>>());
        assert_ne!(run[0], run[1], "each draw is new");
        assert!(first.is_seeded() && !Source::system().is_seeded());
    }

    #[test]
    fn time_is_the_clocks() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(7)));
        let source = Source::new(clock.clone(), None);
        clock.advance_millis(5);
        assert_eq!(source.now(), Timestamp::from_millis(12));
        assert_ne!(source.u128(), source.u128());
    }
}
