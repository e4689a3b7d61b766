//! Crash safety: a child process reserves stock and writes cart lines as fast
//! as it can (strict durability), printing each operation once it is
//! acknowledged; the test kills it with SIGKILL at random moments, reopens
//! the data directory and checks that every acknowledged operation is there
//! and nothing is oversold.
//!
//! The child is this test binary run again with `--ignored --exact
//! crash::crash_child` and the data directory in `MERCATO_CRASH_DIR`.

use crate::common;

use crate::common::{bucket, sku};
use mercato::engine::{CartId, HoldStatus, ReservationId};
use mercato::{Durability, Error, Mercato, ReserveRequest, StockUpdate};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

const STOCK: u64 = 2_000;
const TASKS: usize = 16;
const LINES_PER_CART: usize = 150;

#[test]
#[ignore = "run by acknowledged_writes_survive_sigkill as its child process"]
fn crash_child() {
    let Ok(dir) = std::env::var("MERCATO_CRASH_DIR") else { return };
    let round: usize = std::env::var("MERCATO_CRASH_ROUND").ok().and_then(|raw| raw.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let mercato = Mercato::open(common::config(dir.as_ref(), Durability::Strict)).unwrap();
        if round == 0 {
            mercato.inventory().set_stock(bucket("CRASH-1", "W-1"), StockUpdate::on_hand(STOCK)).await.unwrap();
            let lines: Vec<String> = (0..LINES_PER_CART).map(|line| format!("L-{line}")).collect();
            common::for_sale(&mercato, &lines).await;
        }
        println!("READY");
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let mercato = mercato.clone();
            tasks.push(tokio::spawn(async move { child_task(mercato, round, task).await }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

fn ack(line: String) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

async fn child_task(mercato: Mercato, round: usize, task: usize) {
    for op in 0.. {
        let id = ReservationId::parse(&format!("res_{round}_{task}_{op}")).unwrap();
        match mercato.inventory().reserve(ReserveRequest::new(sku("CRASH-1"), 1).id(id.clone()).ttl_ms(3_600_000)).await
        {
            Ok(_) => ack(format!("R {id}")),
            Err(Error::Inventory(_)) => {}
            Err(err) => panic!("{err}"),
        }
        if op % 4 == 0 && mercato.inventory().commit(&id).await.is_ok() {
            ack(format!("K {id}"));
        }
        let cart = CartId::parse(&format!("cart_{round}_{task}_{}", op / LINES_PER_CART)).unwrap();
        if op % LINES_PER_CART == 0 {
            mercato.carts().open(&cart).await.unwrap();
        }
        // One cart per LINES_PER_CART ops, each op a line of its own.
        let line_sku = format!("L-{}", op % LINES_PER_CART);
        let quantity = u32::try_from(op % 7 + 1).unwrap();
        mercato.carts().add(&cart, sku(&line_sku), quantity).await.unwrap();
        ack(format!("A {cart} {line_sku} {quantity}"));
    }
}

/// What the children acknowledged, over all rounds.
#[derive(Default)]
struct Acknowledged {
    held: Vec<ReservationId>,
    committed: Vec<ReservationId>,
    lines: BTreeMap<(String, String), u32>,
}

fn run_child_round(dir: &std::path::Path, round: usize, kill_after: Duration, acked: &mut Acknowledged) {
    let env = [("MERCATO_CRASH_DIR", dir.display().to_string()), ("MERCATO_CRASH_ROUND", round.to_string())];
    let lines = common::run_killed_child("crash::crash_child", &env, kill_after);
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["R", id] => acked.held.push(ReservationId::parse(id).unwrap()),
            ["K", id] => acked.committed.push(ReservationId::parse(id).unwrap()),
            ["A", cart, line_sku, quantity] => {
                acked.lines.insert((cart.to_string(), line_sku.to_string()), quantity.parse().unwrap());
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = rand::random();
    eprintln!("crash test seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked = Acknowledged::default();
    let started = Instant::now();
    for round in 0..6 {
        let kill_after = Duration::from_millis(rng.random_range(300..900));
        let dir_path = dir.path().to_path_buf();
        let mut round_acked = std::mem::take(&mut acked);
        round_acked = tokio::task::spawn_blocking(move || {
            run_child_round(&dir_path, round, kill_after, &mut round_acked);
            round_acked
        })
        .await
        .unwrap();
        acked = round_acked;
        verify(dir.path(), &acked, seed).await;
    }
    assert!(!acked.held.is_empty() && !acked.lines.is_empty(), "the children acknowledged nothing (seed {seed})");
    eprintln!(
        "crash test: {} holds, {} commits, {} cart lines acknowledged over 6 kills in {:?}",
        acked.held.len(),
        acked.committed.len(),
        acked.lines.len(),
        started.elapsed()
    );
}

async fn verify(dir: &std::path::Path, acked: &Acknowledged, seed: u64) {
    let mercato = Mercato::open(common::config(dir, Durability::Strict)).unwrap();
    for id in &acked.held {
        let reservation = mercato
            .inventory()
            .reservation(id)
            .await
            .unwrap_or_else(|err| panic!("lost hold {id}: {err} (seed {seed})"));
        assert!(
            matches!(reservation.status, HoldStatus::Held | HoldStatus::Committed),
            "hold {id} is {:?} (seed {seed})",
            reservation.status
        );
    }
    for id in &acked.committed {
        assert_eq!(
            mercato.inventory().reservation(id).await.unwrap().status,
            HoldStatus::Committed,
            "lost commit {id} (seed {seed})"
        );
    }
    let counts = mercato.inventory().levels(&sku("CRASH-1")).await.unwrap().totals;
    assert_eq!(counts.on_hand, STOCK);
    assert!(counts.held + counts.committed <= STOCK, "oversold: {counts:?} (seed {seed})");
    assert!(counts.held + counts.committed >= u64::try_from(acked.held.len()).unwrap(), "{counts:?} (seed {seed})");
    let mut carts: BTreeMap<String, mercato::domains::carts::actor::CartSnapshot> = BTreeMap::new();
    for ((cart, line_sku), quantity) in &acked.lines {
        if !carts.contains_key(cart) {
            let snapshot = mercato.carts().get(&CartId::parse(cart).unwrap()).await.unwrap();
            carts.insert(cart.clone(), snapshot);
        }
        let line = carts[cart].lines.iter().find(|line| line.sku.as_str() == line_sku);
        assert_eq!(line.map(|line| line.quantity), Some(*quantity), "lost cart line {cart}/{line_sku} (seed {seed})");
    }
    mercato.shutdown().await.unwrap();
}
