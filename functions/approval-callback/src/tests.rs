use std::time::Duration;

use saga_apigw::http::Method;
use saga_apigw::{event, response_body, response_header};
use saga_core::approval::{ApprovalRef, TaskToken};
use saga_core::fixtures::{Stage, demo_catalog, order_at};
use saga_core::memory::{MemoryStore, MemoryWorkflow};
use saga_core::ports::TaskGone;
use saga_core::{ApprovalSummary, ManualClock, OrderId};

use super::*;

const SECRET: &str = "secret-task-token-value";

pub(crate) struct World {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) workflow: Arc<MemoryWorkflow>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) deps: Deps,
}

pub(crate) fn world() -> World {
    let store = Arc::new(MemoryStore::with_products(demo_catalog()));
    let workflow = Arc::new(MemoryWorkflow::default());
    let clock = Arc::new(ManualClock::at_fixed_start());
    let deps = Deps {
        approvals: store.clone(),
        orders: store.clone(),
        workflow: workflow.clone(),
        clock: clock.clone(),
    };
    World {
        store,
        workflow,
        clock,
        deps,
    }
}

/// An order AWAITING_APPROVAL with a pending approval, as request-approval leaves it.
async fn pending(w: &World) -> (OrderId, ApprovalId) {
    pending_with_token(w, SECRET).await
}

/// [`pending`], waiting on task token `token`.
pub(crate) async fn pending_with_token(w: &World, token: &str) -> (OrderId, ApprovalId) {
    let now = w.clock.now();
    let order = order_at(
        &*w.store,
        Stage::Reserved,
        &[("SKU-4", 1)],
        "tok_visa",
        "10115",
        now,
    )
    .await;
    let id = order.order_id().clone();
    let pricing = order.pricing().unwrap().clone();
    let approval = Approval {
        approval_id: ApprovalId::generate(),
        order_id: id.clone(),
        task_token: TaskToken::new(token).unwrap(),
        status: ApprovalStatus::Pending,
        summary: ApprovalSummary {
            customer_id: order.customer_id().clone(),
            lines: pricing.lines,
            total: pricing.total,
        },
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        decided_at: None,
        delivered: false,
    };
    w.store.create(&approval).await.unwrap();
    let reference = ApprovalRef {
        approval_id: approval.approval_id.clone(),
        token_digest: approval.task_token.digest(),
        requested_at: now,
        expires_at: approval.expires_at,
        notified: true,
        decision: None,
    };
    let u = OrderUpdate::transition(
        OrderStatus::AwaitingApproval,
        &[OrderStatus::Reserved],
        vec![Change::Approval(reference)],
        now,
    );
    w.store.update(&id, &u).await.unwrap();
    (id, approval.approval_id)
}

fn get(id: &ApprovalId, query: &str) -> Request {
    event(Method::GET, &format!("/approvals/{id}{query}"), &[], None)
}

pub(crate) fn post_form(id: &ApprovalId, decision: &str) -> Request {
    event(
        Method::POST,
        &format!("/approvals/{id}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(format!("decision={decision}").as_bytes()),
    )
}

fn text(resp: &Response) -> String {
    String::from_utf8(response_body(resp)).unwrap()
}

#[tokio::test]
async fn get_shows_the_order_and_post_forms_and_changes_nothing() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    let before = (w.store.order(&order_id), w.store.approvals_of(&order_id));

    let resp = respond(&w.deps, get(&id, "?decision=approve")).await;

    assert_eq!(resp.status_code, 200);
    assert_eq!(
        response_header(&resp, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response_header(&resp, "cache-control"), Some("no-store"));
    assert_eq!(
        response_header(&resp, "referrer-policy"),
        Some("no-referrer")
    );
    let html = text(&resp);
    assert_eq!(html.matches("<form method=\"post\">").count(), 2, "{html}");
    assert!(html.contains("value=\"approve\"") && html.contains("value=\"reject\""));
    assert!(html.contains("Confirm to <strong>approve</strong>"));
    assert!(html.contains("1490.00 EUR"));
    assert!(!html.contains(SECRET));
    assert_eq!(
        (w.store.order(&order_id), w.store.approvals_of(&order_id)),
        before,
        "GET changed something"
    );
    assert!(w.workflow.task_results().is_empty());
}

#[tokio::test]
async fn user_data_on_the_page_is_escaped() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    // Product names come from the catalog: store an approval with a hostile one.
    let mut hostile = w.store.approvals_of(&order_id).remove(0);
    hostile.approval_id = ApprovalId::generate();
    hostile.summary.lines[0].name = "<script>alert('x')</script>".into();
    w.store.create(&hostile).await.unwrap();

    let html = text(&respond(&w.deps, get(&hostile.approval_id, "")).await);
    assert!(!text(&respond(&w.deps, get(&id, "")).await).contains("<script>"));

    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[tokio::test]
async fn post_approve_decides_once_marks_approved_and_resumes_the_execution() {
    let w = world();
    let (order_id, id) = pending(&w).await;

    let resp = respond(&w.deps, post_form(&id, "approve")).await;

    assert_eq!(resp.status_code, 200, "{}", text(&resp));
    assert!(text(&resp).contains("approved"));
    let results = w.workflow.task_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0.expose_secret(), SECRET);
    assert_eq!(results[0].1["approved"], true);
    assert_eq!(results[0].1["decidedAt"], json!(w.clock.now()));
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::Approved
    );
    let a = w.store.approvals_of(&order_id).remove(0);
    assert_eq!((a.status, a.delivered), (ApprovalStatus::Approved, true));

    // Any second decision: 409, nothing sent.
    for d in ["approve", "reject"] {
        let again = respond(&w.deps, post_form(&id, d)).await;
        assert_eq!(again.status_code, 409, "{d}");
    }
    assert_eq!(w.workflow.task_results().len(), 1);
}

#[tokio::test]
async fn post_reject_sends_approved_false_and_leaves_the_status_to_compensation() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    let resp = respond(
        &w.deps,
        event(
            Method::POST,
            &format!("/approvals/{id}"),
            &[("content-type", "application/json")],
            Some(br#"{"decision":"reject"}"#),
        ),
    )
    .await;
    assert_eq!(resp.status_code, 200);
    assert_eq!(
        response_header(&resp, "content-type"),
        Some("application/json")
    );
    assert_eq!(w.workflow.task_results()[0].1["approved"], false);
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::AwaitingApproval
    );
}

#[tokio::test]
async fn concurrent_decisions_one_wins() {
    let w = world();
    let (_, id) = pending(&w).await;
    let (a, b) = tokio::join!(
        respond(&w.deps, post_form(&id, "approve")),
        respond(&w.deps, post_form(&id, "reject"))
    );
    let mut codes = [a.status_code, b.status_code];
    codes.sort();
    assert_eq!(codes, [200, 409]);
    assert_eq!(w.workflow.task_results().len(), 1);
}

#[tokio::test]
async fn expired_approvals_answer_410_on_get_and_post() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.clock.advance(Duration::from_secs(3601));
    assert_eq!(respond(&w.deps, get(&id, "")).await.status_code, 410);
    assert_eq!(
        respond(&w.deps, post_form(&id, "approve"))
            .await
            .status_code,
        410
    );
    assert!(w.workflow.task_results().is_empty());
    assert_eq!(
        w.store.approvals_of(&order_id)[0].status,
        ApprovalStatus::Expired
    );
}

#[tokio::test]
async fn a_task_gone_at_step_functions_is_410() {
    for why in [
        TaskGone::TimedOut,
        TaskGone::InvalidToken,
        TaskGone::DoesNotExist,
    ] {
        let w = world();
        let (order_id, id) = pending(&w).await;
        w.workflow.make_gone(&TaskToken::new(SECRET).unwrap(), why);
        let resp = respond(&w.deps, post_form(&id, "approve")).await;
        assert_eq!(resp.status_code, 410, "{why:?}");
        // The approve was recorded on the order before Step Functions answered;
        // the timeout's compensation moves it on (APPROVED may still be
        // rejected: asserted in saga-core's order tests).
        assert_eq!(
            w.store.order(&order_id).unwrap().status(),
            OrderStatus::Approved
        );
        assert_eq!(
            w.store.approvals_of(&order_id)[0].status,
            ApprovalStatus::Expired
        );
    }
}

#[tokio::test]
async fn a_decision_that_could_not_be_delivered_is_delivered_by_the_retry() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.workflow.fail_next();
    let resp = respond(&w.deps, post_form(&id, "approve")).await;
    assert_eq!(resp.status_code, 503);
    assert_eq!(response_header(&resp, "retry-after"), Some("2"));
    assert!(
        !text(&resp).contains("injected"),
        "internal details must not reach the client"
    );

    let retry = respond(&w.deps, post_form(&id, "approve")).await;
    assert_eq!(retry.status_code, 200);
    assert_eq!(w.workflow.task_results().len(), 1);
    assert!(w.store.approvals_of(&order_id)[0].delivered);
    // But the other decision can't sneak in.
    assert_eq!(
        respond(&w.deps, post_form(&id, "reject")).await.status_code,
        409
    );
}

#[tokio::test]
async fn unknown_ids_bad_decisions_and_other_methods() {
    let w = world();
    let (_, id) = pending(&w).await;
    assert_eq!(
        respond(&w.deps, get(&ApprovalId::generate(), ""))
            .await
            .status_code,
        404
    );
    assert_eq!(
        respond(&w.deps, event(Method::GET, "/approvals/short", &[], None))
            .await
            .status_code,
        404
    );
    assert_eq!(
        respond(&w.deps, event(Method::GET, "/elsewhere", &[], None))
            .await
            .status_code,
        404
    );
    assert_eq!(
        respond(&w.deps, post_form(&id, "maybe")).await.status_code,
        400
    );
    let resp = respond(
        &w.deps,
        event(Method::DELETE, &format!("/approvals/{id}"), &[], None),
    )
    .await;
    assert_eq!(resp.status_code, 405);
    assert_eq!(response_header(&resp, "allow"), Some("GET, HEAD, POST"));
}

#[tokio::test]
async fn storage_failure_is_503_for_transient_and_500_without_details_otherwise() {
    let w = world();
    let (_, id) = pending(&w).await;
    w.store.fail_next("approvals.get", true);
    assert_eq!(respond(&w.deps, get(&id, "")).await.status_code, 503);
    w.store.fail_next("approvals.get", false);
    let resp = respond(&w.deps, get(&id, "")).await;
    assert_eq!(resp.status_code, 500);
    assert!(!text(&resp).contains("approvals.get"));
}

#[tokio::test]
async fn a_recorded_but_undelivered_decision_can_be_sent_again_from_the_link() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.workflow.fail_next();
    assert_eq!(
        respond(&w.deps, post_form(&id, "approve"))
            .await
            .status_code,
        503
    );

    // The approver reopens the e-mail link: the page offers to deliver the recorded decision.
    let html = text(&respond(&w.deps, get(&id, "")).await);
    assert!(
        html.contains("was recorded but has not reached it yet"),
        "{html}"
    );
    assert!(
        html.contains("value=\"approve\"") && !html.contains("value=\"reject\""),
        "{html}"
    );

    assert_eq!(
        respond(&w.deps, post_form(&id, "approve"))
            .await
            .status_code,
        200
    );
    assert_eq!(w.workflow.task_results().len(), 1);
    assert!(text(&respond(&w.deps, get(&id, "")).await).contains("was <strong>approved</strong>"));
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::Approved
    );
}

#[tokio::test]
async fn a_link_replaced_by_a_newer_request_says_so() {
    let w = world();
    let (order_id, old) = pending(&w).await;
    // The state machine retried RequestApproval: a new approval, the old token is dead.
    let mut newer = w.store.approvals_of(&order_id).remove(0);
    newer.approval_id = ApprovalId::generate();
    newer.task_token = TaskToken::new("newer-token").unwrap();
    w.store.create(&newer).await.unwrap();
    let reference = ApprovalRef {
        approval_id: newer.approval_id.clone(),
        token_digest: newer.task_token.digest(),
        requested_at: w.clock.now(),
        expires_at: newer.expires_at,
        notified: true,
        decision: None,
    };
    let u = OrderUpdate::changes(vec![], vec![Change::Approval(reference)], w.clock.now());
    w.store.update(&order_id, &u).await.unwrap();
    w.workflow
        .make_gone(&TaskToken::new(SECRET).unwrap(), TaskGone::InvalidToken);

    let resp = respond(&w.deps, post_form(&old, "approve")).await;

    assert_eq!(resp.status_code, 410);
    assert!(
        text(&resp).contains("newer approval request"),
        "{}",
        text(&resp)
    );
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::AwaitingApproval,
        "still waiting on the newer one"
    );
    // The newer link still works.
    assert_eq!(
        respond(&w.deps, post_form(&newer.approval_id, "approve"))
            .await
            .status_code,
        200
    );
}

#[tokio::test]
async fn two_posts_of_the_same_decision_answer_200_and_409() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    let (a, b) = tokio::join!(
        respond(&w.deps, post_form(&id, "approve")),
        respond(&w.deps, post_form(&id, "approve"))
    );
    let mut codes = [a.status_code, b.status_code];
    codes.sort();
    assert_eq!(codes, [200, 409], "{} / {}", text(&a), text(&b));
    assert_eq!(w.workflow.task_results().len(), 1);
    let approval = w.store.approvals_of(&order_id).remove(0);
    assert_eq!(
        (approval.status, approval.delivered),
        (ApprovalStatus::Approved, true)
    );
}

#[tokio::test]
async fn a_task_closed_by_a_concurrent_delivery_is_already_decided_not_expired() {
    // This request decides "approve"; a concurrent one with the same decision
    // (a double click on another Lambda instance) got its SendTaskSuccess in
    // first, closing the task, and marks the approval delivered a moment later.
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.workflow
        .make_gone(&TaskToken::new(SECRET).unwrap(), TaskGone::TimedOut);
    let store = w.store.clone();
    let twin = id.clone();
    let marker = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        store
            .mark_delivered(&twin, Decision::Approve)
            .await
            .unwrap();
    });

    let resp = respond(&w.deps, post_form(&id, "approve")).await;

    marker.await.unwrap();
    assert_eq!(resp.status_code, 409, "{}", text(&resp));
    let approval = w.store.approvals_of(&order_id).remove(0);
    assert_eq!(
        (approval.status, approval.delivered),
        (ApprovalStatus::Approved, true),
        "not voided"
    );
}

#[tokio::test]
async fn a_redelivery_after_a_503_to_a_timed_out_execution_is_410_not_already_approved() {
    // The first POST recorded "approve" (the order is APPROVED) but could not
    // reach Step Functions; the execution then timed out. The order still
    // says APPROVED (its compensation has not run yet): only SendTaskSuccess
    // knows the task is gone.
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.workflow.fail_next();
    assert_eq!(
        respond(&w.deps, post_form(&id, "approve"))
            .await
            .status_code,
        503
    );
    w.workflow
        .make_gone(&TaskToken::new(SECRET).unwrap(), TaskGone::TimedOut);

    let retry = respond(&w.deps, post_form(&id, "approve")).await;

    assert_eq!(retry.status_code, 410, "{}", text(&retry));
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::Approved,
        "the order lags"
    );
    let approval = w.store.approvals_of(&order_id).remove(0);
    assert_eq!(
        (approval.status, approval.delivered),
        (ApprovalStatus::Expired, false),
        "not marked delivered"
    );
}

/// The first `SendTaskSuccess` closes the task at once but answers late; every
/// later one is told the task is closed.
#[derive(Debug, Default)]
struct SlowFirstAnswer {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Workflow for SlowFirstAnswer {
    async fn start_execution(
        &self,
        _name: &OrderId,
        _input: &serde_json::Value,
    ) -> Result<saga_core::ports::Started, WorkflowError> {
        unreachable!("approval-callback starts nothing")
    }

    async fn send_task_success(
        &self,
        _token: &TaskToken,
        _output: &serde_json::Value,
    ) -> Result<(), WorkflowError> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            Ok(())
        } else {
            Err(WorkflowError::TaskGone(TaskGone::TimedOut))
        }
    }

    async fn execution_exists(&self, _name: &OrderId) -> Result<bool, WorkflowError> {
        unreachable!("approval-callback asks about no execution")
    }
}

#[tokio::test]
async fn a_losing_double_click_does_not_record_a_delivered_rejection_as_expired() {
    let mut w = world();
    w.deps.workflow = Arc::new(SlowFirstAnswer::default());
    let (order_id, id) = pending(&w).await;

    let (winner, loser) = tokio::join!(respond(&w.deps, post_form(&id, "reject")), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        respond(&w.deps, post_form(&id, "reject")).await
    });

    assert_eq!(winner.status_code, 200, "{}", text(&winner));
    assert!([409, 410].contains(&loser.status_code), "{}", text(&loser));
    let approval = w.store.approvals_of(&order_id).remove(0);
    assert_eq!(
        (approval.status, approval.delivered),
        (ApprovalStatus::Rejected, true),
        "delivered: the rejection stands"
    );
}

#[tokio::test]
async fn redeliver_delivers_a_recorded_decision_without_a_second_click() {
    let w = world();
    let (order_id, id) = pending(&w).await;
    w.workflow.fail_next();
    assert_eq!(
        respond(&w.deps, post_form(&id, "approve"))
            .await
            .status_code,
        503
    );
    let undelivered = w.store.approvals_of(&order_id).remove(0);

    redeliver(&w.deps, &undelivered).await.unwrap();
    // Already delivered now: nothing is sent twice.
    let delivered = w.store.approvals_of(&order_id).remove(0);
    redeliver(&w.deps, &delivered).await.unwrap();

    assert_eq!(
        (delivered.status, delivered.delivered),
        (ApprovalStatus::Approved, true)
    );
    let results = w.workflow.task_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1["approved"], true);
}
