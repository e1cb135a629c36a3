//! `approval`: parks the run until a person approves or rejects it, or the timeout passes.

use std::time::Duration;

use serde_json::{json, Value};

use super::{ActionError, Outcome, Park, StepContext};
use crate::clock::rfc3339;
use crate::engine::status::StepStatus;
use crate::playbook::args::Args;
use crate::script::Template;

#[derive(Debug)]
pub struct Approval {
    message: Option<Template>,
    timeout: Option<Duration>,
}

impl Approval {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Approval> {
        Some(Approval {
            message: args.text("message", false),
            timeout: args.duration("timeout", false),
        })
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        if let Some(prev) = cx.previous.filter(|p| p.status == StepStatus::Approval) {
            if let Some(decision) = prev.decision() {
                let mut out = json!({ "approved": true });
                if let (Some(o), Some(d)) = (out.as_object_mut(), decision.as_object()) {
                    for (k, v) in d {
                        o.insert(k.clone(), v.clone());
                    }
                }
                return Ok(Outcome::Done(out));
            }
            let timeout_at = prev.outputs.get("timeout_ms").and_then(Value::as_i64);
            if let Some(t) = timeout_at {
                if t <= cx.now {
                    return Err(ActionError::permanent(format!(
                        "approval timed out at {} without a decision",
                        rfc3339(t)
                    )));
                }
            }
            return Ok(Outcome::Park(Park::Approval {
                timeout_at,
                outputs: prev.outputs.clone(),
            }));
        }
        let message = match &self.message {
            Some(t) => cx.scripting.render_string(t, &cx.vars)?,
            None => Value::Null,
        };
        let timeout_at = self.timeout.map(|d| cx.now + d.as_millis() as i64);
        let outputs = json!({
            "message": message,
            "requested_at": rfc3339(cx.now),
            "timeout_at": timeout_at.map(rfc3339),
            "timeout_ms": timeout_at,
        });
        Ok(Outcome::Park(Park::Approval {
            timeout_at,
            outputs,
        }))
    }
}
