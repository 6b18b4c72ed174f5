//! Graphs (the machine, a branch, an item processor) and their states: one
//! method per state type.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

use super::{
    Builder, COMMON, MAX_GRAPH_DEPTH, MAX_NAME_LEN, MAX_SECONDS, OneOf, UNSUPPORTED_MAP_FIELDS,
    allowed_fields,
};
use crate::choice::parse_timestamp;
use crate::error::pointer_token;
use crate::host::Resource;
use crate::model::{
    ChoiceRule, Graph, Kind, MapState, ParallelState, Payload, QueryLanguage, Seconds, State,
    TaskState, WaitFor,
};

/// The names of a graph's states, by index.
type Names = HashMap<String, usize>;

impl Builder {
    /// A graph: the machine itself, a branch, or an item processor.
    pub(super) fn graph(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Option<Graph> {
        if depth > MAX_GRAPH_DEPTH {
            self.problem(ptr, "Parallel/Map states are nested too deeply");
            return None;
        }
        let start_at = match obj.get("StartAt") {
            Some(v) => self.string(v, &format!("{ptr}/StartAt")),
            None => {
                self.problem(ptr, "StartAt is required");
                None
            }
        };
        let states_ptr = format!("{ptr}/States");
        let states_obj = match obj.get("States") {
            Some(Value::Object(m)) if !m.is_empty() => m,
            Some(_) => {
                self.problem(states_ptr, "States must be a non-empty object");
                return None;
            }
            None => {
                self.problem(ptr, "States is required");
                return None;
            }
        };
        let names = self.state_names(states_obj, &states_ptr);
        let start = match start_at {
            Some(s) => match names.get(s) {
                Some(i) => Some(*i),
                None => {
                    self.problem(
                        format!("{ptr}/StartAt"),
                        format!("StartAt names '{s}', which is not a state here"),
                    );
                    None
                }
            },
            None => None,
        };
        let mut states = Vec::with_capacity(states_obj.len());
        for (name, v) in states_obj {
            let sp = format!("{states_ptr}/{}", pointer_token(name));
            if let Some(s) = self.state(name, v, &sp, &names, depth) {
                states.push(s);
            }
        }
        if states.len() != states_obj.len() {
            return None;
        }
        let graph = Graph {
            start: start?,
            states,
            by_name: names,
        };
        self.check_graph(&graph, &states_ptr);
        Some(graph)
    }

    /// Index the states of a graph by name, checking each name's length and
    /// that it is unique in the whole machine.
    fn state_names(&mut self, states_obj: &Map<String, Value>, states_ptr: &str) -> Names {
        let mut names = Names::new();
        for (i, name) in states_obj.keys().enumerate() {
            let sp = format!("{states_ptr}/{}", pointer_token(name));
            if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
                self.problem(
                    sp.clone(),
                    format!("state names must be 1 to {MAX_NAME_LEN} characters long"),
                );
            }
            if let Some(other) = self.names.get(name) {
                self.problem(
                    sp.clone(),
                    format!("state name '{name}' is already used at {other}"),
                );
            } else {
                self.names.insert(name.clone(), sp);
            }
            names.insert(name.clone(), i);
        }
        names
    }

    fn check_graph(&mut self, g: &Graph, states_ptr: &str) {
        if !g.states.iter().any(|s| s.kind.is_terminal()) {
            self.problem(
                states_ptr,
                "no terminal state: at least one state must be a Succeed or Fail state or have \"End\": true",
            );
        }
        let mut seen = vec![false; g.states.len()];
        let mut queue = VecDeque::from([g.start]);
        while let Some(i) = queue.pop_front() {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            if let Some(state) = g.state(i) {
                queue.extend(state.kind.targets());
            }
        }
        for (i, s) in g.states.iter().enumerate() {
            if !seen.get(i).copied().unwrap_or(true) {
                self.problem(
                    format!("{states_ptr}/{}", pointer_token(&s.name)),
                    format!("state '{}' is not reachable from StartAt", s.name),
                );
            }
        }
    }

    fn state(
        &mut self,
        name: &str,
        v: &Value,
        ptr: &str,
        names: &Names,
        depth: usize,
    ) -> Option<State> {
        let (obj, ty) = self.state_fields(v, ptr)?;
        let ql = self.state_language(obj, ptr);
        let outer_ql = std::mem::replace(&mut self.state_ql, ql);
        let state = self.state_of_type(name, obj, ty, ptr, names, depth);
        self.state_ql = outer_ql;
        state
    }

    /// The state `name` of type `ty`, in the language `self.state_ql`.
    fn state_of_type(
        &mut self,
        name: &str,
        obj: &Map<String, Value>,
        ty: &str,
        ptr: &str,
        names: &Names,
        depth: usize,
    ) -> Option<State> {
        let ql = self.state_ql;
        let input_path = self.io_path(obj, "InputPath", ptr);
        let output_path = self.io_path(obj, "OutputPath", ptr);
        let output = match ql {
            QueryLanguage::Jsonata => self.jx(obj.get("Output"), &format!("{ptr}/Output")),
            QueryLanguage::JsonPath => None,
        };
        let kind = match ty {
            "Pass" => self.pass(obj, ptr, names),
            "Task" => Kind::Task(Box::new(self.task(obj, ptr, names)?)),
            "Choice" => self.choice(obj, ptr, names),
            "Wait" => self.wait(obj, ptr, names)?,
            // A Succeed state has no fields of its own.
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail(obj, ptr),
            "Parallel" => Kind::Parallel(Box::new(self.parallel(obj, ptr, names, depth))),
            "Map" => Kind::Map(Box::new(self.map(obj, ptr, names, depth)?)),
            _ => return None,
        };
        Some(State {
            name: name.to_owned(),
            output,
            input_path,
            output_path,
            kind,
        })
    }

    /// A state's object and `Type`, once every field is known for its type.
    fn state_fields<'v>(
        &mut self,
        v: &'v Value,
        ptr: &str,
    ) -> Option<(&'v Map<String, Value>, &'v str)> {
        let Some(obj) = v.as_object() else {
            self.problem(ptr, "a state must be an object");
            return None;
        };
        let ty = match obj.get("Type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.problem(format!("{ptr}/Type"), "Type must be a string");
                return None;
            }
            None => {
                self.problem(ptr, "Type is required");
                return None;
            }
        };
        let Some(allowed) = allowed_fields(ty) else {
            self.problem(
                format!("{ptr}/Type"),
                format!("unknown state type '{ty}' (expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)"),
            );
            return None;
        };
        for k in obj.keys() {
            let k = k.as_str();
            if COMMON.contains(&k) || allowed.iter().any(|group| group.contains(&k)) {
                continue;
            }
            let kp = format!("{ptr}/{}", pointer_token(k));
            if ty == "Map" && UNSUPPORTED_MAP_FIELDS.contains(&k) {
                self.problem(
                    kp,
                    format!(
                        "'{k}' (Distributed Map) is not supported: only inline Map states run here"
                    ),
                );
            } else {
                self.problem(kp, format!("unknown field '{k}' for a {ty} state"));
            }
        }
        if let Some(c) = obj.get("Comment") {
            self.string(c, &format!("{ptr}/Comment"));
        }
        Some((obj, ty))
    }

    fn pass(&mut self, obj: &Map<String, Value>, ptr: &str, names: &Names) -> Kind {
        Kind::Pass {
            parameters: self.template(obj.get("Parameters"), &format!("{ptr}/Parameters")),
            result: obj.get("Result").cloned(),
            result_path: self.result_path(obj.get("ResultPath"), &format!("{ptr}/ResultPath")),
            assign: self.assign(obj.get("Assign"), &format!("{ptr}/Assign")),
            transition: self.transition(obj, ptr, names),
        }
    }

    fn task(&mut self, obj: &Map<String, Value>, ptr: &str, names: &Names) -> Option<TaskState> {
        let (resource, resource_arn) = self.resource(obj, ptr);
        let parameters = self.payload(obj, "Parameters", "Arguments", ptr);
        if let Some(r) = &resource {
            self.task_payload_checks(r, obj, parameters.as_ref(), ptr);
        }
        let timeout = self.seconds(obj, "TimeoutSeconds", ptr);
        let heartbeat = self.seconds(obj, "HeartbeatSeconds", ptr);
        if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.problem(
                format!("{ptr}/HeartbeatSeconds"),
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
            );
        }
        let handling = self.handling(obj, ptr, names);
        Some(TaskState {
            resource: resource?,
            resource_arn,
            parameters,
            timeout,
            heartbeat,
            handling,
        })
    }

    /// `.waitForTaskToken` tasks must pass the token, `lambda:invoke` a
    /// `FunctionName`, in `Parameters` (JSONPath) or `Arguments` (JSONata).
    fn task_payload_checks(
        &mut self,
        r: &Resource,
        obj: &Map<String, Value>,
        payload: Option<&Payload>,
        ptr: &str,
    ) {
        let key = match self.state_ql {
            QueryLanguage::JsonPath => "Parameters",
            QueryLanguage::Jsonata => "Arguments",
        };
        // A JSONata `Arguments` given as one expression is checked when it
        // runs, not here.
        let whole_expression = obj.get(key).is_some_and(Value::is_string);
        let token_needed = r.waits_for_task_token() && !matches!(r, Resource::Activity { .. });
        let has_token = match payload {
            Some(Payload::Path(t)) => t.mentions("$$.Task.Token"),
            Some(Payload::Jsonata(j)) => j.mentions("context.Task.Token"),
            None => false,
        };
        if token_needed && !has_token && !whole_expression {
            let example = match self.state_ql {
                QueryLanguage::JsonPath => "\"TaskToken.$\": \"$$.Task.Token\"",
                QueryLanguage::Jsonata => "\"TaskToken\": \"{% $states.context.Task.Token %}\"",
            };
            self.problem(
                format!("{ptr}/{key}"),
                format!("a .waitForTaskToken task must pass the task token: add a field like {example} to {key}"),
            );
        }
        if matches!(r, Resource::LambdaInvoke { .. }) && !whole_expression {
            let has_fn = obj.get(key).and_then(Value::as_object).is_some_and(|p| {
                p.contains_key("FunctionName") || p.contains_key("FunctionName.$")
            });
            if !has_fn {
                self.problem(
                    format!("{ptr}/{key}"),
                    format!("lambda:invoke needs a FunctionName in {key}"),
                );
            }
        }
    }

    /// A Task's `Resource`, parsed, and as written.
    fn resource(&mut self, obj: &Map<String, Value>, ptr: &str) -> (Option<Resource>, String) {
        let rp = format!("{ptr}/Resource");
        match obj.get("Resource") {
            Some(Value::String(s)) => match Resource::parse(s) {
                Ok(r) => (Some(r), s.clone()),
                Err(e) => {
                    self.problem(rp, e);
                    (None, s.clone())
                }
            },
            Some(_) => {
                self.problem(rp, "Resource must be a string");
                (None, String::new())
            }
            None => {
                self.problem(ptr, "a Task state needs a Resource");
                (None, String::new())
            }
        }
    }

    fn choice(&mut self, obj: &Map<String, Value>, ptr: &str, names: &Names) -> Kind {
        let cp = format!("{ptr}/Choices");
        let mut choices = Vec::new();
        match obj.get("Choices").and_then(Value::as_array) {
            Some(arr) if !arr.is_empty() => {
                for (i, r) in arr.iter().enumerate() {
                    let p = format!("{cp}/{i}");
                    if let Some(o) = r.as_object() {
                        let ql = self.state_ql;
                        self.rule_language(o, &p, ql);
                    }
                    let (rule, next) = self.choice_rule(r, &p);
                    let next = next
                        .and_then(|n| self.target(&Value::String(n), &format!("{p}/Next"), names));
                    let assign = self.assign(r.get("Assign"), &format!("{p}/Assign"));
                    let output = match self.state_ql {
                        QueryLanguage::Jsonata => self.jx(r.get("Output"), &format!("{p}/Output")),
                        QueryLanguage::JsonPath => None,
                    };
                    if let (Some(rule), Some(next)) = (rule, next) {
                        choices.push(ChoiceRule {
                            rule,
                            next,
                            assign,
                            output,
                        });
                    }
                }
            }
            _ => self.problem(cp, "Choices must be a non-empty array of choice rules"),
        }
        let default = obj
            .get("Default")
            .and_then(|d| self.target(d, &format!("{ptr}/Default"), names));
        let assign = self.assign(obj.get("Assign"), &format!("{ptr}/Assign"));
        Kind::Choice {
            choices,
            default,
            assign,
        }
    }

    fn wait(&mut self, obj: &Map<String, Value>, ptr: &str, names: &Names) -> Option<Kind> {
        let wait = self.wait_for(obj, ptr);
        // Checked even when the wait itself is broken, to report it all.
        let transition = self.transition(obj, ptr, names);
        let assign = self.assign(obj.get("Assign"), &format!("{ptr}/Assign"));
        Some(Kind::Wait {
            wait: wait?,
            assign,
            transition,
        })
    }

    /// The one of `Seconds`, `Timestamp`, `SecondsPath` and `TimestampPath`
    /// a Wait state has.
    fn wait_for(&mut self, obj: &Map<String, Value>, ptr: &str) -> Option<WaitFor> {
        let keys = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"];
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let k = match present.as_slice() {
            [k] => *k,
            [] => {
                self.problem(
                    ptr,
                    "a Wait state needs one of Seconds, Timestamp, SecondsPath or TimestampPath",
                );
                return None;
            }
            _ => {
                self.problem(
                    ptr,
                    format!("a Wait state takes exactly one of {}", present.join(", ")),
                );
                return None;
            }
        };
        let kp = format!("{ptr}/{k}");
        let val = obj.get(k).unwrap_or(&Value::Null);
        if let Some(w) = self.jsonata_wait(k, val, &kp) {
            return w;
        }
        match k {
            "Seconds" => self
                .uint(val, &kp, 0, MAX_SECONDS)
                .map(|n| WaitFor::Seconds(Seconds::Fixed(n))),
            "Timestamp" => match val.as_str().and_then(parse_timestamp) {
                Some(t) => Some(WaitFor::Timestamp(t)),
                None => {
                    self.problem(
                        kp,
                        "Timestamp must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z",
                    );
                    None
                }
            },
            "SecondsPath" => self
                .reference_path(val, &kp)
                .map(|p| WaitFor::Seconds(Seconds::Path(p))),
            _ => self.reference_path(val, &kp).map(WaitFor::TimestampPath),
        }
    }

    fn fail(&mut self, obj: &Map<String, Value>, ptr: &str) -> Kind {
        Kind::Fail {
            error: self.fail_field(obj, "Error", ptr),
            cause: self.fail_field(obj, "Cause", ptr),
        }
    }

    fn parallel(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &Names,
        depth: usize,
    ) -> ParallelState {
        let bp = format!("{ptr}/Branches");
        let mut branches = Vec::new();
        match obj.get("Branches").and_then(Value::as_array) {
            Some(arr) if !arr.is_empty() => {
                for (i, b) in arr.iter().enumerate() {
                    let p = format!("{bp}/{i}");
                    match b.as_object() {
                        Some(bo) => {
                            self.only_keys(bo, &p, &["StartAt", "States", "Comment"]);
                            if let Some(g) = self.graph(bo, &p, depth + 1) {
                                branches.push(g);
                            }
                        }
                        None => {
                            self.problem(p, "a branch must be an object with StartAt and States");
                        }
                    }
                }
            }
            _ => self.problem(bp, "Branches must be a non-empty array"),
        }
        ParallelState {
            branches,
            parameters: self.payload(obj, "Parameters", "Arguments", ptr),
            handling: self.handling(obj, ptr, names),
        }
    }

    fn map(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        names: &Names,
        depth: usize,
    ) -> Option<MapState> {
        let processor = self.item_processor(obj, ptr, depth);
        let item_selector = match self.one_of(obj, "ItemSelector", "Parameters", ptr) {
            OneOf::Key(v) if self.state_ql == QueryLanguage::Jsonata => self
                .jx(Some(v), &format!("{ptr}/ItemSelector"))
                .map(Payload::Jsonata),
            OneOf::Key(v) => self
                .template(Some(v), &format!("{ptr}/ItemSelector"))
                .map(Payload::Path),
            OneOf::Alt(v) => self
                .template(Some(v), &format!("{ptr}/Parameters"))
                .map(Payload::Path),
            OneOf::Both | OneOf::Neither => None,
        };
        let items_path = obj
            .get("ItemsPath")
            .and_then(|v| self.reference_path(v, &format!("{ptr}/ItemsPath")));
        let items = self.map_items(obj, ptr);
        let mc = self.jsonata_seconds(obj.get("MaxConcurrency"), &format!("{ptr}/MaxConcurrency"));
        let max_concurrency = match self.one_of(obj, "MaxConcurrency", "MaxConcurrencyPath", ptr) {
            _ if mc.is_some() => mc.unwrap_or(Seconds::Fixed(0)),
            OneOf::Key(v) => Seconds::Fixed(
                self.uint(v, &format!("{ptr}/MaxConcurrency"), 0, MAX_SECONDS)
                    .unwrap_or(0),
            ),
            OneOf::Alt(v) => self
                .reference_path(v, &format!("{ptr}/MaxConcurrencyPath"))
                .map_or(Seconds::Fixed(0), Seconds::Path),
            OneOf::Both | OneOf::Neither => Seconds::Fixed(0),
        };
        let handling = self.handling(obj, ptr, names);
        Some(MapState {
            items_path,
            items,
            item_selector,
            processor: processor?,
            max_concurrency,
            handling,
        })
    }

    /// A Map state's `ItemProcessor` (or the older `Iterator`) graph.
    fn item_processor(
        &mut self,
        obj: &Map<String, Value>,
        ptr: &str,
        depth: usize,
    ) -> Option<Graph> {
        let (key, v) = match self.one_of(obj, "ItemProcessor", "Iterator", ptr) {
            OneOf::Key(v) => ("ItemProcessor", v),
            OneOf::Alt(v) => ("Iterator", v),
            OneOf::Both => return None,
            OneOf::Neither => {
                self.problem(
                    ptr,
                    "a Map state needs an ItemProcessor (or the older Iterator)",
                );
                return None;
            }
        };
        let p = format!("{ptr}/{key}");
        let Some(po) = v.as_object() else {
            self.problem(
                p,
                format!("{key} must be an object with StartAt and States"),
            );
            return None;
        };
        self.only_keys(po, &p, &["StartAt", "States", "Comment", "ProcessorConfig"]);
        if let Some(cfg) = po.get("ProcessorConfig") {
            self.processor_config(cfg, &format!("{p}/ProcessorConfig"));
        }
        self.graph(po, &p, depth + 1)
    }

    /// `ProcessorConfig`: only the inline mode runs here.
    fn processor_config(&mut self, cfg: &Value, cp: &str) {
        let Some(c) = cfg.as_object() else {
            self.problem(cp, "ProcessorConfig must be an object");
            return;
        };
        self.only_keys(c, cp, &["Mode", "ExecutionType"]);
        match c.get("Mode").map(Value::as_str) {
            None | Some(Some("INLINE")) => {}
            Some(Some("DISTRIBUTED")) => self.problem(
                format!("{cp}/Mode"),
                "Distributed Map is not supported: use \"Mode\": \"INLINE\"",
            ),
            Some(_) => self.problem(format!("{cp}/Mode"), "Mode must be INLINE or DISTRIBUTED"),
        }
    }
}
