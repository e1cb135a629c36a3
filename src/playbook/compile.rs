//! From what the user wrote to what the engine runs: checks everything and reports all problems.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::args::{parse_duration, Args};
use super::diagnostic::{did_you_mean, Diagnostic, Diagnostics};
use super::model::{PersonEvent, Playbook, Step, Trigger};
use super::raw::{RawPlaybook, RawRetry, RawStep};
use super::spans::Spans;
use crate::actions::Action;
use crate::cron::Cron;
use crate::engine::retry::{Backoff, RetryPolicy};
use crate::script::{Expr, ScriptError, Scripting, StepRef};

/// The state of one compilation: where to report, and what has been seen so far.
pub struct Cx<'a> {
    file: &'a str,
    spans: Spans,
    pub(super) scripting: &'a Scripting,
    diags: Vec<Diagnostic>,
    /// Step ids a reference may name at this point (earlier steps).
    visible: Vec<String>,
    /// Every step id of the playbook, to tell "later" from "unknown".
    all: Vec<String>,
    /// The step being compiled, if any (`vars:` and `where:` belong to no step).
    current: Option<String>,
    /// The line each step id was first defined at, to point a duplicate at the original.
    defined_at: HashMap<String, usize>,
}

impl<'a> Cx<'a> {
    fn push(&mut self, line: usize, column: usize, message: String) {
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line,
            column,
            message,
        });
    }

    pub(super) fn has_node(&self, path: &str) -> bool {
        self.spans.get(path).is_some()
    }

    /// Reports at the value of the node at `path` (or its nearest ancestor).
    pub(super) fn error_at(&mut self, path: &str, message: String) {
        let s = self.spans.find(path);
        self.push(s.line, s.column, message);
    }

    /// Reports at the key of the node at `path` (an unknown key is about the key).
    pub(super) fn key_error_at(&mut self, path: &str, message: String) {
        let s = self.spans.find(path);
        self.push(s.key_line, s.key_column, message);
    }

    /// Reports a script error at its position inside the scalar at `path`.
    pub(super) fn script_error(&mut self, path: &str, what: &str, e: &ScriptError) {
        let s = self.spans.find(path);
        match e {
            ScriptError::Syntax {
                message,
                line,
                column,
            } => {
                let (l, c) = s.inner(*line, *column);
                let message = self.explain_syntax(message);
                self.push(l, c, format!("{what}: {message}"));
            }
            other => self.push(s.line, s.column, format!("{what}: {other}")),
        }
    }

    /// Rhai's wording, made actionable where it is terse. A misspelt variable is not a syntax
    /// error to the person who wrote it, and gets a suggestion.
    fn explain_syntax(&self, message: &str) -> String {
        if let Some(rest) = message.strip_prefix("unknown variable '") {
            let name = rest.split('\'').next().unwrap_or_default();
            let known = self.scripting.variables();
            let hint = did_you_mean(name, known.iter().map(String::as_str));
            return format!(
                "unknown variable '{name}'{hint}; expressions see {}",
                known.join(", ")
            );
        }
        if message == "Script is incomplete" {
            return "Rhai syntax error: the expression ends too early (an operand, a closing bracket or a closing quote is missing)".into();
        }
        format!("Rhai syntax error: {message}")
    }

    /// Every `steps.<id>` must name a step that exists and comes earlier.
    pub(super) fn check_step_refs(&mut self, path: &str, what: &str, refs: &[StepRef]) {
        for r in refs {
            if self.visible.contains(&r.id) {
                continue;
            }
            let why = if self.current.is_none() {
                format!(
                    "{what} refers to step '{}', but `vars:`, `where:` and `concurrency:` are evaluated before any step runs",
                    r.id
                )
            } else if self.current.as_deref() == Some(r.id.as_str()) {
                format!(
                    "{what} refers to its own step '{}'; a step sees only the outputs of earlier steps",
                    r.id
                )
            } else if self.all.contains(&r.id) {
                format!("{what} refers to step '{}', which comes later; a step sees only the outputs of earlier steps", r.id)
            } else {
                let hint = did_you_mean(&r.id, self.all.iter().map(String::as_str));
                format!(
                    "{what} refers to step '{}', which does not exist{hint}",
                    r.id
                )
            };
            let s = self.spans.find(path);
            let (l, c) = s.inner(r.line, r.column);
            self.push(l, c, why);
        }
    }

    fn expr(&mut self, path: &str, what: &str, v: &Value) -> Option<Expr> {
        let src = match v {
            Value::String(s) => s.clone(),
            Value::Bool(_) | Value::Number(_) => v.to_string(),
            _ => {
                self.error_at(path, format!("{what} must be a Rhai expression (a string)"));
                return None;
            }
        };
        match self.scripting.expr(&src) {
            Ok(e) => {
                self.check_step_refs(path, what, &e.step_refs());
                Some(e)
            }
            Err(e) => {
                self.script_error(path, what, &e);
                None
            }
        }
    }
}

/// Checks a parsed playbook. `file` names it in diagnostics; `text` is its source (hashed and
/// indexed for positions).
pub fn compile(
    raw: RawPlaybook,
    file: &str,
    text: &str,
    scripting: &Scripting,
) -> Result<Playbook, Diagnostics> {
    let all: Vec<String> = raw
        .steps
        .iter()
        .chain(&raw.on_failure)
        .map(|s| s.id.clone())
        .collect();
    let mut cx = Cx {
        file,
        spans: Spans::index(text),
        scripting,
        diags: Vec::new(),
        visible: Vec::new(),
        all,
        current: None,
        defined_at: HashMap::new(),
    };

    if raw.name.trim().is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        cx.error_at(
            "name",
            format!(
                "playbook name '{}' must be letters, digits, '-' or '_'",
                raw.name
            ),
        );
    }
    if raw.on.is_empty() {
        cx.key_error_at(
            "steps",
            "the playbook has no triggers: add `on:` (for example `- manual: {}`)".into(),
        );
    }
    let triggers: Vec<Trigger> = raw
        .on
        .iter()
        .enumerate()
        .filter_map(|(i, t)| trigger(&mut cx, &format!("on[{i}]"), t))
        .collect();
    let filter = raw
        .filter
        .as_ref()
        .and_then(|v| cx.expr("where", "`where:`", v));
    let concurrency = raw
        .concurrency
        .as_ref()
        .and_then(|v| cx.expr("concurrency", "`concurrency:`", v));
    let mut vars = Vec::new();
    for (name, v) in &raw.vars {
        if let Some(e) = cx.expr(&format!("vars.{name}"), &format!("var '{name}'"), v) {
            vars.push((name.clone(), e));
        }
    }
    if raw.steps.is_empty() {
        cx.key_error_at("steps", "the playbook has no steps".into());
    }
    let steps = compile_steps(&mut cx, &raw.steps, "steps");
    let on_failure = compile_steps(&mut cx, &raw.on_failure, "on_failure");

    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| (d.line, d.column));
        return Err(Diagnostics(cx.diags));
    }
    Ok(Playbook {
        name: raw.name,
        description: raw.description,
        path: file.to_string(),
        hash: hex(&Sha256::digest(text.as_bytes())),
        source: text.to_string(),
        triggers,
        filter,
        concurrency,
        vars,
        steps,
        on_failure,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn compile_steps(cx: &mut Cx<'_>, raw: &[RawStep], section: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let path = format!("{section}[{i}]");
        if !valid_id(&s.id) {
            cx.error_at(
                &format!("{path}.id"),
                format!("step id '{}' must start with a letter or '_' and hold only letters, digits and '_' (it is used as steps.{})", s.id, s.id),
            );
        }
        let id_path = format!("{path}.id");
        match cx.defined_at.get(&s.id) {
            Some(first) => {
                let msg = format!(
                    "duplicate step id '{}': line {first} already defines a step with this id",
                    s.id
                );
                cx.error_at(&id_path, msg);
            }
            None => {
                let line = cx.spans.find(&id_path).line;
                cx.defined_at.insert(s.id.clone(), line);
            }
        }
        cx.current = Some(s.id.clone());
        if let Some(step) = compile_step(cx, s, &path) {
            out.push(step);
        }
        cx.current = None;
        cx.visible.push(s.id.clone());
    }
    out
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn compile_step(cx: &mut Cx<'_>, s: &RawStep, path: &str) -> Option<Step> {
    let condition = s
        .condition
        .as_ref()
        .and_then(|v| cx.expr(&format!("{path}.if"), &format!("step '{}': `if:`", s.id), v));
    let retry = retry_policy(cx, s, path);
    let timeout = match &s.timeout {
        Some(t) => match parse_duration(t) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error_at(
                    &format!("{path}.timeout"),
                    format!("step '{}': timeout {e}", s.id),
                );
                None
            }
        },
        None => None,
    };
    let with = match &s.with {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            cx.error_at(
                &format!("{path}.with"),
                format!("step '{}': `with:` must be a map of arguments", s.id),
            );
            return None;
        }
    };
    let Some(name) = Action::names().find(|n| *n == s.uses) else {
        let hint = did_you_mean(&s.uses, Action::names());
        cx.error_at(
            &format!("{path}.uses"),
            format!(
                "step '{}': unknown action '{}'{hint}; available: {}",
                s.id,
                s.uses,
                Action::summary()
            ),
        );
        return None;
    };
    let mut args = Args {
        cx,
        step: s.id.clone(),
        action: name,
        path: format!("{path}.with"),
        map: with,
        known: Vec::new(),
    };
    let action = Action::compile(name, &mut args);
    args.finish();
    Some(Step {
        id: s.id.clone(),
        name: s.name.clone(),
        action: action?,
        condition: condition.or(None),
        retry: retry?,
        timeout,
    })
}

fn retry_policy(cx: &mut Cx<'_>, s: &RawStep, path: &str) -> Option<RetryPolicy> {
    let mut policy = RetryPolicy::default();
    let Some(RawRetry {
        attempts,
        backoff,
        initial,
        max,
    }) = &s.retry
    else {
        return Some(policy);
    };
    let mut ok = true;
    if let Some(a) = attempts {
        if *a == 0 {
            cx.error_at(
                &format!("{path}.retry.attempts"),
                format!(
                    "step '{}': retry attempts must be at least 1 (1 = no retry)",
                    s.id
                ),
            );
            ok = false;
        }
        policy.attempts = *a;
    }
    if let Some(b) = backoff {
        match Backoff::parse(b) {
            Some(b) => policy.backoff = b,
            None => {
                cx.error_at(
                    &format!("{path}.retry.backoff"),
                    format!(
                        "step '{}': backoff '{b}'{} is not one of exponential, linear, fixed",
                        s.id,
                        did_you_mean(b, ["exponential", "linear", "fixed"])
                    ),
                );
                ok = false;
            }
        }
    }
    for (field, value, slot) in [
        ("initial", initial, &mut policy.initial),
        ("max", max, &mut policy.max),
    ] {
        if let Some(v) = value {
            match parse_duration(v) {
                Ok(d) => *slot = d,
                Err(e) => {
                    cx.error_at(
                        &format!("{path}.retry.{field}"),
                        format!("step '{}': retry {field} {e}", s.id),
                    );
                    ok = false;
                }
            }
        }
    }
    ok.then_some(policy)
}

/// The trigger names `on:` accepts.
const TRIGGERS: &[&str] = &[
    "person.joined",
    "person.changed",
    "person.left",
    "person.returned",
    "person.date",
    "manual",
    "schedule",
    "webhook",
];

fn trigger(cx: &mut Cx<'_>, path: &str, v: &Value) -> Option<Trigger> {
    let (kind, args) = match v {
        Value::String(s) => (s.as_str(), Map::new()),
        Value::Object(m) if m.len() == 1 => {
            let (k, a) = m.iter().next()?;
            let args = match a {
                Value::Object(a) => a.clone(),
                Value::Null => Map::new(),
                _ => {
                    cx.error_at(
                        &format!("{path}.{k}"),
                        format!("trigger '{k}' takes a map of options, like `{k}: {{}}`"),
                    );
                    return None;
                }
            };
            (k.as_str(), args)
        }
        _ => {
            cx.error_at(
                path,
                "each trigger is one entry like `- person.joined: { source: google }`".into(),
            );
            return None;
        }
    };
    let apath = format!("{path}.{kind}");
    let mut take = TriggerArgs {
        cx,
        path: apath,
        args,
        known: Vec::new(),
        kind,
    };
    let t = match kind {
        "person.joined" | "person.changed" | "person.left" | "person.returned" => {
            let person = match kind {
                "person.joined" => PersonEvent::Joined,
                "person.changed" => PersonEvent::Changed,
                "person.left" => PersonEvent::Left,
                _ => PersonEvent::Returned,
            };
            let source = take.string("source");
            let fields = if person == PersonEvent::Changed {
                take.strings("fields")
            } else {
                Vec::new()
            };
            Some(Trigger::Person {
                kind: person,
                source,
                fields,
            })
        }
        "manual" => Some(Trigger::Manual),
        "schedule" => {
            let cron = take.required("cron");
            let timezone = take.string("timezone");
            match cron.map(|c| Cron::parse(&c, timezone.as_deref())) {
                None => None,
                Some(Ok(c)) => Some(Trigger::Schedule(Box::new(c))),
                Some(Err(message)) => {
                    let key = if message.contains("IANA") {
                        "timezone"
                    } else {
                        "cron"
                    };
                    let p = format!("{}.{key}", take.path);
                    take.cx
                        .error_at(&p, format!("trigger 'schedule': {message}"));
                    None
                }
            }
        }
        "webhook" => take.required("name").map(|name| Trigger::Webhook { name }),
        "person.date" => {
            let field = take.required("field");
            let offset = take.string("offset").unwrap_or_else(|| "0s".into());
            let offset_ms = signed_duration_ms(&offset);
            if offset_ms.is_none() {
                let p = format!("{}.offset", take.path);
                take.cx.error_at(
                    &p,
                    format!("trigger offset '{offset}' is not a duration like -3d or 2h"),
                );
            }
            field
                .zip(offset_ms)
                .map(|(field, offset_ms)| Trigger::PersonDate { field, offset_ms })
        }
        other => {
            let hint = did_you_mean(other, TRIGGERS.iter().copied());
            take.cx.key_error_at(
                &take.path,
                format!(
                    "unknown trigger '{other}'{hint}; available: {}",
                    TRIGGERS.join(", ")
                ),
            );
            return None;
        }
    };
    take.finish();
    t
}

fn signed_duration_ms(s: &str) -> Option<i64> {
    let (sign, rest) = match s.trim().strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.trim().trim_start_matches('+')),
    };
    parse_duration(rest)
        .ok()
        .map(|d| sign * d.as_millis() as i64)
}

struct TriggerArgs<'c, 'a> {
    cx: &'c mut Cx<'a>,
    path: String,
    args: Map<String, Value>,
    known: Vec<&'static str>,
    kind: &'c str,
}

impl TriggerArgs<'_, '_> {
    fn string(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        match self.args.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                let p = format!("{}.{key}", self.path);
                self.cx.error_at(
                    &p,
                    format!("trigger '{}': '{key}' must be a string", self.kind),
                );
                None
            }
        }
    }

    fn required(&mut self, key: &'static str) -> Option<String> {
        let v = self.string(key);
        if v.is_none() && !self.args.contains_key(key) {
            let p = self.path.clone();
            self.cx
                .error_at(&p, format!("trigger '{}' needs '{key}'", self.kind));
        }
        v
    }

    fn strings(&mut self, key: &'static str) -> Vec<String> {
        self.known.push(key);
        match self.args.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect(),
            Some(_) => {
                let p = format!("{}.{key}", self.path);
                self.cx.error_at(
                    &p,
                    format!(
                        "trigger '{}': '{key}' must be a list of field names",
                        self.kind
                    ),
                );
                Vec::new()
            }
        }
    }

    fn finish(self) {
        for k in self.args.keys() {
            if !self.known.contains(&k.as_str()) {
                let p = format!("{}.{k}", self.path);
                let known = if self.known.is_empty() {
                    "no options".to_string()
                } else {
                    self.known.join(", ")
                };
                let hint = did_you_mean(k, self.known.iter().copied());
                self.cx.key_error_at(
                    &p,
                    format!(
                        "trigger '{}': unknown option '{k}'{hint}; it takes {known}",
                        self.kind
                    ),
                );
            }
        }
    }
}
