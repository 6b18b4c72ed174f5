//! Executions as DescribeExecution and ListExecutions show them, read from
//! the `executions` table (the order saga's and the API-created machines'
//! alike: both survive a restart), and their redrives.

use asl::{ExecutionSnapshot, ExecutionStatus};
use saga_sqlite::{ExecutionMeta, ExecutionRow, ExecutionSummary};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::protocol::{epoch_ms, page_key, page_token};

/// How long after it ended an execution can be redriven (AWS: 14 days).
pub const REDRIVE_PERIOD_MS: i64 = 14 * 24 * 60 * 60 * 1000;

/// How often and when an execution was redriven, and the `clientToken`s
/// of its recent redrives (the `redrive` column).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redrives {
    pub count: u32,
    pub last_ms: Option<i64>,
    #[serde(default)]
    pub tokens: Vec<ClientToken>,
}

/// A `clientToken` that redrove the execution, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientToken {
    pub token: String,
    pub at_ms: i64,
}

impl Redrives {
    /// The column's document (none: never redriven; unreadable: the same).
    pub fn parse(doc: Option<&str>) -> Self {
        doc.and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default()
    }

    pub fn to_doc(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What DescribeExecution and ListExecutions show of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionView {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub redrives: Redrives,
}

/// Why an execution cannot be redriven now, in AWS's words; `None`: it can.
pub fn not_redrivable(
    status: ExecutionStatus,
    stop_ms: Option<i64>,
    now_ms: i64,
) -> Option<String> {
    match status {
        ExecutionStatus::Running => Some("Execution is RUNNING and cannot be redriven".into()),
        ExecutionStatus::Succeeded => Some("Execution is SUCCEEDED and cannot be redriven".into()),
        _ if stop_ms.is_some_and(|s| now_ms - s > REDRIVE_PERIOD_MS) => {
            Some("Execution redrivable period exceeded".into())
        }
        _ => None,
    }
}

impl ExecutionView {
    /// A `DescribeExecution` answer. Only the execution's own input and
    /// output: a task token never shows here.
    pub fn describe(&self) -> Value {
        let mut v = self.list_item();
        let o = v.as_object_mut();
        if let Some(o) = o {
            o.insert("input".into(), Value::String(self.input.to_string()));
            o.insert("inputDetails".into(), json!({"included": true}));
            if let Some(out) = &self.output {
                o.insert("output".into(), Value::String(out.to_string()));
                o.insert("outputDetails".into(), json!({"included": true}));
            }
            if let Some(e) = &self.error {
                o.insert("error".into(), Value::String(e.clone()));
            }
            if let Some(c) = &self.cause {
                o.insert("cause".into(), Value::String(c.clone()));
            }
            let now = chrono::Utc::now().timestamp_millis();
            match not_redrivable(self.status, self.stop_ms, now) {
                None => {
                    o.insert("redriveStatus".into(), json!("REDRIVABLE"));
                }
                Some(why) => {
                    o.insert("redriveStatus".into(), json!("NOT_REDRIVABLE"));
                    o.insert("redriveStatusReason".into(), json!(why));
                }
            }
        }
        v
    }

    /// An item of `ListExecutions`.
    pub fn list_item(&self) -> Value {
        let mut v = json!({
            "executionArn": self.arn,
            "stateMachineArn": self.machine_arn,
            "name": self.name,
            "status": self.status.as_str(),
            "startDate": epoch_ms(self.start_ms),
            "redriveCount": self.redrives.count,
        });
        if let Some(stop) = self.stop_ms {
            v["stopDate"] = epoch_ms(stop);
        }
        if let Some(at) = self.redrives.last_ms {
            v["redriveDate"] = epoch_ms(at);
        }
        v
    }

    /// The key `ListExecutions` pages by: newest first, then by row name.
    pub fn page_key(&self, row_name: &str) -> (i64, String) {
        (self.start_ms, row_name.to_owned())
    }
}

/// `(start_ms, row name)` of the last item of the previous page.
pub fn list_after(token: Option<&str>) -> Result<Option<(i64, String)>, super::ApiError> {
    let Some(t) = token else { return Ok(None) };
    let key = page_key("executions", t)?;
    key.split_once(':')
        .and_then(|(ms, name)| Some((ms.parse().ok()?, name.to_owned())))
        .map(Some)
        .ok_or_else(|| super::ApiError::invalid_token(format!("Invalid Token: '{t}'")))
}

/// A `ListExecutions` answer from one more row than a page holds, each
/// with the name of its row (what the next page continues after).
pub fn list_page(mut views: Vec<(String, ExecutionView)>, max: usize) -> Value {
    let more = views.len() > max;
    views.truncate(max);
    let items: Vec<Value> = views.iter().map(|(_, v)| v.list_item()).collect();
    let mut answer = json!({ "executions": items });
    if more && let Some((row, last)) = views.last() {
        let (ms, name) = last.page_key(row);
        answer["nextToken"] = Value::String(page_token("executions", &format!("{ms}:{name}")));
    }
    answer
}

pub fn status_of(s: &str) -> ExecutionStatus {
    match s {
        "SUCCEEDED" => ExecutionStatus::Succeeded,
        "FAILED" => ExecutionStatus::Failed,
        "TIMED_OUT" => ExecutionStatus::TimedOut,
        "ABORTED" => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Running,
    }
}

/// A row of the list, without reading its state.
pub fn summary_view(
    arn: String,
    machine_arn: String,
    name: String,
    s: &ExecutionSummary,
) -> ExecutionView {
    let status = status_of(&s.status);
    ExecutionView {
        arn,
        machine_arn,
        name,
        stop_ms: (status != ExecutionStatus::Running).then_some(s.updated_at_ms),
        status,
        start_ms: s.created_at_ms,
        input: Value::Null,
        output: None,
        error: None,
        cause: None,
        redrives: Redrives::parse(s.redrive.as_deref()),
    }
}

/// What the `state` column holds, read for the API: the head snapshot, or
/// the input of an execution not started yet, or a bare error.
#[derive(Debug)]
pub struct Parsed {
    pub input: Value,
    pub snapshot: Option<ExecutionSnapshot>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub fn parse_state(state: &str) -> Parsed {
    let value: Value = serde_json::from_str(state).unwrap_or(Value::Null);
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
    if value.get("notStarted").and_then(Value::as_bool) == Some(true) {
        return Parsed {
            input: value.get("input").cloned().unwrap_or(Value::Null),
            snapshot: None,
            error: None,
            cause: None,
        };
    }
    let (error, cause) = (text("error"), text("cause"));
    match serde_json::from_value::<ExecutionSnapshot>(value) {
        Ok(s) => Parsed {
            input: s.execution.input.clone(),
            error: s.error.clone(),
            cause: s.cause.clone(),
            snapshot: Some(s),
        },
        // A start the engine refused, or a panic recorded without a snapshot.
        Err(_) => Parsed {
            input: Value::Null,
            snapshot: None,
            error,
            cause,
        },
    }
}

/// The whole view of a row (its head read, not its history).
pub fn row_view(
    arn: String,
    machine_arn: String,
    name: String,
    row: ExecutionRow,
    meta: &ExecutionMeta,
) -> ExecutionView {
    let summary = ExecutionSummary {
        name: row.name,
        status: row.status,
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
        redrive: meta.redrive.clone(),
    };
    let mut view = summary_view(arn, machine_arn, name, &summary);
    let parsed = parse_state(&row.state);
    view.input = parsed.input;
    view.error = parsed.error;
    view.cause = parsed.cause;
    if let Some(s) = parsed.snapshot {
        view.start_ms = s.execution.start_time.timestamp_millis();
        if let Some(stop) = s.stop_time {
            view.stop_ms = Some(stop.timestamp_millis());
        }
        view.output = s.output;
    }
    view
}
