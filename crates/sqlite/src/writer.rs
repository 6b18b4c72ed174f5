//! Group commit: one thread runs the writes of the store on the writing
//! connection. It takes whatever writes are waiting, runs each in its own
//! savepoint inside one `BEGIN IMMEDIATE` transaction, commits once, and only
//! then answers them. (A write that finds the connection free and no batch
//! to join, as when one client at a time writes, commits alone on its
//! caller's thread: [`Writer::write_here`].) A write is acknowledged only
//! once committed (unless deferred, below), so its caller (a handler about
//! to answer, an execution about to wait) never acts on something a crash
//! could take back; many executions share the cost of a commit.
//!
//! A write may instead be *deferred* ([`Ack::Deferred`]): answered as soon
//! as it ran, its transaction left open for the writes after it and
//! committed with the next write that waits for its commit, or after
//! [`DEFERRED_AT_MOST`] at the latest. It is for a write nobody outside the
//! process can have seen yet (a step's change of its order, the save of the
//! execution after it): crash before the commit and it is lost together
//! with everything that ran after it (the writes run in the order they
//! came), exactly as if the process had died before it ran. Whoever
//! acknowledges something outside first waits for a commit
//! ([`Writer::flush`], or a write of its own that is not deferred). Reads
//! that must see such writes run on the writing connection while its
//! transaction is open ([`Writer::read_uncommitted`]). When the commit of a
//! transaction holding answered deferred writes fails, their callers have
//! gone on as if they had been kept: the process is stopped
//! ([`lost_deferred_writes`]), so that the next start resumes from what
//! was committed.
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

/// What a write does: runs on the writing connection inside its savepoint
/// (`None`: not run, the batch failed before it), returns whether to keep
/// it and how to answer once the batch has committed.
type Run = Box<dyn FnOnce(Option<&Connection>) -> (bool, Answer) + Send>;

/// Run once the transaction a write ran in has ended, committed or not.
pub(crate) type Hook = Box<dyn FnOnce() + Send>;

/// When a write's caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// Once the write is committed.
    Committed,
    /// Once the write ran; it is committed with a later write (see the
    /// module's documentation).
    Deferred,
}

/// A write and how it is acknowledged.
struct Job {
    run: Run,
    ack: Ack,
    after: Option<Hook>,
}

/// What the writer thread is sent.
enum Msg {
    Write(Job),
    /// A caller's thread left a transaction open with deferred writes: it
    /// is to be committed within [`DEFERRED_AT_MOST`].
    Opened,
}

/// How long deferred writes stay uncommitted at most, when no write that
/// waits for its commit comes meanwhile (e.g. an execution waiting between
/// two retries of a step).
pub(crate) const DEFERRED_AT_MOST: Duration = Duration::from_millis(5);

/// The writing connection and its open transaction, if deferred writes
/// left one.
struct Conn {
    conn: Connection,
    open: Option<Open>,
}

/// A transaction holding deferred writes, answered but not committed.
struct Open {
    since: Instant,
    /// The hooks of its writes, run when it ends.
    hooks: Vec<Hook>,
}

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
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// How long the writer thread has had nothing to do before a write may
/// commit on its caller's thread again ([`Writer::write_here`]); sooner
/// when the thread's last batch held one write and none came meanwhile.
const QUIET_AFTER: Duration = Duration::from_micros(500);

/// What the writer thread shares with the callers of [`Writer::write_with`].
struct Shared {
    /// The writing connection: the thread's, and a caller's that finds it
    /// free while nothing waits ([`Writer::write_here`]).
    conn: Mutex<Conn>,
    /// The connection holds an open transaction with answered deferred
    /// writes (set and cleared under `conn`'s lock, before the answers).
    uncommitted: AtomicBool,
    /// What a failed commit of answered deferred writes does.
    lost: fn(&str),
    /// Writes sent to the thread and not taken into a batch yet.
    queued: AtomicUsize,
    /// Nobody writes concurrently, no batch is there to join: the thread
    /// has had no write for [`QUIET_AFTER`], or its last batch held one
    /// write and none arrived while it ran.
    quiet: AtomicBool,
}

fn lock(conn: &Mutex<Conn>) -> MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The default of [`Shared::lost`]: deferred writes whose callers went on
/// were not committed, so this process's executions are ahead of the
/// database. Stop, loudly: the next start resumes them from what was
/// committed, as after a crash.
pub(crate) fn lost_deferred_writes(why: &str) {
    tracing::error!(
        error = why,
        "the commit of deferred writes failed after their callers went on; stopping, so that the next start resumes from the last commit"
    );
    std::process::abort();
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
    /// A failed commit of answered deferred writes calls `lost`
    /// ([`lost_deferred_writes`] outside tests).
    pub(crate) fn spawn(
        conn: Connection,
        checkpointer: Connection,
        limits: WalLimits,
        lost: fn(&str),
    ) -> std::io::Result<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(std::io::Error::other)?;
        let (jobs, rx) = mpsc::channel::<Msg>();
        let (running, stopped) = mpsc::channel::<()>();
        let restart = Arc::new(AtomicBool::new(false));
        let wanted = restart.clone();
        let shared = Arc::new(Shared {
            conn: Mutex::new(Conn { conn, open: None }),
            uncommitted: AtomicBool::new(false),
            lost,
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
        let mut conn = match s.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Some(job),
        };
        let was_open = conn.open.is_some();
        let mut job = VecDeque::from([job]);
        let answers = batch(&mut conn, &mut job, s);
        let opened = !was_open && conn.open.is_some();
        drop(conn);
        answers.send();
        if opened && self.jobs.send(Msg::Opened).is_err() {
            // Nobody would commit it.
            (s.lost)("the SQLite writer thread stopped");
        }
        // Not run (the transaction failed before it): the thread runs it.
        job.pop_front()
    }

    /// Deferred writes are answered and not committed yet.
    pub(crate) fn has_uncommitted(&self) -> bool {
        self.shared.uncommitted.load(Ordering::Acquire)
    }

    /// Run the read `f` on the writing connection, where the deferred
    /// writes not committed yet are seen (it waits for a batch under way).
    pub(crate) fn read_uncommitted<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let mut conn = lock(&self.shared.conn);
        let value = f(&conn.conn);
        let hooks = rolled_back(&mut conn, &self.shared);
        drop(conn);
        Answers {
            hooks,
            ..Answers::none()
        }
        .send();
        value
    }

    /// Commit every write answered so far, right here (it waits for a
    /// batch under way; nothing to do when no write is deferred). It never
    /// begins a transaction of its own.
    pub(crate) fn flush(&self, operation: &'static str) -> Result<(), StoreError> {
        if !self.has_uncommitted() {
            return Ok(());
        }
        commit_open(&self.shared).map_err(|e| e.into_store_error(operation))
    }

    /// Run `f` in the next batch: kept when it returns `Ok((value, true))`,
    /// rolled back otherwise; answered once the batch has committed (or,
    /// [`Ack::Deferred`], once it ran). An error of `f` is its answer;
    /// otherwise a failed commit is. `after` runs once the transaction it
    /// ran in has ended (committed or not).
    pub(crate) async fn write_with<T: Send + 'static>(
        &self,
        operation: &'static str,
        ack: Ack,
        after: Option<Hook>,
        f: impl FnOnce(&Connection) -> Result<(T, bool), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let run: Run = Box::new(move |c| {
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
        let job = Job { run, ack, after };
        if let Some(job) = self.write_here(job) {
            self.shared.queued.fetch_add(1, Ordering::Release);
            self.jobs
                .send(Msg::Write(job))
                .map_err(|_| StoreError::permanent(operation, WriteDropped))?;
        }
        rx.await
            .map_err(|_| StoreError::permanent(operation, WriteDropped))?
    }
}

/// Take the waiting writes in batches. When the checkpoint thread asks
/// for it (`restart`), checkpoint the rest of the WAL between two batches:
/// at the first moment no write waits, or after [`WalLimits::idle_wait`]
/// under steady load. Deferred writes left uncommitted are committed in
/// time ([`DEFERRED_AT_MOST`]) and before the thread ends.
fn run(shared: &Shared, rx: &mpsc::Receiver<Msg>, restart: &AtomicBool, limits: WalLimits) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut asked_at: Option<Instant> = None;
    let take = |waiting: &mut VecDeque<Job>, msg| {
        if let Msg::Write(job) = msg {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
            waiting.push_back(job);
        }
    };
    loop {
        if waiting.is_empty() {
            let first = match rx.try_recv() {
                Ok(Msg::Write(job)) => Some(Msg::Write(job)),
                Ok(Msg::Opened) | Err(mpsc::TryRecvError::Empty) => {
                    idle(shared, rx, restart, limits).map(Msg::Write)
                }
                Err(mpsc::TryRecvError::Disconnected) => None,
            };
            let Some(first) = first else {
                // A failure is handled (`lost`) inside.
                let _ = commit_open(shared);
                return;
            };
            take(&mut waiting, first);
        }
        while waiting.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => take(&mut waiting, msg),
                Err(_) => break,
            }
        }
        if waiting.is_empty() {
            continue;
        }
        // Writes reach the thread when they could not run right away:
        // others write concurrently, so they share its commits from now on.
        // A write that had no company (alone in its batch, none arrived
        // meanwhile) was a chance overlap, as when one client's next order
        // starts while the last one's execution saves its end: the writes
        // after it commit on their callers' threads again.
        let alone = waiting.len() == 1;
        shared.quiet.store(false, Ordering::Relaxed);
        let mut conn = lock(&shared.conn);
        let mut answers = Some(batch(&mut conn, &mut waiting, shared));
        if !restart.load(Ordering::Relaxed) {
            asked_at = None;
        } else {
            let at = *asked_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= limits.idle_wait {
                asked_at = None;
                let open = end_open(&mut conn, shared);
                // The writes are committed: they need not wait for it.
                if let Some(answers) = answers.take() {
                    answers.send();
                }
                open.send();
                finish_checkpoint(&conn.conn, restart);
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

/// Commit the open transaction of deferred writes, if any; how it went.
fn commit_open(shared: &Shared) -> Result<(), CommitFailed> {
    let mut conn = lock(&shared.conn);
    let answers = end_open(&mut conn, shared);
    drop(conn);
    let committed = answers.committed.clone();
    answers.send();
    committed
}

/// No write waits: finish the checkpoint when asked, meanwhile or before,
/// and commit deferred writes in time; the next write (`None`: the writer
/// is dropped).
fn idle(
    shared: &Shared,
    rx: &mpsc::Receiver<Msg>,
    restart: &AtomicBool,
    limits: WalLimits,
) -> Option<Job> {
    let mut wait = QUIET_AFTER;
    loop {
        if restart.load(Ordering::Relaxed) {
            let mut conn = lock(&shared.conn);
            let open = end_open(&mut conn, shared);
            finish_checkpoint(&conn.conn, restart);
            drop(conn);
            open.send();
        }
        let open_since = lock(&shared.conn).open.as_ref().map(|o| o.since);
        let timeout = match open_since {
            Some(since) => DEFERRED_AT_MOST.saturating_sub(since.elapsed()).min(wait),
            None => wait,
        };
        match rx.recv_timeout(timeout) {
            Ok(Msg::Write(job)) => return Some(job),
            Ok(Msg::Opened) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if open_since.is_some_and(|since| since.elapsed() >= DEFERRED_AT_MOST) {
                    // A failure is handled (`lost`) inside.
                    let _ = commit_open(shared);
                }
                if timeout == wait {
                    shared.quiet.store(true, Ordering::Relaxed);
                    wait = limits.every;
                }
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
    /// The hooks of the writes of the transaction that ended (none while
    /// it stays open).
    hooks: Vec<Hook>,
}

impl Answers {
    fn none() -> Self {
        Answers {
            answers: Vec::new(),
            committed: Ok(()),
            hooks: Vec::new(),
        }
    }

    fn send(self) {
        for answer in self.answers {
            answer(self.committed.clone());
        }
        for hook in self.hooks {
            // A panicking hook must not take the writer thread with it.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(hook));
        }
    }
}

/// One transaction over the waiting writes (all of them, unless SQLite
/// gives the transaction up midway: the rest stay waiting for the next),
/// continuing the open one of deferred writes if there is one; their
/// answers, to send once the connection is let go. The transaction is
/// committed unless every write in it is deferred and it has been open
/// less than [`DEFERRED_AT_MOST`]: then it stays open, and its writes are
/// answered as if committed.
/// A write alone in a new transaction needs no savepoint: declined, the
/// whole transaction is rolled back.
fn batch(c: &mut Conn, waiting: &mut VecDeque<Job>, shared: &Shared) -> Answers {
    let mut hooks = rolled_back(c, shared);
    let continuing = c.open.is_some();
    if !continuing && let Err(e) = sql(&c.conn, "BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, "cannot begin a write transaction");
        let failed = CommitFailed::from_sqlite(&e);
        let mut answers = Answers::none();
        answers.hooks = hooks;
        for job in waiting.drain(..) {
            answers.answers.push((job.run)(None).1);
            answers.hooks.extend(job.after);
        }
        answers.committed = Err(failed);
        return answers;
    }
    let conn = &c.conn;
    let alone = !continuing && waiting.len() == 1;
    let mut answers: Vec<Answer> = Vec::with_capacity(waiting.len());
    let mut given_up = None;
    let mut declined = false;
    let mut waits_for_commit = false;
    while let Some(job) = waiting.pop_front() {
        if !alone && let Err(e) = sql(conn, "SAVEPOINT w") {
            given_up = Some(CommitFailed::from_sqlite(&e));
            waiting.push_front(job);
            break;
        }
        let Job { run, ack, after } = job;
        waits_for_commit |= ack == Ack::Committed;
        hooks.extend(after);
        // A panicking write is dropped (its caller is told) and rolled
        // back; the thread keeps serving the others.
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| run(Some(conn))));
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
    let since = c.open.as_ref().map_or_else(Instant::now, |o| o.since);
    let stays_open =
        given_up.is_none() && !declined && !waits_for_commit && since.elapsed() < DEFERRED_AT_MOST;
    if stays_open {
        let open = c.open.get_or_insert_with(|| Open {
            since,
            hooks: Vec::new(),
        });
        open.hooks.append(&mut hooks);
        shared.uncommitted.store(true, Ordering::Release);
        return Answers {
            answers,
            ..Answers::none()
        };
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
    ended(c, shared, answers, hooks, committed)
}

/// Commit the open transaction of deferred writes (nothing when there is
/// none).
fn end_open(c: &mut Conn, shared: &Shared) -> Answers {
    let hooks = rolled_back(c, shared);
    if c.open.is_none() {
        return Answers {
            hooks,
            ..Answers::none()
        };
    }
    let committed = sql(&c.conn, "COMMIT").map_err(|e| {
        let _ = sql(&c.conn, "ROLLBACK");
        CommitFailed::from_sqlite(&e)
    });
    ended(c, shared, Vec::new(), hooks, committed)
}

/// The transaction has ended (`committed` says how): no longer open, and
/// the deferred writes answered in it before are lost when it failed.
fn ended(
    c: &mut Conn,
    shared: &Shared,
    answers: Vec<Answer>,
    mut hooks: Vec<Hook>,
    committed: Result<(), CommitFailed>,
) -> Answers {
    let earlier = c.open.take();
    if let (Some(_), Err(e)) = (&earlier, &committed) {
        // Before anyone can find nothing uncommitted and go on (a flush, a
        // message about to leave).
        (shared.lost)(&e.message);
    }
    shared.uncommitted.store(false, Ordering::Release);
    if let Some(mut open) = earlier {
        open.hooks.append(&mut hooks);
        hooks = open.hooks;
    }
    Answers {
        answers,
        committed,
        hooks,
    }
}

/// The open transaction of deferred writes was rolled back behind the
/// writer's back (SQLite does so on some I/O and memory errors): its
/// writes are lost. Noticed before anything continues it, which would
/// commit later writes without them. The hooks of its writes, to run.
fn rolled_back(c: &mut Conn, shared: &Shared) -> Vec<Hook> {
    if c.open.is_none() || !c.conn.is_autocommit() {
        return Vec::new();
    }
    let failed = Err(CommitFailed {
        message: "SQLite rolled the open transaction back".into(),
        transient: false,
    });
    ended(c, shared, Vec::new(), Vec::new(), failed).hooks
}

/// A statement without parameters or rows, prepared once.
fn sql(conn: &Connection, text: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(text)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests;
