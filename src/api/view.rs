//! How runs, steps and external calls look in API responses: times as RFC 3339, secret outputs
//! masked (the sealed value never leaves the server), lease internals left out.

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::store::{CallRow, RunRow, StepRow};

/// A run without its steps.
pub fn run(r: &RunRow) -> Value {
    json!({
        "id": r.id,
        "playbook": r.playbook,
        "playbook_hash": r.playbook_hash,
        "status": r.status.as_str(),
        "person_id": r.subject,
        "cursor": r.cursor,
        "attempt": r.attempt,
        "error": r.error,
        "wake_at": r.wake_at.map(rfc3339),
        "created_at": rfc3339(r.created_at),
        "started_at": r.started_at.map(rfc3339),
        "updated_at": rfc3339(r.updated_at),
        "finished_at": r.finished_at.map(rfc3339),
        "event": r.event,
    })
}

/// A run with its person, vars, steps (outputs masked) and each step's external calls.
pub fn run_detail(r: &RunRow, steps: &[StepRow], calls: &[CallRow]) -> Value {
    let mut out = run(r);
    if let Some(o) = out.as_object_mut() {
        o.insert("person".into(), r.person.clone());
        o.insert("vars".into(), crate::secret::mask(&r.vars));
        o.insert(
            "steps".into(),
            Value::Array(steps.iter().map(|s| step(s, calls)).collect()),
        );
    }
    out
}

fn step(s: &StepRow, calls: &[CallRow]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .filter(|c| c.step_idx == s.idx)
        .map(call)
        .collect();
    json!({
        "idx": s.idx,
        "id": s.step_id,
        "status": s.status.as_str(),
        "attempts": s.attempts,
        "outputs": crate::secret::mask(&s.outputs),
        "error": s.error,
        "started_at": rfc3339(s.started_at),
        "finished_at": rfc3339(s.finished_at),
        "duration_ms": (s.finished_at - s.started_at).max(0),
        "calls": calls,
    })
}

fn call(c: &CallRow) -> Value {
    json!({
        "attempt": c.attempt,
        "connection": c.call.connection,
        "method": c.call.method,
        "url": c.call.url,
        "status": c.call.status,
        "duration_ms": c.call.duration_ms,
        "at": rfc3339(c.call.at),
    })
}
