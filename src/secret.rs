//! The server's secret key: what keys the digests that must not be
//! reversible by someone holding a copy of the data directory (card
//! fingerprints, and the digests of idempotent request bodies, which may
//! hold a password). A card number has too few unknown digits for a plain
//! hash to hide it: an unkeyed SHA-256 of one is brute-forced in seconds.
//!
//! The key is 32 random bytes: `Config::secret_key` when set (the server
//! takes it from `MERCATO_SECRET_KEY`, 64 hex digits), otherwise read from
//! `secret.key` in the data directory, which is created on first open with
//! mode 0600. Keep it with the backups: digests made with one key do not
//! match those of another.

use crate::source::Source;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

/// The environment variable the server reads the key from (64 hex digits).
pub const SECRET_KEY_ENV: &str = "MERCATO_SECRET_KEY";
/// The key's file in the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// Why the key could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{SECRET_KEY_ENV} must be 64 hex digits")]
    BadEnvironment,
    #[error("{path} must hold 64 hex digits")]
    BadFile { path: String },
    #[error("cannot read or create {path}: {reason}")]
    Io { path: String, reason: String },
}

/// 32 secret bytes. Its `Debug` shows nothing of them.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// A key given as 64 hex digits (the environment variable's value).
    pub fn parse_hex(raw: &str) -> Result<SecretKey, SecretError> {
        parse(raw.trim()).ok_or(SecretError::BadEnvironment)
    }

    /// The key kept in the data directory `dir`, created there on first use.
    pub fn load_or_create(dir: &Path, source: &Source) -> Result<SecretKey, SecretError> {
        let path = dir.join(SECRET_KEY_FILE);
        let io = |err: std::io::Error| SecretError::Io { path: path.display().to_string(), reason: err.to_string() };
        match std::fs::read_to_string(&path) {
            Ok(raw) => parse(raw.trim()).ok_or_else(|| SecretError::BadFile { path: path.display().to_string() }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io)?;
                let key = SecretKey(source.bytes::<32>());
                write_private(&path, &hex::encode(key.0)).map_err(io)?;
                Ok(key)
            }
            Err(err) => Err(io(err)),
        }
    }

    /// HMAC-SHA256 of `data` under this key, for the purpose `label` (so
    /// digests made for one purpose never match those of another).
    pub fn digest(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(label);
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

fn parse(raw: &str) -> Option<SecretKey> {
    let bytes: [u8; 32] = hex::decode(raw).ok()?.try_into().ok()?;
    Some(SecretKey(bytes))
}

/// Writes a file only its owner can read (created new: never over a key).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let source = Source::new(std::sync::Arc::new(crate::clock::SystemClock), Some(7));
        let created = SecretKey::load_or_create(dir.path(), &source).unwrap();
        let again = SecretKey::load_or_create(dir.path(), &source).unwrap();
        assert_eq!(created.digest(b"t", b"x"), again.digest(b"t", b"x"));
        assert_ne!(created.digest(b"t", b"x"), created.digest(b"u", b"x"), "labels separate purposes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{created:?}"), "SecretKey(..)");
        assert!(SecretKey::parse_hex("00").is_err());
        let given = SecretKey::parse_hex(&"ab".repeat(32)).unwrap();
        assert_ne!(given.digest(b"t", b"x"), created.digest(b"t", b"x"));
    }
}
