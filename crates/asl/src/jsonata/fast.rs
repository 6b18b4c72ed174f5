//! A native evaluation of the commonest expression shapes, decided once when
//! the expression is parsed: a path on `$states` or a variable
//! (`$states.input.order.id`, `$customer.name`), a literal, a comparison of
//! those (`$states.input.step >= 0`), `and`/`or` of those, an object
//! constructor with literal keys (`{'id': $states.input.id}`) and `$merge`
//! of paths and such objects (`$merge([$states.input, {'step': 1}])`). They
//! are most of the expressions a state machine holds, and each costs
//! jlens-core a whole evaluation (its bindings, its values, its result
//! converted back) for what is a few map lookups.
//!
//! The answer is jlens-core's, value for value (the property tests in
//! `props.rs` compare the two): where the shapes are not certainly the same
//! as jlens-core's evaluation (a path reaching an array, where JSONata maps
//! over the items; operands JSONata refuses to compare, which raise its
//! type errors; a variable that is not bound, which may name a built-in
//! function; a value near the crate's size and nesting limits), this module
//! says [`Unsure`] and the crate evaluates the expression as always.

use std::borrow::Cow;
use std::cmp::Ordering;

use jlens_core::ast::{Attrs, BinaryOp, Node, NodeKind};
use serde_json::{Map, Value};

use super::{Scope, States};

/// An expression of one of the shapes, compiled from the crate's syntax
/// tree.
#[derive(Debug)]
pub(super) enum Fast {
    /// A string, number, `true`/`false` or `null`, as JSON.
    Literal(Value),
    /// `$root.field.field…` (no fields: the bare variable).
    Path { root: String, fields: Box<[String]> },
    /// `=`, `!=`, `<`, `<=`, `>`, `>=` of two paths or literals.
    Compare {
        op: BinaryOp,
        lhs: Box<Fast>,
        rhs: Box<Fast>,
    },
    /// `and` (`true`) or `or` (`false`).
    Logic {
        and: bool,
        lhs: Box<Fast>,
        rhs: Box<Fast>,
    },
    /// `{'key': value, …}`, distinct literal keys.
    Object(Box<[(String, Fast)]>),
    /// `$merge([item, …])`, each item a path or an object constructor.
    Merge(Box<[Fast]>),
}

/// The shape cannot tell what jlens-core would give: let it evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unsure;

/// A value on the way: borrowed from the scope or the expression (its
/// numbers not yet written as jlens-core writes them), or built here (they
/// are).
type Val<'a> = Cow<'a, Value>;

/// JSONata's *undefined* is `None`.
type Eval<'a> = Result<Option<Val<'a>>, Unsure>;

impl Fast {
    /// The shape of `node`, if it is one of them.
    pub(super) fn compile(node: &Node) -> Option<Fast> {
        if !plain(node) {
            return None;
        }
        match &node.kind {
            NodeKind::String { value } => Some(Fast::Literal(Value::String(value.clone()))),
            NodeKind::Number { value } if value.is_finite() => Some(Fast::Literal(number(*value))),
            NodeKind::Bool { value } => Some(Fast::Literal(Value::Bool(*value))),
            NodeKind::Null => Some(Fast::Literal(Value::Null)),
            NodeKind::Variable { name } => variable(name, Box::default()),
            NodeKind::Path {
                steps,
                keep_singleton_array: false,
            } => path(steps),
            NodeKind::Binary { op, lhs, rhs } => binary(*op, lhs, rhs),
            NodeKind::Object { pairs } => object(pairs),
            NodeKind::Function { procedure, args } => merge(procedure, args),
            // `(e)`: the value of `e` (a block that binds nothing).
            NodeKind::Block { exprs, .. } => match exprs.as_slice() {
                [e] => Fast::compile(e),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value, *undefined* as `None`; [`Unsure`] when jlens-core must
    /// decide.
    pub(super) fn evaluate(&self, scope: &Scope<'_>) -> Result<Option<Value>, Unsure> {
        let mut budget = Budget::default();
        match self.eval(scope, &mut budget)? {
            None => Ok(None),
            Some(v) => export(v, &mut budget, 0).map(Some),
        }
    }

    fn eval<'a>(&'a self, scope: &Scope<'a>, budget: &mut Budget) -> Eval<'a> {
        match self {
            Fast::Literal(v) => Ok(Some(Cow::Borrowed(v))),
            Fast::Path { root, fields } => Ok(lookup(root, fields, scope)?.map(Cow::Borrowed)),
            Fast::Compare { op, lhs, rhs } => {
                let (l, r) = (lhs.eval(scope, budget)?, rhs.eval(scope, budget)?);
                Ok(compare(*op, l.as_deref(), r.as_deref())?.map(|b| Cow::Owned(Value::Bool(b))))
            }
            Fast::Logic { and, lhs, rhs } => {
                let l = truth(lhs.eval(scope, budget)?.as_deref())?;
                // Short-circuits, as jlens-core does (the right side is not
                // evaluated, so it cannot fail).
                let b = if l != *and {
                    l
                } else {
                    truth(rhs.eval(scope, budget)?.as_deref())?
                };
                Ok(Some(Cow::Owned(Value::Bool(b))))
            }
            Fast::Object(pairs) => {
                let mut out = Map::new();
                for (k, f) in pairs.iter() {
                    // An undefined value leaves its key out.
                    if let Some(v) = f.eval(scope, budget)? {
                        budget.key(k)?;
                        out.insert(k.clone(), export(v, budget, 1)?);
                    }
                }
                Ok(Some(Cow::Owned(Value::Object(out))))
            }
            Fast::Merge(items) => merged(items, scope, budget),
        }
    }
}

/// `$merge` of objects: later keys win. Any item that is not an object
/// (undefined, which the array constructor drops; an array, which it
/// flattens; a value `$merge`'s signature refuses) is left to jlens-core,
/// as is a `$merge` a workflow variable of that name shadows.
fn merged<'a>(items: &'a [Fast], scope: &Scope<'a>, budget: &mut Budget) -> Eval<'a> {
    if scope.variables.contains_key("merge") {
        return Err(Unsure);
    }
    let mut out = Map::new();
    for item in items {
        match item.eval(scope, budget)? {
            Some(Cow::Borrowed(Value::Object(m))) => {
                for (k, v) in m {
                    budget.key(k)?;
                    out.insert(k.clone(), export(Cow::Borrowed(v), budget, 1)?);
                }
            }
            // Built by an object constructor: exported and charged already.
            Some(Cow::Owned(Value::Object(m))) => out.extend(m),
            _ => return Err(Unsure),
        }
    }
    Ok(Some(Cow::Owned(Value::Object(out))))
}

/// No step modifier, predicate, binding, grouping or annotation: the node
/// means what its kind says.
fn plain(node: &Node) -> bool {
    let Attrs {
        keep_array,
        cons_array,
        tuple,
        focus,
        index,
        stages,
        predicate,
        group,
        ancestor,
        ancestor_label,
        seeking_parent,
    } = &node.attrs;
    !keep_array
        && !cons_array
        && !tuple
        && focus.is_none()
        && index.is_none()
        && stages.is_empty()
        && predicate.is_empty()
        && group.is_none()
        && ancestor.is_none()
        && ancestor_label.is_none()
        && seeking_parent.is_empty()
        && node.annotation.is_none()
}

fn variable(name: &str, fields: Box<[String]>) -> Option<Fast> {
    // `$` and `$$` (refused at load time anyway).
    if name.is_empty() || name == "$" {
        return None;
    }
    Some(Fast::Path {
        root: name.to_owned(),
        fields,
    })
}

fn path(steps: &[Node]) -> Option<Fast> {
    let (first, rest) = steps.split_first()?;
    let NodeKind::Variable { name } = &first.kind else {
        return None;
    };
    if !plain(first) {
        return None;
    }
    let fields = rest
        .iter()
        .map(|s| match &s.kind {
            NodeKind::Name { name } if plain(s) => Some(name.clone()),
            _ => None,
        })
        .collect::<Option<Box<[String]>>>()?;
    variable(name, fields)
}

fn binary(op: BinaryOp, lhs: &Node, rhs: &Node) -> Option<Fast> {
    let (l, r) = (Fast::compile(lhs)?, Fast::compile(rhs)?);
    let operand = |f: &Fast| matches!(f, Fast::Literal(_) | Fast::Path { .. });
    let condition = |f: &Fast| operand(f) || matches!(f, Fast::Compare { .. } | Fast::Logic { .. });
    let (lhs, rhs) = (Box::new(l), Box::new(r));
    match op {
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
            if operand(&lhs) && operand(&rhs) =>
        {
            Some(Fast::Compare { op, lhs, rhs })
        }
        BinaryOp::And | BinaryOp::Or if condition(&lhs) && condition(&rhs) => Some(Fast::Logic {
            and: op == BinaryOp::And,
            lhs,
            rhs,
        }),
        _ => None,
    }
}

fn object(pairs: &[(Node, Node)]) -> Option<Fast> {
    let mut out: Vec<(String, Fast)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let NodeKind::String { value: key } = &k.kind else {
            return None;
        };
        // A key twice is JSONata's error D1009.
        if !plain(k) || out.iter().any(|(seen, _)| seen == key) {
            return None;
        }
        out.push((key.clone(), Fast::compile(v)?));
    }
    Some(Fast::Object(out.into()))
}

fn merge(procedure: &Node, args: &[Node]) -> Option<Fast> {
    let (NodeKind::Variable { name }, [arg]) = (&procedure.kind, args) else {
        return None;
    };
    let NodeKind::Array { items } = &arg.kind else {
        return None;
    };
    if name != "merge" || !plain(procedure) || !plain(arg) {
        return None;
    }
    let items = items
        .iter()
        .map(|n| Fast::compile(n).filter(|f| matches!(f, Fast::Path { .. } | Fast::Object(_))))
        .collect::<Option<Box<[Fast]>>>()?;
    Some(Fast::Merge(items))
}

/// The value at a path, as jlens-core finds it when every step is an
/// object's field.
fn lookup<'a>(
    root: &str,
    fields: &[String],
    scope: &Scope<'a>,
) -> Result<Option<&'a Value>, Unsure> {
    let (mut v, fields): (&'a Value, &[String]) = if root == "states" {
        match scope.states {
            States::Object(v) => (v, fields),
            States::Fields(parts) => {
                // A bare `$states`: jlens-core builds the object.
                let (first, rest) = fields.split_first().ok_or(Unsure)?;
                match parts.iter().find(|(name, _)| name == first) {
                    Some((_, v)) => (*v, rest),
                    // Not bound: `$states` has no such field.
                    None => return Ok(None),
                }
            }
        }
    } else {
        // Unbound, `$name` may be a built-in function.
        (scope.variables.get(root).ok_or(Unsure)?, fields)
    };
    for f in fields {
        match v {
            Value::Object(m) => match m.get(f) {
                Some(next) => v = next,
                None => return Ok(None),
            },
            // An array maps the step over its items; a scalar has no
            // fields (left to the crate, which knows both).
            _ => return Err(Unsure),
        }
    }
    Ok(Some(v))
}

/// A comparison as jlens-core's `=`/`!=` (deep equality; *undefined* is
/// unequal to everything) and `<`…`>=` (numbers with numbers, strings with
/// strings in UTF-16 order, *undefined* if a side is). Arrays and objects,
/// and what the order operators refuse (`T2009`, `T2010`), are left to
/// jlens-core.
fn compare(op: BinaryOp, l: Option<&Value>, r: Option<&Value>) -> Result<Option<bool>, Unsure> {
    let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
    if matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
        let (Some(l), Some(r)) = (l, r) else {
            return Ok(Some(false));
        };
        if !scalar(l) || !scalar(r) {
            return Err(Unsure);
        }
        let equal = match (l, r) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (a, b) => a == b,
        };
        return Ok(Some(equal == (op == BinaryOp::Eq)));
    }
    let comparable =
        |v: Option<&Value>| matches!(v, None | Some(Value::String(_) | Value::Number(_)));
    if !comparable(l) || !comparable(r) {
        return Err(Unsure);
    }
    let ord = match (l, r) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            let (a, b) = (a.as_f64().ok_or(Unsure)?, b.as_f64().ok_or(Unsure)?);
            a.partial_cmp(&b).ok_or(Unsure)?
        }
        (Some(Value::String(a)), Some(Value::String(b))) => a.encode_utf16().cmp(b.encode_utf16()),
        (None, _) | (_, None) => return Ok(None),
        _ => return Err(Unsure),
    };
    Ok(Some(match op {
        BinaryOp::Lt => ord == Ordering::Less,
        BinaryOp::Le => ord != Ordering::Greater,
        BinaryOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    }))
}

/// JSONata's Boolean value of an operand of `and`/`or` (*undefined* is
/// false); arrays, whose value depends on their items, are left to
/// jlens-core.
fn truth(v: Option<&Value>) -> Result<bool, Unsure> {
    Ok(match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(_)) => return Err(Unsure),
    })
}

/// A number as jlens-core writes one: an integral value below 2^53 as a
/// JSON integer, any other as a float (JSON numbers are finite).
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Bounds within which a result is certainly one jlens-core gives: it
/// fails a result nested 1,000 levels deep or longer than 256 MiB as JSON
/// text (`U1001`), and this module's count is an upper bound of its.
const MAX_DEPTH: usize = 900;
const MAX_TEXT: usize = 128 << 20;

/// Longest string and array copied without a second look (the limits
/// [`super::Expression`] sets on what an evaluation builds).
const MAX_STRING: usize = super::MAX_STRING_BYTES;
const MAX_ITEMS: usize = super::MAX_ITEMS;

/// What the result has cost so far, in bytes of JSON text (an upper
/// bound).
#[derive(Default)]
struct Budget(usize);

impl Budget {
    fn charge(&mut self, bytes: usize) -> Result<(), Unsure> {
        self.0 = self.0.saturating_add(bytes);
        if self.0 > MAX_TEXT {
            Err(Unsure)
        } else {
            Ok(())
        }
    }

    fn key(&mut self, k: &str) -> Result<(), Unsure> {
        self.charge(k.len() + 4)
    }
}

/// A value as jlens-core returns it, at nesting `depth`: a borrowed one
/// copied with its numbers rewritten ([`number`]), a built one as it is.
fn export(v: Val<'_>, budget: &mut Budget, depth: usize) -> Result<Value, Unsure> {
    match v {
        Cow::Owned(v) => {
            budget.charge(8)?;
            Ok(v)
        }
        Cow::Borrowed(v) => copy(v, budget, depth),
    }
}

fn copy(v: &Value, budget: &mut Budget, depth: usize) -> Result<Value, Unsure> {
    Ok(match v {
        Value::Null | Value::Bool(_) => {
            budget.charge(5)?;
            v.clone()
        }
        Value::Number(n) => {
            budget.charge(25)?;
            number(n.as_f64().ok_or(Unsure)?)
        }
        Value::String(s) => {
            if s.len() > MAX_STRING {
                return Err(Unsure);
            }
            budget.charge(s.len() + 2)?;
            v.clone()
        }
        Value::Array(items) => {
            if depth >= MAX_DEPTH || items.len() > MAX_ITEMS {
                return Err(Unsure);
            }
            budget.charge(items.len() + 2)?;
            let items = items
                .iter()
                .map(|x| copy(x, budget, depth + 1))
                .collect::<Result<_, _>>()?;
            Value::Array(items)
        }
        Value::Object(m) => {
            if depth >= MAX_DEPTH {
                return Err(Unsure);
            }
            budget.charge(2)?;
            let mut out = Map::new();
            for (k, x) in m {
                budget.key(k)?;
                out.insert(k.clone(), copy(x, budget, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}
