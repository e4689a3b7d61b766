//! The checkout actor: one record actor per checkout session
//! ([`crate::actors::record`]) over the engine's [`CheckoutRecord`]. Every
//! change writes the whole (small) record.

use crate::actors::record::{Record, RecordActor};
pub use crate::engine::checkout::{CheckoutCommand, CheckoutMessage, CheckoutRecord, CheckoutRejection};
use crate::engine::{CheckoutId, Timestamp};
use crate::store::keys;

/// The actor of one checkout.
pub type CheckoutActor = RecordActor<CheckoutRecord>;

impl Record for CheckoutRecord {
    type Key = CheckoutId;
    type Command = CheckoutMessage;
    type Outcome = ();
    type Rejection = CheckoutRejection;

    fn store_key(key: &CheckoutId) -> Vec<u8> {
        keys::checkout(key)
    }

    fn created_by(message: &CheckoutMessage) -> Option<CheckoutRecord> {
        match &message.command {
            CheckoutCommand::Create(record) => Some((**record).clone()),
            _ => None,
        }
    }

    fn execute(&mut self, message: CheckoutMessage, _now: Timestamp) -> Result<(), CheckoutRejection> {
        self.apply(message).map(|_| ())
    }

    fn not_found(key: &CheckoutId) -> CheckoutRejection {
        CheckoutRejection::NotFound { id: key.clone() }
    }

    fn check_invariants(&self) -> Result<(), String> {
        self.checkout.check_invariants().map_err(|violation| violation.to_string())
    }
}
