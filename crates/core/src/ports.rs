//! Port traits: small capabilities the handlers depend on. Adapters: DynamoDB /
//! SNS / Step Functions (`saga-aws`), SQLite and the engine (`saga-local`),
//! in-memory ([`crate::memory`]) for unit tests.
//!
//! Business outcomes (out of stock, already decided, condition failed) are `Ok`
//! values; `Err` is reserved for failures of the infrastructure.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{Approval, Decision, TaskToken};
use crate::error_names::ErrorName;
use crate::money::Money;
use crate::order::{Address, Order, OrderItem, OrderUpdate, PaymentToken, Sku};
use crate::pricing::Product;
use crate::{ApprovalId, IdempotencyKey, OrderId, Timestamp};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of storage or of a remote service, as opposed to a business outcome.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying: throttling, timeouts, 5xx, network errors.
    #[error("{operation} is temporarily unavailable")]
    Transient {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
    /// Not worth retrying: access denied, a missing table.
    #[error("{operation} failed")]
    Permanent {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
    /// A stored record exists but is not a valid domain value (written by
    /// something else, or by an older version).
    #[error("{operation} read an invalid record")]
    Corrupt {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub fn transient(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Transient {
            operation,
            source: source.into(),
        }
    }

    pub fn permanent(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Permanent {
            operation,
            source: source.into(),
        }
    }

    pub fn corrupt(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            operation,
            source: source.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }

    /// For an HTTP handler: `transient` (a 503, worth retrying) for a
    /// transient failure, `other` (a 500) for the rest; `self` is kept as the
    /// source either way.
    pub fn split_transient<T>(
        self,
        transient: impl FnOnce(BoxError) -> T,
        other: impl FnOnce(BoxError) -> T,
    ) -> T {
        if self.is_transient() {
            transient(Box::new(self))
        } else {
            other(Box::new(self))
        }
    }

    /// The stable error name a handler reports for this failure.
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::Transient { .. } => ErrorName::Transient,
            Self::Permanent { .. } | Self::Corrupt { .. } => ErrorName::InternalError,
        }
    }
}

/// Render an error and its whole `source()` chain on one line, for causes and
/// logs (`a: b: c`). Never `{:?}`.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Reads products (prices, names, stock) by SKU.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The products among `skus` that exist; unknown SKUs are simply absent.
    async fn products(&self, skus: &[Sku]) -> Result<Vec<Product>, StoreError>;
}

/// Writes products (seeding a catalog).
#[async_trait]
pub trait CatalogAdmin: Send + Sync {
    async fn upsert_product(&self, product: &Product) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    AlreadyExists,
}

/// What [`OrderStore::admit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored; it holds one of its customer's open-order slots.
    Admitted,
    /// An order with this id exists (a replay): nothing changed, nothing counted.
    AlreadyExists,
    /// The customer already has `max` open orders: nothing was written.
    CapReached,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Applied; the order as it is now.
    Applied(Box<Order>),
    /// The order exists but an expectation did not hold; nothing changed.
    ConditionFailed,
    NotFound,
}

/// The orders table.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Insert unless an order with this id exists.
    async fn insert(&self, order: &Order) -> Result<Inserted, StoreError>;
    /// Insert unless an order with this id exists, atomically with taking one
    /// of its customer's open-order slots, unless the customer holds `max`
    /// already (a conditional counter, never a scan). The slot is freed
    /// exactly once, by the update (of this trait or of
    /// [`StockReservations`]) that moves the order to a final status
    /// ([`crate::OrderStatus::is_final`]; `NEEDS_ATTENTION` is not final and
    /// keeps its slot: it may still hold stock). Orders stored with
    /// [`Self::insert`] hold no slot.
    async fn admit(&self, order: &Order, max: u32) -> Result<Admission, StoreError>;
    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError>;
    /// Apply `update` atomically if its expectations hold.
    async fn update(&self, id: &OrderId, update: &OrderUpdate)
    -> Result<UpdateOutcome, StoreError>;
}

/// Counts payment attempts per order (the simulated provider's memory).
#[async_trait]
pub trait PaymentAttempts: Send + Sync {
    /// Count one more attempt for the order and return the new count (1 first).
    async fn next_payment_attempt(&self, id: &OrderId) -> Result<u32, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved,
    /// Nothing was written.
    OutOfStock {
        sku: Sku,
        requested: u32,
        available: Option<i64>,
    },
    /// The order's expectations failed (e.g. already reserved); nothing was written.
    OrderConditionFailed,
    OrderNotFound,
}

/// Stock held for orders, changed in one transaction with the order record.
#[async_trait]
pub trait StockReservations: Send + Sync {
    /// All or nothing: for every line `stock -= quantity` where `stock >= quantity`,
    /// and `order_update` applied to the order.
    async fn reserve(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<ReserveOutcome, StoreError>;

    /// All or nothing: for every line `stock += quantity`, and `order_update`
    /// applied to the order (which must make a second release fail its expectations).
    async fn release(
        &self,
        id: &OrderId,
        lines: &[OrderItem],
        order_update: &OrderUpdate,
    ) -> Result<UpdateOutcome, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecideOutcome {
    /// This call decided; the approval as it is now.
    Decided(Box<Approval>),
    /// Someone decided before, or it expired; nothing changed.
    NotPending(Box<Approval>),
    /// Still pending but past its expiry; nothing changed.
    Expired(Box<Approval>),
    NotFound,
}

/// The approvals table.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    async fn create(&self, approval: &Approval) -> Result<(), StoreError>;
    async fn get(&self, id: &ApprovalId) -> Result<Option<Approval>, StoreError>;
    /// Decide if the approval is `PENDING` and not expired at `at`: exactly one
    /// caller can win, whatever the concurrency.
    async fn decide(
        &self,
        id: &ApprovalId,
        decision: Decision,
        at: Timestamp,
    ) -> Result<DecideOutcome, StoreError>;
    /// `decision` reached the workflow (`SendTaskSuccess` succeeded). Its
    /// status is the decision again even if a concurrent request, told by
    /// Step Functions that the task is closed, marked it expired first.
    async fn mark_delivered(&self, id: &ApprovalId, decision: Decision) -> Result<(), StoreError>;
    /// The workflow stopped waiting (timed out); an undelivered decision is void.
    async fn mark_expired(&self, id: &ApprovalId) -> Result<(), StoreError>;
}

/// A remembered `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    pub fingerprint: String,
    pub order_id: OrderId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or its old record expired); it is now ours.
    Claimed,
    /// The key is taken by this record.
    Existing(IdempotencyRecord),
}

/// The idempotency table.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Store `record` unless an unexpired record with the same key exists.
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim, StoreError>;
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    Approvals,
    Notifications,
    Alerts,
}

impl Topic {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Approvals => "approvals",
            Self::Notifications => "notifications",
            Self::Alerts => "alerts",
        }
    }
}

/// An e-mail-like message: a subject and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// Publishes messages (SNS in AWS, an outbox directory locally).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Returns the message id.
    async fn publish(&self, topic: Topic, message: &Message) -> Result<String, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    New,
    /// An execution with this name exists already (a replay).
    AlreadyExists,
}

/// Why a task token can no longer be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskGone {
    TimedOut,
    InvalidToken,
    DoesNotExist,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("the waiting task is gone ({0:?})")]
    TaskGone(TaskGone),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The state machine (Step Functions in AWS, the embedded engine locally).
#[async_trait]
pub trait Workflow: Send + Sync {
    /// Start the execution `name` with `input`; starting the same name again is not an error.
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError>;
    /// Resume the task waiting on `token` with `output`.
    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError>;
    /// Whether an execution named `name` exists (running or ended): a start
    /// whose answer was lost may have started it.
    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError>;
}

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub charge_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("payment declined: {reason}")]
    Declined { reason: String },
    #[error("payment provider unavailable: {reason}")]
    Unavailable { reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A payment provider. Charges and refunds are idempotent per order.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(
        &self,
        order_id: &OrderId,
        token: &PaymentToken,
        amount: Money,
    ) -> Result<Charge, PaymentError>;
    async fn refund(
        &self,
        order_id: &OrderId,
        token: &PaymentToken,
        charge: &Charge,
    ) -> Result<Refund, PaymentError>;
    /// The charge the provider made for this order, if any (the order id is
    /// the idempotency key). Compensation asks when a charge may have happened
    /// without being recorded, e.g. the pay step timed out after the provider
    /// answered.
    async fn find_charge(&self, order: &Order) -> Result<Option<Charge>, PaymentError>;
}

/// A shipment booked with the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub tracking_number: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    #[error("shipment refused: {reason}")]
    Refused { reason: String },
    #[error("carrier unavailable: {reason}")]
    Unavailable { reason: String },
}

/// A carrier. Shipments and cancellations are idempotent per order.
#[async_trait]
pub trait Carrier: Send + Sync {
    async fn create_shipment(
        &self,
        order_id: &OrderId,
        address: &Address,
        lines: &[OrderItem],
    ) -> Result<Shipment, ShippingError>;
    /// Cancel the order's shipment (the order id is the idempotency key);
    /// cancelling when there is none is not an error, so compensation can cancel
    /// a booking that may have happened without being recorded.
    async fn cancel_shipment(
        &self,
        order_id: &OrderId,
        tracking_number: Option<&str>,
    ) -> Result<(), ShippingError>;
}
