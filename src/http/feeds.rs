//! Live deal feeds (Server-Sent Events). One broadcaster task per deal,
//! started by its first subscriber and ended with its last, samples the deal
//! every 100 ms and publishes through a `watch` channel: subscribers see the
//! latest state only, at most ~10 messages per second each, however fast
//! claims arrive, and the shards are asked once per tick whatever the number
//! of subscribers.

use super::AppState;
use crate::engine::deal::DealStatus;
use crate::engine::DealId;
use dashmap::DashMap;
use serde::Serialize;
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

/// The broadcasters of the deals being watched.
#[derive(Default)]
pub struct DealFeeds {
    channels: DashMap<DealId, watch::Receiver<Option<DealUpdate>>, foldhash::fast::RandomState>,
}

impl DealFeeds {
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
