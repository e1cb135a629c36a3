//! The playbook exactly as written: a serde mirror of the YAML, checked only for shape.
//!
//! This file and `settings` are the only places that call serde_yaml, so the archived crate can
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
        let mut message = e.to_string();
        // serde_yaml appends the position in prose; the diagnostic already carries it.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        ParseError {
            message,
            line,
            column,
        }
    })
}
