//! The report of a run: the summary table (stdout), the same as JSON, and the
//! verdict of the checks, which decides the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};

use crate::config::{Pacing, RunConfig};
use crate::drive::{Driven, StopReason};
use crate::hgrm;
use crate::tally::Tally;

/// Recorded latencies are microseconds; reports show milliseconds.
const US_PER_MS: f64 = 1000.0;
/// Most transport failures (no HTTP answer) a run may have before it fails: 1%.
pub const FAILED_PERCENT_MAX: u64 = 1;

/// One pass/fail verdict on a run.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    /// Passes when `bad` is at most `percent_max`% of `total` (and `total` is not zero).
    pub fn at_most_percent(name: &'static str, what: &str, bad: u64, total: u64, percent_max: u64) -> Check {
        let passed = total > 0 && u128::from(bad) * 100 <= u128::from(total) * u128::from(percent_max);
        Check { name, passed, detail: format!("{bad} of {total} requests {what} (at most {percent_max}% allowed)") }
    }
}

/// A figure a scenario reports besides the common ones (`claims_per_s`), its
/// unit last in its name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure {
    pub name: &'static str,
    pub value: f64,
}

/// What a scenario adds to the report of its run.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// What setup found or made (products, carts, customers, the deal).
    pub workload: String,
    pub setup: Duration,
    pub checks: Vec<Check>,
    /// In the order the summary shows them.
    pub figures: Vec<Figure>,
}

/// How the load was paced.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Load {
    Closed { connections: usize },
    Open { rate_per_s: u64, connections: usize },
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub url: String,
    pub load: Load,
    pub seed: u64,
    /// What setup found (products, queries, carts, SKUs).
    pub workload: String,
    /// How long setup took (untimed: not part of `elapsed_s`).
    pub setup_s: f64,
    pub elapsed_s: f64,
    pub stopped_by: StopReason,
    /// Requests sent and finished (answered or failed).
    pub requests: u64,
    /// Open loop: requests due before the end that never got a connection.
    pub missed: u64,
    pub throughput_per_s: f64,
    /// Answers per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// 4xx/5xx answers per problem `type`.
    pub problems: BTreeMap<String, u64>,
    /// Requests without an answer, per cause (`connect`, `timeout`, `io`).
    pub failures: BTreeMap<&'static str, u64>,
    pub latency_ms: Latency,
    /// Latency per HTTP status, for scenarios that split it (`flash-sale`: 201 vs 409).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_ms_by_status: BTreeMap<u16, Latency>,
    /// The scenario's own figures, by name (`flash-sale`: `claims_per_s`, `sold_out_per_s`, ...).
    #[serde(serialize_with = "figures_as_map", skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<Figure>,
    pub checks: Vec<Check>,
    /// Whether every check passed, the report beside included.
    pub passed: bool,
    /// The flash sale run beside this load (`sign-in --flash-sale-rate`), as
    /// a report of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beside: Option<Box<Report>>,
    /// Every latency, in microseconds.
    #[serde(skip)]
    pub latency_us: Histogram<u64>,
}

impl Report {
    /// The report of a load; `findings.checks` are the scenario's, to which the
    /// common check on transport failures is added.
    pub fn new(config: &RunConfig, findings: Findings, driven: Driven) -> Report {
        let Findings { workload, setup, mut checks, figures } = findings;
        let Driven { tally, elapsed, missed, stopped_by } = driven;
        checks.insert(
            0,
            Check::at_most_percent("answered", "got no answer", tally.failed(), tally.requests, FAILED_PERCENT_MAX),
        );
        let elapsed_s = elapsed.as_secs_f64();
        let throughput_per_s = if elapsed_s > 0.0 { count_f64(tally.requests) / elapsed_s } else { 0.0 };
        let load = match config.pacing {
            Pacing::Closed => Load::Closed { connections: config.connections },
            Pacing::Open { rate_per_s } => Load::Open { rate_per_s, connections: config.connections },
        };
        let Tally { latency_us, latency_by_status_us, requests, statuses, problems, failures, .. } = tally;
        Report {
            scenario: config.scenario.name(),
            url: config.url.clone(),
            load,
            seed: config.seed,
            workload,
            setup_s: setup.as_secs_f64(),
            elapsed_s,
            stopped_by,
            requests,
            missed,
            throughput_per_s,
            statuses,
            problems,
            failures: failures.into_iter().map(|(failure, count)| (failure.as_str(), count)).collect(),
            latency_ms: latency(&latency_us),
            latency_ms_by_status: latency_by_status_us
                .iter()
                .map(|(status, histogram)| (*status, latency(histogram)))
                .collect(),
            figures,
            passed: checks.iter().all(|check| check.passed),
            checks,
            beside: None,
            latency_us,
        }
    }

    /// Adds the report of the load run beside this one; the run passes only
    /// when both do.
    pub fn set_beside(&mut self, beside: Report) {
        self.passed = self.checks.iter().all(|check| check.passed) && beside.passed;
        self.beside = Some(Box::new(beside));
    }

    /// The summary table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_table(&mut out);
        out
    }

    fn write_table(&self, out: &mut String) -> std::fmt::Result {
        let load = match self.load {
            Load::Closed { connections } => format!("closed loop, {connections} connections"),
            Load::Open { rate_per_s, connections } => {
                format!("open loop, {rate_per_s} req/s, at most {connections} in flight")
            }
        };
        writeln!(out, "scenario     {} against {} ({load}, seed {})", self.scenario, self.url, self.seed)?;
        writeln!(out, "workload     {}", self.workload)?;
        writeln!(out, "setup        {:.2} s (untimed)", self.setup_s)?;
        writeln!(out, "elapsed      {:.2} s (stopped by {})", self.elapsed_s, stop_text(self.stopped_by))?;
        writeln!(out, "requests     {}", self.requests)?;
        if let Load::Open { .. } = self.load {
            writeln!(out, "missed       {} (due, never sent: no free connection before the end)", self.missed)?;
        }
        writeln!(out, "throughput   {:.1} req/s", self.throughput_per_s)?;
        writeln!(out)?;
        writeln!(out, "{:<28} {:>10}", "outcome", "count")?;
        for (status, count) in &self.statuses {
            writeln!(out, "{:<28} {count:>10}", format!("status {status}"))?;
        }
        for (problem, count) in &self.problems {
            writeln!(out, "{:<28} {count:>10}", format!("  type {problem}"))?;
        }
        for (failure, count) in &self.failures {
            writeln!(out, "{:<28} {count:>10}", format!("no answer: {failure}"))?;
        }
        writeln!(out)?;
        let latency = &self.latency_ms;
        writeln!(out, "latency (ms)       p50       p90       p99     p99.9       max")?;
        write_latency(out, "all", latency)?;
        for (status, latency) in &self.latency_ms_by_status {
            write_latency(out, &format!("status {status}"), latency)?;
        }
        writeln!(out)?;
        if !self.figures.is_empty() {
            for figure in &self.figures {
                writeln!(out, "{:<28} {:>12}", figure.name, figure_text(figure.value))?;
            }
            writeln!(out)?;
        }
        for check in &self.checks {
            let verdict = if check.passed { "ok  " } else { "FAIL" };
            writeln!(out, "check {verdict} {}: {}", check.name, check.detail)?;
        }
        if let Some(beside) = &self.beside {
            writeln!(out)?;
            writeln!(out, "beside the load, at the same time:")?;
            beside.write_table(out)?;
        }
        Ok(())
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = create(path)?;
        serde_json::to_writer_pretty(&mut out, self).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out)?;
        out.flush().with_context(|| format!("writing {}", path.display()))
    }

    /// The latency distribution in milliseconds, in the `.hgrm` format.
    pub fn write_hgrm(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = create(path)?;
        hgrm::write(&self.latency_us, US_PER_MS, &mut out).with_context(|| format!("writing {}", path.display()))?;
        out.flush().with_context(|| format!("writing {}", path.display()))
    }
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?))
}

fn write_latency(out: &mut String, label: &str, latency: &Latency) -> std::fmt::Result {
    writeln!(
        out,
        "{label:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
        latency.p50, latency.p90, latency.p99, latency.p99_9, latency.max
    )
}

/// Whole figures (counts) without decimals, rates and seconds with one or three.
fn figure_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() < 10.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.1}")
    }
}

/// Figures serialize as a JSON object, in their order.
fn figures_as_map<S: Serializer>(figures: &[Figure], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(figures.iter().map(|figure| (figure.name, figure.value)))
}

fn stop_text(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Duration => "duration",
        StopReason::RequestLimit => "request limit",
        StopReason::Interrupted => "interrupt",
    }
}

fn latency(histogram: &Histogram<u64>) -> Latency {
    let at = |quantile: f64| count_f64(histogram.value_at_quantile(quantile)) / US_PER_MS;
    Latency {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p99_9: at(0.999),
        max: count_f64(histogram.max()) / US_PER_MS,
        mean: histogram.mean() / US_PER_MS,
    }
}

/// Counts and microseconds stay far below 2^53, where `u64 -> f64` is exact.
fn count_f64(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_check_passes_at_the_limit_and_fails_above_it() {
        assert!(Check::at_most_percent("c", "failed", 1, 100, 1).passed);
        assert!(!Check::at_most_percent("c", "failed", 2, 100, 1).passed);
        assert!(Check::at_most_percent("c", "failed", 0, 5, 1).passed);
        assert!(!Check::at_most_percent("c", "failed", 0, 0, 1).passed, "an empty run proves nothing");
    }

    #[test]
    fn figures_read_as_counts_or_rates() {
        assert_eq!(figure_text(5000.0), "5000");
        assert_eq!(figure_text(1234.56), "1234.6");
        assert_eq!(figure_text(2.5), "2.500");
    }
}
