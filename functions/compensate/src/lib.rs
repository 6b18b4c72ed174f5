//! `compensate`: undoes, newest first, only what really happened to a failed
//! order — cancel any shipment booked for it, refund the payment, release the
//! stock — reading what happened from the order record, never assuming. (A
//! recorded shipment means `COMPLETED`, which is not undone: the ship step
//! records the shipment and the status in one update.) Then records the final
//! status: `REJECTED` for `ApprovalRejected` / `ApprovalTimedOut`, `FAILED`
//! otherwise, with `failure: {error, cause}`.
//!
//! Each undo is recorded with a condition on the record, so a re-run (a retry,
//! a duplicate delivery) does each exactly once. When an undo fails the order is
//! marked `NEEDS_ATTENTION` and the step fails with `CompensationFailed`; a later
//! successful run still finishes it.

use std::sync::Arc;

use saga_core::order::{
    Change, Expect, Failure, OrderUpdate, PaymentRecord, RefundRecord, Reservation,
};
use saga_core::ports::{
    BoxError, Carrier, Charge, OrderStore, PaymentGateway, StockReservations, StoreError,
    UpdateOutcome, error_chain,
};
use saga_core::{Clock, ErrorName, Order, OrderId, OrderStatus};
use serde::{Deserialize, Serialize};

/// Longest cause recorded on the order.
const MAX_CAUSE_CHARS: usize = 1000;

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub stock: Arc<dyn StockReservations>,
    pub payments: Arc<dyn PaymentGateway>,
    pub carrier: Arc<dyn Carrier>,
    pub clock: Arc<dyn Clock>,
}

saga_core::debug_deps!(Deps);

/// The error the state machine caught (`Catch` with `ResultPath`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub order_id: OrderId,
    pub error: CaughtError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub order_id: OrderId,
    /// `FAILED` or `REJECTED`.
    pub status: OrderStatus,
    /// What has been undone for this order, newest first, as recorded
    /// (`paymentRefunded`, `stockReleased`).
    pub undone: Vec<String>,
    /// The stable error name recorded on the order (empty for a `COMPLETED`
    /// order, which has none).
    pub error: String,
    pub cause: String,
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &["ORDERS_TABLE", "PRODUCTS_TABLE"];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::CompensationFailed,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {step} for order {order_id}")]
    Undo {
        order_id: OrderId,
        step: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("order {order_id} could not be marked {status}: it is {current}")]
    NotFinished {
        order_id: OrderId,
        status: OrderStatus,
        current: OrderStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::Undo { .. } | Self::NotFinished { .. } => ErrorName::CompensationFailed,
            Self::Store(e) => e.error_name(),
        }
    }

    /// An undo of `order_id` that failed: `step` says what it was doing.
    fn undo(order_id: &OrderId, step: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Undo {
            order_id: order_id.clone(),
            step,
            source: source.into(),
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// The failure to record: a stable error name and a readable cause.
///
/// Lambda errors arrive with `Cause` = `{"errorMessage", "errorType", …}` JSON;
/// the message is what a person wants to read. Names outside the stable set
/// (`States.Timeout`, `Lambda.…`, `States.Runtime`) are recorded as `Transient`
/// or `InternalError`, with the original name kept in the cause.
pub fn failure_of(caught: &CaughtError) -> Failure {
    let raw = caught.cause.clone().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or(raw);
    let (error, cause) = match caught.error.parse::<ErrorName>() {
        Ok(name) => (name, message),
        Err(_) => {
            let name = if caught.error.starts_with("Lambda.")
                || caught.error == "States.Timeout"
                || caught.error == "States.HeartbeatTimeout"
            {
                ErrorName::Transient
            } else {
                ErrorName::InternalError
            };
            let cause = if message.is_empty() {
                caught.error.clone()
            } else {
                format!("{}: {message}", caught.error)
            };
            (name, cause)
        }
    };
    Failure {
        error,
        cause: cause.chars().take(MAX_CAUSE_CHARS).collect(),
    }
}

fn undone_of(order: &Order) -> Vec<String> {
    let mut undone = Vec::new();
    if order.payment().is_some_and(|p| p.refund.is_some()) {
        undone.push("paymentRefunded".to_owned());
    }
    if order.reservation().is_some_and(|r| r.released_at.is_some()) {
        undone.push("stockReleased".to_owned());
    }
    undone
}

/// Compensate the order.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let failure = failure_of(&input.error);
    let terminal = failure.error.terminal_status();

    let Some(order) = deps.orders.get(&order_id).await? else {
        tracing::warn!(%order_id, "order not found; nothing to compensate");
        return Ok(Output {
            order_id,
            status: terminal,
            undone: vec![],
            error: failure.error.to_string(),
            cause: failure.cause,
        });
    };
    match order.status() {
        // Shipped and recorded: the step that failed came after (e.g. ship's
        // response was lost). A completed order is not undone.
        OrderStatus::Completed => {
            tracing::warn!(%order_id, error = %failure.error, "order already COMPLETED; nothing to compensate");
            return Ok(finished(&order));
        }
        OrderStatus::Failed | OrderStatus::Rejected => return Ok(finished(&order)),
        _ => {}
    }

    if let Err(e) = undo(deps, &order).await {
        mark_needs_attention(deps, &order_id, &failure, &e).await;
        return Err(e);
    }

    let update = OrderUpdate::transition(
        terminal,
        &[
            OrderStatus::IN_FLIGHT.as_slice(),
            &[OrderStatus::NeedsAttention],
        ]
        .concat(),
        vec![Change::Failure(failure.clone())],
        deps.clock.now(),
    );
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(after) => {
            tracing::info!(%order_id, status = %terminal, error = %failure.error, "compensated");
            Ok(finished(&after))
        }
        UpdateOutcome::NotFound => Err(Error::NotFinished {
            order_id,
            status: terminal,
            current: order.status(),
        }),
        UpdateOutcome::ConditionFailed => {
            let now = deps.orders.get(&order_id).await?;
            match now {
                Some(o) if matches!(o.status(), OrderStatus::Failed | OrderStatus::Rejected) => {
                    Ok(finished(&o))
                }
                Some(o) => Err(Error::NotFinished {
                    order_id,
                    status: terminal,
                    current: o.status(),
                }),
                None => Err(Error::NotFinished {
                    order_id,
                    status: terminal,
                    current: order.status(),
                }),
            }
        }
    }
}

fn finished(order: &Order) -> Output {
    let (error, cause) = order
        .failure()
        .map(|f| (f.error.to_string(), f.cause.clone()))
        .unwrap_or_default();
    Output {
        order_id: order.order_id().clone(),
        status: order.status(),
        undone: undone_of(order),
        error,
        cause,
    }
}

/// Undo newest first. Each undo is recorded before the next starts.
async fn undo(deps: &Deps, order: &Order) -> Result<(), Error> {
    // A recorded shipment comes with `COMPLETED` (handled by the caller).
    if order.shipment().is_none() && order.payment().is_some() {
        cancel_unrecorded_shipment(deps, order.order_id()).await?;
    }
    if order.payment().is_none() && order.pricing().is_some() {
        refund_unrecorded_charge(deps, order).await?;
    }
    if let Some(payment) = order.payment().filter(|p| p.refund.is_none()) {
        refund_payment(deps, order, payment).await?;
    }
    if let Some(reservation) = order.reservation().filter(|r| r.released_at.is_none()) {
        release_stock(deps, order.order_id(), reservation).await?;
    }
    Ok(())
}

/// Paid, so the ship step may have run: the carrier may hold a booking that
/// was never recorded (a lost response). Cancelling by order id is a no-op
/// when there is none. Decided from the record, not the status: a re-run
/// after a failed undo finds the order `NEEDS_ATTENTION`.
async fn cancel_unrecorded_shipment(deps: &Deps, order_id: &OrderId) -> Result<(), Error> {
    deps.carrier
        .cancel_shipment(order_id, None)
        .await
        .map_err(|e| Error::undo(order_id, "cancel any unrecorded shipment", e))
}

/// The pay step may have run: the provider may have charged without the
/// charge being recorded (a lost response, a timeout). Ask it — always, since
/// only the provider knows (the order's attempt counter is kept by the
/// simulated provider alone) — and refund what it found, recording both.
async fn refund_unrecorded_charge(deps: &Deps, order: &Order) -> Result<(), Error> {
    let order_id = order.order_id();
    let found = deps
        .payments
        .find_charge(order)
        .await
        .map_err(|e| Error::undo(order_id, "look up an unrecorded charge", e))?;
    let Some(charge) = found else {
        return Ok(());
    };
    let refund = refund_charge(deps, order, &charge, "refund the unrecorded charge").await?;
    let now = refund.refunded_at;
    let record = PaymentRecord {
        charge_id: charge.charge_id.clone(),
        amount: charge.amount,
        charged_at: now,
        refund: Some(refund),
    };
    let update = OrderUpdate::changes(vec![Expect::NoPayment], vec![Change::Payment(record)], now);
    deps.orders
        .update(order_id, &update)
        .await
        .map_err(|e| Error::undo(order_id, "record the refund of the unrecorded charge", e))?;
    tracing::warn!(%order_id, charge_id = %charge.charge_id, "refunded a charge the pay step had not recorded");
    Ok(())
}

/// Refund the recorded charge and record the refund.
async fn refund_payment(deps: &Deps, order: &Order, payment: &PaymentRecord) -> Result<(), Error> {
    let order_id = order.order_id();
    let charge = Charge {
        charge_id: payment.charge_id.clone(),
        amount: payment.amount,
    };
    let refund = refund_charge(deps, order, &charge, "refund the payment").await?;
    let now = refund.refunded_at;
    let update = OrderUpdate::changes(
        vec![Expect::PaymentNotRefunded],
        vec![Change::Refund(refund)],
        now,
    );
    deps.orders
        .update(order_id, &update)
        .await
        .map_err(|e| Error::undo(order_id, "record the refund", e))?;
    tracing::info!(%order_id, charge_id = %payment.charge_id, "payment refunded");
    Ok(())
}

/// Have the provider refund `charge`; the record of it, refunded now. `step`
/// names the undo when it fails.
async fn refund_charge(
    deps: &Deps,
    order: &Order,
    charge: &Charge,
    step: &'static str,
) -> Result<RefundRecord, Error> {
    let refund = deps
        .payments
        .refund(order.order_id(), order.payment_token(), charge)
        .await
        .map_err(|e| Error::undo(order.order_id(), step, e))?;
    Ok(RefundRecord {
        refund_id: refund.refund_id,
        refunded_at: deps.clock.now(),
    })
}

/// Give the held stock back, recording the release in the same transaction.
async fn release_stock(
    deps: &Deps,
    order_id: &OrderId,
    reservation: &Reservation,
) -> Result<(), Error> {
    let update = OrderUpdate::release(deps.clock.now());
    deps.stock
        .release(order_id, &reservation.lines, &update)
        .await
        .map_err(|e| Error::undo(order_id, "release the stock", e))?;
    tracing::info!(%order_id, lines = reservation.lines.len(), "stock released");
    Ok(())
}

/// Best effort: the step is failing anyway, and its error is what matters.
async fn mark_needs_attention(deps: &Deps, order_id: &OrderId, original: &Failure, err: &Error) {
    let failure = Failure {
        error: ErrorName::CompensationFailed,
        cause: format!(
            "{}; original failure: {}: {}",
            error_chain(err),
            original.error,
            original.cause
        )
        .chars()
        .take(MAX_CAUSE_CHARS)
        .collect(),
    };
    let update = OrderUpdate::transition(
        OrderStatus::NeedsAttention,
        &OrderStatus::IN_FLIGHT,
        vec![Change::Failure(failure.clone())],
        deps.clock.now(),
    );
    let update = match deps.orders.get(order_id).await {
        // Already NEEDS_ATTENTION: refresh the cause without a second history entry.
        Ok(Some(o)) if o.status() == OrderStatus::NeedsAttention => OrderUpdate::changes(
            vec![Expect::StatusIn(vec![OrderStatus::NeedsAttention])],
            vec![Change::Failure(failure)],
            deps.clock.now(),
        ),
        _ => update,
    };
    match deps.orders.update(order_id, &update).await {
        Ok(_) => {
            tracing::error!(%order_id, error = %error_chain(err), "compensation failed; order needs attention")
        }
        Err(e) => {
            tracing::error!(%order_id, error = %error_chain(err), mark_error = %error_chain(&e), "compensation failed and the order could not be marked")
        }
    }
}

#[cfg(test)]
mod tests;
