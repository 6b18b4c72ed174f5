//! The path grammar: a `$` or `$$` root, then segments (the syntax is listed
//! in the `path` module docs).

use serde_json::Value;

use super::{CmpOp, Condition, Filter, Key, Root, Segment, Selector};
use crate::scan::Scanner;

/// The first character of a variable name (`$name`).
pub(crate) fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// The other characters of a variable name.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The path grammar, as methods of the shared cursor.
impl Scanner {
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(got) => format!("expected '{c}' at position {} but found '{got}'", self.pos),
                None => format!("expected '{c}' at position {} but the path ended", self.pos),
            })
        }
    }

    /// `$`, `$$` or `$name` (a workflow variable); the variable's name.
    pub(super) fn root(&mut self) -> Result<(Root, Option<String>), String> {
        if !self.eat('$') {
            return Err("a path must start with '$'".into());
        }
        if self.eat('$') {
            return Ok((Root::Context, None));
        }
        if !self.peek().is_some_and(is_name_start) {
            return Ok((Root::Input, None));
        }
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        Ok((Root::Variable, Some(self.text(start))))
    }

    pub(super) fn segment(&mut self) -> Result<Segment, String> {
        match self.peek() {
            Some('.') => {
                self.pos += 1;
                if self.eat('.') {
                    if self.peek() == Some('[') {
                        self.pos += 1;
                        return Ok(Segment::Descendant(self.bracket()?));
                    }
                    return Ok(Segment::Descendant(self.dot_member()?));
                }
                Ok(Segment::Child(self.dot_member()?))
            }
            Some('[') => {
                self.pos += 1;
                Ok(Segment::Child(self.bracket()?))
            }
            Some(c) => Err(format!(
                "unexpected '{c}' at position {}: expected '.' or '['",
                self.pos
            )),
            None => Err("unexpected end of path".into()),
        }
    }

    fn dot_member(&mut self) -> Result<Selector, String> {
        if self.eat('*') {
            return Ok(Selector::Wildcard);
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c.is_whitespace() || c == ']' || c == '\'' || c == '"' {
                return Err(format!(
                    "character '{c}' at position {} is not allowed in a field name; use ['…']",
                    self.pos
                ));
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("empty field name at position {start}"));
        }
        Ok(Selector::Name(self.text(start)))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("expected a quoted name at position {}", self.pos)),
        };
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted name".into()),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            s.push(c);
                            self.pos += 1;
                        }
                        None => return Err("unterminated escape in quoted name".into()),
                    }
                }
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> Result<i64, String> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: String = self.text(start);
        s.parse::<i64>()
            .map_err(|_| format!("expected an integer at position {start}"))
    }

    fn key(&mut self) -> Result<Key, String> {
        self.skip_ws();
        let k = match self.peek() {
            Some('\'' | '"') => Key::Name(self.quoted()?),
            _ => Key::Index(self.int()?),
        };
        self.skip_ws();
        Ok(k)
    }

    /// After '['.
    fn bracket(&mut self) -> Result<Selector, String> {
        self.skip_ws();
        let sel = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_ws();
                self.expect('(')?;
                let f = self.filter()?;
                self.skip_ws();
                self.expect(')')?;
                Selector::Filter(f)
            }
            Some(':') => self.slice_rest(None)?,
            _ => {
                let first = self.key()?;
                match (self.peek(), first) {
                    (Some(':'), Key::Index(i)) => self.slice_rest(Some(i))?,
                    (Some(','), first) => {
                        let mut keys = vec![first];
                        while self.eat(',') {
                            keys.push(self.key()?);
                        }
                        Selector::Union(keys)
                    }
                    (_, Key::Name(n)) => Selector::Name(n),
                    (_, Key::Index(i)) => Selector::Index(i),
                }
            }
        };
        self.skip_ws();
        self.expect(']')?;
        Ok(sel)
    }

    /// At ':' after an optional start.
    fn slice_rest(&mut self, start: Option<i64>) -> Result<Selector, String> {
        self.expect(':')?;
        self.skip_ws();
        let end = if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
            Some(self.int()?)
        } else {
            None
        };
        self.skip_ws();
        let step = if self.eat(':') {
            self.skip_ws();
            if matches!(self.peek(), Some(c) if c == '-' || c.is_ascii_digit()) {
                Some(self.int()?)
            } else {
                None
            }
        } else {
            None
        };
        if step == Some(0) {
            return Err("slice step cannot be 0".into());
        }
        Ok(Selector::Slice(start, end, step))
    }

    fn filter(&mut self) -> Result<Filter, String> {
        let mut any = Vec::new();
        let mut all = Vec::new();
        loop {
            self.skip_ws();
            all.push(self.condition()?);
            self.skip_ws();
            if self.peek() == Some('&') && self.peek_at(1) == Some('&') {
                self.pos += 2;
                continue;
            }
            if self.peek() == Some('|') && self.peek_at(1) == Some('|') {
                self.pos += 2;
                any.push(std::mem::take(&mut all));
                continue;
            }
            break;
        }
        any.push(all);
        Ok(Filter { any })
    }

    fn condition(&mut self) -> Result<Condition, String> {
        self.expect('@')?;
        let mut keys = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    match self.dot_member_in_filter()? {
                        Some(n) => keys.push(Key::Name(n)),
                        None => return Err("wildcards are not supported in filters".into()),
                    }
                }
                Some('[') => {
                    self.pos += 1;
                    keys.push(self.key()?);
                    self.expect(']')?;
                }
                _ => break,
            }
        }
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CmpOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CmpOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CmpOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CmpOp::Ge, 2)),
            (Some('<'), _) => Some((CmpOp::Lt, 1)),
            (Some('>'), _) => Some((CmpOp::Gt, 1)),
            _ => None,
        };
        let Some((op, len)) = op else {
            return Ok(Condition::Exists(keys));
        };
        self.pos += len;
        self.skip_ws();
        let lit = self.literal()?;
        Ok(Condition::Compare(keys, op, lit))
    }

    fn dot_member_in_filter(&mut self) -> Result<Option<String>, String> {
        if self.eat('*') {
            return Ok(None);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("empty field name at position {start}"));
        }
        Ok(Some(self.text(start)))
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('\'' | '"') => Ok(Value::String(self.quoted()?)),
            Some(c) if c == '-' || c.is_ascii_digit() => self
                .number()
                .map(Value::Number)
                .map_err(|s| format!("invalid number '{s}' in filter")),
            _ => {
                if let Some(v) = self.keyword() {
                    return Ok(v);
                }
                Err(format!("expected a literal at position {}", self.pos))
            }
        }
    }
}
