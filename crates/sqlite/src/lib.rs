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

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use saga_core::approval::{Approval, ApprovalStatus, Decision};
use saga_core::money::{Currency, Money};
use saga_core::order::{Order, OrderItem, OrderUpdate, Sku};
use saga_core::ports::*;
use saga_core::pricing::Product;
use saga_core::{ApprovalId, OrderId, Timestamp};

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

/// An execution as the engine persists it: its status and an opaque state
/// (the engine's serialized snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    pub name: String,
    pub status: String,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What [`SqliteStore::seed_product`] does to the stock of a SKU that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedStock {
    /// Keep the stored stock (the default on restart).
    Keep,
    /// Overwrite it with the catalog's stock.
    Reset,
}

/// What [`SqliteStore::seed_product`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// A new SKU, inserted with the catalog's stock.
    Inserted,
    /// An existing SKU, updated.
    Updated,
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

    /// Current stock of a product.
    pub async fn stock(&self, sku: &Sku) -> Result<Option<i64>, StoreError> {
        let sku = sku.to_string();
        self.run("products.stock", move |c| {
            c.query_row(
                "SELECT stock FROM products WHERE sku = ?1",
                params![sku],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| classify("products.stock", e))
        })
        .await
    }

    /// Every product, by SKU.
    pub async fn all_products(&self) -> Result<Vec<Product>, StoreError> {
        self.run("products.all", |c| {
            let mut stmt = c
                .prepare(
                    "SELECT sku, name, price_cents, currency, stock FROM products ORDER BY sku",
                )
                .map_err(|e| classify("products.all", e))?;
            let rows = stmt
                .query_map([], product_row)
                .map_err(|e| classify("products.all", e))?;
            rows.map(|r| r.map_err(|e| classify("products.all", e)).and_then(|p| p))
                .collect()
        })
        .await
    }

    /// Load one catalog entry at start-up. A new SKU is inserted with its
    /// stock. An existing SKU gets the entry's name, price and currency; its
    /// stock is kept unless `stock` is [`SeedStock::Reset`], because the stored
    /// stock already accounts for reservations (resetting it on every restart
    /// would resurrect reserved units).
    pub async fn seed_product(
        &self,
        product: &Product,
        stock: SeedStock,
    ) -> Result<Seeded, StoreError> {
        const OP: &str = "products.seed";
        let p = product.clone();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let inserted = tx
                    .execute(
                        "INSERT OR IGNORE INTO products (sku, name, price_cents, currency, stock) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![p.sku.as_str(), p.name, p.price.minor_units(), p.price.currency().as_str(), p.stock],
                    )
                    .map_err(|e| classify(OP, e))?;
                if inserted == 1 {
                    return Ok((Seeded::Inserted, true));
                }
                let currency = p.price.currency();
                let (sku, price, currency) =
                    (p.sku.as_str(), p.price.minor_units(), currency.as_str());
                match stock {
                    SeedStock::Keep => tx.execute(
                        "UPDATE products SET name = ?2, price_cents = ?3, currency = ?4 WHERE sku = ?1",
                        params![sku, p.name, price, currency],
                    ),
                    SeedStock::Reset => tx.execute(
                        "UPDATE products SET name = ?2, price_cents = ?3, currency = ?4, stock = ?5 WHERE sku = ?1",
                        params![sku, p.name, price, currency, p.stock],
                    ),
                }
                .map_err(|e| classify(OP, e))?;
                Ok((Seeded::Updated, true))
            })
        })
        .await
    }

    /// Insert an execution unless one with this name exists; `true` when inserted.
    pub async fn insert_execution(&self, row: ExecutionRow) -> Result<bool, StoreError> {
        self.run("executions.insert", move |c| {
            let n = execute(
                c,
                "executions.insert",
                "INSERT OR IGNORE INTO executions (name, status, state, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.name, row.status, row.state, row.created_at_ms, row.updated_at_ms],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Store the execution's current status and state.
    pub async fn save_execution(
        &self,
        name: &str,
        status: &str,
        state: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (name, status, state) = (name.to_owned(), status.to_owned(), state.to_owned());
        self.run("executions.save", move |c| {
            execute(
                c,
                "executions.save",
                "INSERT INTO executions (name, status, state, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (name) DO UPDATE SET status = excluded.status, state = excluded.state, updated_at_ms = excluded.updated_at_ms",
                params![name, status, state, at_ms],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn execution(&self, name: &str) -> Result<Option<ExecutionRow>, StoreError> {
        let name = name.to_owned();
        self.run("executions.get", move |c| {
            query_opt(
                c,
                "executions.get",
                "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE name = ?1",
                params![name],
                execution_row,
            )
        })
        .await
    }

    /// Executions with this status, oldest first (e.g. `RUNNING` ones to resume).
    pub async fn executions_with_status(
        &self,
        status: &str,
    ) -> Result<Vec<ExecutionRow>, StoreError> {
        let status = status.to_owned();
        self.run("executions.by_status", move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT name, status, state, created_at_ms, updated_at_ms FROM executions WHERE status = ?1 ORDER BY created_at_ms, name",
                )
                .map_err(|e| classify("executions.by_status", e))?;
            let rows = stmt.query_map(params![status], execution_row).map_err(|e| classify("executions.by_status", e))?;
            rows.map(|r| r.map_err(|e| classify("executions.by_status", e))).collect()
        })
        .await
    }
}

fn execution_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        name: r.get(0)?,
        status: r.get(1)?,
        state: r.get(2)?,
        created_at_ms: r.get(3)?,
        updated_at_ms: r.get(4)?,
    })
}

fn product_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Product, StoreError>> {
    let sku: String = r.get(0)?;
    let name: String = r.get(1)?;
    let price: i64 = r.get(2)?;
    let currency: String = r.get(3)?;
    let stock: i64 = r.get(4)?;
    Ok((|| {
        let sku = Sku::parse(&sku).map_err(|e| StoreError::corrupt("products.get", e))?;
        let currency =
            Currency::parse(&currency).map_err(|e| StoreError::corrupt("products.get", e))?;
        Ok(Product {
            sku,
            name,
            price: Money::new(price, currency),
            stock,
        })
    })())
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

fn load_order(
    tx: &Connection,
    operation: &'static str,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    let doc: Option<String> = query_opt(
        tx,
        operation,
        "SELECT doc FROM orders WHERE order_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    doc.map(|d| from_json(operation, &d)).transpose()
}

fn save_order(tx: &Connection, operation: &'static str, order: &Order) -> Result<(), StoreError> {
    execute(
        tx,
        operation,
        "UPDATE orders SET status = ?2, doc = ?3, updated_at = ?4 WHERE order_id = ?1",
        params![
            order.order_id().as_str(),
            order.status().as_str(),
            to_json(operation, order)?,
            order.updated_at().to_string()
        ],
    )?;
    Ok(())
}

fn load_approval(
    tx: &Connection,
    operation: &'static str,
    id: &str,
) -> Result<Option<Approval>, StoreError> {
    let doc: Option<String> = query_opt(
        tx,
        operation,
        "SELECT doc FROM approvals WHERE approval_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    doc.map(|d| from_json(operation, &d)).transpose()
}

fn save_approval(tx: &Connection, operation: &'static str, a: &Approval) -> Result<(), StoreError> {
    execute(
        tx,
        operation,
        "UPDATE approvals SET status = ?2, doc = ?3 WHERE approval_id = ?1",
        params![
            a.approval_id.as_str(),
            a.status.as_str(),
            to_json(operation, a)?
        ],
    )?;
    Ok(())
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

#[async_trait]
impl Catalog for SqliteStore {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        let skus: Vec<String> = skus.iter().map(ToString::to_string).collect();
        self.run("products.get", move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT sku, name, price_cents, currency, stock FROM products WHERE sku = ?1",
                )
                .map_err(|e| classify("products.get", e))?;
            let mut out = Vec::with_capacity(skus.len());
            for sku in &skus {
                if let Some(p) = stmt
                    .query_row(params![sku], product_row)
                    .optional()
                    .map_err(|e| classify("products.get", e))?
                {
                    out.push(p?);
                }
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl CatalogAdmin for SqliteStore {
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError> {
        let p = product.clone();
        self.run("products.put", move |c| {
            c.execute(
                "INSERT INTO products (sku, name, price_cents, currency, stock) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_cents = excluded.price_cents,
                   currency = excluded.currency, stock = excluded.stock",
                params![p.sku.as_str(), p.name, p.price.minor_units(), p.price.currency().as_str(), p.stock],
            )
            .map_err(|e| classify("products.put", e))?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn insert(&self, order: &Order) -> Result<Inserted, StoreError> {
        const OP: &str = "orders.insert";
        let doc = to_json(OP, order)?;
        let (id, status, at) = (
            order.order_id().to_string(),
            order.status().as_str(),
            order.updated_at().to_string(),
        );
        self.run(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO orders (order_id, status, doc, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, status, doc, at],
            )?;
            Ok(if n == 1 { Inserted::New } else { Inserted::AlreadyExists })
        })
        .await
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let id = id.to_string();
        self.run("orders.get", move |c| load_order(c, "orders.get", &id))
            .await
    }

    async fn update(
        &self,
        id: &OrderId,
        update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        const OP: &str = "orders.update";
        let (id, update) = (id.to_string(), update.clone());
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut order) = load_order(tx, OP, &id)? else {
                    return Ok((UpdateOutcome::NotFound, false));
                };
                if !update.check(&order) {
                    return Ok((UpdateOutcome::ConditionFailed, false));
                }
                update.apply_to(&mut order);
                save_order(tx, OP, &order)?;
                Ok((UpdateOutcome::Applied(Box::new(order)), true))
            })
        })
        .await
    }
}

#[async_trait]
impl PaymentAttempts for SqliteStore {
    async fn next_payment_attempt(&self, id: &OrderId) -> Result<u32, StoreError> {
        const OP: &str = "orders.payment_attempt";
        let id = id.to_string();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let mut order = load_order(tx, OP, &id)?
                    .ok_or_else(|| StoreError::permanent(OP, format!("order {id} not found")))?;
                let n = order.count_payment_attempt();
                save_order(tx, OP, &order)?;
                Ok((n, true))
            })
        })
        .await
    }
}

#[async_trait]
impl StockReservations for SqliteStore {
    async fn reserve(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<ReserveOutcome, StoreError> {
        const OP: &str = "stock.reserve";
        let (id, lines, update) = (id.to_string(), lines.to_vec(), order_update.clone());
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut order) = load_order(tx, OP, &id)? else {
                    return Ok((ReserveOutcome::OrderNotFound, false));
                };
                if !update.check(&order) {
                    return Ok((ReserveOutcome::OrderConditionFailed, false));
                }
                for line in &lines {
                    let q = i64::from(line.quantity.get());
                    let taken = execute(
                        tx,
                        OP,
                        "UPDATE products SET stock = stock - ?2 WHERE sku = ?1 AND stock >= ?2",
                        params![line.sku.as_str(), q],
                    )?;
                    if taken == 0 {
                        let available: Option<i64> = query_opt(
                            tx,
                            OP,
                            "SELECT stock FROM products WHERE sku = ?1",
                            params![line.sku.as_str()],
                            |r| r.get(0),
                        )?;
                        // Rolled back: nothing of this reservation is kept.
                        return Ok((
                            ReserveOutcome::OutOfStock {
                                sku: line.sku.clone(),
                                requested: line.quantity.get(),
                                available,
                            },
                            false,
                        ));
                    }
                }
                update.apply_to(&mut order);
                save_order(tx, OP, &order)?;
                Ok((ReserveOutcome::Reserved, true))
            })
        })
        .await
    }

    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        const OP: &str = "stock.release";
        let (id, lines, update) = (id.to_string(), lines.to_vec(), order_update.clone());
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut order) = load_order(tx, OP, &id)? else {
                    return Ok((UpdateOutcome::NotFound, false));
                };
                if !update.check(&order) {
                    return Ok((UpdateOutcome::ConditionFailed, false));
                }
                for line in &lines {
                    execute(
                        tx,
                        OP,
                        "UPDATE products SET stock = stock + ?2 WHERE sku = ?1",
                        params![line.sku.as_str(), i64::from(line.quantity.get())],
                    )?;
                }
                update.apply_to(&mut order);
                save_order(tx, OP, &order)?;
                Ok((UpdateOutcome::Applied(Box::new(order)), true))
            })
        })
        .await
    }
}

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn create(&self, approval: &Approval) -> Result<(), StoreError> {
        const OP: &str = "approvals.create";
        let doc = to_json(OP, approval)?;
        let (id, order_id, status) = (
            approval.approval_id.to_string(),
            approval.order_id.to_string(),
            approval.status.as_str(),
        );
        self.run(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO approvals (approval_id, order_id, status, doc) VALUES (?1, ?2, ?3, ?4)",
                params![id, order_id, status, doc],
            )?;
            if n == 0 {
                return Err(StoreError::permanent(OP, "approval id collision"));
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        let id = id.to_string();
        self.run("approvals.get", move |c| {
            load_approval(c, "approvals.get", &id)
        })
        .await
    }

    async fn decide(
        &self,
        id: &ApprovalId,
        decision: Decision,
        at: Timestamp,
    ) -> Result<DecideOutcome, StoreError> {
        const OP: &str = "approvals.decide";
        let id = id.to_string();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut a) = load_approval(tx, OP, &id)? else {
                    return Ok((DecideOutcome::NotFound, false));
                };
                if a.status != ApprovalStatus::Pending {
                    return Ok((DecideOutcome::NotPending(Box::new(a)), false));
                }
                if a.is_expired_at(at) {
                    return Ok((DecideOutcome::Expired(Box::new(a)), false));
                }
                a.status = decision.status();
                a.decided_at = Some(at);
                save_approval(tx, OP, &a)?;
                Ok((DecideOutcome::Decided(Box::new(a)), true))
            })
        })
        .await
    }

    async fn mark_delivered(&self, id: &ApprovalId) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_delivered";
        let id = id.to_string();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut a) = load_approval(tx, OP, &id)? else {
                    return Ok(((), false));
                };
                a.delivered = true;
                save_approval(tx, OP, &a)?;
                Ok(((), true))
            })
        })
        .await
    }

    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError> {
        const OP: &str = "approvals.mark_expired";
        let id = id.to_string();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let Some(mut a) = load_approval(tx, OP, &id)? else {
                    return Ok(((), false));
                };
                if a.delivered {
                    return Ok(((), false));
                }
                a.status = ApprovalStatus::Expired;
                save_approval(tx, OP, &a)?;
                Ok(((), true))
            })
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim, StoreError> {
        const OP: &str = "idempotency.claim";
        let doc = to_json(OP, record)?;
        let (key, expires) = (record.key.to_string(), record.expires_at.as_millis());
        let now = now.as_millis();
        self.run(OP, move |c| {
            in_tx(c, OP, |tx| {
                let existing: Option<(i64, String)> = query_opt(
                    tx,
                    OP,
                    "SELECT expires_at_ms, doc FROM idempotency WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if let Some((exp, existing)) = existing
                    && exp > now
                {
                    return Ok((Claim::Existing(from_json(OP, &existing)?), false));
                }
                execute(
                    tx,
                    OP,
                    "INSERT INTO idempotency (key, expires_at_ms, doc) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET expires_at_ms = excluded.expires_at_ms, doc = excluded.doc",
                    params![key, expires, doc],
                )?;
                Ok((Claim::Claimed, true))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests;
