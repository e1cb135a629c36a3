//! The SCIM error response (RFC 7644 §3.12): every failure of `/scim/v2` is answered with
//! `{"schemas": [Error], "status": "404", "scimType": …, "detail": …}` as
//! `application/scim+json`. Internal failures are logged once and answered with a generic 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ERROR_URN;

/// The media type of every SCIM answer.
pub const SCIM_JSON: &str = "application/scim+json";

/// A request `/scim/v2` refuses, or an internal failure.
#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: u16,
    /// `uniqueness`, `invalidFilter`, `invalidValue`, `invalidPath`, `noTarget`, `mutability`,
    /// `invalidSyntax`, `tooMany`, …
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(400, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(404, None, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError::new(409, Some("uniqueness"), detail)
    }

    /// Logs the cause and answers a 500 that says nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "SCIM request failed");
        ScimError::new(500, None, "internal error (logged on the server)")
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "{} {t}: {}", self.status, self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl From<crate::store::StoreError> for ScimError {
    fn from(e: crate::store::StoreError) -> Self {
        ScimError::internal(e)
    }
}

impl From<crate::engine::EngineError> for ScimError {
    fn from(e: crate::engine::EngineError) -> Self {
        ScimError::internal(e)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        scim_json(status, &body)
    }
}

/// A SCIM JSON answer.
pub fn scim_json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}
