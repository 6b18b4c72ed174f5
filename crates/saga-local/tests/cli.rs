//! The `saga-local` binary: validate, exec and graph.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn saga_local(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saga-local"))
        .args(args)
        .output()
        .expect("run saga-local")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn exec_case(case: &str, extra: &[&str]) -> (Output, Value) {
    let saga = fixture("saga.asl.json");
    let mocks = fixture("mock-config.json");
    let mut args = vec![
        "exec",
        saga.as_str(),
        "--input",
        r#"{"orderId": "o-1"}"#,
        "--mock-config",
        mocks.as_str(),
        "--test-case",
        case,
    ];
    args.extend_from_slice(extra);
    let out = saga_local(&args);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout: {text:?}\n{}",
        stderr(&out)
    );
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    (out, v)
}

#[test]
fn validate_accepts_a_valid_file_with_placeholders() {
    let out = saga_local(&["validate", &fixture("saga.asl.json")]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("OK "));
    assert!(stdout(&out).contains("saga.asl.json (9 states)"));
}

#[test]
fn validate_reports_every_problem_with_its_pointer() {
    let out = saga_local(&[
        "validate",
        &fixture("saga.asl.json"),
        &fixture("invalid.asl.json"),
    ]);

    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("invalid.asl.json: /States/A/Next: there is no state named 'Nowhere'"),
        "{err}"
    );
    assert!(
        err.contains("/States/B/Retry/0/ErrorEquals: States.ALL must appear alone"),
        "{err}"
    );
    assert!(
        err.contains("/States/B: state 'B' is not reachable"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("OK "),
        "the valid file is still reported"
    );
}

#[test]
fn validate_names_unknown_placeholders() {
    let dir = std::env::temp_dir().join(format!("saga-local-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("p.asl.json");
    std::fs::write(&f, r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${orders_table}", "End": true}}}"#).unwrap();

    let out = saga_local(&["validate", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("orders_table"), "{}", stderr(&out));

    let ok = saga_local(&[
        "validate",
        f.to_str().unwrap(),
        "--var",
        "orders_table=orders",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
}

#[test]
fn exec_happy_path_succeeds() {
    let (out, v) = exec_case("HappyPath", &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        v,
        json!({
            "status": "SUCCEEDED",
            "output": {
                "orderId": "o-1",
                "validated": {"order": {"orderId": "o-1", "totalCents": 1500, "requiresApproval": false}},
                "payment": {"chargeId": "ch-1"}
            },
            "error": null,
            "cause": null
        })
    );
}

#[test]
fn exec_mocked_wait_for_task_token_completes_with_its_response() {
    let (out, v) = exec_case("NeedsApproval", &[]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["output"]["approval"], json!({"approved": true}));
}

#[test]
fn exec_throw_path_retries_then_succeeds_and_history_goes_to_stderr() {
    let (out, v) = exec_case("FlakyValidation", &["--history"]);

    assert_eq!(out.status.code(), Some(0));
    assert_eq!(v["status"], "SUCCEEDED");
    let events: Vec<Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = events.iter().filter(|e| e["type"] == "TaskFailed").count();
    assert_eq!(failed, 2, "two throttled attempts before the mocked Return");
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");
    let first_failure = events.iter().find(|e| e["type"] == "TaskFailed").unwrap();
    assert_eq!(
        first_failure["taskFailedEventDetails"]["error"],
        "Transient"
    );
}

#[test]
fn exec_throw_path_exhausts_retries_and_is_caught() {
    let (out, v) = exec_case("PaymentUnavailable", &[]);

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["error"], "PaymentUnavailable");
    assert_eq!(v["cause"], "provider 503");
}

#[test]
fn exec_declined_payment_fails_with_the_lambda_error() {
    let (out, v) = exec_case("Declined", &[]);

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["error"], "PaymentDeclined");
    let cause: Value = serde_json::from_str(v["cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "card refused");
}

#[test]
fn exec_missing_mock_fails_with_a_clear_message() {
    let (out, v) = exec_case("MissingMock", &[]);

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["error"], "States.Runtime");
    assert!(
        v["cause"].as_str().unwrap().contains(
            "no mocked response for Task state 'ProcessPayment' in test case 'MissingMock'"
        ),
        "{v}"
    );
}

#[test]
fn exec_without_mock_config_explains_how_to_mock() {
    let out = saga_local(&["exec", &fixture("saga.asl.json")]);

    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(v["cause"].as_str().unwrap().contains("--mock-config"));
}

#[test]
fn exec_rejects_bad_arguments_with_exit_2() {
    let saga = fixture("saga.asl.json");
    let mocks = fixture("mock-config.json");
    let bad_input = saga_local(&["exec", &saga, "--input", "{nope"]);
    assert_eq!(bad_input.status.code(), Some(2));
    assert!(stderr(&bad_input).contains("--input"));

    let bad_case = saga_local(&[
        "exec",
        &saga,
        "--mock-config",
        &mocks,
        "--test-case",
        "Nope",
    ]);
    assert_eq!(bad_case.status.code(), Some(2));
    assert!(
        stderr(&bad_case).contains("HappyPath"),
        "lists the available test cases"
    );

    let invalid = saga_local(&["exec", &fixture("invalid.asl.json")]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(stderr(&invalid).contains("/States/A/Next"));

    let no_case = saga_local(&["exec", &saga, "--mock-config", &mocks]);
    assert_eq!(no_case.status.code(), Some(2));
}

#[test]
fn serve_refuses_a_bad_approval_threshold_with_exit_2() {
    for (flag, value) in [
        ("--approval-threshold-currency", "eur"),
        ("--approval-threshold-cents", "-1"),
    ] {
        let out = saga_local(&["serve", "--port", "0", &format!("{flag}={value}")]);

        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{flag}: {}", stderr(&out));
    }
}

#[test]
fn exec_reads_input_from_a_file() {
    let dir = std::env::temp_dir().join(format!("saga-local-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let def = dir.join("echo.asl.json");
    std::fs::write(&def, r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "Next": "P"}, "P": {"Type": "Pass", "Parameters": {"v.$": "$.v", "name.$": "$$.Execution.Name"}, "End": true}}}"#).unwrap();
    let input = dir.join("input.json");
    std::fs::write(&input, r#"{"v": [1, 2]}"#).unwrap();

    let started = std::time::Instant::now();
    let out = saga_local(&[
        "exec",
        def.to_str().unwrap(),
        "--input",
        &format!("@{}", input.display()),
    ]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        started.elapsed().as_secs() < 30,
        "a one-day wait runs in virtual time"
    );
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["output"], json!({"v": [1, 2], "name": "local"}));
}

#[test]
fn graph_prints_a_mermaid_flowchart() {
    let out = saga_local(&["graph", &fixture("saga.asl.json")]);

    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let g = stdout(&out);
    assert!(g.starts_with("flowchart TD\n"));
    assert!(g.contains("s0[\"ValidateOrder\"]"));
    assert!(g.contains("s1{\"NeedsApproval\"}"));
    assert!(g.contains("s1 -->|\"$.validated.order.requiresApproval == true\"| s3"));
    assert!(g.contains("s1 -->|\"default\"| s4"));
    assert!(g.contains("s4 -. \"catch PaymentDeclined, PaymentUnavailable\" .-> s2"));
    assert!(g.contains("s8 --> stop0(( ))"));
    assert!(g.contains("s2([\"OrderFailed\"]):::fail"));
}

#[test]
fn graph_rejects_invalid_definitions() {
    let out = saga_local(&["graph", &fixture("invalid.asl.json")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_and_exec_reject_jsonata_definition_errors_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("saga-local-ql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("ql.asl.json");
    std::fs::write(
        &f,
        r#"{"QueryLanguage": "JSONata", "StartAt": "A", "States": {
            "A": {"Type": "Pass", "InputPath": "$.x", "Output": {"v": "{% $.x %}"}, "Next": "B"},
            "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}"#,
    )
    .unwrap();
    let path = f.to_str().unwrap();

    let out = saga_local(&["validate", path]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("/States/A/InputPath: 'InputPath' is a JSONPath field"),
        "{err}"
    );
    assert!(
        err.contains("/States/A/Output/v: UNSUPPORTED_JSONATA_EXPRESSION"),
        "{err}"
    );
    assert!(
        err.contains("/States/B: \"QueryLanguage\": \"JSONPath\" is not allowed"),
        "{err}"
    );

    let exec = saga_local(&["exec", path]);
    assert_eq!(exec.status.code(), Some(2));
    assert!(stderr(&exec).contains("/States/A/InputPath"));
}

/// A JSONata version of the fixture's first three steps, named `saga` so
/// the same MockConfigFile test cases apply.
const JSONATA_SAGA: &str = r#"{"QueryLanguage": "JSONata", "StartAt": "ValidateOrder", "States": {
  "ValidateOrder": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Arguments": {"FunctionName": "validate", "Payload": "{% $states.input %}"},
    "Retry": [{"ErrorEquals": ["Transient"], "MaxAttempts": 3, "IntervalSeconds": 1}],
    "Assign": {"order": "{% $states.result.Payload %}"}, "Next": "ProcessPayment"},
  "ProcessPayment": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Arguments": {"FunctionName": "pay", "Payload": {"orderId": "{% $order.orderId %}"}},
    "Catch": [{"ErrorEquals": ["States.ALL"], "Output": {"failed": "{% $states.errorOutput.Error %}"}, "Next": "Failed"}],
    "Next": "Notify"},
  "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
    "Arguments": {"TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": "{% $string($order.totalCents) %}"},
    "Output": {"orderId": "{% $order.orderId %}", "total": "{% $order.totalCents %}"}, "End": true},
  "Failed": {"Type": "Fail", "Error": "{% $states.input.failed %}"}
}}"#;

fn exec_jsonata(case: &str) -> (Output, Value) {
    let dir = std::env::temp_dir().join(format!("saga-local-jsonata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("saga.asl.json");
    std::fs::write(&f, JSONATA_SAGA).unwrap();
    let mocks = fixture("mock-config.json");
    let out = saga_local(&[
        "exec",
        f.to_str().unwrap(),
        "--input",
        r#"{"orderId": "o-1"}"#,
        "--mock-config",
        &mocks,
        "--test-case",
        case,
    ]);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap_or_default();
    (out, v)
}

#[test]
fn exec_runs_a_jsonata_machine_with_the_mock_config() {
    let (out, v) = exec_jsonata("HappyPath");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["output"], json!({"orderId": "o-1", "total": 1500}));

    let (flaky, v) = exec_jsonata("FlakyValidation");
    assert_eq!(flaky.status.code(), Some(0), "{}", stderr(&flaky));
    assert_eq!(v["status"], "SUCCEEDED");

    let (declined, v) = exec_jsonata("Declined");
    assert_eq!(declined.status.code(), Some(1));
    assert_eq!(v["status"], "FAILED");
    assert_ne!(v["error"], Value::Null);
}
