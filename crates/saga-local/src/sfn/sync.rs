//! StartSyncExecution: an `EXPRESS` machine run to its end within the
//! request, its result in the answer. As in AWS, a `STANDARD` machine is
//! `StateMachineTypeNotSupported`, and the execution is not listed
//! afterwards (Describe / List / History do not cover express executions).

use asl::{ExecutionStatus, StartExecution};
use serde_json::{Value, json};

use super::SfnApi;
use super::protocol::{ApiError, Request, epoch, epoch_ms};

impl SfnApi {
    pub(super) async fn start_sync_execution(&self, req: &Request) -> Result<Value, ApiError> {
        let (row, test_case) = self.machine_row(req.str("stateMachineArn")?).await?;
        if row.machine_type != "EXPRESS" {
            return Err(ApiError::new(
                "StateMachineTypeNotSupported",
                "This operation is not supported by this type of state machine",
            ));
        }
        let id = super::run::uuid_v4()?;
        let (name, input) = super::run::name_and_input(req, id.clone())?;
        let machine = self.parsed(&row)?;
        // The engine's id for the execution (what the task host is asked with).
        let engine_id = self.arns.execution(&row.name, &name);
        if let Some(case) = &test_case {
            self.host.mock(&engine_id, self.test_case(&row.name, case)?);
        }
        let run = self
            .engine
            .run(&machine, StartExecution::new(name.clone(), input.clone()));
        let outcome = match run {
            Ok(future) => future.await,
            Err(e) => {
                self.host.forget(&engine_id);
                return Err(ApiError::new("ExecutionAlreadyExists", e.to_string()));
            }
        };
        self.host.forget(&engine_id);
        let arn = format!(
            "arn:aws:states:{}:{}:express:{}:{name}:{id}",
            self.arns.region, self.arns.account, row.name
        );
        let mut answer = json!({
            "executionArn": arn,
            "stateMachineArn": row.arn,
            "name": name,
            "startDate": epoch(outcome.execution.start_time),
            "stopDate": epoch_ms(outcome.stop_time.timestamp_millis()),
            "status": match outcome.status {
                // A stopped express execution has no status of its own in this API.
                ExecutionStatus::Aborted => "FAILED",
                s => s.as_str(),
            },
            "input": input.to_string(),
            "inputDetails": {"included": true},
            "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100},
        });
        if let Some(out) = &outcome.output {
            answer["output"] = Value::String(out.to_string());
            answer["outputDetails"] = json!({"included": true});
        }
        if let Some(e) = outcome.error {
            answer["error"] = Value::String(e);
        }
        if let Some(c) = outcome.cause {
            answer["cause"] = Value::String(c);
        }
        Ok(answer)
    }
}
