use std::sync::Arc;

use async_trait::async_trait;
use saga_apigw::event;
use saga_apigw::http::Method;
use saga_core::approval::TaskToken;
use saga_core::memory::MemoryWorkflow;
use saga_core::ports::{Started, StoreError, TaskGone, Workflow, WorkflowError};
use saga_core::{Approval, ApprovalId, OrderId, OrderStatus};
use serde_json::{Map, Value, json};

use super::*;
use crate::tests::{World, pending_with_token, post_form, world};

/// A JSON value in DynamoDB's attribute-value JSON (what stream records carry).
fn dynamodb_json(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({"S": s}),
        Value::Bool(b) => json!({"BOOL": b}),
        Value::Number(n) => json!({"N": n.to_string()}),
        Value::Null => json!({"NULL": true}),
        Value::Array(a) => json!({"L": a.iter().map(dynamodb_json).collect::<Vec<_>>()}),
        Value::Object(m) => json!({"M": attributes(m)}),
    }
}

fn attributes(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (k.clone(), dynamodb_json(v)))
        .collect()
}

/// The approval as its item: the stored (serde) shape, as the stream's new image.
fn image(a: &Approval) -> Value {
    let Value::Object(m) = serde_json::to_value(a).unwrap() else {
        panic!("an approval serializes to an object")
    };
    Value::Object(attributes(&m))
}

/// One stream record in the shape Lambda delivers (eventName, dynamodb.Keys,
/// NewImage, SequenceNumber...); `new_image` is absent for REMOVE.
fn record(event_name: &str, seq: &str, id: &ApprovalId, new_image: Option<Value>) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": 1_767_225_600.0,
        "Keys": {"approvalId": {"S": id.as_str()}},
        "SequenceNumber": seq,
        "SizeBytes": 512,
        "StreamViewType": "NEW_IMAGE"
    });
    if let Some(image) = new_image {
        change["NewImage"] = image;
    }
    json!({
        "awsRegion": "eu-central-1",
        "dynamodb": change,
        "eventID": format!("event-{seq}"),
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "eventSourceARN": "arn:aws:dynamodb:eu-central-1:123456789012:table/saga-approvals/stream/2026-01-01T00:00:00.000"
    })
}

fn stream(records: Vec<Value>) -> Invocation {
    serde_json::from_value(json!({"Records": records})).unwrap()
}

/// The batch item failures of a stream reply, as Lambda reads them.
fn failures(reply: &Reply) -> Vec<Value> {
    let Reply::Stream(_) = reply else {
        panic!("a stream invocation answers with a batch response")
    };
    let v = serde_json::to_value(reply).unwrap();
    v["batchItemFailures"].as_array().unwrap().clone()
}

/// An approval decided `decision` whose POST answered 503: recorded, not delivered.
async fn undelivered(w: &World, token: &str, decision: &str) -> (OrderId, Approval) {
    let (order_id, id) = pending_with_token(w, token).await;
    w.workflow.fail_next();
    let resp = respond(&w.deps, post_form(&id, decision)).await;
    assert_eq!(resp.status_code, 503);
    let a = approval(w, &order_id);
    assert_eq!(a.decision().map(|d| d.as_str()), Some(decision));
    assert!(!a.delivered);
    (order_id, a)
}

fn approval(w: &World, order_id: &OrderId) -> Approval {
    w.store.approvals_of(order_id).remove(0)
}

fn sent(w: &World) -> Vec<(String, Value)> {
    w.workflow
        .task_results()
        .into_iter()
        .map(|(t, v)| (t.expose_secret().to_owned(), v))
        .collect()
}

#[tokio::test]
async fn a_record_of_an_undelivered_decision_delivers_it_once() {
    let w = world();
    let (order_id, a) = undelivered(&w, "token-a", "approve").await;
    let decided = record("MODIFY", "100", &a.approval_id, Some(image(&a)));
    // The same approval twice in a batch (an operator touched it): one delivery.
    let again = record("MODIFY", "101", &a.approval_id, Some(image(&a)));

    let reply = invoke(&w.deps, stream(vec![decided, again])).await;

    assert_eq!(failures(&reply), Vec::<Value>::new());
    let sent = sent(&w);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "token-a");
    assert_eq!(sent[0].1["approved"], true);
    assert_eq!(
        sent[0].1["decidedAt"],
        json!(a.decided_at.unwrap()),
        "the time of the click, not of the redelivery"
    );
    let now = approval(&w, &order_id);
    assert_eq!(
        (now.status, now.delivered),
        (ApprovalStatus::Approved, true)
    );
    assert_eq!(
        w.store.order(&order_id).unwrap().status(),
        OrderStatus::Approved
    );
}

#[tokio::test]
async fn a_decision_the_click_delivered_is_not_sent_again_by_its_record() {
    // The decide write's record still says "not delivered" when it arrives
    // (or is retried) after the POST delivered the decision.
    let w = world();
    let (order_id, id) = pending_with_token(&w, "token-a").await;
    let mut at_decide = approval(&w, &order_id);
    at_decide.status = ApprovalStatus::Rejected;
    assert_eq!(
        respond(&w.deps, post_form(&id, "reject")).await.status_code,
        200
    );

    let reply = invoke(
        &w.deps,
        stream(vec![record("MODIFY", "100", &id, Some(image(&at_decide)))]),
    )
    .await;

    assert_eq!(failures(&reply), Vec::<Value>::new());
    assert_eq!(sent(&w).len(), 1, "sent by the click only");
    assert_eq!(sent(&w)[0].1["approved"], false);
    let now = approval(&w, &order_id);
    assert_eq!(
        (now.status, now.delivered),
        (ApprovalStatus::Rejected, true)
    );
}

#[tokio::test]
async fn a_record_for_an_execution_that_stopped_waiting_expires_the_approval_and_is_done() {
    let w = world();
    let (order_id, a) = undelivered(&w, "token-a", "approve").await;
    w.workflow
        .make_gone(&TaskToken::new("token-a").unwrap(), TaskGone::TimedOut);

    let reply = invoke(
        &w.deps,
        stream(vec![record(
            "MODIFY",
            "100",
            &a.approval_id,
            Some(image(&a)),
        )]),
    )
    .await;

    assert_eq!(failures(&reply), Vec::<Value>::new(), "no retry can help");
    assert!(sent(&w).is_empty());
    let now = approval(&w, &order_id);
    assert_eq!(
        (now.status, now.delivered),
        (ApprovalStatus::Expired, false),
        "SendTaskSuccess said the task is gone: expired, never delivered"
    );
}

#[tokio::test]
async fn records_that_are_not_an_undelivered_decision_are_ignored() {
    // The table holds an undelivered decision; only the records decide.
    let w = world();
    let (order_id, a) = undelivered(&w, "token-a", "approve").await;
    let id = &a.approval_id;
    let as_created = Approval {
        status: ApprovalStatus::Pending,
        decided_at: None,
        ..a.clone()
    };
    let delivered = Approval {
        delivered: true,
        ..a.clone()
    };
    let expired = Approval {
        status: ApprovalStatus::Expired,
        ..a.clone()
    };
    let ignored = vec![
        record("INSERT", "100", id, Some(image(&as_created))),
        record("MODIFY", "101", id, Some(image(&delivered))),
        record("MODIFY", "102", id, Some(image(&expired))),
        record("REMOVE", "103", id, None),
        record("MODIFY", "104", id, Some(json!({}))),
    ];

    let reply = invoke(&w.deps, stream(ignored)).await;

    assert_eq!(failures(&reply), Vec::<Value>::new());
    assert!(sent(&w).is_empty(), "{:?}", sent(&w));
    assert_eq!(approval(&w, &order_id), a, "nothing changed");

    // The same approval's decided record is acted on.
    invoke(
        &w.deps,
        stream(vec![record("MODIFY", "105", id, Some(image(&a)))]),
    )
    .await;
    assert_eq!(sent(&w).len(), 1);
}

/// Step Functions unreachable for one task token.
struct UnreachableFor {
    token: &'static str,
    inner: Arc<MemoryWorkflow>,
}

#[async_trait]
impl Workflow for UnreachableFor {
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError> {
        self.inner.start_execution(name, input).await
    }

    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        if token.expose_secret() == self.token {
            return Err(WorkflowError::Store(StoreError::transient(
                "workflow.send_task_success",
                "connection reset",
            )));
        }
        self.inner.send_task_success(token, output).await
    }

    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        self.inner.execution_exists(name).await
    }
}

#[tokio::test]
async fn a_failed_redelivery_is_reported_as_its_records_batch_item_failure() {
    let w = world();
    let (failing_order, failing) = undelivered(&w, "token-a", "approve").await;
    let (other_order, other) = undelivered(&w, "token-b", "reject").await;
    let deps = Deps {
        workflow: Arc::new(UnreachableFor {
            token: "token-a",
            inner: w.workflow.clone(),
        }),
        ..w.deps.clone()
    };

    let reply = invoke(
        &deps,
        stream(vec![
            record("MODIFY", "200", &failing.approval_id, Some(image(&failing))),
            record("MODIFY", "201", &other.approval_id, Some(image(&other))),
        ]),
    )
    .await;

    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "200"}]}),
        "only the failed record is retried"
    );
    assert!(!approval(&w, &failing_order).delivered, "retried later");
    let now = approval(&w, &other_order);
    assert_eq!(
        (now.status, now.delivered),
        (ApprovalStatus::Rejected, true)
    );
    assert_eq!(sent(&w).len(), 1);
    assert_eq!(sent(&w)[0].0, "token-b");

    // A failed read of the approval is retried too.
    w.store.fail_next("approvals.get", true);
    let reply = invoke(
        &w.deps,
        stream(vec![record(
            "MODIFY",
            "202",
            &failing.approval_id,
            Some(image(&failing)),
        )]),
    )
    .await;
    assert_eq!(failures(&reply), vec![json!({"itemIdentifier": "202"})]);
}

#[tokio::test]
async fn http_events_are_still_answered_as_http() {
    let w = world();
    let (_, id) = pending_with_token(&w, "token-a").await;
    let req = event(Method::GET, &format!("/approvals/{id}"), &[], None);
    let invocation: Invocation =
        serde_json::from_value(serde_json::to_value(&req).unwrap()).unwrap();
    assert!(matches!(invocation, Invocation::Http(_)), "{invocation:?}");

    let reply = serde_json::to_value(invoke(&w.deps, invocation).await).unwrap();

    assert_eq!(reply["statusCode"], 200);
    assert!(reply["body"].as_str().unwrap().contains("Approve"));
}

#[tokio::test]
async fn a_malformed_stream_event_is_a_parse_error_naming_the_stream_shape() {
    let err = serde_json::from_value::<Invocation>(json!({"Records": [{"eventName": "MODIFY"}]}))
        .unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
}

#[tokio::test]
async fn the_stream_filter_names_the_stored_attributes() {
    let w = world();
    let (_, a) = undelivered(&w, "token-a", "approve").await;
    let stored = serde_json::to_value(&a).unwrap();

    let filter = stream_filter();

    let wanted = &filter["dynamodb"]["NewImage"];
    for name in wanted.as_object().unwrap().keys() {
        assert!(
            stored.get(name).is_some(),
            "an approval has no attribute {name}"
        );
    }
    assert_eq!(
        wanted["status"]["S"],
        json!([stored["status"], "REJECTED"]),
        "decided statuses as stored"
    );
    assert_eq!(stored["delivered"], false);
    assert_eq!(wanted["delivered"]["BOOL"], json!([false]));
    assert_eq!(filter["eventName"], json!(["INSERT", "MODIFY"]));
}
