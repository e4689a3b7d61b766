//! The keyspace: one ordered keyspace, a short prefix per record kind, parts
//! separated by a zero byte. Ids never contain a zero byte (they are validated
//! to `[A-Za-z0-9._-]`), so a prefix scan of `kind + id + 0` finds exactly the
//! records under that id.
//!
//! | prefix | key                               | value                       |
//! |--------|-----------------------------------|-----------------------------|
//! | `b`    | sku 0 warehouse                   | bucket counters             |
//! | `h`    | sku 0 warehouse 0 reservation     | one hold                    |
//! | `S`    | sku 0 warehouse 0 deal            | units (u64) a flash deal holds in that bucket |
//! | `k`    | cart                              | a cart exists (its meta)    |
//! | `c`    | cart 0 list 0 sku                 | one cart line               |
//! | `m`    | cart 0 source cart                | a merge already applied     |
//! | `L`    | cart                              | the day (u32) a guest cart was last used |
//! | `G`    | day (u32 big-endian) cart         | a guest cart last used that day (the sweep's index) |
//! | `w`    | warehouse                         | a warehouse                 |
//! | `p`    | product                           | a product with its variants |
//! | `d`    | deal                              | the deal's terms and shards |
//! | `q`    | deal 0 shard 0 placed (16 hex digits, ms) 0 claim | one claim (older builds wrote `deal 0 shard 0 claim`; a shard rewrites those when it loads) |
//! | `g`    | deal 0 shard                      | units moved in (+) or out   |
//! | `l`    | deal 0 ticket (20 digits)         | a customer on the waitlist  |
//! | `f`    | deal 0 customer                   | the claim offered to them   |
//! | `r`    | deal 0 shard 0 nonce              | unsold units on their way back to the SKU's stock |
//! | `O`    | deal                              | the deal's options beyond its first terms (its claim hold) |
//! | `M`    | deal 0 shard 0 nonce              | free units one shard gave to another (`shard`), not yet taken |
//! | `z`    | deal                              | the deal ended and gave back every unsold unit |
//! | `D`    | deal                              | the buckets the deal took its units from (deals whose units stay in their buckets as deal-held; a deal without one is of the withdrawn kind of older builds) |
//! | `Q`    | claim                             | where a sold claim's units were sold from (and whether they shipped or came back) |
//! | `P`    | deal 0 nonce                      | a change of the deal's units in one bucket still to be made |
//! | `o`    | reservation                       | the customer who made it    |
//! | `i`    | idempotency scope (hex digest)    | the first response, as stored before `I` (moved to `I` at open) |
//! | `I`    | hour made (u32 big-endian) scope  | the first response          |
//! | `u`    | customer                          | a customer                  |
//! | `s`    | customer                          | the seller they act for     |
//! | `n`    | customer                          | their Prime membership (older builds; moved to `N` at open) |
//! | `N`    | customer                          | their paid Prime membership |
//! | `x`    | email (lowercase)                 | the customer id owning it   |
//! | `t`    | sha-256 of a session token (hex)  | a session                   |
//! | `a`    | checkout                          | a checkout session (its owner, steps, placing order) |
//! | `v`    | order                             | an order with its holds and pending undo |
//! | `V`    | created_at (16 hex digits) 0 order | the order's summary, for lists newest first |
//! | `j`    | order                             | a place-order saga not yet finished |
//! | `T`    | order 0 task                      | a stock change an order still owes a bucket |
//! | `y`    | sequence (u64 big-endian)         | one change of the payment state (write-ahead) |
//! | `e`    | sequence (u64 big-endian)         | one event of the event log  |
//! | `W`    | sequence (u64 big-endian)         | a multi-key write being applied (see `write_sled`) |

use crate::engine::{
    BucketKey, CartId, CartList, CheckoutId, CustomerId, DealId, OrderId, ProductId, ReservationId, Sku, Timestamp,
    WarehouseId,
};

pub const BUCKET: u8 = b'b';
pub const HOLD: u8 = b'h';
pub const BUCKET_STAKE: u8 = b'S';
pub const CART_META: u8 = b'k';
pub const CART_LINE: u8 = b'c';
pub const CART_MERGE: u8 = b'm';
pub const EVENT: u8 = b'e';
pub const WAREHOUSE: u8 = b'w';
pub const PRODUCT: u8 = b'p';
pub const CUSTOMER: u8 = b'u';
pub const SELLER_LINK: u8 = b's';
pub const MEMBERSHIP: u8 = b'n';
pub const PAID_MEMBERSHIP: u8 = b'N';
pub const OWNER: u8 = b'o';
pub const DEAL: u8 = b'd';
pub const CLAIM: u8 = b'q';
pub const DEAL_MOVED: u8 = b'g';
pub const WAITLIST: u8 = b'l';
pub const WAITLIST_OFFER: u8 = b'f';
pub const DEAL_RETURN: u8 = b'r';
pub const DEAL_TRANSFER: u8 = b'M';
pub const DEAL_OPTIONS: u8 = b'O';
pub const DEAL_CLOSED: u8 = b'z';
pub const DEAL_SOURCES: u8 = b'D';
pub const CLAIM_SALE: u8 = b'Q';
pub const STAKE_OP: u8 = b'P';
pub const CART_USED: u8 = b'L';
pub const CART_IDLE: u8 = b'G';
pub const IDEMPOTENCY: u8 = b'i';
pub const IDEMPOTENCY_BY_HOUR: u8 = b'I';
pub const EMAIL: u8 = b'x';
pub const SESSION: u8 = b't';
pub const CHECKOUT: u8 = b'a';
pub const ORDER: u8 = b'v';
pub const SAGA: u8 = b'j';
pub const ORDER_TASK: u8 = b'T';
pub const ORDER_SUMMARY: u8 = b'V';
pub const PAYMENT_LOG: u8 = b'y';
pub const INTENT: u8 = b'W';

/// Every record kind's prefix.
pub const ALL: &[u8] = &[
    BUCKET,
    HOLD,
    BUCKET_STAKE,
    CART_META,
    CART_LINE,
    CART_MERGE,
    CART_USED,
    CART_IDLE,
    EVENT,
    WAREHOUSE,
    PRODUCT,
    CUSTOMER,
    SELLER_LINK,
    MEMBERSHIP,
    PAID_MEMBERSHIP,
    OWNER,
    DEAL,
    CLAIM,
    DEAL_MOVED,
    WAITLIST,
    WAITLIST_OFFER,
    DEAL_RETURN,
    DEAL_TRANSFER,
    DEAL_OPTIONS,
    DEAL_CLOSED,
    DEAL_SOURCES,
    CLAIM_SALE,
    STAKE_OP,
    IDEMPOTENCY,
    IDEMPOTENCY_BY_HOUR,
    EMAIL,
    SESSION,
    CHECKOUT,
    ORDER,
    SAGA,
    ORDER_TASK,
    ORDER_SUMMARY,
    PAYMENT_LOG,
    INTENT,
];

const SEP: u8 = 0;

fn key(prefix: u8, parts: &[&str]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|part| part.len() + 1).sum::<usize>();
    let mut key = Vec::with_capacity(len);
    key.push(prefix);
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            key.push(SEP);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

fn with_sep(mut key: Vec<u8>) -> Vec<u8> {
    key.push(SEP);
    key
}

pub fn bucket(key: &BucketKey) -> Vec<u8> {
    self::key(BUCKET, &[key.sku.as_str(), key.warehouse.as_str()])
}

pub fn hold(bucket: &BucketKey, id: &ReservationId) -> Vec<u8> {
    self::key(HOLD, &[bucket.sku.as_str(), bucket.warehouse.as_str(), id.as_str()])
}

/// Prefix of every hold of one bucket.
pub fn holds_of(bucket: &BucketKey) -> Vec<u8> {
    with_sep(self::key(HOLD, &[bucket.sku.as_str(), bucket.warehouse.as_str()]))
}

fn list_tag(list: CartList) -> &'static str {
    match list {
        CartList::Lines => "l",
        CartList::Saved => "s",
    }
}

/// The cart of a cart meta key.
pub fn parse_cart_meta(key: &[u8]) -> Option<CartId> {
    let raw = key.strip_prefix(&[CART_META])?;
    CartId::parse(std::str::from_utf8(raw).ok()?).ok()
}

pub fn cart_meta(cart: &CartId) -> Vec<u8> {
    self::key(CART_META, &[cart.as_str()])
}

pub fn cart_line(cart: &CartId, list: CartList, sku: &Sku) -> Vec<u8> {
    self::key(CART_LINE, &[cart.as_str(), list_tag(list), sku.as_str()])
}

pub fn cart_lines_of(cart: &CartId) -> Vec<u8> {
    with_sep(self::key(CART_LINE, &[cart.as_str()]))
}

pub fn cart_merge(cart: &CartId, source: &CartId) -> Vec<u8> {
    self::key(CART_MERGE, &[cart.as_str(), source.as_str()])
}

pub fn cart_merges_of(cart: &CartId) -> Vec<u8> {
    with_sep(self::key(CART_MERGE, &[cart.as_str()]))
}

/// How long one day of the guest-cart index spans.
pub const DAY_MS: u64 = 86_400_000;

/// The day of `at` (days since the Unix epoch, UTC).
pub fn day(at: crate::engine::Timestamp) -> u32 {
    u32::try_from(at.as_millis() / DAY_MS).unwrap_or(u32::MAX)
}

/// The day a guest cart was last used.
pub fn cart_used(cart: &CartId) -> Vec<u8> {
    self::key(CART_USED, &[cart.as_str()])
}

/// A guest cart under the day it was last used: ordered by day, so the
/// sweep reads only the days past the idle time.
pub fn cart_idle(day: u32, cart: &CartId) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + cart.as_str().len());
    key.push(CART_IDLE);
    key.extend_from_slice(&day.to_be_bytes());
    key.extend_from_slice(cart.as_str().as_bytes());
    key
}

/// The day and cart of a key of [`cart_idle`].
pub fn parse_cart_idle(key: &[u8]) -> Option<(u32, CartId)> {
    let rest = key.strip_prefix(&[CART_IDLE])?;
    let (day, cart) = rest.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*day), CartId::parse(std::str::from_utf8(cart).ok()?).ok()?))
}

/// A remembered response as stored before responses were kept by the hour
/// (read once at open, to move it to its hour).
pub fn idempotency(scope_digest: &str) -> Vec<u8> {
    self::key(IDEMPOTENCY, &[scope_digest])
}

/// The scope digest of a key of [`idempotency`].
pub fn idempotency_scope(key: &[u8]) -> Option<&[u8]> {
    key.strip_prefix(&[IDEMPOTENCY])
}

/// How long one hour of remembered responses spans.
pub const IDEMPOTENCY_HOUR_MS: u64 = 3_600_000;

/// The hour a response remembered at `created_at` is kept under.
pub fn idempotency_hour(created_at: crate::engine::Timestamp) -> u32 {
    u32::try_from(created_at.as_millis() / IDEMPOTENCY_HOUR_MS).unwrap_or(u32::MAX)
}

/// A remembered response, under the hour it was made in: ordered by time,
/// so the sweep deletes whole hours by reading keys only, and no second key
/// per response is needed to find what is due.
pub fn idempotency_at(hour: u32, scope_digest: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(5 + scope_digest.len());
    key.push(IDEMPOTENCY_BY_HOUR);
    key.extend_from_slice(&hour.to_be_bytes());
    key.extend_from_slice(scope_digest.as_bytes());
    key
}

/// The hour and scope digest of a key of [`idempotency_at`].
pub fn parse_idempotency_at(key: &[u8]) -> Option<(u32, &[u8])> {
    let rest = key.strip_prefix(&[IDEMPOTENCY_BY_HOUR])?;
    let (hour, scope) = rest.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*hour), scope))
}

pub fn deal(id: &DealId) -> Vec<u8> {
    self::key(DEAL, &[id.as_str()])
}

/// A claim's record. The time it was placed comes before its id, so a
/// shard's new claims are written at the end of its range, not at random
/// places across it (claim ids are random): the store's tree grows at one
/// edge, and expiry rewrites claims in the order they were placed.
pub fn claim(deal: &DealId, shard: u32, placed: Timestamp, id: &ReservationId) -> Vec<u8> {
    let placed = format!("{:016x}", placed.as_millis());
    self::key(CLAIM, &[deal.as_str(), &shard.to_string(), &placed, id.as_str()])
}

pub fn claims_of(deal: &DealId, shard: u32) -> Vec<u8> {
    with_sep(self::key(CLAIM, &[deal.as_str(), &shard.to_string()]))
}

/// A claim record's deal, shard and id, from either layout (with the time
/// placed, or the older one without).
pub fn parse_claim(key: &[u8]) -> Option<(DealId, u32, ReservationId)> {
    match parts(key, CLAIM)?.as_slice() {
        [deal, shard, id] | [deal, shard, _, id] => {
            Some((DealId::parse(deal).ok()?, shard.parse().ok()?, ReservationId::parse(id).ok()?))
        }
        _ => None,
    }
}

pub fn waitlist_entry(deal: &DealId, ticket: u64) -> Vec<u8> {
    self::key(WAITLIST, &[deal.as_str(), &format!("{ticket:020}")])
}

pub fn parse_waitlist_entry(key: &[u8]) -> Option<(DealId, u64)> {
    match parts(key, WAITLIST)?.as_slice() {
        [deal, ticket] => Some((DealId::parse(deal).ok()?, ticket.parse().ok()?)),
        _ => None,
    }
}

pub fn waitlist_offer(deal: &DealId, customer: &CustomerId) -> Vec<u8> {
    self::key(WAITLIST_OFFER, &[deal.as_str(), customer.as_str()])
}

pub fn parse_waitlist_offer(key: &[u8]) -> Option<(DealId, CustomerId)> {
    match parts(key, WAITLIST_OFFER)?.as_slice() {
        [deal, customer] => Some((DealId::parse(deal).ok()?, CustomerId::parse(customer).ok()?)),
        _ => None,
    }
}

/// A return of unsold units; `nonce` tells apart the returns of one shard.
pub fn deal_return(deal: &DealId, shard: u32, nonce: u128) -> Vec<u8> {
    self::key(DEAL_RETURN, &[deal.as_str(), &shard.to_string(), &format!("{nonce:032x}")])
}

pub fn parse_deal_return(key: &[u8]) -> Option<DealId> {
    match parts(key, DEAL_RETURN)?.as_slice() {
        [deal, _, _] => DealId::parse(deal).ok(),
        _ => None,
    }
}

/// The options of `deal` not in its first record ([`DEAL_OPTIONS`]).
pub fn deal_options(deal: &DealId) -> Vec<u8> {
    self::key(DEAL_OPTIONS, &[deal.as_str()])
}

pub fn parse_deal_options(key: &[u8]) -> Option<DealId> {
    match parts(key, DEAL_OPTIONS)?.as_slice() {
        [deal] => DealId::parse(deal).ok(),
        _ => None,
    }
}

/// Free units given to shard `to` of `deal` by another shard and not yet
/// taken by it; `nonce` tells the transfers apart.
pub fn deal_transfer(deal: &DealId, to: u32, nonce: u128) -> Vec<u8> {
    self::key(DEAL_TRANSFER, &[deal.as_str(), &to.to_string(), &format!("{nonce:032x}")])
}

/// Prefix of every transfer to shard `to` of `deal`.
pub fn deal_transfers_to(deal: &DealId, to: u32) -> Vec<u8> {
    with_sep(self::key(DEAL_TRANSFER, &[deal.as_str(), &to.to_string()]))
}

pub fn parse_deal_transfer(key: &[u8]) -> Option<DealId> {
    match parts(key, DEAL_TRANSFER)?.as_slice() {
        [deal, _, _] => DealId::parse(deal).ok(),
        _ => None,
    }
}

/// The units `deal` holds in one bucket.
pub fn bucket_stake(bucket: &BucketKey, deal: &DealId) -> Vec<u8> {
    self::key(BUCKET_STAKE, &[bucket.sku.as_str(), bucket.warehouse.as_str(), deal.as_str()])
}

/// Prefix of every deal's stake in one bucket.
pub fn bucket_stakes_of(bucket: &BucketKey) -> Vec<u8> {
    with_sep(self::key(BUCKET_STAKE, &[bucket.sku.as_str(), bucket.warehouse.as_str()]))
}

pub fn parse_bucket_stake(key: &[u8]) -> Option<(BucketKey, DealId)> {
    match parts(key, BUCKET_STAKE)?.as_slice() {
        [sku, warehouse, deal] => Some((
            BucketKey::new(Sku::parse(sku).ok()?, WarehouseId::parse(warehouse).ok()?),
            DealId::parse(deal).ok()?,
        )),
        _ => None,
    }
}

pub fn deal_sources(deal: &DealId) -> Vec<u8> {
    self::key(DEAL_SOURCES, &[deal.as_str()])
}

pub fn parse_deal_sources(key: &[u8]) -> Option<DealId> {
    match parts(key, DEAL_SOURCES)?.as_slice() {
        [deal] => DealId::parse(deal).ok(),
        _ => None,
    }
}

pub fn claim_sale(claim: &ReservationId) -> Vec<u8> {
    self::key(CLAIM_SALE, &[claim.as_str()])
}

pub fn parse_claim_sale(key: &[u8]) -> Option<ReservationId> {
    match parts(key, CLAIM_SALE)?.as_slice() {
        [claim] => ReservationId::parse(claim).ok(),
        _ => None,
    }
}

/// A pending change of a deal's units in one bucket; `nonce` tells them apart.
pub fn stake_op(deal: &DealId, nonce: u128) -> Vec<u8> {
    self::key(STAKE_OP, &[deal.as_str(), &format!("{nonce:032x}")])
}

pub fn deal_closed(deal: &DealId) -> Vec<u8> {
    self::key(DEAL_CLOSED, &[deal.as_str()])
}

pub fn parse_deal_closed(key: &[u8]) -> Option<DealId> {
    match parts(key, DEAL_CLOSED)?.as_slice() {
        [deal] => DealId::parse(deal).ok(),
        _ => None,
    }
}

pub fn deal_moved(deal: &DealId, shard: u32) -> Vec<u8> {
    self::key(DEAL_MOVED, &[deal.as_str(), &shard.to_string()])
}

pub fn parse_deal_moved(key: &[u8]) -> Option<(DealId, u32)> {
    match parts(key, DEAL_MOVED)?.as_slice() {
        [deal, shard] => Some((DealId::parse(deal).ok()?, shard.parse().ok()?)),
        _ => None,
    }
}

pub fn parse_stake_op(key: &[u8]) -> Option<DealId> {
    match parts(key, STAKE_OP)?.as_slice() {
        [deal, _] => DealId::parse(deal).ok(),
        _ => None,
    }
}

pub fn owner(reservation: &ReservationId) -> Vec<u8> {
    self::key(OWNER, &[reservation.as_str()])
}

pub fn parse_owner(key: &[u8]) -> Option<ReservationId> {
    match parts(key, OWNER)?.as_slice() {
        [id] => ReservationId::parse(id).ok(),
        _ => None,
    }
}

pub fn membership(customer: &CustomerId) -> Vec<u8> {
    self::key(MEMBERSHIP, &[customer.as_str()])
}

pub fn parse_membership(key: &[u8]) -> Option<CustomerId> {
    match parts(key, MEMBERSHIP)?.as_slice() {
        [id] => CustomerId::parse(id).ok(),
        _ => None,
    }
}

pub fn paid_membership(customer: &CustomerId) -> Vec<u8> {
    self::key(PAID_MEMBERSHIP, &[customer.as_str()])
}

pub fn parse_paid_membership(key: &[u8]) -> Option<CustomerId> {
    match parts(key, PAID_MEMBERSHIP)?.as_slice() {
        [id] => CustomerId::parse(id).ok(),
        _ => None,
    }
}

pub fn seller_link(customer: &CustomerId) -> Vec<u8> {
    self::key(SELLER_LINK, &[customer.as_str()])
}

pub fn parse_seller_link(key: &[u8]) -> Option<CustomerId> {
    match parts(key, SELLER_LINK)?.as_slice() {
        [id] => CustomerId::parse(id).ok(),
        _ => None,
    }
}

pub fn customer(id: &CustomerId) -> Vec<u8> {
    self::key(CUSTOMER, &[id.as_str()])
}

pub fn email(email: &str) -> Vec<u8> {
    self::key(EMAIL, &[email])
}

pub fn session(token_digest: &str) -> Vec<u8> {
    self::key(SESSION, &[token_digest])
}

/// The token digest of a session key.
pub fn parse_session(key: &[u8]) -> Option<String> {
    let (&first, rest) = key.split_first()?;
    if first != SESSION {
        return None;
    }
    std::str::from_utf8(rest).ok().map(str::to_owned)
}

pub fn product(id: &ProductId) -> Vec<u8> {
    self::key(PRODUCT, &[id.as_str()])
}

pub fn warehouse(id: &WarehouseId) -> Vec<u8> {
    self::key(WAREHOUSE, &[id.as_str()])
}

pub fn checkout(id: &CheckoutId) -> Vec<u8> {
    self::key(CHECKOUT, &[id.as_str()])
}

pub fn order(id: &OrderId) -> Vec<u8> {
    self::key(ORDER, &[id.as_str()])
}

pub fn saga(id: &OrderId) -> Vec<u8> {
    self::key(SAGA, &[id.as_str()])
}

pub fn order_task(id: &OrderId, task: &str) -> Vec<u8> {
    self::key(ORDER_TASK, &[id.as_str(), task])
}

/// An order's summary, ordered by creation time then id.
pub fn order_summary(created_at: crate::engine::Timestamp, id: &OrderId) -> Vec<u8> {
    self::key(ORDER_SUMMARY, &[&format!("{:016x}", created_at.as_millis()), id.as_str()])
}

/// The order of an `order_summary` key.
pub fn parse_order_summary(key: &[u8]) -> Option<OrderId> {
    match parts(key, ORDER_SUMMARY)?.as_slice() {
        [_, order] => OrderId::parse(order).ok(),
        _ => None,
    }
}

/// The order of an `order` key.
pub fn parse_order(key: &[u8]) -> Option<OrderId> {
    match parts(key, ORDER)?.as_slice() {
        [order] => OrderId::parse(order).ok(),
        _ => None,
    }
}

pub fn parse_order_task(key: &[u8]) -> Option<OrderId> {
    match parts(key, ORDER_TASK)?.as_slice() {
        [order, _] => OrderId::parse(order).ok(),
        _ => None,
    }
}

/// `prefix` then `seq` big-endian, so the records sort by sequence.
fn sequenced(prefix: u8, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(prefix);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn payment_log(seq: u64) -> Vec<u8> {
    sequenced(PAYMENT_LOG, seq)
}

pub fn parse_payment_log(key: &[u8]) -> Option<u64> {
    let (&first, rest) = key.split_first()?;
    if first != PAYMENT_LOG {
        return None;
    }
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

pub fn event(seq: u64) -> Vec<u8> {
    sequenced(EVENT, seq)
}

pub fn intent(seq: u64) -> Vec<u8> {
    sequenced(INTENT, seq)
}

fn parts(key: &[u8], prefix: u8) -> Option<Vec<&str>> {
    let (&first, rest) = key.split_first()?;
    if first != prefix {
        return None;
    }
    rest.split(|&b| b == SEP).map(|part| std::str::from_utf8(part).ok()).collect()
}

pub fn parse_bucket(key: &[u8]) -> Option<BucketKey> {
    match parts(key, BUCKET)?.as_slice() {
        [sku, warehouse] => Some(BucketKey::new(Sku::parse(sku).ok()?, WarehouseId::parse(warehouse).ok()?)),
        _ => None,
    }
}

pub fn parse_hold(key: &[u8]) -> Option<(BucketKey, ReservationId)> {
    match parts(key, HOLD)?.as_slice() {
        [sku, warehouse, id] => Some((
            BucketKey::new(Sku::parse(sku).ok()?, WarehouseId::parse(warehouse).ok()?),
            ReservationId::parse(id).ok()?,
        )),
        _ => None,
    }
}

pub fn parse_cart_line(key: &[u8]) -> Option<(CartId, CartList, Sku)> {
    match parts(key, CART_LINE)?.as_slice() {
        [cart, tag, sku] => {
            let list = match *tag {
                "l" => CartList::Lines,
                "s" => CartList::Saved,
                _ => return None,
            };
            Some((CartId::parse(cart).ok()?, list, Sku::parse(sku).ok()?))
        }
        _ => None,
    }
}

pub fn parse_cart_merge(key: &[u8]) -> Option<(CartId, CartId)> {
    match parts(key, CART_MERGE)?.as_slice() {
        [cart, source] => Some((CartId::parse(cart).ok()?, CartId::parse(source).ok()?)),
        _ => None,
    }
}

pub fn parse_event(key: &[u8]) -> Option<u64> {
    let (&first, rest) = key.split_first()?;
    if first != EVENT {
        return None;
    }
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_key() -> BucketKey {
        BucketKey::new(Sku::parse("P-1").unwrap(), WarehouseId::parse("W-EAST").unwrap())
    }

    #[test]
    fn keys_parse_back_to_their_parts() {
        let id = ReservationId::parse("res_1").unwrap();
        assert_eq!(parse_bucket(&bucket(&bucket_key())), Some(bucket_key()));
        assert_eq!(parse_hold(&hold(&bucket_key(), &id)), Some((bucket_key(), id)));
        let cart = CartId::parse("cart_1").unwrap();
        let sku = Sku::parse("S").unwrap();
        assert_eq!(
            parse_cart_line(&cart_line(&cart, CartList::Saved, &sku)),
            Some((cart.clone(), CartList::Saved, sku))
        );
        assert_eq!(parse_event(&event(258)), Some(258));
    }

    #[test]
    fn a_prefix_scan_cannot_reach_a_longer_id() {
        let short = BucketKey::new(Sku::parse("P-1").unwrap(), WarehouseId::parse("W").unwrap());
        let long = BucketKey::new(Sku::parse("P-1").unwrap(), WarehouseId::parse("W2").unwrap());
        let id = ReservationId::parse("r").unwrap();
        assert!(hold(&short, &id).starts_with(&holds_of(&short)));
        assert!(!hold(&long, &id).starts_with(&holds_of(&short)));
    }

    #[test]
    fn a_shards_claims_sort_by_the_time_they_were_placed_and_both_layouts_parse() {
        let deal = DealId::parse("deal_1").unwrap();
        let late = ReservationId::parse("res_0").unwrap();
        let early = ReservationId::parse("res_f").unwrap();
        let at = |millis| Timestamp::from_millis(millis);
        assert!(claim(&deal, 3, at(999), &early) < claim(&deal, 3, at(1_000), &late));
        assert!(claim(&deal, 3, at(1), &early).starts_with(&claims_of(&deal, 3)));
        assert!(!claim(&deal, 3, at(1), &early).starts_with(&claims_of(&deal, 1)));
        let expected = Some((deal.clone(), 3, late.clone()));
        assert_eq!(parse_claim(&claim(&deal, 3, at(u64::MAX), &late)), expected);
        let older = key(CLAIM, &[deal.as_str(), "3", late.as_str()]);
        assert_eq!(parse_claim(&older), expected);
    }

    #[test]
    fn event_keys_sort_by_sequence() {
        assert!(event(255) < event(256));
        assert!(event(1) < event(u64::MAX));
    }
}
