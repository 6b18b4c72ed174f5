//! The character cursor the path and intrinsic-function parsers share.

use serde_json::{Number, Value};

/// A position in a parsed string, read one `char` at a time.
pub(crate) struct Scanner {
    pub(crate) chars: Vec<char>,
    pub(crate) pos: usize,
}

impl Scanner {
    pub(crate) fn new(src: &str) -> Scanner {
        Scanner {
            chars: src.chars().collect(),
            pos: 0,
        }
    }

    /// The text from `start` up to the current position.
    pub(crate) fn text(&self, start: usize) -> String {
        self.chars
            .get(start..self.pos)
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.chars.len()
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(crate) fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    /// Step over `c` if it comes next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.chars.get(self.pos + k) == Some(&c))
    }

    /// A JSON number starting at the cursor (which is on `-` or a digit);
    /// the error is the text that is not a number.
    pub(crate) fn number(&mut self) -> Result<Number, String> {
        let start = self.pos;
        self.pos += 1;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        {
            self.pos += 1;
        }
        let s = self.text(start);
        serde_json::from_str::<Number>(&s).map_err(|_| s)
    }

    /// `true`, `false` or `null` at the cursor, stepped over.
    pub(crate) fn keyword(&mut self) -> Option<Value> {
        for (w, v) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.starts_with(w) {
                self.pos += w.len();
                return Some(v);
            }
        }
        None
    }
}
