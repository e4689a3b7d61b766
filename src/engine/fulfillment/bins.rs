//! Bin codes: `AISLE-BAY-LEVEL`, such as `A-03-2`.

use super::route::Position;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a string is not a bin code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinError {
    #[error("a bin code is AISLE-BAY-LEVEL, such as A-03-2; got {0:?}")]
    Shape(String),
    #[error("an aisle is one or two capital letters (A to ZZ); got {0:?}")]
    Aisle(String),
    #[error("a bay is a number from 1 to {max}; got {found:?}", max = BinCode::BAY_MAX)]
    Bay { found: String },
    #[error("a level is a number from 0 to {max}; got {found:?}", max = BinCode::LEVEL_MAX)]
    Level { found: String },
}

/// A storage location in a warehouse. Aisles are letters in alphabetical
/// order (`A` to `Z`, then `AA` to `ZZ`), bays are numbered from 1 along
/// an aisle, levels are the shelves of a bay.
///
/// Bins order in the walk order (API.md): aisle by aisle; bays ascending in
/// the first aisle (`A`), descending in the second, and so on; levels
/// ascending within a bay. That is the order bins are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BinCode {
    aisle: u16,
    bay: u16,
    level: u8,
}

impl BinCode {
    pub const BAY_MAX: u16 = 999;
    pub const LEVEL_MAX: u8 = 99;
    /// Aisles `A`..=`ZZ`.
    pub const AISLES: u16 = 26 + 26 * 26;

    /// A bin from its parts: `aisle` counts from 0 (`A`), `bay` from 1.
    pub fn new(aisle: u16, bay: u16, level: u8) -> Result<Self, BinError> {
        let code = BinCode { aisle, bay, level };
        if aisle >= Self::AISLES {
            return Err(BinError::Aisle(aisle.to_string()));
        }
        if !(1..=Self::BAY_MAX).contains(&bay) {
            return Err(BinError::Bay { found: bay.to_string() });
        }
        if level > Self::LEVEL_MAX {
            return Err(BinError::Level { found: level.to_string() });
        }
        Ok(code)
    }

    /// The aisle's index: `A` is 0, `Z` 25, `AA` 26.
    pub fn aisle(&self) -> u16 {
        self.aisle
    }

    pub fn bay(&self) -> u16 {
        self.bay
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    /// Where a picker stands to reach this bin (levels cost no walking).
    pub fn position(&self) -> Position {
        Position { aisle: u32::from(self.aisle), bay: u32::from(self.bay) }
    }

    /// The walk order's key: the serpentine order of its bay, then its level.
    fn walk_key(&self) -> ((u32, i64), u8) {
        (super::route::serpentine_key(&self.position()), self.level)
    }

    fn aisle_letters(&self) -> String {
        let letter = |index: u16| char::from(b'A' + u8::try_from(index).unwrap_or(0));
        if self.aisle < 26 {
            letter(self.aisle).to_string()
        } else {
            let rest = self.aisle - 26;
            format!("{}{}", letter(rest / 26), letter(rest % 26))
        }
    }
}

impl Ord for BinCode {
    fn cmp(&self, other: &Self) -> Ordering {
        self.walk_key().cmp(&other.walk_key())
    }
}

impl PartialOrd for BinCode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for BinCode {
    type Err = BinError;

    /// Parses `A-03-2`; `A-3-2` is the same bin (it prints as `A-03-2`).
    fn from_str(raw: &str) -> Result<Self, BinError> {
        let mut parts = raw.split('-');
        let (Some(aisle), Some(bay), Some(level), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BinError::Shape(raw.chars().take(40).collect()));
        };
        let letters = aisle.as_bytes();
        let letter = |byte: u8| byte.is_ascii_uppercase().then(|| u16::from(byte - b'A'));
        let aisle_index = match letters {
            [one] => letter(*one),
            [first, second] => letter(*first).zip(letter(*second)).map(|(first, second)| 26 + first * 26 + second),
            _ => None,
        }
        .ok_or_else(|| BinError::Aisle(aisle.chars().take(8).collect()))?;
        let number = |text: &str, digits: usize| {
            (!text.is_empty() && text.len() <= digits && text.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| text.parse::<u16>().ok())
                .flatten()
        };
        let bay_number = number(bay, 3)
            .filter(|bay| (1..=Self::BAY_MAX).contains(bay))
            .ok_or_else(|| BinError::Bay { found: bay.chars().take(8).collect() })?;
        let level_number = number(level, 2)
            .and_then(|level| u8::try_from(level).ok())
            .filter(|level| *level <= Self::LEVEL_MAX)
            .ok_or_else(|| BinError::Level { found: level.chars().take(8).collect() })?;
        BinCode::new(aisle_index, bay_number, level_number)
    }
}

impl fmt::Display for BinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}-{}", self.aisle_letters(), self.bay, self.level)
    }
}

impl Serialize for BinCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BinCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<str>::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}
