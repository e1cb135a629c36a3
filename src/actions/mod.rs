//! Actions: the named operations a step can use.
//!
//! A closed set in one enum: each action lives in its own file with its typed arguments, a
//! `compile` that reads them from `with:` at load time and an `execute` that runs them. Adding an
//! action is one file and a line in each `match` below. Actions report transient failures
//! (worth retrying, with an optional `Retry-After`) apart from permanent ones, and park a run by
//! returning `Outcome::Park` instead of sleeping.

mod approval;
pub mod connector;
mod fail;
mod http_request;
mod script;
mod validate;
mod wait;

use std::time::Duration;

use serde_json::Value;

use crate::engine::status::StepStatus;
use crate::playbook::args::Args;
use crate::script::{Context, Scripting};

/// A step's operation with its compiled arguments.
#[derive(Debug)]
pub enum Action {
    Validate(validate::Validate),
    Script(script::Script),
    Wait(wait::Wait),
    Approval(approval::Approval),
    Fail(fail::Fail),
    HttpRequest(Box<http_request::HttpRequest>),
    Connector(connector::Connector),
}

impl Action {
    /// The control actions and `http.request`; `names()` adds the connector actions.
    const BUILTIN: &'static [&'static str] = &[
        "validate",
        "script",
        "wait",
        "approval",
        "fail",
        "http.request",
    ];

    /// The names `uses:` accepts.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::BUILTIN
            .iter()
            .copied()
            .chain(connector::specs().map(|(n, _)| *n))
    }

    /// The action names for a message: the built-in ones, then each connector as `kind.*`.
    pub fn summary() -> String {
        let mut parts: Vec<String> = Self::BUILTIN.iter().map(|s| s.to_string()).collect();
        for (name, _) in connector::specs() {
            let kind = format!("{}.*", name.split('.').next().unwrap_or(name));
            if !parts.contains(&kind) {
                parts.push(kind);
            }
        }
        parts.join(", ")
    }

    /// Types `with:` for the action `name` (one of `NAMES`); problems go to the diagnostics.
    pub fn compile(name: &str, args: &mut Args<'_, '_>) -> Option<Action> {
        Some(match name {
            "validate" => Action::Validate(validate::Validate::compile(args)?),
            "script" => Action::Script(script::Script::compile(args)?),
            "wait" => Action::Wait(wait::Wait::compile(args)?),
            "approval" => Action::Approval(approval::Approval::compile(args)?),
            "fail" => Action::Fail(fail::Fail::compile(args)?),
            "http.request" => {
                Action::HttpRequest(Box::new(http_request::HttpRequest::compile(args)?))
            }
            other => Action::Connector(connector::Connector::compile(
                connector::spec(other)?,
                args,
            )?),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Action::Validate(_) => "validate",
            Action::Script(_) => "script",
            Action::Wait(_) => "wait",
            Action::Approval(_) => "approval",
            Action::Fail(_) => "fail",
            Action::HttpRequest(_) => "http.request",
            Action::Connector(c) => c.name,
        }
    }

    /// Whether the step's arguments may use secret outputs in clear text (`email.send` hands a
    /// manager a first-sign-in password); every other action sees them sealed.
    pub fn reveals_secrets(&self) -> bool {
        matches!(self, Action::Connector(c) if connector::REVEALS_SECRETS.contains(&c.name))
    }

    /// Evaluates the step's arguments against the run's variables and does all the work that
    /// needs them. Control actions finish here; I/O actions return what to send, so that no
    /// scripting context (which is not `Sync`) is held across an `.await`.
    pub fn prepare(&self, cx: &StepContext<'_>) -> Result<Ready, ActionError> {
        Ok(match self {
            Action::Validate(a) => Ready::Done(a.execute(cx)?),
            Action::Script(a) => Ready::Done(a.execute(cx)?),
            Action::Wait(a) => Ready::Done(a.execute(cx)?),
            Action::Approval(a) => Ready::Done(a.execute(cx)?),
            Action::Fail(a) => Ready::Done(a.execute(cx)?),
            Action::HttpRequest(a) => Ready::Http(a.prepare(cx)?),
            Action::Connector(a) => Ready::Connector(a.prepare(cx)?),
        })
    }
}

/// A prepared step: finished, or an external call to make.
#[derive(Debug)]
pub enum Ready {
    Done(Outcome),
    Http(http_request::Call),
    Connector(connector::Call),
}

/// What an external call needs from the engine.
#[derive(Clone, Copy)]
pub struct ActionEnv<'a> {
    pub http: &'a reqwest::Client,
    pub connections: &'a crate::connectors::Connections,
}

impl Ready {
    /// Makes the external call, if any.
    pub async fn finish(self, env: ActionEnv<'_>) -> Result<Outcome, ActionError> {
        match self {
            Ready::Done(outcome) => Ok(outcome),
            Ready::Http(call) => call.send(env.http).await,
            Ready::Connector(call) => call.execute(env.connections).await,
        }
    }
}

/// What an action sees while it executes.
pub struct StepContext<'a> {
    pub scripting: &'a Scripting,
    pub vars: Context<'a>,
    /// This step's record from an earlier execution of the same run, if any: a parked `wait`,
    /// an approval with the decision a person recorded, the attempts of a retried step.
    pub previous: Option<Previous<'a>>,
    /// Unix milliseconds.
    pub now: i64,
}

/// A step's earlier record.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub status: StepStatus,
    pub outputs: &'a Value,
}

impl<'a> Previous<'a> {
    /// The decision a person recorded on a parked step (`roster approve`), if any.
    pub fn decision(self) -> Option<&'a Value> {
        self.outputs.get("decision").filter(|d| !d.is_null())
    }
}

/// How a step ended this time.
#[derive(Debug)]
pub enum Outcome {
    /// Done, with the outputs later steps see as `steps.<id>`.
    Done(Value),
    /// Not done yet: park the run.
    Park(Park),
}

#[derive(Debug)]
pub enum Park {
    /// Wake at this time (Unix ms) and execute the step again.
    Until { wake_at: i64, outputs: Value },
    /// Wait for a person to correct the person's fields or reject (validate).
    Review { outputs: Value },
    /// Wait for a decision, until `timeout_at` if set (approval).
    Approval {
        timeout_at: Option<i64>,
        outputs: Value,
    },
}

/// Why an action failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    #[error("{message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

impl ActionError {
    pub fn permanent(message: impl Into<String>) -> ActionError {
        ActionError::Permanent(message.into())
    }
}

impl From<crate::script::ScriptError> for ActionError {
    fn from(e: crate::script::ScriptError) -> Self {
        ActionError::Permanent(e.to_string())
    }
}
