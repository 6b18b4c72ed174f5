//! Redelivery of approval decisions that were recorded but never reached the
//! workflow (the POST answered `503`, or saga-local died between recording the
//! decision and resuming the execution): the approver need not click again.
//!
//! A sweep runs at start-up (after the waiting executions are resumed) and
//! then every [`INTERVAL`] until shutdown. Each sweep hands at most [`BATCH`]
//! approvals to `approval_callback::redeliver`, the same code the POST runs:
//! `SendTaskSuccess` decides whether the decision was delivered or the
//! execution stopped waiting (then the approval is marked expired and leaves
//! the sweep). The periodic sweep skips decisions younger than [`SETTLE`],
//! which their own POST is still delivering.

use std::sync::Arc;
use std::time::Duration;

use saga_core::ports::error_chain;
use saga_sqlite::SqliteStore;

use super::workflow::{DELIVERY_WAIT, Gate};

/// Time between sweeps.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Approvals redelivered per sweep, at most.
pub const BATCH: usize = 20;
/// How old a decision must be before a periodic sweep redelivers it: longer
/// than its own POST may spend delivering it ([`DELIVERY_WAIT`]), so the two
/// don't race (the loser would briefly mark the approval expired).
pub const SETTLE: Duration = Duration::from_secs(DELIVERY_WAIT.as_secs() + 5);

/// Redeliver what is undelivered and decided at or before `now - settle`; how
/// many were delivered.
pub async fn sweep(store: &SqliteStore, deps: &approval_callback::Deps, settle: Duration) -> usize {
    let now = deps.clock.now();
    let settle_ms = i64::try_from(settle.as_millis()).unwrap_or(i64::MAX);
    let decided_before =
        saga_core::Timestamp::from_millis(now.as_millis().saturating_sub(settle_ms)).unwrap_or(now);
    let approvals = match store.undelivered_approvals(decided_before, BATCH).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "could not list undelivered approval decisions");
            return 0;
        }
    };
    let mut delivered = 0;
    for a in &approvals {
        match approval_callback::redeliver(deps, a).await {
            Ok(()) => {
                delivered += 1;
                tracing::info!(order_id = %a.order_id, "approval decision redelivered");
            }
            Err(e) => {
                tracing::info!(order_id = %a.order_id, status = e.status(), error = %error_chain(&e), "approval decision not redelivered");
            }
        }
    }
    delivered
}

/// Sweep now, then every [`INTERVAL`], until `gate` closes.
pub fn spawn(
    store: SqliteStore,
    deps: approval_callback::Deps,
    gate: Arc<Gate>,
) -> tokio::task::JoinHandle<()> {
    let mut closed = gate.subscribe();
    tokio::spawn(async move {
        // At start-up no POST of this process is in flight: nothing to wait for.
        let mut settle = Duration::ZERO;
        loop {
            if gate.is_closed() {
                return;
            }
            sweep(&store, &deps, settle).await;
            settle = SETTLE;
            tokio::select! {
                () = tokio::time::sleep(INTERVAL) => {}
                _ = closed.wait_for(|c| *c) => return,
            }
        }
    })
}
