//! The load loop: a fixed set of workers, each one connection, pulling tickets.
//!
//! A ticket is the index of a request in the run (0, 1, 2, ...), claimed from a
//! shared counter by whichever worker is free. Scenarios use it to spread work
//! deterministically (the `cart` scenario picks cart and SKU from it,
//! `flash-sale` the customer who claims). A ticket may have a follow-up: a
//! second request the same worker sends right after the first answer (a retry
//! with the same idempotency key), timed from its own send.
//!
//! **Closed loop**: a worker sends ticket k's request as soon as it is free and
//! measures from the send. **Open loop**: ticket k is due at `start + k / rate`
//! ([`Schedule`]); the free worker that claims it waits until then, sends, and
//! measures from the *due* time. When every worker is busy, due tickets wait
//! for one to become free, and that wait is part of their latency. This is the
//! correction for coordinated omission: a server that stalls for a second
//! cannot make the generator stop sending (and so stop measuring) during the
//! stall, because the schedule does not move.
//!
//! The load ends at the run's duration (no request starts after it; those in
//! flight finish, within their timeout), after the request limit, or when
//! [`Stop`] fires. Open-loop tickets that fell due before the end but never
//! got a free worker are counted as `missed`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use crate::config::Pacing;
use crate::http::Outcome;
use crate::tally::Tally;

/// One worker's way of sending the request of a ticket.
pub trait Call: Send + 'static {
    fn call(&mut self, ticket: u64) -> impl Future<Output = Outcome> + Send;

    /// Sends the ticket's follow-up, if it has one, once its first answer is in.
    fn follow_up(&mut self, _ticket: u64) -> impl Future<Output = Option<Outcome>> + Send {
        std::future::ready(None)
    }
}

/// The shape of the load.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pacing: Pacing,
    pub workers: usize,
    pub run_for: Duration,
    /// Send at most this many tickets (`u64::MAX`: no limit but the duration).
    pub requests_max: u64,
    /// Keep a latency histogram per HTTP status besides the overall one.
    pub latency_by_status: bool,
}

/// Why the load ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Duration,
    RequestLimit,
    Interrupted,
}

/// The merged result of a load.
#[derive(Debug)]
pub struct Driven {
    pub tally: Tally,
    /// From the start of the load until the last answer.
    pub elapsed: Duration,
    /// Open loop: requests that fell due before the end but were never sent.
    pub missed: u64,
    pub stopped_by: StopReason,
}

/// Open-loop due times: ticket k is due at `start + k / rate`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    rate_per_s: u64,
}

impl Schedule {
    /// `rate_per_s` must be at least 1 (the configuration guarantees it).
    pub fn new(start: Instant, rate_per_s: u64) -> Self {
        Schedule { start, rate_per_s: rate_per_s.max(1) }
    }

    /// When ticket `ticket` is due (its intended start).
    pub fn due(&self, ticket: u64) -> Instant {
        let offset_ns = u128::from(ticket) * 1_000_000_000 / u128::from(self.rate_per_s);
        self.start + Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX))
    }

    /// How many tickets fall due strictly before `elapsed` from the start.
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let due = (elapsed.as_nanos() * u128::from(self.rate_per_s)).div_ceil(1_000_000_000);
        u64::try_from(due).unwrap_or(u64::MAX)
    }
}

/// A stop request, shared by every worker.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn new(receiver: watch::Receiver<bool>) -> Self {
        Stop(receiver)
    }

    /// A stop that never fires.
    pub fn never() -> Self {
        // With its sender gone, the receiver never sees a stop.
        let (_, receiver) = watch::channel(false);
        Stop(receiver)
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when a stop is requested; never if the sender is gone unused.
    pub async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// State the workers share.
struct Shared {
    next_ticket: AtomicU64,
    limit_reached: AtomicBool,
    done: Arc<AtomicU64>,
}

/// Runs the load with one worker per caller and merges their tallies.
/// `done` counts finished requests as they finish (for the progress bar).
pub async fn drive<C: Call>(plan: &Plan, callers: Vec<C>, stop: Stop, done: Arc<AtomicU64>) -> anyhow::Result<Driven> {
    let start = Instant::now();
    let deadline = start + plan.run_for;
    let shared = Arc::new(Shared { next_ticket: AtomicU64::new(0), limit_reached: AtomicBool::new(false), done });
    let mut tasks = JoinSet::new();
    for caller in callers.into_iter().take(plan.workers) {
        let worker = Worker {
            pacing: match plan.pacing {
                Pacing::Closed => None,
                Pacing::Open { rate_per_s } => Some(Schedule::new(start, rate_per_s)),
            },
            deadline,
            requests_max: plan.requests_max,
            shared: Arc::clone(&shared),
            stop: stop.clone(),
            tally: if plan.latency_by_status { Tally::split_by_status()? } else { Tally::new()? },
        };
        tasks.spawn(worker.run(caller));
    }
    let mut tally = Tally::new()?;
    while let Some(joined) = tasks.join_next().await {
        tally.merge(&joined.context("a load worker panicked")?)?;
    }
    let ended = Instant::now();
    let elapsed = ended - start;

    let stopped_by = if stop.is_requested() {
        StopReason::Interrupted
    } else if shared.limit_reached.load(Ordering::Relaxed) {
        StopReason::RequestLimit
    } else {
        StopReason::Duration
    };
    let missed = match plan.pacing {
        Pacing::Closed => 0,
        Pacing::Open { rate_per_s } => {
            let due = Schedule::new(start, rate_per_s).due_before(elapsed.min(plan.run_for));
            due.min(plan.requests_max).saturating_sub(tally.tickets())
        }
    };
    Ok(Driven { tally, elapsed, missed, stopped_by })
}

struct Worker {
    /// `None` for a closed loop.
    pacing: Option<Schedule>,
    deadline: Instant,
    requests_max: u64,
    shared: Arc<Shared>,
    stop: Stop,
    tally: Tally,
}

impl Worker {
    async fn run<C: Call>(mut self, mut caller: C) -> Tally {
        while let Some(ticket) = self.claim() {
            let Some(began) = self.wait_turn(ticket).await else { break };
            let outcome = caller.call(ticket).await;
            self.tally.record(outcome, Instant::now().saturating_duration_since(began));
            self.shared.done.fetch_add(1, Ordering::Relaxed);
            if self.is_over() {
                // No request starts after the end, follow-ups included.
                continue;
            }
            let sent = Instant::now();
            if let Some(outcome) = caller.follow_up(ticket).await {
                self.tally.record_follow_up(outcome, Instant::now().saturating_duration_since(sent));
                self.shared.done.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.tally
    }

    fn is_over(&self) -> bool {
        self.stop.is_requested() || Instant::now() >= self.deadline
    }

    /// The next ticket, unless the run is over.
    fn claim(&self) -> Option<u64> {
        if self.is_over() {
            return None;
        }
        let ticket = self.shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        if ticket >= self.requests_max {
            self.shared.limit_reached.store(true, Ordering::Relaxed);
            return None;
        }
        Some(ticket)
    }

    /// Waits until `ticket` may be sent; returns the instant its latency counts from.
    async fn wait_turn(&mut self, ticket: u64) -> Option<Instant> {
        let Some(schedule) = self.pacing else { return Some(Instant::now()) };
        let due = schedule.due(ticket);
        if due >= self.deadline {
            return None;
        }
        tokio::select! {
            () = sleep_until(due) => Some(due),
            () = self.stop.requested() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers after a fixed delay per ticket (the last one for later tickets).
    struct Scripted {
        delays: Vec<Duration>,
    }

    impl Call for Scripted {
        async fn call(&mut self, ticket: u64) -> Outcome {
            let index = usize::try_from(ticket).expect("small ticket").min(self.delays.len() - 1);
            tokio::time::sleep(self.delays[index]).await;
            Outcome::Answered { status: 200, problem: None }
        }
    }

    fn plan(pacing: Pacing, workers: usize, requests_max: u64) -> Plan {
        Plan { pacing, workers, run_for: Duration::from_secs(10), requests_max, latency_by_status: false }
    }

    #[test]
    fn open_loop_tickets_are_due_at_start_plus_k_over_rate() {
        let start = Instant::now();
        let schedule = Schedule::new(start, 4);
        assert_eq!(schedule.due(0), start);
        assert_eq!(schedule.due(1), start + Duration::from_millis(250));
        assert_eq!(schedule.due(5), start + Duration::from_millis(1250));
        let thirds = Schedule::new(start, 3);
        assert_eq!(thirds.due(1), start + Duration::from_nanos(333_333_333));
        assert_eq!(thirds.due(3), start + Duration::from_secs(1));
        assert_eq!(thirds.due(3_000_000), start + Duration::from_secs(1_000_000));
    }

    #[test]
    fn due_before_counts_the_tickets_due_strictly_before() {
        let schedule = Schedule::new(Instant::now(), 100);
        assert_eq!(schedule.due_before(Duration::ZERO), 0);
        assert_eq!(schedule.due_before(Duration::from_millis(1)), 1);
        assert_eq!(schedule.due_before(Duration::from_millis(10)), 1);
        assert_eq!(schedule.due_before(Duration::from_nanos(10_000_001)), 2);
        assert_eq!(schedule.due_before(Duration::from_secs(1)), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_for_a_free_connection_counts_the_wait() {
        // One connection, a request due every 10 ms; the first answer takes 60 ms,
        // so the second request (due at 10 ms) is sent at 60 ms and answered at 61 ms.
        let caller = Scripted { delays: vec![Duration::from_millis(60), Duration::from_millis(1)] };
        let open = plan(Pacing::Open { rate_per_s: 100 }, 1, 2);
        let driven = drive(&open, vec![caller], Stop::never(), Arc::new(AtomicU64::new(0))).await.expect("driven");
        assert_eq!(driven.tally.requests, 2);
        assert!(driven.tally.latency_us.min() >= 50_000, "min {} us", driven.tally.latency_us.min());
        assert!(driven.tally.latency_us.max() >= 60_000);
        assert_eq!(driven.stopped_by, StopReason::RequestLimit);

        // A closed loop measures from the send, so the same exchange looks fast.
        let caller = Scripted { delays: vec![Duration::from_millis(60), Duration::from_millis(1)] };
        let closed = plan(Pacing::Closed, 1, 2);
        let driven = drive(&closed, vec![caller], Stop::never(), Arc::new(AtomicU64::new(0))).await.expect("driven");
        assert!(driven.tally.latency_us.min() < 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_behind_schedule_counts_what_it_never_sent() {
        // 100 requests/s for 1 s, one connection, every answer takes 100 ms:
        // about 10 are sent, the other 90 due in that second are missed.
        let caller = Scripted { delays: vec![Duration::from_millis(100)] };
        let open = Plan { run_for: Duration::from_secs(1), ..plan(Pacing::Open { rate_per_s: 100 }, 1, u64::MAX) };
        let driven = drive(&open, vec![caller], Stop::never(), Arc::new(AtomicU64::new(0))).await.expect("driven");
        assert_eq!(driven.tally.requests + driven.missed, 100);
        assert!((9..=11).contains(&driven.tally.requests), "sent {}", driven.tally.requests);
        assert_eq!(driven.stopped_by, StopReason::Duration);
        // The last one sent was due at about 90 ms and answered after about 1 s.
        assert!(driven.tally.latency_us.max() >= 900_000);
    }

    /// Answers every ticket after 10 ms, and follows odd tickets up with a 1 ms retry.
    struct Retrying;

    impl Call for Retrying {
        async fn call(&mut self, _ticket: u64) -> Outcome {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Outcome::Answered { status: 201, problem: None }
        }

        async fn follow_up(&mut self, ticket: u64) -> Option<Outcome> {
            if ticket % 2 == 0 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            Some(Outcome::Answered { status: 409, problem: Some("sold-out".to_owned()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn follow_ups_are_requests_of_their_ticket_timed_from_their_own_send() {
        let split = Plan { latency_by_status: true, ..plan(Pacing::Open { rate_per_s: 10 }, 2, 6) };
        let callers = vec![Retrying, Retrying];
        let driven = drive(&split, callers, Stop::never(), Arc::new(AtomicU64::new(0))).await.expect("driven");
        assert_eq!((driven.tally.tickets(), driven.tally.follow_ups, driven.tally.requests), (6, 3, 9));
        assert_eq!(driven.missed, 0, "follow-ups are not tickets");
        let retries = &driven.tally.latency_by_status_us[&409];
        assert_eq!(retries.len(), 3);
        assert!(retries.max() < 2_000, "a follow-up is timed from its send: {} us", retries.max());
        assert!(driven.tally.latency_by_status_us[&201].min() >= 10_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_load_early() {
        let (sender, receiver) = watch::channel(false);
        let callers = (0..4).map(|_| Scripted { delays: vec![Duration::from_millis(5)] }).collect();
        let closed = Plan { run_for: Duration::from_secs(3600), ..plan(Pacing::Closed, 4, u64::MAX) };
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.send(true).expect("workers listen");
            sender
        });
        let driven = drive(&closed, callers, Stop::new(receiver), Arc::new(AtomicU64::new(0))).await.expect("driven");
        drop(stopper.await);
        assert_eq!(driven.stopped_by, StopReason::Interrupted);
        assert!(driven.elapsed < Duration::from_secs(1));
        assert!((76..=84).contains(&driven.tally.requests), "sent {}", driven.tally.requests);
    }
}
