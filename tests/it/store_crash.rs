//! Crash safety of multi-key writes: a child process writes batches of six
//! or 24 keys from several tasks (strict durability) and prints each batch once it
//! is acknowledged; the test kills it with SIGKILL, reopens the directory and
//! checks that every batch is all there or not there at all, that every
//! acknowledged batch is there, and that no intent record is left behind.
//!
//! A SIGKILL keeps what the child handed to the kernel but loses sled's log
//! buffers not yet written, so a kill can land between a batch's intent and
//! its last key: opening must finish such a batch.
//!
//! The child is this test binary run again with `--ignored --exact
//! store_crash::store_crash_child` and the data directory in `MERCATO_STORE_CRASH_DIR`.

use crate::common;

use mercato::store::Batch;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

const TASKS: u32 = 8;

/// Six keys (an intent record), or 24 for every fifth batch (more than the
/// store applies through an intent: a sled batch).
fn keys_in(op: u64) -> u32 {
    if op.is_multiple_of(5) {
        24
    } else {
        6
    }
}

fn key(round: u32, task: u32, op: u64, part: u32) -> Vec<u8> {
    format!("x\0{round:02}-{task:02}-{op:08}\0{part}").into_bytes()
}

#[test]
#[ignore = "run by multi_key_writes_are_all_or_nothing_after_sigkill as its child process"]
fn store_crash_child() {
    let Ok(dir) = std::env::var("MERCATO_STORE_CRASH_DIR") else { return };
    let round: u32 = std::env::var("MERCATO_STORE_CRASH_ROUND").ok().and_then(|raw| raw.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let store = common::open_store(dir.as_ref());
        println!("READY");
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for op in 0u64.. {
                    let mut batch = Batch::new();
                    for part in 0..keys_in(op) {
                        batch.put(key(round, task, op, part), &op).unwrap();
                    }
                    batch.event(&(round, task, op)).unwrap();
                    let ticket = store.write(batch).unwrap();
                    store.durable(ticket).await.unwrap();
                    let mut stdout = std::io::stdout().lock();
                    let _ = writeln!(stdout, "W {round:02}-{task:02}-{op:08}");
                    let _ = stdout.flush();
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

fn run_child_round(dir: &std::path::Path, round: u32, kill_after: Duration) -> Vec<String> {
    let env =
        [("MERCATO_STORE_CRASH_DIR", dir.display().to_string()), ("MERCATO_STORE_CRASH_ROUND", round.to_string())];
    let lines = common::run_killed_child("store_crash::store_crash_child", &env, kill_after);
    lines.into_iter().filter_map(|line| line.strip_prefix("W ").map(str::to_owned)).collect()
}

#[test]
fn multi_key_writes_are_all_or_nothing_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = rand::random();
    eprintln!("store crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut found_total = 0;
    for round in 0..4 {
        let kill_after = Duration::from_millis(rng.random_range(200..700));
        acked.extend(run_child_round(dir.path(), round, kill_after));
        let store = common::open_store(dir.path());
        let intents = store.unfinished_writes().unwrap();
        assert_eq!(intents, 0, "intents left after opening (seed {seed})");
        let mut parts: BTreeMap<String, u32> = BTreeMap::new();
        for (key, _) in store.scan_prefix::<u64>(b"x\0").unwrap() {
            let text = String::from_utf8(key).unwrap();
            let batch = text.split('\0').nth(1).unwrap().to_owned();
            *parts.entry(batch).or_default() += 1;
        }
        for (batch, count) in &parts {
            let op: u64 = batch.rsplit('-').next().unwrap().parse().unwrap();
            let expected = keys_in(op);
            assert_eq!(*count, expected, "batch {batch} is torn: {count} of {expected} keys (seed {seed})");
        }
        for batch in &acked {
            assert!(parts.contains_key(batch), "acknowledged batch {batch} was lost (seed {seed})");
        }
        found_total = parts.len();
        store.close().unwrap();
    }
    assert!(!acked.is_empty(), "the children acknowledged nothing (seed {seed})");
    eprintln!("store crash test: {} batches acknowledged, {found_total} found over 4 kills", acked.len());
}
