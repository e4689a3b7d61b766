//! Shared helpers for the integration tests.
#![allow(dead_code)]

use mercato::clock::ManualClock;
use mercato::engine::{BucketKey, Sku, Timestamp, WarehouseId};
use mercato::{Config, Durability, Mercato};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

pub fn config(dir: &Path, durability: Durability) -> Config {
    let mut config = Config::new(dir).durability(durability);
    config.cache_capacity_bytes = 16 << 20;
    config
}

/// An engine on a manual clock (expiry moves only when the test says so).
pub fn open_manual(dir: &Path, durability: Durability) -> (Mercato, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let mercato = Mercato::open(config(dir, durability).clock(clock.clone())).expect("open");
    (mercato, clock)
}

/// An engine whose actors passivate after `idle` without messages.
pub fn open_passivating(dir: &Path, idle: Duration) -> Mercato {
    let mut config = config(dir, Durability::Strict);
    config.passivate_after = idle;
    config.idle_check_every = idle / 2;
    Mercato::open(config).expect("open")
}

pub fn sku(raw: &str) -> Sku {
    Sku::parse(raw).expect("sku")
}

pub fn bucket(sku_raw: &str, warehouse: &str) -> BucketKey {
    BucketKey::new(sku(sku_raw), WarehouseId::parse(warehouse).expect("warehouse"))
}
