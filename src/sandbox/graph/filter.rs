//! OData `$filter` expressions: parsing (eq, ne, in, ge/le/gt/lt, startswith, endswith, not,
//! and, or; string literals with doubled quotes) and evaluation against a JSON object.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(String, Cmp, Value),
    In(String, Vec<Value>),
    StartsWith(String, String),
    EndsWith(String, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Open,
    Close,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' => {
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a string literal is not closed".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            lit.push(*c);
                            i += 1
                        }
                    }
                }
                out.push(Tok::Str(lit));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '.' | ':'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                match text.parse::<f64>() {
                    Ok(n) => out.push(Tok::Num(n)),
                    // Unquoted GUIDs and dates compare as strings.
                    Err(_) => out.push(Tok::Str(text)),
                }
            }
            c if c.is_alphanumeric() || matches!(c, '$' | '_' | '/' | '.' | '@') => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '$' | '_' | '/' | '.' | '@' | '-'))
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::Close)?;
            return Ok(e);
        }
        let word = match self.next() {
            Some(Tok::Word(w)) => w,
            other => return Err(format!("expected a property or function, found {other:?}")),
        };
        let lower = word.to_ascii_lowercase();
        if lower == "startswith" || lower == "endswith" {
            self.expect(Tok::Open)?;
            let prop = match self.next() {
                Some(Tok::Word(p)) => p,
                other => return Err(format!("expected a property, found {other:?}")),
            };
            self.expect(Tok::Comma)?;
            let value = match self.next() {
                Some(Tok::Str(s)) => s,
                other => return Err(format!("expected a string, found {other:?}")),
            };
            self.expect(Tok::Close)?;
            return Ok(if lower == "startswith" {
                Expr::StartsWith(prop, value)
            } else {
                Expr::EndsWith(prop, value)
            });
        }
        let op = self.peek_word().ok_or("expected an operator")?;
        self.pos += 1;
        if op == "in" {
            self.expect(Tok::Open)?;
            let mut values = vec![self.literal()?];
            while self.toks.get(self.pos) == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Tok::Close)?;
            return Ok(Expr::In(word, values));
        }
        let cmp = match op.as_str() {
            "eq" => Cmp::Eq,
            "ne" => Cmp::Ne,
            "ge" => Cmp::Ge,
            "le" => Cmp::Le,
            "gt" => Cmp::Gt,
            "lt" => Cmp::Lt,
            other => return Err(format!("unsupported operator '{other}'")),
        };
        Ok(Expr::Compare(word, cmp, self.literal()?))
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(json!(n)),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Ok(json!(true)),
                "false" => Ok(json!(false)),
                "null" => Ok(Value::Null),
                _ => Err(format!("expected a literal, found '{w}'")),
            },
            other => Err(format!("expected a literal, found {other:?}")),
        }
    }
}

pub fn parse(filter: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: tokenize(filter)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(e)
}

impl Expr {
    /// The first operator that makes this an advanced query, if any.
    pub fn advanced_operator(&self) -> Option<&'static str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.advanced_operator().or(b.advanced_operator()),
            Expr::Not(_) => Some("not"),
            Expr::Compare(_, Cmp::Ne, _) => Some("ne"),
            Expr::EndsWith(..) => Some("endsWith"),
            _ => None,
        }
    }

    pub fn properties(&self) -> Vec<&str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.properties();
                v.extend(b.properties());
                v
            }
            Expr::Not(e) => e.properties(),
            Expr::Compare(p, ..)
            | Expr::In(p, _)
            | Expr::StartsWith(p, _)
            | Expr::EndsWith(p, _) => vec![p.as_str()],
        }
    }

    /// Whether `item` matches; string comparisons ignore case unless `case_sensitive`.
    pub fn matches(&self, item: &Map<String, Value>, case_sensitive: bool) -> bool {
        let text = |v: &Value| -> Option<String> {
            v.as_str().map(|s| {
                if case_sensitive {
                    s.to_string()
                } else {
                    s.to_lowercase()
                }
            })
        };
        let norm = |s: &str| {
            if case_sensitive {
                s.to_string()
            } else {
                s.to_lowercase()
            }
        };
        match self {
            Expr::And(a, b) => a.matches(item, case_sensitive) && b.matches(item, case_sensitive),
            Expr::Or(a, b) => a.matches(item, case_sensitive) || b.matches(item, case_sensitive),
            Expr::Not(e) => !e.matches(item, case_sensitive),
            Expr::StartsWith(p, v) => lookup(item, p)
                .and_then(|x| text(&x))
                .is_some_and(|x| x.starts_with(&norm(v))),
            Expr::EndsWith(p, v) => lookup(item, p)
                .and_then(|x| text(&x))
                .is_some_and(|x| x.ends_with(&norm(v))),
            Expr::In(p, values) => {
                let actual = lookup(item, p).unwrap_or(Value::Null);
                values
                    .iter()
                    .any(|v| compare(&actual, v, case_sensitive) == Some(Ordering::Equal))
            }
            Expr::Compare(p, cmp, v) => {
                let actual = lookup(item, p).unwrap_or(Value::Null);
                let ord = compare(&actual, v, case_sensitive);
                match cmp {
                    Cmp::Eq => ord == Some(Ordering::Equal),
                    Cmp::Ne => ord != Some(Ordering::Equal),
                    Cmp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                    Cmp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                    Cmp::Gt => ord == Some(Ordering::Greater),
                    Cmp::Lt => ord == Some(Ordering::Less),
                }
            }
        }
    }
}

/// A property by name (case-insensitive), following `a/b` into nested objects.
fn lookup(item: &Map<String, Value>, path: &str) -> Option<Value> {
    let mut parts = path.split('/');
    let first = parts.next()?;
    let mut current = item
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(first))
        .map(|(_, v)| v.clone())?;
    for part in parts {
        current = current
            .as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(part))
            .map(|(_, v)| v.clone())?;
    }
    Some(current)
}

pub fn compare(a: &Value, b: &Value, case_sensitive: bool) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::String(x), Value::String(y)) if case_sensitive => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn filters_parse_and_match() {
        let u = item(
            json!({"employeeId": "E1", "displayName": "Ada Lovelace", "mail": "ada@contoso.com"}),
        );
        for (f, want) in [
            ("employeeId eq 'E1'", true),
            ("employeeId eq 'e1'", true),
            ("startswith(displayName,'ada')", true),
            ("employeeId in ('E2','E1')", true),
            ("employeeId eq 'E1' and not (mail eq null)", true),
            (
                "endswith(mail,'@fabrikam.com') or employeeId eq 'E9'",
                false,
            ),
            ("department eq null", true),
        ] {
            let e = parse(f);
            assert!(e.is_ok(), "{f}: {e:?}");
            assert_eq!(e.map(|e| e.matches(&u, false)).ok(), Some(want), "{f}");
        }
        assert!(parse("employeeId eq").is_err());
        assert!(parse("employeeId eq 'unterminated").is_err());
    }

    #[test]
    fn doubled_quotes_are_one_quote() {
        let u = item(json!({"surname": "O'Neil"}));
        assert_eq!(
            parse("surname eq 'O''Neil'")
                .map(|e| e.matches(&u, false))
                .ok(),
            Some(true)
        );
    }
}
