//! `wait`: parks the run on a durable timer, for a duration or until a moment. With
//! `wake_on: [person.returned]` an event of those types for the run's person ends the wait
//! early (an offboarding's grace period); the step's outputs then carry the event as
//! `woken_by`, and `woken` says which way it ended.

use std::time::Duration;

use serde_json::{json, Value};

use super::{ActionError, Outcome, Park, StepContext};
use crate::clock::{parse_instant, rfc3339};
use crate::engine::status::StepStatus;
use crate::playbook::args::Args;
use crate::script::ValueTemplate;

/// The events a wait can be woken by: those that concern one person.
const WAKE_EVENTS: &[&str] = &[
    "person.joined",
    "person.changed",
    "person.left",
    "person.returned",
];

#[derive(Debug)]
enum Deadline {
    For(Duration),
    Until(ValueTemplate),
}

#[derive(Debug)]
pub struct Wait {
    deadline: Deadline,
    wake_on: Vec<String>,
}

impl Wait {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Wait> {
        let duration = args.duration("duration", false);
        let until = args.string("until", false);
        let wake_on = wake_on(args)?;
        let deadline = match (duration, until) {
            (Some(d), None) => Deadline::For(d),
            (None, Some(u)) => Deadline::Until(u),
            (Some(_), Some(_)) => {
                args.error("until", "give either 'duration' or 'until', not both");
                return None;
            }
            // A given but invalid argument has been reported already.
            (None, None) if args.given("duration") || args.given("until") => return None,
            (None, None) => {
                args.missing("needs 'duration' (like 30d) or 'until' (a date or timestamp)");
                return None;
            }
        };
        Some(Wait { deadline, wake_on })
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        let parked = cx.previous.filter(|p| p.status == StepStatus::Waiting);
        if let Some(event) = parked.and_then(|p| p.outputs.get("woken_by")) {
            let mut outputs = parked.map(|p| p.outputs.clone()).unwrap_or_default();
            if let Some(o) = outputs.as_object_mut() {
                o.insert("woken".into(), Value::Bool(true));
                o.insert("woken_by".into(), event.clone());
            }
            return Ok(Outcome::Done(outputs));
        }
        // A woken wait keeps the deadline it computed the first time, so a restart neither
        // shortens nor extends it.
        let until = match (
            parked.and_then(|p| p.outputs.get("until_ms").and_then(Value::as_i64)),
            &self.deadline,
        ) {
            (Some(t), _) => t,
            (None, Deadline::For(d)) => cx.now + d.as_millis() as i64,
            (None, Deadline::Until(t)) => {
                let v = cx.scripting.render(t, &cx.vars)?;
                let text = v.as_str().unwrap_or_default();
                parse_instant(text).ok_or_else(|| {
                    ActionError::permanent(format!(
                        "wait: until '{v}' is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"
                    ))
                })?
            }
        };
        let mut outputs = json!({ "until": rfc3339(until), "until_ms": until, "woken": false });
        if !self.wake_on.is_empty() {
            outputs["wake_on"] = json!(self.wake_on);
        }
        if until <= cx.now {
            Ok(Outcome::Done(outputs))
        } else {
            Ok(Outcome::Park(Park::Until {
                wake_at: until,
                outputs,
            }))
        }
    }
}

fn wake_on(args: &mut Args<'_, '_>) -> Option<Vec<String>> {
    let Some(v) = args.raw("wake_on", false) else {
        return Some(Vec::new());
    };
    let items: Vec<&str> = match &v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let listed = match &v {
        Value::Array(a) => a.len(),
        _ => 1,
    };
    if items.is_empty() || items.len() != listed {
        args.error(
            "wake_on",
            "must be an event type or a list of them, like [person.returned]",
        );
        return None;
    }
    if let Some(bad) = items.iter().find(|i| !WAKE_EVENTS.contains(i)) {
        args.error(
            "wake_on",
            format!(
                "'{bad}' cannot wake a wait; use one of {}",
                WAKE_EVENTS.join(", ")
            ),
        );
        return None;
    }
    Some(items.into_iter().map(String::from).collect())
}
