//! The call grammar: `States.Name(arg, …)` with string, number, boolean,
//! null, path and nested-call arguments.

use serde_json::Value;

use super::{Arg, FUNCTIONS, Intrinsic, MAX_NESTING, Piece};
use crate::path::Path;
use crate::scan::Scanner;

/// The intrinsic-call grammar, as methods of the shared cursor.
impl Scanner {
    pub(super) fn call(&mut self, depth: usize) -> Result<Intrinsic, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "intrinsic functions can be nested at most {MAX_NESTING} deep"
            ));
        }
        if !self.starts_with("States.") {
            return Err("an intrinsic function call must start with 'States.'".into());
        }
        self.pos += "States.".len();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let name = self.text(start);
        let func = FUNCTIONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| format!("unknown intrinsic function 'States.{name}'"))?;
        self.skip_ws();
        if !self.eat('(') {
            return Err(format!("expected '(' after States.{name}"));
        }
        let mut args = Vec::new();
        self.skip_ws();
        if !self.eat(')') {
            loop {
                args.push(self.arg(depth)?);
                self.skip_ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(match self.peek() {
                    Some(c) => format!(
                        "expected ',' or ')' at position {} but found '{c}'",
                        self.pos
                    ),
                    None => format!("missing ')' to close States.{name}("),
                });
            }
        }
        let call = Intrinsic {
            func,
            args,
            src: String::new(),
        };
        call.check()?;
        Ok(call)
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.skip_ws();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => {
                let start = self.pos;
                let mut depth_br = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    if let Some(q) = quote {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == q {
                            quote = None;
                        }
                    } else {
                        match c {
                            '\'' | '"' if depth_br > 0 => quote = Some(c),
                            '[' | '(' => depth_br += 1,
                            ']' | ')' if depth_br > 0 => depth_br -= 1,
                            ',' | ')' if depth_br == 0 => break,
                            _ => {}
                        }
                    }
                    self.pos += 1;
                }
                let text = self.text(start);
                let text = text.trim_end();
                Path::parse(text)
                    .map(Arg::Path)
                    .map_err(|e| format!("invalid path '{text}': {e}"))
            }
            Some('S') => Ok(Arg::Call(Box::new(self.call(depth + 1)?))),
            Some(c) if c == '-' || c.is_ascii_digit() => self
                .number()
                .map(|n| Arg::Literal(Value::Number(n)))
                .map_err(|s| format!("invalid number '{s}'")),
            _ => {
                if let Some(v) = self.keyword() {
                    return Ok(Arg::Literal(v));
                }
                Err(match self.peek() {
                    Some(c) => format!(
                        "unexpected '{c}' at position {}: expected an argument",
                        self.pos
                    ),
                    None => "unexpected end: expected an argument".into(),
                })
            }
        }
    }

    /// A single-quoted string with `\'`, `\{`, `\}`, `\\` escapes.
    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1; // opening quote
        let mut value = String::new();
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".into()),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            self.pos += 1;
                            value.push(c);
                            text.push(c);
                        }
                        Some(c) => {
                            return Err(format!(
                                "invalid escape '\\{c}' in a string literal: only \\', \\{{, \\}} and \\\\ are allowed"
                            ));
                        }
                        None => return Err("unterminated escape in a string literal".into()),
                    }
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    self.pos += 2;
                    value.push_str("{}");
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Hole);
                }
                Some(c) => {
                    self.pos += 1;
                    value.push(c);
                    text.push(c);
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Arg::Str { value, pieces })
    }
}
