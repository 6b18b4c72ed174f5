//! A [`TaskHost`] answering from an AWS Step Functions Local
//! `MockConfigFile`:
//!
//! ```json
//! {
//!   "StateMachines": {
//!     "order-saga": {"TestCases": {"HappyPath": {"ValidateOrder": "ValidateOk"}}}
//!   },
//!   "MockedResponses": {
//!     "ValidateOk": {
//!       "0": {"Return": {"StatusCode": 200, "Payload": {"orderId": "o-1"}}},
//!       "1-2": {"Throw": {"Error": "Transient", "Cause": "throttled"}}
//!     }
//!   }
//! }
//! ```
//!
//! A state's invocations are counted from 0 across the whole execution
//! (retries and loops included); the key whose number or range contains the
//! count gives the response. `Return` is the state's result as is (for
//! `lambda:invoke`, the whole invoke response); a mocked `.waitForTaskToken`
//! task completes with it. A state without a mock, or an invocation
//! without a matching key, fails the execution with `States.Runtime` and a
//! message saying what is missing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use asl::{TaskFailure, TaskHost, TaskOutput, TaskRequest, async_trait};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct File {
    state_machines: BTreeMap<String, Machine>,
    #[serde(default)]
    mocked_responses: BTreeMap<String, BTreeMap<String, Step>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Machine {
    test_cases: BTreeMap<String, BTreeMap<String, String>>,
}

/// One mocked answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Step {
    /// The state's result.
    Return(Value),
    /// A task failure.
    Throw(Throw),
}

/// A mocked failure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Throw {
    /// Error name.
    pub error: String,
    /// Cause.
    #[serde(default)]
    pub cause: Option<String>,
}

/// Problems with a mock configuration or the chosen test case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockConfigError {
    /// Not a valid MockConfigFile.
    #[error("invalid MockConfigFile: {0}")]
    Invalid(String),
    /// `--state-machine` is needed.
    #[error("the MockConfigFile defines several state machines ({}); choose one with --state-machine", .0.join(", "))]
    AmbiguousStateMachine(Vec<String>),
    /// No such state machine.
    #[error("the MockConfigFile has no state machine {name:?} (it has: {})", .available.join(", "))]
    UnknownStateMachine {
        /// Requested.
        name: String,
        /// Present.
        available: Vec<String>,
    },
    /// No such test case.
    #[error("state machine {machine:?} has no test case {name:?} (it has: {})", .available.join(", "))]
    UnknownTestCase {
        /// State machine.
        machine: String,
        /// Requested.
        name: String,
        /// Present.
        available: Vec<String>,
    },
    /// A test case names a response that is not defined.
    #[error(
        "test case {case:?} maps state {state:?} to {response:?}, which is not in MockedResponses"
    )]
    UnknownResponse {
        /// Test case.
        case: String,
        /// State.
        state: String,
        /// Missing response name.
        response: String,
    },
}

/// A parsed MockConfigFile.
#[derive(Debug)]
pub struct MockConfig {
    file: File,
}

type Ranges = Vec<(u32, u32, Step)>;

fn parse_key(k: &str) -> Option<(u32, u32)> {
    match k.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => k.trim().parse().ok().map(|n| (n, n)),
    }
}

impl MockConfig {
    /// Parse MockConfigFile JSON.
    pub fn parse(text: &str) -> Result<MockConfig, MockConfigError> {
        let file: File =
            serde_json::from_str(text).map_err(|e| MockConfigError::Invalid(e.to_string()))?;
        for (name, steps) in &file.mocked_responses {
            for key in steps.keys() {
                if parse_key(key).is_none() {
                    return Err(MockConfigError::Invalid(format!(
                        "MockedResponses.{name}: key {key:?} must be an invocation number like \"0\" or a range like \"1-2\""
                    )));
                }
            }
        }
        Ok(MockConfig { file })
    }

    /// Names of the state machines in the file.
    pub fn state_machines(&self) -> Vec<String> {
        self.file.state_machines.keys().cloned().collect()
    }

    /// The host for one test case. `state_machine` may be omitted when the
    /// file defines exactly one.
    pub fn host(
        &self,
        state_machine: Option<&str>,
        test_case: &str,
    ) -> Result<MockHost, MockConfigError> {
        let names = self.state_machines();
        let machine_name = match state_machine {
            Some(n) => n.to_owned(),
            None => match names.as_slice() {
                [only] => only.clone(),
                _ => return Err(MockConfigError::AmbiguousStateMachine(names)),
            },
        };
        let Some(machine) = self.file.state_machines.get(&machine_name) else {
            return Err(MockConfigError::UnknownStateMachine {
                name: machine_name,
                available: names,
            });
        };
        let Some(case) = machine.test_cases.get(test_case) else {
            return Err(MockConfigError::UnknownTestCase {
                machine: machine_name,
                name: test_case.to_owned(),
                available: machine.test_cases.keys().cloned().collect(),
            });
        };
        let mut states = HashMap::new();
        for (state, response) in case {
            let Some(steps) = self.file.mocked_responses.get(response) else {
                return Err(MockConfigError::UnknownResponse {
                    case: test_case.to_owned(),
                    state: state.clone(),
                    response: response.clone(),
                });
            };
            let ranges: Ranges = steps
                .iter()
                .filter_map(|(k, s)| parse_key(k).map(|(a, b)| (a, b, s.clone())))
                .collect();
            states.insert(state.clone(), (response.clone(), ranges));
        }
        Ok(MockHost {
            machine: machine_name,
            test_case: test_case.to_owned(),
            states,
            counts: Mutex::new(HashMap::new()),
        })
    }
}

/// Answers tasks from one test case.
#[derive(Debug)]
pub struct MockHost {
    machine: String,
    test_case: String,
    states: HashMap<String, (String, Ranges)>,
    counts: Mutex<HashMap<String, u32>>,
}

impl MockHost {
    /// Whether the test case mocks this state (the others call the service,
    /// as in Step Functions Local).
    pub fn mocks(&self, state: &str) -> bool {
        self.states.contains_key(state)
    }

    /// How many times each state was invoked so far.
    pub fn invocations(&self) -> HashMap<String, u32> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl TaskHost for MockHost {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        let n = match self.counts.lock() {
            Ok(mut c) => {
                let e = c.entry(req.state_name.clone()).or_insert(0);
                *e += 1;
                *e - 1
            }
            Err(_) => 0,
        };
        let Some((response, ranges)) = self.states.get(&req.state_name) else {
            return Err(TaskFailure::host_error(format!(
                "no mocked response for Task state '{}' in test case '{}' of state machine '{}' in the MockConfigFile",
                req.state_name, self.test_case, self.machine
            )));
        };
        match ranges.iter().find(|(a, b, _)| (*a..=*b).contains(&n)) {
            Some((_, _, Step::Return(v))) => Ok(TaskOutput::Final(v.clone())),
            Some((_, _, Step::Throw(t))) => Err(TaskFailure {
                error: t.error.clone(),
                cause: t.cause.clone(),
            }),
            None => Err(TaskFailure::host_error(format!(
                "mocked response '{response}' has no entry for invocation {n} of Task state '{}' (keys are invocation numbers from 0, or ranges like \"1-2\")",
                req.state_name
            ))),
        }
    }
}

/// The host used when no MockConfigFile is given: every task fails with a
/// message saying so.
#[derive(Debug, Default)]
pub struct NoMocks;

#[async_trait]
impl TaskHost for NoMocks {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        Err(TaskFailure::host_error(format!(
            "Task state '{}' has no mocked response: pass --mock-config FILE --test-case NAME",
            req.state_name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asl::Resource;
    use serde_json::json;

    const CONFIG: &str = r#"{
      "StateMachines": {"sm": {"TestCases": {"Retry": {"Pay": "Flaky"}}}},
      "MockedResponses": {"Flaky": {
        "0": {"Throw": {"Error": "PaymentUnavailable", "Cause": "503"}},
        "1-2": {"Return": {"chargeId": "c-1"}}}}
    }"#;

    fn req(state: &str) -> TaskRequest {
        TaskRequest {
            resource: Resource::LambdaInvoke {
                wait_for_task_token: false,
            },
            resource_arn: "arn:aws:states:::lambda:invoke".into(),
            parameters: json!({}),
            task_token: None,
            execution_name: "e".into(),
            execution_id: "id".into(),
            state_name: state.into(),
            attempt: 0,
        }
    }

    #[tokio::test]
    async fn responses_follow_invocation_ranges() {
        let host = MockConfig::parse(CONFIG)
            .unwrap()
            .host(None, "Retry")
            .unwrap();
        assert_eq!(
            host.invoke(req("Pay")).await.unwrap_err().error,
            "PaymentUnavailable"
        );
        assert_eq!(
            host.invoke(req("Pay")).await.unwrap(),
            TaskOutput::Final(json!({"chargeId": "c-1"}))
        );
        assert!(host.invoke(req("Pay")).await.is_ok());
        let fourth = host.invoke(req("Pay")).await.unwrap_err();
        assert_eq!(fourth.error, "States.Runtime");
        assert!(fourth.cause.unwrap().contains("invocation 3"));
        let missing = host.invoke(req("Ship")).await.unwrap_err();
        assert!(
            missing
                .cause
                .unwrap()
                .contains("no mocked response for Task state 'Ship'")
        );
    }

    #[test]
    fn configuration_errors_are_explicit() {
        let cfg = MockConfig::parse(CONFIG).unwrap();
        assert!(matches!(
            cfg.host(None, "Nope"),
            Err(MockConfigError::UnknownTestCase { .. })
        ));
        assert!(matches!(
            cfg.host(Some("other"), "Retry"),
            Err(MockConfigError::UnknownStateMachine { .. })
        ));
        assert!(
            MockConfig::parse(
                r#"{"StateMachines": {}, "MockedResponses": {"R": {"x": {"Return": 1}}}}"#
            )
            .is_err()
        );
        assert!(MockConfig::parse(r#"{"StateMachines": {}, "MockedResponses": {"R": {"0": {"Return": 1, "Throw": {"Error": "E"}}}}}"#).is_err());
    }
}
