//! Customers and sessions as plain data. Password hashing (slow, salted)
//! happens outside the engine; here are the rules a customer must satisfy.

use super::ids::CustomerId;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email (API.md).
pub const EMAIL_CHARS_MAX: usize = 254;
/// Shortest password (API.md).
pub const PASSWORD_CHARS_MIN: usize = 8;
/// Longest password accepted (bounds the hashing work a request can ask for).
pub const PASSWORD_CHARS_MAX: usize = 1_024;
pub const NAME_CHARS_MAX: usize = 200;
/// How long a session token lives (API.md: 30 days).
pub const SESSION_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// Why a customer or session request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    #[error("email: {0}")]
    InvalidEmail(&'static str),
    #[error("password must be {PASSWORD_CHARS_MIN}..={PASSWORD_CHARS_MAX} characters")]
    InvalidPassword,
    #[error("name must be 1..={NAME_CHARS_MAX} characters")]
    InvalidName,
    #[error("a customer with this email already exists")]
    EmailTaken,
    #[error("wrong email or password")]
    BadCredentials,
    #[error("customer {0} not found")]
    NotFound(CustomerId),
}

/// An email address, normalized to lowercase: unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// At most 254 characters, exactly one `@` with text on both sides and a
    /// dot in the domain, no whitespace or control characters.
    pub fn parse(raw: &str) -> Result<Email, CustomerError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > EMAIL_CHARS_MAX {
            return Err(CustomerError::InvalidEmail("must be 1..=254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CustomerError::InvalidEmail("must not contain spaces or control characters"));
        }
        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CustomerError::InvalidEmail("must contain exactly one @"));
        };
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(CustomerError::InvalidEmail("must look like name@example.com"));
        }
        Ok(Email(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a signed-in caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    /// Owns products.
    Seller,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub email: Email,
    pub name: String,
    /// A PHC-format password hash (argon2id); never the password.
    pub password_hash: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// Checks a password's length before it is hashed.
pub fn check_password(password: &str) -> Result<(), CustomerError> {
    let chars = password.chars().count();
    if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&chars) {
        return Err(CustomerError::InvalidPassword);
    }
    Ok(())
}

/// A display name: trimmed, 1..=200 characters.
pub fn check_name(name: &str) -> Result<String, CustomerError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > NAME_CHARS_MAX {
        return Err(CustomerError::InvalidName);
    }
    Ok(trimmed.to_owned())
}

/// A signed-in session. The token itself is never stored, only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub customer_id: CustomerId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    pub fn start(customer_id: CustomerId, now: Timestamp) -> Session {
        Session { customer_id, created_at: now, expires_at: now.plus_millis(SESSION_TTL_MS) }
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_malformed_ones_refused() {
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in [
            "",
            "no-at.example.com",
            "a@@b.com",
            "a@b@c.com",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@c.com",
            "a@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert!(Email::parse(&long).is_err());
        assert!(Email::parse(&long[1..]).is_ok());
    }

    #[test]
    fn passwords_and_names_have_bounds() {
        assert_eq!(check_password("1234567"), Err(CustomerError::InvalidPassword));
        assert_eq!(check_password("12345678"), Ok(()));
        assert_eq!(check_password(&"x".repeat(1_025)), Err(CustomerError::InvalidPassword));
        assert_eq!(check_name("  Ann  "), Ok("Ann".to_owned()));
        assert_eq!(check_name(" "), Err(CustomerError::InvalidName));
    }

    #[test]
    fn a_session_lives_thirty_days() {
        let start = Timestamp::from_millis(1_000);
        let session = Session::start(CustomerId::parse("cus_1").unwrap(), start);
        assert!(session.is_active(start.plus_millis(SESSION_TTL_MS - 1)));
        assert!(!session.is_active(start.plus_millis(SESSION_TTL_MS)));
    }
}
