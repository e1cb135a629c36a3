//! `/runs` (the filterable, paged list with counts by status) and `/runs/{id}` (a run's
//! timeline), and the forms that retry, cancel, approve or reject a run.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::pages::{ctx, render, see_other, ConsoleError};
use super::session::Session;
use super::{ConsoleState, Page};
use crate::api::runs::{approve_run, list_runs, run_detail, ApproveRequest, ListQuery};
use crate::engine::status::RunStatus;

/// Runs on one page of the list.
const PAGE_SIZE: i64 = 50;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/runs", get(list))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/retry", post(retry))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/runs/{id}/approve", post(approve))
        .route("/runs/{id}/reject", post(reject))
}

/// The list's filters as the form sends them (empty fields are no filter).
#[derive(Debug, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    playbook: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    person: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field, read as UTC) or RFC 3339.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    offset: i64,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A `datetime-local` value as RFC 3339 in UTC; anything else is passed on for the API's check.
fn rfc3339(s: &str) -> Option<String> {
    let s = some(s)?;
    let local = chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S"));
    Some(match local {
        Ok(t) => t.and_utc().to_rfc3339(),
        Err(_) => s,
    })
}

async fn list(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Query(f): Query<Filters>,
) -> Page {
    let query = ListQuery {
        playbook: some(&f.playbook),
        status: some(&f.status),
        person: some(&f.person),
        created_after: rfc3339(&f.from),
        created_before: rfc3339(&f.to),
        limit: Some(PAGE_SIZE),
        offset: Some(f.offset.max(0)),
    };
    // A filter the API refuses is shown above an empty list, with the filters kept.
    let (page, error) = match list_runs(state.engine.store(), query).await {
        Ok(page) => (page, None),
        Err(e) if e.status.is_client_error() => {
            (json!({ "runs": [], "total": 0 }), Some(e.message))
        }
        Err(e) => return Err(e.into()),
    };
    let counts = state.engine.store().run_counts().await?;
    let counts: Vec<Value> = RunStatus::ALL
        .iter()
        .map(|s| {
            let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
            json!({ "status": s.as_str(), "count": n })
        })
        .collect();
    let total: i64 = counts.iter().filter_map(|c| c["count"].as_i64()).sum();
    let offset = f.offset.max(0);
    let shown = page["runs"].as_array().map_or(0, Vec::len) as i64;
    let filters = json!({
        "playbook": f.playbook, "status": f.status, "person": f.person, "from": f.from, "to": f.to,
    });
    let link = |offset: i64| {
        let mut q: Vec<(&str, String)> = ["playbook", "status", "person", "from", "to"]
            .iter()
            .filter_map(|k| some(filters[*k].as_str().unwrap_or_default()).map(|v| (*k, v)))
            .collect();
        q.push(("offset", offset.to_string()));
        format!(
            "/runs?{}",
            serde_urlencoded::to_string(q).unwrap_or_default()
        )
    };
    let frame = state.frame(&session, "runs").await?;
    render(
        "runs.html",
        &frame,
        ctx(json!({
            "runs": page["runs"],
            "matching": page["total"],
            "first": if shown > 0 { offset + 1 } else { 0 },
            "last": offset + shown,
            "previous": (offset > 0).then(|| link((offset - PAGE_SIZE).max(0))),
            "next": page["next_offset"].as_i64().map(link),
            "counts": counts,
            "all_runs": total,
            "filters": filters,
            "error": error,
            "playbooks": state.playbooks.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "statuses": RunStatus::ALL.map(|s| s.as_str()),
        })),
    )
}

async fn show(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Page {
    let store = state.engine.store();
    let id = store.resolve_run_id(&id).await?;
    let mut run = run_detail(store, &id).await?;
    let status: RunStatus = run["status"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e: String| ConsoleError::internal(&e))?;
    // The steps still to come, from the playbook version the run pinned.
    let recorded: Vec<String> = run["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let pending: Vec<Value> = match (status.is_terminal(), run["playbook_hash"].as_str()) {
        (false, Some(hash)) => state
            .engine
            .version(hash)
            .await?
            .steps
            .iter()
            .filter(|s| !recorded.contains(&s.id))
            .map(|s| json!({ "id": s.id, "uses": s.action.name() }))
            .collect(),
        _ => Vec::new(),
    };
    let parked = run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().rev().find(|s| s["status"] == run["status"]))
        .cloned();
    let corrections = match (&parked, status) {
        (Some(step), RunStatus::Review) => super::queues::corrections(&run["person"], step),
        _ => Vec::new(),
    };
    if let Some(o) = run.as_object_mut() {
        o.insert("pending".into(), json!(pending));
        o.insert("parked".into(), parked.unwrap_or(Value::Null));
        o.insert("corrections".into(), json!(corrections));
    }
    // A run still moving refreshes itself; a parked or finished one does not.
    let refresh = match status {
        RunStatus::Queued | RunStatus::Running => Some(2),
        RunStatus::Waiting => Some(10),
        _ => None,
    };
    let frame = state.frame(&session, "runs").await?;
    render(
        "run.html",
        &frame,
        ctx(json!({
            "run": run,
            "refresh": refresh,
            "can_retry": status == RunStatus::Failed,
            "can_cancel": !status.is_terminal(),
            "can_decide": matches!(status, RunStatus::Review | RunStatus::Approval),
        })),
    )
}

/// Where a form goes back to: a console path it names (`back`), else the run.
fn back(form: &[(String, String)], id: &str) -> String {
    form.iter()
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with('/') && !v.starts_with("//"))
        .map_or_else(|| format!("/runs/{id}"), String::from)
}

fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

async fn retry(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Page {
    state.engine.retry(&id).await?;
    Ok(see_other(&back(&form, &id)))
}

async fn cancel(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Page {
    state.engine.cancel(&id).await?;
    Ok(see_other(&back(&form, &id)))
}

/// Approves, with `set.<field>` corrections (an emptied field is cleared) and a comment.
async fn approve(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Page {
    let mut set = Map::new();
    for (k, v) in &form {
        if let Some(name) = k.strip_prefix("set.") {
            let v = v.trim();
            let value = if v.is_empty() { Value::Null } else { json!(v) };
            set.insert(name.to_string(), value);
        }
    }
    let request = ApproveRequest {
        set,
        comment: field(&form, "comment").map(String::from),
    };
    approve_run(&state.engine, &id, &session.principal, request).await?;
    Ok(see_other(&back(&form, &id)))
}

async fn reject(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Page {
    state
        .engine
        .reject(&id, &session.principal, field(&form, "reason"))
        .await?;
    Ok(see_other(&back(&form, &id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_read_as_utc() {
        assert_eq!(
            rfc3339("2026-05-01T10:30").as_deref(),
            Some("2026-05-01T10:30:00+00:00")
        );
        assert_eq!(rfc3339(" ").as_deref(), None);
        assert_eq!(rfc3339("yesterday").as_deref(), Some("yesterday"));
    }
}
