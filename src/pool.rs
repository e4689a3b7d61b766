//! Fixed sets of threads for CPU-bound work, off the async workers:
//! searches, and password hashing.
//!
//! A search costs from microseconds to a few milliseconds of CPU, an
//! argon2id hash tens of milliseconds and 19 MiB. On an async worker either
//! would stall every connection of that worker. On tokio's blocking pool
//! each concurrent job gets a thread of its own (up to 512), and those
//! threads share the cores: a job's latency becomes its own cost times the
//! number running beside it, and hashing memory grows with the flood (512
//! hashes are 9.5 GiB). A fixed set of threads taking jobs first come first
//! served from a bounded queue keeps every job's latency near the queue's
//! wait plus its own cost and bounds the memory; a full queue answers at
//! once (429 `rate-limited`) instead of growing.

use parking_lot::Mutex;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("too many requests are waiting; retry shortly")]
    Full,
    #[error("the job failed unexpectedly")]
    Failed,
}

/// A fixed set of threads with a bounded first-come-first-served queue.
/// The threads end when the pool is dropped (after the queued jobs).
#[derive(Debug)]
pub struct WorkPool {
    queue: SyncSender<Job>,
    threads: usize,
    load: Arc<Load>,
}

/// Jobs running now, and the most that ever ran at once.
#[derive(Debug, Default)]
struct Load {
    running: AtomicUsize,
    running_max: AtomicUsize,
}

/// What a pool is doing (for `/metrics` and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PoolStats {
    pub threads: usize,
    pub running: usize,
    /// The most jobs that ever ran at once: never above `threads`.
    pub running_max: usize,
}

impl WorkPool {
    /// Starts `threads` threads (at least one) behind a queue of `queue_max` jobs.
    pub fn new(name: &str, threads: usize, queue_max: usize) -> std::io::Result<WorkPool> {
        let (queue, jobs) = sync_channel::<Job>(queue_max);
        let jobs = Arc::new(Mutex::new(jobs));
        let load = Arc::new(Load::default());
        let threads = threads.max(1);
        for _ in 0..threads {
            let (jobs, load) = (jobs.clone(), load.clone());
            std::thread::Builder::new().name(name.to_owned()).spawn(move || work(&jobs, &load))?;
        }
        Ok(WorkPool { queue, threads, load })
    }

    /// One thread per core.
    pub fn per_core(name: &str, queue_max: usize) -> std::io::Result<WorkPool> {
        WorkPool::new(name, cores(), queue_max)
    }

    /// One thread per core but one (at least one), so that the rest of the
    /// server keeps a core while the pool is saturated.
    pub fn all_cores_but_one(name: &str, queue_max: usize) -> std::io::Result<WorkPool> {
        WorkPool::new(name, cores().saturating_sub(1), queue_max)
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            threads: self.threads,
            running: self.load.running.load(Ordering::Relaxed),
            running_max: self.load.running_max.load(Ordering::Relaxed),
        }
    }

    /// Queues `job` for a pool thread at once; the future answers its
    /// result, or at once [`PoolError::Full`] when the queue is full.
    pub fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, PoolError>> + Send + 'static {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The receiver may be gone (the client left): nothing to do then.
            let _ = answer.send(job());
        });
        let queued = self.queue.try_send(job);
        async move {
            match queued {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => return Err(PoolError::Full),
                Err(TrySendError::Disconnected(_)) => return Err(PoolError::Failed),
            }
            // A job that panicked dropped its answer without sending.
            answered.await.map_err(|_| PoolError::Failed)
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A pool thread: takes jobs until the pool is dropped. A panicking job is
/// contained (its caller gets [`PoolError::Failed`]) and the thread goes on.
fn work(jobs: &Mutex<Receiver<Job>>, load: &Load) {
    loop {
        let job = jobs.lock().recv();
        let Ok(job) = job else { return };
        let running = load.running.fetch_add(1, Ordering::Relaxed) + 1;
        load.running_max.fetch_max(running, Ordering::Relaxed);
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a pool job panicked");
        }
        load.running.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn jobs_run_and_answer() {
        let pool = WorkPool::new("test-pool", 2, 32).unwrap();
        let answers: Vec<u64> = futures::future::join_all((0..20u64).map(|n| pool.run(move || n * n)))
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(answers, (0..20u64).map(|n| n * n).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_full_queue_answers_at_once_and_a_panic_is_contained() {
        let pool = WorkPool::new("test-pool", 1, 1).unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let started = Arc::new(AtomicUsize::new(0));
        let blocker = {
            let started = started.clone();
            pool.run(move || {
                started.fetch_add(1, Ordering::SeqCst);
                released.recv().ok();
            })
        };
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        // The thread is busy: one job fits in the queue, the next does not.
        let queued = pool.run(|| 1);
        assert_eq!(pool.run(|| 2).await, Err(PoolError::Full));
        release.send(()).unwrap();
        assert_eq!(blocker.await, Ok(()));
        assert_eq!(queued.await, Ok(1));

        let panicked = pool.run(|| -> u8 { panic!("a failing query") }).await;
        assert_eq!(panicked, Err(PoolError::Failed));
        assert_eq!(pool.run(|| 3).await, Ok(3), "the thread survives a panicking job");
        // (A job's answer is sent before its thread counts it done.)
        let stats = pool.stats();
        assert_eq!((stats.threads, stats.running_max), (1, 1));
    }
}
