//! Redelivery in AWS (issue 11, item 9): approval-callback invoked with the
//! approvals table's stream records, as moto's DynamoDB Streams API returns
//! them, over the real adapters. moto runs no event source mapping: the test
//! reads the stream and invokes the handler as Lambda would.

use aws_sdk_dynamodb::types::AttributeValue;
use saga_core::approval::Decision;

use super::*;
use crate::support::Fault;

impl World {
    /// What approval-callback's main.rs runs, invoked with a stream event of
    /// `records`; the batch item failures it answers.
    async fn stream_invocation(&self, records: Vec<Value>, store: Arc<DynamoStore>) -> Vec<Value> {
        let f = self.f("approval-callback");
        let deps = approval_callback::Deps {
            approvals: store.clone(),
            orders: store,
            workflow: f.workflow.clone(),
            clock: self.clock(),
        };
        let invocation: approval_callback::Invocation =
            serde_json::from_value(json!({"Records": records})).expect("a stream event");
        assert!(
            matches!(invocation, approval_callback::Invocation::Stream(_)),
            "{invocation:?}"
        );
        let reply =
            serde_json::to_value(approval_callback::invoke(&deps, invocation).await).unwrap();
        self.check_permissions(f);
        reply["batchItemFailures"]
            .as_array()
            .expect("a batch response")
            .clone()
    }

    fn approvals_table(&self) -> &str {
        self.tables.name(TableName::Approvals).unwrap()
    }

    /// A decision recorded as the POST records it, with the function stopped
    /// before `SendTaskSuccess` (a timeout, a crash): nothing delivered.
    async fn record_undelivered(&self, approval_id: &ApprovalId, decision: Decision) {
        let outcome = self
            .admin
            .decide(approval_id, decision, self.clock.now())
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            saga_core::ports::DecideOutcome::Decided(_)
        ));
    }

    fn sends(&self) -> usize {
        self.f("approval-callback")
            .recorder
            .calls()
            .iter()
            .filter(|c| c.action == "states:SendTaskSuccess")
            .count()
    }
}

/// The stream record of the write that decided `approval_id`.
fn decided_record(records: &[Value], approval_id: &ApprovalId) -> Value {
    records
        .iter()
        .find(|r| {
            r["dynamodb"]["Keys"]["approvalId"]["S"] == approval_id.as_str()
                && r["dynamodb"]["NewImage"]["status"]["S"] == "APPROVED"
                && r["dynamodb"]["NewImage"]["delivered"]["BOOL"] == false
        })
        .cloned()
        .unwrap_or_else(|| panic!("no decided record in {records:#?}"))
}

#[tokio::test]
async fn a_decision_recorded_but_not_delivered_is_delivered_from_the_stream_once() {
    let w = World::new().await;
    w.moto.enable_stream(w.approvals_table()).await;
    let (id, _, approval_id, _) = awaiting_approval(&w, "key-stream").await;
    w.record_undelivered(&approval_id, Decision::Approve).await;
    let recorded = w.approval(&approval_id).await;
    let records = w.moto.stream_records(w.approvals_table()).await;
    // The approval's creation (PENDING) and its decision, as moto streams them.
    assert_eq!(
        records
            .iter()
            .map(|r| r["eventName"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["INSERT", "MODIFY"],
        "{records:#?}"
    );
    let callback_store = w.f("approval-callback").store.clone();

    let failures = w.stream_invocation(records, callback_store.clone()).await;

    assert_eq!(failures, Vec::<Value>::new());
    let (status, output) = finished(&w.moto, &execution_arn(&w.state_machine, id.as_str())).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["approved"], true);
    assert_eq!(output["decidedAt"], json!(recorded.decided_at.unwrap()));
    let a = w.approval(&approval_id).await;
    assert_eq!((a.status, a.delivered), (ApprovalStatus::Approved, true));
    assert_eq!(w.order(&id).await.status(), OrderStatus::Approved);
    assert_eq!(w.sends(), 1);

    // The stream now also holds the delivered mark. Every record again (a
    // retried batch, a replay): nothing is sent twice, nothing flips.
    let records = w.moto.stream_records(w.approvals_table()).await;
    assert!(
        records.len() >= 3,
        "creation, decision, delivered mark: {records:#?}"
    );
    let failures = w.stream_invocation(records, callback_store).await;
    assert_eq!(failures, Vec::<Value>::new());
    assert_eq!(w.sends(), 1, "SendTaskSuccess once");
    let a = w.approval(&approval_id).await;
    assert_eq!((a.status, a.delivered), (ApprovalStatus::Approved, true));
    assert_eq!(w.order(&id).await.status(), OrderStatus::Approved);
}

#[tokio::test]
async fn a_throttled_redelivery_is_its_records_failure_and_an_operators_write_redelivers_it() {
    let w = World::new().await;
    w.moto.enable_stream(w.approvals_table()).await;
    let (id, _, approval_id, _) = awaiting_approval(&w, "key-stream-throttled").await;
    w.record_undelivered(&approval_id, Decision::Approve).await;
    let records = w.moto.stream_records(w.approvals_table()).await;
    let decided = decided_record(&records, &approval_id);
    let sequence_number = decided["dynamodb"]["SequenceNumber"].clone();
    assert!(sequence_number.is_string(), "{decided:#}");
    // approval-callback's DynamoDB answers its next read with throttling.
    let throttled =
        Fault::json("ProvisionedThroughputExceededException", 400, json!({}), 1).on("GetItem");
    let mut tables = Tables::new();
    for t in [TableName::Orders, TableName::Approvals] {
        tables = tables.with(t, w.tables.name(t).unwrap());
    }
    let throttled_store = Arc::new(DynamoStore::from_client(
        w.moto.dynamodb_with_fault(throttled),
        tables,
    ));

    let failures = w.stream_invocation(records.clone(), throttled_store).await;

    assert_eq!(failures, vec![json!({"itemIdentifier": sequence_number})]);
    let a = w.approval(&approval_id).await;
    assert_eq!((a.status, a.delivered), (ApprovalStatus::Approved, false));
    assert_eq!(w.sends(), 0);

    // Lambda retried and gave up (the alerts topic got the sequence numbers).
    // The operator's fix (docs/deploying.md, "Approving"): write to the item
    // once; the write's record passes the filter and redelivers it.
    aws_sdk_dynamodb::Client::new(&w.moto.sdk)
        .update_item()
        .table_name(w.approvals_table())
        .key(
            "approvalId",
            AttributeValue::S(approval_id.as_str().to_owned()),
        )
        .update_expression("SET redeliveryRequestedAt = :t")
        .expression_attribute_values(":t", AttributeValue::S("2026-12-01T12:00:00Z".to_owned()))
        .send()
        .await
        .expect("UpdateItem (the operator's write)");
    let touched = w
        .moto
        .stream_records(w.approvals_table())
        .await
        .pop()
        .expect("the operator's write is streamed");
    assert_eq!(
        touched["dynamodb"]["NewImage"]["redeliveryRequestedAt"]["S"],
        "2026-12-01T12:00:00Z"
    );

    let failures = w
        .stream_invocation(vec![touched], w.f("approval-callback").store.clone())
        .await;

    assert_eq!(failures, Vec::<Value>::new());
    let (status, output) = finished(&w.moto, &execution_arn(&w.state_machine, id.as_str())).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(
        serde_json::from_str::<Value>(&output.unwrap()).unwrap()["approved"],
        true
    );
    assert_eq!(w.sends(), 1);
    // The raw item, as the stream's filter will read it from now on.
    let item = w
        .moto
        .raw_item(w.approvals_table(), "approvalId", approval_id.as_str())
        .await
        .unwrap();
    assert_eq!(item.get("delivered"), Some(&AttributeValue::Bool(true)));
    assert_eq!(
        item.get("status"),
        Some(&AttributeValue::S("APPROVED".to_owned()))
    );
}
