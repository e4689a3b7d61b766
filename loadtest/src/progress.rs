//! The live progress bar on stderr: elapsed time against the duration,
//! requests done and the rate over the last tick.
//!
//! Off when asked (`--no-progress`) or when stderr is not a terminal, so logs
//! and CI output stay clean. It reads the shared `done` counter and never
//! touches the workers.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

const TICK: Duration = Duration::from_millis(250);
const TEMPLATE: &str = "{elapsed_precise} [{bar:40.cyan/blue}] {msg}";

/// The running progress bar, if any.
pub struct Ticker {
    running: Option<(ProgressBar, JoinHandle<()>)>,
}

impl Ticker {
    /// Starts the bar when `enabled` and stderr is a terminal.
    pub fn start(enabled: bool, run_for: Duration, done: Arc<AtomicU64>) -> Ticker {
        if !enabled || !std::io::stderr().is_terminal() {
            return Ticker { running: None };
        }
        let run_for_ms = u64::try_from(run_for.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::with_draw_target(Some(run_for_ms), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        let task = tokio::spawn(tick(bar.clone(), done));
        Ticker { running: Some((bar, task)) }
    }

    /// Stops the bar and clears it, so the summary starts on a clean line.
    pub fn finish(self) {
        if let Some((bar, task)) = self.running {
            task.abort();
            bar.finish_and_clear();
        }
    }
}

async fn tick(bar: ProgressBar, done: Arc<AtomicU64>) {
    let start = Instant::now();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = (start, 0_u64);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let count = done.load(Ordering::Relaxed);
        let window_s = now.duration_since(last.0).as_secs_f64();
        // Counts stay far below 2^53, where `u64 -> f64` is exact.
        let rate = if window_s > 0.0 { count.saturating_sub(last.1) as f64 / window_s } else { 0.0 };
        last = (now, count);
        bar.set_position(u64::try_from(now.duration_since(start).as_millis()).unwrap_or(u64::MAX));
        bar.set_message(format!("{count} requests, {rate:.0} req/s"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
