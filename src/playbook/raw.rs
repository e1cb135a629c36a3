//! The playbook exactly as written: a serde mirror of the YAML, checked only for shape.
//!
//! This file and `config/mod.rs` are the only places that call serde_yaml, so the archived crate can
//! be swapped for a maintained fork in one change. Untyped parts (`on:` entries, `with:`,
//! expressions that YAML may read as numbers or booleans) are kept as JSON values and typed in
//! `compile`, which knows the action and can name the step and field.

use serde::Deserialize;
use serde_json::{Map, Value};

/// A playbook file before any checking beyond its shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlaybook {
    /// The playbook's name: unique among the loaded playbooks, used on the command line.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Triggers: each entry a map with one key (`person.joined: { source: google }`) or a name.
    #[serde(default)]
    pub on: Vec<Value>,
    /// A Rhai condition: false records the event as filtered and starts no run.
    #[serde(default, rename = "where")]
    pub filter: Option<Value>,
    /// A Rhai expression: runs whose keys are equal never overlap.
    #[serde(default)]
    pub concurrency: Option<Value>,
    /// Named Rhai expressions, evaluated once in order when the run is created.
    #[serde(default)]
    pub vars: Map<String, Value>,
    pub steps: Vec<RawStep>,
    /// Steps that run after a step failed for good; `error` names the failure.
    #[serde(default)]
    pub on_failure: Vec<RawStep>,
}

/// One step as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: String,
    /// A readable label for listings.
    #[serde(default)]
    pub name: Option<String>,
    pub uses: String,
    #[serde(default)]
    pub with: Option<Value>,
    #[serde(default, rename = "if")]
    pub condition: Option<Value>,
    #[serde(default)]
    pub retry: Option<RawRetry>,
    #[serde(default)]
    pub timeout: Option<String>,
}

/// `retry: { attempts: 6, backoff: exponential, initial: 2s, max: 5m }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub backoff: Option<String>,
    #[serde(default)]
    pub initial: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
}

/// A YAML error with the position serde_yaml found it at.
#[derive(Debug)]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Parses the text of a playbook file.
pub fn parse(text: &str) -> Result<RawPlaybook, ParseError> {
    serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        explain(&e.to_string(), line, column, text)
    })
}

/// A mark in serde_yaml's prose: `line 7 column 1`.
fn mark(s: &str) -> Option<(usize, usize)> {
    let rest = s.trim().strip_prefix("line ")?;
    let (line, column) = rest.split_once(" column ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// Turns serde_yaml's message into one a playbook author can act on, at the best position.
///
/// serde_yaml writes `problem at line L column C, context at line L2 column C2`. A quoted
/// string or a `{ }`/`[ ]` left open is noticed where the parser gave up (often the end of the
/// file), so it is reported where it was opened. Unknown keys get a "did you mean", and a
/// duplicate key is reported at the duplicate rather than at its mapping.
fn explain(full: &str, line: usize, column: usize, text: &str) -> ParseError {
    let (problem, after) = match full.split_once(" at line ") {
        Some((p, rest)) => (p.to_string(), rest.split_once(", ").map(|(_, c)| c)),
        None => (full.to_string(), None),
    };
    let context = after.map(|c| match c.split_once(" at line ") {
        Some((text, m)) => (text.to_string(), mark(&format!("line {m}"))),
        None => (c.to_string(), None),
    });
    if let Some((ctx, Some((cl, cc)))) = &context {
        let opened = match ctx.as_str() {
            "while scanning a quoted scalar" => Some("this quoted string is never closed"),
            "while parsing a flow mapping" => Some("this `{ }` mapping is never closed"),
            "while parsing a flow sequence" => Some("this `[ ]` list is never closed"),
            _ => None,
        };
        if let Some(what) = opened.filter(|_| *cl < line) {
            return ParseError {
                message: format!("{what}: {problem} at line {line} column {column}"),
                line: *cl,
                column: *cc,
            };
        }
    }
    let mut message = friendly(&problem);
    if let Some((ctx, m)) = context {
        match m {
            Some((cl, cc)) => {
                message.push_str(&format!(" ({ctx} that starts at line {cl} column {cc})"))
            }
            None => message.push_str(&format!(" ({ctx})")),
        }
    }
    if let Some((path, key)) = duplicate_key(&problem) {
        // The index keeps the last node of a path: the duplicate.
        let at = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        if let Some(s) = super::spans::Spans::index(text).get(&at) {
            return ParseError {
                message,
                line: s.key_line,
                column: s.key_column,
            };
        }
    }
    ParseError {
        message,
        line,
        column,
    }
}

/// `steps[0]: duplicate field `uses`` → (`steps[0]`, `uses`).
fn duplicate_key(problem: &str) -> Option<(&str, &str)> {
    let (path, rest) = match problem.split_once(": duplicate field `") {
        Some(x) => x,
        None => ("", problem.strip_prefix("duplicate field `")?),
    };
    Some((path, rest.split('`').next()?))
}

/// serde's wording in the words of a YAML file: keys rather than fields, with a suggestion for
/// a misspelt one, and no Rust type names.
fn friendly(problem: &str) -> String {
    let (path, msg) = match problem.split_once(": ") {
        Some((p, m)) if !p.contains(' ') => (format!("{p}: "), m),
        _ => (String::new(), problem),
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let hint = super::diagnostic::did_you_mean(key, expected.iter().copied());
        return format!(
            "{path}unknown key '{key}'{hint}; expected one of: {}",
            expected.join(", ")
        );
    }
    if let Some(rest) = msg.strip_prefix("duplicate field `") {
        let key = rest.split('`').next().unwrap_or_default();
        return format!("{path}key '{key}' is given twice");
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or_default();
        return format!("{path}missing required key '{key}'");
    }
    let msg = msg
        .replace("expected u32", "expected a whole number of at least 0")
        .replace("expected u64", "expected a whole number of at least 0");
    format!("{path}{msg}")
}
