//! Executions of the state machines created through the API: run by the
//! API's own engine, kept in memory (their history as the engine writes
//! it, through an [`Observer`]), the newest [`MAX_FINISHED`] finished ones
//! remembered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use asl::{ExecutionInfo, ExecutionOutcome, ExecutionStatus, HistoryEvent, Observer};
use serde_json::{Value, json};

use super::protocol::{epoch_ms, page_key, page_token};

/// Finished executions kept for Describe / List / GetExecutionHistory.
pub const MAX_FINISHED: usize = 10_000;

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
            o.insert("redriveCount".into(), json!(0));
            o.insert("redriveStatus".into(), json!("NOT_REDRIVABLE"));
            o.insert(
                "redriveStatusReason".into(),
                json!("saga-local does not redrive executions"),
            );
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
        });
        if let Some(stop) = self.stop_ms {
            v["stopDate"] = epoch_ms(stop);
        }
        v
    }

    /// The key `ListExecutions` pages by: newest first, then by name.
    pub fn page_key(&self) -> (i64, String) {
        (self.start_ms, self.name.clone())
    }
}

/// `(start_ms, name)` of the last item of the previous page.
pub fn list_after(token: Option<&str>) -> Result<Option<(i64, String)>, super::ApiError> {
    let Some(t) = token else { return Ok(None) };
    let key = page_key("executions", t)?;
    key.split_once(':')
        .and_then(|(ms, name)| Some((ms.parse().ok()?, name.to_owned())))
        .map(Some)
        .ok_or_else(|| super::ApiError::invalid_token(format!("Invalid Token: '{t}'")))
}

/// A `ListExecutions` answer from one more item than a page holds.
pub fn list_page(mut views: Vec<ExecutionView>, max: usize) -> Value {
    let more = views.len() > max;
    views.truncate(max);
    let mut answer =
        json!({"executions": views.iter().map(ExecutionView::list_item).collect::<Vec<_>>()});
    if more && let Some(last) = views.last() {
        let (ms, name) = last.page_key();
        answer["nextToken"] = Value::String(page_token("executions", &format!("{ms}:{name}")));
    }
    answer
}

#[derive(Debug)]
struct Record {
    view: ExecutionView,
    history: Vec<HistoryEvent>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The executions of the API's engine.
#[derive(Debug, Default)]
pub struct Live {
    records: Mutex<HashMap<String, Record>>,
    finished: Mutex<VecDeque<String>>,
}

impl Live {
    /// A new running execution; false if one with this ARN exists.
    pub fn insert(&self, view: ExecutionView) -> bool {
        let mut records = lock(&self.records);
        if records.contains_key(&view.arn) {
            return false;
        }
        records.insert(
            view.arn.clone(),
            Record {
                view,
                history: Vec::new(),
            },
        );
        true
    }

    pub fn get(&self, arn: &str) -> Option<ExecutionView> {
        lock(&self.records).get(arn).map(|r| r.view.clone())
    }

    pub fn history(&self, arn: &str) -> Option<Vec<HistoryEvent>> {
        lock(&self.records).get(arn).map(|r| r.history.clone())
    }

    /// The executions of one machine after `after`, newest first, at most
    /// `limit`.
    pub fn list(
        &self,
        machine_arn: &str,
        status: Option<&str>,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> Vec<ExecutionView> {
        let mut views: Vec<ExecutionView> = lock(&self.records)
            .values()
            .map(|r| &r.view)
            .filter(|v| v.machine_arn == machine_arn)
            .filter(|v| status.is_none_or(|s| v.status.as_str() == s))
            .filter(|v| after.is_none_or(|a| v.page_key() < *a))
            .cloned()
            .collect();
        views.sort_by_key(|v| std::cmp::Reverse(v.page_key()));
        views.truncate(limit);
        views
    }

    /// The execution ended: its outcome replaces what the events built up.
    pub fn finish(&self, outcome: ExecutionOutcome) {
        let arn = outcome.execution.id.clone();
        {
            let mut records = lock(&self.records);
            let Some(r) = records.get_mut(&arn) else {
                return;
            };
            r.view.status = outcome.status;
            r.view.stop_ms = Some(outcome.stop_time.timestamp_millis());
            r.view.output = outcome.output;
            r.view.error = outcome.error;
            r.view.cause = outcome.cause;
            r.history = outcome.history;
        }
        let mut finished = lock(&self.finished);
        finished.push_back(arn);
        while finished.len() > MAX_FINISHED {
            if let Some(old) = finished.pop_front() {
                lock(&self.records).remove(&old);
            }
        }
    }
}

/// Feeds [`Live`] the events of running executions.
#[derive(Debug)]
pub struct LiveObserver(pub Arc<Live>);

impl Observer for LiveObserver {
    fn on_event(&self, execution: &ExecutionInfo, event: &HistoryEvent) {
        if let Some(r) = lock(&self.0.records).get_mut(&execution.id) {
            if event.id == 1 {
                r.view.start_ms = event.timestamp.timestamp_millis();
            }
            r.history.push(event.clone());
        }
    }
}
