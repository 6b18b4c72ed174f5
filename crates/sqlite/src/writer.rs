//! Group commit: one thread owns the writing connection and runs every write
//! of the store. It takes whatever writes are waiting, runs each in its own
//! savepoint inside one `BEGIN IMMEDIATE` transaction, commits once, and only
//! then answers them. A write is acknowledged only once committed, so its
//! caller (an execution about to run a step, a handler about to answer)
//! never acts on something a crash could take back; many executions share
//! the cost of a commit.
//!
//! A write whose closure fails or declines (`Ok((_, false))`) is rolled back
//! to its savepoint; the others of its batch are unaffected. When SQLite
//! itself gives up the whole transaction (it is no longer open after a
//! write), every write of the batch so far is answered with the error and
//! the rest run in the next one.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use rusqlite::Connection;
use saga_core::ports::StoreError;
use tokio::sync::oneshot;

/// Writes taken into one transaction at most (bounds the latency a batch
/// adds to its first write).
const MAX_BATCH: usize = 256;

/// How a write's caller is answered once its batch ended: with its value
/// if the batch committed, else with the error.
type Answer = Box<dyn FnOnce(Result<(), CommitFailed>) + Send>;

/// A write: runs on the writing connection inside its savepoint (`None`:
/// not run, the batch failed before it), returns whether to keep it and how
/// to answer once the batch has committed.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Answer) + Send>;

/// The batch's transaction could not be committed (or was given up by
/// SQLite); nothing of it was written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the transaction failed: {message}")]
pub(crate) struct CommitFailed {
    message: String,
    transient: bool,
}

impl CommitFailed {
    fn from_sqlite(e: &rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        CommitFailed {
            message: e.to_string(),
            transient: matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)),
        }
    }

    fn into_store_error(self, operation: &'static str) -> StoreError {
        if self.transient {
            StoreError::transient(operation, self)
        } else {
            StoreError::permanent(operation, self)
        }
    }
}

/// The sending side of the writer thread (the thread ends when every clone
/// is dropped, after the writes already sent).
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("the write was dropped: the SQLite writer thread stopped or the write panicked")]
struct WriteDropped;

impl Writer {
    /// Start the thread that writes through `conn`, and the one that
    /// checkpoints the WAL through `checkpointer` (both end once the last
    /// clone of the writer is dropped).
    ///
    /// Checkpoints are taken off the writer: with `synchronous = NORMAL` a
    /// checkpoint is where SQLite fsyncs, and run inside a commit (SQLite's
    /// automatic checkpoint) it would hold every waiting write for the time
    /// of two fsyncs. A passive checkpoint on its own connection never
    /// blocks the writer.
    pub(crate) fn spawn(conn: Connection, checkpointer: Connection) -> std::io::Result<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(std::io::Error::other)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (running, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &stopped))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                run(&conn, &rx);
                drop(running);
            })?;
        Ok(Self { jobs })
    }

    /// Run `f` in the next batch: kept when it returns `Ok((value, true))`,
    /// rolled back otherwise; answered once the batch has committed. An
    /// error of `f` is its answer; otherwise a failed commit is.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<(T, bool), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |c| {
            let outcome = c.map(f);
            let keep = matches!(outcome, Some(Ok((_, true))));
            let answer: Answer = Box::new(move |committed| {
                let reply = match (outcome, committed) {
                    (Some(Err(e)), _) => Err(e),
                    (_, Err(e)) => Err(e.into_store_error(operation)),
                    (Some(Ok((value, _))), Ok(())) => Ok(value),
                    (None, Ok(())) => Err(StoreError::permanent(operation, WriteDropped)),
                };
                let _ = tx.send(reply);
            });
            (keep, answer)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::permanent(operation, WriteDropped))?;
        rx.await
            .map_err(|_| StoreError::permanent(operation, WriteDropped))?
    }
}

fn run(conn: &Connection, rx: &mpsc::Receiver<Job>) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            let Ok(first) = rx.recv() else { return };
            waiting.push_back(first);
        }
        while waiting.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        batch(conn, &mut waiting);
    }
}

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// WAL frames (pages) after which a checkpoint also restarts the WAL from
/// its beginning (32 MiB of 4 KiB pages); the file keeps its size and is
/// overwritten from the start, so it stays about that big.
const RESTART_AFTER_FRAMES: i64 = 8192;

/// A passive checkpoint every [`CHECKPOINT_EVERY`] until the writer ends,
/// then a last one. Under steady load passive checkpoints alone never let
/// the WAL start over (there is always a newer frame or a reader on it):
/// it grew by ~60 KiB per order without bound, and its index (`-shm`,
/// mapped into the process) with it. So once the WAL holds more than
/// [`RESTART_AFTER_FRAMES`], a `RESTART` checkpoint waits (busy timeout)
/// for the readers of old frames, copies the rest, and the next write
/// starts the WAL over. (Not `TRUNCATE`: growing the file again costs ext4
/// block allocations on every write after it.)
fn checkpoints(conn: &Connection, writer_ended: &mpsc::Receiver<()>) {
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        })
    };
    let checkpoint = || match run("PASSIVE") {
        Ok(frames) if frames > RESTART_AFTER_FRAMES => {
            if let Err(e) = run("RESTART") {
                tracing::warn!(error = %e, frames, "WAL restart failed; the next checkpoint retries");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = writer_ended.recv_timeout(CHECKPOINT_EVERY) {
        checkpoint();
    }
    checkpoint();
}

/// One transaction over the waiting writes (all of them, unless SQLite
/// gives the transaction up midway: the rest stay waiting for the next).
fn batch(conn: &Connection, waiting: &mut VecDeque<Job>) {
    if let Err(e) = sql(conn, "BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, "cannot begin a write transaction");
        let failed = CommitFailed::from_sqlite(&e);
        for job in waiting.drain(..) {
            let (_, answer) = job(None);
            answer(Err(failed.clone()));
        }
        return;
    }
    let mut answers: Vec<Answer> = Vec::with_capacity(waiting.len());
    let mut given_up = None;
    while let Some(job) = waiting.pop_front() {
        if let Err(e) = sql(conn, "SAVEPOINT w") {
            given_up = Some(CommitFailed::from_sqlite(&e));
            waiting.push_front(job);
            break;
        }
        // A panicking write is dropped (its caller is told) and rolled
        // back; the thread keeps serving the others.
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job(Some(conn))));
        let keep = match ran {
            Ok((keep, answer)) => {
                answers.push(answer);
                keep
            }
            Err(_) => false,
        };
        if conn.is_autocommit() {
            given_up = Some(CommitFailed {
                message: "SQLite rolled the transaction back".into(),
                transient: true,
            });
            break;
        }
        let end = if keep {
            sql(conn, "RELEASE w")
        } else {
            sql(conn, "ROLLBACK TO w").and_then(|()| sql(conn, "RELEASE w"))
        };
        if let Err(e) = end {
            given_up = Some(CommitFailed::from_sqlite(&e));
            break;
        }
    }
    let committed = match given_up {
        Some(e) => {
            let _ = sql(conn, "ROLLBACK");
            Err(e)
        }
        None => sql(conn, "COMMIT").map_err(|e| {
            let _ = sql(conn, "ROLLBACK");
            CommitFailed::from_sqlite(&e)
        }),
    };
    for answer in answers {
        answer(committed.clone());
    }
}

/// A statement without parameters or rows, prepared once.
fn sql(conn: &Connection, text: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(text)?.execute([]).map(drop)
}
