use super::*;

fn saga() -> PlaceOrderSaga {
    PlaceOrderSaga::start(
        OrderId::generate(1),
        vec![ReservationId::generate(10), ReservationId::generate(11)],
        vec![ReservationId::generate(20)],
    )
}

fn ok() -> SagaOutcome {
    SagaOutcome::Succeeded { authorization: None }
}

fn authorized() -> SagaOutcome {
    SagaOutcome::Succeeded { authorization: Some(PaymentId::generate(7)) }
}

fn failed(reason: &str) -> SagaOutcome {
    SagaOutcome::Failed { reason: reason.to_owned() }
}

fn holds() -> Vec<ReservationId> {
    saga().reservations
}

fn claims() -> Vec<ReservationId> {
    saga().claims
}

fn reference() -> String {
    OrderId::generate(1).to_string()
}

fn void(authorization: Option<PaymentId>) -> SagaAction {
    SagaAction::VoidAuthorization { reference: reference(), authorization }
}

/// Runs the happy path up to (not including) the outcome of step `index`.
fn saga_after(successes: usize) -> PlaceOrderSaga {
    let mut saga = saga();
    for index in 0..successes {
        let outcome = if index == 2 { authorized() } else { ok() };
        saga.advance(outcome).unwrap();
    }
    saga
}

/// Runs compensation to the end, answering `ok` to everything, and returns
/// the actions it asked for.
fn drain(saga: &mut PlaceOrderSaga) -> Vec<SagaAction> {
    let mut actions = Vec::new();
    while !saga.is_finished() {
        actions.push(saga.next_action());
        saga.advance(ok()).unwrap();
        assert!(actions.len() < 10, "compensation loops: {actions:?}");
    }
    actions
}

#[test]
fn the_happy_path_runs_every_action_once() {
    let mut saga = saga();
    let mut actions = vec![saga.next_action()];
    for outcome in [ok(), ok(), authorized(), ok(), ok(), ok()] {
        actions.push(saga.advance(outcome).unwrap());
    }
    assert_eq!(
        actions,
        [
            SagaAction::Reserve { reservations: holds(), claims: claims() },
            SagaAction::CheckFraud,
            SagaAction::Authorize { reference: reference() },
            SagaAction::CommitHolds { reservations: holds(), claims: claims() },
            SagaAction::Capture { authorization: PaymentId::generate(7) },
            SagaAction::MarkPaid,
            SagaAction::Done,
        ]
    );
    assert_eq!(saga.step, SagaStep::Completed);
    assert_eq!(saga.advance(ok()), Err(SagaError::Finished));
}

#[test]
fn a_gift_card_only_order_skips_capture() {
    let mut saga = saga();
    for _ in 0..4 {
        saga.advance(ok()).unwrap();
    }
    assert_eq!(saga.next_action(), SagaAction::MarkPaid);
    assert_eq!(saga.advance(ok()), Ok(SagaAction::Done));
}

#[test]
fn every_failure_before_capture_compensates_what_was_done() {
    let restock_and_release = vec![
        SagaAction::Restock { reservations: holds(), claims: claims() },
        SagaAction::ReleaseHolds { reservations: holds() },
    ];
    let cases: Vec<(usize, Vec<SagaAction>)> = vec![
        // Reserve failed (insufficient stock): release whatever was held.
        (0, vec![SagaAction::ReleaseHolds { reservations: holds() }]),
        // Fraud declined.
        (1, vec![SagaAction::ReleaseHolds { reservations: holds() }]),
        // Card declined: nothing to void by id, but the reference is voided.
        (2, vec![SagaAction::ReleaseHolds { reservations: holds() }, void(None)]),
        // Commit failed (a hold expired).
        (3, [restock_and_release.clone(), vec![void(Some(PaymentId::generate(7)))]].concat()),
        // Capture refused.
        (4, [restock_and_release, vec![void(Some(PaymentId::generate(7)))]].concat()),
    ];
    for (successes, expected) in cases {
        let mut saga = saga_after(successes);
        let first = saga.advance(failed("nope")).unwrap();
        assert_eq!(Some(&first), expected.first(), "after {successes} successes");
        assert_eq!(drain(&mut saga), expected, "after {successes} successes");
        assert_eq!(saga.step, SagaStep::Compensated { reason: "nope".to_owned() });
        assert_eq!(saga.next_action(), SagaAction::Done);
    }
}

#[test]
fn deal_claims_are_committed_and_given_back_but_never_released() {
    for successes in 0..5 {
        let mut saga = saga_after(successes);
        saga.advance(failed("nope")).unwrap();
        for action in drain(&mut saga) {
            if let SagaAction::ReleaseHolds { reservations } = action {
                assert!(reservations.iter().all(|id| !claims().contains(id)), "a claim released: {reservations:?}");
            }
        }
    }
}

#[test]
fn a_failure_after_capture_is_not_compensated() {
    let mut saga = saga_after(5);
    assert_eq!(saga.step, SagaStep::Captured);
    assert_eq!(saga.advance(failed("db down")), Err(SagaError::FailedAfterCapture { reason: "db down".to_owned() }));
    assert_eq!(saga.next_action(), SagaAction::MarkPaid, "mark paid is retried");
}

#[test]
fn recovery_before_capture_compensates_and_after_capture_finishes() {
    let full = |authorization| {
        vec![
            SagaAction::Restock { reservations: holds(), claims: claims() },
            SagaAction::ReleaseHolds { reservations: holds() },
            void(authorization),
        ]
    };
    for successes in 0..=6 {
        let mut saga = saga_after(successes);
        let action = saga.recover(false);
        match successes {
            0..=2 => {
                assert_eq!(action, full(None)[0]);
                assert_eq!(drain(&mut saga), full(None), "after {successes} successes");
            }
            3 | 4 => assert_eq!(drain(&mut saga), full(Some(PaymentId::generate(7)))),
            5 => assert_eq!(action, SagaAction::MarkPaid),
            _ => assert_eq!(action, SagaAction::Done),
        }
        if successes < 5 {
            assert!(matches!(saga.step, SagaStep::Compensated { .. }));
        }
    }
}

#[test]
fn only_checkpoints_are_persisted_and_the_last_one_recovers_from_any_crash() {
    // The record as stored: written only at checkpoints while the saga runs.
    for crash_after in 0..=6 {
        let mut live = saga();
        let mut stored = live.clone();
        assert!(stored.is_checkpoint(), "written before the first action");
        for index in 0..crash_after {
            live.advance(if index == 2 { authorized() } else { ok() }).unwrap();
            if live.is_checkpoint() {
                stored = live.clone();
            }
        }
        let action = stored.recover(false);
        match crash_after {
            // Anything up to the capture may have run: the full compensation.
            0..=4 => assert_eq!(action, SagaAction::Restock { reservations: holds(), claims: claims() }),
            5 => assert_eq!(action, SagaAction::MarkPaid, "captured: finish"),
            _ => assert!(stored.is_finished(), "completed: nothing stored to recover"),
        }
    }
}

#[test]
fn a_saga_whose_order_was_created_is_complete_whatever_its_stored_step() {
    for successes in [0, 4, 5] {
        let mut saga = saga_after(successes);
        assert_eq!(saga.recover(true), SagaAction::Done, "after {successes} successes");
        assert_eq!(saga.step, SagaStep::Completed);
    }
}

#[test]
fn a_capture_that_landed_before_the_crash_is_refunded() {
    let mut saga = saga_after(4);
    saga.recover(false);
    saga.advance(ok()).unwrap(); // restock
    assert_eq!(saga.advance(ok()), Ok(void(Some(PaymentId::generate(7)))));
    let refund = SagaAction::RefundCapture { reference: reference(), authorization: Some(PaymentId::generate(7)) };
    assert_eq!(saga.advance(SagaOutcome::AlreadyCaptured), Ok(refund));
    assert_eq!(saga.advance(ok()), Ok(SagaAction::Done));
    assert!(matches!(saga.step, SagaStep::Compensated { .. }));
}

#[test]
fn failed_compensations_move_on_and_stray_outcomes_are_rejected() {
    let mut saga = saga_after(1);
    saga.advance(failed("fraud")).unwrap();
    assert_eq!(saga.advance(failed("hold already expired")), Ok(SagaAction::Done));
    let mut fresh = saga_after(1);
    assert!(matches!(fresh.advance(SagaOutcome::AlreadyCaptured), Err(SagaError::UnexpectedOutcome { .. })));
    let mut compensating = saga_after(0);
    compensating.advance(failed("stock")).unwrap();
    assert!(matches!(compensating.advance(SagaOutcome::AlreadyCaptured), Err(SagaError::UnexpectedOutcome { .. })));
}

#[test]
fn the_saga_round_trips_through_bincode_mid_compensation() {
    let mut saga = saga_after(3);
    saga.advance(failed("expired")).unwrap();
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&saga, config).unwrap();
    let (back, _): (PlaceOrderSaga, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, saga);
}

#[test]
fn a_review_verdict_creates_the_order_on_hold_without_capturing() {
    let mut saga = saga();
    saga.advance(ok()).unwrap();
    assert_eq!(saga.next_action(), SagaAction::CheckFraud);
    let next = saga.advance(SagaOutcome::Review).unwrap();
    assert_eq!(next, SagaAction::Authorize { reference: reference() });
    let next = saga.advance(authorized()).unwrap();
    assert_eq!(next, SagaAction::CommitHolds { reservations: holds(), claims: claims() });
    assert_eq!(saga.advance(ok()).unwrap(), SagaAction::HoldForReview, "held, never captured");
    assert!(!saga.is_checkpoint(), "nothing but the end is written after the start");
    assert_eq!(saga.advance(ok()).unwrap(), SagaAction::Done);
    assert_eq!(saga.step, SagaStep::Completed);
}

#[test]
fn a_review_verdict_fits_only_the_fraud_check_and_a_held_saga_compensates_like_any() {
    let mut fresh = saga();
    assert!(matches!(fresh.advance(SagaOutcome::Review), Err(SagaError::UnexpectedOutcome { .. })));
    assert_eq!(fresh, saga(), "a refused outcome changes nothing");

    // Stock lost before commit: the held path compensates in full.
    let mut held = saga();
    held.advance(ok()).unwrap();
    held.advance(SagaOutcome::Review).unwrap();
    held.advance(authorized()).unwrap();
    held.advance(failed("hold expired")).unwrap();
    let actions = drain(&mut held);
    assert_eq!(
        actions,
        [
            SagaAction::Restock { reservations: holds(), claims: claims() },
            SagaAction::ReleaseHolds { reservations: holds() },
            void(Some(PaymentId::generate(7))),
        ]
    );

    // A crash while held: compensated unless the held order exists.
    let mut crashed = saga();
    crashed.advance(ok()).unwrap();
    crashed.advance(SagaOutcome::Review).unwrap();
    let mut created = crashed.clone();
    assert!(matches!(crashed.recover(false), SagaAction::Restock { .. }));
    assert_eq!(created.recover(true), SagaAction::Done);
}
