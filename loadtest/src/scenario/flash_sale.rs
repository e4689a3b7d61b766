//! `flash-sale`: many customers claim one deal at once, and the run checks
//! that the deal sold exactly what it had, to each customer at most their limit.
//!
//! Setup (untimed) raises the SKU's stock, creates the deal (started a minute
//! ago) or looks up `--deal-id`'s, and registers and signs in the customers.
//! The load: ticket k is customer k's one claim of one unit, with an
//! `Idempotency-Key`; for a seeded share of the customers the same claim is
//! sent again, same key, right after the first answer (a client retrying),
//! and the two answers are kept for comparison. The load ends when every
//! customer has claimed, or at the run's bounds.
//!
//! Verification ([`verify`]) reads every answer back from the ledger, then the
//! deal, the SKU's stock and a sample of the claims from the server. A claim
//! is the customer's until it expires (600 s by default), so a run must end,
//! and be verified, within that time.

pub mod setup;
mod verify;

use std::sync::{Arc, OnceLock};

use anyhow::{ensure, Context};
use bytes::Bytes;
use hyper::StatusCode;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Deserialize;
use tokio::time::Instant;

use self::setup::{Deal, Origin};
use crate::config::RunConfig;
use crate::drive::Driven;
use crate::http::{classify, encode_query_value, Client, Failure, Outcome, Request, Response, Target};
use crate::report::{Check, Figure};
use crate::scenario::{catalog, customers};

/// Most units one deal may offer.
pub const DEAL_QUANTITY_MAX: u64 = 100_000_000;
/// Highest per-customer limit a created deal may have.
pub const PER_CUSTOMER_LIMIT_MAX: u64 = 1_000_000;
/// The problem type counted for a 201 whose body names no reservation.
pub const NOT_A_CLAIM: &str = "(201 without reservation_id)";

/// The `flash-sale` flags.
#[derive(Clone, Debug, PartialEq)]
pub struct SaleOptions {
    /// Customers registered at setup; each claims one unit once.
    pub customers: u64,
    /// Units of the deal created at setup.
    pub deal_quantity: u64,
    /// Units one customer may claim from the created deal.
    pub per_customer_limit: u64,
    /// Share of the claims sent a second time with the same key, 0 to 1.
    pub retry_share: f64,
    /// The deal's SKU; `None` takes the demo catalog's first.
    pub sku: Option<String>,
    /// Claim from this deal instead of creating one.
    pub deal_id: Option<String>,
    /// Sign customer k up on behalf of address k of this space
    /// (`X-Forwarded-For`); `None`: from this machine's own address.
    pub sign_up_space: Option<customers::Space>,
}

impl Default for SaleOptions {
    fn default() -> Self {
        SaleOptions {
            customers: 10_000,
            deal_quantity: 5_000,
            per_customer_limit: 1,
            retry_share: 0.05,
            sku: None,
            deal_id: None,
            sign_up_space: None,
        }
    }
}

impl SaleOptions {
    pub fn validate(&self) -> anyhow::Result<()> {
        let max = customers::CUSTOMERS_MAX;
        ensure!((1..=max).contains(&self.customers), "--customers must be between 1 and {max}, got {}", self.customers);
        ensure!(
            (1..=DEAL_QUANTITY_MAX).contains(&self.deal_quantity),
            "--deal-quantity must be between 1 and {DEAL_QUANTITY_MAX}, got {}",
            self.deal_quantity
        );
        ensure!(
            (1..=PER_CUSTOMER_LIMIT_MAX).contains(&self.per_customer_limit),
            "--per-customer-limit must be between 1 and {PER_CUSTOMER_LIMIT_MAX}, got {}",
            self.per_customer_limit
        );
        ensure!(
            (0.0..=1.0).contains(&self.retry_share),
            "--retry-share must be between 0 and 1, got {}",
            self.retry_share
        );
        Ok(())
    }
}

/// What one claim request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 201, naming the claim's reservation.
    Claimed {
        reservation_id: String,
    },
    /// Any other answer ([`NOT_A_CLAIM`] for a 201 without a reservation id).
    Refused {
        status: u16,
        problem: Option<String>,
    },
    NoAnswer(Failure),
}

/// A reply and when it arrived.
#[derive(Clone, Debug)]
pub struct Answer {
    pub reply: Reply,
    pub at: Instant,
}

/// One customer's part in the sale.
#[derive(Debug)]
struct Claimant {
    customer: customers::Customer,
    idempotency_key: String,
    /// Sends its claim a second time, with the same key.
    retried: bool,
}

/// `flash-sale`, set up; during the load, the ledger of every answer.
#[derive(Debug)]
pub struct FlashSale {
    deal: Deal,
    claims_path: String,
    claim_body: Bytes,
    claimants: Vec<Claimant>,
    /// Per customer: the answer to the claim, and to its retry.
    first: Vec<OnceLock<Answer>>,
    retry: Vec<OnceLock<Answer>>,
    /// When the first claim was sent.
    started: OnceLock<Instant>,
}

impl FlashSale {
    pub async fn setup(config: &RunConfig, target: &Arc<Target>) -> anyhow::Result<FlashSale> {
        config.sale.validate()?;
        catalog::check_server(target).await?;
        let deal = setup::prepare(&config.sale, config.duration, target).await?;
        let count = usize::try_from(config.sale.customers).context("--customers does not fit this machine")?;
        let run_id = format!("{:016x}", rand::random::<u64>());
        let signed_in =
            customers::sign_up(target, &run_id, count, config.connections, config.sale.sign_up_space).await?;
        let retried = pick_retried(count, config.sale.retry_share, config.seed);
        let claimants = signed_in
            .into_iter()
            .zip(retried)
            .enumerate()
            .map(|(index, (customer, retried))| Claimant {
                customer,
                idempotency_key: format!("lt-{run_id}-claim-{index}"),
                retried,
            })
            .collect();
        Ok(FlashSale {
            claims_path: format!("/v1/deals/{}/claims", encode_query_value(&deal.id)),
            claim_body: Bytes::from_static(br#"{"quantity":1}"#),
            deal,
            claimants,
            first: (0..count).map(|_| OnceLock::new()).collect(),
            retry: (0..count).map(|_| OnceLock::new()).collect(),
            started: OnceLock::new(),
        })
    }

    /// One ticket per customer: the load ends when every customer has claimed.
    pub fn requests_max(&self) -> u64 {
        u64::try_from(self.claimants.len()).unwrap_or(u64::MAX)
    }

    /// Customer `ticket`'s claim.
    pub async fn claim(&self, ticket: u64, client: &Client) -> Outcome {
        let Some((index, claimant)) = self.claimant(ticket) else { return Outcome::Failed(Failure::Request) };
        self.started.get_or_init(Instant::now);
        let (outcome, answer) = self.send(client, claimant).await;
        // Each ticket is served once, so the slot is still empty.
        let _ = self.first[index].set(answer);
        outcome
    }

    /// The same claim again, same key, for the customers picked to retry.
    pub async fn retry(&self, ticket: u64, client: &Client) -> Option<Outcome> {
        let (index, claimant) = self.claimant(ticket).filter(|(_, claimant)| claimant.retried)?;
        let (outcome, answer) = self.send(client, claimant).await;
        let _ = self.retry[index].set(answer);
        Some(outcome)
    }

    fn claimant(&self, ticket: u64) -> Option<(usize, &Claimant)> {
        let index = usize::try_from(ticket).ok()?;
        self.claimants.get(index).map(|claimant| (index, claimant))
    }

    async fn send(&self, client: &Client, claimant: &Claimant) -> (Outcome, Answer) {
        let request = Request::post_json(self.claims_path.clone(), self.claim_body.clone())
            .as_customer(&claimant.customer.token)
            .with_idempotency_key(&claimant.idempotency_key);
        let (outcome, reply) = match client.send(&request).await {
            Ok(response) => (classify(&response), reply_of(&response)),
            Err(error) => (Outcome::Failed(error.failure), Reply::NoAnswer(error.failure)),
        };
        (outcome, Answer { reply, at: Instant::now() })
    }

    /// The checks on the finished load, and its figures.
    pub async fn verify(&self, target: &Arc<Target>, driven: &Driven) -> (Vec<Check>, Vec<Figure>) {
        let exchanges = self
            .first
            .iter()
            .zip(&self.retry)
            .map(|(first, retry)| verify::Exchange { first: first.get(), retry: retry.get() });
        let summary = verify::Summary::of(exchanges, self.deal.per_customer_limit);
        let mut checks = verify::ledger_checks(&summary, self.deal.offered, self.deal.per_customer_limit);
        let client = Client::new(Arc::clone(target));
        checks.push(verify::deal_check(&client, &self.deal, &summary).await);
        checks.push(verify::inventory_check(&client, &self.deal.sku).await);
        let sample: Vec<(&str, &str)> = verify::sample(&summary.claimed, verify::CLAIMS_SAMPLED)
            .map(|(index, reservation_id)| (self.claimants[*index].customer.token.as_str(), reservation_id.as_str()))
            .collect();
        checks.push(verify::held_check(&client, &sample, summary.claimed.len()).await);
        checks.push(verify::server_error_check(&driven.tally, summary.malformed));
        let figures = verify::figures(&summary, self.started.get().copied(), driven.elapsed);
        (checks, figures)
    }

    pub fn describe(&self) -> String {
        let Deal { id, sku, offered, per_customer_limit, origin } = &self.deal;
        let origin = match origin {
            Origin::Created { warehouse, on_hand_before, on_hand } => {
                format!("created; {warehouse} on_hand {on_hand_before} -> {on_hand}")
            }
            Origin::Reused { status } => format!("reused, {status} at setup"),
        };
        let retried = self.claimants.iter().filter(|claimant| claimant.retried).count();
        format!(
            "deal {id}: {offered} units of {sku} ({origin}), limit {per_customer_limit} per customer; \
             {} customers claim 1 unit each, {retried} of them twice with the same key",
            self.claimants.len()
        )
    }
}

/// The reply a claim's answer amounts to.
fn reply_of(response: &Response) -> Reply {
    #[derive(Deserialize)]
    struct Claimed {
        reservation_id: String,
    }
    if response.status == StatusCode::CREATED {
        if let Ok(claimed) = serde_json::from_slice::<Claimed>(&response.body) {
            return Reply::Claimed { reservation_id: claimed.reservation_id };
        }
        return Reply::Refused { status: response.status.as_u16(), problem: Some(NOT_A_CLAIM.to_owned()) };
    }
    match classify(response) {
        Outcome::Answered { status, problem } => Reply::Refused { status, problem },
        Outcome::Failed(failure) => Reply::NoAnswer(failure),
    }
}

/// Which of `count` customers retry: `round(count * share)` of them, drawn
/// from the run's seed.
fn pick_retried(count: usize, share: f64, seed: u64) -> Vec<bool> {
    // `count` is at most CUSTOMERS_MAX, far below 2^53, and `share` is in 0..=1,
    // so both conversions are exact enough and the amount is at most `count`.
    let amount = ((count as f64) * share.clamp(0.0, 1.0)).round() as usize;
    let mut retried = vec![false; count];
    let mut rng = StdRng::seed_from_u64(seed);
    for index in rand::seq::index::sample(&mut rng, count, amount.min(count)) {
        retried[index] = true;
    }
    retried
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &'static [u8]) -> Response {
        Response {
            status: StatusCode::from_u16(status).expect("status"),
            content_type: Some(content_type.to_owned()),
            retry_after_s: None,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn a_claim_reply_names_its_reservation_or_its_problem() {
        let created = br#"{"reservation_id":"res_1","expires_at":"2030-01-01T00:00:00Z","quantity":1}"#;
        assert_eq!(
            reply_of(&response(201, "application/json", created)),
            Reply::Claimed { reservation_id: "res_1".to_owned() }
        );
        assert_eq!(
            reply_of(&response(409, "application/problem+json", br#"{"type":"sold-out"}"#)),
            Reply::Refused { status: 409, problem: Some("sold-out".to_owned()) }
        );
        assert_eq!(
            reply_of(&response(201, "application/json", b"{}")),
            Reply::Refused { status: 201, problem: Some(NOT_A_CLAIM.to_owned()) }
        );
    }

    #[test]
    fn the_retried_share_is_exact_and_follows_the_seed() {
        let retried = pick_retried(1_000, 0.05, 7);
        assert_eq!(retried.iter().filter(|retried| **retried).count(), 50);
        assert_eq!(retried, pick_retried(1_000, 0.05, 7));
        assert_ne!(retried, pick_retried(1_000, 0.05, 8));
        assert!(pick_retried(10, 0.0, 7).iter().all(|retried| !retried));
        assert!(pick_retried(10, 1.0, 7).iter().all(|retried| *retried));
    }

    #[test]
    fn the_options_have_limits() {
        assert!(SaleOptions::default().validate().is_ok());
        for bad in [
            SaleOptions { customers: 0, ..SaleOptions::default() },
            SaleOptions { deal_quantity: DEAL_QUANTITY_MAX + 1, ..SaleOptions::default() },
            SaleOptions { per_customer_limit: 0, ..SaleOptions::default() },
            SaleOptions { retry_share: -0.1, ..SaleOptions::default() },
            SaleOptions { retry_share: f64::NAN, ..SaleOptions::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
