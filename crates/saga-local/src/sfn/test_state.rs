//! `TestState`: one state run once, with its input and the value after
//! each processing stage (`inspectionLevel` `DEBUG`/`TRACE`), as AWS's.
//! The engine does the work ([`asl::Engine::test_state`]); this reads and
//! checks the request members and writes the answer.
//!
//! An unmocked Task goes through the API's task host like any execution's:
//! the `--lambda-endpoint`, else the error AWS gives for a missing
//! function. (A MockConfigFile test case is picked by starting an
//! execution as `arn#Case`; TestState starts none, its `mock` member is the
//! way to mock here.)

use std::time::Duration;

use asl::{Inspection, TestDefinition, TestMock, TestStateError, TestStateInput, TestStateOutcome};
use serde_json::{Map, Value, json};

use super::SfnApi;
use super::machines::invalid_definition;
use super::protocol::{ApiError, Request};

/// How long a test may run, as AWS allows (then it fails with
/// `States.Timeout`).
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// `inspectionLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Info,
    Debug,
    Trace,
}

fn enum_error(value: &str, member: &str, allowed: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    ))
}

fn level(req: &Request) -> Result<Level, ApiError> {
    match req.opt_str("inspectionLevel")?.unwrap_or("INFO") {
        "INFO" => Ok(Level::Info),
        "DEBUG" => Ok(Level::Debug),
        "TRACE" => Ok(Level::Trace),
        other => Err(enum_error(other, "inspectionLevel", "INFO, DEBUG, TRACE")),
    }
}

/// A member holding JSON text: its value, or `what` naming the problem.
fn json_member(
    req: &Request,
    name: &str,
    bad: impl Fn(String) -> ApiError,
) -> Result<Option<Value>, ApiError> {
    let Some(text) = req.opt_str(name)? else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| bad(format!("'{name}' is not valid JSON: {e}")))
}

/// A member that must be a JSON object, if present.
fn object_member(req: &Request, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    match json_member(req, name, ApiError::validation)? {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(ApiError::validation(format!(
            "'{name}' must be a JSON object, found {other}"
        ))),
    }
}

/// `mock`: exactly one of `result` (JSON text) and `errorOutput`.
fn mock(req: &Request) -> Result<Option<TestMock>, ApiError> {
    let Some(m) = req.object("mock")? else {
        return Ok(None);
    };
    let m = Request::from_map(m.clone());
    if let Some(mode) = m.opt_str("fieldValidationMode")?
        && !matches!(mode, "STRICT" | "PRESENT" | "NONE")
    {
        return Err(enum_error(
            mode,
            "mock.fieldValidationMode",
            "STRICT, PRESENT, NONE",
        ));
    }
    let result = json_member(&m, "result", |e| ApiError::validation(format!("mock.{e}")))?;
    let error = m
        .object("errorOutput")?
        .map(|e| Request::from_map(e.clone()));
    match (result, error) {
        (Some(r), None) => Ok(Some(TestMock::Result(r))),
        (None, Some(e)) => Ok(Some(TestMock::Error {
            error: e.opt_str("error")?.unwrap_or_default().to_owned(),
            cause: e.opt_str("cause")?.map(str::to_owned),
        })),
        _ => Err(ApiError::validation(
            "mock must have exactly one of 'result' and 'errorOutput'",
        )),
    }
}

/// `stateConfiguration`: `retrierRetryCount` is applied; the Map and
/// Parallel members need engine features saga-local lacks, so they are
/// refused rather than ignored.
fn retrier_retry_count(req: &Request) -> Result<u32, ApiError> {
    let Some(c) = req.object("stateConfiguration")? else {
        return Ok(0);
    };
    for unsupported in [
        "errorCausedByState",
        "mapIterationFailureCount",
        "mapItemReaderData",
    ] {
        if c.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::validation(format!(
                "saga-local does not support stateConfiguration.{unsupported}"
            )));
        }
    }
    match c.get("retrierRetryCount") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "1 validation error detected: Value '{v}' at 'stateConfiguration.retrierRetryCount' failed to satisfy constraint: Member must have value greater than or equal to 0"
                ))
            }),
    }
}

/// The request, checked member by member: bad input is refused before
/// anything runs.
fn test_input(req: &Request) -> Result<TestStateInput, ApiError> {
    let mock = mock(req)?;
    let role_arn = req.opt_str("roleArn")?.map(str::to_owned);
    match &role_arn {
        None if mock.is_none() => {
            return Err(ApiError::validation(
                "roleArn is required unless a mock is given",
            ));
        }
        Some(arn) if !arn.starts_with("arn:") => return Err(ApiError::invalid_arn(arn)),
        _ => {}
    }
    let input = json_member(req, "input", |e| {
        ApiError::new("InvalidExecutionInput", format!("Invalid State Input: {e}"))
    })?;
    let context = object_member(req, "context")?;
    if context.is_some() && mock.is_none() {
        return Err(ApiError::validation(
            "'context' may only be given together with a mock",
        ));
    }
    Ok(TestStateInput {
        input: input.unwrap_or_else(|| json!({})),
        variables: object_member(req, "variables")?.unwrap_or_default(),
        retrier_retry_count: retrier_retry_count(req)?,
        context: context.map(Value::Object),
        mock,
        role_arn,
    })
}

fn engine_error(definition: &str, e: TestStateError) -> ApiError {
    match e {
        TestStateError::InvalidDefinition(problems) => invalid_definition(definition, &problems),
        other => ApiError::validation(other.to_string()),
    }
}

/// The `inspectionData` shown at `level`: every stage at DEBUG and TRACE
/// (saga-local runs no HTTP Task, so TRACE adds no request/response); at
/// INFO only which retrier or catcher took the error.
fn inspection_data(ins: &Inspection, level: Level) -> Option<Value> {
    let mut m = Map::new();
    if let Some(d) = &ins.error_details {
        let mut details = Map::new();
        let mut put = |k: &str, v: Option<u64>| {
            if let Some(v) = v {
                details.insert(k.to_owned(), json!(v));
            }
        };
        put("catchIndex", d.catch_index.map(|i| i as u64));
        put("retryIndex", d.retry_index.map(|i| i as u64));
        put(
            "retryBackoffIntervalSeconds",
            d.retry_backoff_interval_seconds,
        );
        m.insert("errorDetails".into(), Value::Object(details));
    }
    if level != Level::Info {
        let stages = [
            ("input", &ins.input),
            ("afterInputPath", &ins.after_input_path),
            ("afterParameters", &ins.after_parameters),
            ("afterArguments", &ins.after_arguments),
            ("result", &ins.result),
            ("afterResultSelector", &ins.after_result_selector),
            ("afterResultPath", &ins.after_result_path),
            ("afterItemSelector", &ins.after_item_selector),
        ];
        for (k, v) in stages {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.to_string()));
            }
        }
        if let Some(vars) = &ins.variables {
            m.insert(
                "variables".into(),
                Value::String(Value::Object(vars.clone()).to_string()),
            );
        }
        if let Some(n) = ins.max_concurrency {
            m.insert("maxConcurrency".into(), json!(n));
        }
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn answer(o: &TestStateOutcome, level: Level) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!(o.status.as_str()));
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v));
        }
    };
    put("output", o.output.as_ref().map(Value::to_string));
    put("error", o.error.clone());
    put("cause", o.cause.clone());
    put("nextState", o.next_state.clone());
    if let Some(ins) = inspection_data(&o.inspection, level) {
        m.insert("inspectionData".into(), ins);
    }
    Value::Object(m)
}

impl SfnApi {
    pub(super) async fn test_state(&self, req: &Request) -> Result<Value, ApiError> {
        let text = req.str("definition")?;
        let level = level(req)?;
        let _reveal_secrets = req.opt_bool("revealSecrets")?;
        let input = test_input(req)?;
        let def = TestDefinition::parse(text, req.opt_str("stateName")?)
            .map_err(|e| engine_error(text, e))?;
        let run = self.engine.test_state(&def, input);
        let outcome = match tokio::time::timeout(TEST_TIMEOUT, run).await {
            Ok(o) => o.map_err(|e| engine_error(text, e))?,
            Err(_) => {
                return Ok(json!({
                    "status": "FAILED",
                    "error": "States.Timeout",
                    "cause": "The test ran for more than five minutes",
                }));
            }
        };
        Ok(answer(&outcome, level))
    }
}
