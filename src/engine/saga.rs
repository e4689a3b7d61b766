//! The place-order saga as pure data: which action runs next, and how a saga
//! interrupted by a crash is finished or compensated.
//!
//! Forward path (step reached -> next action):
//!
//! ```text
//! Started       -> Reserve          (hold stock under the planned reservation ids;
//!                                    check the customer's deal claims are held)
//! Reserved      -> CheckFraud
//! FraudChecked  -> Authorize        (idempotent by the payment reference)
//! Authorized    -> CommitHolds      (stock is sold before money moves)
//! Committed     -> Capture
//! Captured      -> MarkPaid
//! Completed     -> Done
//! ```
//!
//! An order fraud screening sends to review ([`SagaOutcome::Review`]) takes
//! the same path with `review` set, up to `Committed`, and then
//! `HoldForReview` creates it on hold instead of capturing: authorized, its
//! stock committed, nothing captured (the admin approves or cancels it
//! later). Creating it completes the saga.
//!
//! A failed action before capture (stock short, fraud decline, card declined,
//! a hold expired before commit, capture refused) switches to `Compensating`,
//! which runs, in order: `ReleaseHolds` (or `Restock` once the holds were
//! committed), then `VoidAuthorization` if an authorization may exist, then
//! `Compensated`.
//!
//! Deal claims the customer already held are used instead of new holds: they
//! are committed with the others (for this order only, so one claim never
//! pays for two orders) and given back to the deal by `Restock`, but never
//! released: a declined card does not cost the customer their claim. Capture is the point of no return: once `Captured`, the saga
//! only goes forward (`MarkPaid` is retried until it succeeds).
//!
//! Persistence: the record is written at checkpoints only
//! ([`PlaceOrderSaga::is_checkpoint`]): when the saga starts (before any
//! effect), once it is captured (the point of no return) and when it ends
//! (removed). A crash anywhere before the capture checkpoint therefore finds
//! the saga `Started` (or captured), whatever actions ran since.
//!
//! Recovery ([`PlaceOrderSaga::recover`]) after a crash: before `Captured` the
//! saga is compensated with the full plan (`Restock`, `ReleaseHolds`,
//! `VoidAuthorization`), since any of the forward actions may have run; every
//! compensation is idempotent and tolerates an action that never ran
//! (restocking a hold that was never committed, releasing an unknown hold and
//! voiding an unknown reference are no-ops). From `Captured` on it is
//! finished. If a capture was in flight at the crash and did succeed, the void
//! is refused as already captured; the outcome [`SagaOutcome::AlreadyCaptured`]
//! then adds a `RefundCapture`, so the customer is never charged for an order
//! that does not exist. Recovery is also told whether the order record
//! exists: then `MarkPaid` ran, the saga had completed, and only its ending
//! (checkout marked placed, record removed) is left.

use super::ids::{OrderId, PaymentId, ReservationId};
use serde::{Deserialize, Serialize};

/// Where the saga stands (persisted after every outcome).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStep {
    Started,
    Reserved {
        reservations: Vec<ReservationId>,
    },
    /// `review`: the order goes on hold instead of being captured. (Steps
    /// between `Started` and `Captured` are never persisted, so their
    /// fields may change.)
    FraudChecked {
        review: bool,
    },
    /// `None` when nothing was left for the card (a gift card paid it all).
    Authorized {
        authorization: Option<PaymentId>,
        review: bool,
    },
    Committed {
        review: bool,
    },
    Captured,
    Completed,
    Compensating {
        reason: String,
        remaining: Vec<SagaAction>,
    },
    Compensated {
        reason: String,
    },
}

/// What the actor layer must do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaAction {
    /// Hold `reservations`; check `claims` are still held.
    Reserve {
        reservations: Vec<ReservationId>,
        claims: Vec<ReservationId>,
    },
    CheckFraud,
    /// Authorize with `reference` as the gateway's idempotency key.
    Authorize {
        reference: String,
    },
    CommitHolds {
        reservations: Vec<ReservationId>,
        claims: Vec<ReservationId>,
    },
    Capture {
        authorization: PaymentId,
    },
    MarkPaid,
    ReleaseHolds {
        reservations: Vec<ReservationId>,
    },
    /// Return the units of those holds that were committed to stock, and
    /// of those claims committed for this order to their deal (a no-op for
    /// one that is not).
    Restock {
        reservations: Vec<ReservationId>,
        claims: Vec<ReservationId>,
    },
    /// Void the authorization made under `reference` (a no-op if none was).
    VoidAuthorization {
        reference: String,
        authorization: Option<PaymentId>,
    },
    RefundCapture {
        reference: String,
        authorization: Option<PaymentId>,
    },
    Done,
    /// Create the order on hold for review (authorized, committed, not captured).
    HoldForReview,
}

/// The result of the last action, reported by the actor layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaOutcome {
    /// The action succeeded; for `Authorize`, with the authorization id
    /// (`None` when the card had nothing to pay).
    Succeeded { authorization: Option<PaymentId> },
    /// The action failed for a business reason (insufficient stock, declined).
    Failed { reason: String },
    /// A void was refused because the authorization had been captured.
    AlreadyCaptured,
    /// Fraud screening sent the order to review (the outcome of `CheckFraud`).
    Review,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SagaError {
    #[error("the saga is finished; no outcome is expected")]
    Finished,
    #[error("a failure reported after the point of no return: {reason}")]
    FailedAfterCapture { reason: String },
    #[error("outcome {outcome:?} does not fit the action {action:?}")]
    UnexpectedOutcome { action: Box<SagaAction>, outcome: SagaOutcome },
}

/// One place-order saga.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrderSaga {
    pub order_id: OrderId,
    /// Planned up front, so that holds made by a crashed `Reserve` are known.
    pub reservations: Vec<ReservationId>,
    /// Deal claims the customer held, used for some of the units.
    pub claims: Vec<ReservationId>,
    /// The gateway reference (the order id).
    pub payment_reference: String,
    pub authorization: Option<PaymentId>,
    pub step: SagaStep,
}

impl PlaceOrderSaga {
    pub fn start(order_id: OrderId, reservations: Vec<ReservationId>, claims: Vec<ReservationId>) -> PlaceOrderSaga {
        let payment_reference = order_id.to_string();
        PlaceOrderSaga {
            order_id,
            reservations,
            claims,
            payment_reference,
            authorization: None,
            step: SagaStep::Started,
        }
    }

    /// Whether the saga has ended (completed or compensated).
    pub fn is_finished(&self) -> bool {
        matches!(self.step, SagaStep::Completed | SagaStep::Compensated { .. })
    }

    /// Whether the record must be written now (see the module docs).
    pub fn is_checkpoint(&self) -> bool {
        matches!(self.step, SagaStep::Started | SagaStep::Captured | SagaStep::Completed | SagaStep::Compensated { .. })
    }

    /// The action to run now.
    pub fn next_action(&self) -> SagaAction {
        match &self.step {
            SagaStep::Started => {
                SagaAction::Reserve { reservations: self.reservations.clone(), claims: self.claims.clone() }
            }
            SagaStep::Reserved { .. } => SagaAction::CheckFraud,
            SagaStep::FraudChecked { .. } => SagaAction::Authorize { reference: self.payment_reference.clone() },
            SagaStep::Authorized { .. } => {
                SagaAction::CommitHolds { reservations: self.reservations.clone(), claims: self.claims.clone() }
            }
            SagaStep::Committed { review: true } => SagaAction::HoldForReview,
            SagaStep::Committed { review: false } => match &self.authorization {
                Some(authorization) => SagaAction::Capture { authorization: authorization.clone() },
                None => SagaAction::MarkPaid,
            },
            SagaStep::Captured => SagaAction::MarkPaid,
            SagaStep::Compensating { remaining, .. } => remaining.first().cloned().unwrap_or(SagaAction::Done),
            SagaStep::Completed | SagaStep::Compensated { .. } => SagaAction::Done,
        }
    }

    /// Records the outcome of [`Self::next_action`] and returns the next action.
    pub fn advance(&mut self, outcome: SagaOutcome) -> Result<SagaAction, SagaError> {
        let action = self.next_action();
        match (&self.step, outcome) {
            (SagaStep::Completed | SagaStep::Compensated { .. }, _) => return Err(SagaError::Finished),
            (SagaStep::Compensating { .. }, outcome) => self.advance_compensation(action, outcome)?,
            (SagaStep::Captured, SagaOutcome::Failed { reason }) => {
                return Err(SagaError::FailedAfterCapture { reason })
            }
            (_, SagaOutcome::Failed { reason }) => self.compensate(reason),
            (SagaStep::Reserved { .. }, SagaOutcome::Review) => self.step = SagaStep::FraudChecked { review: true },
            (_, outcome @ (SagaOutcome::AlreadyCaptured | SagaOutcome::Review)) => {
                return Err(SagaError::UnexpectedOutcome { action: Box::new(action), outcome })
            }
            (step, SagaOutcome::Succeeded { authorization }) => {
                self.step = match *step {
                    SagaStep::Started => SagaStep::Reserved { reservations: self.reservations.clone() },
                    SagaStep::Reserved { .. } => SagaStep::FraudChecked { review: false },
                    SagaStep::FraudChecked { review } => {
                        self.authorization.clone_from(&authorization);
                        SagaStep::Authorized { authorization, review }
                    }
                    SagaStep::Authorized { review, .. } => SagaStep::Committed { review },
                    SagaStep::Committed { review: false } if self.authorization.is_some() => SagaStep::Captured,
                    _ => SagaStep::Completed,
                };
            }
        }
        Ok(self.next_action())
    }

    /// The compensation actions for a saga that has reached its current step.
    fn compensation_plan(&self) -> Vec<SagaAction> {
        let release = SagaAction::ReleaseHolds { reservations: self.reservations.clone() };
        match self.step {
            // CommitHolds may have run: restock covers committed holds, and
            // release covers those it did not reach.
            SagaStep::Authorized { .. } | SagaStep::Committed { .. } => self.full_compensation(),
            SagaStep::FraudChecked { .. } => vec![release, self.void()],
            _ => vec![release],
        }
    }

    /// Undoes whatever of the forward path may have run, up to capture.
    fn full_compensation(&self) -> Vec<SagaAction> {
        vec![
            SagaAction::Restock { reservations: self.reservations.clone(), claims: self.claims.clone() },
            SagaAction::ReleaseHolds { reservations: self.reservations.clone() },
            self.void(),
        ]
    }

    fn void(&self) -> SagaAction {
        SagaAction::VoidAuthorization {
            reference: self.payment_reference.clone(),
            authorization: self.authorization.clone(),
        }
    }

    fn compensate(&mut self, reason: String) {
        let remaining = self.compensation_plan();
        self.step = SagaStep::Compensating { reason, remaining };
    }

    fn advance_compensation(&mut self, action: SagaAction, outcome: SagaOutcome) -> Result<(), SagaError> {
        let SagaStep::Compensating { reason, remaining } = &mut self.step else { return Ok(()) };
        match (&action, outcome) {
            (SagaAction::VoidAuthorization { reference, authorization }, SagaOutcome::AlreadyCaptured) => {
                remaining[0] =
                    SagaAction::RefundCapture { reference: reference.clone(), authorization: authorization.clone() };
                return Ok(());
            }
            (_, SagaOutcome::Succeeded { .. }) => {
                if !remaining.is_empty() {
                    remaining.remove(0);
                }
            }
            // A compensation failing for a business reason (e.g. a hold that
            // already expired) has nothing left to undo: move on.
            (_, SagaOutcome::Failed { .. }) => {
                if !remaining.is_empty() {
                    remaining.remove(0);
                }
            }
            (_, outcome) => return Err(SagaError::UnexpectedOutcome { action: Box::new(action), outcome }),
        }
        if remaining.is_empty() {
            self.step = SagaStep::Compensated { reason: std::mem::take(reason) };
        }
        Ok(())
    }

    /// After a crash: the action that finishes or compensates the saga from
    /// its persisted step (see the module docs). `order_created`: the order
    /// record exists, so `MarkPaid` ran and the saga had completed. Otherwise,
    /// before `Captured` this starts the full compensation; from `Captured`
    /// on it continues forward.
    pub fn recover(&mut self, order_created: bool) -> SagaAction {
        if order_created {
            self.step = SagaStep::Completed;
        }
        match self.step {
            SagaStep::Started
            | SagaStep::Reserved { .. }
            | SagaStep::FraudChecked { .. }
            | SagaStep::Authorized { .. }
            | SagaStep::Committed { .. } => {
                let remaining = self.full_compensation();
                self.step = SagaStep::Compensating { reason: "interrupted before capture".to_owned(), remaining };
            }
            _ => {}
        }
        self.next_action()
    }
}

#[cfg(test)]
mod tests;
