//! The error answer of the `/hooks/...` routes, in the API's shape:
//! `{"error": {"code", "message", "details"}}`. Internal failures are logged once and answered
//! with a generic 500 (503 where the sender should deliver again).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct HookError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl HookError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> HookError {
        HookError {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn details(mut self, details: Value) -> HookError {
        self.details = details;
        self
    }

    /// A failure on our side; the sender may deliver again later.
    pub fn internal(e: impl std::fmt::Display) -> HookError {
        tracing::error!("hook: {e}");
        HookError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the delivery could not be recorded; deliver it again later",
        )
    }
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, Json(body)).into_response()
    }
}
