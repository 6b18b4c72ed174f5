//! A Step Functions Local-style test: one MockConfigFile, two test cases,
//! selected by starting the execution as `<stateMachineArn>#<TestCase>`.

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::{Value, json};

use crate::support::{Local, code};

fn mock_config() -> Value {
    json!({
        "StateMachines": {"checkout": {"TestCases": {
            "HappyPath": {"Charge": "ChargeOk", "Ship": "ShipOk"},
            "Failure": {"Charge": "ChargeDeclined"}
        }}},
        "MockedResponses": {
            "ChargeOk": {"0": {"Return": {"StatusCode": 200, "Payload": {"chargeId": "ch-1"}}}},
            "ChargeDeclined": {"0": {"Throw": {"Error": "PaymentDeclined", "Cause": "card declined"}}},
            "ShipOk": {"0": {"Return": {"trackingNumber": "TRK-1"}}}
        }
    })
}

fn checkout() -> Value {
    json!({"StartAt": "Charge", "States": {
        "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": "pay", "Payload.$": "$"},
                   "ResultSelector": {"chargeId.$": "$.Payload.chargeId"}, "ResultPath": "$.charge",
                   "Catch": [{"ErrorEquals": ["PaymentDeclined"], "ResultPath": "$.error", "Next": "Declined"}],
                   "Next": "Ship"},
        "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:ship",
                 "ResultPath": "$.shipment", "End": true},
        "Declined": {"Type": "Fail", "Error": "PaymentDeclined", "Cause": "the card was declined"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_test_cases_of_one_mock_config_run_as_arn_hash_case() {
    let local = Local::with(false, Some(&mock_config())).await;
    let sm = local.create("checkout", &checkout()).await;

    let happy = local
        .start_execution(
            &format!("{sm}#HappyPath"),
            "happy",
            &json!({"orderId": "o-1"}),
        )
        .await;
    let failure = local
        .start_execution(
            &format!("{sm}#Failure"),
            "failure",
            &json!({"orderId": "o-2"}),
        )
        .await;

    assert_eq!(
        happy,
        "arn:aws:states:us-east-1:000000000000:execution:checkout:happy"
    );
    let d = local.finished(&happy).await;
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    let out: Value = serde_json::from_str(d.output.as_deref().unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"orderId": "o-1", "charge": {"chargeId": "ch-1"}, "shipment": {"trackingNumber": "TRK-1"}})
    );

    let d = local.finished(&failure).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("PaymentDeclined"));
    assert_eq!(d.cause.as_deref(), Some("the card was declined"));

    let e = local
        .client
        .start_execution()
        .state_machine_arn(format!("{sm}#NoSuchCase"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    // Without a test case, the Lambda tasks find no function.
    let plain = local.start_execution(&sm, "plain", &json!({})).await;
    let d = local.finished(&plain).await;
    assert_eq!(d.status, ExecutionStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("Lambda.ResourceNotFoundException"));
    local.server.shutdown().await.unwrap();
}
