//! Where every reservation lives and whose it is: one index over the holds
//! of inventory buckets and the claims of deal shards (a claim is a hold
//! with a customer), so that reading, committing or releasing a reservation
//! goes straight to its holder.
//!
//! Derived state: rebuilt at open from the hold, owner and claim records,
//! then kept current by the actors that create and prune holds. A bucket
//! hold's owner (the customer who asked for it over `POST /v1/reservations`)
//! is its own record (`o`), written after the hold; a claim's owner is on
//! the claim.

use crate::domains::deals::shard::DealShardKey;
use crate::engine::{BucketKey, CustomerId, ReservationId};
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// The actor that keeps a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Bucket(BucketKey),
    Deal(DealShardKey),
}

/// One reservation's holder and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placement {
    holder: Holder,
    /// `None` for a hold the admin (or the place saga) made.
    owner: Option<CustomerId>,
}

/// What [`ReservationIndex::place`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The id was new: it is the holder's now.
    New,
    /// The holder already kept the id (a retry).
    Already,
    /// Another holder keeps the id: nothing changed.
    Elsewhere,
}

/// Reservation id -> holder and owner.
#[derive(Debug, Default)]
pub struct ReservationIndex {
    placements: DashMap<ReservationId, Placement, foldhash::fast::RandomState>,
}

impl ReservationIndex {
    /// Records that `holder` keeps reservation `id`; the first holder of an
    /// id stays (a retry reaches the same one, and no other holder can take
    /// an id that is already kept).
    pub fn place(&self, id: ReservationId, holder: Holder, owner: Option<CustomerId>) -> Placed {
        match self.placements.entry(id) {
            Entry::Occupied(entry) if entry.get().holder == holder => Placed::Already,
            Entry::Occupied(_) => Placed::Elsewhere,
            Entry::Vacant(entry) => {
                entry.insert(Placement { holder, owner });
                Placed::New
            }
        }
    }

    /// Sets the owner of a bucket hold (restored from its `o` record).
    pub fn set_owner(&self, id: &ReservationId, owner: CustomerId) {
        if let Some(mut placement) = self.placements.get_mut(id) {
            placement.owner = Some(owner);
        }
    }

    /// Makes `owner` the owner of reservation `id` unless someone else is:
    /// whether it is theirs now (`false` also for an unknown id).
    pub fn take_ownership(&self, id: &ReservationId, owner: &CustomerId) -> bool {
        let Some(mut placement) = self.placements.get_mut(id) else { return false };
        match &placement.owner {
            Some(current) => current == owner,
            None => {
                placement.owner = Some(owner.clone());
                true
            }
        }
    }

    pub fn holder(&self, id: &ReservationId) -> Option<Holder> {
        self.placements.get(id).map(|placement| placement.holder.clone())
    }

    /// The bucket keeping `id`, if a bucket does.
    pub fn bucket(&self, id: &ReservationId) -> Option<BucketKey> {
        match self.holder(id)? {
            Holder::Bucket(bucket) => Some(bucket),
            Holder::Deal(_) => None,
        }
    }

    /// The deal shard keeping `id`, if it is a claim.
    pub fn shard(&self, id: &ReservationId) -> Option<DealShardKey> {
        match self.holder(id)? {
            Holder::Deal(shard) => Some(shard),
            Holder::Bucket(_) => None,
        }
    }

    /// The customer who made reservation `id` (`None` for the admin's, and
    /// for an unknown id).
    pub fn owner(&self, id: &ReservationId) -> Option<CustomerId> {
        self.placements.get(id).and_then(|placement| placement.owner.clone())
    }

    /// Forgets `id` (its settled record was pruned).
    pub fn forget(&self, id: &ReservationId) {
        self.placements.remove(id);
    }

    pub fn len(&self) -> usize {
        self.placements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.placements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DealId, Sku, WarehouseId};

    fn id(name: &str) -> ReservationId {
        ReservationId::parse(name).unwrap()
    }

    #[test]
    fn the_first_holder_of_an_id_keeps_it() {
        let index = ReservationIndex::default();
        let bucket = Holder::Bucket(BucketKey::new(Sku::parse("S").unwrap(), WarehouseId::parse("W").unwrap()));
        let claim = Holder::Deal(DealShardKey { deal: DealId::parse("deal_1").unwrap(), shard: 0 });
        let alice = CustomerId::parse("cus_alice").unwrap();
        assert_eq!(index.place(id("a"), claim.clone(), Some(alice.clone())), Placed::New);
        assert_eq!(index.place(id("a"), claim.clone(), None), Placed::Already, "a retry reaches the same holder");
        assert_eq!(index.place(id("a"), bucket.clone(), None), Placed::Elsewhere, "a bucket cannot take a claim's id");
        assert_eq!((index.holder(&id("a")), index.owner(&id("a"))), (Some(claim), Some(alice.clone())));
        assert_eq!(index.place(id("b"), bucket.clone(), None), Placed::New);
        assert_eq!(index.owner(&id("b")), None);
        assert!(index.take_ownership(&id("b"), &alice));
        let bob = CustomerId::parse("cus_bob").unwrap();
        assert!(!index.take_ownership(&id("b"), &bob), "a hold has one owner");
        assert!(!index.take_ownership(&id("none"), &bob));
        assert_eq!((index.bucket(&id("b")), index.shard(&id("b"))), (bucket_key(&bucket), None));
        assert_eq!(index.owner(&id("b")), Some(alice));
        index.forget(&id("b"));
        assert_eq!((index.holder(&id("b")), index.len()), (None, 1));
    }

    fn bucket_key(holder: &Holder) -> Option<BucketKey> {
        match holder {
            Holder::Bucket(key) => Some(key.clone()),
            Holder::Deal(_) => None,
        }
    }
}
