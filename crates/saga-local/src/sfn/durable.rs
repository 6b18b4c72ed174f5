//! The executions of the state machines created through the API, durable
//! as the saga's are: a row in `executions` (keyed by the execution ARN,
//! with its machine's ARN and MockConfigFile test case) inserted before the
//! engine starts, every checkpoint appended through the same
//! [`RowPersistence`] as the saga's, and every `RUNNING` one resumed when
//! the API starts ([`SfnApi::resume_executions`]). Nothing of a finished
//! execution stays in memory.

use std::future::Future;
use std::sync::Arc;

use asl::{ExecutionOutcome, ExecutionSnapshot, StartError, StartExecution, StateMachine};
use saga_sqlite::{ExecutionMeta, ExecutionRow, StateMachineRow};
use serde_json::{Value, json};

use super::SfnApi;
use super::protocol::{ApiError, epoch_ms};
use crate::serve::persistence::{RowPersistence, Stored, stored, whole_snapshot};
use crate::serve::workflow::RUNNING;

impl SfnApi {
    fn persistence(&self, arn: &str) -> Arc<RowPersistence> {
        let (p, _) = RowPersistence::new(
            self.store.clone(),
            arn,
            self.gate.clone(),
            self.parked.clone(),
        );
        Arc::new(p)
    }

    /// Run an execution of the API's engine to its end, then forget its
    /// mock (its row keeps the rest).
    fn spawn_run(&self, arn: &str, run: impl Future<Output = ExecutionOutcome> + Send + 'static) {
        let (host, arn) = (self.host.clone(), arn.to_owned());
        tokio::spawn(async move {
            run.await;
            host.forget(&arn);
        });
    }

    /// StartExecution of an API-created machine: its row first (an
    /// existing row is AWS's same-name rule), then the engine.
    pub(super) async fn start_machine_execution(
        &self,
        row: &StateMachineRow,
        (arn, name, input): (&str, &str, &Value),
        test_case: Option<&str>,
    ) -> Result<Value, ApiError> {
        if let Some(existing) = self.api_execution(arn).await? {
            return super::run::same_execution(&existing, input);
        }
        let machine = self.parsed(row)?;
        let mock = test_case
            .map(|c| self.test_case(&row.name, c))
            .transpose()?;
        let now = chrono::Utc::now().timestamp_millis();
        let head = ExecutionRow {
            name: arn.to_owned(),
            status: RUNNING.to_owned(),
            state: json!({"notStarted": true, "input": input}).to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let meta = ExecutionMeta {
            machine: row.arn.clone(),
            test_case: test_case.map(str::to_owned),
            redrive: None,
        };
        if !self.store.insert_machine_execution(head, meta).await? {
            // Started by a concurrent request a moment ago.
            let existing = self.api_execution(arn).await?;
            return match existing {
                Some(e) => super::run::same_execution(&e, input),
                None => Err(super::run::already_exists(arn)),
            };
        }
        if let Some(m) = mock {
            self.host.mock(arn, m);
        }
        let start =
            StartExecution::new(name, input.clone()).with_persistence(self.persistence(arn));
        match self.engine.run(&machine, start) {
            Ok(run) => self.spawn_run(arn, run),
            Err(e) => {
                self.host.forget(arn);
                let state = json!({"error": "States.Runtime", "cause": e.to_string()}).to_string();
                self.store
                    .save_execution(arn, "FAILED", &state, now)
                    .await?;
                return Err(match e {
                    StartError::InvalidName(m) => ApiError::new("InvalidName", m),
                    other => ApiError::internal(other.to_string()),
                });
            }
        }
        Ok(json!({"executionArn": arn, "startDate": epoch_ms(now)}))
    }

    /// Continue a redriven (or interrupted) execution of an API-created
    /// machine from `snapshot`, on the API's engine.
    pub(super) fn continue_machine_execution(
        &self,
        machine: &StateMachine,
        snapshot: ExecutionSnapshot,
        test_case: Option<(&str, &str)>,
    ) -> Result<(), ApiError> {
        let arn = snapshot.execution.id.clone();
        if let Some((machine_name, case)) = test_case {
            self.host.mock(&arn, self.test_case(machine_name, case)?);
        }
        let run = self
            .engine
            .run_resumed(machine, snapshot, Some(self.persistence(&arn)))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.spawn_run(&arn, run);
        Ok(())
    }

    /// Continue every `RUNNING` execution of the API-created machines (at
    /// start-up, before the API answers): from its last head and events,
    /// or from its input when none was saved. One that cannot be resumed
    /// is logged and left `RUNNING`.
    pub async fn resume_executions(&self) -> Result<usize, ApiError> {
        let mut resumed = 0;
        for (row, meta) in self.store.machine_executions_with_status(RUNNING).await? {
            match self.resume_one(row, &meta).await {
                Ok(()) => resumed += 1,
                Err(e) => {
                    tracing::error!(machine = %meta.machine, error = %e, "an execution of the Step Functions API could not be resumed; it stays RUNNING");
                }
            }
        }
        Ok(resumed)
    }

    async fn resume_one(&self, row: ExecutionRow, meta: &ExecutionMeta) -> Result<(), ApiError> {
        let arn = row.name;
        let machine_row = self
            .store
            .state_machine(&meta.machine)
            .await?
            .ok_or_else(|| {
                ApiError::internal(format!("its state machine {} is gone", meta.machine))
            })?;
        let machine = self.parsed(&machine_row)?;
        let test_case = meta
            .test_case
            .as_deref()
            .map(|c| (machine_row.name.as_str(), c));
        let state = stored(&row.state).map_err(|e| ApiError::internal(e.to_string()))?;
        match state {
            Stored::NotStarted(input) => {
                let (_, name) = self.arns.parse_execution(&arn)?;
                if let Some((m, case)) = test_case {
                    self.host.mock(&arn, self.test_case(m, case)?);
                }
                let start =
                    StartExecution::new(name, input).with_persistence(self.persistence(&arn));
                let run = self
                    .engine
                    .run(&machine, start)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                self.spawn_run(&arn, run);
                Ok(())
            }
            Stored::Head(head) => {
                let snapshot = whole_snapshot(&self.store, &arn, *head).await?;
                self.continue_machine_execution(&machine, snapshot, test_case)
            }
        }
    }
}
