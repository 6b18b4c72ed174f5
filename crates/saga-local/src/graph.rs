//! Mermaid `flowchart` of a state machine: states, `Next` edges, Choice
//! edges labelled with their rule, dotted Catch edges labelled with the
//! error names, and start/end markers. Parallel branches and Map item
//! processors are drawn as subgraphs.

use std::fmt::Write as _;

use asl::{EdgeKind, Outline, StateMachine};

/// Longest edge label before it is shortened.
const MAX_LABEL: usize = 48;

fn escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn short(s: &str) -> String {
    shorten(s, MAX_LABEL)
}

/// `s`, cut to `max` characters with an ellipsis (also the web console's
/// edge labels).
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

struct Writer {
    out: String,
    next_id: usize,
}

impl Writer {
    fn line(&mut self, indent: usize, s: &str) {
        let _ = writeln!(self.out, "{}{s}", "    ".repeat(indent));
    }

    /// Draw one graph (a machine, a branch or an item processor).
    fn graph(&mut self, g: &Outline, indent: usize) {
        let base = self.next_id;
        self.next_id += g.states.len();
        let id_of = |name: &str| {
            g.states
                .iter()
                .position(|s| s.name == name)
                .map(|i| format!("s{}", base + i))
        };
        let start = format!("start{base}");
        self.line(
            indent,
            &format!(
                "{start}(( )) --> {}",
                id_of(&g.start_at).unwrap_or_default()
            ),
        );
        for (i, s) in g.states.iter().enumerate() {
            let id = format!("s{}", base + i);
            let label = escape(&s.name);
            match s.state_type {
                "Parallel" | "Map" => {
                    self.line(
                        indent,
                        &format!("subgraph {id} [\"{label} ({})\"]", s.state_type),
                    );
                    self.line(indent + 1, "direction TB");
                    for b in &s.branches {
                        self.graph(b, indent + 1);
                    }
                    self.line(indent, "end");
                }
                "Choice" => self.line(indent, &format!("{id}{{\"{label}\"}}")),
                "Succeed" => self.line(indent, &format!("{id}([\"{label}\"]):::succeed")),
                "Fail" => self.line(indent, &format!("{id}([\"{label}\"]):::fail")),
                "Wait" => self.line(indent, &format!("{id}[/\"{label}\"/]")),
                "Pass" => self.line(indent, &format!("{id}[\"{label}\"]:::pass")),
                _ => self.line(indent, &format!("{id}[\"{label}\"]")),
            }
        }
        for (i, s) in g.states.iter().enumerate() {
            let id = format!("s{}", base + i);
            for e in &s.edges {
                let Some(target) = id_of(&e.target) else {
                    continue;
                };
                let label = e.label.as_deref().map(|l| escape(&short(l)));
                let line = match (e.kind, label) {
                    (EdgeKind::Catch, Some(l)) => format!("{id} -. \"catch {l}\" .-> {target}"),
                    (EdgeKind::Catch, None) => format!("{id} -.-> {target}"),
                    (_, Some(l)) => format!("{id} -->|\"{l}\"| {target}"),
                    (_, None) => format!("{id} --> {target}"),
                };
                self.line(indent, &line);
            }
            if s.terminal {
                self.line(indent, &format!("{id} --> stop{base}(( ))"));
            }
        }
    }
}

/// The Mermaid source for `machine`.
pub fn mermaid(machine: &StateMachine) -> String {
    let mut w = Writer {
        out: String::new(),
        next_id: 0,
    };
    w.line(0, "flowchart TD");
    w.graph(&machine.outline(), 1);
    w.line(1, "classDef succeed fill:#d4edda,stroke:#28a745");
    w.line(1, "classDef fail fill:#f8d7da,stroke:#dc3545");
    w.line(1, "classDef pass fill:#eef,stroke:#99c");
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_states_edges_and_catches() {
        let m = StateMachine::parse(
            r#"{"StartAt": "Check", "States": {
              "Check": {"Type": "Choice", "Choices": [{"Variable": "$.total", "NumericGreaterThanEquals": 100000, "Next": "Pay"}], "Default": "Done"},
              "Pay": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:pay",
                      "Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "Failed"}], "Next": "Done"},
              "Done": {"Type": "Succeed"},
              "Failed": {"Type": "Fail", "Error": "X"}}}"#,
        )
        .unwrap();
        let g = mermaid(&m);
        assert!(g.starts_with("flowchart TD\n"));
        assert!(g.contains("start0(( )) --> s0"));
        assert!(g.contains("s0{\"Check\"}"));
        assert!(g.contains("s0 -->|\"$.total #gt;= 100000\"| s1"));
        assert!(g.contains("s0 -->|\"default\"| s2"));
        assert!(g.contains("s1 -. \"catch PaymentDeclined\" .-> s3"));
        assert!(g.contains("s3 --> stop0(( ))"));
        assert!(g.contains("s3([\"Failed\"]):::fail"));
    }
}
