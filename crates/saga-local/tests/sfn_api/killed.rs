//! An execution of an API-created machine survives `kill -9` of the real
//! binary: started again on the same data directory, it continues where
//! it was saved and runs each state once, also when the second run has
//! the Step Functions API turned off (`--sfn-port 0`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{ROLE, client, types};

/// `saga-local serve` on `data` with the Step Functions API on `sfn_port`
/// (0: off), once it printed its first line (it listens then).
async fn serve(data: &std::path::Path, sfn_port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saga-local"))
        .args([
            "serve",
            "--quiet",
            "--port",
            "0",
            "--sfn-port",
            &sfn_port.to_string(),
        ])
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    assert!(
        matches!(first, Ok(Ok(Some(_)))),
        "no start-up line: {first:?}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A data directory whose server was killed while an execution waited.
struct Killed {
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    /// The Step Functions API's port of the killed server.
    port: u16,
    /// The execution's ARN.
    arn: String,
}

/// Starts `saga-local serve` on a new data directory, starts an execution
/// of a machine that waits 2 s, and kills the server with SIGKILL once the
/// wait is saved.
async fn killed_while_waiting() -> Killed {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut first = serve(&data, port).await;
    let sfn = client(&format!("http://127.0.0.1:{port}"));
    let definition = json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 2, "Next": "Done"},
        "Done": {"Type": "Pass", "End": true}}});
    let machine = sfn
        .create_state_machine()
        .name("waits")
        .definition(definition.to_string())
        .role_arn(ROLE)
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let arn = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("k-1")
        .input(r#"{"k":1}"#)
        .send()
        .await
        .unwrap()
        .execution_arn;
    // Killed once the wait is saved, while it waits.
    let start = Instant::now();
    while !types(
        &sfn.get_execution_history()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap()
            .events,
    )
    .contains(&"WaitStateEntered".to_owned())
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the wait was never saved"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().await.unwrap();
    Killed {
        _tmp: tmp,
        data,
        port,
        arn,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_continues_after_kill_9() {
    let killed = killed_while_waiting().await;
    let (data, port, arn) = (&killed.data, killed.port, &killed.arn);

    let _second = serve(data, port).await;
    let sfn = client(&format!("http://127.0.0.1:{port}"));
    let start = Instant::now();
    let d = loop {
        let d = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if d.status != ExecutionStatus::Running {
            break d;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(d.status, ExecutionStatus::Succeeded);
    assert_eq!(d.output.as_deref(), Some(r#"{"k":1}"#));
    let events = sfn
        .get_execution_history()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
        .events;
    let t = types(&events);
    assert_eq!(
        t.iter().filter(|x| *x == "ExecutionStarted").count(),
        1,
        "{t:?}"
    );
    assert_eq!(
        t.iter().filter(|x| *x == "PassStateEntered").count(),
        1,
        "{t:?}"
    );
    assert_eq!(t.last().map(String::as_str), Some("ExecutionSucceeded"));
}

/// With `--sfn-port 0` the API is off, but the executions it started in an
/// earlier run are still resumed at start-up (the console shows and redrives
/// them). Observed afterwards through the API of a third run: the execution
/// had finished before that run started, so the second run finished it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_execution_continues_when_restarted_with_the_api_off() {
    let killed = killed_while_waiting().await;
    let (data, port, arn) = (&killed.data, killed.port, &killed.arn);

    let mut second = serve(data, 0).await;
    // The wait (2 s from its start, before the kill) is over well before.
    tokio::time::sleep(Duration::from_secs(5)).await;
    second.kill().await.unwrap();

    let third_started = std::time::SystemTime::now();
    let _third = serve(data, port).await;
    let sfn = client(&format!("http://127.0.0.1:{port}"));
    let d = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.status,
        ExecutionStatus::Succeeded,
        "the run with --sfn-port 0 did not resume the execution"
    );
    let stopped = std::time::SystemTime::try_from(d.stop_date.expect("a stop date")).unwrap();
    assert!(
        stopped < third_started,
        "it finished only in the third run: {stopped:?} >= {third_started:?}"
    );
    assert_eq!(d.output.as_deref(), Some(r#"{"k":1}"#));
}
