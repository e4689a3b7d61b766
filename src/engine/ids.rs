//! Identifiers. Parsed once at the edge into newtypes; the engine never sees a
//! raw string that has not been validated.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains {found:?}; allowed are letters, digits, '-', '_' and '.'")]
    InvalidCharacter { kind: &'static str, found: char },
}

/// Longest accepted identifier, in bytes (all accepted characters are ASCII).
pub const ID_LEN_MAX: usize = 64;

fn validate(kind: &'static str, raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if raw.len() > ID_LEN_MAX {
        return Err(IdError::TooLong { kind, max: ID_LEN_MAX });
    }
    match raw.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        Some(found) => Err(IdError::InvalidCharacter { kind, found }),
        None => Ok(()),
    }
}

/// Lowercase hex of `bytes`, two digits per byte: how digests become
/// identifiers (session token digests, idempotency scopes, card
/// fingerprints). Written out because `hex::encode` goes through a `char`
/// iterator, which cost several times as much on the hot path of a claim.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        ///
        /// The text is shared, not copied, between the clones of an id (a
        /// claim's id sits in its shard, in the reservation index and in its
        /// customer's list): a clone costs a reference count.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Prefix of server-generated ids of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Validates `raw` (1..=64 characters of `[A-Za-z0-9._-]`).
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                validate($kind, raw)?;
                Ok($name(Arc::from(raw)))
            }

            /// A new unguessable id from 128 random bits supplied by the caller:
            /// the prefix, an underscore and 32 lowercase hex digits.
            pub fn generate(random: u128) -> Self {
                $name(Arc::from(format!("{}_{:032x}", $prefix, random)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A stock-keeping unit: one buyable variant of a product.
    Sku, "sku", "sku"
);
string_id!(
    /// A warehouse that holds stock.
    WarehouseId, "warehouse id", "wh"
);
string_id!(
    /// A hold on stock (two-phase reservation).
    ReservationId, "reservation id", "res"
);
string_id!(
    /// A cart (guest or customer).
    CartId, "cart id", "cart"
);
string_id!(
    /// A registered customer.
    CustomerId, "customer id", "cus"
);

string_id!(
    /// A product (which groups variants, each a SKU).
    ProductId, "product id", "prod"
);
string_id!(
    /// A seller that owns products.
    SellerId, "seller id", "seller"
);

impl SellerId {
    /// The store's own seller, whose products nobody else sells.
    pub const HOUSE: &'static str = "mercato";

    pub fn house() -> Self {
        SellerId(Arc::from(SellerId::HOUSE))
    }
}

string_id!(
    /// A flash deal.
    DealId, "deal id", "deal"
);

string_id!(
    /// An order.
    OrderId, "order id", "ord"
);
string_id!(
    /// A checkout session (a cart on its way to becoming an order).
    CheckoutId, "checkout id", "chk"
);
string_id!(
    /// A payment authorization at the gateway (captures and refunds act on it).
    PaymentId, "payment id", "pay"
);
string_id!(
    /// A stored card: what the gateway charges instead of the card number.
    CardToken, "card token", "tok"
);
string_id!(
    /// The code of a gift card.
    GiftCardCode, "gift card code", "gc"
);

string_id!(
    /// One parcel group of an order: the lines one warehouse sends.
    ShipmentId, "shipment id", "shp"
);

/// An authorization is identified by its payment id.
pub type AuthorizationId = PaymentId;

/// The address of one inventory bucket: a SKU's stock in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BucketKey {
    pub sku: Sku,
    pub warehouse: WarehouseId,
}

impl BucketKey {
    pub fn new(sku: Sku, warehouse: WarehouseId) -> Self {
        BucketKey { sku, warehouse }
    }
}

impl fmt::Display for BucketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.sku, self.warehouse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_sku_parses_and_bad_ones_are_rejected() {
        assert_eq!(Sku::parse("P-1001-BLK").map(|s| s.to_string()), Ok("P-1001-BLK".to_owned()));
        assert_eq!(Sku::parse(""), Err(IdError::Empty { kind: "sku" }));
        assert!(matches!(Sku::parse("a b"), Err(IdError::InvalidCharacter { found: ' ', .. })));
        assert!(matches!(Sku::parse(&"x".repeat(65)), Err(IdError::TooLong { .. })));
        assert!(Sku::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex_lower(&[]), "");
        assert_eq!(hex_lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let every_byte: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_lower(&every_byte), hex::encode(&every_byte));
    }

    #[test]
    fn generated_ids_carry_their_prefix_and_128_bits() {
        let id = ReservationId::generate(0xdead_beef);
        assert_eq!(id.as_str(), "res_000000000000000000000000deadbeef");
        assert!(ReservationId::parse(id.as_str()).is_ok());
    }

    #[test]
    fn checkout_ids_carry_their_prefixes() {
        assert!(OrderId::generate(1).as_str().starts_with("ord_"));
        assert!(CheckoutId::generate(1).as_str().starts_with("chk_"));
        assert!(AuthorizationId::generate(1).as_str().starts_with("pay_"));
        assert!(CardToken::generate(1).as_str().starts_with("tok_"));
        assert!(GiftCardCode::generate(1).as_str().starts_with("gc_"));
    }
}
