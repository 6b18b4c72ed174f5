//! The boundary to the outside world: what a Task state asks the host to do.

use std::fmt;

use async_trait::async_trait;
use serde_json::{Value, json};

/// How a service integration is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrationPattern {
    /// Call and take the response as the result.
    RequestResponse,
    /// `.sync`: run a job and wait for it (the host's call returns when done).
    Sync,
    /// `.waitForTaskToken`: call, then park until `send_task_success` /
    /// `send_task_failure` for the issued token.
    WaitForTaskToken,
}

/// A Task state's `Resource`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `arn:aws:states:::lambda:invoke[.waitForTaskToken]`. The result is
    /// the Lambda invoke envelope (`Payload`, `StatusCode`, …).
    LambdaInvoke {
        /// True for `lambda:invoke.waitForTaskToken`.
        wait_for_task_token: bool,
    },
    /// A plain function ARN `arn:aws:lambda:<region>:<acct>:function:<name>`.
    /// The result is the function's output.
    LambdaFunction {
        /// The full ARN as written.
        arn: String,
        /// The function name (without qualifier).
        function_name: String,
    },
    /// `arn:aws:states:::sns:publish[.waitForTaskToken]`.
    SnsPublish {
        /// True for `sns:publish.waitForTaskToken`.
        wait_for_task_token: bool,
    },
    /// `arn:aws:states:<region>:<acct>:activity:<name>`: the host hands the
    /// task and its token to a worker; the engine waits for the token.
    Activity {
        /// The activity ARN.
        arn: String,
    },
    /// Any other `arn:aws:states:::<service>:<action>[.sync|.waitForTaskToken]`
    /// integration (for example `aws-sdk:dynamodb:getItem`): the host decides.
    Service {
        /// `sqs`, `aws-sdk:dynamodb`, …
        service: String,
        /// `sendMessage`, `getItem`, …
        action: String,
        /// The suffix.
        pattern: IntegrationPattern,
    },
}

impl Resource {
    /// Parse a `Resource` ARN.
    pub fn parse(arn: &str) -> Result<Resource, String> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [arn_lit, _partition, service, _region, _account, rest] = parts.as_slice() else {
            return Err(format!("{arn:?} is not a valid resource ARN"));
        };
        if *arn_lit != "arn" {
            return Err(format!("{arn:?} is not a valid resource ARN"));
        }
        match *service {
            "lambda" => {
                let mut it = rest.split(':');
                match (it.next(), it.next()) {
                    (Some("function"), Some(name)) if !name.is_empty() => {
                        Ok(Resource::LambdaFunction {
                            arn: arn.to_owned(),
                            function_name: name.to_owned(),
                        })
                    }
                    _ => Err(format!("{arn:?} is not a Lambda function ARN")),
                }
            }
            "states" => {
                if let Some(name) = rest.strip_prefix("activity:") {
                    if name.is_empty() {
                        return Err(format!("{arn:?} has an empty activity name"));
                    }
                    return Ok(Resource::Activity {
                        arn: arn.to_owned(),
                    });
                }
                let (svc_action, pattern) = if let Some(s) = rest.strip_suffix(".waitForTaskToken")
                {
                    (s, IntegrationPattern::WaitForTaskToken)
                } else if let Some(s) = rest.strip_suffix(".sync:2") {
                    (s, IntegrationPattern::Sync)
                } else if let Some(s) = rest.strip_suffix(".sync") {
                    (s, IntegrationPattern::Sync)
                } else {
                    (*rest, IntegrationPattern::RequestResponse)
                };
                let Some((service, action)) = svc_action.rsplit_once(':') else {
                    return Err(format!("{arn:?} is not a service integration ARN"));
                };
                if service.is_empty() || action.is_empty() {
                    return Err(format!("{arn:?} is not a service integration ARN"));
                }
                let wait = pattern == IntegrationPattern::WaitForTaskToken;
                match (service, action, pattern) {
                    ("lambda", "invoke", IntegrationPattern::Sync)
                    | ("sns", "publish", IntegrationPattern::Sync) => Err(format!(
                        "{arn:?}: {service}:{action} does not support .sync"
                    )),
                    ("lambda", "invoke", _) => Ok(Resource::LambdaInvoke {
                        wait_for_task_token: wait,
                    }),
                    ("sns", "publish", _) => Ok(Resource::SnsPublish {
                        wait_for_task_token: wait,
                    }),
                    _ => Ok(Resource::Service {
                        service: service.to_owned(),
                        action: action.to_owned(),
                        pattern,
                    }),
                }
            }
            _ => Err(format!(
                "{arn:?} is not a supported resource (a Lambda function ARN or an arn:aws:states::: integration)"
            )),
        }
    }

    /// Whether the engine issues a task token and waits for a callback.
    pub fn waits_for_task_token(&self) -> bool {
        match self {
            Resource::LambdaInvoke {
                wait_for_task_token,
            }
            | Resource::SnsPublish {
                wait_for_task_token,
            } => *wait_for_task_token,
            Resource::Activity { .. } => true,
            Resource::Service { pattern, .. } => *pattern == IntegrationPattern::WaitForTaskToken,
            Resource::LambdaFunction { .. } => false,
        }
    }

    /// `resourceType` and `resource` as in AWS history events.
    pub fn history_names(&self) -> (String, String) {
        let suffix = |wait: bool| if wait { ".waitForTaskToken" } else { "" };
        match self {
            Resource::LambdaInvoke {
                wait_for_task_token,
            } => (
                "lambda".into(),
                format!("invoke{}", suffix(*wait_for_task_token)),
            ),
            Resource::SnsPublish {
                wait_for_task_token,
            } => (
                "sns".into(),
                format!("publish{}", suffix(*wait_for_task_token)),
            ),
            Resource::LambdaFunction { arn, .. } => ("lambda".into(), arn.clone()),
            Resource::Activity { arn } => ("activity".into(), arn.clone()),
            Resource::Service {
                service,
                action,
                pattern,
            } => {
                let sfx = match pattern {
                    IntegrationPattern::RequestResponse => "",
                    IntegrationPattern::Sync => ".sync",
                    IntegrationPattern::WaitForTaskToken => ".waitForTaskToken",
                };
                (service.clone(), format!("{action}{sfx}"))
            }
        }
    }
}

/// Extract a Lambda function name from a `FunctionName` value: a name, a
/// `name:qualifier`, a partial ARN `123456789012:function:name` or a full
/// ARN.
pub fn function_name_of(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    let name = match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => *name,
        [_, "function", name, ..] => *name,
        [name] | [name, _] => *name,
        _ => return None,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

/// What a Task state asks the host to do.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    /// The parsed resource.
    pub resource: Resource,
    /// The resource ARN as written in the definition.
    pub resource_arn: String,
    /// The resolved `Parameters` (or the state's effective input when the
    /// state has no `Parameters`).
    pub parameters: Value,
    /// The task token, for `.waitForTaskToken` resources and activities.
    pub task_token: Option<String>,
    /// Execution name.
    pub execution_name: String,
    /// Execution ARN.
    pub execution_id: String,
    /// Name of the Task state.
    pub state_name: String,
    /// 0 for the first attempt, then 1, 2, … for retries.
    pub attempt: u32,
}

impl TaskRequest {
    /// The Lambda function to call: from `FunctionName` for `lambda:invoke`,
    /// from the ARN for plain function resources.
    pub fn function_name(&self) -> Option<String> {
        match &self.resource {
            Resource::LambdaFunction { function_name, .. } => Some(function_name.clone()),
            Resource::LambdaInvoke { .. } => self
                .parameters
                .get("FunctionName")
                .and_then(Value::as_str)
                .and_then(function_name_of),
            _ => None,
        }
    }

    /// The function's input: `Payload` for `lambda:invoke` (`{}` if absent),
    /// the parameters for plain function ARNs and everything else.
    pub fn payload(&self) -> Value {
        match &self.resource {
            Resource::LambdaInvoke { .. } => self
                .parameters
                .get("Payload")
                .cloned()
                .unwrap_or_else(|| json!({})),
            _ => self.parameters.clone(),
        }
    }
}

/// What the host returns for a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutput {
    /// The service's own output: for `lambda:invoke` the function's output
    /// (the engine wraps it in the invoke envelope); for a plain function
    /// ARN the function's output; for `sns:publish` `{"MessageId": …}`. For
    /// `.waitForTaskToken` resources the engine records it and then waits
    /// for the token.
    Output(Value),
    /// The exact state result, used as is: no envelope and no waiting for a
    /// token (mocked responses, as in Step Functions Local).
    Final(Value),
}

impl From<Value> for TaskOutput {
    fn from(v: Value) -> Self {
        TaskOutput::Output(v)
    }
}

/// A failed task: error name and cause, as `Retry`/`Catch` see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// Error name (for a Lambda function error, its `errorType`).
    pub error: String,
    /// Cause.
    pub cause: Option<String>,
}

impl TaskFailure {
    /// A failure with the given error name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// A Lambda function error as AWS reports it: the error name is the
    /// `errorType`, the cause the JSON text
    /// `{"errorMessage": …, "errorType": …, "trace": []}`.
    pub fn lambda_error(error_type: &str, error_message: &str) -> Self {
        let cause = json!({
            "errorMessage": error_message,
            "errorType": error_type,
            "trace": [],
        });
        TaskFailure {
            error: error_type.to_owned(),
            cause: Some(cause.to_string()),
        }
    }

    /// A problem of the host itself (no handler, misconfiguration): raised
    /// as `States.Runtime`, which no `Retry` or `Catch` intercepts.
    pub fn host_error(cause: impl Into<String>) -> Self {
        TaskFailure::new("States.Runtime", cause)
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(c) => write!(f, "{}: {c}", self.error),
            None => f.write_str(&self.error),
        }
    }
}

/// Runs Task states. The host implements this: it calls Lambda handlers,
/// publishes to SNS, or returns mocked responses.
///
/// A call may be cancelled (dropped) when the task times out or the
/// execution stops; after a restart the same request may be made again, so
/// handlers must be idempotent.
#[async_trait]
pub trait TaskHost: Send + Sync + fmt::Debug {
    /// Run one attempt of a task.
    async fn invoke(&self, request: TaskRequest) -> Result<TaskOutput, TaskFailure>;
}

/// The `lambda:invoke` result envelope around a function's output.
pub fn lambda_invoke_envelope(payload: Value) -> Value {
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "X-Amz-Executed-Version": "$LATEST",
                "Content-Type": "application/json"
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": "00000000-0000-4000-8000-000000000000"},
        "StatusCode": 200
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_resources() {
        assert_eq!(
            Resource::parse("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            Ok(Resource::LambdaInvoke {
                wait_for_task_token: true
            })
        );
        assert_eq!(
            Resource::parse("arn:aws:lambda:us-east-1:000000000000:function:pay"),
            Ok(Resource::LambdaFunction {
                arn: "arn:aws:lambda:us-east-1:000000000000:function:pay".into(),
                function_name: "pay".into()
            })
        );
        assert!(matches!(
            Resource::parse("arn:aws:states:::sqs:sendMessage"),
            Ok(Resource::Service { .. })
        ));
        assert!(Resource::parse("${validate_function_arn}").is_err());
        assert!(Resource::parse("arn:aws:states:::lambda:invoke.sync").is_err());
    }

    #[test]
    fn function_names_from_any_form() {
        for s in [
            "pay",
            "pay:prod",
            "123456789012:function:pay",
            "arn:aws:lambda:us-east-1:123456789012:function:pay",
            "arn:aws:lambda:us-east-1:123456789012:function:pay:$LATEST",
        ] {
            assert_eq!(function_name_of(s).as_deref(), Some("pay"), "{s}");
        }
    }
}
