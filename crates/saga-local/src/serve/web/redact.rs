//! Task tokens out of everything the console shows. A token resumes an
//! execution, so it is a secret; the history holds it (in the parameters of
//! a `.waitForTaskToken` task, as AWS's history does). Every member named
//! like a task token is replaced, and so is every other occurrence of the
//! values found that way, in any string at any depth (also inside JSON text
//! such as `input`, `output`, `parameters` and `cause`).

use std::collections::BTreeSet;

use serde_json::Value;

/// What a token is replaced by.
pub const REDACTED: &str = "«task token redacted»";

/// `taskToken`, `TaskToken`, `task_token`, … and `Token` inside a `Task`
/// object (`$states.context.Task.Token`).
fn is_token_key(key: &str, parent: Option<&str>) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    k == "tasktoken" || (k == "token" && parent.is_some_and(|p| p.eq_ignore_ascii_case("task")))
}

/// Collect token values from `v`, also from strings that are JSON text.
fn collect(v: &Value, parent: Option<&str>, found: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if is_token_key(k, parent)
                    && let Value::String(s) = child
                    && !s.is_empty()
                    && s != REDACTED
                {
                    found.insert(s.clone());
                }
                collect(child, Some(k), found);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, parent, found)),
        Value::String(s) => {
            if let Some(inner) = json_text(s) {
                collect(&inner, parent, found);
            }
        }
        _ => {}
    }
}

fn json_text(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        serde_json::from_str(s).ok()
    } else {
        None
    }
}

fn replace(v: &mut Value, parent: Option<&str>, tokens: &BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if is_token_key(k, parent) && child.is_string() {
                    *child = Value::String(REDACTED.to_owned());
                } else {
                    replace(child, Some(k), tokens);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace(i, parent, tokens)),
        Value::String(s) => {
            if let Some(mut inner) = json_text(s) {
                replace(&mut inner, parent, tokens);
                *s = inner.to_string();
            }
            for t in tokens {
                if s.contains(t.as_str()) {
                    *s = s.replace(t.as_str(), REDACTED);
                }
            }
        }
        _ => {}
    }
}

/// `values` with every task token replaced by [`REDACTED`].
pub fn redact(values: &mut [Value]) {
    let mut tokens = BTreeSet::new();
    for v in values.iter() {
        collect(v, None, &mut tokens);
    }
    for v in values.iter_mut() {
        replace(v, None, &tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_go_wherever_they_are_also_inside_json_text_and_causes() {
        let token = "AAAAKgAAAAIAAAAAAAAAAS3cr3tT0k3nValue123456789";
        let params = json!({"Payload": {"orderId": "o-1", "taskToken": token}}).to_string();
        let mut events = vec![
            json!({"type": "TaskScheduled", "taskScheduledEventDetails": {"parameters": params}}),
            json!({"type": "TaskFailed", "taskFailedEventDetails": {"cause": format!("no task for {token}")}}),
            json!({"Task": {"Token": token}, "tok": "tok_visa"}),
        ];
        redact(&mut events);
        let all = serde_json::to_string(&events).unwrap();
        assert!(!all.contains("S3cr3t"), "{all}");
        assert_eq!(all.matches(REDACTED).count(), 3, "{all}");
        assert!(all.contains("tok_visa"), "a payment token is no task token");
        assert!(all.contains("o-1"));
    }
}
