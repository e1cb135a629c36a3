//! Filters (RFC 7644 §3.4.2.2): `userName eq "bjensen"`, `externalId eq "701984"`,
//! `emails[type eq "work" and value co "@example.com"]`, `not (active eq false)`,
//! `id eq "G" and members.value eq "U"` (what Entra sends), with `and` binding tighter than `or`
//! and `not`/parentheses grouping. Operators, keywords and attribute names match ignoring case;
//! string comparisons respect case only for `caseExact` attributes. Also the parser of paths.

use serde_json::Value;

use super::path::Path;
use super::{schema, Kind};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr pr`, and a bare value path (`emails[type eq "work"]`): some value is there.
    Present(Path),
    Compare(Path, Op, Value),
}

/// Where a filter is evaluated: a resource of `kind`, or (inside `attr[…]`) the values of one
/// of its attributes, whose sub-attributes the inner paths name.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub kind: Kind,
    pub parent: Option<(Option<&'a str>, &'a str)>,
}

impl<'a> Scope<'a> {
    pub fn within(self, urn: Option<&'a str>, attr: &'a str) -> Scope<'a> {
        Scope {
            kind: self.kind,
            parent: Some((urn, attr)),
        }
    }

    fn case_exact(&self, p: &Path) -> bool {
        match self.parent {
            Some((urn, attr)) => schema::case_exact(self.kind, urn, attr, Some(&p.attr)),
            None => schema::case_exact(self.kind, p.urn.as_deref(), &p.attr, p.sub.as_deref()),
        }
    }
}

impl Filter {
    /// A filter that must be all of `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut p = Parser::new(text);
        let f = p.or()?;
        p.end()?;
        Ok(f)
    }

    pub fn matches(&self, v: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(v, scope) && b.matches(v, scope),
            Filter::Or(a, b) => a.matches(v, scope) || b.matches(v, scope),
            Filter::Not(f) => !f.matches(v, scope),
            Filter::Present(p) => p.values(v, scope).into_iter().any(present),
            Filter::Compare(p, op, lit) => {
                let values = p.values(v, scope);
                let exact = scope.case_exact(p);
                match (op, lit) {
                    (Op::Eq, Value::Null) => !values.into_iter().any(present),
                    (Op::Ne, Value::Null) => values.into_iter().any(present),
                    (Op::Ne, _) => !values.iter().any(|x| compare(x, Op::Eq, lit, exact)),
                    _ => values.iter().any(|x| compare(x, *op, lit, exact)),
                }
            }
        }
    }

    /// `attr eq "value"` on a top-level core attribute: what an index can answer.
    pub fn simple_eq(&self) -> Option<(&str, &str)> {
        match self {
            Filter::Compare(p, Op::Eq, Value::String(s))
                if p.urn.is_none() && p.filter.is_none() && p.sub.is_none() =>
            {
                Some((p.attr.as_str(), s.as_str()))
            }
            _ => None,
        }
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(v: &Value, op: Op, lit: &Value, exact: bool) -> bool {
    let fold = |s: &str| {
        if exact {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    match (v, lit) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (fold(a), fold(b));
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Co => a.contains(&b),
                Op::Sw => a.starts_with(&b),
                Op::Ew => a.ends_with(&b),
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                Op::Le => a <= b,
                _ => false,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => false,
        },
        // A boolean stored or compared as a string ("True", as Entra writes them).
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            let b = b.eq_ignore_ascii_case("true");
            match op {
                Op::Eq => *a == b,
                Op::Ne => *a != b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// A cursor over filter or path text.
pub(super) struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Parser<'t> {
    pub(super) fn new(text: &'t str) -> Parser<'t> {
        Parser { text, at: 0 }
    }

    fn rest(&self) -> &'t str {
        &self.text[self.at..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(super) fn end(&mut self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(format!("unexpected '{}'", self.rest())),
        }
    }

    /// A word: an attribute token or a keyword.
    fn word(&mut self) -> &'t str {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-$:.".contains(c)))
            .unwrap_or(self.rest().len());
        let w = &self.rest()[..len];
        self.at += len;
        w
    }

    /// The next word if it is `keyword` (ignoring case), consumed.
    fn keyword(&mut self, keyword: &str) -> bool {
        let save = self.at;
        let w = self.word();
        if w.eq_ignore_ascii_case(keyword) {
            true
        } else {
            self.at = save;
            false
        }
    }

    /// `attr[.sub]`, `attr[filter][.sub]` or `urn:…[:attr…]`.
    pub(super) fn path(&mut self) -> Result<Path, String> {
        let token = self.word();
        if token.is_empty() {
            return Err(match self.peek() {
                Some(c) => format!("expected an attribute at '{c}'"),
                None => "expected an attribute".into(),
            });
        }
        let mut path = Path::from_token(token)?;
        if self.rest().starts_with('[') {
            if path.sub.is_some() || path.attr.is_empty() {
                return Err(format!("'{token}[' : a filter follows an attribute"));
            }
            self.at += 1;
            let inner = self.or()?;
            if !self.eat(']') {
                return Err("a '[' is not closed with ']'".into());
            }
            path.filter = Some(Box::new(inner));
            if self.rest().starts_with('.') {
                self.at += 1;
                let sub = self.word();
                if sub.is_empty() || sub.contains(['.', ':']) {
                    return Err(format!("'.{sub}' is not a sub-attribute"));
                }
                path.sub = Some(sub.to_string());
            }
        }
        Ok(path)
    }

    pub(super) fn or(&mut self) -> Result<Filter, String> {
        let mut f = self.and()?;
        while self.keyword("or") {
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut f = self.unary()?;
        while self.keyword("and") {
            f = Filter::And(Box::new(f), Box::new(self.unary()?));
        }
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            if !self.eat('(') {
                return Err("'not' takes a filter in parentheses".into());
            }
            let f = self.or()?;
            if !self.eat(')') {
                return Err("a '(' is not closed with ')'".into());
            }
            return Ok(Filter::Not(Box::new(f)));
        }
        if self.eat('(') {
            let f = self.or()?;
            if !self.eat(')') {
                return Err("a '(' is not closed with ')'".into());
            }
            return Ok(f);
        }
        let path = self.path()?;
        let save = self.at;
        let op = self.word();
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "" | "and" | "or" if path.filter.is_some() && path.sub.is_none() => {
                self.at = save;
                return Ok(Filter::Present(path));
            }
            "" => {
                return Err(format!(
                    "'{path}' needs an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"
                ))
            }
            other => return Err(format!("'{other}' is not an operator")),
        };
        Ok(Filter::Compare(path, op, self.literal()?))
    }

    /// `"string"`, a number, `true`, `false` or `null`.
    fn literal(&mut self) -> Result<Value, String> {
        if self.peek() == Some('"') {
            let mut de = serde_json::Deserializer::from_str(self.rest()).into_iter::<Value>();
            return match de.next() {
                Some(Ok(v @ Value::String(_))) => {
                    self.at += de.byte_offset();
                    Ok(v)
                }
                _ => Err("a string is not closed, or has a bad escape".into()),
            };
        }
        let w = self.word();
        match w.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            "" => Err("expected a value after the operator".into()),
            _ => serde_json::from_str::<serde_json::Number>(w)
                .map(Value::Number)
                .map_err(|_| format!("'{w}' is not a value (strings take double quotes)")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::scim::path::scope;
    use serde_json::json;

    fn m(filter: &str, v: &Value) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(v, scope(Kind::User))
    }

    #[test]
    fn what_entra_and_google_send_matches() {
        let u = json!({
            "id": "a1", "userName": "Bjensen@Example.com", "externalId": "701984",
            "active": true,
            "emails": [{"value": "bj@example.com", "type": "work", "primary": true}],
        });
        assert!(m("userName eq \"bjensen@example.com\"", &u));
        assert!(m("USERNAME EQ \"BJENSEN@EXAMPLE.COM\"", &u));
        assert!(m("externalId eq \"701984\"", &u));
        assert!(!m("externalId eq \"701984 \"", &u));
        assert!(!m("id eq \"A1\"", &u), "id is caseExact");
        assert!(m(
            "emails[type eq \"work\"].value eq \"bj@example.com\"",
            &u
        ));
        assert!(m("emails[type eq \"work\" and primary eq true]", &u));
        assert!(m("emails[type eq \"home\"] or userName sw \"bj\"", &u));
        assert!(m(
            "not (active eq false) and emails.value co \"@example\"",
            &u
        ));
        assert!(m("title eq null and userName pr and not (title pr)", &u));
        assert!(m("active eq \"True\"", &u));
        let g = json!({"id": "G", "members": [{"value": "U1"}, {"value": "U2"}]});
        let gs = scope(Kind::Group);
        let f = Filter::parse("id eq \"G\" and members.value eq \"U2\"").unwrap();
        assert!(f.matches(&g, gs));
        let f = Filter::parse("id eq \"G\" and members.value eq \"u2\"").unwrap();
        assert!(!f.matches(&g, gs));
    }

    #[test]
    fn precedence_and_bad_filters() {
        let v = json!({"userName": "x", "title": "t"});
        // and binds tighter: false or (true and true)
        assert!(m(
            "userName eq \"y\" or userName eq \"x\" and title eq \"t\"",
            &v
        ));
        assert!(!m(
            "(userName eq \"y\" or userName eq \"x\") and title eq \"u\"",
            &v
        ));
        for bad in [
            "userName",
            "userName eq",
            "userName eq bjensen",
            "userName xx \"a\"",
            "(userName eq \"a\"",
            "emails[type eq \"work\"",
            "userName eq \"a",
            "userName eq \"a\" garbage",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Filter::parse("userName eq \"a\"").unwrap().simple_eq(),
            Some(("userName", "a"))
        );
    }
}
