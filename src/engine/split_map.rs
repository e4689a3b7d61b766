//! A hash map in parts, so that it never grows all at once.
//!
//! A `HashMap` doubles its table when full and moves every entry in that
//! one insert: with millions of holds in one owner (a deal shard keeps every
//! claim), the insert that crosses a power of two stalls the owner's actor
//! for tens of milliseconds, and every request queued behind it waits. Split
//! into [`PARTS`] maps chosen by the key's hash, each growth moves one part:
//! a sixty-fourth of the entries, and the parts fill evenly, so their
//! growths are spread over time instead of landing on one request.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// How many maps the entries are split over.
pub const PARTS: usize = 64;

/// Deterministic hashing (the keys are server-made or bounded per owner).
type Hasher = foldhash::fast::FixedState;

#[derive(Debug, Clone)]
pub struct SplitMap<K, V> {
    parts: Vec<HashMap<K, V, Hasher>>,
    /// Picks the part; the parts hash with their own state.
    chooser: Hasher,
    len: usize,
}

impl<K, V> Default for SplitMap<K, V> {
    fn default() -> Self {
        SplitMap {
            parts: (0..PARTS).map(|_| HashMap::with_hasher(Hasher::default())).collect(),
            chooser: Hasher::with_seed(0x7370_6c69_745f_6d61),
            len: 0,
        }
    }
}

impl<K: Hash + Eq, V> SplitMap<K, V> {
    fn part<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        // The high bits: the parts' own tables use the low ones.
        (self.chooser.hash_one(key) >> 58) as usize % PARTS
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.parts[self.part(key)].get(key)
    }

    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let part = self.part(key);
        self.parts[part].get_mut(key)
    }

    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.get(key).is_some()
    }

    /// Inserts `value` under `key`; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let part = self.part(&key);
        let previous = self.parts[part].insert(key, value);
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let part = self.part(key);
        let removed = self.parts[part].remove(key);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.parts.iter().flat_map(HashMap::iter)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.parts.iter().flat_map(HashMap::values)
    }
}

/// Equal when they hold the same entries (whatever the parts' orders).
impl<K: Hash + Eq, V: PartialEq> PartialEq for SplitMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|(key, value)| other.get(key) == Some(value))
    }
}

impl<K: Hash + Eq, V: Eq> Eq for SplitMap<K, V> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of inserts and removals leaves what a `HashMap`
        /// would hold, with the same answers on the way.
        #[test]
        fn behaves_as_one_map(ops in proptest::collection::vec((any::<bool>(), 0u16..300, any::<u32>()), 0..600)) {
            let mut split = SplitMap::default();
            let mut plain = std::collections::HashMap::new();
            for (insert, key, value) in ops {
                if insert {
                    prop_assert_eq!(split.insert(key, value), plain.insert(key, value));
                } else {
                    prop_assert_eq!(split.remove(&key), plain.remove(&key));
                }
                prop_assert_eq!(split.len(), plain.len());
                prop_assert_eq!(split.get(&key), plain.get(&key));
            }
            let mut entries: Vec<_> = split.iter().map(|(k, v)| (*k, *v)).collect();
            entries.sort_unstable();
            let mut expected: Vec<_> = plain.into_iter().collect();
            expected.sort_unstable();
            prop_assert_eq!(entries, expected);
        }
    }

    #[test]
    fn the_entries_spread_over_every_part() {
        let mut map = SplitMap::default();
        for n in 0..64_000u32 {
            map.insert(format!("res_{n:032x}"), n);
        }
        let sizes: Vec<usize> = map.parts.iter().map(HashMap::len).collect();
        assert!(sizes.iter().all(|&size| (500..1_500).contains(&size)), "{sizes:?}");
    }
}
