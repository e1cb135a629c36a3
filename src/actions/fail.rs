//! `fail`: ends the run with a message (the `on_failure` steps still run).

use super::{ActionError, Outcome, StepContext};
use crate::playbook::args::Args;
use crate::script::Template;

#[derive(Debug)]
pub struct Fail {
    message: Template,
}

impl Fail {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Fail> {
        Some(Fail {
            message: args.text("message", true)?,
        })
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        let message = cx.scripting.render_string(&self.message, &cx.vars)?;
        let text = match message {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Err(ActionError::Permanent(text))
    }
}
