//! SQLite adapters of the order saga's ports, for `saga-local`.
//!
//! One database file in WAL mode holds the products, orders, approvals,
//! idempotency keys and the engine's executions. The guarantees are those of the
//! DynamoDB adapters: the reservation is all or nothing (one transaction over
//! stock and order), every conditional change is checked and applied inside one
//! `BEGIN IMMEDIATE` transaction, an approval is decided once, stock never goes
//! negative (also a `CHECK` constraint).
//!
//! Order updates are evaluated with the same [`OrderUpdate::check`] and
//! [`OrderUpdate::apply_to`] as the in-memory adapter, on the order stored as
//! JSON.
//!
//! Writes go through one writer thread with group commit ([`writer`]): the
//! writes waiting at a moment share one transaction (each in its own
//! savepoint, so one refused change rolls back alone), and every caller is
//! answered only after that commit. Reads use their own connection and see
//! what is committed.
//!
//! A [`SqliteStore::deferring`] handle is for the writes nobody outside the
//! process has seen yet (the steps of an execution): its writes are
//! answered before they are committed and committed with the next write
//! that waits for its commit (within a few milliseconds at the latest), and
//! its reads see them. Whoever acknowledges something outside (an HTTP
//! answer, a message) first writes through a committing handle or calls
//! [`SqliteStore::flush`]. A crash before their commit loses them (and
//! every write after them); a failed commit after they were answered stops
//! the process, so that the next start resumes from the last commit.
//!
//! Durability: WAL with `synchronous = NORMAL`. An acknowledged write is in
//! the WAL file, written (not fsynced) before the answer: a killed process
//! (`kill -9`, a panic, an OOM kill) loses nothing acknowledged, since the
//! operating system holds the written pages and SQLite recovers the WAL at
//! the next open. A power loss or kernel crash can lose the transactions
//! since the last checkpoint's fsync; `synchronous = FULL` would prevent
//! that at the cost of an fsync per commit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use saga_core::ports::StoreError;

mod approvals;
mod catalog;
mod executions;
mod orders;
mod schema;
mod state_machines;
mod watch;
mod writer;

pub use catalog::{SeedStock, Seeded};
pub use executions::{EventRow, ExecutionMeta, ExecutionRow, ExecutionSummary};
pub use schema::LAYOUT_VERSION;
pub use state_machines::StateMachineRow;

use writer::{Ack, Hook, WalLimits, Writer};

/// The database could not be opened or prepared.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("could not open the SQLite database {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("could not start the writer thread of the SQLite database {path}")]
    Thread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the SQLite database {path} has layout {found}, written by a newer saga-local; this one reads layout {LAYOUT_VERSION} (and migrates older ones): use the newer saga-local, or another --data-dir"
    )]
    Newer { path: PathBuf, found: i64 },
}

/// Every port over one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    /// Reads (writes go through `writer`).
    reader: Arc<Mutex<Connection>>,
    writer: Writer,
    /// Who waits for which order to change ([`SqliteStore::order_changes`]).
    watch: Arc<watch::OrderWatch>,
    path: PathBuf,
    /// How this handle's writes are acknowledged ([`SqliteStore::deferring`]).
    ack: Ack,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("ack", &self.ack)
            .finish()
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn classify(operation: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::transient(operation, e),
        _ => StoreError::permanent(operation, e),
    }
}

fn to_json<T: serde::Serialize>(operation: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::permanent(operation, e))
}

fn from_json<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(operation, e))
}

/// Bytes the WAL file is cut back to when it starts over.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// A connection with the store's settings: WAL, `synchronous = NORMAL`,
/// a WAL file cut back to 64 MiB when it starts over (the checkpoint thread
/// restarts it, see writer.rs), a busy timeout (another process may hold
/// the write lock for a moment) and room for every statement of the hot
/// path.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`, migrating an older
    /// layout ([`schema`]); a layout newer than this code is refused.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, WalLimits::default(), writer::lost_deferred_writes)
    }

    /// [`SqliteStore::open`] with other limits of the WAL (tests: a WAL
    /// that starts over after a few pages) and what a failed commit of
    /// answered deferred writes does (tests: count it instead of stopping).
    pub(crate) fn open_with(
        path: &Path,
        wal: WalLimits,
        lost: fn(&str),
    ) -> Result<Self, OpenError> {
        let err = |source| OpenError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let mut conn = connect(path).map_err(err)?;
        schema::prepare(&mut conn, path)?;
        let reader = connect(path).map_err(err)?;
        let checkpointer = connect(path).map_err(err)?;
        let writer =
            Writer::spawn(conn, checkpointer, wal, lost).map_err(|source| OpenError::Thread {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            reader: Arc::new(Mutex::new(reader)),
            writer,
            watch: Arc::default(),
            path: path.to_owned(),
            ack: Ack::Committed,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the same database for writes nobody outside the process
    /// has seen yet (an execution's steps): each is answered as soon as it
    /// ran, before it is committed; it is committed with the next write of
    /// a committing handle, by [`SqliteStore::flush`], or within 5 ms. Its
    /// reads see those writes. A crash
    /// before the commit loses them together with every later write (they
    /// run in order), as if the process had stopped before them. Whoever
    /// shows something outside first flushes or writes through a
    /// committing handle.
    #[must_use]
    pub fn deferring(&self) -> Self {
        Self {
            ack: Ack::Deferred,
            ..self.clone()
        }
    }

    /// A handle on the same database whose writes are answered once
    /// committed (what [`SqliteStore::open`] returns).
    #[must_use]
    pub fn committing(&self) -> Self {
        Self {
            ack: Ack::Committed,
            ..self.clone()
        }
    }

    /// Wait until every write answered so far (deferred ones included) is
    /// committed: before something is shown outside the process. At once
    /// when there is nothing to commit.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush("store.flush")
    }

    /// Notified each time a change of order `id` (its status, history,
    /// payment, shipment…) has been committed through this store. To miss
    /// none, `enable` the `notified()` future before reading the order, then
    /// await it. Changes written by another process are not seen.
    pub fn order_changes(&self, id: &saga_core::OrderId) -> Arc<tokio::sync::Notify> {
        self.watch.subscribe(id.as_str())
    }

    /// Run the point read `f` (a lookup by key: tens of microseconds) on
    /// the reading connection, right here: a hop to a blocking thread
    /// would cost more than the read. In WAL mode a reader never waits for
    /// the writer. A deferring handle reads on the writing connection while
    /// deferred writes are uncommitted, to see them: such a read waits for
    /// the batch under way, if any.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.sees_uncommitted() {
            return self.writer.read_uncommitted(f);
        }
        f(&lock(&self.reader))
    }

    /// This handle's reads are to see deferred writes, and some are
    /// uncommitted.
    fn sees_uncommitted(&self) -> bool {
        self.ack == Ack::Deferred && self.writer.has_uncommitted()
    }

    /// Run the read `f` that may scan many rows on the reading connection,
    /// off the async runtime (a deferring handle: as [`SqliteStore::read`]).
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (conn, writer) = (self.reader.clone(), self.writer.clone());
        let uncommitted = self.sees_uncommitted();
        tokio::task::spawn_blocking(move || {
            if uncommitted {
                writer.read_uncommitted(f)
            } else {
                f(&lock(&conn))
            }
        })
        .await
        .map_err(|e| StoreError::permanent(operation, e))?
    }

    /// Run the write `f` in the next group commit: kept when it returns
    /// `Ok((value, true))`, rolled back (alone) otherwise; answered once
    /// committed (a deferring handle: once it ran).
    async fn write<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<(T, bool), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write_with(operation, self.ack, None, f).await
    }

    /// [`SqliteStore::write`], then `after` once the transaction it ran in
    /// has ended, committed or not (for a deferred write: with a later one).
    async fn write_then<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Connection) -> Result<(T, bool), StoreError> + Send + 'static,
        after: Hook,
    ) -> Result<T, StoreError> {
        self.writer
            .write_with(operation, self.ack, Some(after), f)
            .await
    }
}

/// Statements kept prepared per connection; the writer's hot path uses about 30.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Execute `sql` through the connection's statement cache (prepared once).
fn execute(
    c: &Connection,
    operation: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<usize, StoreError> {
    c.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(|e| classify(operation, e))
}

/// The row `sql` selects, if any, through the connection's statement cache.
fn query_opt<T>(
    c: &Connection,
    operation: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    c.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, row).optional())
        .map_err(|e| classify(operation, e))
}

/// The JSON document `select` (a `SELECT doc … WHERE key = ?1`) finds for `key`.
fn load_doc<T: serde::de::DeserializeOwned>(
    c: &Connection,
    operation: &'static str,
    select: &str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let doc: Option<String> = query_opt(c, operation, select, params![key], |r| r.get(0))?;
    doc.map(|d| from_json(operation, &d)).transpose()
}

#[cfg(test)]
mod tests;
