//! Which runs an event starts: the playbooks whose triggers match, their `vars`, `where` and
//! `concurrency` evaluated once, here, so a run carries everything it needs.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::observation::Change;
use crate::playbook::{EventMatch, Playbook};
use crate::script::{Context, Scripting};
use crate::store::{Dispatch, NewEvent, NewRun};

/// A `manual` event for one person.
pub fn manual_event(person: &Value, key: Option<String>, now: i64) -> NewEvent {
    let id = Uuid::now_v7().to_string();
    let subject = person.get("id").and_then(Value::as_str).map(String::from);
    NewEvent {
        idempotency_key: key.unwrap_or_else(|| format!("manual:{id}")),
        body: json!({
            "id": id, "type": "manual", "source": "manual", "subject": subject,
            "changes": {}, "received_at": rfc3339(now),
        }),
        id,
        kind: "manual".into(),
        source: Some("manual".into()),
        subject_id: subject,
        received_at: now,
    }
}

/// The event for an observed change. Its idempotency key derives from the previous and new
/// states, so a redelivered observation is recorded once.
pub fn change_event(
    source: &str,
    subject: &str,
    previous: Option<&Value>,
    person: &Value,
    change: &Change,
    now: i64,
) -> NewEvent {
    let id = Uuid::now_v7().to_string();
    let mut h = Sha256::new();
    h.update(previous.map(Value::to_string).unwrap_or_default());
    h.update(b"\x00");
    h.update(person.to_string());
    let digest: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    NewEvent {
        idempotency_key: format!("{source}:{subject}:{}:{digest}", change.kind()),
        body: json!({
            "id": id, "type": change.kind(), "source": source, "subject": subject,
            "changes": change.changes(), "received_at": rfc3339(now),
        }),
        id,
        kind: change.kind().into(),
        source: Some(source.into()),
        subject_id: Some(subject.into()),
        received_at: now,
    }
}

/// The dispatches of an event to every playbook whose trigger matches it.
pub fn plan_all(
    scripting: &Scripting,
    playbooks: &[Arc<Playbook>],
    event: &NewEvent,
    person: &Value,
) -> Vec<Dispatch> {
    let changed: Vec<String> = event
        .body
        .get("changes")
        .and_then(Value::as_object)
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let m = EventMatch {
        kind: &event.kind,
        source: event.source.as_deref(),
        changed: &changed,
    };
    playbooks
        .iter()
        .filter(|pb| pb.accepts(&m))
        .map(|pb| plan(scripting, pb, event, person))
        .collect()
}

/// Evaluates `vars`, `where` and `concurrency` of one playbook for one event. An expression that
/// fails creates the run already failed, with the reason, rather than losing the event.
pub fn plan(scripting: &Scripting, pb: &Playbook, event: &NewEvent, person: &Value) -> Dispatch {
    let run_id = Uuid::now_v7().to_string();
    let run_info = json!({ "id": run_id, "attempt": 1, "playbook": pb.name });
    let empty = Value::Object(Map::new());
    let (vars, mut error) = match eval_vars(scripting, pb, person, &event.body, &run_info) {
        Ok(vars) => (vars, None),
        Err((vars, e)) => (vars, Some(e)),
    };
    let cx = Context::new(person, &event.body, &vars, &empty, &run_info);
    if error.is_none() {
        if let Some(filter) = &pb.filter {
            match scripting.eval_bool(filter, &cx) {
                Ok(true) => {}
                Ok(false) => {
                    return Dispatch::Filtered {
                        playbook: pb.name.clone(),
                    }
                }
                Err(e) => error = Some(format!("where: {e}")),
            }
        }
    }
    let mut concurrency_key = None;
    if error.is_none() {
        if let Some(c) = &pb.concurrency {
            match scripting.eval(c, &cx) {
                Ok(Value::Null) => {}
                Ok(Value::String(s)) => concurrency_key = Some(s),
                Ok(other) => concurrency_key = Some(other.to_string()),
                Err(e) => error = Some(format!("concurrency: {e}")),
            }
        }
    }
    Dispatch::Run(NewRun {
        id: run_id,
        playbook: pb.name.clone(),
        playbook_hash: pb.hash.clone(),
        event_id: Some(event.id.clone()),
        subject: person.get("id").and_then(Value::as_str).map(String::from),
        concurrency_key,
        person: person.clone(),
        event: event.body.clone(),
        vars,
        error,
    })
}

/// Evaluates a playbook's `vars` in order, each seeing the ones before it. On failure, returns
/// the vars evaluated so far and which one failed and why.
pub fn eval_vars(
    scripting: &Scripting,
    pb: &Playbook,
    person: &Value,
    event: &Value,
    run_info: &Value,
) -> Result<Value, (Value, String)> {
    let empty = Value::Object(Map::new());
    let mut vars = Map::new();
    for (name, expr) in &pb.vars {
        let current = Value::Object(vars.clone());
        let cx = Context::new(person, event, &current, &empty, run_info);
        match scripting.eval(expr, &cx) {
            Ok(v) => {
                vars.insert(name.clone(), v);
            }
            Err(e) => return Err((Value::Object(vars), format!("var '{name}': {e}"))),
        }
    }
    Ok(Value::Object(vars))
}
