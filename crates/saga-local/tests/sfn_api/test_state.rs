//! TestState through the SDK: the stages at DEBUG, variables, Choice,
//! mocks with Retry and Catch, Lambda tasks through `--lambda-endpoint`,
//! and the errors for bad requests.

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::test_state::TestStateOutput;
use aws_sdk_sfn::types::{
    InspectionLevel, MockErrorOutput, MockInput, TestExecutionStatus, TestStateConfiguration,
};
use serde_json::{Value, json};

use crate::support::{Local, ROLE, code};

fn parse(s: Option<&str>) -> Value {
    serde_json::from_str(s.expect("a JSON member")).expect("JSON")
}

/// An inspection data member as JSON.
fn stage(
    o: &TestStateOutput,
    f: impl Fn(&aws_sdk_sfn::types::InspectionData) -> Option<&str>,
) -> Value {
    parse(o.inspection_data().and_then(f))
}

async fn debug(local: &Local, state: &Value, input: &Value) -> TestStateOutput {
    local
        .client
        .test_state()
        .definition(state.to_string())
        .role_arn(ROLE)
        .input(input.to_string())
        .inspection_level(InspectionLevel::Debug)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_state_at_debug_shows_every_stage() {
    let local = Local::start().await;
    let state = json!({"Type": "Pass", "InputPath": "$.order",
        "Parameters": {"id.$": "$.id", "source": "test"}, "ResultPath": "$.copy", "Next": "Ship"});
    let input = json!({"order": {"id": "o-1"}, "keep": true});

    let o = debug(&local, &state, &input).await;

    assert_eq!(o.status(), Some(&TestExecutionStatus::Succeeded));
    assert_eq!(o.next_state(), Some("Ship"));
    let after =
        json!({"order": {"id": "o-1"}, "keep": true, "copy": {"id": "o-1", "source": "test"}});
    assert_eq!(parse(o.output()), after);
    assert_eq!(stage(&o, |i| i.input()), input);
    assert_eq!(stage(&o, |i| i.after_input_path()), json!({"id": "o-1"}));
    assert_eq!(
        stage(&o, |i| i.after_parameters()),
        json!({"id": "o-1", "source": "test"})
    );
    assert_eq!(
        stage(&o, |i| i.result()),
        json!({"id": "o-1", "source": "test"})
    );
    assert_eq!(stage(&o, |i| i.after_result_path()), after);

    // INFO (the default) shows the output but no stages.
    let info = local
        .client
        .test_state()
        .definition(state.to_string())
        .role_arn(ROLE)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(parse(info.output()), after);
    assert!(info.inspection_data().is_none(), "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonata_state_shows_the_variables_it_assigned() {
    let local = Local::start().await;
    let state = json!({"Type": "Pass", "QueryLanguage": "JSONata",
        "Assign": {"total": "{% $states.input.price * $qty %}"},
        "Output": "{% {'priced': true} %}", "End": true});

    let o = local
        .client
        .test_state()
        .definition(state.to_string())
        .role_arn(ROLE)
        .input(json!({"price": 5}).to_string())
        .variables(json!({"qty": 3}).to_string())
        .inspection_level(InspectionLevel::Debug)
        .send()
        .await
        .unwrap();

    assert_eq!(o.status(), Some(&TestExecutionStatus::Succeeded), "{o:?}");
    assert_eq!(parse(o.output()), json!({"priced": true}));
    assert_eq!(o.next_state(), None);
    assert_eq!(stage(&o, |i| i.variables()), json!({"qty": 3, "total": 15}));
    assert!(o.inspection_data().unwrap().after_input_path().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_choice_state_answers_the_next_state() {
    let local = Local::start().await;
    let state = json!({"Type": "Choice", "Choices": [
        {"Variable": "$.total", "NumericGreaterThanEquals": 1000, "Next": "AwaitApproval"}],
        "Default": "Reserve"});

    let big = debug(&local, &state, &json!({"total": 1500})).await;
    let small = debug(&local, &state, &json!({"total": 10})).await;

    assert_eq!(big.next_state(), Some("AwaitApproval"));
    assert_eq!(small.next_state(), Some("Reserve"));
    assert_eq!(parse(small.output()), json!({"total": 10}));
}

fn charge() -> Value {
    json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "ok", "Payload.$": "$"},
        "ResultSelector": {"seen.$": "$.Payload.seen"}, "ResultPath": "$.charge",
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 3, "MaxAttempts": 1}],
        "Catch": [{"ErrorEquals": ["PaymentDeclined"], "ResultPath": "$.error", "Next": "Declined"}],
        "Next": "Ship"})
}

async fn mocked(local: &Local, mock: MockInput, retries: i32) -> TestStateOutput {
    local
        .client
        .test_state()
        .definition(charge().to_string())
        .input(json!({"orderId": "o-1"}).to_string())
        .mock(mock)
        .state_configuration(
            TestStateConfiguration::builder()
                .retrier_retry_count(retries)
                .build(),
        )
        .inspection_level(InspectionLevel::Debug)
        .send()
        .await
        .unwrap()
}

fn throw(error: &str) -> MockInput {
    MockInput::builder()
        .error_output(
            MockErrorOutput::builder()
                .error(error)
                .cause("mocked")
                .build(),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mocked_task_succeeds_is_caught_or_is_retriable() {
    let local = Local::start().await;
    let result = json!({"StatusCode": 200, "Payload": {"seen": "mock"}});
    let ok = MockInput::builder().result(result.to_string()).build();

    let o = mocked(&local, ok, 0).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Succeeded));
    assert_eq!(o.next_state(), Some("Ship"));
    assert_eq!(
        parse(o.output()),
        json!({"orderId": "o-1", "charge": {"seen": "mock"}})
    );
    assert_eq!(stage(&o, |i| i.result()), result);
    assert_eq!(
        stage(&o, |i| i.after_parameters()),
        json!({"FunctionName": "ok", "Payload": {"orderId": "o-1"}})
    );
    assert_eq!(
        stage(&o, |i| i.after_result_selector()),
        json!({"seen": "mock"})
    );

    let o = mocked(&local, throw("PaymentDeclined"), 0).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::CaughtError));
    assert_eq!(o.next_state(), Some("Declined"));
    assert_eq!(o.error(), Some("PaymentDeclined"));
    assert_eq!(
        parse(o.output()),
        json!({"orderId": "o-1", "error": {"Error": "PaymentDeclined", "Cause": "mocked"}})
    );
    let details = o.inspection_data().unwrap().error_details().unwrap();
    assert_eq!(details.catch_index(), Some(0));

    let o = mocked(&local, throw("Busy"), 0).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Retriable));
    assert_eq!((o.next_state(), o.output()), (None, None));
    let details = o.inspection_data().unwrap().error_details().unwrap();
    assert_eq!(details.retry_index(), Some(0));
    assert_eq!(details.retry_backoff_interval_seconds(), Some(3));

    // Its one retry used: nothing catches Busy, the state fails.
    let o = mocked(&local, throw("Busy"), 1).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Failed));
    assert_eq!((o.error(), o.cause()), (Some("Busy"), Some("mocked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmocked_lambda_task_calls_the_lambda_endpoint_or_fails_as_aws() {
    let local = Local::with(true, None).await;
    let o = debug(&local, &charge(), &json!({"orderId": "o-2"})).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Succeeded), "{o:?}");
    assert_eq!(
        parse(o.output()),
        json!({"orderId": "o-2", "charge": {"seen": true}})
    );
    let lambda = local.lambda.as_ref().unwrap();
    assert_eq!(lambda.payloads("ok"), vec![json!({"orderId": "o-2"})]);

    // No --lambda-endpoint: the function is not found, as on AWS.
    let bare = Local::start().await;
    let o = debug(&bare, &charge(), &json!({})).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Failed));
    assert_eq!(o.error(), Some("Lambda.ResourceNotFoundException"));
    assert!(o.cause().unwrap().contains("function:ok"), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fail_state_fails_with_its_error_and_cause() {
    let local = Local::start().await;
    let state = json!({"Type": "Fail", "Error": "OrderRejected", "Cause": "the approver said no"});
    let o = debug(&local, &state, &json!({})).await;
    assert_eq!(o.status(), Some(&TestExecutionStatus::Failed));
    assert_eq!(o.error(), Some("OrderRejected"));
    assert_eq!(o.cause(), Some("the approver said no"));
    assert_eq!(o.output(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_state_of_a_whole_machine_is_tested_by_state_name() {
    let local = Local::start().await;
    let machine = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Result": {"from": "B"}, "End": true}}});
    let o = local
        .client
        .test_state()
        .definition(machine.to_string())
        .state_name("B")
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(parse(o.output()), json!({"from": "B"}));
    assert_eq!(o.next_state(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_aws_errors() {
    let local = Local::start().await;
    let c = &local.client;
    let pass = json!({"Type": "Pass", "End": true}).to_string();

    let e = c
        .test_state()
        .definition(r#"{"Type": "Pass", "Next": "X", "End": true}"#)
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidDefinition");
    let message = e
        .as_service_error()
        .and_then(|s| s.message())
        .unwrap_or_default();
    assert!(
        message.starts_with("Invalid State Machine Definition"),
        "{message}"
    );

    let e = c
        .test_state()
        .definition(&pass)
        .role_arn(ROLE)
        .inspection_level(InspectionLevel::from("LOUD"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    let e = c
        .test_state()
        .definition(&pass)
        .role_arn(ROLE)
        .input("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidExecutionInput");

    // No role and no mock; a mock for a Pass state; a machine without the state.
    let no_role = c.test_state().definition(&pass).send().await.unwrap_err();
    assert_eq!(code(&no_role), "ValidationException");
    let mock = MockInput::builder().result("{}").build();
    let e = c
        .test_state()
        .definition(&pass)
        .mock(mock)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
    let e = c
        .test_state()
        .definition(charge().to_string())
        .role_arn(ROLE)
        .context(json!({"Execution": {"Name": "x"}}).to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "context without a mock");
    let machine = json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}});
    let e = c
        .test_state()
        .definition(machine.to_string())
        .state_name("Nope")
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");
}
