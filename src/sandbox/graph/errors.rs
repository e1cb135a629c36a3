//! Graph's error body (CONTRACT §0, the OData v4 format) and the error catalogue of §2.9, §3
//! and §4: one constructor per documented situation, so the wording lives in one place.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::sandbox::dispatch::Call;
use crate::sandbox::reply::Reply;

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
    pub headers: Vec<(&'static str, String)>,
}

pub type GraphResult = Result<Reply, GraphError>;

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    /// 404 for an id or UPN that does not exist, or was created too recently to be replicated.
    pub fn not_found(key: &str) -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn denied() -> GraphError {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn unauthenticated(message: &str) -> GraphError {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    pub fn unsupported_query(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    pub fn invalid_value(property: &str, resource: &str) -> GraphError {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{property}' of resource '{resource}'."
        ))
    }

    pub fn upn_conflict() -> GraphError {
        let mut e = GraphError::bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        );
        e.details = vec![json!({"code": "ObjectConflict", "target": "userPrincipalName"})];
        e
    }

    pub fn conflicting_object() -> GraphError {
        GraphError::bad_request("A conflicting object with one or more of the specified property values is present in the directory.")
    }

    pub fn unreadable_body() -> GraphError {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    pub fn member_exists() -> GraphError {
        GraphError::bad_request("One or more added object references already exist for the following modified properties: 'members'.")
    }

    /// Removing a non-member: the message is observed, the status (404 here) is not verified.
    pub fn member_missing() -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "One or more removed object references do not exist for the following modified properties: 'members'.",
        )
    }

    pub fn throttled(retry_after_s: u64, scope: String) -> GraphError {
        let mut e = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests are being made. Please retry after the time in the Retry-After header.",
        );
        e.headers = vec![
            ("Retry-After", retry_after_s.to_string()),
            ("x-ms-throttle-scope", scope),
            (
                "x-ms-throttle-information",
                "ResourceUnitLimitExceeded".into(),
            ),
        ];
        e
    }

    pub fn server_error(status: u16, retry_after_s: u64) -> GraphError {
        let (status, code, message) = match status {
            500 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "An unspecified error has occurred.",
            ),
            504 => (
                StatusCode::GATEWAY_TIMEOUT,
                "gatewayTimeout",
                "The gateway did not receive a timely response from the upstream service.",
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry later.",
            ),
        };
        let mut e = GraphError::new(status, code, message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            e.headers = vec![("Retry-After", retry_after_s.to_string())];
        }
        e
    }

    /// The body, with `innerError` naming this request.
    pub fn body(&self, call: &Call) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": call.request_id,
                "client-request-id": call.client_request_id,
            },
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }

    pub fn reply(self, call: &Call) -> Reply {
        let mut reply = Reply::json(self.status, self.body(call));
        reply.headers = self.headers;
        reply
    }
}
