//! `flash-sale` verification: what the answers add up to, and whether the
//! server's own view (the deal, the SKU's stock, the claims) agrees.
//!
//! A customer counts once however many answers they got: as `created` when
//! any answer named a reservation, else by their first answer (the retry's
//! when the first got none). A claim without any answer may or may not have
//! taken a unit, so the checks that count units allow for those.
//!
//! The checks: `sold-exactly` (never more than the deal offered, and a
//! `sold-out` answer only once every unit went), `per-customer-limit`,
//! `idempotent-retries` (the same key got the same answer), `deal-state`,
//! `inventory` (the counts add up: `on_hand = held + committed + available +
//! safety_stock` with the deal's units in `held`, no negative availability), `claims-held` (a sample of the
//! claims reads back as held by their customer) and `no-server-errors`.

use std::time::Duration;

use hyper::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::setup::{self, Counts, Deal};
use super::{Answer, Reply};
use crate::http::{encode_query_value, Client, Request};
use crate::report::{Check, Figure};
use crate::tally::Tally;

/// Successful claims read back from the server after the load (all of them when fewer).
pub const CLAIMS_SAMPLED: usize = 100;
/// Examples a failed check names.
const EXAMPLES_SHOWN: usize = 5;
const SOLD_OUT: &str = "sold-out";
const LIMIT_EXCEEDED: &str = "limit-exceeded";

/// One customer's claim: the answer to it and to its retry, when sent.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub first: Option<&'a Answer>,
    pub retry: Option<&'a Answer>,
}

/// The answers of a load, per customer.
#[derive(Debug, Default)]
pub struct Summary {
    /// Customers whose claim was sent.
    pub claimants: u64,
    /// Customers who got a reservation.
    pub created: u64,
    /// Customers told the deal was sold out.
    pub sold_out: u64,
    /// Customers refused for any other reason (rate-limited, limit-exceeded, 5xx, ...).
    pub refused_other: u64,
    /// Customers without any answer: they may hold a unit nobody saw.
    pub unanswered: u64,
    /// Most distinct reservations one customer got.
    pub most_reservations: u64,
    /// Customers with more distinct reservations than their limit.
    pub over_limit: u64,
    /// First claims refused `limit-exceeded`: a customer who never claimed is within any limit.
    pub first_limit_refusals: u64,
    pub retries: u64,
    /// Retries whose first answer is one the server must replay (not 429, 5xx or none).
    pub retries_compared: u64,
    pub retry_mismatches: u64,
    /// The first few mismatches, described.
    pub retry_examples: Vec<String>,
    /// 201 answers without a reservation id.
    pub malformed: u64,
    /// Customer index and reservation of every customer who got one.
    pub claimed: Vec<(usize, String)>,
    /// First claims answered `sold-out`, and when the first and last of them arrived.
    pub sold_out_answers: u64,
    pub first_sold_out_at: Option<Instant>,
    pub last_sold_out_at: Option<Instant>,
    /// When the last reservation was answered.
    pub last_claimed_at: Option<Instant>,
}

impl Summary {
    pub fn of<'a>(exchanges: impl IntoIterator<Item = Exchange<'a>>, per_customer_limit: u64) -> Summary {
        let mut summary = Summary::default();
        for (index, exchange) in exchanges.into_iter().enumerate() {
            let Some(first) = exchange.first else { continue };
            summary.add(index, first, exchange.retry, per_customer_limit);
        }
        summary
    }

    fn add(&mut self, index: usize, first: &Answer, retry: Option<&Answer>, per_customer_limit: u64) {
        self.claimants += 1;
        let answers = || std::iter::once(first).chain(retry);
        let mut reservations: Vec<(&str, Instant)> = Vec::with_capacity(2);
        for answer in answers() {
            match &answer.reply {
                Reply::Claimed { reservation_id } => {
                    if reservations.iter().all(|(seen, _)| *seen != reservation_id.as_str()) {
                        reservations.push((reservation_id.as_str(), answer.at));
                    }
                }
                Reply::Refused { status: 201, .. } => self.malformed += 1,
                Reply::Refused { .. } | Reply::NoAnswer(_) => {}
            }
        }
        let held = u64::try_from(reservations.len()).unwrap_or(u64::MAX);
        self.most_reservations = self.most_reservations.max(held);
        self.over_limit += u64::from(held > per_customer_limit);
        if is_problem(&first.reply, LIMIT_EXCEEDED) {
            self.first_limit_refusals += 1;
        }
        if is_problem(&first.reply, SOLD_OUT) {
            self.sold_out_answers += 1;
            self.first_sold_out_at = Some(self.first_sold_out_at.map_or(first.at, |at| at.min(first.at)));
            self.last_sold_out_at = Some(self.last_sold_out_at.map_or(first.at, |at| at.max(first.at)));
        }
        if let Some((reservation_id, at)) = reservations.first() {
            self.created += 1;
            self.claimed.push((index, (*reservation_id).to_owned()));
            self.last_claimed_at = Some(self.last_claimed_at.map_or(*at, |last| last.max(*at)));
        } else {
            match answers().map(|answer| &answer.reply).find(|reply| !matches!(reply, Reply::NoAnswer(_))) {
                Some(reply) if is_problem(reply, SOLD_OUT) => self.sold_out += 1,
                Some(_) => self.refused_other += 1,
                None => self.unanswered += 1,
            }
        }
        if let Some(retry) = retry {
            self.compare(index, &first.reply, &retry.reply);
        }
    }

    fn compare(&mut self, index: usize, first: &Reply, retry: &Reply) {
        self.retries += 1;
        let replayed = match first {
            Reply::Claimed { .. } => true,
            Reply::Refused { status, .. } => *status != 429 && *status < 500,
            Reply::NoAnswer(_) => false,
        };
        if !replayed || matches!(retry, Reply::NoAnswer(_)) {
            return;
        }
        self.retries_compared += 1;
        if first != retry {
            self.retry_mismatches += 1;
            if self.retry_examples.len() < EXAMPLES_SHOWN {
                self.retry_examples.push(format!("customer {index}: {} then {}", describe(first), describe(retry)));
            }
        }
    }
}

fn is_problem(reply: &Reply, kind: &str) -> bool {
    matches!(reply, Reply::Refused { status: 409, problem: Some(problem) } if problem == kind)
}

fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Claimed { reservation_id } => format!("201 {reservation_id}"),
        Reply::Refused { status, problem } => format!("{status} {}", problem.as_deref().unwrap_or("")),
        Reply::NoAnswer(failure) => format!("no answer ({})", failure.as_str()),
    }
}

/// The checks the answers alone decide: `sold-exactly`, `per-customer-limit`,
/// `idempotent-retries`.
pub fn ledger_checks(summary: &Summary, offered: u64, per_customer_limit: u64) -> Vec<Check> {
    let Summary { claimants, created, sold_out, refused_other, unanswered, .. } = *summary;
    let mut sold = format!(
        "{created} of {offered} units claimed; of {claimants} customers' claims {sold_out} were told sold-out, \
         {refused_other} refused otherwise, {unanswered} unanswered"
    );
    let oversold = created > offered;
    // A sold-out answer is right only once every unit went, to an answered or an unanswered claim.
    let early = sold_out > 0 && created + unanswered < offered;
    if oversold {
        sold.push_str(&format!("; OVERSOLD by {}", created - offered));
    }
    if early {
        sold.push_str(&format!("; sold-out answered while {} units were left", offered - created - unanswered));
    }
    let limit = format!(
        "most units one customer got: {} (limit {per_customer_limit}); {} customers over it; \
         {} first claims refused limit-exceeded",
        summary.most_reservations, summary.over_limit, summary.first_limit_refusals
    );
    let mut retries = format!(
        "{} of {} retries got the first answer again ({} not comparable: first answer 429, 5xx or none)",
        summary.retries_compared - summary.retry_mismatches,
        summary.retries_compared,
        summary.retries - summary.retries_compared
    );
    if !summary.retry_examples.is_empty() {
        retries.push_str(&format!("; differing: {}", summary.retry_examples.join(", ")));
    }
    vec![
        Check { name: "sold-exactly", passed: !oversold && !early, detail: sold },
        Check {
            name: "per-customer-limit",
            passed: summary.over_limit == 0 && summary.first_limit_refusals == 0,
            detail: limit,
        },
        Check { name: "idempotent-retries", passed: summary.retry_mismatches == 0, detail: retries },
    ]
}

/// `deal-state`: the deal's `remaining` is what the answers leave, and it is
/// `sold_out` exactly when nothing remains.
pub async fn deal_check(client: &Client, deal: &Deal, summary: &Summary) -> Check {
    let name = "deal-state";
    let view = match setup::read_deal(client, &deal.id).await {
        Ok(view) => view,
        Err(error) => return Check { name, passed: false, detail: format!("{error:#}") },
    };
    // Signed: an oversold deal leaves less than nothing, which no view can show.
    let most = i128::from(deal.offered) - i128::from(summary.created);
    let least = most - i128::from(summary.unanswered);
    let remaining_ok = (least..=most).contains(&i128::from(view.remaining));
    let status_ok = (view.remaining == 0) == (view.status == "sold_out");
    let expected = if least == most { format!("{most}") } else { format!("{least} to {most}") };
    Check {
        name,
        passed: remaining_ok && status_ok,
        detail: format!(
            "remaining {} (expected {expected}), status {} (sold_out exactly when nothing remains)",
            view.remaining, view.status
        ),
    }
}

/// `inventory`: the SKU's counts, in total and per warehouse, add up
/// ([`Counts::is_consistent`]): the deal's units are held, nothing is
/// oversold, nothing is unaccounted for.
pub async fn inventory_check(client: &Client, sku: &str) -> Check {
    let name = "inventory";
    let inventory = match setup::read_inventory(client, sku).await {
        Ok(inventory) => inventory,
        Err(error) => return Check { name, passed: false, detail: format!("{error:#}") },
    };
    let show = |counts: &Counts| {
        format!(
            "on_hand {}, available {}, held {} (deals {}), committed {}, safety_stock {}",
            counts.on_hand,
            counts.available,
            counts.held,
            counts.deal_held.map_or_else(|| "?".to_owned(), |units| units.to_string()),
            counts.committed,
            counts.safety_stock
        )
    };
    let mut detail = format!("{sku}: {}", show(&inventory.totals));
    let mut passed = inventory.totals.is_consistent();
    for kept in inventory.warehouses.iter().filter(|kept| !kept.counts.is_consistent()) {
        passed = false;
        detail.push_str(&format!("; {} does not add up: {}", kept.warehouse, show(&kept.counts)));
    }
    if passed {
        detail.push_str(&format!(" (and consistent in each of {} warehouses)", inventory.warehouses.len()));
    }
    Check { name, passed, detail }
}

/// `claims-held`: each sampled claim, read with its customer's token
/// (`GET /v1/reservations/{id}`), is `held`.
pub async fn held_check(client: &Client, sample: &[(&str, &str)], claimed: usize) -> Check {
    #[derive(Deserialize)]
    struct Reservation {
        status: String,
    }
    let mut held = 0;
    let mut examples = Vec::new();
    for (token, reservation_id) in sample {
        let path = format!("/v1/reservations/{}", encode_query_value(reservation_id));
        let seen = match client.send(&Request::get(path).as_customer(token)).await {
            Ok(response) => setup::expect::<Reservation>(&response, StatusCode::OK, "GET")
                .map_or_else(|error| format!("{error:#}"), |reservation| reservation.status),
            Err(error) => error.to_string(),
        };
        if seen == "held" {
            held += 1;
        } else if examples.len() < EXAMPLES_SHOWN {
            examples.push(format!("{reservation_id}: {seen}"));
        }
    }
    let mut detail = format!("{held} of {} sampled claims (of {claimed}) read back as held", sample.len());
    if !examples.is_empty() {
        detail.push_str(&format!("; not held: {}", examples.join(", ")));
    }
    Check { name: "claims-held", passed: held == sample.len(), detail }
}

/// `no-server-errors`: no 5xx answer, and every 201 named its reservation.
pub fn server_error_check(tally: &Tally, malformed: u64) -> Check {
    let server_errors: u64 = tally.statuses.range(500..).map(|(_, count)| count).sum();
    Check {
        name: "no-server-errors",
        passed: server_errors == 0 && malformed == 0,
        detail: format!("{server_errors} answers 5xx, {malformed} answers 201 without a reservation_id"),
    }
}

/// `count` items spread evenly over `items` (all of them when fewer).
pub fn sample<T>(items: &[T], count: usize) -> impl Iterator<Item = &T> {
    let picked = items.len().min(count);
    (0..picked).map(move |nth| &items[nth * items.len() / picked])
}

/// The sale's figures: claims per second over the load, sold-out answers per
/// second from the first to the last of them, and how long the units lasted.
pub fn figures(summary: &Summary, started: Option<Instant>, elapsed: Duration) -> Vec<Figure> {
    let per_s = |count: u64, window: Duration| {
        let seconds = window.as_secs_f64();
        if seconds > 0.0 {
            count_f64(count) / seconds
        } else {
            0.0
        }
    };
    let mut figures = vec![
        Figure { name: "claims", value: count_f64(summary.claimants) },
        Figure { name: "claims_created", value: count_f64(summary.created) },
        Figure { name: "claims_per_s", value: per_s(summary.claimants, elapsed) },
        Figure { name: "retries", value: count_f64(summary.retries) },
        Figure { name: "sold_out_answers", value: count_f64(summary.sold_out_answers) },
    ];
    if let (Some(first), Some(last)) = (summary.first_sold_out_at, summary.last_sold_out_at) {
        figures.push(Figure { name: "sold_out_per_s", value: per_s(summary.sold_out_answers, last - first) });
        if let (Some(started), Some(claimed)) = (started, summary.last_claimed_at) {
            let lasted = claimed.saturating_duration_since(started);
            figures.push(Figure { name: "sold_out_after_s", value: lasted.as_secs_f64() });
        }
    }
    figures
}

/// Counts stay far below 2^53, where `u64 -> f64` is exact.
fn count_f64(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Failure;

    fn answer(reply: Reply) -> Answer {
        Answer { reply, at: Instant::now() }
    }

    fn claimed(id: &str) -> Answer {
        answer(Reply::Claimed { reservation_id: id.to_owned() })
    }

    fn refused(status: u16, problem: &str) -> Answer {
        answer(Reply::Refused { status, problem: Some(problem.to_owned()) })
    }

    fn summary(exchanges: &[(Answer, Option<Answer>)], limit: u64) -> Summary {
        Summary::of(
            exchanges.iter().map(|(first, retry)| Exchange { first: Some(first), retry: retry.as_ref() }),
            limit,
        )
    }

    fn verdicts(summary: &Summary, offered: u64) -> Vec<bool> {
        ledger_checks(summary, offered, 1).iter().map(|check| check.passed).collect()
    }

    #[test]
    fn a_sale_that_sells_exactly_its_units_passes() {
        let exchanges = [
            (claimed("r1"), Some(claimed("r1"))),
            (claimed("r2"), None),
            (refused(409, SOLD_OUT), Some(refused(409, SOLD_OUT))),
            (refused(429, "rate-limited"), None),
        ];
        let summary = summary(&exchanges, 1);
        assert_eq!((summary.created, summary.sold_out, summary.refused_other), (2, 1, 1));
        assert_eq!((summary.retries, summary.retries_compared, summary.retry_mismatches), (2, 2, 0));
        assert_eq!(summary.claimed, vec![(0, "r1".to_owned()), (1, "r2".to_owned())]);
        assert_eq!(verdicts(&summary, 2), [true, true, true]);
    }

    #[test]
    fn overselling_or_selling_out_early_fails() {
        let exchanges = [(claimed("r1"), None), (claimed("r2"), None), (refused(409, SOLD_OUT), None)];
        let summary = summary(&exchanges, 1);
        assert_eq!(verdicts(&summary, 1), [false, true, true], "two units sold of one");
        assert_eq!(verdicts(&summary, 3), [false, true, true], "sold out with a unit left");
        let checks = ledger_checks(&summary, 1, 1);
        assert!(checks[0].detail.contains("OVERSOLD by 1"), "{}", checks[0].detail);
    }

    #[test]
    fn an_unanswered_claim_may_have_taken_the_last_unit() {
        let exchanges =
            [(claimed("r1"), None), (answer(Reply::NoAnswer(Failure::Timeout)), None), (refused(409, SOLD_OUT), None)];
        let summary = summary(&exchanges, 1);
        assert_eq!(summary.unanswered, 1);
        assert_eq!(verdicts(&summary, 2), [true, true, true]);
    }

    #[test]
    fn a_retry_with_another_reservation_breaks_the_limit_and_idempotency() {
        let exchanges = [(claimed("r1"), Some(claimed("r9"))), (refused(409, LIMIT_EXCEEDED), None)];
        let summary = summary(&exchanges, 1);
        assert_eq!((summary.most_reservations, summary.over_limit, summary.first_limit_refusals), (2, 1, 1));
        assert_eq!(verdicts(&summary, 5), [true, false, false]);
        assert_eq!(summary.retry_examples, vec!["customer 0: 201 r1 then 201 r9".to_owned()]);
    }

    #[test]
    fn retries_after_a_429_or_no_answer_run_anew() {
        let exchanges = [
            (refused(429, "rate-limited"), Some(claimed("r1"))),
            (answer(Reply::NoAnswer(Failure::Io)), Some(refused(409, SOLD_OUT))),
        ];
        let summary = summary(&exchanges, 1);
        assert_eq!((summary.retries, summary.retries_compared), (2, 0));
        assert_eq!((summary.created, summary.sold_out, summary.unanswered), (1, 1, 0));
        assert_eq!(verdicts(&summary, 1), [true, true, true]);
    }

    #[test]
    fn the_sample_spreads_over_every_claim() {
        let items: Vec<u32> = (0..1_000).collect();
        let picked: Vec<u32> = sample(&items, 100).copied().collect();
        assert_eq!(picked.len(), 100);
        assert_eq!((picked[0], picked[99]), (0, 990));
        assert_eq!(sample(&items[..30], 100).count(), 30);
        assert_eq!(sample(&items[..101], 100).count(), 100);
        assert_eq!(sample::<u32>(&[], 100).count(), 0);
    }

    #[test]
    fn the_sold_out_rate_runs_from_the_first_to_the_last_sold_out_answer() {
        let start = Instant::now();
        let at = |ms: u64, reply: Reply| Answer { reply, at: start + Duration::from_millis(ms) };
        let sold_out = || Reply::Refused { status: 409, problem: Some(SOLD_OUT.to_owned()) };
        let exchanges = [
            (at(100, Reply::Claimed { reservation_id: "r1".to_owned() }), None),
            (at(200, sold_out()), None),
            (at(400, sold_out()), None),
            (at(700, sold_out()), None),
        ];
        let summary = summary(&exchanges, 1);
        let figures = figures(&summary, Some(start), Duration::from_secs(1));
        let figure = |name: &str| figures.iter().find(|figure| figure.name == name).map(|figure| figure.value);
        assert_eq!(figure("claims_per_s"), Some(4.0));
        assert_eq!(figure("sold_out_per_s"), Some(6.0));
        assert_eq!(figure("sold_out_after_s"), Some(0.1));
    }
}
