//! Load-time checks on a parsed expression, and the variables it names.
//!
//! Step Functions evaluates an expression with no context item: the input
//! is `$states.input`, a variable is `$name`. So AWS refuses, when the state
//! machine is created, what would read the missing context: a field name or
//! `$` at the top level of an expression, and `$$` anywhere ("You cannot use
//! `$` or `$$` at the top level", "You cannot use unqualified field names at
//! top level"; the refusals are worded `UNSUPPORTED_JSONATA_EXPRESSION:
//! Reference to 'phone' at the top level is not supported.` and `Reference to
//! '$$' is not supported.`). Inside a path step after the first, a predicate,
//! a sort term, an object grouping or a transform, the context is defined
//! and every name is legal. A lambda body keeps the context of the place it
//! is written, so a name in a top-level lambda is a top-level reference too.
//!
//! AWS runs JSONata 2.0.6; the crate parses 2.2, whose `?:` and `??`
//! operators 2.0.6 does not have, so they are refused as syntax errors.

use jlens_core::ast::{Node, NodeKind, Stage};

/// What a walk found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Reads the missing context (`UNSUPPORTED_JSONATA_EXPRESSION`).
    Unsupported(String),
    /// Not JSONata 2.0.6 (`INVALID_JSONATA_EXPRESSION`).
    Syntax(String),
}

/// The first refusal in `root`, if any, and every variable name it reads
/// (without `$`), so that an evaluation binds only those.
pub(super) fn check(root: &Node) -> (Option<Refusal>, Vec<String>) {
    let mut walk = Walk::default();
    walk.node(root, true);
    walk.names.sort();
    walk.names.dedup();
    (walk.refusal, walk.names)
}

#[derive(Default)]
struct Walk {
    refusal: Option<Refusal>,
    names: Vec<String>,
}

impl Walk {
    fn refuse(&mut self, r: Refusal) {
        if self.refusal.is_none() {
            self.refusal = Some(r);
        }
    }

    /// `top`: the node is evaluated against the expression's own (missing)
    /// context.
    fn node(&mut self, n: &Node, top: bool) {
        self.kind(&n.kind, top);
        // Stages, predicates and groupings see the value they filter.
        for stage in n.attrs.stages.iter().chain(&n.attrs.predicate) {
            if let Stage::Filter { expr, .. } = stage {
                self.node(expr, false);
            }
        }
        if let Some(group) = &n.attrs.group {
            for (k, v) in &group.pairs {
                self.node(k, false);
                self.node(v, false);
            }
        }
    }

    fn kind(&mut self, kind: &NodeKind, top: bool) {
        match kind {
            NodeKind::Name { name } if top => self.refuse(Refusal::Unsupported(format!(
                "Reference to '{name}' at the top level is not supported."
            ))),
            NodeKind::Variable { name } => self.variable(name, top),
            NodeKind::Path { steps, .. } => {
                for (i, step) in steps.iter().enumerate() {
                    self.node(step, top && i == 0);
                }
            }
            NodeKind::Binary { lhs, rhs, .. }
            | NodeKind::Bind { lhs, rhs }
            | NodeKind::Apply { lhs, rhs } => {
                self.node(lhs, top);
                self.node(rhs, top);
            }
            NodeKind::Fallback { op, lhs, rhs } => {
                self.refuse(Refusal::Syntax(format!(
                    "The operator '{}' is not part of JSONata 2.0.6.",
                    op.symbol()
                )));
                self.node(lhs, top);
                self.node(rhs, top);
            }
            NodeKind::Negate { expr } => self.node(expr, top),
            NodeKind::Array { items } => items.iter().for_each(|i| self.node(i, top)),
            NodeKind::Block { exprs, .. } => exprs.iter().for_each(|e| self.node(e, top)),
            NodeKind::Object { pairs } => {
                for (k, v) in pairs {
                    self.node(k, top);
                    self.node(v, top);
                }
            }
            NodeKind::Condition {
                condition,
                then,
                otherwise,
            } => {
                self.node(condition, top);
                self.node(then, top);
                if let Some(o) = otherwise {
                    self.node(o, top);
                }
            }
            NodeKind::Function { procedure, args } | NodeKind::Partial { procedure, args } => {
                self.node(procedure, top);
                args.iter().for_each(|a| self.node(a, top));
            }
            NodeKind::Lambda(def) => self.node(&def.body, top),
            NodeKind::Transform(def) => {
                self.node(&def.pattern, false);
                self.node(&def.update, false);
                if let Some(d) = &def.delete {
                    self.node(d, false);
                }
            }
            NodeKind::Sort { terms } => terms.iter().for_each(|t| self.node(&t.expr, false)),
            NodeKind::Name { .. }
            | NodeKind::String { .. }
            | NodeKind::Number { .. }
            | NodeKind::Bool { .. }
            | NodeKind::Null
            | NodeKind::Regex { .. }
            | NodeKind::Wildcard
            | NodeKind::Descendant
            | NodeKind::Parent { .. }
            | NodeKind::Placeholder
            | NodeKind::Error { .. } => {}
        }
    }

    fn variable(&mut self, name: &str, top: bool) {
        match name {
            // `$$`: the root of the (missing) input.
            "$" => self.refuse(Refusal::Unsupported(
                "Reference to '$$' is not supported.".into(),
            )),
            // `$`: the context item.
            "" if top => self.refuse(Refusal::Unsupported(
                "Reference to '$' at the top level is not supported.".into(),
            )),
            "" => {}
            _ => self.names.push(name.to_owned()),
        }
    }
}
