//! [`SfnWorkflow`]: the order saga on AWS Step Functions.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use aws_sdk_sfn::operation::start_execution::StartExecutionError;
use saga_core::OrderId;
use saga_core::approval::TaskToken;
use saga_core::ports::{Started, StoreError, TaskGone, Workflow, WorkflowError};
use serde_json::Value;
use tracing::instrument;

use crate::config::{ConfigError, STATE_MACHINE_ARN_VAR, state_machine_arn_from_env};
use crate::error::{NotConfigured, classify};

/// Starts executions of one state machine and resumes its waiting tasks.
#[derive(Debug, Clone)]
pub struct SfnWorkflow {
    client: Client,
    /// `None`: only resumes waiting tasks (see [`Self::for_task_callbacks`]).
    state_machine_arn: Option<String>,
}

impl SfnWorkflow {
    pub fn new(config: &aws_config::SdkConfig, state_machine_arn: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), state_machine_arn)
    }

    /// The state machine from `STATE_MACHINE_ARN`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self::new(config, state_machine_arn_from_env()?))
    }

    /// A client that only resumes waiting tasks (`SendTaskSuccess` needs the
    /// token, not the state machine): approval-callback needs no
    /// `STATE_MACHINE_ARN`. Starting an execution with it is a permanent error.
    pub fn for_task_callbacks(config: &aws_config::SdkConfig) -> Self {
        Self::task_callbacks_from_client(Client::new(config))
    }

    pub fn from_client(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: Some(state_machine_arn.into()),
        }
    }

    /// [`Self::for_task_callbacks`] using `client`.
    pub fn task_callbacks_from_client(client: Client) -> Self {
        Self {
            client,
            state_machine_arn: None,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `None` for a client that only resumes waiting tasks.
    pub fn state_machine_arn(&self) -> Option<&str> {
        self.state_machine_arn.as_deref()
    }
}

/// The ARN of the execution `name` of `state_machine_arn`
/// (`arn:…:stateMachine:M` → `arn:…:execution:M:name`).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

fn json_error(operation: &'static str, err: serde_json::Error) -> WorkflowError {
    WorkflowError::Store(StoreError::permanent(operation, err))
}

/// Why a task token can't be used, from `SendTaskSuccess`'s error.
pub fn task_gone(err: &SendTaskSuccessError) -> Option<TaskGone> {
    match err {
        SendTaskSuccessError::TaskTimedOut(_) => Some(TaskGone::TimedOut),
        SendTaskSuccessError::InvalidToken(_) => Some(TaskGone::InvalidToken),
        SendTaskSuccessError::TaskDoesNotExist(_) => Some(TaskGone::DoesNotExist),
        _ => None,
    }
}

#[async_trait]
impl Workflow for SfnWorkflow {
    /// The execution is named by the order id. Starting it again is not an
    /// error: `ExecutionAlreadyExists` (another input, or the execution has
    /// ended) → `AlreadyExists`. Note that Step Functions answers a repeated
    /// start with the same name *and the same input* of a still running
    /// Standard execution with success (idempotent), which reads as `New`.
    #[instrument(skip_all, fields(execution = %name), err(Display))]
    async fn start_execution(
        &self,
        name: &OrderId,
        input: &Value,
    ) -> Result<Started, WorkflowError> {
        const OP: &str = "workflow.start_execution";
        let Some(state_machine_arn) = &self.state_machine_arn else {
            return Err(WorkflowError::Store(StoreError::permanent(
                OP,
                NotConfigured {
                    var: STATE_MACHINE_ARN_VAR,
                },
            )));
        };
        let input = serde_json::to_string(input).map_err(|e| json_error(OP, e))?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name.as_str())
            .input(input)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Started::New),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(StartExecutionError::ExecutionAlreadyExists(_))
                ) =>
            {
                tracing::info!("execution already exists");
                Ok(Started::AlreadyExists)
            }
            Err(err) => Err(WorkflowError::Store(classify(OP, err))),
        }
    }

    #[instrument(skip_all, fields(token_digest = %&token.digest()[..12]), err(Display))]
    async fn send_task_success(
        &self,
        token: &TaskToken,
        output: &Value,
    ) -> Result<(), WorkflowError> {
        const OP: &str = "workflow.send_task_success";
        let output = serde_json::to_string(output).map_err(|e| json_error(OP, e))?;
        let result = self
            .client
            .send_task_success()
            .task_token(token.expose_secret())
            .output(output)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error().and_then(task_gone) {
                Some(why) => {
                    tracing::info!(?why, "the waiting task is gone");
                    Err(WorkflowError::TaskGone(why))
                }
                None => Err(WorkflowError::Store(classify(OP, err))),
            },
        }
    }

    /// `DescribeExecution` of the execution named `name`: `ExecutionDoesNotExist`
    /// → `false`. Step Functions keeps an ended execution's record for 90 days.
    #[instrument(skip_all, fields(execution = %name), err(Display))]
    async fn execution_exists(&self, name: &OrderId) -> Result<bool, WorkflowError> {
        const OP: &str = "workflow.execution_exists";
        let Some(state_machine_arn) = &self.state_machine_arn else {
            return Err(WorkflowError::Store(StoreError::permanent(
                OP,
                NotConfigured {
                    var: STATE_MACHINE_ARN_VAR,
                },
            )));
        };
        let result = self
            .client
            .describe_execution()
            .execution_arn(execution_arn(state_machine_arn, name.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DescribeExecutionError::ExecutionDoesNotExist(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(WorkflowError::Store(classify(OP, err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::types::error::{InvalidToken, TaskDoesNotExist, TaskTimedOut};
    use aws_smithy_types::error::ErrorMetadata;

    #[tokio::test]
    async fn a_callbacks_only_workflow_refuses_to_start_executions_without_calling_aws() {
        let conf = aws_sdk_sfn::Config::builder()
            .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
            .build();
        let workflow = SfnWorkflow::task_callbacks_from_client(Client::from_conf(conf));
        assert_eq!(workflow.state_machine_arn(), None);
        let id = OrderId::generate(saga_core::Timestamp::from_millis(1_767_225_600_000).unwrap());

        let err = workflow
            .start_execution(&id, &serde_json::json!({}))
            .await
            .unwrap_err();

        let WorkflowError::Store(err) = err else {
            panic!("{err:?}")
        };
        assert!(!err.is_transient());
        assert_eq!(
            saga_core::ports::error_chain(&err),
            "workflow.start_execution failed: not configured: set STATE_MACHINE_ARN"
        );
    }

    #[test]
    fn gone_tasks_are_told_apart() {
        assert_eq!(
            task_gone(&SendTaskSuccessError::TaskTimedOut(
                TaskTimedOut::builder().build()
            )),
            Some(TaskGone::TimedOut)
        );
        assert_eq!(
            task_gone(&SendTaskSuccessError::InvalidToken(
                InvalidToken::builder().build()
            )),
            Some(TaskGone::InvalidToken)
        );
        assert_eq!(
            task_gone(&SendTaskSuccessError::TaskDoesNotExist(
                TaskDoesNotExist::builder().build()
            )),
            Some(TaskGone::DoesNotExist)
        );
        assert_eq!(
            task_gone(&SendTaskSuccessError::generic(
                ErrorMetadata::builder().code("ThrottlingException").build()
            )),
            None
        );
    }
}
