//! CreateStateMachine, DescribeStateMachine, ListStateMachines,
//! UpdateStateMachine, DeleteStateMachine, ValidateStateMachineDefinition.

use aws_sdk_sfn::types::{StateMachineType, ValidateStateMachineDefinitionResultCode};
use saga_local::sfn::SAGA_ARN;
use serde_json::json;

use crate::support::{Local, ROLE, code};

fn pass() -> serde_json::Value {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_is_created_described_listed_updated_and_deleted() {
    let local = Local::start().await;
    let c = &local.client;

    let arn = local.create("hello", &pass()).await;
    assert_eq!(
        arn,
        "arn:aws:states:us-east-1:000000000000:stateMachine:hello"
    );
    // The same request again is the same machine; another definition is not.
    assert_eq!(local.create("hello", &pass()).await, arn);
    let other = json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}});
    let e = c
        .create_state_machine()
        .name("hello")
        .definition(other.to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineAlreadyExists");

    let d = c
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(d.name, "hello");
    assert_eq!(d.role_arn, ROLE);
    assert_eq!(d.r#type, StateMachineType::Standard);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&d.definition).unwrap(),
        pass()
    );
    assert_eq!(d.revision_id.as_deref(), Some("1"));

    let u = c
        .update_state_machine()
        .state_machine_arn(&arn)
        .definition(other.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(u.revision_id.as_deref(), Some("2"));
    let d = c
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&d.definition).unwrap(),
        other
    );

    let e = c
        .update_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "MissingRequiredParameter");

    c.delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    let e = c
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineDoesNotExist");
    // Deleting what is gone succeeds, as in AWS.
    c.delete_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_saga_is_built_in_and_machines_are_listed_in_pages() {
    let local = Local::start().await;
    let c = &local.client;
    for name in ["a", "b", "c"] {
        local.create(name, &pass()).await;
    }

    let d = c
        .describe_state_machine()
        .state_machine_arn(SAGA_ARN)
        .send()
        .await
        .unwrap();
    assert_eq!(d.name, "order-saga");
    assert!(d.definition.contains("ValidateOrder"), "{}", d.definition);
    let e = c
        .delete_state_machine()
        .state_machine_arn(SAGA_ARN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_state_machines()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.state_machines.len() <= 2);
        names.extend(page.state_machines.into_iter().map(|m| m.name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["a", "b", "c", "order-saga"]);
    let e = c
        .list_state_machines()
        .next_token("garbage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidToken");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_names_and_arns_are_refused_as_aws_refuses_them() {
    let local = Local::start().await;
    let c = &local.client;
    let bad = json!({"StartAt": "Nope", "States": {"P": {"Type": "Pass", "Next": "Gone"}}});

    let e = c
        .create_state_machine()
        .name("bad")
        .definition(bad.to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidDefinition");
    let message = e
        .as_service_error()
        .and_then(|s| s.meta().message())
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("SCHEMA_VALIDATION_FAILED"), "{message}");
    assert!(message.contains("/States/P/Next"), "{message}");

    let v = c
        .validate_state_machine_definition()
        .definition(bad.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(v.result, ValidateStateMachineDefinitionResultCode::Fail);
    assert!(v.diagnostics.len() >= 2, "{:?}", v.diagnostics);
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.location.as_deref() == Some("/States/P/Next"))
    );
    let v = c
        .validate_state_machine_definition()
        .definition("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(v.diagnostics[0].code, "INVALID_JSON_DESCRIPTION");
    let v = c
        .validate_state_machine_definition()
        .definition(pass().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(v.result, ValidateStateMachineDefinitionResultCode::Ok);
    assert!(v.diagnostics.is_empty());

    let e = c
        .create_state_machine()
        .name("has space")
        .definition(pass().to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidName");
    let e = c
        .describe_state_machine()
        .state_machine_arn("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArn");
    let e = c
        .describe_state_machine()
        .state_machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "StateMachineDoesNotExist");
    let e = c
        .create_state_machine()
        .name("x")
        .definition(pass().to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "ValidationException", "roleArn is required");
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machines_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        let mut config = saga_local::serve::ServeConfig::new(dir.path());
        config.port = 0;
        config.console = saga_local::serve::console::ConsoleMode::Quiet;
        config.sfn = Some(saga_local::sfn::serve::SfnConfig::default());
        saga_local::serve::Server::start(config).await.unwrap()
    };
    let server = start().await;
    let c = crate::support::client(server.sfn_url().unwrap());
    c.create_state_machine()
        .name("kept")
        .definition(pass().to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    server.shutdown().await.unwrap();

    let server = start().await;
    let c = crate::support::client(server.sfn_url().unwrap());
    let d = c
        .describe_state_machine()
        .state_machine_arn("arn:aws:states:us-east-1:000000000000:stateMachine:kept")
        .send()
        .await
        .unwrap();
    assert_eq!(d.name, "kept");
    server.shutdown().await.unwrap();
}
