//! `/healthz`: the process answers and its database is reachable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::AppError;
use super::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/healthz", get(healthz))
}

pub(super) const ROUTES: &[(&str, &str)] = &[("get", "/healthz")];

async fn healthz(State(state): State<ApiState>) -> Result<Json<Value>, AppError> {
    match state.engine.store().ping().await {
        Ok(_) => Ok(Json(json!({ "status": "ok", "database": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: the database is unreachable");
            Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unreachable",
                "the database does not answer (retrying may help)",
            ))
        }
    }
}
