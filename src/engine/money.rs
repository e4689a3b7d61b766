//! Money: integer minor units and a currency. Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code: three ASCII uppercase letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn parse(raw: &str) -> Result<Self, MoneyError> {
        let bytes = raw.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::InvalidCurrency { found: raw.to_owned() });
        }
        Ok(Currency([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn as_str(&self) -> &str {
        // The three bytes were checked to be ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Currency::parse(&raw)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a money value or operation is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {found:?} is not a three-letter ISO 4217 code")]
    InvalidCurrency { found: String },
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount out of range")]
    Overflow,
    #[error("amount must not be negative")]
    Negative,
}

/// An amount in minor units (cents) of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub cents: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(cents: i64, currency: Currency) -> Self {
        Money { cents, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Money { cents: 0, currency }
    }

    /// A price: non-negative.
    pub fn price(cents: i64, currency: Currency) -> Result<Self, MoneyError> {
        if cents < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Money { cents, currency })
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency });
        }
        let cents = self.cents.checked_add(other.cents).ok_or(MoneyError::Overflow)?;
        Ok(Money { cents, currency: self.currency })
    }

    pub fn checked_mul(self, factor: u32) -> Result<Money, MoneyError> {
        let cents = self.cents.checked_mul(i64::from(factor)).ok_or(MoneyError::Overflow)?;
        Ok(Money { cents, currency: self.currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let abs = self.cents.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_adds_within_one_currency_only() {
        let a = Money::new(7999, Currency::USD);
        assert_eq!(a.checked_add(a), Ok(Money::new(15998, Currency::USD)));
        assert!(matches!(a.checked_add(Money::new(1, Currency::EUR)), Err(MoneyError::CurrencyMismatch { .. })));
        assert_eq!(
            Money::new(i64::MAX, Currency::USD).checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn money_serializes_as_cents_and_code() {
        let json = serde_json::to_string(&Money::new(7999, Currency::USD)).unwrap();
        assert_eq!(json, r#"{"cents":7999,"currency":"USD"}"#);
        assert!(serde_json::from_str::<Money>(r#"{"cents":1,"currency":"usd"}"#).is_err());
        assert_eq!(Money::new(-5, Currency::EUR).to_string(), "-0.05 EUR");
    }
}
