//! Orders, payment attempts and stock reservations: each change is checked
//! and applied in one write (its own savepoint of a group commit).

use async_trait::async_trait;
use rusqlite::{Connection, params};
use saga_core::OrderId;
use saga_core::order::{Order, OrderItem, OrderUpdate};
use saga_core::ports::{
    Admission, Inserted, OrderStore, PaymentAttempts, ReserveOutcome, StockReservations,
    StoreError, UpdateOutcome,
};

use crate::{SqliteStore, execute, load_doc, query_opt, to_json};

fn load_order(
    tx: &Connection,
    operation: &'static str,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    load_doc(
        tx,
        operation,
        "SELECT doc FROM orders WHERE order_id = ?1",
        id,
    )
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

/// Why an order change was not made (nothing written, the transaction rolls back).
enum Refused {
    NotFound,
    ConditionFailed,
}

impl From<Refused> for UpdateOutcome {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NotFound => Self::NotFound,
            Refused::ConditionFailed => Self::ConditionFailed,
        }
    }
}

impl From<Refused> for ReserveOutcome {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NotFound => Self::OrderNotFound,
            Refused::ConditionFailed => Self::OrderConditionFailed,
        }
    }
}

/// Order `id`, when it exists and meets `update`'s expectations.
fn checked_order(
    tx: &Connection,
    operation: &'static str,
    id: &str,
    update: &OrderUpdate,
) -> Result<Result<Order, Refused>, StoreError> {
    Ok(match load_order(tx, operation, id)? {
        None => Err(Refused::NotFound),
        Some(order) if !update.check(&order) => Err(Refused::ConditionFailed),
        Some(order) => Ok(order),
    })
}

/// `update` applied to `order` and stored; the order as it is now. Moving to
/// a final status frees the order's open-order slot, in the same transaction.
fn apply(
    tx: &Connection,
    operation: &'static str,
    mut order: Order,
    update: &OrderUpdate,
) -> Result<Order, StoreError> {
    let was_final = order.status().is_final();
    update.apply_to(&mut order);
    save_order(tx, operation, &order)?;
    if !was_final && order.status().is_final() {
        free_slot(tx, operation, order.order_id().as_str())?;
    }
    Ok(order)
}

/// Order `id`'s slot (if it holds one) given back to its customer's counter.
fn free_slot(tx: &Connection, op: &'static str, id: &str) -> Result<(), StoreError> {
    let customer: Option<String> = query_opt(
        tx,
        op,
        "SELECT customer_id FROM order_slots WHERE order_id = ?1",
        params![id],
        |r| r.get(0),
    )?;
    if let Some(customer) = customer {
        execute(
            tx,
            op,
            "DELETE FROM order_slots WHERE order_id = ?1",
            params![id],
        )?;
        execute(
            tx,
            op,
            "UPDATE open_orders SET open = open - 1 WHERE customer_id = ?1 AND open > 0",
            params![customer],
        )?;
    }
    Ok(())
}

/// Take one of `customer`'s `max` slots for order `id`; `false` when all are taken.
fn take_slot(
    tx: &Connection,
    op: &'static str,
    id: &str,
    customer: &str,
    max: u32,
) -> Result<bool, StoreError> {
    let taken = execute(
        tx,
        op,
        "INSERT INTO open_orders (customer_id, open) VALUES (?1, 1) \
         ON CONFLICT (customer_id) DO UPDATE SET open = open + 1 WHERE open < ?2",
        params![customer, max],
    )?;
    if taken == 0 || max == 0 {
        return Ok(false);
    }
    execute(
        tx,
        op,
        "INSERT INTO order_slots (order_id, customer_id) VALUES (?1, ?2)",
        params![id, customer],
    )?;
    Ok(true)
}

/// The stock part of a change, in the transaction that also updates the
/// order: `Some(outcome)` refuses the whole change.
type StockStep<T> = fn(&Connection, &'static str, &[OrderItem]) -> Result<Option<T>, StoreError>;

/// An order update that touches no stock.
fn no_stock(
    _: &Connection,
    _: &'static str,
    _: &[OrderItem],
) -> Result<Option<UpdateOutcome>, StoreError> {
    Ok(None)
}

/// Reserve: `stock - q` for every line where `stock >= q`; the first line
/// short of stock refuses the reservation.
fn take_stock(
    tx: &Connection,
    op: &'static str,
    lines: &[OrderItem],
) -> Result<Option<ReserveOutcome>, StoreError> {
    for line in lines {
        let q = i64::from(line.quantity.get());
        let taken = execute(
            tx,
            op,
            "UPDATE products SET stock = stock - ?2 WHERE sku = ?1 AND stock >= ?2",
            params![line.sku.as_str(), q],
        )?;
        if taken == 0 {
            let available: Option<i64> = query_opt(
                tx,
                op,
                "SELECT stock FROM products WHERE sku = ?1",
                params![line.sku.as_str()],
                |r| r.get(0),
            )?;
            return Ok(Some(ReserveOutcome::OutOfStock {
                sku: line.sku.clone(),
                requested: line.quantity.get(),
                available,
            }));
        }
    }
    Ok(None)
}

/// Release: `stock + q` for every line (a product that no longer exists has
/// no row to give back to).
fn give_back_stock(
    tx: &Connection,
    op: &'static str,
    lines: &[OrderItem],
) -> Result<Option<UpdateOutcome>, StoreError> {
    for line in lines {
        execute(
            tx,
            op,
            "UPDATE products SET stock = stock + ?2 WHERE sku = ?1",
            params![line.sku.as_str(), i64::from(line.quantity.get())],
        )?;
    }
    Ok(None)
}

impl SqliteStore {
    /// In one write (all or nothing): order `id` checked against
    /// `update`, the stock of `lines` changed by `stock`, then `update`
    /// applied and `applied` to the order as it is now. A refusal (of the
    /// order or the stock) rolls everything back: nothing of it is kept.
    async fn change<T: From<Refused> + Send + 'static>(
        &self,
        op: &'static str,
        id: &OrderId,
        lines: &[OrderItem],
        update: &OrderUpdate,
        stock: StockStep<T>,
        applied: fn(Order) -> T,
    ) -> Result<T, StoreError> {
        let (id, lines, update) = (id.to_string(), lines.to_vec(), update.clone());
        let watch = self.watch.clone();
        let changed = id.clone();
        // Committed or refused: either way whoever waits may look again.
        let after = Box::new(move || watch.changed(&changed));
        self.write_then(
            op,
            move |tx| {
                let order = match checked_order(tx, op, &id, &update)? {
                    Ok(order) => order,
                    Err(refused) => return Ok((refused.into(), false)),
                };
                if let Some(refused) = stock(tx, op, &lines)? {
                    return Ok((refused, false));
                }
                let order = apply(tx, op, order, &update)?;
                Ok((applied(order), true))
            },
            after,
        )
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
        self.write(OP, move |c| {
            let n = execute(
                c,
                OP,
                "INSERT OR IGNORE INTO orders (order_id, status, doc, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, status, doc, at],
            )?;
            Ok((if n == 1 { Inserted::New } else { Inserted::AlreadyExists }, true))
        })
        .await
    }

    async fn admit(&self, order: &Order, max: u32) -> Result<Admission, StoreError> {
        const OP: &str = "orders.insert";
        let doc = to_json(OP, order)?;
        let (id, customer, status, at) = (
            order.order_id().to_string(),
            order.customer_id().as_str().to_owned(),
            order.status().as_str(),
            order.updated_at().to_string(),
        );
        self.write(OP, move |tx| {
            let n = execute(
                tx,
                OP,
                "INSERT OR IGNORE INTO orders (order_id, status, doc, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, status, doc, at],
            )?;
            if n == 0 {
                return Ok((Admission::AlreadyExists, false));
            }
            if !take_slot(tx, OP, &id, &customer, max)? {
                return Ok((Admission::CapReached, false));
            }
            Ok((Admission::Admitted, true))
        })
        .await
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(|c| load_order(c, "orders.get", id.as_str()))
    }

    async fn update(
        &self,
        id: &OrderId,
        update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let applied = |order| UpdateOutcome::Applied(Box::new(order));
        self.change("orders.update", id, &[], update, no_stock, applied)
            .await
    }
}

#[async_trait]
impl PaymentAttempts for SqliteStore {
    async fn next_payment_attempt(&self, id: &OrderId) -> Result<u32, StoreError> {
        const OP: &str = "orders.payment_attempt";
        let id = id.to_string();
        self.write(OP, move |tx| {
            let mut order = load_order(tx, OP, &id)?
                .ok_or_else(|| StoreError::permanent(OP, format!("order {id} not found")))?;
            let n = order.count_payment_attempt();
            save_order(tx, OP, &order)?;
            Ok((n, true))
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
        let reserved = |_| ReserveOutcome::Reserved;
        self.change(
            "stock.reserve",
            id,
            lines,
            order_update,
            take_stock,
            reserved,
        )
        .await
    }

    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        let applied = |order| UpdateOutcome::Applied(Box::new(order));
        self.change(
            "stock.release",
            id,
            lines,
            order_update,
            give_back_stock,
            applied,
        )
        .await
    }
}
