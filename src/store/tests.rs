use super::*;

fn open(dir: &std::path::Path, durability: Durability) -> Store {
    Store::open(&StoreConfig { path: dir.to_path_buf(), durability, cache_capacity_bytes: 8 << 20 }).unwrap()
}

#[tokio::test]
async fn memory_mode_keeps_the_event_log_but_no_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Memory);
    assert!(!store.keeps_records());
    let mut batch = Batch::new();
    batch.put(b"k".to_vec(), &1u32).unwrap();
    batch.event(&"e").unwrap();
    store.write(batch).unwrap();
    assert_eq!(store.get::<u32>(b"k").unwrap(), None);
    assert_eq!(store.read_events::<String>(0, 10).unwrap(), vec![(1, "e".to_owned())]);
    assert_eq!(store.last_event_seq().unwrap(), 1);
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "memory mode touches no disk");
}

#[tokio::test]
async fn a_batch_is_readable_and_scannable_on_disk() {
    for durability in [Durability::Strict, Durability::Relaxed { flush_every_ms: 10 }] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), durability);
        let mut batch = Batch::new();
        batch.put(b"a\0x".to_vec(), &1u32).unwrap();
        batch.put(b"a\0y".to_vec(), &2u32).unwrap();
        batch.put(b"ab".to_vec(), &3u32).unwrap();
        batch.event(&"first").unwrap();
        batch.event(&"second").unwrap();
        let ticket = store.write(batch).unwrap();
        store.durable(ticket).await.unwrap();
        assert_eq!(store.get::<u32>(b"a\0y").unwrap(), Some(2));
        let scanned: Vec<u32> = store.scan_prefix::<u32>(b"a\0").unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(scanned, vec![1, 2], "{durability:?}");
        let events: Vec<(u64, String)> = store.read_events(1, 10).unwrap();
        assert_eq!(events, vec![(1, "first".to_owned()), (2, "second".to_owned())]);
        let mut delete = Batch::new();
        delete.delete(b"a\0x".to_vec());
        store.write(delete).unwrap();
        assert_eq!(store.get::<u32>(b"a\0x").unwrap(), None);
        store.close().unwrap();
    }
}

#[tokio::test]
async fn records_and_event_sequence_survive_a_reopen() {
    for durability in [Durability::Strict, Durability::Relaxed { flush_every_ms: 10 }] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path(), durability);
            let mut batch = Batch::new();
            batch.put(b"k".to_vec(), &"v").unwrap();
            batch.event(&1u8).unwrap();
            let ticket = store.write(batch).unwrap();
            store.durable(ticket).await.unwrap();
            store.close().unwrap();
        }
        let store = open(dir.path(), durability);
        assert_eq!(store.get::<String>(b"k").unwrap().as_deref(), Some("v"));
        assert_eq!(store.last_event_seq().unwrap(), 1);
        let mut batch = Batch::new();
        batch.event(&2u8).unwrap();
        store.write(batch).unwrap();
        assert_eq!(store.read_events::<u8>(0, 10).unwrap(), vec![(1, 1), (2, 2)]);
    }
}

#[tokio::test]
async fn many_concurrent_writers_share_few_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Strict);
    let mut tasks = Vec::new();
    for writer in 0..64u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..20u32 {
                let mut batch = Batch::new();
                batch.put(format!("w{writer}/{round}").into_bytes(), &round).unwrap();
                let ticket = store.write(batch).unwrap();
                store.durable(ticket).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let flushes = store.stats().flushes.load(Ordering::Relaxed);
    let waiters = store.stats().flush_batch_size.snapshot();
    assert!(waiters.sum <= 64 * 20, "no waiter was woken twice");
    assert_eq!(store.stats().writes.load(Ordering::Relaxed), 64 * 20);
    assert!(flushes < 64 * 20, "group commit shares flushes: {flushes} flushes for 1280 writes");
    store.close().unwrap();
}

#[tokio::test]
async fn a_write_asked_to_flush_soon_becomes_durable_without_a_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Strict);
    let mut batch = Batch::new();
    batch.put(b"k".to_vec(), &1u32).unwrap();
    let ticket = store.write(batch).unwrap();
    let group = store.inner.group.as_ref().unwrap();
    // Nobody waits: nothing flushes.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!group.is_durable(ticket.0));
    store.flush_soon(ticket);
    let started = std::time::Instant::now();
    while !group.is_durable(ticket.0) {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "never flushed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A stream of such writes shares flushes: at most one per
    // `LAZY_FLUSH_AFTER` while nobody waits.
    let before = store.stats().flushes.load(Ordering::Relaxed);
    let mut last = ticket;
    for n in 0..200u32 {
        let mut batch = Batch::new();
        batch.put(format!("lazy/{n}").into_bytes(), &n).unwrap();
        last = store.write(batch).unwrap();
        store.flush_soon(last);
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let flushes = store.stats().flushes.load(Ordering::Relaxed) - before;
    assert!(flushes < 100, "{flushes} flushes for 200 writes");
    while !group.is_durable(last.0) {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the last write never flushed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    store.close().unwrap();
}

#[tokio::test]
async fn writes_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Strict);
    store.close().unwrap();
    let mut batch = Batch::new();
    batch.put(b"k".to_vec(), &1u8).unwrap();
    assert_eq!(store.write(batch), Err(StoreError::Closed));
}

/// sled's I/O pool (patched to wake one idle thread per task, see
/// `vendor/sled/MERCATO.md`) must still run every task: each flush waits for
/// its log buffer's write on that pool, so a lost wake-up would hang a flush.
#[test]
fn every_flush_finishes_when_many_threads_flush_at_once() {
    const THREADS: usize = 16;
    const FLUSHES: usize = 150;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new().path(dir.path()).flush_every_ms(None).open().expect("open");
    let (done, finished) = std::sync::mpsc::channel();
    let mut threads = Vec::new();
    for thread in 0..THREADS {
        let db = db.clone();
        let done = done.clone();
        threads.push(std::thread::spawn(move || {
            for n in 0..FLUSHES {
                let key = format!("{thread:02}-{n:04}");
                let flushed = db.insert(key.as_bytes(), key.as_bytes()).and_then(|_| db.flush());
                if flushed.is_err() {
                    let _ = done.send(Err(key));
                    return;
                }
            }
            let _ = done.send(Ok(()));
        }));
    }
    for _ in 0..THREADS {
        let result = finished.recv_timeout(std::time::Duration::from_secs(120)).expect("a flush never finished");
        assert_eq!(result, Ok(()));
    }
    for thread in threads {
        thread.join().expect("a writer panicked");
    }
    drop(db);
    // Waits for sled's own threads to let go of the directory, as the store does.
    let config =
        StoreConfig { path: dir.path().to_path_buf(), durability: Durability::Strict, cache_capacity_bytes: 8 << 20 };
    let reopened = open_sled(&config).expect("reopen");
    assert_eq!(reopened.len(), THREADS * FLUSHES);
}

#[test]
fn opening_waits_for_a_lock_released_a_moment_later() {
    let dir = tempfile::tempdir().unwrap();
    let holder = sled::Config::new().path(dir.path()).open().unwrap();
    let released = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(holder);
    });
    let started = std::time::Instant::now();
    let store = open(dir.path(), Durability::Strict);
    assert!(started.elapsed() >= Duration::from_millis(150), "the store opened while the lock was held");
    released.join().unwrap();
    store.close().unwrap();
}

#[tokio::test]
async fn a_multi_key_write_leaves_no_intent_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Strict);
    for n in 0..50u32 {
        let mut batch = Batch::new();
        batch.put(format!("a\0{n}").into_bytes(), &n).unwrap();
        batch.put(format!("b\0{n}").into_bytes(), &n).unwrap();
        batch.event(&n).unwrap();
        let ticket = store.write(batch).unwrap();
        store.durable(ticket).await.unwrap();
    }
    let mut large = Batch::new();
    for n in 0..40u32 {
        large.put(format!("c\0{n:02}").into_bytes(), &n).unwrap();
    }
    let ticket = store.write(large).unwrap();
    store.durable(ticket).await.unwrap();
    assert_eq!(store.scan_prefix::<u32>(b"c\0").unwrap().len(), 40, "a write over INTENT_MAX_OPS keys");
    assert_eq!(store.unfinished_writes().unwrap(), 0);
    assert_eq!(store.scan_prefix::<u32>(b"b\0").unwrap().len(), 50);
    assert_eq!(store.last_event_seq().unwrap(), 50);
    store.close().unwrap();
}

/// The state a crash leaves between a multi-key write's intent and its last
/// key: the intent and the first key are on disk, the rest are not. Opening
/// finishes the write, removes the intent, and reapplies a key already
/// written without harm.
#[test]
fn opening_finishes_a_multi_key_write_a_crash_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.insert(b"gone", codec::encode(&0u32).unwrap()).unwrap();
        let ops: Vec<Op> = vec![
            (b"first".to_vec(), Some(codec::encode(&1u32).unwrap())),
            (b"second".to_vec(), Some(codec::encode(&2u32).unwrap())),
            (b"gone".to_vec(), None),
        ];
        db.insert(keys::intent(7), encode_ops(&ops).unwrap()).unwrap();
        db.insert(b"first", codec::encode(&1u32).unwrap()).unwrap();
        // A later write to another key, after the intent.
        db.insert(b"later", codec::encode(&9u32).unwrap()).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path(), Durability::Strict);
    assert_eq!(store.get::<u32>(b"first").unwrap(), Some(1));
    assert_eq!(store.get::<u32>(b"second").unwrap(), Some(2));
    assert_eq!(store.get::<u32>(b"gone").unwrap(), None);
    assert_eq!(store.get::<u32>(b"later").unwrap(), Some(9));
    assert_eq!(store.unfinished_writes().unwrap(), 0, "the intent is removed once applied");
    store.close().unwrap();
    drop(store);
    // Finished for good: the next open has nothing to do.
    let store = open(dir.path(), Durability::Strict);
    assert_eq!(store.get::<u32>(b"second").unwrap(), Some(2));
    assert_eq!(store.unfinished_writes().unwrap(), 0);
    store.close().unwrap();
}

#[test]
fn an_intent_round_trips_and_a_damaged_one_is_an_error() {
    let ops: Vec<Op> =
        vec![(b"k\0one".to_vec(), Some(vec![1, 2, 3])), (b"gone".to_vec(), None), (Vec::new(), Some(Vec::new()))];
    let bytes = encode_ops(&ops).unwrap();
    assert_eq!(decode_ops(b"W", &bytes).unwrap(), ops);
    for cut in 0..bytes.len() {
        assert!(decode_ops(b"W", &bytes[..cut]).is_err(), "a record cut at {cut} bytes decoded");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(decode_ops(b"W", &longer), Err(StoreError::Decode { .. })));
    let mut other_version = bytes;
    other_version[0] = 99;
    assert!(matches!(decode_ops(b"W", &other_version), Err(StoreError::UnsupportedVersion { found: 99, .. })));
}

#[test]
fn unfinished_writes_counts_the_intents_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Durability::Strict);
    assert_eq!(store.unfinished_writes().unwrap(), 0);
    let Backend::Sled(db) = &store.inner.backend else { panic!("strict mode keeps records in sled") };
    let ops: Vec<Op> = vec![(b"k".to_vec(), Some(vec![1])), (b"l".to_vec(), None)];
    for seq in [3, 4] {
        db.insert(keys::intent(seq), encode_ops(&ops).unwrap()).unwrap();
    }
    assert_eq!(store.unfinished_writes().unwrap(), 2);
    store.close().unwrap();
}
