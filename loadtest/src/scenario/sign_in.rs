//! `sign-in`: a flood of sign-ins, right and wrong passwords mixed, from many
//! client addresses, against customers registered at setup; the run checks
//! that the server tells them apart and refuses what it cannot take with a
//! 429 that says when to come back.
//!
//! Setup (untimed) registers `--customers` customers, customer k on behalf of
//! its own address (`X-Forwarded-For` 10.64.x.y, see [`customers::Space`]),
//! sending a request again after a 429's `Retry-After`. The server must trust
//! this machine as a proxy (`--trusted-proxy 127.0.0.1/32`): setup stops with
//! an error saying so when it does not.
//!
//! The load: ticket k is one `POST /v1/sessions` for a customer drawn at
//! random, on behalf of an address drawn at random among `--addresses`
//! (10.0.x.y), with the right password when `k % right_one_in == 0` and a
//! wrong one otherwise. The server answers 200 (a session), 401 (wrong
//! password) or 429 (too many from the address, the (email, address) pair
//! locked out after repeated failures, or its password hashers busy), each
//! 429 with `Retry-After`. The flood does not wait for it: it is a flood.
//!
//! Every 200 starts a 30-day session the server keeps (that is part of what
//! the flood costs it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use bytes::Bytes;
use hyper::StatusCode;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Deserialize;

use crate::config::{RunConfig, CONNECTIONS_MAX, RATE_MAX_PER_S};
use crate::drive::Driven;
use crate::http::{classify, Client, Outcome, Request, Response, Target};
use crate::report::{Check, Figure};
use crate::scenario::catalog;
use crate::scenario::customers::{self, Space, TooMany};

/// The password of every wrong attempt (a registered one is [`customers::PASSWORD`]).
pub const WRONG_PASSWORD: &str = "loadtest-wrong-password";
/// Most simulated client addresses.
pub const ADDRESSES_MAX: u64 = customers::SPACE_ADDRESSES;
/// Largest `--right-one-in`.
pub const RIGHT_ONE_IN_MAX: u64 = 1_000_000;

/// The `sign-in` flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInOptions {
    /// Customers registered at setup, whose passwords the flood tries.
    pub customers: u64,
    /// Client addresses the attempts come from.
    pub addresses: u64,
    /// One attempt in this many has the right password.
    pub right_one_in: u64,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions { customers: 1_000, addresses: 10_000, right_one_in: 10 }
    }
}

impl SignInOptions {
    pub fn validate(&self) -> anyhow::Result<()> {
        let max = customers::CUSTOMERS_MAX;
        ensure!((1..=max).contains(&self.customers), "--customers must be between 1 and {max}, got {}", self.customers);
        ensure!(
            (1..=ADDRESSES_MAX).contains(&self.addresses),
            "--addresses must be between 1 and {ADDRESSES_MAX}, got {}",
            self.addresses
        );
        ensure!(
            (1..=RIGHT_ONE_IN_MAX).contains(&self.right_one_in),
            "--right-one-in must be between 1 and {RIGHT_ONE_IN_MAX}, got {}",
            self.right_one_in
        );
        Ok(())
    }
}

/// `--flash-sale-rate`: the `flash-sale` claims run beside the flood, against
/// the same server, over the same duration.
#[derive(Clone, Debug, PartialEq)]
pub struct SaleBeside {
    /// Claims per second, in an open loop.
    pub rate_per_s: u64,
    /// Most claims in flight.
    pub connections: usize,
    /// When set, a check that the claims' p99 latency stays at or below it.
    pub p99_max_ms: Option<f64>,
}

impl SaleBeside {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            (1..=RATE_MAX_PER_S).contains(&self.rate_per_s),
            "--flash-sale-rate must be between 1 and {RATE_MAX_PER_S}, got {}",
            self.rate_per_s
        );
        ensure!(
            (1..=CONNECTIONS_MAX).contains(&self.connections),
            "--flash-sale-connections must be between 1 and {CONNECTIONS_MAX}, got {}",
            self.connections
        );
        if let Some(max) = self.p99_max_ms {
            ensure!(max.is_finite() && max > 0.0, "--claim-p99-max-ms must be above zero, got {max}");
        }
        Ok(())
    }

    /// Customers of the sale: one claim each, as many as fall due in `run_for`.
    pub fn customers(&self, run_for: Duration) -> u64 {
        let due = (u128::from(self.rate_per_s) * run_for.as_nanos()).div_ceil(1_000_000_000);
        u64::try_from(due).unwrap_or(u64::MAX).max(1)
    }
}

/// One kind of attempt's answers (right or wrong password).
#[derive(Debug, Default)]
struct Counts {
    attempts: AtomicU64,
    /// 200.
    signed_in: AtomicU64,
    /// 200 whose body carries no token.
    without_token: AtomicU64,
    /// 401.
    refused: AtomicU64,
    /// 429.
    too_many: AtomicU64,
    /// 5xx.
    server_errors: AtomicU64,
    /// Any other status.
    other: AtomicU64,
    unanswered: AtomicU64,
}

impl Counts {
    fn tallied(&self) -> Tallied {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Tallied {
            attempts: read(&self.attempts),
            signed_in: read(&self.signed_in),
            without_token: read(&self.without_token),
            refused: read(&self.refused),
            too_many: read(&self.too_many),
            server_errors: read(&self.server_errors),
            other: read(&self.other),
            unanswered: read(&self.unanswered),
        }
    }
}

/// [`Counts`] once the load is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tallied {
    pub attempts: u64,
    pub signed_in: u64,
    pub without_token: u64,
    pub refused: u64,
    pub too_many: u64,
    pub server_errors: u64,
    pub other: u64,
    pub unanswered: u64,
}

/// What every answer of the flood came to.
#[derive(Debug, Default)]
struct Ledger {
    right: Counts,
    wrong: Counts,
    /// 429s without a `Retry-After` in seconds.
    without_retry_after: AtomicU64,
    /// 429s by what they were about.
    throttled: AtomicU64,
    locked_out: AtomicU64,
    busy: AtomicU64,
    too_many_other: AtomicU64,
}

/// The ledger once the load is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub right: Tallied,
    pub wrong: Tallied,
    pub without_retry_after: u64,
    pub throttled: u64,
    pub locked_out: u64,
    pub busy: u64,
    pub too_many_other: u64,
}

impl Ledger {
    fn record(&self, right: bool, response: &Response) {
        let counts = if right { &self.right } else { &self.wrong };
        let bump = |counter: &AtomicU64| counter.fetch_add(1, Ordering::Relaxed);
        match response.status {
            StatusCode::OK => {
                bump(&counts.signed_in);
                if !has_token(&response.body) {
                    bump(&counts.without_token);
                }
            }
            StatusCode::UNAUTHORIZED => {
                bump(&counts.refused);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                bump(&counts.too_many);
                if response.retry_after_s.is_none() {
                    bump(&self.without_retry_after);
                }
                bump(match TooMany::of(response) {
                    TooMany::Throttled => &self.throttled,
                    TooMany::LockedOut => &self.locked_out,
                    TooMany::Busy => &self.busy,
                    TooMany::Other => &self.too_many_other,
                });
            }
            status if status.is_server_error() => {
                bump(&counts.server_errors);
            }
            _ => {
                bump(&counts.other);
            }
        }
    }

    fn summary(&self) -> Summary {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Summary {
            right: self.right.tallied(),
            wrong: self.wrong.tallied(),
            without_retry_after: read(&self.without_retry_after),
            throttled: read(&self.throttled),
            locked_out: read(&self.locked_out),
            busy: read(&self.busy),
            too_many_other: read(&self.too_many_other),
        }
    }
}

/// Whether a 200's body names the session's token.
fn has_token(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Session {
        token: String,
    }
    serde_json::from_slice::<Session>(body).is_ok_and(|session| !session.token.is_empty())
}

/// `sign-in`, set up; during the load, the ledger of every answer.
#[derive(Debug)]
pub struct SignIn {
    run_id: String,
    options: SignInOptions,
    /// Setup requests sent again after a 429.
    setup_retries: u64,
    ledger: Ledger,
}

impl SignIn {
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<SignIn> {
        let options = config.sign_in.clone();
        options.validate()?;
        catalog::check_server(target).await?;
        let count = usize::try_from(options.customers).context("--customers does not fit this machine")?;
        let run_id = format!("{:016x}", rand::random::<u64>());
        let setup_retries =
            customers::register(target, &run_id, count, config.connections, Space::Registration).await?;
        Ok(SignIn { run_id, options, setup_retries, ledger: Ledger::default() })
    }

    /// Ticket `ticket`'s sign-in attempt.
    pub async fn attempt(&self, ticket: u64, client: &Client, rng: &mut StdRng) -> Outcome {
        let customer = rng.random_range(0..self.options.customers);
        let address = customers::client_address(Space::Flood, rng.random_range(0..self.options.addresses));
        let right = ticket % self.options.right_one_in == 0;
        let email = customers::email(&self.run_id, usize::try_from(customer).unwrap_or(usize::MAX));
        let password = if right { customers::PASSWORD } else { WRONG_PASSWORD };
        // Emails and passwords are plain ASCII without quotes or backslashes.
        let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
        let request = Request::post_json("/v1/sessions".to_owned(), Bytes::from(body)).forwarded_for(address);
        let counts = if right { &self.ledger.right } else { &self.ledger.wrong };
        counts.attempts.fetch_add(1, Ordering::Relaxed);
        match client.send(&request).await {
            Ok(response) => {
                self.ledger.record(right, &response);
                classify(&response)
            }
            Err(error) => {
                counts.unanswered.fetch_add(1, Ordering::Relaxed);
                Outcome::Failed(error.failure)
            }
        }
    }

    /// The checks on the finished load, and its figures.
    pub fn verify(&self, driven: &Driven) -> (Vec<Check>, Vec<Figure>) {
        let summary = self.ledger.summary();
        (checks(&summary), figures(&summary, self.setup_retries, driven.elapsed))
    }

    pub fn describe(&self) -> String {
        let SignInOptions { customers, addresses, right_one_in } = &self.options;
        let last = customers::client_address(Space::Flood, addresses.saturating_sub(1));
        format!(
            "{customers} customers registered, each from an address of its own ({} requests sent again after \
             429); sign-ins for a random customer from {addresses} addresses (X-Forwarded-For 10.0.0.0 to \
             {last}), the right password in one attempt of {right_one_in}",
            self.setup_retries
        )
    }
}

/// The verdicts on a flood's answers.
pub fn checks(summary: &Summary) -> Vec<Check> {
    let Summary { right, wrong, without_retry_after, .. } = *summary;
    let server_errors = right.server_errors + wrong.server_errors;
    let answered = right.attempts + wrong.attempts - right.unanswered - wrong.unanswered;
    let too_many = right.too_many + wrong.too_many;
    let right_decided = right.attempts - right.unanswered - right.too_many;
    let right_bad = right.refused + right.server_errors + right.other + right.without_token;
    let wrong_let_in = wrong.signed_in;
    vec![
        Check {
            name: "no-server-errors",
            passed: server_errors == 0,
            detail: format!("{server_errors} of {answered} answers were 5xx"),
        },
        Check {
            name: "retry-after",
            passed: without_retry_after == 0,
            detail: format!("{without_retry_after} of {too_many} 429 answers without Retry-After in seconds"),
        },
        Check {
            name: "right-password-signs-in",
            passed: right_bad == 0 && right.signed_in > 0,
            detail: format!(
                "{} of {right_decided} right-password attempts answered other than 429 got 200 with a token \
                 ({} 401, {} 5xx, {} other, {} 200 without a token; {} more were 429)",
                right.signed_in - right.without_token,
                right.refused,
                right.server_errors,
                right.other,
                right.without_token,
                right.too_many
            ),
        },
        Check {
            name: "wrong-password-refused",
            passed: wrong_let_in == 0 && wrong.other == 0,
            detail: format!(
                "{} wrong-password attempts: {} 401, {} 429, {wrong_let_in} 200, {} other, {} 5xx",
                wrong.attempts, wrong.refused, wrong.too_many, wrong.other, wrong.server_errors
            ),
        },
    ]
}

/// The flood's own figures.
pub fn figures(summary: &Summary, setup_retries: u64, elapsed: Duration) -> Vec<Figure> {
    let Summary { right, wrong, throttled, locked_out, busy, too_many_other, .. } = *summary;
    let seconds = elapsed.as_secs_f64();
    let per_s = |count: u64| if seconds > 0.0 { count_f64(count) / seconds } else { 0.0 };
    let attempts = right.attempts + wrong.attempts;
    vec![
        Figure { name: "attempts", value: count_f64(attempts) },
        Figure { name: "attempts_per_s", value: per_s(attempts) },
        Figure { name: "right_attempts", value: count_f64(right.attempts) },
        Figure { name: "signed_in", value: count_f64(right.signed_in + wrong.signed_in) },
        Figure { name: "signed_in_per_s", value: per_s(right.signed_in + wrong.signed_in) },
        Figure { name: "refused", value: count_f64(right.refused + wrong.refused) },
        Figure { name: "too_many", value: count_f64(right.too_many + wrong.too_many) },
        Figure { name: "too_many_per_address", value: count_f64(throttled) },
        Figure { name: "too_many_locked_out", value: count_f64(locked_out) },
        Figure { name: "too_many_hashers_busy", value: count_f64(busy) },
        Figure { name: "too_many_other", value: count_f64(too_many_other) },
        Figure { name: "right_too_many", value: count_f64(right.too_many) },
        Figure { name: "setup_retries", value: count_f64(setup_retries) },
    ]
}

/// Counts stay far below 2^53, where `u64 -> f64` is exact.
fn count_f64(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after_s: Option<u64>, body: &str) -> Response {
        Response {
            status: StatusCode::from_u16(status).expect("status"),
            content_type: Some("application/json".to_owned()),
            retry_after_s,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn verdicts(ledger: &Ledger) -> Vec<(&'static str, bool)> {
        checks(&ledger.summary()).into_iter().map(|check| (check.name, check.passed)).collect()
    }

    fn answer(ledger: &Ledger, right: bool, response: &Response) {
        let counts = if right { &ledger.right } else { &ledger.wrong };
        counts.attempts.fetch_add(1, Ordering::Relaxed);
        ledger.record(right, response);
    }

    #[test]
    fn a_flood_that_tells_passwords_apart_passes() {
        let ledger = Ledger::default();
        answer(&ledger, true, &response(200, None, r#"{"token":"tok_1","customer_id":"c","cart_id":"k"}"#));
        answer(&ledger, true, &response(429, Some(1), r#"{"detail":"too many failed sign-ins; retry in 9 ms"}"#));
        answer(&ledger, false, &response(401, None, r#"{"type":"unauthorized"}"#));
        answer(&ledger, false, &response(429, Some(1), r#"{"detail":"too many sign-ins are being checked"}"#));
        assert!(verdicts(&ledger).iter().all(|(_, passed)| *passed), "{:?}", checks(&ledger.summary()));
        let summary = ledger.summary();
        assert_eq!((summary.locked_out, summary.busy, summary.throttled), (1, 1, 0));
        let figures = figures(&summary, 3, Duration::from_secs(2));
        let figure = |name: &str| figures.iter().find(|figure| figure.name == name).map(|figure| figure.value);
        assert_eq!(figure("attempts"), Some(4.0));
        assert_eq!(figure("attempts_per_s"), Some(2.0));
        assert_eq!(figure("right_too_many"), Some(1.0));
        assert_eq!(figure("setup_retries"), Some(3.0));
    }

    #[test]
    fn each_wrong_answer_fails_its_check() {
        let failing = |right: bool, answered: Response| {
            let ledger = Ledger::default();
            answer(&ledger, true, &response(200, None, r#"{"token":"tok_1"}"#));
            answer(&ledger, right, &answered);
            verdicts(&ledger).into_iter().filter(|(_, passed)| !passed).map(|(name, _)| name).collect::<Vec<_>>()
        };
        assert_eq!(failing(false, response(200, None, r#"{"token":"t"}"#)), ["wrong-password-refused"]);
        assert_eq!(failing(true, response(401, None, "{}")), ["right-password-signs-in"]);
        assert_eq!(failing(true, response(200, None, "{}")), ["right-password-signs-in"], "a 200 without a token");
        assert_eq!(failing(false, response(429, None, "{}")), ["retry-after"]);
        assert_eq!(failing(false, response(503, None, "{}")), ["no-server-errors"]);
        assert_eq!(failing(false, response(422, None, "{}")), ["wrong-password-refused"]);
        let none_signed_in = Ledger::default();
        answer(&none_signed_in, true, &response(429, Some(1), "{}"));
        assert_eq!(
            verdicts(&none_signed_in).into_iter().filter(|(_, passed)| !passed).count(),
            1,
            "a flood in which nobody signed in proves nothing"
        );
    }

    #[test]
    fn the_options_have_limits_and_the_sale_beside_covers_the_duration() {
        assert!(SignInOptions::default().validate().is_ok());
        for bad in [
            SignInOptions { customers: 0, ..SignInOptions::default() },
            SignInOptions { addresses: 0, ..SignInOptions::default() },
            SignInOptions { addresses: ADDRESSES_MAX + 1, ..SignInOptions::default() },
            SignInOptions { right_one_in: 0, ..SignInOptions::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let beside = SaleBeside { rate_per_s: 100, connections: 32, p99_max_ms: Some(50.0) };
        assert!(beside.validate().is_ok());
        assert_eq!(beside.customers(Duration::from_secs(30)), 3_000);
        assert_eq!(beside.customers(Duration::from_millis(1)), 1);
        assert!(SaleBeside { rate_per_s: 0, ..beside.clone() }.validate().is_err());
        assert!(SaleBeside { p99_max_ms: Some(f64::NAN), ..beside }.validate().is_err());
    }
}
