//! Group commit: one thread runs the writes of the store on the writing
//! connection. It takes whatever writes are waiting, runs each in its own
//! savepoint inside one `BEGIN IMMEDIATE` transaction, commits once, and only
//! then answers them. (A write that finds the connection free and no batch
//! to join, as when one client at a time writes, commits alone on its
//! caller's thread: [`Writer::write_here`].) A write is acknowledged only once committed, so its
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};
use std::time::{Duration, Instant};

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
    shared: Arc<Shared>,
}

/// How long the writer thread has had nothing to do before a write may
/// commit on its caller's thread again ([`Writer::write_here`]); sooner
/// when the thread's last batch held one write and none came meanwhile.
const QUIET_AFTER: Duration = Duration::from_micros(500);

/// What the writer thread shares with the callers of [`Writer::write`].
#[derive(Debug)]
struct Shared {
    /// The writing connection: the thread's, and a caller's that finds it
    /// free while nothing waits ([`Writer::write_here`]).
    conn: Mutex<Connection>,
    /// Writes sent to the thread and not taken into a batch yet.
    queued: AtomicUsize,
    /// Nobody writes concurrently, no batch is there to join: the thread
    /// has had no write for [`QUIET_AFTER`], or its last batch held one
    /// write and none arrived while it ran.
    quiet: AtomicBool,
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, thiserror::Error)]
#[error("the write was dropped: the SQLite writer thread stopped or the write panicked")]
struct WriteDropped;

impl Writer {
    /// Start the thread that writes through `conn`, and the one that
    /// checkpoints the WAL through `checkpointer` (both end once the last
    /// clone of the writer is dropped), with the WAL kept within `limits`.
    ///
    /// Checkpoints are taken off the writer: with `synchronous = NORMAL` a
    /// checkpoint is where SQLite fsyncs, and run inside a commit (SQLite's
    /// automatic checkpoint) it would hold every waiting write for the time
    /// of two fsyncs. A passive checkpoint on its own connection never
    /// blocks the writer. Only the small remainder that lets the WAL start
    /// over is checkpointed by the writer itself ([`checkpoints`]).
    pub(crate) fn spawn(
        conn: Connection,
        checkpointer: Connection,
        limits: WalLimits,
    ) -> std::io::Result<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(std::io::Error::other)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (running, stopped) = mpsc::channel::<()>();
        let restart = Arc::new(AtomicBool::new(false));
        let wanted = restart.clone();
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            queued: AtomicUsize::new(0),
            quiet: AtomicBool::new(true),
        });
        let thread = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &stopped, &wanted, limits))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                run(&thread, &rx, &restart, limits);
                drop(running);
            })?;
        Ok(Self { jobs, shared })
    }

    /// Commit `job` alone, right here on the caller's thread, when no other
    /// write is under way or waiting and the thread has been quiet
    /// (`None`: done and answered). A single write gains nothing from the
    /// writer thread but the two thread switches of handing it over and
    /// answering (an order makes ~15 writes, one after the other); under
    /// concurrent writes they go to the thread, to share its commits. (A
    /// BEGIN that waits for another process's write lock blocks this
    /// thread, up to the busy timeout.)
    fn write_here(&self, job: Job) -> Option<Job> {
        let s = &self.shared;
        if !s.quiet.load(Ordering::Relaxed) || s.queued.load(Ordering::Acquire) > 0 {
            return Some(job);
        }
        let conn = match s.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Some(job),
        };
        let answers = batch(&conn, &mut VecDeque::from([job]));
        drop(conn);
        answers.send();
        None
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
        if let Some(job) = self.write_here(job) {
            self.shared.queued.fetch_add(1, Ordering::Release);
            self.jobs
                .send(job)
                .map_err(|_| StoreError::permanent(operation, WriteDropped))?;
        }
        rx.await
            .map_err(|_| StoreError::permanent(operation, WriteDropped))?
    }
}

/// Take the waiting writes in batches. When the checkpoint thread asks
/// for it (`restart`), checkpoint the rest of the WAL between two batches:
/// at the first moment no write waits, or after [`WalLimits::idle_wait`]
/// under steady load.
fn run(shared: &Shared, rx: &mpsc::Receiver<Job>, restart: &AtomicBool, limits: WalLimits) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut asked_at: Option<Instant> = None;
    let take = |waiting: &mut VecDeque<Job>, job| {
        shared.queued.fetch_sub(1, Ordering::AcqRel);
        waiting.push_back(job);
    };
    loop {
        if waiting.is_empty() {
            let first = match rx.try_recv() {
                Ok(job) => Some(job),
                Err(mpsc::TryRecvError::Empty) => idle(shared, rx, restart, limits),
                Err(mpsc::TryRecvError::Disconnected) => None,
            };
            let Some(first) = first else { return };
            take(&mut waiting, first);
        }
        while waiting.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => take(&mut waiting, job),
                Err(_) => break,
            }
        }
        // Writes reach the thread when they could not run right away:
        // others write concurrently, so they share its commits from now on.
        // A write that had no company (alone in its batch, none arrived
        // meanwhile) was a chance overlap, as when one client's next order
        // starts while the last one's execution saves its end: the writes
        // after it commit on their callers' threads again.
        let alone = waiting.len() == 1;
        shared.quiet.store(false, Ordering::Relaxed);
        let conn = lock(&shared.conn);
        let mut answers = Some(batch(&conn, &mut waiting));
        if !restart.load(Ordering::Relaxed) {
            asked_at = None;
        } else {
            let at = *asked_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= limits.idle_wait {
                asked_at = None;
                // The writes are committed: they need not wait for it.
                if let Some(answers) = answers.take() {
                    answers.send();
                }
                finish_checkpoint(&conn, restart);
            }
        }
        drop(conn);
        if alone && waiting.is_empty() && shared.queued.load(Ordering::Acquire) == 0 {
            shared.quiet.store(true, Ordering::Relaxed);
        }
        // Answered last: a caller's next write finds the connection free
        // and the thread's quiet flag up to date.
        if let Some(answers) = answers {
            answers.send();
        }
    }
}

/// No write waits: finish the checkpoint when asked, meanwhile or before;
/// the next write (`None`: the writer is dropped).
fn idle(
    shared: &Shared,
    rx: &mpsc::Receiver<Job>,
    restart: &AtomicBool,
    limits: WalLimits,
) -> Option<Job> {
    let mut wait = QUIET_AFTER;
    loop {
        if restart.load(Ordering::Relaxed) {
            finish_checkpoint(&lock(&shared.conn), restart);
        }
        match rx.recv_timeout(wait) {
            Ok(job) => return Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                shared.quiet.store(true, Ordering::Relaxed);
                wait = limits.every;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// When the WAL is checkpointed and started over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalLimits {
    /// How often the checkpoint thread copies the WAL into the database.
    pub(crate) every: Duration,
    /// WAL frames (pages) after which the WAL starts over from its
    /// beginning; the file keeps its size and is overwritten from the start.
    pub(crate) restart_after_frames: i64,
    /// How long the writer waits for a moment without waiting writes before
    /// it checkpoints between two batches anyway.
    pub(crate) idle_wait: Duration,
}

impl Default for WalLimits {
    /// A checkpoint every 500 ms; the WAL starts over at 32 MiB (of 4 KiB
    /// pages).
    fn default() -> Self {
        Self {
            every: Duration::from_millis(500),
            restart_after_frames: 8192,
            idle_wait: Duration::from_millis(5),
        }
    }
}

/// `PRAGMA wal_checkpoint(mode)`: (frames in the WAL, frames checkpointed),
/// or `None` when another checkpoint or a reader of old frames held it up.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        let busy: i64 = r.get(0)?;
        Ok((busy == 0).then_some((r.get(1)?, r.get(2)?)))
    })
}

/// On the writer, between two batches: checkpoint what the last passive
/// checkpoint left (the frames written since). Nothing is written during
/// it, so it reaches the end of the WAL (unless a reader still reads old
/// frames), and the next write starts the WAL over. It holds the writes
/// that arrive meanwhile for the copy of those few frames and two fsyncs.
fn finish_checkpoint(conn: &Connection, restart: &AtomicBool) {
    match checkpoint(conn, "PASSIVE") {
        Ok(Some((log, done))) if log == done => {}
        Ok(_) => {
            tracing::debug!("WAL still read or checkpointed elsewhere; the next checkpoint retries")
        }
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
    }
    restart.store(false, Ordering::Relaxed);
}

/// Passive checkpoints after the one that found the WAL over its limit,
/// before the writer is asked for the rest.
const TAIL_PASSES: usize = 2;

/// A passive checkpoint every [`WalLimits::every`] until the writer ends,
/// then a last one. It copies the WAL into the database without blocking
/// the writer, but under steady load it never lets the WAL start over
/// (there is always a newer frame): the WAL grew by ~60 KiB per order
/// without bound, and its index (`-shm`, mapped into the process) with it.
/// So once the WAL holds more than [`WalLimits::restart_after_frames`], it
/// asks the writer (`restart`) to checkpoint the remainder itself
/// ([`finish_checkpoint`]). (A `RESTART` checkpoint here instead blocked
/// every write for the copy of the whole WAL and its fsyncs: tens to hundreds of
/// milliseconds at 32 MiB. Not `TRUNCATE` either: growing the
/// file again costs ext4 block allocations on every write after it.)
fn checkpoints(
    conn: &Connection,
    writer_ended: &mpsc::Receiver<()>,
    restart: &AtomicBool,
    limits: WalLimits,
) {
    let passive = || checkpoint(conn, "PASSIVE");
    let round = || match passive() {
        Ok(Some((frames, _))) if frames > limits.restart_after_frames => {
            // What was written during the copy, copied again (a shorter
            // pass each time), leaves the writer only the last few frames.
            for _ in 0..TAIL_PASSES {
                if let Err(e) = passive() {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
                }
            }
            restart.store(true, Ordering::Relaxed);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = writer_ended.recv_timeout(limits.every) {
        // Not while the writer is asked to finish one: it would find the
        // checkpoint taken and have to give up.
        if !restart.load(Ordering::Relaxed) {
            round();
        }
    }
    let _ = passive();
}

/// The answers of a batch's writes, and how it ended.
#[must_use = "the writes wait for their answers"]
struct Answers {
    answers: Vec<Answer>,
    committed: Result<(), CommitFailed>,
}

impl Answers {
    fn send(self) {
        for answer in self.answers {
            answer(self.committed.clone());
        }
    }
}

/// One transaction over the waiting writes (all of them, unless SQLite
/// gives the transaction up midway: the rest stay waiting for the next);
/// their answers, to send once the connection is let go.
/// A write alone in its batch needs no savepoint: declined, the whole
/// transaction is rolled back.
fn batch(conn: &Connection, waiting: &mut VecDeque<Job>) -> Answers {
    if let Err(e) = sql(conn, "BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, "cannot begin a write transaction");
        let failed = CommitFailed::from_sqlite(&e);
        let answers = waiting.drain(..).map(|job| job(None).1).collect();
        return Answers {
            answers,
            committed: Err(failed),
        };
    }
    let alone = waiting.len() == 1;
    let mut answers: Vec<Answer> = Vec::with_capacity(waiting.len());
    let mut given_up = None;
    let mut declined = false;
    while let Some(job) = waiting.pop_front() {
        if !alone && let Err(e) = sql(conn, "SAVEPOINT w") {
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
        if alone {
            declined = !keep;
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
        // Nothing to keep: the declined write is answered with its value.
        None if declined => sql(conn, "ROLLBACK").map_err(|e| CommitFailed::from_sqlite(&e)),
        None => sql(conn, "COMMIT").map_err(|e| {
            let _ = sql(conn, "ROLLBACK");
            CommitFailed::from_sqlite(&e)
        }),
    };
    Answers { answers, committed }
}

/// A statement without parameters or rows, prepared once.
fn sql(conn: &Connection, text: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(text)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests;
