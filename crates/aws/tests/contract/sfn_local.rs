//! Differential: the small machines of [`crate::workflow`] (and a few more
//! of the same size) run against moto and against `saga-local serve`'s Step
//! Functions API with the same SDK calls, and must give the same observable
//! results: status, output, error and cause, the answers to a name used
//! twice, the errors for unknown executions and tokens. The production
//! adapter (`SfnWorkflow`) runs against both as well.
//!
//! Where moto differs from AWS (and so from saga-local), the test says so
//! and asserts saga-local's AWS behaviour only.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::types::ExecutionStatus;
use saga_aws::SfnWorkflow;
use saga_core::OrderId;
use saga_core::ports::{Started, TaskGone, Workflow, WorkflowError};
use saga_local::serve::console::ConsoleMode;
use saga_local::serve::{RunningServer, ServeConfig, Server};
use serde_json::{Value, json};

use crate::orders::t0;
use crate::support::{Moto, unique};
use crate::workflow::{ROLE_ARN, finished_on};

struct Local {
    server: RunningServer,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path());
    config.port = 0;
    config.console = ConsoleMode::Quiet;
    config.sfn = Some(saga_local::sfn::serve::SfnConfig::default());
    let server = Server::start(config).await.unwrap();
    let conf = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.sfn_url().unwrap())
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .build();
    Local {
        server,
        client: Client::from_conf(conf),
        _dir: dir,
    }
}

/// What a user sees of an execution's end.
#[derive(Debug, PartialEq)]
struct Observed {
    status: ExecutionStatus,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
}

async fn create(client: &Client, definition: &Value) -> String {
    client
        .create_state_machine()
        .name(unique("diff"))
        .definition(definition.to_string())
        .role_arn(ROLE_ARN)
        .send()
        .await
        .unwrap()
        .state_machine_arn
}

async fn run(client: &Client, definition: &Value, input: &Value) -> Observed {
    let machine = create(client, definition).await;
    let arn = client
        .start_execution()
        .state_machine_arn(&machine)
        .name(unique("e"))
        .input(input.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn;
    for _ in 0..200 {
        let d = client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        if d.status != ExecutionStatus::Running {
            return Observed {
                status: d.status,
                output: d
                    .output
                    .map(|o| serde_json::from_str(&o).unwrap_or(Value::String(o))),
                error: d.error,
                cause: d.cause,
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{arn} still running after 10 s");
}

fn code<E: aws_sdk_sfn::error::ProvideErrorMetadata>(e: &E) -> Option<String> {
    e.code().map(str::to_owned)
}

/// Pass, Choice, Fail and Succeed machines, as small as workflow.rs's.
fn machines() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "pass (workflow.rs pass_machine)",
            json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}}),
            json!({"orderId": "o-1"}),
        ),
        (
            "pass with Result and ResultPath",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "End": true}}}),
            json!({"orderId": "o-2"}),
        ),
        (
            "choice",
            json!({"StartAt": "C", "States": {
                "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 5, "Next": "Big"}], "Default": "Small"},
                "Big": {"Type": "Pass", "Result": "big", "End": true},
                "Small": {"Type": "Succeed"}}}),
            json!({"n": 7}),
        ),
        (
            "fail",
            json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "OrderFailed", "Cause": "out of stock"}}}),
            json!({}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_machines_end_alike_on_moto_and_saga_local() {
    let moto = Moto::connect().await;
    let local = local().await;
    for (what, definition, input) in machines() {
        let on_moto = run(&moto.sfn(), &definition, &input).await;
        let on_local = run(&local.client, &definition, &input).await;
        assert_eq!(on_local, on_moto, "{what}");
    }
    local.server.shutdown().await.unwrap();
}

/// workflow.rs's `an_execution_named_by_the_order_id_starts_once`, through
/// the production adapter, on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_starts_an_execution_once_on_both() {
    let moto = Moto::connect().await;
    let local = local().await;
    let pass = json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    for client in [moto.sfn(), local.client.clone()] {
        let arn = create(&client, &pass).await;
        let workflow = SfnWorkflow::from_client(client.clone(), &arn);
        let id = OrderId::generate(t0());
        let input = json!({"orderId": id});

        assert_eq!(
            workflow.start_execution(&id, &input).await.unwrap(),
            Started::New
        );
        // As workflow.rs does: the same name and input while the first
        // execution still runs is that execution (AWS's rule); once it is
        // closed, it is ExecutionAlreadyExists.
        finished_on(&client, &saga_aws::sfn::execution_arn(&arn, id.as_str())).await;
        assert_eq!(
            workflow.start_execution(&id, &input).await.unwrap(),
            Started::AlreadyExists
        );
        assert_eq!(
            workflow
                .start_execution(&id, &json!({"orderId": "x"}))
                .await
                .unwrap(),
            Started::AlreadyExists
        );
        assert!(workflow.execution_exists(&id).await.unwrap());
        assert!(
            !workflow
                .execution_exists(&OrderId::generate(t0()))
                .await
                .unwrap()
        );
        let listed = client
            .list_executions()
            .state_machine_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.executions.len(), 1);
        assert_eq!(listed.executions[0].name, id.as_str());
        // workflow.rs's `an_unknown_token_is_gone`.
        let gone = workflow
            .send_task_success(
                &saga_core::approval::TaskToken::new("not-a-real-token").unwrap(),
                &json!({}),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(gone, WorkflowError::TaskGone(TaskGone::InvalidToken)),
            "{gone:?}"
        );
    }
    local.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_executions_and_machines_are_the_same_errors_on_both() {
    let moto = Moto::connect().await;
    let local = local().await;
    let pass = json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}});
    let mut seen = Vec::new();
    for client in [moto.sfn(), local.client.clone()] {
        let machine = create(&client, &pass).await;
        let missing = format!(
            "{}:nope",
            machine.replacen(":stateMachine:", ":execution:", 1)
        );
        let e = client
            .describe_execution()
            .execution_arn(&missing)
            .send()
            .await
            .unwrap_err();
        let gone_machine = machine.replace("diff", "gone");
        let m = client
            .describe_state_machine()
            .state_machine_arn(&gone_machine)
            .send()
            .await
            .unwrap_err();
        seen.push((
            e.as_service_error().and_then(code),
            m.as_service_error().and_then(code),
        ));
    }
    assert_eq!(seen[1], seen[0]);
    assert_eq!(
        seen[1],
        (
            Some("ExecutionDoesNotExist".to_owned()),
            Some("StateMachineDoesNotExist".to_owned())
        )
    );
    local.server.shutdown().await.unwrap();
}
