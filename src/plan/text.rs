//! A plan as text: a block per person (one line per step, field changes below it), the invalid
//! rows, and the counts.

use std::fmt::Write;

use serde_json::Value;

use super::model::{PersonOutcome, PersonPlan, Plan};
use super::preview::Effect;

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    for p in &plan.people {
        person(&mut out, p);
        out.push('\n');
    }
    if !plan.invalid.is_empty() {
        out.push_str("invalid rows (nothing is planned for them):\n");
        for row in &plan.invalid {
            for e in &row.errors {
                let _ = match &e.column {
                    Some(c) => writeln!(out, "  row {}, column \"{c}\": {}", row.row, e.reason),
                    None => writeln!(out, "  row {}: {}", row.row, e.reason),
                };
            }
        }
        out.push('\n');
    }
    out.push_str(&summary(plan));
    out.push('\n');
    out
}

fn person(out: &mut String, p: &PersonPlan) {
    let mut head = Vec::new();
    if let Some(row) = p.row {
        head.push(format!("row {row}"));
    }
    head.push(p.id.clone().unwrap_or_else(|| "(no id)".into()));
    if let Some(name) = &p.name {
        head.push(name.clone());
    }
    // The event the run would start for; without one, what the import made of the row.
    if let Some(how) = p.event.as_ref().or(p.observation.as_ref()) {
        head.push(format!("({how})"));
    }
    let _ = writeln!(out, "{}", head.join("  "));
    let id_width = p.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    let action_width = p.steps.iter().map(|s| s.action.len()).max().unwrap_or(0);
    let mut in_failure = false;
    for s in &p.steps {
        if s.on_failure && !in_failure {
            out.push_str("  on_failure:\n");
            in_failure = true;
        }
        let _ = writeln!(
            out,
            "  {} {:id_width$}  {:action_width$}  {}",
            s.effect.sign(),
            s.step,
            s.action,
            s.summary
        );
        let indent = " ".repeat(4 + id_width + 2 + action_width + 2);
        for c in &s.changes {
            let _ = writeln!(
                out,
                "{indent}{}: {} → {}",
                c.field,
                value(&c.from),
                value(&c.to)
            );
        }
        for r in &s.reasons {
            let _ = writeln!(
                out,
                "{indent}{}: {}",
                r["field"].as_str().unwrap_or("?"),
                r["reason"].as_str().unwrap_or("?")
            );
        }
    }
    // The step lines say why; the last line says where the run would stop.
    let stop = p
        .steps
        .iter()
        .find(|s| matches!(s.effect, Effect::Review | Effect::Fail | Effect::Error))
        .map(|s| s.step.as_str());
    let closing = match (p.outcome, stop) {
        (PersonOutcome::Completes, _) => None,
        (PersonOutcome::Review, Some(at)) => Some(format!("the run would park for review at {at}")),
        (PersonOutcome::Fails, Some(at)) => Some(format!("the run would fail at {at}")),
        (PersonOutcome::Error, Some(at)) => Some(format!("not planned past {at}")),
        (o, _) => Some(p.message.clone().unwrap_or_else(|| o.as_str().to_string())),
    };
    if let Some(m) = closing {
        let _ = writeln!(out, "  => {m}");
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn summary(plan: &Plan) -> String {
    let s = &plan.summary;
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|(o, n)| format!("{n} {}", o.as_str()))
        .collect();
    let mut line = format!(
        "plan of {}: {}",
        plan.playbook,
        count(s.people, "person", "people")
    );
    if !outcomes.is_empty() {
        line.push_str(&format!(" ({})", outcomes.join(", ")));
    }
    if s.invalid_rows > 0 {
        line.push_str(&format!(
            ", {}",
            count(s.invalid_rows, "invalid row", "invalid rows")
        ));
    }
    let effects: Vec<String> = s
        .effects
        .iter()
        .map(|(e, n)| format!("{n} {}", e.as_str()))
        .collect();
    if !effects.is_empty() {
        line.push_str(&format!("; steps: {}", effects.join(", ")));
    }
    line.push_str("\nnothing was changed");
    line
}
