//! History events as `GetExecutionHistory` sends them: the engine's events
//! (already named and shaped as AWS's) with epoch-second timestamps, paged
//! with `maxResults` / `nextToken`, oldest or newest first, with or without
//! the execution data (inputs and outputs).

use asl::HistoryEvent;
use serde_json::{Value, json};

use super::protocol::{ApiError, epoch, page_key, page_token};

/// One event on the wire.
pub fn wire(event: &HistoryEvent, include_data: bool) -> Value {
    let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("timestamp".into(), epoch(event.timestamp));
        if !include_data {
            for (k, details) in o.iter_mut() {
                if k.ends_with("EventDetails")
                    && let Some(d) = details.as_object_mut()
                {
                    d.remove("input");
                    d.remove("output");
                }
            }
        }
    }
    v
}

/// A `GetExecutionHistory` answer for the whole `events`.
pub fn page(
    events: &[HistoryEvent],
    max: usize,
    reverse: bool,
    next_token: Option<&str>,
    include_data: bool,
) -> Result<Value, ApiError> {
    let skip = match next_token {
        Some(t) => page_key("history", t)?
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_token(format!("Invalid Token: '{t}'")))?,
        None => 0,
    };
    let ordered: Box<dyn Iterator<Item = &HistoryEvent>> = if reverse {
        Box::new(events.iter().rev())
    } else {
        Box::new(events.iter())
    };
    let out: Vec<Value> = ordered
        .skip(skip)
        .take(max)
        .map(|e| wire(e, include_data))
        .collect();
    let mut answer = json!({"events": out});
    if skip + max < events.len() {
        answer["nextToken"] = Value::String(page_token("history", &(skip + max).to_string()));
    }
    Ok(answer)
}
