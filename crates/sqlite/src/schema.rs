//! The tables, and the migration of older layouts.
//!
//! The layout is `PRAGMA user_version`:
//!
//! - 0: before append-only executions. An execution's `state` column held
//!   its whole snapshot, history included (rewritten before every state).
//! - 1: the history is in `execution_events`, one row per event; `state`
//!   holds the snapshot without it (the small head, overwritten in place).
//! - 2: `executions` also holds the executions of the state machines created
//!   through the Step Functions API: `machine` (their state machine ARN; `''`
//!   for the order saga's), `test_case` (the MockConfigFile test case they
//!   run) and `redrive` (how often and when they were redriven, and the
//!   recent `clientToken`s, as JSON).
//! - 3: `execution_events` is numbered in the order its rows were written
//!   (`seq`, the rowid) and found by execution through a unique index,
//!   instead of being kept in (execution, event id) order (a `WITHOUT
//!   ROWID` table): the events of concurrent executions are appended to
//!   the table's last page, where before each execution's went to its own
//!   place in the table, splitting a page there about once per save. At
//!   concurrency 32 that is a third fewer pages written to the WAL per
//!   order.
//!
//! Opening an older database migrates it in one transaction (layout 0:
//! every `history` array moved into `execution_events`; 1 and 2: the
//! events copied into the layout-3 table); a layout newer than
//! [`LAYOUT_VERSION`] is refused with [`OpenError::Newer`].

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::OpenError;

/// The layout this code writes.
pub const LAYOUT_VERSION: i64 = 3;

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
-- An execution's head: its status and the engine's snapshot without the
-- history (or what the host stores before the first one).
CREATE TABLE IF NOT EXISTS executions (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
";

/// An execution's history, append-only: one row per event, written in the
/// transaction that moves the head past it; numbered in the order written
/// (layout 3). Its index is created after a layout-1 or -2 table is
/// migrated ([`EVENTS_INDEX`]).
const EVENTS: &str = "
CREATE TABLE IF NOT EXISTS execution_events (
    seq INTEGER PRIMARY KEY,
    execution TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    doc TEXT NOT NULL
);";

/// Each event once; an execution's events in order.
const EVENTS_INDEX: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS execution_events_by_id ON execution_events (execution, event_id);";

/// Layouts 1 and 2 kept the events in a `WITHOUT ROWID` table keyed by
/// (execution, event id): moved aside, then copied in that order into the
/// table [`EVENTS`] creates.
const SET_ASIDE_EVENTS: &str = "ALTER TABLE execution_events RENAME TO execution_events_2";
const COPY_EVENTS: &str = "
INSERT INTO execution_events (execution, event_id, doc)
    SELECT execution, event_id, doc FROM execution_events_2 ORDER BY execution, event_id";

/// Layout 0 → 1: each snapshot's `history` array becomes rows, then
/// leaves the snapshot.
const MIGRATE_EVENTS: &str = "
INSERT OR IGNORE INTO execution_events (execution, event_id, doc)
    SELECT e.name, json_extract(h.value, '$.id'), h.value
    FROM executions AS e, json_each(e.state, '$.history') AS h
    WHERE json_valid(e.state) AND json_type(e.state, '$.history') = 'array'";
const MIGRATE_HEADS: &str = "
UPDATE executions SET state = json_remove(state, '$.history')
    WHERE json_valid(state) AND json_type(state, '$.history') = 'array'";

/// Layout 1 → 2: the columns of the API's executions. Existing rows are
/// the saga's (`machine = ''`), never redriven.
const MIGRATE_MACHINES: &str = "
ALTER TABLE executions ADD COLUMN machine TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN test_case TEXT;
ALTER TABLE executions ADD COLUMN redrive TEXT;
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (machine, created_at_ms, name);";

/// Create the tables, migrate an older layout, refuse a newer one; all in
/// one `BEGIN IMMEDIATE` transaction (another process opening the same file
/// waits, then finds it done).
pub(crate) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let err = |source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(err)?;
    if found > LAYOUT_VERSION {
        return Err(OpenError::Newer {
            path: path.to_owned(),
            found,
        });
    }
    tx.execute_batch(SCHEMA).map_err(err)?;
    tx.execute_batch(crate::state_machines::SCHEMA)
        .map_err(err)?;
    let events_table: Option<bool> = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('execution_events') WHERE name = 'seq')
             FROM sqlite_schema WHERE type = 'table' AND name = 'execution_events'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    let older_table = events_table == Some(false);
    if older_table {
        tx.execute_batch(SET_ASIDE_EVENTS).map_err(err)?;
    }
    tx.execute_batch(EVENTS).map_err(err)?;
    if older_table {
        let events = tx.execute(COPY_EVENTS, []).map_err(err)?;
        tx.execute_batch("DROP TABLE execution_events_2")
            .map_err(err)?;
        tracing::info!(path = %path.display(), events, "copied the execution events into layout 3's table");
    }
    tx.execute_batch(EVENTS_INDEX).map_err(err)?;
    if found < 1 {
        let events = tx.execute(MIGRATE_EVENTS, []).map_err(err)?;
        let executions = tx.execute(MIGRATE_HEADS, []).map_err(err)?;
        if executions > 0 {
            tracing::info!(path = %path.display(), executions, events, "migrated the executions to the append-only layout 1");
        }
    }
    if found < 2 {
        // The tables were just created in layout 1's shape, or are older.
        tx.execute_batch(MIGRATE_MACHINES).map_err(err)?;
    }
    tx.pragma_update(None, "user_version", LAYOUT_VERSION)
        .map_err(err)?;
    tx.commit().map_err(err)
}
