//! Workflow variables (`Assign`, `$name`): the scope a graph of states
//! reads and writes, and the limits AWS sets on what it stores.
//!
//! The top-level states of an execution share one scope. A Parallel branch
//! or a Map iteration gets a scope of its own that reads the outer variables
//! (as they were when the Parallel or Map state was entered); what it
//! assigns stays in it and is gone when the branch or iteration ends. An
//! inner scope may not assign a variable of an outer scope.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{ErrorName, Failure};
use crate::path::{is_name_char, is_name_start};

/// Largest value of one variable (serialized JSON, UTF-8 bytes).
pub(crate) const MAX_VARIABLE_BYTES: usize = 256 * 1024;
/// Largest total of the values one `Assign` field writes.
pub(crate) const MAX_ASSIGN_BYTES: usize = 256 * 1024;
/// Largest total of the variables an execution stores (in one scope chain).
pub(crate) const MAX_EXECUTION_BYTES: usize = 10 * 1024 * 1024;
/// Longest variable name.
pub(crate) const MAX_NAME_LEN: usize = 80;

/// Whether `name` may be assigned: a letter or `_`, then letters, digits
/// and `_`, at most [`MAX_NAME_LEN`] characters, and not the reserved
/// `states` (`$states` is the JSONata state data).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(is_name_start) && chars.all(is_name_char);
    if !ok {
        return Err(format!(
            "'{name}' is not a valid variable name: it must start with a letter or '_' and contain only letters, digits and '_'"
        ));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "the variable name '{name}' is longer than {MAX_NAME_LEN} characters"
        ));
    }
    if name == "states" {
        return Err("'states' is reserved ($states) and cannot be assigned".into());
    }
    Ok(())
}

/// The variables one graph of states sees. The maps are shared (and
/// copied on write), so the iterations of a Map state cost nothing until
/// they assign.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    /// Every visible variable: the enclosing scopes' and this one's.
    all: Arc<Map<String, Value>>,
    /// The names the enclosing scopes own (this scope may not assign them).
    outer: Arc<BTreeSet<String>>,
    /// Serialized size of each visible value.
    sizes: Arc<HashMap<String, usize>>,
    /// Their sum.
    total: usize,
}

/// What one state assigned, checked against the limits and serialized for
/// the `StateExited` event.
pub(crate) struct Assigned {
    values: Map<String, Value>,
    texts: BTreeMap<String, String>,
}

impl Assigned {
    /// `assignedVariables`: each value as JSON text.
    pub(crate) fn texts(&self) -> &BTreeMap<String, String> {
        &self.texts
    }
}

impl Vars {
    /// The top-level scope of a resumed execution.
    pub(crate) fn from_local(local: Map<String, Value>) -> Vars {
        let sizes: HashMap<String, usize> = local
            .iter()
            .map(|(k, v)| (k.clone(), json_len(v)))
            .collect();
        Vars {
            total: sizes.values().sum(),
            all: Arc::new(local),
            sizes: Arc::new(sizes),
            outer: Arc::default(),
        }
    }

    /// The value of `$name`, from this scope or an outer one.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.all.get(name)
    }

    /// Every variable this scope sees (what a JSONata expression binds).
    #[allow(dead_code)]
    pub(crate) fn all(&self) -> &Map<String, Value> {
        &self.all
    }

    /// What this scope assigned (for snapshots of the top-level scope).
    pub(crate) fn local(&self) -> Map<String, Value> {
        if self.outer.is_empty() {
            return (*self.all).clone();
        }
        self.all
            .iter()
            .filter(|(k, _)| !self.outer.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A scope for a Parallel branch or Map iteration: it reads everything
    /// this one sees and may assign none of it.
    pub(crate) fn inner(&self) -> Vars {
        Vars {
            outer: Arc::new(self.all.keys().cloned().collect()),
            ..self.clone()
        }
    }

    /// Check what a state assigns against the scope rules and the size
    /// limits; the values are applied later with [`Vars::apply`].
    pub(crate) fn check(&self, values: Map<String, Value>) -> Result<Assigned, Failure> {
        let mut texts = BTreeMap::new();
        let mut total = 0usize;
        let mut replaced = 0usize;
        for (name, v) in &values {
            if self.outer.contains(name) {
                return Err(Failure::runtime(format!(
                    "Cannot assign the variable '{name}': it belongs to an outer scope"
                )));
            }
            let text = v.to_string();
            if text.len() > MAX_VARIABLE_BYTES {
                return Err(too_large(format!(
                    "The value assigned to the variable '{name}' has {} bytes; a variable can hold at most {MAX_VARIABLE_BYTES}",
                    text.len()
                )));
            }
            total += text.len();
            replaced += self.sizes.get(name).copied().unwrap_or(0);
            texts.insert(name.clone(), text);
        }
        if total > MAX_ASSIGN_BYTES {
            return Err(too_large(format!(
                "The variables assigned by one state have {total} bytes together; at most {MAX_ASSIGN_BYTES} are allowed"
            )));
        }
        let stored = self.total - replaced + total;
        if stored > MAX_EXECUTION_BYTES {
            return Err(too_large(format!(
                "The execution would store {stored} bytes of variables; at most {MAX_EXECUTION_BYTES} are allowed"
            )));
        }
        Ok(Assigned { values, texts })
    }

    /// Store checked assignments in this scope.
    pub(crate) fn apply(&mut self, a: Assigned) {
        if a.values.is_empty() {
            return;
        }
        let all = Arc::make_mut(&mut self.all);
        let sizes = Arc::make_mut(&mut self.sizes);
        for (name, v) in a.values {
            let n = a.texts.get(&name).map_or(0, String::len);
            let old = sizes.insert(name.clone(), n).unwrap_or(0);
            self.total = self.total - old + n;
            all.insert(name, v);
        }
    }
}

fn too_large(cause: String) -> Failure {
    Failure::new(ErrorName::DataLimitExceeded, cause)
}

/// The length of `v` as compact JSON, without building the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_follow_the_identifier_rules() {
        assert!(check_name("orderId").is_ok());
        assert!(check_name("_x9").is_ok());
        assert!(check_name("9x").is_err());
        assert!(check_name("a-b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("states").is_err());
        assert!(check_name(&"a".repeat(81)).is_err());
    }

    #[test]
    fn inner_scopes_read_outer_values_and_cannot_write_them() {
        let mut top = Vars::default();
        let a = top.check(map(json!({"x": 1}))).ok();
        top.apply(a.unwrap_or_else(|| unreachable!()));
        let mut inner = top.inner();
        assert_eq!(inner.get("x"), Some(&json!(1)));
        assert!(inner.check(map(json!({"x": 2}))).is_err());
        let b = inner.check(map(json!({"y": 2}))).ok();
        inner.apply(b.unwrap_or_else(|| unreachable!()));
        assert_eq!(inner.get("y"), Some(&json!(2)));
        assert_eq!(top.get("y"), None);
    }

    #[test]
    fn values_over_the_limits_are_data_limit_exceeded() {
        let big = "x".repeat(MAX_VARIABLE_BYTES);
        let err = Vars::default().check(map(json!({ "v": big }))).err();
        assert_eq!(err.map(|f| f.error), Some(ErrorName::DataLimitExceeded));
        let half = "x".repeat(MAX_VARIABLE_BYTES / 2);
        let err = Vars::default()
            .check(map(json!({ "a": half, "b": half })))
            .err();
        assert_eq!(err.map(|f| f.error), Some(ErrorName::DataLimitExceeded));
    }

    #[test]
    fn sizes_are_counted_as_compact_json() {
        assert_eq!(json_len(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#.len());
    }
}
