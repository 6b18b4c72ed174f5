//! Orders, payment attempts and stock reservations: each change is checked
//! and applied in one `BEGIN IMMEDIATE` transaction.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use saga_core::OrderId;
use saga_core::order::{Order, OrderItem, OrderUpdate};
use saga_core::ports::{
    Inserted, OrderStore, PaymentAttempts, ReserveOutcome, StockReservations, StoreError,
    UpdateOutcome,
};

use crate::{SqliteStore, execute, in_tx, load_doc, query_opt, to_json};

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

/// `update` applied to `order` and stored; the order as it is now.
fn apply(
    tx: &Connection,
    operation: &'static str,
    mut order: Order,
    update: &OrderUpdate,
) -> Result<Order, StoreError> {
    update.apply_to(&mut order);
    save_order(tx, operation, &order)?;
    Ok(order)
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
                let order = match checked_order(tx, OP, &id, &update)? {
                    Ok(order) => order,
                    Err(refused) => return Ok((refused.into(), false)),
                };
                let order = apply(tx, OP, order, &update)?;
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
                let order = match checked_order(tx, OP, &id, &update)? {
                    Ok(order) => order,
                    Err(refused) => return Ok((refused.into(), false)),
                };
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
                apply(tx, OP, order, &update)?;
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
                let order = match checked_order(tx, OP, &id, &update)? {
                    Ok(order) => order,
                    Err(refused) => return Ok((refused.into(), false)),
                };
                for line in &lines {
                    execute(
                        tx,
                        OP,
                        "UPDATE products SET stock = stock + ?2 WHERE sku = ?1",
                        params![line.sku.as_str(), i64::from(line.quantity.get())],
                    )?;
                }
                let order = apply(tx, OP, order, &update)?;
                Ok((UpdateOutcome::Applied(Box::new(order)), true))
            })
        })
        .await
    }
}
