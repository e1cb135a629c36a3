//! The queues people work through: runs parked by `validate` (the review queue, with every
//! failing field and reason) and by `approval` (the approvals queue). Approve or reject them
//! through `/api/v1/runs/{id}/approve|reject`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::Params;
use super::error::AppError;
use super::view;
use super::ApiState;
use crate::engine::status::RunStatus;
use crate::store::{RunFilter, Store};

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/review", get(review))
        .route("/api/v1/approvals", get(approvals))
}

pub(super) const ROUTES: &[(&str, &str)] =
    &[("get", "/api/v1/review"), ("get", "/api/v1/approvals")];

/// Which page of a queue.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub playbook: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

async fn review(
    State(state): State<ApiState>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(review_queue(state.engine.store(), page).await?))
}

async fn approvals(
    State(state): State<ApiState>,
    Params(page): Params<Page>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(approval_queue(state.engine.store(), page).await?))
}

/// Runs parked by `validate`, each with its person and every failing `{field, reason}`.
pub async fn review_queue(store: &Store, page: Page) -> Result<Value, AppError> {
    queue(
        store,
        RunStatus::Review,
        page,
        |outputs| json!({ "errors": outputs.get("errors").cloned().unwrap_or(json!([])) }),
    )
    .await
}

/// Runs parked by `approval` (or a guard that asks for one), each with the message, the
/// timeout and the parked step's other outputs (what would change).
pub async fn approval_queue(store: &Store, page: Page) -> Result<Value, AppError> {
    const SHOWN: &[&str] = &["message", "requested_at", "timeout_at", "timeout_ms"];
    queue(store, RunStatus::Approval, page, |outputs| {
        let details: serde_json::Map<String, Value> = outputs
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !SHOWN.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "message": outputs.get("message").cloned().unwrap_or(Value::Null),
            "requested_at": outputs.get("requested_at").cloned().unwrap_or(Value::Null),
            "timeout_at": outputs.get("timeout_at").cloned().unwrap_or(Value::Null),
            "details": details,
        })
    })
    .await
}

/// Runs in `status`, newest first, each with the step it is parked at and `detail` of it.
async fn queue(
    store: &Store,
    status: RunStatus,
    page: Page,
    detail: impl Fn(&Value) -> Value,
) -> Result<Value, AppError> {
    let filter = RunFilter {
        playbook: page.playbook,
        status: Some(status),
        limit: page.limit.unwrap_or(100).clamp(1, 500),
        offset: page.offset.unwrap_or(0).max(0),
        ..RunFilter::default()
    };
    let total = store.count_runs(&filter).await?;
    let mut items = Vec::new();
    for run in store.runs(&filter).await? {
        let step = store.step_at(&run.id, run.cursor).await?;
        let mut item = view::run(&run);
        if let (Some(o), Some(s)) = (item.as_object_mut(), &step) {
            o.insert("person".into(), run.person.clone());
            o.insert("step".into(), json!(s.step_id));
            if let Value::Object(d) = detail(&crate::secret::mask(&s.outputs)) {
                o.extend(d);
            }
        }
        items.push(item);
    }
    Ok(json!({ "runs": items, "total": total }))
}
