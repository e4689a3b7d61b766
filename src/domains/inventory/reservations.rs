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
//!
//! It also counts each customer's live bucket holds (API.md: at most 20 held
//! reservations made on `POST /v1/reservations`; deal claims do not count).
//! A customer takes a slot before reserving ([`ReservationIndex::take_slot`]),
//! so parallel requests cannot pass the limit together; the slot becomes the
//! hold's, and comes back when the hold settles or the request fails.

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
    /// Still held: an owned bucket hold takes one of its owner's slots.
    held: bool,
}

impl Placement {
    fn takes_slot(&self) -> bool {
        self.held && self.owner.is_some() && matches!(self.holder, Holder::Bucket(_))
    }
}

/// What [`ReservationIndex::take_ownership`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The hold is the customer's now; `slot`: it holds units and keeps the
    /// slot its owner took for it.
    Taken { slot: bool },
    /// It was the customer's already (a retry).
    Already,
    /// It is someone else's (or the admin's), or unknown.
    Refused,
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
#[derive(Debug)]
pub struct ReservationIndex {
    /// Every reservation and claim ever placed: millions in a long flash
    /// sale, so in many shards ([`PLACEMENT_SHARDS`]), each of which grows
    /// (and blocks its callers while it moves its entries) on its own.
    placements: DashMap<ReservationId, Placement, foldhash::fast::RandomState>,
    /// Customer -> slots taken: their held bucket holds plus requests under way.
    slots: DashMap<CustomerId, u32, foldhash::fast::RandomState>,
}

/// Shards of the placements map (a power of two, as dashmap requires).
const PLACEMENT_SHARDS: usize = 256;

impl Default for ReservationIndex {
    fn default() -> Self {
        ReservationIndex {
            placements: DashMap::with_hasher_and_shard_amount(foldhash::fast::RandomState::default(), PLACEMENT_SHARDS),
            slots: DashMap::default(),
        }
    }
}

impl ReservationIndex {
    /// Records that `holder` keeps reservation `id`; the first holder of an
    /// id stays (a retry reaches the same one, and no other holder can take
    /// an id that is already kept).
    /// `held`: whether the reservation still holds units (a new one does).
    pub fn place(&self, id: ReservationId, holder: Holder, owner: Option<CustomerId>, held: bool) -> Placed {
        match self.placements.entry(id) {
            Entry::Occupied(entry) if entry.get().holder == holder => Placed::Already,
            Entry::Occupied(_) => Placed::Elsewhere,
            Entry::Vacant(entry) => {
                let placement = Placement { holder, owner, held };
                self.hold_slot(&placement);
                entry.insert(placement);
                Placed::New
            }
        }
    }

    /// Sets the owner of a bucket hold (restored from its `o` record).
    pub fn set_owner(&self, id: &ReservationId, owner: CustomerId) {
        if let Some(mut placement) = self.placements.get_mut(id) {
            if placement.owner.is_none() {
                placement.owner = Some(owner);
                self.hold_slot(&placement);
            }
        }
    }

    /// Makes `owner` the owner of reservation `id` unless someone else is.
    /// The slot `owner` took for the request stays taken only when the
    /// answer is [`Ownership::Taken`] with `slot`; otherwise the caller
    /// gives it back ([`ReservationIndex::give_slot`]).
    pub fn take_ownership(&self, id: &ReservationId, owner: &CustomerId) -> Ownership {
        let Some(mut placement) = self.placements.get_mut(id) else { return Ownership::Refused };
        match &placement.owner {
            Some(current) if current == owner => Ownership::Already,
            Some(_) => Ownership::Refused,
            None => {
                placement.owner = Some(owner.clone());
                Ownership::Taken { slot: placement.takes_slot() }
            }
        }
    }

    /// Takes one of `owner`'s `limit` slots for a reservation under way:
    /// `false` when all are taken.
    pub fn take_slot(&self, owner: &CustomerId, limit: u32) -> bool {
        let mut taken = self.slots.entry(owner.clone()).or_default();
        if *taken >= limit {
            return false;
        }
        *taken += 1;
        true
    }

    /// Gives back a slot taken by [`ReservationIndex::take_slot`] that no
    /// hold kept.
    pub fn give_slot(&self, owner: &CustomerId) {
        self.slots.remove_if_mut(owner, |_, taken| {
            *taken = taken.saturating_sub(1);
            *taken == 0
        });
    }

    /// Slots `owner` holds: their held bucket holds (and requests under way).
    pub fn slots_taken(&self, owner: &CustomerId) -> u32 {
        self.slots.get(owner).map_or(0, |taken| *taken)
    }

    /// Reservation `id` settled (committed, released, expired): an owned
    /// bucket hold gives its owner's slot back, once.
    pub fn settled(&self, id: &ReservationId) {
        let Some(mut placement) = self.placements.get_mut(id) else { return };
        self.free_slot(&placement);
        placement.held = false;
    }

    /// Counts the placement in its owner's slots, if it takes one.
    fn hold_slot(&self, placement: &Placement) {
        if let (true, Some(owner)) = (placement.takes_slot(), &placement.owner) {
            *self.slots.entry(owner.clone()).or_default() += 1;
        }
    }

    /// Gives back the slot the placement took, if it takes one.
    fn free_slot(&self, placement: &Placement) {
        if let (true, Some(owner)) = (placement.takes_slot(), &placement.owner) {
            self.give_slot(owner);
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

    /// Forgets `id` (its settled record was pruned, or a reserve that had
    /// placed it was refused).
    pub fn forget(&self, id: &ReservationId) {
        if let Some((_, placement)) = self.placements.remove(id) {
            self.free_slot(&placement);
        }
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
        assert_eq!(index.place(id("a"), claim.clone(), Some(alice.clone()), true), Placed::New);
        assert_eq!(index.place(id("a"), claim.clone(), None, true), Placed::Already, "a retry reaches the same holder");
        assert_eq!(
            index.place(id("a"), bucket.clone(), None, true),
            Placed::Elsewhere,
            "a bucket cannot take a claim's id"
        );
        assert_eq!((index.holder(&id("a")), index.owner(&id("a"))), (Some(claim), Some(alice.clone())));
        assert_eq!(index.place(id("b"), bucket.clone(), None, true), Placed::New);
        assert_eq!(index.owner(&id("b")), None);
        assert_eq!(index.take_ownership(&id("b"), &alice), Ownership::Taken { slot: true });
        assert_eq!(index.take_ownership(&id("b"), &alice), Ownership::Already);
        let bob = CustomerId::parse("cus_bob").unwrap();
        assert_eq!(index.take_ownership(&id("b"), &bob), Ownership::Refused, "a hold has one owner");
        assert_eq!(index.take_ownership(&id("none"), &bob), Ownership::Refused);
        assert_eq!((index.bucket(&id("b")), index.shard(&id("b"))), (bucket_key(&bucket), None));
        assert_eq!(index.owner(&id("b")), Some(alice));
        index.forget(&id("b"));
        assert_eq!((index.holder(&id("b")), index.len()), (None, 1));
    }

    #[test]
    fn a_customer_holds_at_most_the_limit_and_settling_gives_slots_back() {
        let index = ReservationIndex::default();
        let bucket = Holder::Bucket(BucketKey::new(Sku::parse("S").unwrap(), WarehouseId::parse("W").unwrap()));
        let claim = Holder::Deal(DealShardKey { deal: DealId::parse("deal_1").unwrap(), shard: 0 });
        let alice = CustomerId::parse("cus_alice").unwrap();
        index.place(id("claim"), claim, Some(alice.clone()), true);
        assert_eq!(index.slots_taken(&alice), 0, "deal claims do not count");
        for n in 0..3 {
            assert!(index.take_slot(&alice, 3));
            index.place(id(&format!("h{n}")), bucket.clone(), None, true);
            assert_eq!(index.take_ownership(&id(&format!("h{n}")), &alice), Ownership::Taken { slot: true });
        }
        assert!(!index.take_slot(&alice, 3), "all three slots are held");
        index.settled(&id("h0"));
        index.settled(&id("h0"));
        assert_eq!(index.slots_taken(&alice), 2, "a hold gives its slot back once");
        assert!(index.take_slot(&alice, 3));
        index.give_slot(&alice);
        index.forget(&id("h1"));
        index.forget(&id("h0"));
        assert_eq!(index.slots_taken(&alice), 1, "a forgotten held hold gives its slot back");
        // A hold that settled before its owner was recorded keeps no slot.
        assert!(index.take_slot(&alice, 3));
        index.place(id("quick"), bucket.clone(), None, true);
        index.settled(&id("quick"));
        assert_eq!(index.take_ownership(&id("quick"), &alice), Ownership::Taken { slot: false });
        index.give_slot(&alice);
        assert_eq!(index.slots_taken(&alice), 1);
        // Restored owners count their held holds.
        index.place(id("restored"), bucket, None, true);
        index.set_owner(&id("restored"), alice.clone());
        assert_eq!(index.slots_taken(&alice), 2);
    }

    fn bucket_key(holder: &Holder) -> Option<BucketKey> {
        match holder {
            Holder::Bucket(key) => Some(key.clone()),
            Holder::Deal(_) => None,
        }
    }
}
