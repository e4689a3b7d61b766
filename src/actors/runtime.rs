//! The actor runtime (an actix System with one arbiter per configured thread)
//! and the gate that lets shutdown wait for calls in flight.

use actix::{Arbiter, ArbiterHandle, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::Notify;

pub(crate) struct ActorRuntime {
    system: System,
    arbiters: Vec<Arbiter>,
    thread: Option<JoinHandle<()>>,
}

impl ActorRuntime {
    /// Starts the system thread and `count` arbiters.
    pub(crate) fn start(count: usize) -> std::io::Result<ActorRuntime> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("mercato-actors".to_owned()).spawn(move || {
            let system = System::new();
            let arbiters: Vec<Arbiter> = (0..count).map(|_| Arbiter::new()).collect();
            if sender.send((System::current(), arbiters)).is_ok() {
                let _ = system.run();
            }
        })?;
        let (system, arbiters) =
            receiver.recv().map_err(|_| std::io::Error::other("the actor system did not start"))?;
        Ok(ActorRuntime { system, arbiters, thread: Some(thread) })
    }

    pub(crate) fn handles(&self) -> Arc<[ArbiterHandle]> {
        self.arbiters.iter().map(Arbiter::handle).collect()
    }

    /// Stops every arbiter (dropping their actors) and the system.
    pub(crate) fn stop(mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        for arbiter in self.arbiters.drain(..) {
            let _ = arbiter.join();
        }
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Counts calls in flight; once closed, refuses new ones.
#[derive(Default)]
pub(crate) struct Gate {
    in_flight: AtomicUsize,
    closed: AtomicBool,
    drained: Notify,
}

pub(crate) struct Pass<'a>(&'a Gate);

impl Gate {
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if self.closed.load(Ordering::Acquire) {
            self.leave();
            return None;
        }
        Some(Pass(self))
    }

    fn leave(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 && self.closed.load(Ordering::Acquire) {
            self.drained.notify_waiters();
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    /// Refuses new calls and waits for the ones in flight.
    pub(crate) async fn close_and_drain(&self) {
        self.closed.store(true, Ordering::Release);
        loop {
            let notified = self.drained.notified();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}
