//! `request-approval`: for an order at or above the approval threshold, stores
//! an approval request (a random `approvalId`, the task token, an expiry) and
//! e-mails the approver links to a confirmation page. The state machine waits
//! on the task token until `approval-callback` sends the decision.
//!
//! The task token never leaves the approvals table: it is not in the message,
//! not in a URL, not in a log line (the `TaskToken` type redacts itself).
//!
//! Idempotent: invoked again with the same token (a duplicate delivery), it
//! reuses the approval and mails only if the first mail never went out. A new
//! token (the state machine retried the task) gets a new approval; the old
//! links then answer "expired".

use std::sync::Arc;
use std::time::Duration;

use saga_core::ErrorName;
use saga_core::approval::{
    ApprovalRef, ApprovalStatus, ApprovalSummary, MAX_APPROVAL_TIMEOUT_SECONDS, TaskToken,
};
use saga_core::order::{Change, Expect, OrderUpdate, Pricing};
use saga_core::ports::{
    ApprovalStore, Message, Notifier, OrderStore, StoreError, Topic, UpdateOutcome,
};
use saga_core::step::load_order;
use saga_core::{Approval, ApprovalId, Clock, Order, OrderId, OrderStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// Default time the approver has (the state machine's `TimeoutSeconds` default).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = saga_core::approval::DEFAULT_APPROVAL_TIMEOUT_SECONDS;

#[derive(Clone)]
pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    /// Base of the links, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`.
    pub public_base_url: String,
}

saga_core::debug_deps!(Deps, public_base_url);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub order_id: OrderId,
    /// `$$.Task.Token`.
    pub task_token: TaskToken,
    /// How long the state machine waits (its `TimeoutSeconds`).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub approval_id: ApprovalId,
    pub expires_at: Timestamp,
}

/// The environment variables `main.rs` reads (Terraform sets exactly these).
pub const ENV_VARS: &[&str] = &[
    "ORDERS_TABLE",
    "APPROVALS_TABLE",
    "APPROVALS_TOPIC_ARN",
    "PUBLIC_BASE_URL",
];

/// Every `errorType` this function can report (checked against the state machine).
pub const ERROR_NAMES: &[ErrorName] = &[
    ErrorName::ValidationError,
    ErrorName::Transient,
    ErrorName::InternalError,
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("order {0} not found")]
    OrderNotFound(OrderId),
    #[error("order {order_id} is {status}; approval is requested for RESERVED orders that need it")]
    NotApprovable {
        order_id: OrderId,
        status: OrderStatus,
    },
    #[error("timeoutSeconds must be between 1 and {MAX_APPROVAL_TIMEOUT_SECONDS}, got {0}")]
    BadTimeout(u64),
    #[error("could not send the approval e-mail")]
    Notify(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The stable error name (Lambda `errorType`).
    pub fn error_name(&self) -> ErrorName {
        match self {
            Self::OrderNotFound(_) | Self::NotApprovable { .. } | Self::BadTimeout(_) => {
                ErrorName::ValidationError
            }
            Self::Notify(e) | Self::Store(e) => e.error_name(),
        }
    }
}

saga_core::impl_diagnostic!(Error);

/// The approve / reject links of an approval.
pub fn approval_links(public_base_url: &str, approval_id: &ApprovalId) -> (String, String) {
    let base = format!(
        "{}/approvals/{approval_id}",
        public_base_url.trim_end_matches('/')
    );
    (
        format!("{base}?decision=approve"),
        format!("{base}?decision=reject"),
    )
}

/// The approval e-mail (plain text). Holds no secret: the approval id in the
/// links is a capability for this one decision, not the task token.
pub fn approval_message(
    public_base_url: &str,
    order_id: &OrderId,
    approval: &ApprovalRef,
    summary: &ApprovalSummary,
) -> Message {
    let (approve, reject) = approval_links(public_base_url, &approval.approval_id);
    let currency = summary.total.currency();
    let mut body = format!(
        "Order {order_id} from customer {} needs your approval.\n\n",
        summary.customer_id
    );
    for l in &summary.lines {
        body.push_str(&format!(
            "  {} x {} ({}) at {} = {}\n",
            l.quantity.get(),
            l.sku,
            l.name,
            l.unit_price(currency),
            l.line_total_text(currency)
        ));
    }
    body.push_str(&format!(
        "\nTotal: {}\n\nApprove: {approve}\nReject:  {reject}\n\n\
         Each link opens a confirmation page; nothing is decided until you confirm there.\n\
         Without a decision by {} the order is rejected.\n",
        summary.total, approval.expires_at
    ));
    Message {
        subject: format!("Approval needed: order {order_id} ({})", summary.total),
        body,
    }
}

/// Request approval for the order.
pub async fn handle(deps: &Deps, input: Input) -> Result<Output, Error> {
    let order_id = input.order_id;
    let timeout = input.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=MAX_APPROVAL_TIMEOUT_SECONDS).contains(&timeout) {
        return Err(Error::BadTimeout(timeout));
    }
    let order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
    let digest = input.task_token.digest();
    let not_approvable = || Error::NotApprovable {
        order_id: order_id.clone(),
        status: order.status(),
    };
    let pricing = order
        .pricing()
        .filter(|p| p.requires_approval)
        .ok_or_else(not_approvable)?
        .clone();

    let current = match order.approval() {
        // The same token again: reuse the approval.
        Some(a) if a.token_digest == digest && order.status() == OrderStatus::AwaitingApproval => {
            a.clone()
        }
        _ if matches!(
            order.status(),
            OrderStatus::Reserved | OrderStatus::AwaitingApproval
        ) =>
        {
            create(
                deps,
                &order,
                &pricing,
                input.task_token,
                digest,
                Duration::from_secs(timeout),
            )
            .await?
        }
        _ => return Err(not_approvable()),
    };

    if !current.notified {
        let summary = summary_of(&order, &pricing);
        let message = approval_message(&deps.public_base_url, &order_id, &current, &summary);
        deps.notifier
            .publish(Topic::Approvals, &message)
            .await
            .map_err(Error::Notify)?;
        let now = deps.clock.now();
        let update = OrderUpdate::changes(
            vec![Expect::ApprovalIs(current.approval_id.clone())],
            vec![Change::ApprovalNotified],
            now,
        );
        deps.orders.update(&order_id, &update).await?;
        tracing::info!(%order_id, approval = %current.approval_id.fingerprint(), expires_at = %current.expires_at, "approval requested");
    }
    Ok(Output {
        approval_id: current.approval_id,
        expires_at: current.expires_at,
    })
}

fn summary_of(order: &Order, pricing: &Pricing) -> ApprovalSummary {
    ApprovalSummary {
        customer_id: order.customer_id().clone(),
        lines: pricing.lines.clone(),
        total: pricing.total,
    }
}

async fn create(
    deps: &Deps,
    order: &Order,
    pricing: &Pricing,
    task_token: TaskToken,
    digest: String,
    timeout: Duration,
) -> Result<ApprovalRef, Error> {
    let order_id = order.order_id().clone();
    let now = deps.clock.now();
    let approval = Approval {
        approval_id: ApprovalId::generate(),
        order_id: order_id.clone(),
        task_token,
        status: ApprovalStatus::Pending,
        summary: summary_of(order, pricing),
        created_at: now,
        expires_at: now.plus(timeout),
        decided_at: None,
        delivered: false,
    };
    deps.approvals.create(&approval).await?;
    let reference = ApprovalRef {
        approval_id: approval.approval_id.clone(),
        token_digest: digest,
        requested_at: now,
        expires_at: approval.expires_at,
        notified: false,
        decision: None,
    };
    let update = if order.status() == OrderStatus::Reserved {
        OrderUpdate::transition(
            OrderStatus::AwaitingApproval,
            &[OrderStatus::Reserved],
            vec![Change::Approval(reference.clone())],
            now,
        )
    } else {
        OrderUpdate::changes(
            vec![Expect::StatusIn(vec![OrderStatus::AwaitingApproval])],
            vec![Change::Approval(reference.clone())],
            now,
        )
    };
    match deps.orders.update(&order_id, &update).await? {
        UpdateOutcome::Applied(_) => {
            // The approval this one replaces (the state machine retried the
            // task with a new token) can no longer resume anything: its links
            // answer "expired" instead of offering buttons.
            if let Some(old) = order.approval() {
                deps.approvals.mark_expired(&old.approval_id).await?;
            }
            Ok(reference)
        }
        UpdateOutcome::NotFound => Err(Error::OrderNotFound(order_id)),
        UpdateOutcome::ConditionFailed => {
            // A concurrent duplicate with the same token may have won.
            let now_order = load_order(&*deps.orders, &order_id, Error::OrderNotFound).await?;
            match now_order.approval() {
                Some(a) if a.token_digest == reference.token_digest => Ok(a.clone()),
                _ => Err(Error::NotApprovable {
                    order_id,
                    status: now_order.status(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Diagnostic;
    use saga_core::ManualClock;
    use saga_core::fixtures::{Stage, demo_catalog, order_at};
    use saga_core::memory::{MemoryNotifier, MemoryStore};
    use saga_core::testing::store_errors;

    const SECRET: &str = "AAAAKgAAAAIAAAAAAAAAAQ-very-secret-task-token";
    const BASE: &str = "https://api.example.com";

    struct World {
        store: Arc<MemoryStore>,
        notifier: Arc<MemoryNotifier>,
        deps: Deps,
    }

    fn world() -> World {
        let store = Arc::new(MemoryStore::with_products(demo_catalog()));
        let notifier = Arc::new(MemoryNotifier::default());
        let deps = Deps {
            orders: store.clone(),
            approvals: store.clone(),
            notifier: notifier.clone(),
            clock: Arc::new(ManualClock::at_fixed_start()),
            public_base_url: BASE.into(),
        };
        World {
            store,
            notifier,
            deps,
        }
    }

    async fn reserved_order(w: &World, items: &[(&str, u32)]) -> OrderId {
        order_at(
            &*w.store,
            Stage::Reserved,
            items,
            "tok_visa",
            "10115",
            w.deps.clock.now(),
        )
        .await
        .order_id()
        .clone()
    }

    fn input(id: &OrderId, token: &str) -> Input {
        Input {
            order_id: id.clone(),
            task_token: TaskToken::new(token).unwrap(),
            timeout_seconds: Some(3600),
        }
    }

    #[tokio::test]
    async fn stores_the_token_and_mails_links_without_it() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-4", 2)]).await;

        let out = handle(&w.deps, input(&id, SECRET)).await.unwrap();

        let approvals = w.store.approvals_of(&id);
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0].task_token.expose_secret(), SECRET);
        assert_eq!(
            approvals[0].expires_at,
            w.deps.clock.now().plus(Duration::from_secs(3600))
        );
        assert_eq!(out.approval_id, approvals[0].approval_id);
        let order = w.store.order(&id).unwrap();
        assert_eq!(order.status(), OrderStatus::AwaitingApproval);

        let messages = w.notifier.messages();
        assert_eq!(messages.len(), 1);
        let (topic, m) = &messages[0];
        assert_eq!(*topic, Topic::Approvals);
        assert!(
            m.subject.contains(id.as_str()) && m.subject.contains("2980.00 EUR"),
            "{}",
            m.subject
        );
        let approve = format!("{BASE}/approvals/{}?decision=approve", out.approval_id);
        let reject = format!("{BASE}/approvals/{}?decision=reject", out.approval_id);
        assert!(
            m.body.contains(&approve) && m.body.contains(&reject),
            "{}",
            m.body
        );
        assert!(
            m.body
                .contains("2 x SKU-4 (Dual-boiler espresso machine) at 1490.00 EUR = 2980.00 EUR"),
            "{}",
            m.body
        );
        assert!(!m.body.contains(SECRET) && !m.subject.contains(SECRET));
        assert!(
            !format!("{:?}", input(&id, SECRET)).contains(SECRET),
            "Debug of the input redacts the token"
        );
    }

    #[tokio::test]
    async fn the_same_token_twice_mails_once() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-4", 1)]).await;
        let first = handle(&w.deps, input(&id, SECRET)).await.unwrap();
        let second = handle(&w.deps, input(&id, SECRET)).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(w.notifier.messages().len(), 1);
        assert_eq!(w.store.approvals_of(&id).len(), 1);
        assert_eq!(w.store.order(&id).unwrap().history().len(), 4);
    }

    #[tokio::test]
    async fn a_lost_mail_is_sent_by_the_retry() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-4", 1)]).await;
        w.notifier.fail_next();
        let err = handle(&w.deps, input(&id, SECRET)).await.unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "Transient");
        handle(&w.deps, input(&id, SECRET)).await.unwrap();
        assert_eq!(w.notifier.messages().len(), 1);
        assert_eq!(
            w.store.approvals_of(&id).len(),
            1,
            "the same approval, not a second one"
        );
    }

    #[tokio::test]
    async fn a_new_token_gets_a_new_approval() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-4", 1)]).await;
        let first = handle(&w.deps, input(&id, "token-one")).await.unwrap();
        let second = handle(&w.deps, input(&id, "token-two")).await.unwrap();
        assert_ne!(first.approval_id, second.approval_id);
        let old = w
            .store
            .approvals_of(&id)
            .into_iter()
            .find(|a| a.approval_id == first.approval_id)
            .unwrap();
        assert_eq!(
            old.status,
            ApprovalStatus::Expired,
            "the replaced approval's links no longer decide"
        );
        assert_eq!(
            w.store.order(&id).unwrap().approval().unwrap().approval_id,
            second.approval_id
        );
        assert_eq!(w.notifier.messages().len(), 2);
    }

    #[tokio::test]
    async fn a_small_order_is_not_sent_for_approval() {
        let w = world();
        let id = reserved_order(&w, &[("SKU-1", 1)]).await;
        let err = handle(&w.deps, input(&id, SECRET)).await.unwrap_err();
        assert_eq!(err.error_name(), "ValidationError");
        assert!(w.notifier.messages().is_empty());
    }

    #[test]
    fn bad_payloads_fail_while_deserializing() {
        let id = OrderId::generate(Timestamp::from_millis(0).unwrap());
        let err =
            serde_json::from_value::<Input>(serde_json::json!({"orderId": id, "taskToken": ""}))
                .unwrap_err();
        assert!(err.to_string().contains("task token"), "{err}");
    }

    #[test]
    fn every_error_has_a_stable_name() {
        use ErrorName::*;
        let id = || OrderId::generate(Timestamp::from_millis(0).unwrap());
        saga_core::assert_error_names!(Error, ERROR_NAMES, {
            Error::OrderNotFound(_) => [(Error::OrderNotFound(id()), ValidationError)],
            Error::NotApprovable { .. } => [(
                Error::NotApprovable { order_id: id(), status: OrderStatus::Failed },
                ValidationError,
            )],
            Error::BadTimeout(_) => [(Error::BadTimeout(0), ValidationError)],
            Error::Notify(_) => store_errors(Error::Notify),
            Error::Store(_) => store_errors(Error::Store),
        });
    }
}
