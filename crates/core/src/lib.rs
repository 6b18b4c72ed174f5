//! Order saga domain: parsed types, pricing, status rules, port traits, the stable
//! error names shared by handlers and the state machine, and the simulated
//! payment and shipping providers.
//!
//! Nothing here knows about AWS, Lambda or a tokio runtime. Handlers take the
//! ports they need; adapters live in `saga-aws` (DynamoDB, SNS, Step Functions),
//! `saga-local` (SQLite) and [`memory`] (unit tests).

#[macro_use]
mod macros;

pub mod approval;
pub mod catalog;
pub mod env;
pub mod error_names;
pub mod fixtures;
pub mod ids;
pub mod memory;
pub mod money;
pub mod order;
pub mod ports;
pub mod pricing;
pub mod providers;
pub mod request;
pub mod step;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use approval::{Approval, ApprovalStatus, ApprovalSummary, Decision, TaskToken};
pub use error_names::ErrorName;
pub use ids::{ApprovalId, CustomerId, IdempotencyKey, OrderId};
pub use money::{Currency, Money};
pub use order::{
    Address, Email, Failure, HistoryEntry, Order, OrderItem, OrderStatus, PaymentToken, PricedLine,
    Pricing, Quantity, Sku,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
