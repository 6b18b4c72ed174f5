//! What TestState runs: one state wrapped into a machine, or one state of
//! a whole machine, found by name at any depth.

use serde_json::{Map, Value};

use super::{TEST_STATE_NAME, TestStateError};
use crate::error::{Problem, pointer_token};
use crate::model::{Graph, Kind, StateMachine};

/// The definition TestState runs: one state, or a whole machine and the
/// name of one of its states (at any depth).
#[derive(Debug, Clone)]
pub struct TestDefinition {
    pub(super) machine: StateMachine,
    pub(super) state: String,
}

impl TestDefinition {
    /// Parse `definition`: a single state (`{"Type": …}`) when `state_name`
    /// is None, else a whole state machine holding that state. Each
    /// problem's pointer is into `definition` as written.
    pub fn parse(definition: &str, state_name: Option<&str>) -> Result<Self, TestStateError> {
        let invalid = |m: String| TestStateError::InvalidDefinition(vec![Problem::new("", m)]);
        let v: Value = serde_json::from_str(definition)
            .map_err(|e| invalid(format!("the definition is not valid JSON: {e}")))?;
        if let Some(name) = state_name {
            let machine =
                StateMachine::from_value(&v).map_err(TestStateError::InvalidDefinition)?;
            if find(&machine.inner.root, name).is_none() {
                return Err(TestStateError::NoSuchState(name.to_owned()));
            }
            return Ok(TestDefinition {
                machine,
                state: name.to_owned(),
            });
        }
        let Some(obj) = v.as_object().filter(|o| o.contains_key("Type")) else {
            let hint = if v.get("States").is_some() {
                " (a whole state machine needs the name of the state to test)"
            } else {
                ""
            };
            return Err(invalid(format!(
                "the definition must be one state, a JSON object with a \"Type\"{hint}"
            )));
        };
        let machine = StateMachine::from_value(&wrap(obj)).map_err(|problems| {
            let prefix = format!("/States/{}", pointer_token(TEST_STATE_NAME));
            let local = problems.into_iter().map(|p| Problem {
                pointer: p
                    .pointer
                    .strip_prefix(&prefix)
                    .unwrap_or(&p.pointer)
                    .to_owned(),
                message: p.message,
            });
            TestStateError::InvalidDefinition(local.collect())
        })?;
        Ok(TestDefinition {
            machine,
            state: TEST_STATE_NAME.to_owned(),
        })
    }

    /// The name of the state under test.
    pub fn state_name(&self) -> &str {
        &self.state
    }
}

/// A machine around one state: the states it can go to are `Succeed`
/// placeholders, so its `Next`, `Default` and `Catch` targets validate.
fn wrap(state: &Map<String, Value>) -> Value {
    let mut states = Map::new();
    let name = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let in_list = |key: &str| -> Vec<String> {
        let list = state.get(key).and_then(Value::as_array);
        list.into_iter()
            .flatten()
            .filter_map(|r| name(r.get("Next")))
            .collect()
    };
    let targets = [name(state.get("Next")), name(state.get("Default"))]
        .into_iter()
        .flatten()
        .chain(in_list("Choices"))
        .chain(in_list("Catch"));
    for t in targets.filter(|t| t != TEST_STATE_NAME) {
        states.insert(t, serde_json::json!({"Type": "Succeed"}));
    }
    states.insert(TEST_STATE_NAME.to_owned(), Value::Object(state.clone()));
    serde_json::json!({"StartAt": TEST_STATE_NAME, "States": states})
}

/// The graph holding the state `name` and its index there, at any depth.
pub(super) fn find<'g>(graph: &'g Graph, name: &str) -> Option<(&'g Graph, usize)> {
    if let Some(&i) = graph.by_name.get(name) {
        return Some((graph, i));
    }
    graph.states.iter().find_map(|s| match &s.kind {
        Kind::Parallel(p) => p.branches.iter().find_map(|b| find(b, name)),
        Kind::Map(m) => find(&m.processor, name),
        _ => None,
    })
}

/// Whether the state is written in JSONata: its own `QueryLanguage`, else
/// the machine's.
pub(super) fn is_jsonata(machine: &StateMachine, name: &str) -> bool {
    fn state_json<'v>(states: &'v Value, name: &str) -> Option<&'v Value> {
        let states = states.as_object()?;
        if let Some(s) = states.get(name) {
            return Some(s);
        }
        states.values().find_map(|s| {
            let nested = s.get("Branches").and_then(Value::as_array);
            let graphs = nested.into_iter().flatten().chain(
                ["ItemProcessor", "Iterator"]
                    .into_iter()
                    .filter_map(|k| s.get(k)),
            );
            graphs
                .filter_map(|g| g.get("States"))
                .find_map(|g| state_json(g, name))
        })
    }
    let def = machine.definition();
    let top = def.get("QueryLanguage").and_then(Value::as_str);
    let own = def
        .get("States")
        .and_then(|s| state_json(s, name))
        .and_then(|s| s.get("QueryLanguage"))
        .and_then(Value::as_str);
    own.or(top) == Some("JSONata")
}
