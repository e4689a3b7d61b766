//! Record encoding: one format-version byte, then bincode 2 (standard config)
//! of the serde value. A record whose version this build does not know is an
//! error, never a silent misread.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The version byte written in front of every record.
pub const FORMAT_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(64);
    bytes.push(FORMAT_VERSION);
    bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
        .map_err(|err| StoreError::Encode(err.to_string()))?;
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let Some((&version, payload)) = bytes.split_first() else {
        return Err(StoreError::Decode { key: printable(key), reason: "empty record".to_owned() });
    };
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion { key: printable(key), found: version, expected: FORMAT_VERSION });
    }
    let (value, read) = bincode::serde::decode_from_slice(payload, bincode::config::standard())
        .map_err(|err| StoreError::Decode { key: printable(key), reason: err.to_string() })?;
    if read != payload.len() {
        return Err(StoreError::Decode { key: printable(key), reason: "trailing bytes".to_owned() });
    }
    Ok(value)
}

/// A key as text for error messages (separators shown as `/`).
pub fn printable(key: &[u8]) -> String {
    key.iter()
        .map(|&b| {
            if b == 0 {
                '/'
            } else if b.is_ascii_graphic() {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_carries_its_version() {
        let bytes = encode(&(7u32, "x".to_owned())).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<(u32, String)>(b"k", &bytes).unwrap(), (7, "x".to_owned()));
    }

    #[test]
    fn an_unknown_version_is_an_error() {
        let mut bytes = encode(&1u8).unwrap();
        bytes[0] = 99;
        assert!(matches!(decode::<u8>(b"k", &bytes), Err(StoreError::UnsupportedVersion { found: 99, .. })));
        assert!(matches!(decode::<u8>(b"k", &[]), Err(StoreError::Decode { .. })));
    }
}
