//! The WAL stays bounded under steady writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::WalLimits;
use crate::{EventRow, SqliteStore};

/// Writers that never pause: 16 executions appending 1 KiB events, each
/// save waiting for the previous one, as an execution's do.
async fn steady_writes(store: &SqliteStore, saves: u64) {
    let doc = "x".repeat(1024);
    let writers = (0..16).map(|w| {
        let (store, doc) = (store.clone(), doc.clone());
        tokio::spawn(async move {
            for save in 0..saves {
                let events = (1..=4)
                    .map(|i| EventRow {
                        id: save * 4 + i,
                        doc: format!("{{\"pad\":\"{doc}\"}}"),
                    })
                    .collect();
                store
                    .append_execution(&format!("e{w}"), "RUNNING", "{}".into(), events, 1)
                    .await
                    .unwrap();
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_steady_writes_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let limits = WalLimits {
        every: Duration::from_millis(20),
        restart_after_frames: 64,
        idle_wait: Duration::from_millis(5),
    };
    let store = SqliteStore::open_with(&path, limits).unwrap();
    let wal = dir.path().join("saga.db-wal");
    let (largest, done) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let watcher = {
        let (largest, done, wal) = (largest.clone(), done.clone(), wal.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
                largest.fetch_max(len, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let saves = 250;
    steady_writes(&store, saves).await;
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();

    // 16 MiB of events went through the WAL: one that never starts over
    // grows to ~150 MiB here. This one started over again and again; how
    // much it held at most depends on how long the disk takes for the
    // fsyncs of a checkpoint (16 to 70 MiB on a busy machine).
    let written = 16 * saves * 4 * 1024;
    let largest = largest.load(Ordering::Relaxed);
    let restarts = checkpoint_sequence(&wal);
    assert!(restarts >= 5, "the WAL started over {restarts} times");
    assert!(
        largest < 5 * written,
        "the WAL grew to {largest} bytes for {written} bytes of events"
    );
    for w in 0..16 {
        let events = store.all_events(&format!("e{w}")).await.unwrap();
        assert_eq!(events.len() as u64, saves * 4, "every write is kept");
    }
}

/// How often the WAL started over: the checkpoint sequence number of its
/// header (big-endian, bytes 12..16), counted up at each start.
fn checkpoint_sequence(wal: &std::path::Path) -> u32 {
    let header = std::fs::read(wal).unwrap();
    u32::from_be_bytes(header[12..16].try_into().unwrap())
}

/// The name of the thread a write ran on, after holding the connection
/// for `hold`.
async fn ran_on(store: &SqliteStore, hold: Duration) -> String {
    store
        .write("test.where", move |_| {
            std::thread::sleep(hold);
            let name = std::thread::current().name().unwrap_or("").to_owned();
            Ok((name, true))
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_chance_overlap_lone_writes_commit_on_their_callers_thread_again() {
    const WRITER: &str = "sqlite-writer";
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("saga.db")).unwrap();
    assert_ne!(
        ran_on(&store, Duration::ZERO).await,
        WRITER,
        "alone: on the caller's thread"
    );
    // A second write while the first holds the connection goes to the
    // writer thread (as when one client's next order starts while its
    // last execution saves its end).
    let slow = tokio::spawn({
        let store = store.clone();
        async move { ran_on(&store, Duration::from_millis(100)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ran_on(&store, Duration::ZERO).await, WRITER);
    assert_ne!(slow.await.unwrap(), WRITER);
    // One write at a time again, right after (well within the 0.5 ms the
    // writer waits before it counts as quiet): on the caller's thread,
    // once the writer has seen that it had no company (the first may
    // still race its answer).
    let mut on_writer = 0;
    for _ in 0..20 {
        if ran_on(&store, Duration::ZERO).await == WRITER {
            on_writer += 1;
        }
    }
    assert!(
        on_writer <= 2,
        "{on_writer} of 20 lone writes sent to the writer thread"
    );
}
