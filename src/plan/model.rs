//! A plan as `roster plan` prints it: per person, one entry per step, and the counts.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::preview::{Effect, FieldChange};
use crate::imports::CellError;

/// The plan of one playbook for everyone it was asked about.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub playbook: String,
    pub people: Vec<PersonPlan>,
    /// CSV rows that are not valid: nothing is planned for them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidRow>,
    pub summary: Summary,
}

impl Plan {
    pub fn new(playbook: &str, people: Vec<PersonPlan>, invalid: Vec<InvalidRow>) -> Plan {
        let summary = Summary::of(&people, &invalid);
        Plan {
            playbook: playbook.to_string(),
            people,
            invalid,
            summary,
        }
    }

    /// 1 when a row is invalid or a person's run would park for review or fail (or could not be
    /// planned), else 0.
    pub fn exit_code(&self) -> i32 {
        let trouble = self.people.iter().any(|p| {
            matches!(
                p.outcome,
                PersonOutcome::Review | PersonOutcome::Fails | PersonOutcome::Error
            )
        });
        i32::from(trouble || !self.invalid.is_empty())
    }
}

/// A CSV row with errors.
#[derive(Debug, Serialize)]
pub struct InvalidRow {
    pub row: u64,
    pub id: Option<String>,
    pub errors: Vec<CellError>,
}

/// What the run for one person would do.
#[derive(Debug, Serialize)]
pub struct PersonPlan {
    /// The CSV row (with `--csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    pub id: Option<String>,
    pub name: Option<String>,
    /// The event the run would start for (`manual`, `person.joined`, …).
    pub event: Option<String>,
    /// With `--csv`: what the import would make of the row (`joined`, `changed`, `unchanged`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
    pub outcome: PersonOutcome,
    /// Why the run would fail, park or not start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub steps: Vec<PlannedStep>,
}

impl PersonPlan {
    /// A plan with no steps yet, for `person`.
    pub fn new(person: &Value, event: Option<&str>, outcome: PersonOutcome) -> PersonPlan {
        let text = |k: &str| person.get(k).and_then(Value::as_str).map(String::from);
        PersonPlan {
            row: None,
            id: text("id"),
            name: text("full_name").or_else(|| text("primary_email")),
            event: event.map(String::from),
            observation: None,
            outcome,
            message: None,
            steps: Vec::new(),
        }
    }
}

impl PersonPlan {
    /// The accounts its steps would create (lower case).
    pub fn creates(&self) -> impl Iterator<Item = String> + '_ {
        self.steps
            .iter()
            .filter(|s| s.effect == Effect::Create)
            .filter_map(|s| s.target.as_deref().map(str::to_lowercase))
    }
}

/// How the run for a person would end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonOutcome {
    /// Every step would run (approvals as if approved, waits as if over).
    Completes,
    /// `validate` would park the run for review.
    Review,
    /// A step would fail (its `on_failure` steps are in the plan).
    Fails,
    /// A read failed in a way a run would retry: the rest is unknown.
    Error,
    /// The playbook's `where:` is false: no run.
    Filtered,
    /// The import would start no run (the row is unchanged, or its event is not a trigger).
    NotStarted,
}

impl PersonOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonOutcome::Completes => "completes",
            PersonOutcome::Review => "review",
            PersonOutcome::Fails => "fails",
            PersonOutcome::Error => "error",
            PersonOutcome::Filtered => "filtered",
            PersonOutcome::NotStarted => "not started",
        }
    }
}

/// One step of a person's plan.
#[derive(Debug, Serialize)]
pub struct PlannedStep {
    pub step: String,
    pub action: String,
    pub effect: Effect,
    pub summary: String,
    /// The object written (a UPN, a user id, an employee id, recipients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// `validate`'s `{field, reason}` for every failing rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Value>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
    /// One of the `on_failure` steps.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub on_failure: bool,
}

impl PlannedStep {
    pub fn new(step: &str, action: &str, effect: Effect, summary: impl Into<String>) -> Self {
        PlannedStep {
            step: step.to_string(),
            action: action.to_string(),
            effect,
            summary: summary.into(),
            target: None,
            changes: Vec::new(),
            reasons: Vec::new(),
            detail: Value::Null,
            on_failure: false,
        }
    }
}

/// The counts over every person: how their runs would end, and what their steps would do.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub people: usize,
    pub outcomes: BTreeMap<PersonOutcome, usize>,
    pub effects: BTreeMap<Effect, usize>,
    pub invalid_rows: usize,
}

impl Summary {
    fn of(people: &[PersonPlan], invalid: &[InvalidRow]) -> Summary {
        let mut s = Summary {
            people: people.len(),
            invalid_rows: invalid.len(),
            ..Summary::default()
        };
        for p in people {
            *s.outcomes.entry(p.outcome).or_default() += 1;
            for step in &p.steps {
                *s.effects.entry(step.effect).or_default() += 1;
            }
        }
        s
    }
}
