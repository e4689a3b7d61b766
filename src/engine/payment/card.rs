//! Card tokenization: a card number in, a storable [`CardRecord`] out.
//!
//! The number and CVC live only in [`CardInput`], which is neither `Serialize`
//! nor printable (its `Debug` redacts them). The record keeps the brand, the
//! last four digits, the expiry and a fingerprint: a keyed digest of the
//! number (HMAC-SHA256 under the server's secret key, which the caller
//! applies), so fraud rules can count uses of one card without storing it,
//! and a copy of the store does not give the number away (an unkeyed hash
//! of a card number is brute-forced in seconds).

use super::DeclineCode;
use crate::engine::ids::CardToken;
use crate::engine::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A card as the customer typed it. Never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct CardInput {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl fmt::Debug for CardInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardInput")
            .field("number", &"[redacted]")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"[redacted]")
            .finish()
    }
}

/// Why a card is refused at tokenization (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("card number must be 12 to 19 digits")]
    InvalidNumber,
    #[error("card number fails the Luhn check")]
    LuhnCheckFailed,
    #[error("expiry month must be 1..=12")]
    InvalidExpiryMonth,
    #[error("card has expired")]
    Expired,
    #[error("cvc must be 3 or 4 digits")]
    InvalidCvc,
    #[error("billing_country must be two uppercase letters")]
    InvalidBillingCountry,
}

/// Card network, by number prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Unknown,
}

/// A stable keyed digest of a card number (64 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CardFingerprint(String);

impl CardFingerprint {
    /// The purpose label card numbers are digested under.
    pub const LABEL: &'static [u8] = b"mercato-card-v2";

    /// The fingerprint of a digest of the card number's digits.
    pub fn from_digest(digest: &[u8; 32]) -> CardFingerprint {
        CardFingerprint(crate::engine::hex_lower(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the simulated gateway answers for a card, decided at tokenization from
/// the test numbers: 4000000000000002 is declined, 4000000000009995 has
/// insufficient funds, 4000000000000119 fails with a processing error, and
/// every other valid card (4242424242424242 among them) is approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedBehaviour {
    Approve,
    Decline(DeclineCode),
}

/// A tokenized card: what is stored instead of the number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRecord {
    pub token: CardToken,
    pub brand: CardBrand,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub fingerprint: CardFingerprint,
    pub behaviour: SimulatedBehaviour,
}

impl CardRecord {
    /// Whether the card can still be charged at `now` (valid through the last
    /// day of its expiry month, UTC).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        let (year, month) = year_month(now);
        (self.exp_year, self.exp_month) < (year, month)
    }
}

/// Validates `input` and returns the record to store under `token`.
///
/// The number may contain spaces and dashes; after removing them it must be
/// 12..=19 digits passing Luhn. The card must not have expired by `now` and
/// the CVC must be 3 or 4 digits.
/// `fingerprint` digests the number's digits (the caller holds the key).
pub fn tokenize(
    input: &CardInput,
    token: CardToken,
    now: Timestamp,
    fingerprint: impl FnOnce(&str) -> CardFingerprint,
) -> Result<CardRecord, CardError> {
    let digits: String = input.number.chars().filter(|c| *c != ' ' && *c != '-').collect();
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::InvalidNumber);
    }
    if !luhn_valid(&digits) {
        return Err(CardError::LuhnCheckFailed);
    }
    if !(1..=12).contains(&input.exp_month) {
        return Err(CardError::InvalidExpiryMonth);
    }
    if !(3..=4).contains(&input.cvc.len()) || !input.cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::InvalidCvc);
    }
    let behaviour = match digits.as_str() {
        "4000000000000002" => SimulatedBehaviour::Decline(DeclineCode::CardDeclined),
        "4000000000009995" => SimulatedBehaviour::Decline(DeclineCode::InsufficientFunds),
        "4000000000000119" => SimulatedBehaviour::Decline(DeclineCode::ProcessingError),
        _ => SimulatedBehaviour::Approve,
    };
    let record = CardRecord {
        token,
        brand: brand_of(&digits),
        last4: digits[digits.len() - 4..].to_owned(),
        exp_month: input.exp_month,
        exp_year: input.exp_year,
        fingerprint: fingerprint(&digits),
        behaviour,
    };
    if record.is_expired(now) {
        return Err(CardError::Expired);
    }
    Ok(record)
}

/// The Luhn checksum of an all-digit string.
pub fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits, false).is_multiple_of(10)
}

/// The digit that makes `body` (all digits) Luhn-valid when appended: how
/// test and load-test card numbers are made.
pub fn luhn_check_digit(body: &str) -> char {
    let digit = (10 - luhn_sum(body, true) % 10) % 10;
    char::from_digit(digit, 10).unwrap_or('0')
}

/// Luhn's sum from the rightmost digit, doubling every second one; with
/// `appending`, the rightmost digit of `digits` is the first doubled (a check
/// digit will follow it).
fn luhn_sum(digits: &str, appending: bool) -> u32 {
    digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte.wrapping_sub(b'0'));
            match ((index % 2 == 1) != appending, digit * 2) {
                (false, _) => digit,
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
            }
        })
        .sum()
}

fn brand_of(digits: &str) -> CardBrand {
    let prefix = |len: usize| digits.get(..len).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    match (prefix(1), prefix(2), prefix(4)) {
        (4, _, _) => CardBrand::Visa,
        (_, 51..=55, _) | (_, _, 2221..=2720) => CardBrand::Mastercard,
        (_, 34 | 37, _) => CardBrand::Amex,
        (_, 65, _) | (_, _, 6011) => CardBrand::Discover,
        _ => CardBrand::Unknown,
    }
}

/// The UTC (year, month) of a timestamp (civil-from-days, Howard Hinnant).
pub fn year_month(at: Timestamp) -> (u32, u32) {
    let days = at.as_millis() / 86_400_000;
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (u32::try_from(year).unwrap_or(u32::MAX), u32::try_from(month).unwrap_or(12))
}

/// A fingerprint for tests: the digits' SHA-256 (the server keys it).
#[cfg(test)]
pub(crate) fn test_fingerprint(digits: &str) -> CardFingerprint {
    use sha2::Digest;
    CardFingerprint::from_digest(&sha2::Sha256::digest(digits.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_digit_makes_a_number_luhn_valid() {
        assert_eq!(luhn_check_digit("424242424242424"), '2');
        assert_eq!(luhn_check_digit("400000000000000"), '2');
        for body in ["4", "41234567890123", "400000000000999", "37828224631000"] {
            let number = format!("{body}{}", luhn_check_digit(body));
            assert!(luhn_valid(&number), "{number}");
            let other = (luhn_check_digit(body).to_digit(10).unwrap_or(0) + 1) % 10;
            assert!(!luhn_valid(&format!("{body}{other}")), "{body}{other}");
        }
    }

    /// 2024-03-15T00:00:00Z.
    const NOW: Timestamp = Timestamp::from_millis(1_710_460_800_000);

    fn card(number: &str, exp_month: u32, exp_year: u32, cvc: &str) -> CardInput {
        CardInput { number: number.into(), exp_month, exp_year, cvc: cvc.into() }
    }

    fn token() -> CardToken {
        CardToken::generate(7)
    }

    #[test]
    fn a_valid_card_becomes_a_record_without_its_number() {
        let fingerprint = test_fingerprint;
        let record = tokenize(&card("4242 4242-4242 4242", 12, 2030, "123"), token(), NOW, fingerprint).unwrap();
        assert_eq!((record.brand, record.last4.as_str()), (CardBrand::Visa, "4242"));
        assert_eq!(record.behaviour, SimulatedBehaviour::Approve);
        assert_eq!(record.fingerprint, test_fingerprint("4242424242424242"), "of the digits alone");
        assert_eq!(record.fingerprint.as_str().len(), 64);
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains("4242424242424242") && !json.contains("123\""), "{json}");
    }

    #[test]
    fn the_input_never_prints_its_number_or_cvc() {
        let printed = format!("{:?}", card("4242424242424242", 12, 2030, "987"));
        assert!(!printed.contains("4242") && !printed.contains("987"), "{printed}");
    }

    #[test]
    fn bad_cards_are_refused_with_a_reason() {
        let refuse = |input: CardInput| tokenize(&input, token(), NOW, test_fingerprint).err();
        assert_eq!(refuse(card("4242424242424241", 12, 2030, "123")), Some(CardError::LuhnCheckFailed));
        assert_eq!(refuse(card("42424242", 12, 2030, "123")), Some(CardError::InvalidNumber));
        assert_eq!(refuse(card("4242x42424242424", 12, 2030, "123")), Some(CardError::InvalidNumber));
        assert_eq!(refuse(card(&"4".repeat(20), 12, 2030, "123")), Some(CardError::InvalidNumber));
        assert_eq!(refuse(card("4242424242424242", 13, 2030, "123")), Some(CardError::InvalidExpiryMonth));
        assert_eq!(refuse(card("4242424242424242", 2, 2024, "123")), Some(CardError::Expired));
        assert_eq!(refuse(card("4242424242424242", 12, 2030, "12")), Some(CardError::InvalidCvc));
        assert_eq!(refuse(card("4242424242424242", 12, 2030, "12a")), Some(CardError::InvalidCvc));
        assert_eq!(refuse(card("4242424242424242", 3, 2024, "1234")), None, "valid through its month");
    }

    #[test]
    fn brands_come_from_the_prefix_and_test_cards_from_the_number() {
        let brand = |number: &str| {
            tokenize(&card(number, 1, 2031, "1234"), token(), NOW, test_fingerprint).map(|record| record.brand)
        };
        assert_eq!(brand("5555555555554444"), Ok(CardBrand::Mastercard));
        assert_eq!(brand("2223003122003222"), Ok(CardBrand::Mastercard));
        assert_eq!(brand("378282246310005"), Ok(CardBrand::Amex));
        assert_eq!(brand("6011111111111117"), Ok(CardBrand::Discover));
        assert_eq!(brand("3566002020360505"), Ok(CardBrand::Unknown));
        let behaviour = |number: &str| {
            tokenize(&card(number, 1, 2031, "123"), token(), NOW, test_fingerprint).map(|record| record.behaviour)
        };
        assert_eq!(behaviour("4000000000000002"), Ok(SimulatedBehaviour::Decline(DeclineCode::CardDeclined)));
        assert_eq!(behaviour("4000000000009995"), Ok(SimulatedBehaviour::Decline(DeclineCode::InsufficientFunds)));
        assert_eq!(behaviour("4000000000000119"), Ok(SimulatedBehaviour::Decline(DeclineCode::ProcessingError)));
    }

    #[test]
    fn year_month_is_the_utc_calendar() {
        assert_eq!(year_month(Timestamp::EPOCH), (1970, 1));
        assert_eq!(year_month(NOW), (2024, 3));
        assert_eq!(year_month(Timestamp::from_millis(1_709_251_199_999)), (2024, 2), "2024-02-29T23:59:59.999Z");
    }
}
