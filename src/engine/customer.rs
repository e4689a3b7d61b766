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
    /// Too many failed sign-ins for this email from this client address.
    #[error("too many failed sign-ins; retry in {retry_after_ms} ms")]
    LockedOut { retry_after_ms: u64 },
    /// Every password hasher is busy and the queue is full.
    #[error("too many sign-ins are being checked; retry shortly")]
    Busy,
    /// Prime is active already (cancel it, or wait for it to end).
    #[error("the Prime membership is active already")]
    MembershipActive,
    #[error("no Prime membership")]
    NoMembership,
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

/// A Prime plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Monthly,
    Annual,
}

impl Plan {
    pub fn parse(raw: &str) -> Option<Plan> {
        match raw {
            "monthly" => Some(Plan::Monthly),
            "annual" => Some(Plan::Annual),
            _ => None,
        }
    }

    /// The length of one billing period.
    pub fn period_ms(self) -> u64 {
        match self {
            Plan::Monthly => 30 * 24 * 3600 * 1000,
            Plan::Annual => 365 * 24 * 3600 * 1000,
        }
    }
}

/// A Prime membership. It renews every period until cancelled; a cancelled
/// membership stays active until the end of the period it was cancelled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub plan: Plan,
    pub started_at: Timestamp,
    /// Set by a cancellation: the end of the then-current period.
    pub ends_at: Option<Timestamp>,
}

impl Membership {
    pub fn start(plan: Plan, now: Timestamp) -> Membership {
        Membership { plan, started_at: now, ends_at: None }
    }

    /// The end of the period that contains `now` (the next renewal).
    pub fn period_end(&self, now: Timestamp) -> Timestamp {
        let period = self.plan.period_ms();
        let periods_done = now.millis_since(self.started_at) / period;
        self.started_at.plus_millis((periods_done + 1).saturating_mul(period))
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        now >= self.started_at && self.ends_at.is_none_or(|end| now < end)
    }

    /// When it renews next, `None` once cancelled or ended.
    pub fn renews_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self.ends_at {
            Some(_) => None,
            None => Some(self.period_end(now)),
        }
    }

    /// Ends the membership at the end of the current period (idempotent).
    pub fn cancel(&mut self, now: Timestamp) {
        if self.ends_at.is_none() {
            self.ends_at = Some(self.period_end(now));
        }
    }
}

#[cfg(test)]
mod membership_tests {
    use super::*;

    #[test]
    fn a_membership_renews_each_period_until_cancelled_then_ends_with_the_period() {
        let start = Timestamp::from_millis(1_000);
        let mut membership = Membership::start(Plan::Monthly, start);
        let period = Plan::Monthly.period_ms();
        assert_eq!(membership.renews_at(start), Some(start.plus_millis(period)));
        let later = start.plus_millis(period + 5);
        assert_eq!(membership.renews_at(later), Some(start.plus_millis(2 * period)));
        membership.cancel(later);
        membership.cancel(later.plus_millis(10));
        assert_eq!(membership.ends_at, Some(start.plus_millis(2 * period)), "cancelling twice changes nothing");
        assert!(membership.is_active(start.plus_millis(2 * period - 1)));
        assert!(!membership.is_active(start.plus_millis(2 * period)));
        assert_eq!(membership.renews_at(later), None);
        assert_eq!(Plan::parse("annual"), Some(Plan::Annual));
        assert_eq!(Plan::parse("weekly"), None);
    }
}
