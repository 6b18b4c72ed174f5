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
//! Durability: WAL with `synchronous = NORMAL` survives a killed process (the
//! committed transactions are in the WAL, which the OS holds); a power loss can
//! lose the last transactions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use saga_core::ports::StoreError;

mod approvals;
mod catalog;
mod executions;
mod orders;
mod state_machines;

pub use catalog::{SeedStock, Seeded};
pub use executions::ExecutionRow;
pub use state_machines::StateMachineRow;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The open-order cap: a counter per customer, and which orders hold a slot
-- (an order stored before the cap existed holds none, so frees none).
CREATE TABLE IF NOT EXISTS open_orders (
    customer_id TEXT PRIMARY KEY,
    open INTEGER NOT NULL CHECK (open >= 0)
);
CREATE TABLE IF NOT EXISTS order_slots (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_order ON approvals (order_id);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    expires_at_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
";

/// The database could not be opened or prepared.
#[derive(Debug, thiserror::Error)]
#[error("could not open the SQLite database {path}")]
pub struct OpenError {
    path: PathBuf,
    #[source]
    source: rusqlite::Error,
}

/// Every port over one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
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

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let err = |source| OpenError {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        conn.execute_batch(state_machines::SCHEMA).map_err(err)?;
        // Room for every statement of the hot path (see `execute` / `query_opt`).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the connection off the async runtime.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| StoreError::permanent(operation, e))?
    }
}

/// Statements kept prepared per connection; the hot path uses about 15.
const STATEMENT_CACHE_CAPACITY: usize = 32;

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

/// Run `f` in a `BEGIN IMMEDIATE` transaction: committed when it returns
/// `Ok((value, true))`, rolled back otherwise.
fn in_tx<T>(
    c: &mut Connection,
    operation: &'static str,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, bool), StoreError>,
) -> Result<T, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| classify(operation, e))?;
    let (value, commit) = f(&tx)?;
    if commit {
        tx.commit().map_err(|e| classify(operation, e))?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
