//! Live deal feeds (Server-Sent Events). One broadcaster task per deal,
//! started by its first subscriber and ended with its last, samples the deal
//! every 100 ms and publishes through a `watch` channel: subscribers see the
//! latest state only, at most ~10 messages per second each, however fast
//! claims arrive, and the shards are asked once per tick whatever the number
//! of subscribers.
//!
//! Streams are counted per client address and in total (over a cap, 429),
//! and all of them end when the server shuts down, so a stream held open
//! cannot keep a stopping server alive.

use super::error::Problem;
use super::AppState;
use crate::engine::deal::DealStatus;
use crate::engine::DealId;
use dashmap::DashMap;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often a deal is sampled (the coalescing window).
pub const FEED_TICK: Duration = Duration::from_millis(100);

/// One message of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DealUpdate {
    pub deal_id: String,
    pub remaining: u64,
    pub status: DealStatus,
}

/// How many streams may be open (README documents the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub per_address: usize,
    pub total: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits { per_address: 256, total: 8_192 }
    }
}

/// The broadcasters of the deals being watched, and the open streams.
pub struct DealFeeds {
    channels: DashMap<DealId, watch::Receiver<Option<DealUpdate>>, foldhash::fast::RandomState>,
    limits: StreamLimits,
    /// Open streams per client address (an address leaves the map with its
    /// last stream) and in all.
    streams: DashMap<IpAddr, usize, foldhash::fast::RandomState>,
    open: AtomicUsize,
    closing: watch::Sender<bool>,
}

/// One open stream, counted until it is dropped.
pub struct StreamPermit {
    feeds: Arc<DealFeeds>,
    address: IpAddr,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.feeds.streams.remove_if_mut(&self.address, |_, count| {
            *count -= 1;
            *count == 0
        });
        self.feeds.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl DealFeeds {
    pub fn new(limits: StreamLimits) -> Self {
        DealFeeds {
            channels: DashMap::default(),
            limits,
            streams: DashMap::default(),
            open: AtomicUsize::new(0),
            closing: watch::channel(false).0,
        }
    }

    /// Counts a new stream from `address`, or refuses it with 429 when the
    /// address or the server is at its cap.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<StreamPermit, Problem> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.limits.total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Problem::rate_limited("too many live-deal streams are open", 1));
        }
        let mut count = self.streams.entry(address).or_insert(0);
        if *count >= self.limits.per_address {
            drop(count);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Problem::rate_limited("too many live-deal streams from this address", 1));
        }
        *count += 1;
        Ok(StreamPermit { feeds: self.clone(), address })
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once the server is shutting down (at once if it is).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }
    }

    /// Ends every stream (shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A receiver of `deal`'s updates, starting its broadcaster if needed.
    pub fn subscribe(self: &Arc<Self>, state: &AppState, deal: &DealId) -> watch::Receiver<Option<DealUpdate>> {
        if let Some(receiver) = self.channels.get(deal) {
            return receiver.clone();
        }
        let entry = self.channels.entry(deal.clone()).or_insert_with(|| {
            let (sender, receiver) = watch::channel(None);
            tokio::spawn(broadcast(self.clone(), state.clone(), deal.clone(), sender));
            receiver
        });
        entry.clone()
    }
}

async fn broadcast(feeds: Arc<DealFeeds>, state: AppState, deal: DealId, sender: watch::Sender<Option<DealUpdate>>) {
    let mut tick = tokio::time::interval(FEED_TICK);
    loop {
        tick.tick().await;
        // The map holds one receiver; alone with it, nobody is watching.
        if sender.receiver_count() <= 1 {
            feeds.channels.remove_if(&deal, |_, _| sender.receiver_count() <= 1);
            return;
        }
        let Ok(view) = state.mercato.deals().get(&deal).await else { continue };
        let update = DealUpdate { deal_id: deal.to_string(), remaining: view.remaining, status: view.status };
        sender.send_if_modified(|current| {
            if current.as_ref() == Some(&update) {
                return false;
            }
            *current = Some(update);
            true
        });
    }
}
