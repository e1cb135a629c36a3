//! Templates: strings with `${{ expr }}` parts ([`Template`]) and whole
//! `with:` trees whose strings are templates ([`ValueTemplate`]).
//!
//! A string that is exactly one `${{ expr }}` (surrounding whitespace
//! allowed) takes the expression's type, so `"${{ vars.groups }}"` stays an
//! array. Any other string with parts is interpolated into a string. A
//! string without `${{` is a literal and never touches Rhai, and a `with:`
//! subtree without templates is kept as one constant JSON value.

use std::fmt;

use serde_json::{Map, Value};

use super::lex::template_part_end;
use super::{Context, Expr, Origin, ScriptError, Scripting, StepRef};

/// One compiled template string.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// No `${{` at all.
    Literal(Value),
    /// Exactly one part and only whitespace around it: typed.
    Whole(Expr),
    /// Text and parts, rendered to one string.
    Parts(Vec<Part>),
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Steps referenced, positioned within the template string.
    pub fn step_refs(&self) -> Vec<StepRef> {
        match &self.kind {
            Kind::Literal(_) => Vec::new(),
            Kind::Whole(e) => e.step_refs(),
            Kind::Parts(parts) => parts
                .iter()
                .flat_map(|p| match p {
                    Part::Expr(e) => e.step_refs(),
                    Part::Text(_) => Vec::new(),
                })
                .collect(),
        }
    }

    /// The root variables the template's parts read, each once.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let exprs: Vec<&Expr> = match &self.kind {
            Kind::Literal(_) => Vec::new(),
            Kind::Whole(e) => vec![e],
            Kind::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Expr(e) => Some(e),
                    Part::Text(_) => None,
                })
                .collect(),
        };
        for name in exprs.into_iter().flat_map(Expr::variables) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// True for a string without any `${{ }}` part.
    pub fn is_literal(&self) -> bool {
        matches!(self.kind, Kind::Literal(_))
    }
}

/// A compiling or rendering error inside a `with:` tree, with the JSON path
/// of the string it came from (`headers.Authorization`, `groups[1]`; empty
/// for a tree that is itself one string).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub path: String,
    pub error: ScriptError,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.error)
        } else {
            write!(f, "{}: {}", self.path, self.error)
        }
    }
}

impl std::error::Error for TemplateError {}

/// A compiled `with:` tree.
#[derive(Debug, Clone)]
pub struct ValueTemplate(Node);

#[derive(Debug, Clone)]
enum Node {
    Const(Value),
    Str(Template),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl ValueTemplate {
    /// True when the tree holds no template at all.
    pub fn is_const(&self) -> bool {
        matches!(self.0, Node::Const(_))
    }

    /// The tree itself when it holds no template.
    pub fn as_const(&self) -> Option<&Value> {
        match &self.0 {
            Node::Const(v) => Some(v),
            _ => None,
        }
    }

    /// Steps referenced anywhere in the tree, in document order; positions
    /// are relative to the string each reference is in.
    pub fn step_refs(&self) -> Vec<StepRef> {
        self.step_refs_with_paths()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    /// Like [`ValueTemplate::step_refs`], each with the JSON path of its string.
    pub fn step_refs_with_paths(&self) -> Vec<(String, StepRef)> {
        let mut out = Vec::new();
        collect_refs(&self.0, String::new(), &mut out);
        out
    }
}

fn collect_refs(node: &Node, path: String, out: &mut Vec<(String, StepRef)>) {
    match node {
        Node::Const(_) => {}
        Node::Str(t) => out.extend(t.step_refs().into_iter().map(|r| (path.clone(), r))),
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_refs(item, index_path(&path, i), out);
            }
        }
        Node::Object(fields) => {
            for (key, item) in fields {
                collect_refs(item, key_path(&path, key), out);
            }
        }
    }
}

fn index_path(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", Value::from(key)),
    }
}

/// Moves a (line, column) position over `text`.
fn advance(mut line: usize, mut column: usize, text: &str) -> (usize, usize) {
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Renders one interpolated value as text: strings as they are, null as
/// nothing, numbers and booleans as written, arrays and maps as compact JSON.
fn push_text(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
}

impl Scripting {
    /// Compiles a string with `${{ }}` parts.
    pub fn template(&self, src: &str) -> Result<Template, ScriptError> {
        let mut parts = Vec::new();
        let (mut line, mut column) = (1, 1);
        let mut rest_start = 0;
        while let Some(offset) = src[rest_start..].find("${{") {
            let open = rest_start + offset;
            (line, column) = advance(line, column, &src[rest_start..open]);
            if open > rest_start {
                parts.push(Part::Text(src[rest_start..open].to_string()));
            }
            let code_start = open + 3;
            let origin = Origin {
                line,
                column: column + 3,
            };
            let Some(close) = template_part_end(src, code_start, origin.line, origin.column) else {
                return Err(ScriptError::Syntax {
                    message: "unclosed '${{' (expected '}}')".into(),
                    line,
                    column,
                });
            };
            parts.push(Part::Expr(self.expr_at(&src[code_start..close], origin)?));
            (line, column) = advance(line, column, &src[open..close + 2]);
            rest_start = close + 2;
        }
        if rest_start < src.len() {
            parts.push(Part::Text(src[rest_start..].to_string()));
        }
        let kind = whole(&parts).map_or_else(
            || match parts.as_slice() {
                [] => Kind::Literal(Value::String(String::new())),
                [Part::Text(t)] => Kind::Literal(Value::String(t.clone())),
                _ => Kind::Parts(parts.clone()),
            },
            Kind::Whole,
        );
        Ok(Template {
            source: src.to_string(),
            kind,
        })
    }

    /// Compiles a whole `with:` tree; every string in it is a template.
    /// Collects every error, each with the JSON path of its string.
    pub fn value_template(&self, v: &Value) -> Result<ValueTemplate, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let node = self.node(v, String::new(), &mut errors);
        if errors.is_empty() {
            Ok(ValueTemplate(node))
        } else {
            Err(errors)
        }
    }

    fn node(&self, v: &Value, path: String, errors: &mut Vec<TemplateError>) -> Node {
        match v {
            Value::String(s) => match self.template(s) {
                Ok(t) if t.is_literal() => Node::Const(v.clone()),
                Ok(t) => Node::Str(t),
                Err(error) => {
                    errors.push(TemplateError { path, error });
                    Node::Const(Value::Null)
                }
            },
            Value::Array(items) => {
                let nodes: Vec<Node> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, index_path(&path, i), errors))
                    .collect();
                if nodes.iter().all(|n| matches!(n, Node::Const(_))) {
                    Node::Const(v.clone())
                } else {
                    Node::Array(nodes)
                }
            }
            Value::Object(fields) => {
                let nodes: Vec<(String, Node)> = fields
                    .iter()
                    .map(|(k, item)| (k.clone(), self.node(item, key_path(&path, k), errors)))
                    .collect();
                if nodes.iter().all(|(_, n)| matches!(n, Node::Const(_))) {
                    Node::Const(v.clone())
                } else {
                    Node::Object(nodes)
                }
            }
            other => Node::Const(other.clone()),
        }
    }

    /// Renders a template string: typed for a whole-expression template,
    /// a string otherwise.
    pub fn render_string(&self, t: &Template, cx: &Context) -> Result<Value, ScriptError> {
        match &t.kind {
            Kind::Literal(v) => Ok(v.clone()),
            Kind::Whole(e) => self.eval(e, cx),
            Kind::Parts(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(text) => out.push_str(text),
                        Part::Expr(e) => push_text(&mut out, &self.eval(e, cx)?),
                    }
                }
                Ok(Value::String(out))
            }
        }
    }

    /// Renders a whole `with:` tree. An error names the JSON path of the
    /// string that failed, e.g. `headers.Authorization: …`.
    pub fn render(&self, t: &ValueTemplate, cx: &Context) -> Result<Value, ScriptError> {
        self.render_node(&t.0, cx)
            .map_err(|(path, error)| match error {
                _ if path.is_empty() => error,
                ScriptError::Runtime(m) => ScriptError::Runtime(format!("{path}: {m}")),
                ScriptError::Limit(m) => ScriptError::Limit(format!("{path}: {m}")),
                syntax @ ScriptError::Syntax { .. } => syntax,
            })
    }

    /// Renders a node; an error comes with the path below this node,
    /// built on the way up so that the happy path builds no path strings.
    fn render_node(&self, node: &Node, cx: &Context) -> Result<Value, (String, ScriptError)> {
        match node {
            Node::Const(v) => Ok(v.clone()),
            Node::Str(t) => self.render_string(t, cx).map_err(|e| (String::new(), e)),
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    let value = self
                        .render_node(n, cx)
                        .map_err(|(below, e)| (format!("{}{below}", index_path("", i)), e))?;
                    out.push(value);
                }
                Ok(Value::Array(out))
            }
            Node::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (key, n) in fields {
                    let value = self.render_node(n, cx).map_err(|(below, e)| {
                        let head = key_path("", key);
                        if below.is_empty() || below.starts_with('[') {
                            (format!("{head}{below}"), e)
                        } else {
                            (format!("{head}.{below}"), e)
                        }
                    })?;
                    out.insert(key.clone(), value);
                }
                Ok(Value::Object(out))
            }
        }
    }
}

/// The expression of a template that is one part with only whitespace around it.
fn whole(parts: &[Part]) -> Option<Expr> {
    let mut found = None;
    for part in parts {
        match part {
            Part::Text(t) if t.trim().is_empty() => {}
            Part::Expr(e) if found.is_none() => found = Some(e.clone()),
            _ => return None,
        }
    }
    found
}
