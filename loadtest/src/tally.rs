//! What the workers record: every request's latency and what it came to.
//!
//! Each worker keeps its own tally (no sharing on the hot path); the driver
//! merges them when the load ends. Invariant: `requests` equals the sum of
//! `statuses` and `failures`, the sum of `problems` equals the number of
//! 4xx/5xx statuses, and, when latencies are split by status, each status's
//! histogram holds as many latencies as that status has answers.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::http::{Failure, Outcome};

/// Longest latency the histogram tells apart; longer ones are recorded as this.
pub const LATENCY_MAX: Duration = Duration::from_secs(60 * 60);
/// Significant decimal digits of the histogram (0.1% resolution).
pub const LATENCY_SIGFIG: u8 = 3;

/// Latencies and outcome counts.
#[derive(Clone, Debug)]
pub struct Tally {
    /// Microseconds, from when the request was due (open loop) or sent (closed loop)
    /// to the end of its answer, or to its failure.
    pub latency_us: Histogram<u64>,
    /// The same latencies per HTTP status, when the tally splits them (see
    /// [`Tally::split_by_status`]); requests without an answer are not in it.
    pub latency_by_status_us: BTreeMap<u16, Histogram<u64>>,
    pub requests: u64,
    /// Requests sent right after a ticket's answer on the same connection (a
    /// retry), counted in `requests` too; `requests - follow_ups` is the tickets.
    pub follow_ups: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub problems: BTreeMap<String, u64>,
    pub failures: BTreeMap<Failure, u64>,
    split_by_status: bool,
}

impl Tally {
    pub fn new() -> anyhow::Result<Self> {
        let latency_max_us = u64::try_from(LATENCY_MAX.as_micros()).context("latency bound overflows")?;
        let latency_us =
            Histogram::new_with_bounds(1, latency_max_us, LATENCY_SIGFIG).context("latency histogram bounds")?;
        Ok(Tally {
            latency_us,
            latency_by_status_us: BTreeMap::new(),
            requests: 0,
            follow_ups: 0,
            statuses: BTreeMap::new(),
            problems: BTreeMap::new(),
            failures: BTreeMap::new(),
            split_by_status: false,
        })
    }

    /// A tally that also keeps one latency histogram per HTTP status.
    pub fn split_by_status() -> anyhow::Result<Self> {
        Ok(Tally { split_by_status: true, ..Tally::new()? })
    }

    /// Records a ticket's request.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(latency_us);
        self.requests += 1;
        match outcome {
            Outcome::Answered { status, problem } => {
                *self.statuses.entry(status).or_default() += 1;
                if let Some(problem) = problem {
                    *self.problems.entry(problem).or_default() += 1;
                }
                if self.split_by_status {
                    self.latency_by_status_us
                        .entry(status)
                        .or_insert_with(|| Histogram::new_from(&self.latency_us))
                        .saturating_record(latency_us);
                }
            }
            Outcome::Failed(failure) => *self.failures.entry(failure).or_default() += 1,
        }
    }

    /// Records a request sent after a ticket's answer, timed from its own send.
    pub fn record_follow_up(&mut self, outcome: Outcome, latency: Duration) {
        self.record(outcome, latency);
        self.follow_ups += 1;
    }

    pub fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.latency_us.add(&other.latency_us).context("merging latency histograms")?;
        for (status, histogram) in &other.latency_by_status_us {
            self.latency_by_status_us
                .entry(*status)
                .or_insert_with(|| Histogram::new_from(histogram))
                .add(histogram)
                .context("merging latency histograms")?;
        }
        self.requests += other.requests;
        self.follow_ups += other.follow_ups;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        for (problem, count) in &other.problems {
            *self.problems.entry(problem.clone()).or_default() += count;
        }
        for (failure, count) in &other.failures {
            *self.failures.entry(*failure).or_default() += count;
        }
        Ok(())
    }

    /// Requests answered with a 2xx status.
    pub fn successes(&self) -> u64 {
        self.statuses.range(200..300).map(|(_, count)| count).sum()
    }

    /// Tickets served: requests that were not follow-ups.
    pub fn tickets(&self) -> u64 {
        self.requests - self.follow_ups
    }

    /// Requests that got no HTTP answer at all.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tallies_keep_every_count() {
        let mut first = Tally::new().expect("tally");
        first.record(Outcome::Answered { status: 200, problem: None }, Duration::from_millis(1));
        first.record(Outcome::Answered { status: 404, problem: Some("not-found".into()) }, Duration::from_millis(2));
        let mut second = Tally::new().expect("tally");
        second.record(Outcome::Failed(Failure::Timeout), Duration::from_secs(7200));
        second.record(Outcome::Answered { status: 201, problem: None }, Duration::ZERO);
        first.merge(&second).expect("merge");
        assert_eq!(first.requests, 4);
        assert_eq!(first.latency_us.len(), 4);
        assert_eq!(first.successes(), 2);
        assert_eq!(first.failed(), 1);
        assert_eq!(first.problems.get("not-found"), Some(&1));
        assert!(first.latency_us.max() >= 3_599_000_000, "over-long latencies saturate");
        assert!(first.latency_by_status_us.is_empty(), "no split unless asked");
    }

    #[test]
    fn a_split_tally_keeps_latencies_per_status_and_counts_follow_ups() {
        let mut first = Tally::split_by_status().expect("tally");
        first.record(Outcome::Answered { status: 201, problem: None }, Duration::from_millis(4));
        first.record_follow_up(Outcome::Answered { status: 201, problem: None }, Duration::from_millis(1));
        first.record(Outcome::Failed(Failure::Io), Duration::from_millis(9));
        let mut second = Tally::split_by_status().expect("tally");
        second.record(Outcome::Answered { status: 409, problem: Some("sold-out".into()) }, Duration::from_millis(2));
        let mut merged = Tally::new().expect("tally");
        merged.merge(&first).expect("merge");
        merged.merge(&second).expect("merge");
        assert_eq!((merged.requests, merged.follow_ups, merged.tickets()), (4, 1, 3));
        assert_eq!(merged.latency_by_status_us[&201].len(), 2);
        assert_eq!(merged.latency_by_status_us[&409].len(), 1);
        assert!(merged.latency_by_status_us[&409].max() >= 1_999);
        assert_eq!(merged.latency_by_status_us.len(), 2, "failures have no status");
    }
}
