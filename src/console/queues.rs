//! `/review` (runs parked by `validate`: every failing field with its reasons, and a form to
//! correct them and resume) and `/approvals` (runs parked by `approval` or the mass-change
//! guard: what would change, approve or reject). The lists are the API's queues.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Router};

use serde_json::{json, Value};

use super::pages::{ctx, render};
use super::session::Session;
use super::{ConsoleState, Page};
use crate::api::review::{approval_queue, review_queue, Page as QueuePage};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/review", get(review))
        .route("/approvals", get(approvals))
}

async fn review(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(page): Query<QueuePage>,
) -> Page {
    let mut queue = review_queue(state.engine.store(), page).await?;
    if let Some(runs) = queue["runs"].as_array_mut() {
        for run in runs {
            let fields = corrections(&run["person"], run);
            if let Some(o) = run.as_object_mut() {
                o.insert("corrections".into(), json!(fields));
            }
        }
    }
    let frame = state.frame(&session, "review").await?;
    render("review.html", &frame, ctx(queue))
}

async fn approvals(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(page): Query<QueuePage>,
) -> Page {
    let queue = approval_queue(state.engine.store(), page).await?;
    let frame = state.frame(&session, "approvals").await?;
    render("approvals.html", &frame, ctx(queue))
}

/// The fields a reviewer corrects: each failing field once, with its current value and every
/// reason it failed. `parked` holds `errors: [{field, reason}]` directly (a queue item) or in
/// its `outputs` (a step of the timeline).
pub(super) fn corrections(person: &Value, parked: &Value) -> Vec<Value> {
    let errors = parked
        .get("errors")
        .or_else(|| parked.pointer("/outputs/errors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut fields: Vec<Value> = Vec::new();
    for e in errors {
        let Some(name) = e["field"].as_str() else {
            continue;
        };
        let reason = e["reason"].clone();
        if let Some(f) = fields.iter_mut().find(|f| f["field"] == name) {
            if let Some(reasons) = f["reasons"].as_array_mut() {
                reasons.push(reason);
            }
            continue;
        }
        let current = match name.strip_prefix("custom.") {
            Some(c) => person.pointer(&format!("/custom/{c}")),
            None => person.get(name),
        };
        let value = match current {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        fields.push(json!({ "field": name, "value": value, "reasons": [reason] }));
    }
    fields
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_field_failing_two_rules_is_corrected_once() {
        let person = json!({ "department": "Ops", "custom": { "cc": "X" } });
        let parked = json!({ "errors": [
            { "field": "department", "reason": "is not one of Sales, Finance" },
            { "field": "department", "reason": "is too short" },
            { "field": "custom.cc", "reason": "does not match" },
            { "field": "title", "reason": "is required" },
        ]});
        let fields = corrections(&person, &parked);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0]["value"], "Ops");
        assert_eq!(fields[0]["reasons"].as_array().unwrap().len(), 2);
        assert_eq!(fields[1]["value"], "X");
        assert_eq!(fields[2]["value"], "");
    }
}
