//! The HTTP API of `roster serve`: JSON under `/api/v1`, plus `/healthz` and `/metrics`.
//!
//! One file per resource (`runs`, `review`, `playbooks`), each with its routes next to its thin
//! handlers; `error` is the one `AppError` every failure becomes, `body` the extractors that
//! turn bad input into it, `auth` the bearer-token check, `view` how records look as JSON, and
//! `openapi` the document that lists every route. `app.rs` merges this router with the routers
//! of other pieces (imports, hooks) and serves it.

pub mod auth;
pub mod body;
pub mod error;
mod health;
pub mod metrics;
pub mod openapi;
pub mod playbooks;
pub mod review;
pub mod runs;
pub mod view;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

pub use auth::{require_token, Caller};
pub use error::AppError;

use crate::engine::Engine;
use crate::playbook::{Diagnostics, Playbook};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub engine: Arc<Engine>,
    /// The playbooks loaded at start-up.
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
    /// Why the files that failed to load did.
    pub load_errors: Arc<Diagnostics>,
}

impl ApiState {
    /// A loaded playbook by name.
    fn playbook(&self, name: &str) -> Result<&Arc<Playbook>, AppError> {
        self.playbooks
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.playbooks.iter().map(|p| p.name.as_str()).collect();
                AppError::not_found(
                    "playbook_not_found",
                    format!(
                        "no playbook named '{name}' is loaded{}",
                        crate::playbook::diagnostic::did_you_mean(name, names.iter().copied())
                    ),
                )
                .with_details(serde_json::json!({ "loaded": names }))
            })
    }
}

/// Every (method, path) this module serves, for the OpenAPI check.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    [
        runs::ROUTES,
        review::ROUTES,
        playbooks::ROUTES,
        health::ROUTES,
        metrics::ROUTES,
        openapi::ROUTES,
    ]
    .concat()
}

/// The API: `/api/v1/*` behind bearer tokens (the OpenAPI document is public), `/healthz` and
/// `/metrics` open, request bodies limited to `max_body_bytes`, every error in the error shape.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    let store = state.engine.store().clone();
    let protected = Router::new()
        .merge(runs::routes())
        .merge(review::routes())
        .merge(playbooks::routes())
        .with_state(state.clone());
    let open = Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .with_state(state);
    Router::new()
        .merge(require_token(protected, store))
        .merge(open)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(axum::middleware::from_fn(move |req, next| {
            error_shape(req, next, max_body_bytes)
        }))
}

/// A router's fallback: an unknown path in the error shape.
pub fn not_found() -> Response {
    AppError::not_found(
        "no_route",
        "no such endpoint (the routes are listed in /api/v1/openapi.json)",
    )
    .into_response()
}

/// Answers the rejections produced below the handlers (the body limit, a wrong method) in the
/// error shape too.
async fn error_shape(req: Request, next: Next, limit: usize) -> Response {
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::payload_too_large(Some(limit)).into_response(),
        StatusCode::METHOD_NOT_ALLOWED => AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method (see /api/v1/openapi.json)",
        )
        .into_response(),
        _ => response,
    }
}
