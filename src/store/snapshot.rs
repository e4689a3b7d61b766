//! Full-state snapshots: every state record of the keyspace (catalog,
//! warehouses, inventory with holds, carts, customers, sessions, idempotency
//! records), not the event log: projections rebuild from state.
//!
//! File format, version 1:
//!
//! ```text
//! magic   16 bytes  "MERCATO-SNAPSHOT"
//! payload bincode 2 (standard) of SnapshotPayload { version, created_at_ms, records }
//! digest  32 bytes  SHA-256 of magic + payload
//! ```
//!
//! Each record's value keeps its own format-version byte, so a snapshot is
//! versioned twice: the container and every record.

use super::{keys, RawRecord, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SNAPSHOT_MAGIC: &[u8; 16] = b"MERCATO-SNAPSHOT";
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPayload {
    pub version: u32,
    pub created_at_ms: u64,
    /// `(key, value)` in key order.
    pub records: Vec<RawRecord>,
}

/// Why a snapshot cannot be read or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a Mercato snapshot (bad magic)")]
    BadMagic,
    #[error("the snapshot is corrupt: its checksum does not match")]
    BadChecksum,
    #[error("snapshot format version {found} is not supported (this build reads {SNAPSHOT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("cannot decode the snapshot: {0}")]
    Decode(String),
    #[error("the target store is not empty; import into an empty data directory")]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Encodes a payload into the file format.
pub fn encode(payload: &SnapshotPayload) -> Result<Vec<u8>, SnapshotError> {
    let mut bytes = SNAPSHOT_MAGIC.to_vec();
    bincode::serde::encode_into_std_write(payload, &mut bytes, bincode::config::standard())
        .map_err(|err| SnapshotError::Decode(err.to_string()))?;
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    Ok(bytes)
}

/// Checks magic, checksum and version, and decodes.
pub fn decode(bytes: &[u8]) -> Result<SnapshotPayload, SnapshotError> {
    if bytes.len() < SNAPSHOT_MAGIC.len() + 32 || !bytes.starts_with(SNAPSHOT_MAGIC) {
        return Err(SnapshotError::BadMagic);
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(SnapshotError::BadChecksum);
    }
    let (payload, read): (SnapshotPayload, usize) =
        bincode::serde::decode_from_slice(&body[SNAPSHOT_MAGIC.len()..], bincode::config::standard())
            .map_err(|err| SnapshotError::Decode(err.to_string()))?;
    if read != body.len() - SNAPSHOT_MAGIC.len() {
        return Err(SnapshotError::Decode("trailing bytes".to_owned()));
    }
    if payload.version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion { found: payload.version });
    }
    Ok(payload)
}

impl Store {
    /// Every state record (the event log and intents of writes under way
    /// excluded), in key order.
    pub fn export_records(&self) -> Result<Vec<RawRecord>, StoreError> {
        Ok(self
            .raw_scan(&[])?
            .into_iter()
            .filter(|(key, _)| !matches!(key.first(), Some(&keys::EVENT | &keys::INTENT)))
            .collect())
    }

    /// Writes records into an empty store and flushes.
    pub fn import_records(&self, records: Vec<RawRecord>) -> Result<(), SnapshotError> {
        if !self.raw_scan(&[])?.is_empty() {
            return Err(SnapshotError::NotEmpty);
        }
        for chunk in records.chunks(10_000) {
            self.write_raw(chunk)?;
        }
        self.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> SnapshotPayload {
        SnapshotPayload { version: SNAPSHOT_VERSION, created_at_ms: 7, records: vec![(b"k".to_vec(), vec![1, 2, 3])] }
    }

    #[test]
    fn a_snapshot_round_trips() {
        assert_eq!(decode(&encode(&payload()).unwrap()).unwrap(), payload());
    }

    #[test]
    fn corruption_bad_magic_and_unknown_versions_are_refused() {
        let mut bytes = encode(&payload()).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        assert_eq!(decode(&bytes), Err(SnapshotError::BadChecksum));
        assert_eq!(decode(b"not a snapshot at all, clearly not one"), Err(SnapshotError::BadMagic));
        let future = SnapshotPayload { version: 99, ..payload() };
        assert_eq!(decode(&encode(&future).unwrap()), Err(SnapshotError::UnsupportedVersion { found: 99 }));
    }
}
