//! `AppError`: every failed API request answers `{"error": {"code", "message", "details"}}`.
//!
//! A user's mistake says what is wrong (and `details` where it is); an internal failure is
//! logged once here and answered with a generic 500 that leaks nothing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::engine::EngineError;
use crate::store::StoreError;

/// A failed request: the HTTP status, a stable machine-readable code and a message for people.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> AppError {
        self.details = details;
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn payload_too_large(limit: Option<usize>) -> AppError {
        let message = match limit {
            Some(n) => format!("the request body is larger than the limit of {n} bytes"),
            None => "the request body is larger than the limit".to_string(),
        };
        AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            .with_details(json!({ "limit_bytes": limit }))
    }

    /// A failure that is not the caller's: logged here, answered without its detail.
    pub fn internal(error: &dyn std::fmt::Display) -> AppError {
        tracing::error!(error = %error, "API request failed");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it is logged on the server (retrying may help)",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"roster\""),
            );
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NoSuchRun(id) => {
                AppError::not_found("run_not_found", format!("no run with id '{id}'"))
            }
            StoreError::WrongState {
                run,
                actual,
                wanted,
            } => AppError::new(
                StatusCode::CONFLICT,
                "wrong_state",
                format!("run {run} is {actual}; {wanted}"),
            )
            .with_details(json!({ "run": run, "status": actual })),
            StoreError::Conflict(message) => {
                AppError::new(StatusCode::CONFLICT, "conflict", message)
            }
            other => AppError::internal(&other),
        }
    }
}

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> AppError {
        match e {
            EngineError::Store(s) => s.into(),
            EngineError::Invalid(message) => AppError::unprocessable("invalid", message),
            other => AppError::internal(&other),
        }
    }
}
