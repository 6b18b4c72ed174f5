//! Error mapping through the real SDK: throttling, 5xx and connection failures
//! are `Transient`; access denied, a missing table or topic are permanent
//! (`InternalError`); ConditionalCheckFailed and TransactionCanceled are
//! business outcomes, not errors. moto never throttles, so throttling answers
//! are injected as responses the SDK then parses (`support::Fault`).

use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use saga_aws::{DynamoStore, SfnWorkflow, SnsNotifier, TableName, Tables, TopicArns};
use saga_core::OrderId;
use saga_core::approval::TaskToken;
use saga_core::fixtures::received_order;
use saga_core::order::{Change, OrderStatus, OrderUpdate, Reservation};
use saga_core::ports::{
    Message, Notifier, OrderStore, StockReservations, StoreError, TaskGone, Topic, Workflow,
    WorkflowError,
};
use serde_json::json;

use crate::orders::t0;
use crate::support::{Fault, Moto};

const DDB: &str = "com.amazonaws.dynamodb.v20120810#";

async fn faulty_store(moto: &Moto, fault: Fault) -> DynamoStore {
    let tables = moto.tables(&[TableName::Products, TableName::Orders]).await;
    DynamoStore::from_client(moto.dynamodb_with_fault(fault), tables)
}

fn assert_transient(err: &StoreError, operation: &str) {
    assert!(
        matches!(err, StoreError::Transient { operation: op, .. } if *op == operation),
        "{operation}: expected Transient, got {err:?}"
    );
    assert_eq!(err.error_name(), "Transient");
}

#[tokio::test]
async fn dynamodb_throttling_codes_are_transient() {
    let moto = Moto::connect().await;
    for code in [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
    ] {
        let store = faulty_store(
            &moto,
            Fault::json(&format!("{DDB}{code}"), 400, json!({}), 1),
        )
        .await;
        let err = store.get(&OrderId::generate(t0())).await.unwrap_err();
        assert_transient(&err, "orders.get");
        let StoreError::Transient { source, .. } = &err else {
            unreachable!()
        };
        let sdk = source
            .downcast_ref::<SdkError<GetItemError, HttpResponse>>()
            .expect("the SDK error is the source");
        assert_eq!(sdk.code(), Some(code));
    }
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let moto = Moto::connect().await;
    let store = faulty_store(
        &moto,
        Fault::json(&format!("{DDB}InternalServerError"), 500, json!({}), 1),
    )
    .await;
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());

    let err = store.insert(&order).await.unwrap_err();

    assert_transient(&err, "orders.insert");
}

#[tokio::test]
async fn a_cancelled_transaction_for_throttling_or_conflict_is_transient() {
    let moto = Moto::connect().await;
    for reason in [
        "ThrottlingError",
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
    ] {
        // The real request (an unknown order) is cancelled by moto anyway;
        // the injected answer says why as DynamoDB would under load.
        let fault = Fault::json(
            &format!("{DDB}TransactionCanceledException"),
            400,
            json!({"CancellationReasons": [{"Code": "None"}, {"Code": reason, "Message": "busy"}]}),
            1,
        );
        let store = faulty_store(&moto, fault).await;
        let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
        let update = OrderUpdate::transition(
            OrderStatus::Reserved,
            &[OrderStatus::Validated],
            vec![Change::Reservation(Reservation {
                lines: order.items().to_vec(),
                reserved_at: t0(),
                released_at: None,
            })],
            t0(),
        );

        let err = store
            .reserve(order.order_id(), order.items(), &update)
            .await
            .unwrap_err();

        assert_transient(&err, "stock.reserve");
        let chain = saga_core::ports::error_chain(&err);
        assert!(chain.contains(&format!("1:{reason}")), "{chain}");
    }
}

#[tokio::test]
async fn access_denied_is_permanent() {
    let moto = Moto::connect().await;
    let store = faulty_store(
        &moto,
        Fault::json(&format!("{DDB}AccessDeniedException"), 400, json!({}), 1),
    )
    .await;

    let err = store.get(&OrderId::generate(t0())).await.unwrap_err();

    assert!(
        matches!(
            err,
            StoreError::Permanent {
                operation: "orders.get",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.error_name(), "InternalError");
}

#[tokio::test]
async fn a_missing_table_is_permanent_and_keeps_the_sdk_error() {
    let moto = Moto::connect().await;
    let store = DynamoStore::from_client(
        moto.dynamodb(),
        Tables::new().with(TableName::Orders, "no-such-table"),
    );

    let err = store.get(&OrderId::generate(t0())).await.unwrap_err();

    let StoreError::Permanent { operation, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*operation, "orders.get");
    let sdk = source
        .downcast_ref::<SdkError<GetItemError, HttpResponse>>()
        .unwrap();
    assert_eq!(sdk.code(), Some("ResourceNotFoundException"));
    assert!(
        store.warm_up().await.is_err(),
        "warm_up reports a missing table at init"
    );
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let moto = Moto::connect().await;
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = aws_sdk_dynamodb::config::Builder::from(&moto.sdk)
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(RetryConfig::disabled())
        .build();
    let store = DynamoStore::from_client(
        aws_sdk_dynamodb::Client::from_conf(conf),
        Tables::new().with(TableName::Orders, "orders"),
    );

    let err = store.get(&OrderId::generate(t0())).await.unwrap_err();

    assert_transient(&err, "orders.get");
}

#[tokio::test]
async fn condition_failures_are_outcomes_not_errors() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Orders]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables);
    let order = received_order(&[("SKU-1", 1)], "tok_visa", "10115", t0());
    store.insert(&order).await.unwrap();

    let outcome = store
        .update(
            order.order_id(),
            &OrderUpdate::transition(OrderStatus::Paid, &[OrderStatus::Approved], vec![], t0()),
        )
        .await;

    assert_eq!(
        outcome.unwrap(),
        saga_core::ports::UpdateOutcome::ConditionFailed
    );
}

#[tokio::test]
async fn sns_throttling_is_transient() {
    let moto = Moto::connect().await;
    let topic = moto.topic("alerts").await;
    let notifier = SnsNotifier::from_client(
        moto.sns_with_fault(Fault::query("Throttling", 400, 1)),
        TopicArns::new().with(Topic::Alerts, &topic),
    );

    let err = notifier
        .publish(
            Topic::Alerts,
            &Message {
                subject: "s".into(),
                body: "b".into(),
            },
        )
        .await
        .unwrap_err();

    assert_transient(&err, "notifier.publish");
}

#[tokio::test]
async fn step_functions_throttling_is_transient_and_a_timed_out_task_is_gone() {
    let moto = Moto::connect().await;
    let arn = crate::workflow::pass_machine(&moto).await;
    let throttled = SfnWorkflow::from_client(
        moto.sfn_with_fault(Fault::json("ThrottlingException", 400, json!({}), 1)),
        &arn,
    );
    let id = OrderId::generate(t0());

    let err = throttled
        .start_execution(&id, &json!({}))
        .await
        .unwrap_err();

    let WorkflowError::Store(err) = err else {
        panic!("{err:?}")
    };
    assert_transient(&err, "workflow.start_execution");

    // moto never answers TaskTimedOut (it forgets timed-out tasks): injected.
    let timed_out = SfnWorkflow::from_client(
        moto.sfn_with_fault(Fault::json("TaskTimedOut", 400, json!({}), 1)),
        &arn,
    );
    let err = timed_out
        .send_task_success(&TaskToken::new("t").unwrap(), &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WorkflowError::TaskGone(TaskGone::TimedOut)),
        "{err:?}"
    );
}
