//! The threads that run searches, off the async workers.
//!
//! A search costs from microseconds to a few milliseconds of CPU. On an
//! async worker it would stall every connection of that worker. On tokio's
//! blocking pool each concurrent search gets a thread of its own (up to
//! 512), and those threads share the cores: a query's latency becomes its
//! own cost times the number of queries running beside it, so an expensive
//! query under load takes many times the average. A fixed set of threads,
//! one per core, taking jobs first come first served from a bounded queue,
//! keeps every query's latency near the queue's wait plus its own cost; a
//! full queue answers at once (429 `rate-limited`) instead of growing.

use parking_lot::Mutex;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("too many queries are waiting; retry shortly")]
    Full,
    #[error("the query failed unexpectedly")]
    Failed,
}

/// A fixed set of threads with a bounded first-come-first-served queue.
/// The threads end when the pool is dropped (after the queued jobs).
#[derive(Debug)]
pub struct QueryPool {
    queue: SyncSender<Job>,
}

impl QueryPool {
    /// Starts `threads` threads (at least one) behind a queue of `queue_max` jobs.
    pub fn new(name: &str, threads: usize, queue_max: usize) -> std::io::Result<QueryPool> {
        let (queue, jobs) = sync_channel::<Job>(queue_max);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new().name(name.to_owned()).spawn(move || work(&jobs))?;
        }
        Ok(QueryPool { queue })
    }

    /// One thread per core.
    pub fn per_core(name: &str, queue_max: usize) -> std::io::Result<QueryPool> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        QueryPool::new(name, cores, queue_max)
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

/// A pool thread: takes jobs until the pool is dropped. A panicking job is
/// contained (its caller gets [`PoolError::Failed`]) and the thread goes on.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = jobs.lock().recv();
        let Ok(job) = job else { return };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a query panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn jobs_run_and_answer() {
        let pool = QueryPool::new("test-pool", 2, 32).unwrap();
        let answers: Vec<u64> = futures::future::join_all((0..20u64).map(|n| pool.run(move || n * n)))
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(answers, (0..20u64).map(|n| n * n).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_full_queue_answers_at_once_and_a_panic_is_contained() {
        let pool = QueryPool::new("test-pool", 1, 1).unwrap();
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
    }
}
