//! `/api/v1/runs`: start, list, show, retry, cancel, approve and reject runs.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::body::{Body, OptionalBody, Params};
use super::error::AppError;
use super::view;
use super::ApiState;
use crate::engine::status::RunStatus;
use crate::engine::Engine;
use crate::person::Person;
use crate::store::{RunFilter, Store};

/// The most runs one page holds.
const MAX_PAGE: i64 = 500;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/runs", post(start).get(list))
        .route("/api/v1/runs/{id}", get(show))
        .route("/api/v1/runs/{id}/retry", post(retry))
        .route("/api/v1/runs/{id}/cancel", post(cancel))
        .route("/api/v1/runs/{id}/approve", post(approve))
        .route("/api/v1/runs/{id}/reject", post(reject))
}

/// The routes above as (method, path), for the OpenAPI check.
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/runs"),
    ("get", "/api/v1/runs"),
    ("get", "/api/v1/runs/{id}"),
    ("post", "/api/v1/runs/{id}/retry"),
    ("post", "/api/v1/runs/{id}/cancel"),
    ("post", "/api/v1/runs/{id}/approve"),
    ("post", "/api/v1/runs/{id}/reject"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    /// The playbook's name.
    playbook: String,
    person: Value,
    /// A second request with the same key (for the same playbook) starts nothing and answers
    /// with the first run. The `Idempotency-Key` header works too.
    #[serde(default)]
    idempotency_key: Option<String>,
}

async fn start(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(req): Body<StartRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let pb = state.playbook(&req.playbook)?;
    if !pb
        .triggers
        .iter()
        .any(|t| matches!(t, crate::playbook::Trigger::Manual))
    {
        return Err(AppError::unprocessable(
            "not_manual",
            format!(
                "playbook '{}' has no `manual: {{}}` trigger, so it cannot be started by hand",
                pb.name
            ),
        ));
    }
    let mut person: Person = serde_json::from_value(req.person).map_err(|e| {
        AppError::unprocessable("invalid_person", format!("person: {e}"))
            .with_details(json!({ "path": "person" }))
    })?;
    person.fill_derived();
    let key = req.idempotency_key.or_else(|| {
        headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    });
    // Keys are scoped to the playbook: one key may start each playbook once.
    let key = key.map(|k| format!("api:{}:{k}", pb.name));
    let engine = &state.engine;
    let started = engine.start(pb, person.to_value(), key.clone()).await?;
    let (status, run_id) = match (started, &key) {
        (Some(id), _) => (StatusCode::CREATED, id),
        (None, Some(key)) => match engine.store().run_for_key(key, &pb.name).await? {
            Some(Some(id)) => (StatusCode::OK, id),
            Some(None) | None => return Ok(filtered(&pb.name)),
        },
        (None, None) => return Ok(filtered(&pb.name)),
    };
    let run = engine.store().run(&run_id).await?;
    Ok((status, Json(json!({ "run": view::run(&run) }))))
}

/// The playbook's `where:` is false for this person: recorded, and no run.
fn filtered(playbook: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({
            "run": null,
            "filtered": true,
            "message": format!("playbook '{playbook}' filtered this person out (its `where:` is false)"),
        })),
    )
}

/// The filters and page of `GET /api/v1/runs` (and of the console's runs page).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub playbook: Option<String>,
    pub status: Option<String>,
    /// The person's id.
    pub person: Option<String>,
    /// RFC 3339; runs created at or after.
    pub created_after: Option<String>,
    /// RFC 3339; runs created before.
    pub created_before: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn timestamp(name: &str, value: Option<&str>) -> Result<Option<i64>, AppError> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|e| {
                    AppError::bad_request(
                        "invalid_query",
                        format!("{name}: '{v}' is not an RFC 3339 time ({e})"),
                    )
                    .with_details(json!({ "parameter": name }))
                })
        })
        .transpose()
}

async fn list(
    State(state): State<ApiState>,
    Params(q): Params<ListQuery>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(list_runs(state.engine.store(), q).await?))
}

/// A page of runs, newest first: `{runs, total, limit, offset, next_offset}`.
pub async fn list_runs(store: &Store, q: ListQuery) -> Result<Value, AppError> {
    let status = q
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(|e| {
            AppError::bad_request("invalid_query", format!("status: {e}"))
                .with_details(json!({ "parameter": "status" }))
        })?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("limit: {limit} is not between 1 and {MAX_PAGE}"),
        ));
    }
    let filter = RunFilter {
        playbook: q.playbook,
        status,
        subject: q.person,
        created_after: timestamp("created_after", q.created_after.as_deref())?,
        created_before: timestamp("created_before", q.created_before.as_deref())?,
        limit,
        offset: q.offset.unwrap_or(0).max(0),
    };
    let runs = store.runs(&filter).await?;
    let total = store.count_runs(&filter).await?;
    let next = filter.offset + runs.len() as i64;
    Ok(json!({
        "runs": runs.iter().map(view::run).collect::<Vec<_>>(),
        "total": total,
        "limit": limit,
        "offset": filter.offset,
        "next_offset": (next < total).then_some(next),
    }))
}

async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(run_detail(state.engine.store(), &id).await?))
}

/// A run with its person, vars, steps (outputs masked) and every external call.
pub async fn run_detail(store: &Store, id: &str) -> Result<Value, AppError> {
    let run = store.run(id).await?;
    let steps = store.steps_of(id).await?;
    let calls = store.calls_of(id).await?;
    Ok(view::run_detail(&run, &steps, &calls))
}

async fn retry(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    state.engine.retry(&id).await?;
    current(&state, &id).await
}

async fn cancel(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    state.engine.cancel(&id).await?;
    current(&state, &id).await
}

/// An approval, with corrections of the person's fields for a run in review.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Corrected person fields (`custom.x` for custom fields), like `roster approve --set`.
    #[serde(default)]
    pub set: Map<String, Value>,
    #[serde(default)]
    pub comment: Option<String>,
}

async fn approve(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    OptionalBody(req): OptionalBody<ApproveRequest>,
) -> Result<Json<Value>, AppError> {
    approve_run(&state.engine, &id, &by(caller), req).await?;
    current(&state, &id).await
}

/// Approves a run in review or waiting for approval, as `by`; corrections must name person
/// fields.
pub async fn approve_run(
    engine: &Engine,
    id: &str,
    by: &str,
    req: ApproveRequest,
) -> Result<(), AppError> {
    let fields = Person::default().to_value();
    for field in req.set.keys() {
        let known = field.starts_with("custom.")
            || (field != "custom" && fields.get(field.as_str()).is_some());
        if !known {
            return Err(AppError::unprocessable(
                "invalid_body",
                format!("set.{field}: not a person field (use custom.{field} for a custom one)"),
            )
            .with_details(json!({ "path": format!("set.{field}") })));
        }
    }
    engine
        .approve(id, by, req.comment.as_deref(), req.set)
        .await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn reject(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    OptionalBody(req): OptionalBody<RejectRequest>,
) -> Result<Json<Value>, AppError> {
    state
        .engine
        .reject(&id, &by(caller), req.reason.as_deref())
        .await?;
    current(&state, &id).await
}

/// Who a decision is recorded as: the token's name.
fn by(caller: Option<Extension<Caller>>) -> String {
    caller.map_or_else(
        || "api".into(),
        |Extension(c)| format!("token:{}", c.token_name),
    )
}

async fn current(state: &ApiState, id: &str) -> Result<Json<Value>, AppError> {
    let run = state.engine.store().run(id).await?;
    Ok(Json(json!({ "run": view::run(&run) })))
}
