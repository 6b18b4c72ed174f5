//! History events as `GetExecutionHistory` sends them: the engine's events
//! (already named and shaped as AWS's) with epoch-second timestamps, paged
//! in SQL with `maxResults` / `nextToken` (only the page is read), oldest
//! or newest first, with or without the execution data (inputs and
//! outputs). A token of one order is refused in the other.

use asl::HistoryEvent;
use saga_sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::serve::persistence::parse_events;

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

/// A `GetExecutionHistory` page, read from the store: at most `max`
/// events of the execution whose row is `key`, from the event the
/// `nextToken` names (its id) on, oldest or newest first. One event more
/// than the page is read to know whether another page follows.
pub async fn page(
    store: &SqliteStore,
    key: &str,
    max: usize,
    reverse: bool,
    next_token: Option<&str>,
    include_data: bool,
) -> Result<Value, ApiError> {
    let from = match next_token {
        Some(t) => Some(
            page_key(if reverse { "history-rev" } else { "history" }, t)?
                .parse::<u64>()
                .map_err(|_| ApiError::invalid_token(format!("Invalid Token: '{t}'")))?,
        ),
        None => None,
    };
    let mut rows = store
        .events(key, from, max.saturating_add(1), reverse)
        .await?;
    let next = (rows.len() > max).then(|| rows[max].id);
    rows.truncate(max);
    let events = parse_events(&rows)?;
    let out: Vec<Value> = events.iter().map(|e| wire(e, include_data)).collect();
    let mut answer = json!({"events": out});
    if let Some(id) = next {
        let kind = if reverse { "history-rev" } else { "history" };
        answer["nextToken"] = Value::String(page_token(kind, &id.to_string()));
    }
    Ok(answer)
}
