//! Execution actions: StartExecution, DescribeExecution, ListExecutions,
//! GetExecutionHistory, StopExecution. Every execution is read from the
//! SQLite store: the saga's rows are named by order id, the API-created
//! machines' by execution ARN ([`super::durable`]).

use std::time::Duration;

use asl::{ExecutionStatus, StateMachine};
use saga_core::ports::Started;
use saga_sqlite::StateMachineRow;
use serde_json::{Value, json};

use super::executions::{ExecutionView, list_after, list_page, row_view, summary_view};
use super::protocol::{ApiError, Request, check_name, epoch_ms};
use super::{SfnApi, history, machines};

/// How long StopExecution waits for the execution to record its end, so a
/// DescribeExecution right after it sees `ABORTED`.
const STOP_WAIT: Duration = Duration::from_secs(2);

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A version 4 UUID, the name AWS gives an execution started without one.
pub(super) fn uuid_v4() -> Result<String, ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A StartExecution's `name` (`default` when absent) and `input` (`{}`),
/// checked as AWS checks them.
pub(super) fn name_and_input(req: &Request, default: String) -> Result<(String, Value), ApiError> {
    let name = req.opt_str("name")?.map_or(default, str::to_owned);
    check_name(&name)?;
    let input = serde_json::from_str(req.opt_str("input")?.unwrap_or("{}")).map_err(|e| {
        ApiError::new(
            "InvalidExecutionInput",
            format!("Invalid Execution Input: {e}"),
        )
    })?;
    Ok((name, input))
}

pub(super) fn already_exists(arn: &str) -> ApiError {
    ApiError::new(
        "ExecutionAlreadyExists",
        format!("Execution Already Exists: '{arn}'"),
    )
}

pub(super) fn execution_does_not_exist(arn: &str) -> ApiError {
    ApiError::new(
        "ExecutionDoesNotExist",
        format!("Execution Does Not Exist: '{arn}'"),
    )
}

/// AWS's rule for a name seen before: the same input while the first
/// execution runs is that execution; anything else is
/// `ExecutionAlreadyExists`.
pub(super) fn same_execution(existing: &ExecutionView, input: &Value) -> Result<Value, ApiError> {
    if existing.status == ExecutionStatus::Running && existing.input == *input {
        Ok(json!({"executionArn": existing.arn, "startDate": epoch_ms(existing.start_ms)}))
    } else {
        Err(already_exists(&existing.arn))
    }
}

impl SfnApi {
    /// The engine's machine for a stored row (parsed once per revision).
    pub(super) fn parsed(&self, row: &StateMachineRow) -> Result<StateMachine, ApiError> {
        if let Some((rev, m)) = lock(&self.parsed).get(&row.arn)
            && *rev == row.revision
        {
            return Ok(m.clone());
        }
        let m = machines::parse_definition(&row.definition)?.with_name(&row.name);
        lock(&self.parsed).insert(row.arn.clone(), (row.revision, m.clone()));
        Ok(m)
    }

    fn is_saga(&self, machine_name: &str) -> bool {
        self.saga.as_ref().is_some_and(|s| s.name() == machine_name)
    }

    pub(super) async fn start_execution(&self, req: &Request) -> Result<Value, ApiError> {
        let (row, test_case) = self.machine_row(req.str("stateMachineArn")?).await?;
        let (name, input) = name_and_input(req, uuid_v4()?)?;
        let arn = self.arns.execution(&row.name, &name);
        if self.is_saga(&row.name) {
            return self
                .start_saga(&name, &arn, &input, test_case.is_some())
                .await;
        }
        self.start_machine_execution(&row, (&arn, &name, &input), test_case.as_deref())
            .await
    }

    /// The test case of `arn#case`, as Step Functions Local finds it.
    pub(super) fn test_case(
        &self,
        machine: &str,
        case: &str,
    ) -> Result<crate::mock::MockHost, ApiError> {
        let Some(config) = &self.mock else {
            return Err(ApiError::validation(format!(
                "the execution names the test case {case:?}, but saga-local serve was started without --mock-config (or SFN_MOCK_CONFIG)"
            )));
        };
        config
            .host(Some(machine), case)
            .map_err(|e| ApiError::validation(e.to_string()))
    }

    async fn start_saga(
        &self,
        name: &str,
        arn: &str,
        input: &Value,
        test_case: bool,
    ) -> Result<Value, ApiError> {
        let Some(saga) = &self.saga else {
            return Err(ApiError::internal("no saga"));
        };
        if test_case {
            return Err(ApiError::validation(
                "the order saga runs its own handlers; test cases are for the state machines created through the API",
            ));
        }
        match saga.start(name, input).await? {
            Started::New => Ok(
                json!({"executionArn": arn, "startDate": epoch_ms(chrono::Utc::now().timestamp_millis())}),
            ),
            Started::AlreadyExists => match saga.read(&self.store, &self.arns, name).await? {
                Some(existing) => same_execution(&existing, input),
                None => Err(already_exists(arn)),
            },
        }
    }

    /// An execution of an API-created machine, by ARN.
    pub(super) async fn api_execution(&self, arn: &str) -> Result<Option<ExecutionView>, ApiError> {
        let Some((row, meta)) = self.store.execution_with_meta(arn).await? else {
            return Ok(None);
        };
        if meta.machine.is_empty() {
            return Ok(None);
        }
        let (_, name) = self.arns.parse_execution(arn)?;
        let machine = meta.machine.clone();
        Ok(Some(row_view(
            arn.to_owned(),
            machine,
            name.to_owned(),
            row,
            &meta,
        )))
    }

    /// The execution an ARN names, and the name of its row.
    async fn execution(&self, arn: &str) -> Result<(ExecutionView, String), ApiError> {
        let (machine, name) = self.arns.parse_execution(arn)?;
        if self.is_saga(machine)
            && let Some(saga) = &self.saga
        {
            return saga
                .read(&self.store, &self.arns, name)
                .await?
                .map(|v| (v, name.to_owned()))
                .ok_or_else(|| execution_does_not_exist(arn));
        }
        self.api_execution(arn)
            .await?
            .map(|v| (v, arn.to_owned()))
            .ok_or_else(|| execution_does_not_exist(arn))
    }

    pub(super) async fn describe_execution(&self, req: &Request) -> Result<Value, ApiError> {
        let (view, _) = self.execution(req.str("executionArn")?).await?;
        Ok(view.describe())
    }

    pub(super) async fn list_executions(&self, req: &Request) -> Result<Value, ApiError> {
        let status = req.opt_str("statusFilter")?;
        if let Some(s) = status
            && !super::STATUS_FILTERS.contains(&s)
        {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{s}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"
            )));
        }
        let arn = req.opt_str("stateMachineArn")?.ok_or_else(|| {
            ApiError::validation("stateMachineArn is required (saga-local lists no map runs)")
        })?;
        let (row, _) = self.machine_row(arn).await?;
        let max = req.max_results(100)?;
        let after = list_after(req.opt_str("nextToken")?)?;
        let saga = self.saga.as_ref().filter(|s| s.name() == row.name);
        let machine = if saga.is_some() { "" } else { row.arn.as_str() };
        let redriven = match req.opt_str("redriveFilter")? {
            None => None,
            Some("REDRIVEN") => Some(true),
            Some("NOT_REDRIVEN") => Some(false),
            Some(other) => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'redriveFilter' failed to satisfy constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]"
                )));
            }
        };
        let rows = self
            .store
            .execution_page(machine, (status, redriven), after, max + 1)
            .await?;
        let views = rows
            .into_iter()
            .map(|r| {
                let (arn, name) = match saga {
                    Some(s) => (self.arns.execution(s.name(), &r.name), r.name.clone()),
                    None => {
                        let name = r.name.rsplit(':').next().unwrap_or_default().to_owned();
                        (r.name.clone(), name)
                    }
                };
                (r.name.clone(), summary_view(arn, row.arn.clone(), name, &r))
            })
            .collect();
        Ok(list_page(views, max))
    }

    pub(super) async fn get_execution_history(&self, req: &Request) -> Result<Value, ApiError> {
        let (_, key) = self.execution(req.str("executionArn")?).await?;
        history::page(
            &self.store,
            &key,
            req.max_results(100)?,
            req.opt_bool("reverseOrder")?.unwrap_or(false),
            req.opt_str("nextToken")?,
            req.opt_bool("includeExecutionData")?.unwrap_or(true),
        )
        .await
    }

    /// Stop a running execution (`ABORTED`); a finished one is left as it
    /// is and its stop date returned.
    pub(super) async fn stop_execution(&self, req: &Request) -> Result<Value, ApiError> {
        let arn = req.str("executionArn")?;
        let (view, _) = self.execution(arn).await?;
        if view.status != ExecutionStatus::Running {
            return Ok(json!({"stopDate": epoch_ms(view.stop_ms.unwrap_or(view.start_ms))}));
        }
        let error = req.opt_str("error")?.map(str::to_owned);
        let cause = req.opt_str("cause")?.map(str::to_owned);
        let engine = match &self.saga {
            Some(s) if view.machine_arn == self.arns.state_machine(s.name()) => s.workflow.engine(),
            _ => &self.engine,
        };
        let now = chrono::Utc::now().timestamp_millis();
        if !engine.stop_execution(arn, error, cause) {
            return Ok(json!({"stopDate": epoch_ms(now)}));
        }
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while tokio::time::Instant::now() < deadline {
            if let Ok((v, _)) = self.execution(arn).await
                && v.status != ExecutionStatus::Running
            {
                return Ok(json!({"stopDate": epoch_ms(v.stop_ms.unwrap_or(now))}));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(json!({"stopDate": epoch_ms(now)}))
    }
}
