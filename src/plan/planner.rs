//! Walks a compiled playbook for one person, in memory: the same dispatch (`vars`, `where`) and
//! the same `if:` and argument rendering as the executor (`Action::prepare`), then, instead of
//! executing, what each step would do. Nothing is stored: no run, no step, no event.
//!
//! Pure actions run for real (`validate`, `script`, `fail`); `wait` and `approval` are reported
//! and passed (as if the time had come, as if approved); `http.request` sends only GET and
//! HEAD; connector reads are executed and writes previewed (`classify`). Everything runs inside
//! `read_only::scope`, so a bug in a preview cannot write.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::classify::{treatment, Treatment};
use super::model::{PersonOutcome, PersonPlan, PlannedStep};
use super::preview::{reserving, Effect, Planned, Preview};
use crate::actions::connector::Call;
use crate::actions::{ActionError, Outcome, Park, Ready, StepContext};
use crate::clock::{now_ms, rfc3339};
use crate::connectors::{read_only, Connections};
use crate::playbook::{Playbook, Step};
use crate::script::{Context, Scripting};
use crate::secret::{mask, MASK};
use crate::store::{Dispatch, NewRun};

/// What a plan needs: the scripting engine the playbook was compiled with, the connections of
/// the config, and the HTTP client for `http.request` GETs.
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    pub scripting: &'a Scripting,
    pub connections: &'a Connections,
    pub http: &'a reqwest::Client,
}

/// What a step leaves for the next.
enum Flow {
    /// Go on; later steps see these outputs.
    Next(Value),
    /// The run would stop here (review), or the plan cannot know what comes next (error).
    Stop(PersonOutcome, String),
    /// The run would fail with this message; its `on_failure` steps come next.
    Fail(String),
}

/// What the step being planned sees.
struct View<'r> {
    run: &'r NewRun,
    steps: &'r Value,
    run_info: &'r Value,
    error: Option<&'r Value>,
}

impl Planner<'_> {
    /// The plan of `pb` for one dispatch of an event to it (`dispatch::plan`), for `person`.
    pub async fn plan(&self, pb: &Playbook, dispatch: &Dispatch, person: &Value) -> PersonPlan {
        self.plan_reserving(pb, dispatch, person, Arc::default())
            .await
    }

    /// `plan`, with the addresses earlier people of the same plan would take `reserved`.
    pub async fn plan_reserving(
        &self,
        pb: &Playbook,
        dispatch: &Dispatch,
        person: &Value,
        reserved: Arc<HashSet<String>>,
    ) -> PersonPlan {
        let walk = self.walk(pb, dispatch, person);
        read_only::scope(reserving(reserved, walk)).await
    }

    async fn walk(&self, pb: &Playbook, dispatch: &Dispatch, person: &Value) -> PersonPlan {
        let run = match dispatch {
            Dispatch::Run(run) => run,
            Dispatch::Filtered { .. } => {
                let mut p = PersonPlan::new(person, None, PersonOutcome::Filtered);
                p.message = Some("the playbook's where: is false for this person: no run".into());
                return p;
            }
        };
        let kind = run.event.get("type").and_then(Value::as_str);
        let mut plan = PersonPlan::new(&run.person, kind, PersonOutcome::Completes);
        if let Some(e) = &run.error {
            plan.outcome = PersonOutcome::Fails;
            plan.message = Some(format!("the run would fail at once: {e}"));
            return plan;
        }
        let run_info = json!({
            "id": run.id, "attempt": 1, "started_at": rfc3339(now_ms()), "playbook": pb.name,
        });
        let mut steps = Map::new();
        let mut planned = Planned::default();
        let mut error: Option<Value> = None;
        let mut cursor = 0;
        while let Some(step) = pb.step_at(cursor) {
            let in_failure = pb.in_failure_handler(cursor);
            let outputs = Value::Object(steps.clone());
            let view = View {
                run,
                steps: &outputs,
                run_info: &run_info,
                error: error.as_ref(),
            };
            let (mut entry, flow) = self.step(step, &view, &mut planned).await;
            entry.on_failure = in_failure;
            plan.steps.push(entry);
            match flow {
                Flow::Next(outputs) => {
                    steps.insert(step.id.clone(), outputs);
                    cursor += 1;
                }
                Flow::Stop(outcome, message) => {
                    plan.outcome = outcome;
                    plan.message = Some(message);
                    return plan;
                }
                Flow::Fail(message) => {
                    if !in_failure {
                        plan.outcome = PersonOutcome::Fails;
                        plan.message = Some(format!("step '{}' would fail: {message}", step.id));
                    }
                    if in_failure || pb.on_failure.is_empty() {
                        return plan;
                    }
                    error = Some(json!({ "step": step.id, "message": message }));
                    cursor = pb.steps.len();
                }
            }
        }
        plan
    }

    /// Plans one step: its condition and arguments as the executor evaluates them, then what
    /// the action would do.
    async fn step(
        &self,
        step: &Step,
        view: &View<'_>,
        planned: &mut Planned,
    ) -> (PlannedStep, Flow) {
        let entry = |effect, summary: String| {
            PlannedStep::new(&step.id, step.action.name(), effect, summary)
        };
        let ready = match self.prepare(step, view) {
            Ok(Some(ready)) => ready,
            Ok(None) => {
                let skipped = entry(Effect::Skipped, "skipped: its if: is false".into());
                return (skipped, Flow::Next(json!({ "skipped": true })));
            }
            Err(e) => return failed(entry(Effect::Fail, String::new()), &step.id, e),
        };
        match ready {
            Ready::Done(outcome) => control(entry, step, outcome),
            Ready::Http(call) => {
                let method = call.method().clone();
                let url = call.url().to_string();
                if method != reqwest::Method::GET && method != reqwest::Method::HEAD {
                    let mut e = entry(Effect::Call, format!("would send {method} {url}"));
                    e.target = Some(url);
                    let outputs = json!({ "status": null, "headers": {}, "body": null });
                    return (e, Flow::Next(outputs));
                }
                match call.send(self.http).await {
                    Ok(Outcome::Done(out)) => {
                        let summary = format!("{method} {url} answered {}", out["status"]);
                        (entry(Effect::Read, summary), Flow::Next(mask(&out)))
                    }
                    Ok(Outcome::Park(_)) => {
                        (entry(Effect::Read, "read".into()), Flow::Next(json!({})))
                    }
                    Err(e) => failed(entry(Effect::Fail, String::new()), &step.id, e),
                }
            }
            Ready::Connector(call) => {
                self.connector(entry(Effect::Read, String::new()), call, planned)
                    .await
            }
        }
    }

    /// Evaluates the step's `if:` and arguments exactly as the executor does (no earlier
    /// record of the step: a plan is a first execution). `None` when `if:` is false.
    fn prepare(&self, step: &Step, view: &View<'_>) -> Result<Option<Ready>, ActionError> {
        let extra_storage;
        let extra: &[(&str, &Value)] = match view.error {
            Some(e) => {
                extra_storage = [("error", e)];
                &extra_storage
            }
            None => &[],
        };
        let r = view.run;
        let vars =
            Context::new(&r.person, &r.event, &r.vars, view.steps, view.run_info).with_extra(extra);
        if let Some(cond) = &step.condition {
            match self.scripting.eval_bool(cond, &vars) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(ActionError::permanent(format!("if: {e}"))),
            }
        }
        let cx = StepContext {
            scripting: self.scripting,
            vars,
            previous: None,
            now: now_ms(),
        };
        step.action.prepare(&cx).map(Some)
    }

    /// A connector step: a read is executed, a write previewed.
    async fn connector(
        &self,
        mut entry: PlannedStep,
        call: Call,
        planned: &mut Planned,
    ) -> (PlannedStep, Flow) {
        let name = call.name();
        if treatment(name) == Treatment::Read {
            if let Some(key) = planned_argument(&call, planned) {
                entry.summary = format!(
                    "would read {key}, which an earlier step would create: nothing to read yet"
                );
                return (entry, Flow::Next(json!({})));
            }
            let step = entry.step.clone();
            return match call.execute(self.connections).await {
                Ok(Outcome::Done(out)) => {
                    entry.summary = read_summary(&out);
                    (entry, Flow::Next(mask(&out)))
                }
                Ok(Outcome::Park(_)) => (entry, Flow::Next(json!({}))),
                Err(e) => failed(entry, &step, e),
            };
        }
        match call.preview(self.connections, planned).await {
            Ok(Some(p)) => {
                for created in &p.creates {
                    planned.add(created);
                }
                let outputs = p.outputs.clone();
                (from_preview(entry, p), Flow::Next(outputs))
            }
            Ok(None) => {
                let args = mask_args(&Value::Object(call.args().0.clone()));
                entry.effect = Effect::Call;
                entry.summary = format!("would call {name} with {args}");
                entry.detail = json!({ "args": args });
                (entry, Flow::Next(json!({})))
            }
            Err(e) => {
                let step = entry.step.clone();
                failed(entry, &step, e)
            }
        }
    }
}

/// A control action's outcome: done (validate, script, a wait already over), parked (review,
/// wait, approval).
fn control(
    entry: impl Fn(Effect, String) -> PlannedStep,
    step: &Step,
    outcome: Outcome,
) -> (PlannedStep, Flow) {
    match outcome {
        Outcome::Done(out) => {
            let summary = match step.action.name() {
                "validate" => "valid".to_string(),
                "wait" => format!("until {} has passed", out["until"].as_str().unwrap_or("?")),
                _ => match out.as_object() {
                    Some(m) if !m.is_empty() => {
                        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                        format!("computes {}", keys.join(", "))
                    }
                    _ => "done".to_string(),
                },
            };
            (entry(Effect::Read, summary), Flow::Next(mask(&out)))
        }
        Outcome::Park(Park::Review { outputs }) => {
            let reasons: Vec<Value> = outputs["errors"].as_array().cloned().unwrap_or_default();
            let text: Vec<String> = reasons
                .iter()
                .map(|r| {
                    format!(
                        "{}: {}",
                        r["field"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let mut e = entry(Effect::Review, "would park for review".into());
            e.reasons = reasons;
            let message = format!(
                "step '{}' would park the run for review: {}",
                step.id,
                text.join("; ")
            );
            (e, Flow::Stop(PersonOutcome::Review, message))
        }
        Outcome::Park(Park::Until { wake_at, outputs }) => {
            let mut summary = format!("would wait until {}", rfc3339(wake_at));
            if let Some(events) = outputs["wake_on"].as_array() {
                let events: Vec<&str> = events.iter().filter_map(Value::as_str).collect();
                summary.push_str(&format!(", or until a {} event", events.join(" or ")));
            }
            summary.push_str(" (planned as if the time had come)");
            (entry(Effect::Wait, summary), Flow::Next(outputs))
        }
        Outcome::Park(Park::Approval {
            timeout_at,
            outputs,
        }) => {
            let mut summary = match outputs["message"].as_str() {
                Some(m) => format!("would ask for approval: {m}"),
                None => "would ask for approval".to_string(),
            };
            if let Some(t) = timeout_at {
                summary.push_str(&format!(" (times out at {})", rfc3339(t)));
            }
            // The plan goes on as if a person approved.
            let approved =
                json!({ "approved": true, "by": "(approver)", "comment": null, "at": null });
            (entry(Effect::Approval, summary), Flow::Next(approved))
        }
    }
}

/// A step that would fail (a permanent error) or whose outcome cannot be known (a transient
/// one: a run would retry it).
fn failed(mut entry: PlannedStep, step: &str, e: ActionError) -> (PlannedStep, Flow) {
    match e {
        ActionError::Permanent(message) => {
            entry.effect = Effect::Fail;
            entry.summary = format!("would fail: {message}");
            (entry, Flow::Fail(message))
        }
        ActionError::Transient { message, .. } => {
            entry.effect = Effect::Error;
            entry.summary = format!("could not check (a run would retry): {message}");
            let why = format!("step '{step}' could not be planned: {message}");
            (entry, Flow::Stop(PersonOutcome::Error, why))
        }
    }
}

fn from_preview(mut entry: PlannedStep, p: Preview) -> PlannedStep {
    entry.effect = p.effect;
    entry.summary = p.summary;
    entry.target = p.target;
    entry.changes = p.changes;
    entry.detail = p.detail;
    entry
}

/// An argument of a read that names an object an earlier step would create.
fn planned_argument(call: &Call, planned: &Planned) -> Option<String> {
    call.args().0.values().find_map(|v| match v {
        Value::String(s) if planned.contains(s) => {
            Some(planned.label(s).unwrap_or_else(|| s.clone()))
        }
        _ => None,
    })
}

/// A line for a read's answer.
fn read_summary(out: &Value) -> String {
    let name = [
        "user_principal_name",
        "primary_email",
        "email",
        "address",
        "id",
    ]
    .iter()
    .find_map(|k| out[*k].as_str());
    if out["found"] == json!(false) {
        return "found nobody".into();
    }
    if let (Some(address), Some(taken)) = (out["address"].as_str(), out["taken"].as_array()) {
        let taken: Vec<&str> = taken.iter().filter_map(|t| t["address"].as_str()).collect();
        return match taken.is_empty() {
            true => format!("picks {address}"),
            false => format!("picks {address} ({} taken)", taken.join(", ")),
        };
    }
    for list in ["groups", "members"] {
        if let Some(items) = out[list].as_array() {
            return format!("read {} {list}", items.len());
        }
    }
    match name {
        Some(n) => format!("found {n}"),
        None => "read".into(),
    }
}

/// Arguments for a line: secrets (sealed values, and keys that name a password, secret or
/// token) masked.
fn mask_args(v: &Value) -> Value {
    match mask(v) {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = ["password", "secret", "token"]
                        .iter()
                        .any(|s| lower.contains(s));
                    let x = if secret { json!(MASK) } else { mask_args(&x) };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_args).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_of_a_call_are_shown_with_secrets_masked() {
        let args = json!({
            "user": "jane@contoso.com",
            "passwordProfile": { "password": "hunter2" },
            "nested": [{ "api_token": "t" }],
            "sealed": { "$secret": "v1:abc" },
        });
        let shown = mask_args(&args).to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("\"t\""),
            "{shown}"
        );
        assert!(!shown.contains("v1:abc"), "{shown}");
        assert!(shown.contains("jane@contoso.com"), "{shown}");
    }

    #[test]
    fn reads_are_summarised_by_what_they_found() {
        assert_eq!(read_summary(&json!({ "found": false })), "found nobody");
        assert_eq!(
            read_summary(&json!({ "found": true, "user_principal_name": "a@b.c" })),
            "found a@b.c"
        );
        assert_eq!(read_summary(&json!({ "groups": [1, 2] })), "read 2 groups");
        assert_eq!(
            read_summary(&json!({ "address": "a2@b.c", "taken": [{ "address": "a@b.c" }] })),
            "picks a2@b.c (a@b.c taken)"
        );
    }
}
