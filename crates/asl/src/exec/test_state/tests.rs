//! TestState through the engine: each state type, both query languages,
//! mocks, retriers and catchers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::clock::RealClock;

/// Answers every task with `{"echo": <its parameters>}`.
#[derive(Debug)]
struct Echo;

#[async_trait::async_trait]
impl TaskHost for Echo {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        Ok(TaskOutput::Output(json!({ "echo": req.parameters })))
    }
}

fn engine() -> Engine {
    Engine::new(Arc::new(Echo), Arc::new(RealClock))
}

async fn test(state: Value, req: TestStateInput) -> TestStateOutcome {
    let def = TestDefinition::parse(&state.to_string(), None).expect("a valid state");
    engine().test_state(&def, req).await.expect("the test runs")
}

fn input(v: Value) -> TestStateInput {
    TestStateInput {
        input: v,
        ..TestStateInput::default()
    }
}

fn mocked(v: Value, mock: TestMock) -> TestStateInput {
    TestStateInput {
        mock: Some(mock),
        ..input(v)
    }
}

fn error(name: &str, cause: &str) -> TestMock {
    TestMock::Error {
        error: name.into(),
        cause: Some(cause.into()),
    }
}

#[tokio::test]
async fn a_jsonpath_pass_state_reports_every_stage() {
    let state = json!({
        "Type": "Pass",
        "InputPath": "$.order",
        "Parameters": {"id.$": "$.id", "kind": "pass"},
        "ResultPath": "$.copied",
        "OutputPath": "$.copied",
        "Next": "Ship"
    });
    let o = test(state, input(json!({"order": {"id": 7}, "other": 1}))).await;
    assert_eq!(o.status, TestStatus::Succeeded);
    assert_eq!(o.next_state.as_deref(), Some("Ship"));
    assert_eq!(o.output, Some(json!({"id": 7, "kind": "pass"})));
    let i = &o.inspection;
    assert_eq!(i.input, Some(json!({"order": {"id": 7}, "other": 1})));
    assert_eq!(i.after_input_path, Some(json!({"id": 7})));
    assert_eq!(i.after_parameters, Some(json!({"id": 7, "kind": "pass"})));
    assert_eq!(i.result, i.after_parameters);
    assert_eq!(
        i.after_result_path,
        Some(json!({"order": {"id": 7}, "other": 1, "copied": {"id": 7, "kind": "pass"}}))
    );
    assert_eq!(i.variables, None);
}

#[tokio::test]
async fn a_jsonata_task_reports_its_arguments_and_the_variables_after_assign() {
    let state = json!({
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": "charge", "Payload": {"amount": "{% $states.input.amount * $rate %}"}},
        "Assign": {"charged": "{% $states.result.Payload.echo.Payload.amount %}"},
        "Output": "{% {'total': $states.result.Payload.echo.Payload.amount} %}",
        "End": true
    });
    let req = TestStateInput {
        variables: serde_json::from_value(json!({"rate": 2})).unwrap_or_default(),
        ..input(json!({"amount": 21}))
    };
    let o = test(state, req).await;
    assert_eq!(o.status, TestStatus::Succeeded, "{o:?}");
    assert_eq!(o.next_state, None);
    assert_eq!(o.output, Some(json!({"total": 42})));
    let i = &o.inspection;
    assert_eq!(
        i.after_arguments,
        Some(json!({"FunctionName": "charge", "Payload": {"amount": 42}}))
    );
    assert_eq!(i.after_parameters, None, "JSONata has no Parameters stage");
    assert_eq!(
        i.result
            .as_ref()
            .and_then(|r| r.pointer("/Payload/echo/Payload/amount")),
        Some(&json!(42))
    );
    assert_eq!(
        i.variables.as_ref().map(|v| Value::Object(v.clone())),
        Some(json!({"rate": 2, "charged": 42}))
    );
}

#[tokio::test]
async fn a_choice_state_names_the_rule_it_took() {
    let state = json!({
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Approve"},
            {"Variable": "$.total", "NumericGreaterThan": 10, "Next": "Charge"}
        ],
        "Default": "Reject"
    });
    let o = test(state.clone(), input(json!({"total": 50}))).await;
    assert_eq!(o.next_state.as_deref(), Some("Charge"));
    assert_eq!(o.output, Some(json!({"total": 50})));
    let o = test(state, input(json!({"total": 1}))).await;
    assert_eq!(o.next_state.as_deref(), Some("Reject"));
}

fn task_with_handlers() -> Value {
    json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "pay", "Payload.$": "$"},
        "ResultSelector": {"paid.$": "$.Payload.ok"},
        "ResultPath": "$.payment",
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2}],
        "Catch": [
            {"ErrorEquals": ["Other"], "Next": "Elsewhere"},
            {"ErrorEquals": ["Declined", "Busy"], "ResultPath": "$.failure", "Next": "Refund"}
        ],
        "Next": "Ship"
    })
}

#[tokio::test]
async fn a_mocked_result_goes_through_result_selector_and_result_path() {
    let mock = TestMock::Result(json!({"Payload": {"ok": true}, "StatusCode": 200}));
    let o = test(task_with_handlers(), mocked(json!({"id": 1}), mock)).await;
    assert_eq!(o.status, TestStatus::Succeeded);
    assert_eq!(o.next_state.as_deref(), Some("Ship"));
    assert_eq!(o.output, Some(json!({"id": 1, "payment": {"paid": true}})));
    let i = &o.inspection;
    assert_eq!(
        i.after_parameters,
        Some(json!({"FunctionName": "pay", "Payload": {"id": 1}}))
    );
    assert_eq!(
        i.result,
        Some(json!({"Payload": {"ok": true}, "StatusCode": 200}))
    );
    assert_eq!(i.after_result_selector, Some(json!({"paid": true})));
    assert_eq!(i.after_result_path, o.output);
}

#[tokio::test]
async fn a_mocked_error_a_catcher_takes_is_caught_error_with_its_next() {
    let mock = error("Declined", "card declined");
    let o = test(task_with_handlers(), mocked(json!({"id": 1}), mock)).await;
    assert_eq!(o.status, TestStatus::CaughtError);
    assert_eq!(o.next_state.as_deref(), Some("Refund"));
    assert_eq!(o.error.as_deref(), Some("Declined"));
    assert_eq!(o.cause.as_deref(), Some("card declined"));
    assert_eq!(
        o.output,
        Some(json!({"id": 1, "failure": {"Error": "Declined", "Cause": "card declined"}}))
    );
    let details = o.inspection.error_details.unwrap_or_default();
    assert_eq!(details.catch_index, Some(1));
    assert_eq!(details.retry_index, None);
}

#[tokio::test]
async fn a_retried_error_is_retriable_with_its_backoff_until_the_attempts_are_used() {
    let o = test(
        task_with_handlers(),
        mocked(json!({}), error("Busy", "later")),
    )
    .await;
    assert_eq!(o.status, TestStatus::Retriable);
    assert_eq!(o.next_state, None);
    assert_eq!(o.output, None);
    assert_eq!(o.error.as_deref(), Some("Busy"));
    let details = o.inspection.error_details.unwrap_or_default();
    assert_eq!(details.retry_index, Some(0));
    assert_eq!(details.retry_backoff_interval_seconds, Some(2));
    // The second retry waits IntervalSeconds × BackoffRate.
    let req = TestStateInput {
        retrier_retry_count: 1,
        ..mocked(json!({}), error("Busy", "later"))
    };
    let o = test(task_with_handlers(), req).await;
    let details = o.inspection.error_details.unwrap_or_default();
    assert_eq!(details.retry_backoff_interval_seconds, Some(6));
    // MaxAttempts used up: the catcher takes it.
    let req = TestStateInput {
        retrier_retry_count: 2,
        ..mocked(json!({}), error("Busy", "later"))
    };
    let o = test(task_with_handlers(), req).await;
    assert_eq!(o.status, TestStatus::CaughtError);
    assert_eq!(o.next_state.as_deref(), Some("Refund"));
}

#[tokio::test]
async fn an_error_nothing_takes_fails_the_state() {
    let o = test(task_with_handlers(), mocked(json!({}), error("Boom", "x"))).await;
    assert_eq!(o.status, TestStatus::Failed);
    assert_eq!(
        (o.error.as_deref(), o.cause.as_deref()),
        (Some("Boom"), Some("x"))
    );
    assert_eq!((o.output, o.next_state), (None, None));
}

#[tokio::test]
async fn an_unmocked_task_calls_the_engine_host() {
    let state = json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f", "End": true});
    let o = test(state, input(json!({"a": 1}))).await;
    assert_eq!(o.status, TestStatus::Succeeded);
    assert_eq!(o.output, Some(json!({"echo": {"a": 1}})));
    assert_eq!(o.inspection.after_parameters, Some(json!({"a": 1})));
}

#[tokio::test]
async fn a_fail_state_fails_with_its_error_and_cause() {
    let state = json!({"Type": "Fail", "Error": "OrderRejected", "Cause": "too big"});
    let o = test(state, input(json!({}))).await;
    assert_eq!(o.status, TestStatus::Failed);
    assert_eq!(o.error.as_deref(), Some("OrderRejected"));
    assert_eq!(o.cause.as_deref(), Some("too big"));
}

#[tokio::test]
async fn a_wait_state_does_not_wait() {
    let state = json!({"Type": "Wait", "Seconds": 3600, "Next": "Go"});
    let run = test(state, input(json!({"x": 1})));
    let o = tokio::time::timeout(Duration::from_secs(5), run).await;
    let o = o.expect("the hour-long Wait state returned at once");
    assert_eq!(o.next_state.as_deref(), Some("Go"));
    assert_eq!(o.output, Some(json!({"x": 1})));
}

#[tokio::test]
async fn a_mocked_map_state_reports_its_items_and_uses_the_mock_as_its_result() {
    let state = json!({
        "Type": "Map",
        "ItemsPath": "$.lines",
        "ItemSelector": {"sku.$": "$$.Map.Item.Value.sku", "index.$": "$$.Map.Item.Index"},
        "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
        "ResultPath": "$.reserved",
        "End": true
    });
    let req = mocked(
        json!({"lines": [{"sku": "a"}, {"sku": "b"}]}),
        TestMock::Result(json!(["ok", "ok"])),
    );
    let o = test(state, req).await;
    assert_eq!(o.status, TestStatus::Succeeded, "{o:?}");
    assert_eq!(
        o.inspection.after_item_selector,
        Some(json!([{"sku": "a", "index": 0}, {"sku": "b", "index": 1}]))
    );
    assert_eq!(o.inspection.max_concurrency, Some(2));
    assert_eq!(
        o.output.and_then(|v| v.get("reserved").cloned()),
        Some(json!(["ok", "ok"]))
    );
}

#[tokio::test]
async fn mocks_are_required_or_refused_by_state_type() {
    let map = json!({"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true});
    let def = TestDefinition::parse(&map.to_string(), None).expect("valid");
    let e = engine().test_state(&def, input(json!([]))).await;
    assert!(matches!(e, Err(TestStateError::NeedsMock(_))), "{e:?}");
    let pass = json!({"Type": "Pass", "End": true});
    let def = TestDefinition::parse(&pass.to_string(), None).expect("valid");
    let e = engine()
        .test_state(&def, mocked(json!({}), TestMock::Result(json!(1))))
        .await;
    assert_eq!(e, Err(TestStateError::MockNotAllowed("Pass")));
}

#[test]
fn invalid_definitions_point_into_the_state_as_written() {
    let e = TestDefinition::parse(
        r#"{"Type": "Pass", "InputPath": "nope", "End": true}"#,
        None,
    );
    let Err(TestStateError::InvalidDefinition(problems)) = e else {
        panic!("expected InvalidDefinition, got {e:?}");
    };
    assert!(
        problems.iter().any(|p| p.pointer == "/InputPath"),
        "{problems:?}"
    );
    let e = TestDefinition::parse(r#"{"StartAt": "A", "States": {}}"#, None);
    assert!(
        matches!(&e, Err(TestStateError::InvalidDefinition(p)) if p[0].message.contains("name of the state")),
        "{e:?}"
    );
    assert!(matches!(
        TestDefinition::parse("{", None),
        Err(TestStateError::InvalidDefinition(_))
    ));
}

#[tokio::test]
async fn a_state_of_a_whole_machine_is_tested_by_name_at_any_depth() {
    let machine = json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Result": {"x": 1}, "Next": "Last"}, "Last": {"Type": "Succeed"}}}
            ]}
        }
    });
    let text = machine.to_string();
    let def = TestDefinition::parse(&text, Some("Inner")).expect("valid");
    assert_eq!(def.state_name(), "Inner");
    let o = engine().test_state(&def, input(json!({}))).await;
    let o = o.expect("runs");
    assert_eq!(o.output, Some(json!({"x": 1})));
    assert_eq!(o.next_state.as_deref(), Some("Last"));
    assert_eq!(
        TestDefinition::parse(&text, Some("Nope")).err(),
        Some(TestStateError::NoSuchState("Nope".into()))
    );
}

#[tokio::test]
async fn a_pass_state_result_wins_over_parameters_as_in_an_execution() {
    let state = json!({"Type": "Pass", "Result": {"r": 1}, "Parameters": {"x.$": "$.missing"}, "End": true});
    let o = test(state, input(json!({}))).await;
    assert_eq!(o.status, TestStatus::Succeeded, "{o:?}");
    assert_eq!(o.output, Some(json!({"r": 1})));
}

#[tokio::test]
async fn a_mocked_callback_task_takes_the_mock_without_waiting_for_a_token() {
    let state = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
        "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message.$": "$$.Task.Token"},
        "End": true
    });
    let def = TestDefinition::parse(&state.to_string(), None).expect("valid");
    let e = engine().test_state(&def, input(json!({}))).await;
    assert!(matches!(e, Err(TestStateError::NeedsMock(_))), "{e:?}");
    let run = test(
        state,
        mocked(json!({}), TestMock::Result(json!({"approved": true}))),
    );
    let o = tokio::time::timeout(Duration::from_secs(5), run).await;
    let o = o.expect("the mock ended the task");
    assert_eq!(o.output, Some(json!({"approved": true})));
}

#[tokio::test]
async fn given_variables_need_names_a_state_could_assign() {
    let def = TestDefinition::parse(r#"{"Type": "Pass", "End": true}"#, None).expect("valid");
    let req = TestStateInput {
        variables: serde_json::from_value(json!({"1bad": 1})).unwrap_or_default(),
        ..input(json!({}))
    };
    let e = engine().test_state(&def, req).await;
    assert!(
        matches!(&e, Err(TestStateError::InvalidVariable(n, _)) if n == "1bad"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_given_context_is_the_context_object_of_the_state() {
    let state = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "f",
            "Payload": {"execution.$": "$$.Execution.Name", "entered.$": "$$.State.EnteredTime", "retry.$": "$$.State.RetryCount"}
        },
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}],
        "End": true
    });
    let req = TestStateInput {
        context: Some(json!({
            "Execution": {"Name": "order-7"},
            "State": {"EnteredTime": "2026-01-02T03:04:05.000Z"}
        })),
        retrier_retry_count: 3,
        ..mocked(json!({}), TestMock::Result(json!({})))
    };
    let o = test(state, req).await;
    assert_eq!(
        o.inspection
            .after_parameters
            .and_then(|p| p.get("Payload").cloned()),
        Some(json!({"execution": "order-7", "entered": "2026-01-02T03:04:05.000Z", "retry": 3}))
    );
}

#[tokio::test]
async fn a_mocked_parallel_state_error_goes_to_its_catcher() {
    let state = json!({
        "Type": "Parallel",
        "Parameters": {"order.$": "$.id"},
        "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}],
        "Catch": [{"ErrorEquals": ["States.BranchFailed"], "Next": "Compensate"}],
        "End": true
    });
    let o = test(
        state,
        mocked(json!({"id": 9}), error("States.BranchFailed", "b")),
    )
    .await;
    assert_eq!(o.status, TestStatus::CaughtError, "{o:?}");
    assert_eq!(o.next_state.as_deref(), Some("Compensate"));
    assert_eq!(o.inspection.after_parameters, Some(json!({"order": 9})));
    assert_eq!(
        o.output,
        Some(json!({"Error": "States.BranchFailed", "Cause": "b"}))
    );
}
