//! Typing a step's `with:` arguments: the reader every action's `compile` uses.
//!
//! `Args` hands out one argument at a time, converting and checking it, and records a
//! diagnostic naming the step, the argument and its position for everything wrong: a missing
//! required argument, a wrong type, a bad template. `finish` reports the arguments nobody asked
//! for. Templates (`${{ }}`) are compiled here, once.

use std::time::Duration;

use serde_json::{Map, Value};

use super::compile::Cx;
use super::diagnostic::did_you_mean;
use crate::script::{Template, ValueTemplate};

/// The `with:` map of one step, being typed.
pub struct Args<'c, 'a> {
    pub(super) cx: &'c mut Cx<'a>,
    pub(super) step: String,
    pub(super) action: &'static str,
    /// Path of the `with:` node, e.g. `steps[2].with`.
    pub(super) path: String,
    pub(super) map: Map<String, Value>,
    pub(super) known: Vec<&'static str>,
}

/// The JSON type names used in messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Whether a string is exactly one `${{ }}` expression, so its type is known only at run time.
fn is_whole_template(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("${{") && t.ends_with("}}") && t.matches("${{").count() == 1
}

impl<'c, 'a> Args<'c, 'a> {
    fn arg_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// Reports a problem with argument `key` at its position.
    pub fn error(&mut self, key: &str, message: impl std::fmt::Display) {
        let path = self.arg_path(key);
        let msg = format!("step '{}' ({}): {message}", self.step, self.action);
        self.cx.error_at(&path, msg);
    }

    /// Whether the playbook gives argument `key` at all (even with a wrong value).
    pub fn given(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn take(&mut self, key: &'static str, required: bool) -> Option<Value> {
        self.known.push(key);
        let v = self.map.get(key).cloned();
        if v.is_none() && required {
            self.missing(format!("missing required argument '{key}'"));
        }
        v
    }

    /// Reports something missing from `with:` at the `with:` key, or at the step's `uses:`
    /// when the step has no `with:`.
    pub fn missing(&mut self, message: impl std::fmt::Display) {
        let path = if self.cx.has_node(&self.path) {
            self.path.clone()
        } else {
            format!("{}.uses", self.path.trim_end_matches(".with"))
        };
        let msg = format!("step '{}' ({}): {message}", self.step, self.action);
        self.cx.key_error_at(&path, msg);
    }

    fn what(&self, key: &str) -> String {
        format!("step '{}' ({}): argument '{key}'", self.step, self.action)
    }

    /// Any value, with templates inside it (`${{ }}` anywhere in its strings).
    pub fn template(&mut self, key: &'static str, required: bool) -> Option<ValueTemplate> {
        let v = self.take(key, required)?;
        self.compile_value(key, &v)
    }

    /// A value that must be a string (possibly with `${{ }}` parts).
    pub fn string(&mut self, key: &'static str, required: bool) -> Option<ValueTemplate> {
        let v = self.take(key, required)?;
        match &v {
            Value::String(_) => self.compile_value(key, &v),
            Value::Number(_) | Value::Bool(_) => {
                self.compile_value(key, &Value::String(v.to_string()))
            }
            other => {
                let t = type_name(other);
                self.error(key, format!("argument '{key}' must be a string, not {t}"));
                None
            }
        }
    }

    /// A map whose values may hold templates; a whole-`${{ }}` string is accepted too.
    pub fn map(&mut self, key: &'static str, required: bool) -> Option<ValueTemplate> {
        let v = self.take(key, required)?;
        match &v {
            Value::Object(_) => self.compile_value(key, &v),
            Value::String(s) if is_whole_template(s) => self.compile_value(key, &v),
            other => {
                let t = type_name(other);
                self.error(key, format!("argument '{key}' must be a map, not {t}"));
                None
            }
        }
    }

    /// A literal string written in the playbook (no templates), e.g. an option name.
    pub fn literal(&mut self, key: &'static str, required: bool) -> Option<String> {
        match self.take(key, required)? {
            Value::String(s) => Some(s),
            other => {
                let t = type_name(&other);
                self.error(key, format!("argument '{key}' must be a string, not {t}"));
                None
            }
        }
    }

    /// A literal choice among `options`.
    pub fn choice(&mut self, key: &'static str, options: &[&str], default: &str) -> String {
        match self.literal(key, false) {
            Some(s) if options.contains(&s.as_str()) => s,
            Some(s) => {
                self.error(
                    key,
                    format!(
                        "argument '{key}' is '{s}'; expected one of: {}",
                        options.join(", ")
                    ),
                );
                default.to_string()
            }
            None => default.to_string(),
        }
    }

    /// A literal duration such as `30s`, `5m`, `2h`, `30d`.
    pub fn duration(&mut self, key: &'static str, required: bool) -> Option<Duration> {
        let v = self.take(key, required)?;
        let text = match &v {
            Value::String(s) => s.clone(),
            Value::Number(n) => format!("{n}s"),
            other => {
                let t = type_name(other);
                self.error(
                    key,
                    format!("argument '{key}' must be a duration like 30s, 5m or 2d, not {t}"),
                );
                return None;
            }
        };
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(key, format!("argument '{key}': {e}"));
                None
            }
        }
    }

    /// A literal list of integers, e.g. expected HTTP statuses.
    pub fn int_list(&mut self, key: &'static str) -> Option<Vec<i64>> {
        let v = self.take(key, false)?;
        let items = match v {
            Value::Array(items) => items,
            Value::Number(_) => vec![v],
            other => {
                let t = type_name(&other);
                self.error(
                    key,
                    format!("argument '{key}' must be a list of numbers, not {t}"),
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_i64() {
                Some(n) => out.push(n),
                None => {
                    self.error(
                        key,
                        format!(
                            "argument '{key}[{i}]' must be a number, not {}",
                            type_name(item)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// The raw value, for actions with structured literal arguments (`validate` rules).
    pub fn raw(&mut self, key: &'static str, required: bool) -> Option<Value> {
        self.take(key, required)
    }

    /// A Rhai script block.
    pub fn script(&mut self, key: &'static str) -> Option<crate::script::ScriptBlock> {
        let src = self.literal(key, true)?;
        let path = self.arg_path(key);
        let what = self.what(key);
        match self.cx.scripting.block(&src) {
            Ok(b) => {
                self.cx.check_step_refs(&path, &what, &b.step_refs());
                Some(b)
            }
            Err(e) => {
                self.cx.script_error(&path, &what, &e);
                None
            }
        }
    }

    /// A string template (for messages and the like).
    pub fn text(&mut self, key: &'static str, required: bool) -> Option<Template> {
        let v = self.take(key, required)?;
        let src = match v {
            Value::String(s) => s,
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            other => {
                let t = type_name(&other);
                self.error(key, format!("argument '{key}' must be a string, not {t}"));
                return None;
            }
        };
        let path = self.arg_path(key);
        let what = self.what(key);
        match self.cx.scripting.template(&src) {
            Ok(t) => {
                self.cx.check_step_refs(&path, &what, &t.step_refs());
                Some(t)
            }
            Err(e) => {
                self.cx.script_error(&path, &what, &e);
                None
            }
        }
    }

    fn compile_value(&mut self, key: &str, v: &Value) -> Option<ValueTemplate> {
        let base = self.arg_path(key);
        let what = self.what(key);
        match self.cx.scripting.value_template(v) {
            Ok(t) => {
                for (below, r) in t.step_refs_with_paths() {
                    let path = join_path(&base, &below);
                    self.cx.check_step_refs(&path, &what, &[r]);
                }
                Some(t)
            }
            Err(errors) => {
                for e in errors {
                    let path = join_path(&base, &e.path);
                    self.cx.script_error(&path, &what, &e.error);
                }
                None
            }
        }
    }

    /// Reports every argument the action does not take.
    pub fn finish(self) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            let path = self.arg_path(&key);
            let mut known = self.known.clone();
            known.sort_unstable();
            known.dedup();
            let hint = did_you_mean(&key, known.iter().copied());
            let msg = format!(
                "step '{}' ({}): unknown argument '{key}'{hint}; it takes: {}",
                self.step,
                self.action,
                known.join(", ")
            );
            self.cx.key_error_at(&path, msg);
        }
    }
}

/// The path of a node below `base`, given the JSON path a template reports (`a.b`, `[1]`).
fn join_path(base: &str, below: &str) -> String {
    if below.is_empty() {
        base.to_string()
    } else if below.starts_with('[') {
        format!("{base}{below}")
    } else {
        format!("{base}.{below}")
    }
}

/// Parses `30s`, `5m`, `2h`, `30d`, `1h 30m`, `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("'{text}' is not a duration; write it like 30s, 5m, 2h or 30d"))
}
