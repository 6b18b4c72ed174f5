//! Choice rules: comparison operators (and their `…Path` forms), `And`,
//! `Or`, `Not`, the `Is…` type tests and `StringMatches`.

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::error::{Failure, Problem, pointer_token};
use crate::path::{Path, ReferencePath};
use crate::template::Env;

/// The data type a comparison works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

/// The comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

const CMPS: &[(&str, Cmp)] = &[
    ("Equals", Cmp::Equals),
    ("LessThanEquals", Cmp::LessThanEquals),
    ("GreaterThanEquals", Cmp::GreaterThanEquals),
    ("LessThan", Cmp::LessThan),
    ("GreaterThan", Cmp::GreaterThan),
];

const KINDS: &[(&str, Kind)] = &[
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    /// A `Timestamp…` literal, parsed once at load (and as written).
    Timestamp(DateTime<FixedOffset>, Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum TypeTest {
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

const TYPE_TESTS: &[(&str, TypeTest)] = &[
    ("IsNull", TypeTest::IsNull),
    ("IsPresent", TypeTest::IsPresent),
    ("IsNumeric", TypeTest::IsNumeric),
    ("IsString", TypeTest::IsString),
    ("IsBoolean", TypeTest::IsBoolean),
    ("IsTimestamp", TypeTest::IsTimestamp),
];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    Compare {
        kind: Kind,
        cmp: Cmp,
        operand: Operand,
        op_name: String,
    },
    Matches(Pattern),
    Type(TypeTest, bool),
}

/// A boolean expression of a Choice rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

/// Nesting limit for And/Or/Not (keeps recursion bounded).
const MAX_DEPTH: usize = 64;

/// Parse a top-level rule (with `Next`) or a nested one (without).
pub(crate) fn parse_rule(
    v: &Value,
    pointer: &str,
    top: bool,
    problems: &mut Vec<Problem>,
) -> (Option<Rule>, Option<String>) {
    parse_rule_at(v, pointer, top, 0, problems)
}

fn parse_rule_at(
    v: &Value,
    pointer: &str,
    top: bool,
    depth: usize,
    problems: &mut Vec<Problem>,
) -> (Option<Rule>, Option<String>) {
    let Some(obj) = v.as_object() else {
        problems.push(Problem::new(pointer, "a choice rule must be an object"));
        return (None, None);
    };
    if depth > MAX_DEPTH {
        problems.push(Problem::new(pointer, "choice rules are nested too deeply"));
        return (None, None);
    }
    let next = match obj.get("Next") {
        Some(Value::String(s)) if top => Some(s.clone()),
        Some(_) if top => {
            problems.push(Problem::new(
                format!("{pointer}/Next"),
                "Next must be a string",
            ));
            None
        }
        Some(_) => {
            problems.push(Problem::new(
                format!("{pointer}/Next"),
                "a nested choice rule must not have Next",
            ));
            None
        }
        None if top => {
            problems.push(Problem::new(pointer, "a choice rule must have Next"));
            None
        }
        None => None,
    };
    let mut ops: Vec<(&String, &Value)> = Vec::new();
    for (k, val) in obj {
        match k.as_str() {
            "Next" | "Comment" | "Variable" => {}
            // A top-level rule's Assign is parsed with the state.
            "Assign" if top => {}
            _ => ops.push((k, val)),
        }
    }
    let rule = match ops.as_slice() {
        [] => {
            problems.push(Problem::new(
                pointer,
                "a choice rule needs exactly one of And, Or, Not or a comparison operator",
            ));
            None
        }
        [(k, val)] => parse_op(obj, k, val, pointer, depth, problems),
        many => {
            let names: Vec<&str> = many.iter().map(|(k, _)| k.as_str()).collect();
            problems.push(Problem::new(
                pointer,
                format!(
                    "a choice rule must have exactly one operator, found {}",
                    names.join(", ")
                ),
            ));
            None
        }
    };
    (rule, next)
}

fn parse_op(
    obj: &Map<String, Value>,
    key: &str,
    val: &Value,
    pointer: &str,
    depth: usize,
    problems: &mut Vec<Problem>,
) -> Option<Rule> {
    let ptr = format!("{pointer}/{}", pointer_token(key));
    match key {
        "And" | "Or" => {
            if obj.contains_key("Variable") {
                problems.push(Problem::new(
                    format!("{pointer}/Variable"),
                    format!("{key} rules do not take a Variable"),
                ));
            }
            let rules = parse_rule_list(val, key, &ptr, depth, problems)?;
            Some(if key == "And" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            })
        }
        "Not" => {
            if obj.contains_key("Variable") {
                problems.push(Problem::new(
                    format!("{pointer}/Variable"),
                    "Not rules do not take a Variable",
                ));
            }
            let (r, _) = parse_rule_at(val, &ptr, false, depth + 1, problems);
            r.map(|r| Rule::Not(Box::new(r)))
        }
        _ => {
            let test = parse_test(key, val, &ptr, problems);
            let variable = parse_variable(obj, key, pointer, test.is_some(), problems);
            Some(Rule::Test {
                variable: variable?,
                test: test?,
            })
        }
    }
}

/// The rules of an `And` or `Or` (`key`); None unless every one parses.
fn parse_rule_list(
    val: &Value,
    key: &str,
    ptr: &str,
    depth: usize,
    problems: &mut Vec<Problem>,
) -> Option<Vec<Rule>> {
    let Some(items) = val.as_array().filter(|a| !a.is_empty()) else {
        problems.push(Problem::new(
            ptr,
            format!("{key} must be a non-empty array of rules"),
        ));
        return None;
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let (Some(r), _) = parse_rule_at(item, &format!("{ptr}/{i}"), false, depth + 1, problems)
        {
            rules.push(r);
        }
    }
    (rules.len() == items.len()).then_some(rules)
}

/// The `Variable` of a comparison `key`; its absence is a problem only
/// when the comparison itself parsed (`has_test`).
fn parse_variable(
    obj: &Map<String, Value>,
    key: &str,
    pointer: &str,
    has_test: bool,
    problems: &mut Vec<Problem>,
) -> Option<Path> {
    match obj.get("Variable") {
        Some(Value::String(s)) => match Path::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(Problem::new(
                    format!("{pointer}/Variable"),
                    format!("invalid path {s:?}: {e}"),
                ));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                format!("{pointer}/Variable"),
                "Variable must be a string path",
            ));
            None
        }
        None => {
            if has_test {
                problems.push(Problem::new(
                    pointer,
                    format!("the comparison {key} needs a Variable"),
                ));
            }
            None
        }
    }
}

fn parse_test(key: &str, val: &Value, ptr: &str, problems: &mut Vec<Problem>) -> Option<Test> {
    if let Some((_, t)) = TYPE_TESTS.iter().find(|(n, _)| *n == key) {
        return match val.as_bool() {
            Some(b) => Some(Test::Type(*t, b)),
            None => {
                problems.push(Problem::new(ptr, format!("{key} must be true or false")));
                None
            }
        };
    }
    if key == "StringMatches" {
        return match val.as_str() {
            Some(s) => Some(Test::Matches(Pattern::parse(s))),
            None => {
                problems.push(Problem::new(ptr, "StringMatches must be a string"));
                None
            }
        };
    }
    let (base, is_path) = match key.strip_suffix("Path") {
        Some(b) => (b, true),
        None => (key, false),
    };
    let parsed = KINDS.iter().find_map(|(kn, kind)| {
        let rest = base.strip_prefix(kn)?;
        CMPS.iter()
            .find(|(cn, _)| *cn == rest)
            .map(|(_, cmp)| (*kind, *cmp))
    });
    let Some((kind, cmp)) = parsed.filter(|(k, c)| *k != Kind::Boolean || *c == Cmp::Equals) else {
        problems.push(Problem::new(
            ptr,
            format!("unknown choice rule operator '{key}'"),
        ));
        return None;
    };
    let operand = if is_path {
        match val.as_str().map(ReferencePath::parse) {
            Some(Ok(p)) => Operand::Path(p.path().clone()),
            Some(Err(e)) => {
                problems.push(Problem::new(ptr, format!("invalid reference path: {e}")));
                return None;
            }
            None => {
                problems.push(Problem::new(
                    ptr,
                    format!("{key} must be a reference path string"),
                ));
                return None;
            }
        }
    } else {
        let ok = match kind {
            Kind::String => val.is_string(),
            Kind::Numeric => val.is_number(),
            Kind::Boolean => val.is_boolean(),
            Kind::Timestamp => val.as_str().and_then(parse_timestamp).is_some(),
        };
        if !ok {
            let what = match kind {
                Kind::String => "a string",
                Kind::Numeric => "a number",
                Kind::Boolean => "true or false",
                Kind::Timestamp => "an RFC 3339 timestamp string (e.g. 2016-03-14T01:59:00Z)",
            };
            problems.push(Problem::new(ptr, format!("{key} must be {what}")));
            return None;
        }
        match (kind, val.as_str().and_then(parse_timestamp)) {
            (Kind::Timestamp, Some(t)) => Operand::Timestamp(t, val.clone()),
            _ => Operand::Literal(val.clone()),
        }
    };
    Some(Test::Compare {
        kind,
        cmp,
        operand,
        op_name: key.to_owned(),
    })
}

/// Parse a timestamp the way Step Functions accepts it (RFC 3339 with an
/// uppercase `T`).
pub(crate) fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

impl Rule {
    pub(crate) fn eval(&self, env: &Env<'_>) -> Result<bool, Failure> {
        match self {
            Rule::And(rs) => {
                for r in rs {
                    if !r.eval(env)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rs) => {
                for r in rs {
                    if r.eval(env)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(r) => Ok(!r.eval(env)?),
            Rule::Test { variable, test } => {
                let value = env.resolve_ref(variable);
                if let Test::Type(TypeTest::IsPresent, expected) = test {
                    return Ok(value.is_some() == *expected);
                }
                let Some(value) = value else {
                    return Err(Failure::runtime(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        variable.as_str()
                    )));
                };
                match test {
                    Test::Type(t, expected) => {
                        let is = match t {
                            TypeTest::IsNull => value.is_null(),
                            TypeTest::IsNumeric => value.is_number(),
                            TypeTest::IsString => value.is_string(),
                            TypeTest::IsBoolean => value.is_boolean(),
                            TypeTest::IsTimestamp => {
                                value.as_str().and_then(parse_timestamp).is_some()
                            }
                            TypeTest::IsPresent => true,
                        };
                        Ok(is == *expected)
                    }
                    Test::Matches(p) => Ok(value.as_str().is_some_and(|s| p.matches(s))),
                    Test::Compare {
                        kind, cmp, operand, ..
                    } => match operand {
                        Operand::Literal(v) => Ok(compare(*kind, *cmp, &value, v)),
                        Operand::Timestamp(t, _) => Ok(value
                            .as_str()
                            .and_then(parse_timestamp)
                            .is_some_and(|x| holds(*cmp, x.cmp(t)))),
                        Operand::Path(p) => {
                            let other = env.resolve_ref(p).ok_or_else(|| {
                                    Failure::runtime(format!(
                                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                                        p.as_str()
                                    ))
                                })?;
                            Ok(compare(*kind, *cmp, &value, &other))
                        }
                    },
                }
            }
        }
    }
}

fn compare(kind: Kind, cmp: Cmp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match kind {
        Kind::String => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => Some(x.cmp(y)),
            _ => None,
        },
        Kind::Numeric => match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
                (Some(i), Some(j)) => Some(i.cmp(&j)),
                _ => x
                    .as_f64()
                    .zip(y.as_f64())
                    .and_then(|(p, q)| p.partial_cmp(&q)),
            },
            _ => None,
        },
        Kind::Boolean => match (a.as_bool(), b.as_bool()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        },
        Kind::Timestamp => match (
            a.as_str().and_then(parse_timestamp),
            b.as_str().and_then(parse_timestamp),
        ) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        },
    };
    ord.is_some_and(|ord| holds(cmp, ord))
}

/// Whether `cmp` holds for two operands ordered `ord`.
fn holds(cmp: Cmp, ord: std::cmp::Ordering) -> bool {
    match cmp {
        Cmp::Equals => ord.is_eq(),
        Cmp::LessThan => ord.is_lt(),
        Cmp::GreaterThan => ord.is_gt(),
        Cmp::LessThanEquals => ord.is_le(),
        Cmp::GreaterThanEquals => ord.is_ge(),
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::And(rs) | Rule::Or(rs) => {
                let sep = if matches!(self, Rule::And(_)) {
                    " and "
                } else {
                    " or "
                };
                let parts: Vec<String> = rs.iter().map(|r| r.to_string()).collect();
                write!(f, "({})", parts.join(sep))
            }
            Rule::Not(r) => write!(f, "not {r}"),
            Rule::Test { variable, test } => match test {
                Test::Type(t, b) => {
                    let name = TYPE_TESTS
                        .iter()
                        .find(|(_, x)| x == t)
                        .map_or("Is?", |(n, _)| n);
                    write!(f, "{name}({variable}) == {b}")
                }
                Test::Matches(p) => write!(f, "{variable} matches '{}'", p.source),
                Test::Compare { cmp, operand, .. } => {
                    let op = match cmp {
                        Cmp::Equals => "==",
                        Cmp::LessThan => "<",
                        Cmp::GreaterThan => ">",
                        Cmp::LessThanEquals => "<=",
                        Cmp::GreaterThanEquals => ">=",
                    };
                    match operand {
                        Operand::Literal(v) | Operand::Timestamp(_, v) => {
                            write!(f, "{variable} {op} {v}")
                        }
                        Operand::Path(p) => write!(f, "{variable} {op} {p}"),
                    }
                }
            },
        }
    }
}

/// A `StringMatches` pattern: `*` matches any run of characters, `\*` is a
/// literal star and `\\` a literal backslash.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    source: String,
    tokens: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Char(char),
    Star,
}

impl Pattern {
    pub(crate) fn parse(s: &str) -> Pattern {
        let mut tokens = Vec::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\\' => match it.peek() {
                    Some(&n @ ('*' | '\\')) => {
                        it.next();
                        tokens.push(Tok::Char(n));
                    }
                    _ => tokens.push(Tok::Char('\\')),
                },
                '*' => tokens.push(Tok::Star),
                c => tokens.push(Tok::Char(c)),
            }
        }
        Pattern {
            source: s.to_owned(),
            tokens,
        }
    }

    /// Iterative wildcard match with single backtrack point (linear-ish).
    pub(crate) fn matches(&self, s: &str) -> bool {
        let text: Vec<char> = s.chars().collect();
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Tok::Star) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(Tok::Char(c)) if text.get(t) == Some(c) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|x| *x == Tok::Star))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_wildcards_and_escapes() {
        let p = Pattern::parse("log-*.txt");
        assert!(p.matches("log-2024.txt"));
        assert!(p.matches("log-.txt"));
        assert!(!p.matches("log-2024.csv"));
        let star = Pattern::parse("a\\*b");
        assert!(star.matches("a*b"));
        assert!(!star.matches("axb"));
        assert!(Pattern::parse("*").matches(""));
        assert!(Pattern::parse("*a*b*").matches("xxaxxbxx"));
        assert!(!Pattern::parse("*a*b").matches("xxaxxbxxc"));
    }

    #[test]
    fn timestamps_need_uppercase_t() {
        assert!(parse_timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(parse_timestamp("2016-03-14t01:59:00Z").is_none());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
