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
    let store = SqliteStore::open_with(&path, limits, super::lost_deferred_writes).unwrap();
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

/// A store on a new database with a table `t (k)`, and a connection of
/// its own on the file (what another process, or the next start, sees).
struct Deferred {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    other: rusqlite::Connection,
}

/// How often deferred writes were lost (each test that loses some counts
/// them in its own).
static LOST_AT_COMMIT: AtomicU64 = AtomicU64::new(0);
static LOST_BEHIND_ITS_BACK: AtomicU64 = AtomicU64::new(0);

fn lost_at_commit(_why: &str) {
    LOST_AT_COMMIT.fetch_add(1, Ordering::SeqCst);
}

fn lost_behind_its_back(_why: &str) {
    LOST_BEHIND_ITS_BACK.fetch_add(1, Ordering::SeqCst);
}

fn never_lost(why: &str) {
    panic!("deferred writes lost: {why}");
}

fn deferred_db() -> Deferred {
    deferred_db_losing(never_lost)
}

fn deferred_db_losing(lost: fn(&str)) -> Deferred {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let store = SqliteStore::open_with(&path, WalLimits::default(), lost).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY);
             CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (p TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
    Deferred {
        _dir: dir,
        store,
        other,
    }
}

async fn put(store: &SqliteStore, k: &str) -> Result<(), saga_core::ports::StoreError> {
    let k = k.to_owned();
    store
        .write("test.put", move |c| {
            crate::execute(c, "test.put", "INSERT INTO t (k) VALUES (?1)", [k])?;
            Ok(((), true))
        })
        .await
}

fn keys_in(c: &rusqlite::Connection) -> Vec<String> {
    let mut stmt = c.prepare("SELECT k FROM t ORDER BY k").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What `store` reads of `t`.
fn keys(store: &SqliteStore) -> Vec<String> {
    store.read(|c| Ok(keys_in(c))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_write_is_seen_by_deferring_reads_only_until_the_next_committing_write() {
    let db = deferred_db();
    let deferring = db.store.deferring();
    put(&deferring, "a").await.unwrap();
    put(&deferring, "b").await.unwrap();
    assert_eq!(keys(&deferring), ["a", "b"], "its own reads see it");
    assert!(keys(&db.store).is_empty(), "committed reads do not");
    assert!(keys_in(&db.other).is_empty(), "nor another connection");

    put(&db.store, "c").await.unwrap();
    assert_eq!(keys_in(&db.other), ["a", "b", "c"], "committed with it");
    assert_eq!(keys(&db.store), ["a", "b", "c"]);
    assert_eq!(keys(&deferring), ["a", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_writes_are_committed_by_a_flush_or_within_a_few_milliseconds() {
    let db = deferred_db();
    let deferring = db.store.deferring();
    put(&deferring, "a").await.unwrap();
    assert!(keys_in(&db.other).is_empty());
    db.store.flush().await.unwrap();
    assert_eq!(keys_in(&db.other), ["a"], "flushed");
    db.store.flush().await.unwrap();

    put(&deferring, "b").await.unwrap();
    let start = std::time::Instant::now();
    while keys_in(&db.other) != ["a", "b"] {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not committed after {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!db.store.writer.has_uncommitted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deferred_write_is_rolled_back_alone() {
    let db = deferred_db();
    let deferring = db.store.deferring();
    put(&deferring, "a").await.unwrap();
    assert!(put(&deferring, "a").await.is_err(), "the key is taken");
    put(&deferring, "b").await.unwrap();
    db.store.flush().await.unwrap();
    assert_eq!(keys_in(&db.other), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deferred_and_committing_writes_are_all_kept() {
    let db = deferred_db();
    let writes = (0..64).map(|i| {
        let store = if i % 3 == 0 {
            db.store.clone()
        } else {
            db.store.deferring()
        };
        tokio::spawn(async move {
            for j in 0..20 {
                put(&store, &format!("{i:02}-{j:02}")).await.unwrap();
                let own = format!("{i:02}-{j:02}");
                assert!(keys(&store).contains(&own), "{own} read back");
            }
        })
    });
    for w in writes.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    db.store.flush().await.unwrap();
    assert_eq!(keys_in(&db.other).len(), 64 * 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_of_answered_deferred_writes_stops_the_process() {
    let db = deferred_db_losing(lost_at_commit);
    let deferring = db.store.deferring();
    put(&deferring, "a").await.unwrap();
    // A deferred foreign key is only checked at the commit.
    deferring
        .write("test.orphan", |c| {
            crate::execute(
                c,
                "test.orphan",
                "INSERT INTO child (p) VALUES ('none')",
                [],
            )?;
            Ok(((), true))
        })
        .await
        .unwrap();
    let committing = put(&db.store, "b").await;
    assert!(committing.is_err(), "the committing write is told");
    assert_eq!(LOST_AT_COMMIT.load(Ordering::SeqCst), 1, "stopped once");
    assert!(keys_in(&db.other).is_empty(), "nothing of it was kept");
    assert!(!db.store.writer.has_uncommitted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_rolled_back_behind_the_writers_back_is_noticed_before_it_is_continued() {
    let db = deferred_db_losing(lost_behind_its_back);
    let deferring = db.store.deferring();
    put(&deferring, "a").await.unwrap();
    // As SQLite does itself on some I/O and memory errors.
    db.store
        .writer
        .read_uncommitted(|c| c.execute_batch("ROLLBACK").unwrap());
    assert_eq!(
        LOST_BEHIND_ITS_BACK.load(Ordering::SeqCst),
        1,
        "stopped at once"
    );
    assert!(!db.store.writer.has_uncommitted());
    put(&deferring, "b").await.unwrap();
    db.store.flush().await.unwrap();
    assert_eq!(keys_in(&db.other), ["b"], "b in a transaction of its own");
    assert_eq!(LOST_BEHIND_ITS_BACK.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_order_change_wakes_its_waiters_once_committed() {
    use saga_core::fixtures::received_order;
    use saga_core::order::{OrderStatus, OrderUpdate};
    use saga_core::ports::{OrderStore, UpdateOutcome};
    use saga_core::{Clock, ManualClock};

    let db = deferred_db();
    let now = ManualClock::at_fixed_start().now();
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", now);
    db.store.insert(&order).await.unwrap();
    let id = order.order_id();
    let changes = db.store.order_changes(id);
    let changed = changes.notified();
    tokio::pin!(changed);
    changed.as_mut().enable();

    let deferring = db.store.deferring();
    let cancel =
        OrderUpdate::transition(OrderStatus::Failed, &[OrderStatus::Received], vec![], now);
    let outcome = deferring.update(id, &cancel).await.unwrap();
    assert!(matches!(outcome, UpdateOutcome::Applied(_)), "{outcome:?}");
    let seen = |store: &SqliteStore| {
        let store = store.clone();
        let id = id.clone();
        async move {
            OrderStore::get(&store, &id)
                .await
                .unwrap()
                .unwrap()
                .status()
        }
    };
    assert_eq!(seen(&deferring).await, OrderStatus::Failed);
    assert_eq!(seen(&db.store).await, OrderStatus::Received);
    assert!(
        tokio::time::timeout(Duration::from_millis(1), changed.as_mut())
            .await
            .is_err(),
        "nobody is woken before the commit"
    );
    db.store.flush().await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), changed)
        .await
        .expect("woken by the commit");
    assert_eq!(seen(&db.store).await, OrderStatus::Failed);
}
