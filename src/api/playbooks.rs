//! `GET /api/v1/playbooks`: what `roster serve` loaded, and why any file failed to load.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use std::sync::Arc;

use super::ApiState;
use crate::playbook::{Diagnostics, Playbook, Trigger};

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/playbooks", get(list))
}

pub(super) const ROUTES: &[(&str, &str)] = &[("get", "/api/v1/playbooks")];

async fn list(State(state): State<ApiState>) -> Json<Value> {
    Json(catalog(&state.playbooks, &state.load_errors))
}

/// The loaded playbooks and the diagnostics of the files that failed to load.
pub fn catalog(playbooks: &[Arc<Playbook>], load_errors: &Diagnostics) -> Value {
    let loaded: Vec<Value> = playbooks.iter().map(|p| playbook(p)).collect();
    json!({ "playbooks": loaded, "errors": load_errors.0 })
}

fn playbook(p: &Playbook) -> Value {
    json!({
        "name": p.name,
        "description": p.description,
        "path": p.path,
        "hash": p.hash,
        "triggers": p.triggers.iter().map(trigger).collect::<Vec<_>>(),
        "steps": p.steps.len(),
        "on_failure_steps": p.on_failure.len(),
        "step_actions": p.steps.iter().map(|s| json!({ "id": s.id, "uses": s.action.name() })).collect::<Vec<_>>(),
    })
}

/// A trigger as written in the playbook (`{"person.joined": {"source": "google"}}`).
fn trigger(t: &Trigger) -> Value {
    match t {
        Trigger::Person {
            kind,
            source,
            fields,
        } => {
            let mut args = serde_json::Map::new();
            if let Some(s) = source {
                args.insert("source".into(), json!(s));
            }
            if !fields.is_empty() {
                args.insert("fields".into(), json!(fields));
            }
            json!({ kind.as_str(): args })
        }
        Trigger::Manual => json!({ "manual": {} }),
        Trigger::Schedule(c) => {
            json!({ "schedule": { "cron": c.expression, "timezone": c.timezone.to_string() } })
        }
        Trigger::Webhook { name } => json!({ "webhook": { "name": name } }),
        Trigger::PersonDate { field, offset_ms } => {
            json!({ "person.date": { "field": field, "offset_ms": offset_ms } })
        }
    }
}
