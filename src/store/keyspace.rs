//! A domain's view of the store: only its own key prefixes.
//!
//! Every domain is handed one [`Keyspace`] at open and never the [`Store`]
//! itself, so a domain cannot read or write another domain's records: a key
//! outside its prefixes is refused with [`StoreError::NotOwned`] before sled
//! sees it. The prefixes each domain owns are one table, [`OWNERS`], checked
//! by the tests to give every record kind exactly one owner. The event log is
//! shared: any domain may append events to a batch and read the log (events
//! are the facts domains publish to each other and to the projections).

use super::keys;
use super::{Batch, Store, StoreError, Ticket};
use serde::de::DeserializeOwned;

/// Which domain owns which record kinds (see the table in [`keys`]). The
/// event log (`e`) and multi-key write intents (`W`) belong to the store.
pub const OWNERS: &[(&str, &[u8])] = &[
    ("catalog", &[keys::PRODUCT]),
    ("inventory", &[keys::BUCKET, keys::HOLD, keys::BUCKET_STAKE, keys::OWNER, keys::WAREHOUSE]),
    (
        "deals",
        &[
            keys::DEAL,
            keys::CLAIM,
            keys::DEAL_MOVED,
            keys::WAITLIST,
            keys::WAITLIST_OFFER,
            keys::DEAL_RETURN,
            keys::DEAL_TRANSFER,
            keys::DEAL_OPTIONS,
            keys::DEAL_CLOSED,
            keys::DEAL_SOURCES,
            keys::CLAIM_SALE,
            keys::STAKE_OP,
        ],
    ),
    (
        "customers",
        &[keys::CUSTOMER, keys::SELLER_LINK, keys::MEMBERSHIP, keys::PAID_MEMBERSHIP, keys::EMAIL, keys::SESSION],
    ),
    ("carts", &[keys::CART_META, keys::CART_LINE, keys::CART_MERGE, keys::CART_USED, keys::CART_IDLE]),
    ("checkout", &[keys::CHECKOUT]),
    ("payments", &[keys::PAYMENT_LOG]),
    ("orders", &[keys::ORDER, keys::SAGA, keys::ORDER_TASK, keys::ORDER_SUMMARY]),
    ("idempotency", &[keys::IDEMPOTENCY, keys::IDEMPOTENCY_BY_HOUR]),
];

/// Leave, given by the domain that owns a record, for another domain to
/// delete it in that domain's own write. It is how a hand-off between two
/// domains happens exactly once: an order's stock task, or a deal's unsold
/// units on their way back, is deleted in the same atomic write as the stock
/// change it asked for, by the bucket that makes the change. Only the owner's
/// keyspace can make one ([`Keyspace::settlement`]), so the receiving domain
/// can delete that one record and nothing else of the owner's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub(super) key: Vec<u8>,
}

/// The store as one domain may use it.
#[derive(Clone)]
pub struct Keyspace {
    store: Store,
    domain: &'static str,
    /// One bit per possible first byte of a key.
    owned: [u64; 4],
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace").field("domain", &self.domain).finish_non_exhaustive()
    }
}

impl Store {
    /// The keyspace of `domain`, as [`OWNERS`] lists it.
    ///
    /// # Panics
    /// If `domain` is not in [`OWNERS`]: a programming error caught by the
    /// first test that opens the engine.
    pub fn keyspace(&self, domain: &'static str) -> Keyspace {
        let prefixes = OWNERS
            .iter()
            .find(|(name, _)| *name == domain)
            .map(|(_, prefixes)| *prefixes)
            .unwrap_or_else(|| panic!("no keyspace is declared for the domain {domain}"));
        let mut owned = [0u64; 4];
        for &prefix in prefixes {
            owned[usize::from(prefix / 64)] |= 1 << (prefix % 64);
        }
        Keyspace { store: self.clone(), domain, owned }
    }
}

impl Keyspace {
    fn owns(&self, key: &[u8]) -> bool {
        key.first().is_some_and(|&prefix| self.owned[usize::from(prefix / 64)] & (1 << (prefix % 64)) != 0)
    }

    fn check(&self, key: &[u8]) -> Result<(), StoreError> {
        if self.owns(key) {
            Ok(())
        } else {
            Err(StoreError::NotOwned { domain: self.domain, key: String::from_utf8_lossy(key).replace('\0', "/") })
        }
    }

    /// Writes `batch` atomically; refused whole if one key is not this
    /// domain's.
    pub fn write(&self, batch: Batch) -> Result<Ticket, StoreError> {
        for (key, _) in &batch.ops {
            self.check(key)?;
        }
        self.store.write(batch)
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.check(key)?;
        self.store.get(key)
    }

    /// Whether a record of this domain's is stored under `key`.
    pub fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        self.check(key)?;
        self.store.contains(key)
    }

    pub fn scan_prefix<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.check(prefix)?;
        self.store.scan_prefix(prefix)
    }

    pub fn for_each_key(&self, prefix: &[u8], visit: impl FnMut(&[u8])) -> Result<(), StoreError> {
        self.check(prefix)?;
        self.store.for_each_key(prefix, visit)
    }

    /// Visits this domain's keys under `prefix` in order while `visit` answers `true`.
    pub fn keys_while(&self, prefix: &[u8], visit: impl FnMut(&[u8]) -> bool) -> Result<(), StoreError> {
        self.check(prefix)?;
        self.store.keys_while(prefix, visit)
    }

    /// Leave for another domain to delete `key` (this domain's) in its write.
    pub fn settlement(&self, key: Vec<u8>) -> Result<Settlement, StoreError> {
        self.check(&key)?;
        Ok(Settlement { key })
    }

    /// Whether the record a settlement names is still there (still due).
    pub fn is_due(&self, settlement: &Settlement) -> Result<bool, StoreError> {
        self.store.contains(&settlement.key)
    }

    /// Reads the record a settlement names (whether it is still due).
    pub fn read_settled<T: DeserializeOwned>(&self, settlement: &Settlement) -> Result<Option<T>, StoreError> {
        self.store.get(&settlement.key)
    }

    /// Reads the shared event log from sequence `from`.
    pub fn read_events<T: DeserializeOwned>(&self, from: u64, limit: usize) -> Result<Vec<(u64, T)>, StoreError> {
        self.store.read_events(from, limit)
    }

    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.store.durable(ticket).await
    }

    pub fn flush_soon(&self, ticket: Ticket) {
        self.store.flush_soon(ticket)
    }

    pub fn last_ticket(&self) -> Ticket {
        self.store.last_ticket()
    }

    pub fn keeps_records(&self) -> bool {
        self.store.keeps_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_kind_has_exactly_one_owner() {
        let mut owner_of = std::collections::BTreeMap::new();
        for (domain, prefixes) in OWNERS {
            for prefix in *prefixes {
                let before = owner_of.insert(*prefix, *domain);
                assert!(before.is_none(), "prefix {} is owned by {} and {domain}", *prefix as char, before.unwrap());
            }
        }
        let store_owned = [keys::EVENT, keys::INTENT];
        for prefix in keys::ALL {
            assert!(
                owner_of.contains_key(prefix) != store_owned.contains(prefix),
                "prefix {} must belong to exactly one domain or to the store",
                *prefix as char
            );
        }
        assert_eq!(owner_of.len() + store_owned.len(), keys::ALL.len());
    }

    #[test]
    fn a_domain_cannot_touch_another_domains_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&super::super::StoreConfig {
            path: dir.path().to_path_buf(),
            durability: super::super::Durability::Strict,
            cache_capacity_bytes: 8 << 20,
        })
        .unwrap();
        let carts = store.keyspace("carts");
        let inventory = store.keyspace("inventory");
        let cart = crate::engine::CartId::parse("cart-1").unwrap();
        let line = keys::cart_meta(&cart);
        carts.write(Batch::new_put(line.clone(), &1u32).unwrap()).unwrap();
        assert_eq!(carts.get::<u32>(&line).unwrap(), Some(1));

        let refused = inventory.write(Batch::new_put(line.clone(), &2u32).unwrap());
        assert!(matches!(refused, Err(StoreError::NotOwned { domain: "inventory", .. })), "{refused:?}");
        assert!(matches!(inventory.get::<u32>(&line), Err(StoreError::NotOwned { .. })));
        assert!(matches!(inventory.scan_prefix::<u32>(&[keys::CART_META]), Err(StoreError::NotOwned { .. })));
        assert!(matches!(inventory.for_each_key(&[keys::CART_META], |_| {}), Err(StoreError::NotOwned { .. })));
        // A batch with one foreign key is refused whole.
        let bucket = crate::engine::BucketKey::new(
            crate::engine::Sku::parse("SKU-1").unwrap(),
            crate::engine::WarehouseId::parse("W-1").unwrap(),
        );
        let mut mixed = Batch::new();
        mixed.put(keys::bucket(&bucket), &3u32).unwrap();
        mixed.put(line.clone(), &3u32).unwrap();
        assert!(inventory.write(mixed).is_err());
        assert_eq!(inventory.get::<u32>(&keys::bucket(&bucket)).unwrap(), None);
        assert_eq!(carts.get::<u32>(&line).unwrap(), Some(1));
        // Events are shared: any domain appends to the log.
        let mut event = Batch::new();
        event.event(&"hello").unwrap();
        inventory.write(event).unwrap();
        assert_eq!(carts.read_events::<String>(0, 10).unwrap().len(), 1);
        // A settlement lets the carts' record be deleted in an inventory write.
        assert!(inventory.settlement(line.clone()).is_err());
        let mut settle = Batch::new();
        settle.settle(carts.settlement(line.clone()).unwrap());
        inventory.write(settle).unwrap();
        assert_eq!(carts.get::<u32>(&line).unwrap(), None);
        store.close().unwrap();
    }
}
