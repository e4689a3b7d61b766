//! `--server-pid`: the server's resident memory during the load, read from
//! `/proc/<pid>/status` (`VmRSS`), so only for a server on this machine
//! (Linux). Read once as the load starts, every [`SAMPLE_EVERY`] during it
//! (keeping the highest), and once at its end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

use crate::report::{Check, Figure};

/// How often the resident memory is read during the load.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

const KIB_PER_MIB: f64 = 1024.0;

/// `VmRSS` of process `pid`, in KiB.
pub fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS line in {path}"))
}

/// The `VmRSS:   12345 kB` line of a `/proc/<pid>/status`, in KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let amount: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(amount),
        Some(_) => None,
    }
}

/// Reads the server's resident memory while the load runs.
pub struct Sampler {
    pid: u32,
    start_kib: u64,
    peak_kib: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Sampler {
    /// Reads the start, then keeps reading in the background; fails when the
    /// process cannot be read now.
    pub fn start(pid: u32) -> anyhow::Result<Sampler> {
        let start_kib =
            resident_kib(pid).with_context(|| format!("--server-pid {pid}: is the server running here?"))?;
        let peak_kib = Arc::new(AtomicU64::new(start_kib));
        let peak = Arc::clone(&peak_kib);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            loop {
                every.tick().await;
                if let Ok(kib) = resident_kib(pid) {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        Ok(Sampler { pid, start_kib, peak_kib, task })
    }

    /// Stops reading, and reads the end.
    pub fn finish(self) -> Memory {
        self.task.abort();
        let end_kib = resident_kib(self.pid).map_err(|error| format!("{error:#}"));
        if let Ok(kib) = end_kib {
            self.peak_kib.fetch_max(kib, Ordering::Relaxed);
        }
        Memory { pid: self.pid, start_kib: self.start_kib, peak_kib: self.peak_kib.load(Ordering::Relaxed), end_kib }
    }
}

/// What the server's resident memory did during the load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub pid: u32,
    pub start_kib: u64,
    /// The highest reading, start and end included.
    pub peak_kib: u64,
    /// Why the end could not be read (the server had exited?).
    pub end_kib: Result<u64, String>,
}

impl Memory {
    /// The figures, in MiB: at the start, the end and the peak, and the growth
    /// to the end and to the peak.
    pub fn figures(&self) -> Vec<Figure> {
        let mut figures = vec![
            Figure { name: "server_rss_start_mib", value: mib(self.start_kib) },
            Figure { name: "server_rss_peak_mib", value: mib(self.peak_kib) },
            Figure { name: "server_rss_peak_growth_mib", value: mib(self.peak_kib) - mib(self.start_kib) },
        ];
        if let Ok(end_kib) = self.end_kib {
            figures.push(Figure { name: "server_rss_end_mib", value: mib(end_kib) });
            figures.push(Figure { name: "server_rss_growth_mib", value: mib(end_kib) - mib(self.start_kib) });
        }
        figures
    }

    /// Passes when the peak is at most `max_mib` above the start, and the
    /// server could still be read at the end.
    pub fn check(&self, max_mib: u64) -> Check {
        let growth_mib = mib(self.peak_kib) - mib(self.start_kib);
        let read = format!(
            "server (pid {}) resident memory {:.1} MiB at the start, peak {:.1} MiB: {growth_mib:.1} MiB more \
             (at most {max_mib} allowed)",
            self.pid,
            mib(self.start_kib),
            mib(self.peak_kib)
        );
        match &self.end_kib {
            Ok(_) => Check {
                name: "server-rss-growth",
                passed: self.peak_kib.saturating_sub(self.start_kib) <= max_mib.saturating_mul(1024),
                detail: read,
            },
            Err(error) => Check {
                name: "server-rss-growth",
                passed: false,
                detail: format!("{read}; unreadable at the end: {error}"),
            },
        }
    }
}

/// KiB counts stay far below 2^53, where `u64 -> f64` is exact.
fn mib(kib: u64) -> f64 {
    kib as f64 / KIB_PER_MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tmercato\nVmPeak:\t  900000 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(123_456));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None, "kernel threads have no VmRSS");
        assert_eq!(parse_vm_rss("VmRSS:\t 12 MB\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(resident_kib(std::process::id()).expect("readable") > 0);
        assert!(resident_kib(u32::MAX).is_err());
    }

    #[test]
    fn the_growth_check_compares_the_peak_with_the_start() {
        let memory = Memory { pid: 7, start_kib: 100 * 1024, peak_kib: 300 * 1024, end_kib: Ok(250 * 1024) };
        assert!(memory.check(200).passed);
        assert!(!memory.check(199).passed);
        let figures = memory.figures();
        let figure = |name: &str| figures.iter().find(|figure| figure.name == name).map(|figure| figure.value);
        assert_eq!(figure("server_rss_peak_growth_mib"), Some(200.0));
        assert_eq!(figure("server_rss_growth_mib"), Some(150.0));
        let gone = Memory { end_kib: Err("no such process".to_owned()), ..memory };
        assert!(!gone.check(1_000).passed);
        assert!(gone.figures().iter().all(|figure| figure.name != "server_rss_end_mib"));
    }
}
