//! In-memory adapters of every port, for unit tests. They evaluate order
//! updates with the same [`OrderUpdate::check`] / [`OrderUpdate::apply_to`] the
//! SQLite adapter uses, and can be told to fail an operation once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use serde_json::Value;

use crate::approval::{Approval, ApprovalStatus, Decision, TaskToken};
use crate::order::{Order, OrderItem, OrderUpdate, Sku};
use crate::ports::*;
use crate::pricing::Product;
use crate::{ApprovalId, CustomerId, IdempotencyKey, OrderId, Timestamp};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Default)]
struct Tables {
    products: BTreeMap<Sku, Product>,
    orders: HashMap<OrderId, Order>,
    approvals: HashMap<ApprovalId, Approval>,
    idempotency: HashMap<IdempotencyKey, IdempotencyRecord>,
    /// Order records that don't parse (as another writer could leave them).
    raw_orders: HashMap<OrderId, Value>,
    /// Open orders per customer (the counter `admit` checks).
    open_orders: HashMap<CustomerId, u32>,
    /// The orders holding a slot, and whose.
    slots: HashMap<OrderId, CustomerId>,
}

impl Tables {
    /// `update` applied to order `id` (checked by the caller); the order as
    /// it is now. Moving to a final status frees the order's slot, once.
    fn apply(&mut self, id: &OrderId, update: &OrderUpdate) -> Option<Order> {
        let order = self.orders.get_mut(id)?;
        let was_final = order.status().is_final();
        update.apply_to(order);
        let after = order.clone();
        if !was_final
            && after.status().is_final()
            && let Some(customer) = self.slots.remove(id)
            && let Some(open) = self.open_orders.get_mut(&customer)
        {
            *open = open.saturating_sub(1);
        }
        Some(after)
    }
}

/// Every table in one mutex.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    failures: Mutex<Vec<(&'static str, bool)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure of {0}")]
struct Injected(&'static str);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `products`.
    pub fn with_products(products: impl IntoIterator<Item = Product>) -> Self {
        let store = Self::default();
        lock(&store.tables)
            .products
            .extend(products.into_iter().map(|p| (p.sku.clone(), p)));
        store
    }

    /// Make the next call of `operation` (e.g. `"orders.update"`) fail.
    pub fn fail_next(&self, operation: &'static str, transient: bool) {
        lock(&self.failures).push((operation, transient));
    }

    fn injected(&self, operation: &'static str) -> Result<(), StoreError> {
        let mut failures = lock(&self.failures);
        if let Some(pos) = failures.iter().position(|(op, _)| *op == operation) {
            let (_, transient) = failures.remove(pos);
            return Err(if transient {
                StoreError::transient(operation, Injected(operation))
            } else {
                StoreError::permanent(operation, Injected(operation))
            });
        }
        Ok(())
    }

    /// Current stock of `sku` (tests).
    pub fn stock(&self, sku: &str) -> Option<i64> {
        let sku = Sku::parse(sku).ok()?;
        lock(&self.tables).products.get(&sku).map(|p| p.stock)
    }

    /// The order as stored (tests).
    pub fn order(&self, id: &OrderId) -> Option<Order> {
        lock(&self.tables).orders.get(id).cloned()
    }

    /// Every order (tests).
    pub fn orders(&self) -> Vec<Order> {
        lock(&self.tables).orders.values().cloned().collect()
    }

    /// How many open-order slots `customer` holds (tests).
    pub fn open_orders(&self, customer: &str) -> u32 {
        let Ok(customer) = CustomerId::parse(customer) else {
            return 0;
        };
        lock(&self.tables)
            .open_orders
            .get(&customer)
            .copied()
            .unwrap_or(0)
    }

    /// Every approval of an order (tests).
    pub fn approvals_of(&self, id: &OrderId) -> Vec<Approval> {
        lock(&self.tables)
            .approvals
            .values()
            .filter(|a| &a.order_id == id)
            .cloned()
            .collect()
    }

    /// Store `record` as the raw order `id`, as a store that isn't typed could
    /// hold it; reading it back parses it like the SQLite and DynamoDB adapters do.
    pub fn put_raw_order(&self, id: &OrderId, record: Value) {
        let mut t = lock(&self.tables);
        t.orders.remove(id);
        t.raw_orders.insert(id.clone(), record);
    }
}

#[async_trait]
impl Catalog for MemoryStore {
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError> {
        self.injected("products.get")?;
        let t = lock(&self.tables);
        Ok(skus
            .iter()
            .filter_map(|s| t.products.get(s).cloned())
            .collect())
    }
}

#[async_trait]
impl CatalogAdmin for MemoryStore {
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError> {
        self.injected("products.put")?;
        lock(&self.tables)
            .products
            .insert(product.sku.clone(), product.clone());
        Ok(())
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn insert(&self, order: &Order) -> Result<Inserted, StoreError> {
        self.injected("orders.insert")?;
        let mut t = lock(&self.tables);
        if t.orders.contains_key(order.order_id()) {
            return Ok(Inserted::AlreadyExists);
        }
        t.orders.insert(order.order_id().clone(), order.clone());
        Ok(Inserted::New)
    }

    async fn admit(&self, order: &Order, max: u32) -> Result<Admission, StoreError> {
        self.injected("orders.insert")?;
        let mut t = lock(&self.tables);
        if t.orders.contains_key(order.order_id()) {
            return Ok(Admission::AlreadyExists);
        }
        let customer = order.customer_id().clone();
        let open = t.open_orders.entry(customer.clone()).or_insert(0);
        if *open >= max {
            return Ok(Admission::CapReached);
        }
        *open += 1;
        t.slots.insert(order.order_id().clone(), customer);
        t.orders.insert(order.order_id().clone(), order.clone());
        Ok(Admission::Admitted)
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.injected("orders.get")?;
        let t = lock(&self.tables);
        if let Some(raw) = t.raw_orders.get(id) {
            return serde_json::from_value(raw.clone())
                .map(Some)
                .map_err(|e| StoreError::corrupt("orders.get", e));
        }
        Ok(t.orders.get(id).cloned())
    }

    async fn update(
        &self,
        id: &OrderId,
        update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        self.injected("orders.update")?;
        let mut t = lock(&self.tables);
        let Some(order) = t.orders.get(id) else {
            return Ok(UpdateOutcome::NotFound);
        };
        if !update.check(order) {
            return Ok(UpdateOutcome::ConditionFailed);
        }
        Ok(match t.apply(id, update) {
            Some(after) => UpdateOutcome::Applied(Box::new(after)),
            None => UpdateOutcome::NotFound,
        })
    }
}

#[async_trait]
impl PaymentAttempts for MemoryStore {
    async fn next_payment_attempt(&self, id: &OrderId) -> Result<u32, StoreError> {
        self.injected("orders.payment_attempt")?;
        let mut t = lock(&self.tables);
        let order = t.orders.get_mut(id).ok_or_else(|| {
            StoreError::permanent("orders.payment_attempt", format!("order {id} not found"))
        })?;
        Ok(order.count_payment_attempt())
    }
}

#[async_trait]
impl StockReservations for MemoryStore {
    async fn reserve(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<ReserveOutcome, StoreError> {
        self.injected("stock.reserve")?;
        let mut t = lock(&self.tables);
        let Some(order) = t.orders.get(id) else {
            return Ok(ReserveOutcome::OrderNotFound);
        };
        if !order_update.check(order) {
            return Ok(ReserveOutcome::OrderConditionFailed);
        }
        for line in lines {
            let available = t.products.get(&line.sku).map(|p| p.stock);
            if available.is_none_or(|s| s < i64::from(line.quantity.get())) {
                return Ok(ReserveOutcome::OutOfStock {
                    sku: line.sku.clone(),
                    requested: line.quantity.get(),
                    available,
                });
            }
        }
        for line in lines {
            if let Some(p) = t.products.get_mut(&line.sku) {
                p.stock -= i64::from(line.quantity.get());
            }
        }
        t.apply(id, order_update);
        Ok(ReserveOutcome::Reserved)
    }

    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError> {
        self.injected("stock.release")?;
        let mut t = lock(&self.tables);
        let Some(order) = t.orders.get(id) else {
            return Ok(UpdateOutcome::NotFound);
        };
        if !order_update.check(order) {
            return Ok(UpdateOutcome::ConditionFailed);
        }
        let Some(after) = t.apply(id, order_update) else {
            return Ok(UpdateOutcome::NotFound);
        };
        for line in lines {
            if let Some(p) = t.products.get_mut(&line.sku) {
                p.stock += i64::from(line.quantity.get());
            }
        }
        Ok(UpdateOutcome::Applied(Box::new(after)))
    }
}

#[async_trait]
impl ApprovalStore for MemoryStore {
    async fn create(&self, approval: &Approval) -> Result<(), StoreError> {
        self.injected("approvals.create")?;
        let mut t = lock(&self.tables);
        if t.approvals.contains_key(&approval.approval_id) {
            return Err(StoreError::permanent(
                "approvals.create",
                "approval id collision",
            ));
        }
        t.approvals
            .insert(approval.approval_id.clone(), approval.clone());
        Ok(())
    }

    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError> {
        self.injected("approvals.get")?;
        Ok(lock(&self.tables).approvals.get(id).cloned())
    }

    async fn decide(
        &self,
        id: &ApprovalId,
        decision: Decision,
        at: Timestamp,
    ) -> Result<DecideOutcome, StoreError> {
        self.injected("approvals.decide")?;
        let mut t = lock(&self.tables);
        let Some(a) = t.approvals.get_mut(id) else {
            return Ok(DecideOutcome::NotFound);
        };
        if a.status != ApprovalStatus::Pending {
            return Ok(DecideOutcome::NotPending(Box::new(a.clone())));
        }
        if a.is_expired_at(at) {
            return Ok(DecideOutcome::Expired(Box::new(a.clone())));
        }
        a.status = decision.status();
        a.decided_at = Some(at);
        Ok(DecideOutcome::Decided(Box::new(a.clone())))
    }

    async fn mark_delivered(&self, id: &ApprovalId, decision: Decision) -> Result<(), StoreError> {
        self.injected("approvals.mark_delivered")?;
        if let Some(a) = lock(&self.tables).approvals.get_mut(id) {
            a.status = decision.status();
            a.delivered = true;
        }
        Ok(())
    }

    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError> {
        self.injected("approvals.mark_expired")?;
        if let Some(a) = lock(&self.tables).approvals.get_mut(id)
            && !a.delivered
        {
            a.status = ApprovalStatus::Expired;
        }
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim, StoreError> {
        self.injected("idempotency.claim")?;
        let mut t = lock(&self.tables);
        if let Some(existing) = t.idempotency.get(&record.key)
            && existing.expires_at > now
        {
            return Ok(Claim::Existing(existing.clone()));
        }
        t.idempotency.insert(record.key.clone(), record.clone());
        Ok(Claim::Claimed)
    }
}

/// Records published messages.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    messages: Mutex<Vec<(Topic, Message)>>,
    fail: Mutex<bool>,
}

impl MemoryNotifier {
    pub fn messages(&self) -> Vec<(Topic, Message)> {
        lock(&self.messages).clone()
    }

    pub fn fail_next(&self) {
        *lock(&self.fail) = true;
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, topic: Topic, message: &Message) -> Result<String, StoreError> {
        if std::mem::take(&mut *lock(&self.fail)) {
            return Err(StoreError::transient(
                "notifier.publish",
                Injected("notifier.publish"),
            ));
        }
        let mut m = lock(&self.messages);
        m.push((topic, message.clone()));
        Ok(format!("msg-{}", m.len()))
    }
}

/// Records started executions and task results.
#[derive(Debug, Default)]
pub struct MemoryWorkflow {
    started: Mutex<Vec<(OrderId, Value)>>,
    task_results: Mutex<Vec<(TaskToken, Value)>>,
    gone: Mutex<HashMap<String, TaskGone>>,
    fail_next: Mutex<bool>,
}

impl MemoryWorkflow {
    pub fn started(&self) -> Vec<(OrderId, Value)> {
        lock(&self.started).clone()
    }

    pub fn task_results(&self) -> Vec<(TaskToken, Value)> {
        lock(&self.task_results).clone()
    }

    /// Make `token` answer like a task that stopped waiting.
    pub fn make_gone(&self, token: &TaskToken, why: TaskGone) {
        lock(&self.gone).insert(token.expose_secret().to_owned(), why);
    }

    /// Make the next call fail transiently.
    pub fn fail_next(&self) {
        *lock(&self.fail_next) = true;
    }

    fn injected(&self, op: &'static str) -> Result<(), WorkflowError> {
        if std::mem::take(&mut *lock(&self.fail_next)) {
            return Err(WorkflowError::Store(StoreError::transient(
                op,
                Injected(op),
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Workflow for MemoryWorkflow {
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError> {
        self.injected("workflow.start_execution")?;
        let mut started = lock(&self.started);
        if started.iter().any(|(n, _)| n == name) {
            return Ok(Started::AlreadyExists);
        }
        started.push((name.clone(), input.clone()));
        Ok(Started::New)
    }

    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        self.injected("workflow.send_task_success")?;
        if let Some(why) = lock(&self.gone).get(token.expose_secret()) {
            return Err(WorkflowError::TaskGone(*why));
        }
        let mut results = lock(&self.task_results);
        if results.iter().any(|(t, _)| t == token) {
            return Err(WorkflowError::TaskGone(TaskGone::InvalidToken));
        }
        results.push((token.clone(), output.clone()));
        Ok(())
    }

    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        self.injected("workflow.execution_exists")?;
        Ok(lock(&self.started).iter().any(|(n, _)| n == name))
    }
}
