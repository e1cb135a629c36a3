//! `wait`: parks the run on a durable timer, for a duration or until a moment.

use std::time::Duration;

use serde_json::{json, Value};

use super::{ActionError, Outcome, Park, StepContext};
use crate::clock::{parse_instant, rfc3339};
use crate::engine::status::StepStatus;
use crate::playbook::args::Args;
use crate::script::ValueTemplate;

#[derive(Debug)]
pub enum Wait {
    For(Duration),
    Until(ValueTemplate),
}

impl Wait {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Wait> {
        let duration = args.duration("duration", false);
        let until = args.string("until", false);
        match (duration, until) {
            (Some(d), None) => Some(Wait::For(d)),
            (None, Some(u)) => Some(Wait::Until(u)),
            (Some(_), Some(_)) => {
                args.error("until", "give either 'duration' or 'until', not both");
                None
            }
            // A given but invalid argument has been reported already.
            (None, None) if args.given("duration") || args.given("until") => None,
            (None, None) => {
                args.missing("needs 'duration' (like 30d) or 'until' (a date or timestamp)");
                None
            }
        }
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        // A woken wait keeps the deadline it computed the first time, so a restart neither
        // shortens nor extends it.
        let parked = cx
            .previous
            .filter(|p| p.status == StepStatus::Waiting)
            .and_then(|p| p.outputs.get("until_ms").and_then(Value::as_i64));
        let until = match (parked, self) {
            (Some(t), _) => t,
            (None, Wait::For(d)) => cx.now + d.as_millis() as i64,
            (None, Wait::Until(t)) => {
                let v = cx.scripting.render(t, &cx.vars)?;
                let text = v.as_str().unwrap_or_default();
                parse_instant(text).ok_or_else(|| {
                    ActionError::permanent(format!(
                        "wait: until '{v}' is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"
                    ))
                })?
            }
        };
        let outputs = json!({ "until": rfc3339(until), "until_ms": until });
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
