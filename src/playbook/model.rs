//! The compiled playbook: what the engine executes. It cannot represent an invalid playbook:
//! every expression is compiled, every action's arguments are typed, every reference resolved.

use std::time::Duration;

use crate::actions::Action;
use crate::cron::Cron;
use crate::engine::retry::RetryPolicy;
use crate::script::Expr;

/// A loaded, checked playbook.
#[derive(Debug)]
pub struct Playbook {
    pub name: String,
    pub description: Option<String>,
    /// Where it was loaded from, and the sha256 of its text: the version a run pins.
    pub path: String,
    pub hash: String,
    pub source: String,
    pub triggers: Vec<Trigger>,
    pub filter: Option<Expr>,
    pub concurrency: Option<Expr>,
    pub vars: Vec<(String, Expr)>,
    pub steps: Vec<Step>,
    pub on_failure: Vec<Step>,
}

impl Playbook {
    /// The schedules among its triggers.
    pub fn schedules(&self) -> impl Iterator<Item = &Cron> {
        self.triggers.iter().filter_map(|t| match t {
            Trigger::Schedule(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    /// Its `person.date` triggers: (field, offset in milliseconds).
    pub fn date_triggers(&self) -> impl Iterator<Item = (&str, i64)> {
        self.triggers.iter().filter_map(|t| match t {
            Trigger::PersonDate { field, offset_ms } => Some((field.as_str(), *offset_ms)),
            _ => None,
        })
    }

    /// The step at a run's cursor: the main steps, then the `on_failure` steps.
    pub fn step_at(&self, cursor: usize) -> Option<&Step> {
        if cursor < self.steps.len() {
            self.steps.get(cursor)
        } else {
            self.on_failure.get(cursor - self.steps.len())
        }
    }

    /// Whether a cursor points into the `on_failure` steps.
    pub fn in_failure_handler(&self, cursor: usize) -> bool {
        cursor >= self.steps.len()
    }

    pub fn total_steps(&self) -> usize {
        self.steps.len() + self.on_failure.len()
    }

    pub fn accepts(&self, event: &EventMatch<'_>) -> bool {
        self.triggers.iter().any(|t| t.matches(event))
    }
}

/// One step, ready to execute.
#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub name: Option<String>,
    pub action: Action,
    pub condition: Option<Expr>,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
}

/// The fields of an event a trigger looks at.
#[derive(Debug, Clone, Copy)]
pub struct EventMatch<'a> {
    pub kind: &'a str,
    pub source: Option<&'a str>,
    /// For `person.changed`: the fields that changed.
    pub changed: &'a [String],
}

/// What fires a playbook.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `person.joined`, `person.changed`, `person.left`, `person.returned`, optionally from one
    /// source; `person.changed` optionally only when one of `fields` changed.
    Person {
        kind: PersonEvent,
        source: Option<String>,
        fields: Vec<String>,
    },
    /// `manual: {}` — started from the CLI or the API.
    Manual,
    /// `schedule: { cron: "0 7 * * 1-5", timezone: "Europe/Berlin" }`, checked at load time.
    Schedule(Box<Cron>),
    /// `webhook: { name: hr }`.
    Webhook { name: String },
    /// `person.date: { field: start_date, offset: -3d }`.
    PersonDate { field: String, offset_ms: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonEvent {
    Joined,
    Changed,
    Left,
    Returned,
}

impl PersonEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonEvent::Joined => "person.joined",
            PersonEvent::Changed => "person.changed",
            PersonEvent::Left => "person.left",
            PersonEvent::Returned => "person.returned",
        }
    }
}

impl Trigger {
    pub fn matches(&self, e: &EventMatch<'_>) -> bool {
        match self {
            Trigger::Person {
                kind,
                source,
                fields,
            } => {
                kind.as_str() == e.kind
                    && source.as_deref().is_none_or(|s| Some(s) == e.source)
                    && (fields.is_empty() || fields.iter().any(|f| e.changed.contains(f)))
            }
            Trigger::Manual => e.kind == "manual",
            Trigger::Schedule(_) => e.kind == "schedule.tick",
            Trigger::Webhook { name } => {
                e.kind == "webhook.received" && e.source == Some(name.as_str())
            }
            Trigger::PersonDate { field, .. } => {
                e.kind == "person.date" && e.changed.contains(field)
            }
        }
    }
}
