//! `QueryLanguage`: the machine's and each state's, and the fields each
//! language allows. A JSONPath machine may have JSONata states; a JSONata
//! machine may not have JSONPath states; Parallel branches and Map item
//! processors cannot declare one, so their states default to the machine's.

use serde_json::{Map, Value};

use super::Builder;
use crate::error::pointer_token;
use crate::model::QueryLanguage;

/// Fields only JSONPath states have (JSONata states use `Arguments`,
/// `Output`, `Items` and expressions instead).
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "ItemsPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
];

/// Fields only JSONata states have.
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

impl QueryLanguage {
    pub(crate) fn parse(s: &str) -> Option<QueryLanguage> {
        match s {
            "JSONPath" => Some(QueryLanguage::JsonPath),
            "JSONata" => Some(QueryLanguage::Jsonata),
            _ => None,
        }
    }
}

impl Builder {
    /// The top-level `QueryLanguage` (JSONPath when absent).
    pub(super) fn machine_language(&mut self, v: &Value, ptr: &str) -> QueryLanguage {
        match v.as_str().and_then(QueryLanguage::parse) {
            Some(ql) => ql,
            None => {
                self.problem(ptr, "QueryLanguage must be \"JSONPath\" or \"JSONata\"");
                QueryLanguage::JsonPath
            }
        }
    }

    /// A state's `QueryLanguage` (the machine's when absent), and a problem
    /// for each field the language does not have.
    pub(super) fn state_language(&mut self, obj: &Map<String, Value>, ptr: &str) -> QueryLanguage {
        let ql = match obj.get("QueryLanguage") {
            None => self.language,
            Some(v) => {
                let qp = format!("{ptr}/QueryLanguage");
                match v.as_str().and_then(QueryLanguage::parse) {
                    Some(QueryLanguage::JsonPath) if self.language == QueryLanguage::Jsonata => {
                        self.problem(
                            ptr,
                            "\"QueryLanguage\": \"JSONPath\" is not allowed in a JSONata state machine (only a JSONPath machine can have states of both languages)",
                        );
                        QueryLanguage::Jsonata
                    }
                    Some(ql) => ql,
                    None => {
                        self.problem(qp, "QueryLanguage must be \"JSONPath\" or \"JSONata\"");
                        self.language
                    }
                }
            }
        };
        self.language_fields(obj, ptr, ql, JSONPATH_ONLY, JSONATA_ONLY);
        ql
    }

    /// Problems for fields of the other language in `obj` (a state, a
    /// catcher or a Choice rule).
    pub(super) fn language_fields(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        ql: QueryLanguage,
        path_only: &[&str],
        jsonata_only: &[&str],
    ) {
        for k in obj.keys() {
            let kp = format!("{ptr}/{}", pointer_token(k));
            match ql {
                QueryLanguage::Jsonata if path_only.contains(&k.as_str()) => self.problem(
                    kp,
                    format!("'{k}' is a JSONPath field and cannot be used in a JSONata state"),
                ),
                QueryLanguage::JsonPath if jsonata_only.contains(&k.as_str()) => self.problem(
                    kp,
                    format!(
                        "'{k}' is a JSONata field: it needs \"QueryLanguage\": \"JSONata\" (on the state or the machine)"
                    ),
                ),
                _ => {}
            }
        }
    }

    /// A catcher's fields in `ql`: JSONPath catchers have `ResultPath`,
    /// JSONata ones `Output`.
    pub(super) fn catcher_language(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        ql: QueryLanguage,
    ) {
        self.language_fields(obj, ptr, ql, &["ResultPath"], &["Output"]);
    }

    /// A top-level Choice rule's fields in `ql`: JSONata rules have
    /// `Condition` (and `Output`) and no comparison operators, JSONPath
    /// rules the reverse. Each field of the other language is reported at
    /// itself, a missing `Condition` at the rule.
    pub(super) fn rule_language(&mut self, obj: &Map<String, Value>, ptr: &str, ql: QueryLanguage) {
        match ql {
            QueryLanguage::JsonPath => {
                self.language_fields(obj, ptr, ql, &[], &["Condition", "Output"]);
            }
            QueryLanguage::Jsonata => {
                for k in obj.keys() {
                    let known = matches!(
                        k.as_str(),
                        "Condition" | "Next" | "Assign" | "Output" | "Comment"
                    );
                    if !known {
                        self.problem(
                            format!("{ptr}/{}", pointer_token(k)),
                            format!("'{k}' is not a field of a JSONata choice rule (Condition, Next, Assign, Output, Comment)"),
                        );
                    }
                }
                if !obj.contains_key("Condition") {
                    self.problem(ptr, "a JSONata choice rule needs a Condition");
                }
            }
        }
    }
}
