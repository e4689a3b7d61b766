//! Payments: card tokenization, the gateway contract and a simulated gateway,
//! gift cards with split payments, and fraud screening. All pure state.

pub mod card;
pub mod fraud;
pub mod gateway;
pub mod gift_card;
pub mod wallet;

pub use card::{
    luhn_check_digit, luhn_valid, tokenize, CardBrand, CardError, CardFingerprint, CardInput, CardRecord,
    SimulatedBehaviour,
};
pub use fraud::{FraudAttempt, FraudCheck, FraudDecision, FraudHistory, FraudReason, FraudRules};
pub use gateway::{
    Authorization, AuthorizationStatus, AuthorizeRequest, PaymentGateway, RefundRecord, SimulatedGateway,
};
pub use gift_card::{EntryKind, GiftCard, GiftCardEntry, GiftCardEvent, GiftCardLedger, PaymentPlan};
pub use wallet::{BillingCountry, CardCursor, SavedCard, WalletEvent, Wallets};

use super::ids::{CardToken, GiftCardCode, PaymentId};
use super::money::{Money, MoneyError};
use serde::{Deserialize, Serialize};

/// Why a card issuer refused an authorization (stable wire codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
    ExpiredCard,
    ProcessingError,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::CardDeclined => "card_declined",
            DeclineCode::InsufficientFunds => "insufficient_funds",
            DeclineCode::ExpiredCard => "expired_card",
            DeclineCode::ProcessingError => "processing_error",
        }
    }
}

/// A payment rejection. `Declined` maps to HTTP 402 `payment-declined`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("payment declined: {}", code.as_str())]
    Declined { code: DeclineCode },
    #[error("unknown card token {token}")]
    UnknownCard { token: CardToken },
    /// Not a card of this customer: unknown, removed, or another's.
    #[error("card {token} not found")]
    CardNotFound { token: CardToken },
    #[error("unknown authorization {id}")]
    UnknownAuthorization { id: PaymentId },
    #[error("reference {reference:?} was already used for a different request")]
    ReferenceReused { reference: String },
    #[error("cannot {action} authorization {id} in status {status:?}")]
    InvalidTransition { id: PaymentId, status: AuthorizationStatus, action: &'static str },
    #[error("refund of {requested} is more than the {refundable} that can be refunded")]
    RefundExceedsCaptured { requested: Money, refundable: Money },
    #[error("invalid amount {amount}")]
    InvalidAmount { amount: Money },
    #[error("unknown gift card {code}")]
    UnknownGiftCard { code: GiftCardCode },
    #[error("gift card {code} already exists")]
    GiftCardExists { code: GiftCardCode },
    #[error("gift card balance {balance} does not cover {requested}")]
    InsufficientGiftCardBalance { requested: Money, balance: Money },
    #[error("no payment method given")]
    NoPaymentMethod,
    #[error(transparent)]
    Money(#[from] MoneyError),
}
