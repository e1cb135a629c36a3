//! `script`: a Rhai block whose returned map becomes the step's outputs.

use serde_json::Value;

use super::{ActionError, Outcome, StepContext};
use crate::playbook::args::Args;
use crate::script::ScriptBlock;

#[derive(Debug)]
pub struct Script {
    code: ScriptBlock,
}

impl Script {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Script> {
        Some(Script {
            code: args.script("code")?,
        })
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        match cx.scripting.run_block(&self.code, &cx.vars)? {
            Value::Object(map) => Ok(Outcome::Done(Value::Object(map))),
            Value::Null => Ok(Outcome::Done(Value::Object(Default::default()))),
            other => Err(ActionError::permanent(format!(
                "the script must end with a map (#{{ key: value }}) to become the step's outputs, but returned {other}"
            ))),
        }
    }
}
