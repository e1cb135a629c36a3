//! Google's JSON error envelope (CONTRACT §2.8):
//! `{"error":{"code","message","errors":[{"message","domain","reason"}],"status"?}}`, with one
//! constructor per documented case.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::sandbox::reply::Reply;

#[derive(Debug, Clone)]
pub struct GoogleError {
    pub code: u16,
    pub message: String,
    pub reason: &'static str,
    pub status: Option<&'static str>,
    pub retry_after_s: Option<u64>,
}

pub type GoogleResult = Result<Reply, GoogleError>;

impl GoogleError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> GoogleError {
        GoogleError {
            code,
            message: message.into(),
            reason,
            status: None,
            retry_after_s: None,
        }
    }

    pub fn not_found(what: &str) -> GoogleError {
        GoogleError::new(404, "notFound", format!("Resource Not Found: {what}"))
    }

    pub fn duplicate() -> GoogleError {
        GoogleError::new(409, "duplicate", "Entity already exists.")
    }

    pub fn bad_request(message: impl Into<String>) -> GoogleError {
        GoogleError::new(400, "badRequest", message)
    }

    pub fn invalid(message: impl Into<String>) -> GoogleError {
        GoogleError::new(400, "invalid", message)
    }

    pub fn required(message: impl Into<String>) -> GoogleError {
        GoogleError::new(400, "required", message)
    }

    pub fn domain_not_found() -> GoogleError {
        GoogleError::new(404, "notFound", "Domain not found.")
    }

    pub fn unauthenticated() -> GoogleError {
        let mut e = GoogleError::new(401, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.");
        e.status = Some("UNAUTHENTICATED");
        e
    }

    pub fn insufficient_scope() -> GoogleError {
        let mut e = GoogleError::new(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
        e.status = Some("PERMISSION_DENIED");
        e
    }

    /// The caller is not an admin (or impersonates no one).
    pub fn forbidden() -> GoogleError {
        GoogleError::new(
            403,
            "forbidden",
            "Not Authorized to access this resource/api",
        )
    }

    pub fn rate_limited(retry_after_s: u64) -> GoogleError {
        let mut e = GoogleError::new(429, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service 'admin.googleapis.com'.");
        e.status = Some("RESOURCE_EXHAUSTED");
        e.retry_after_s = Some(retry_after_s);
        e
    }

    pub fn server_error(code: u16, retry_after_s: u64) -> GoogleError {
        let (reason, message, status) = match code {
            500 => ("internalError", "Internal error encountered.", "INTERNAL"),
            504 => ("backendError", "Deadline exceeded.", "DEADLINE_EXCEEDED"),
            _ => (
                "backendError",
                "The service is currently unavailable.",
                "UNAVAILABLE",
            ),
        };
        let mut e = GoogleError::new(code, reason, message);
        e.status = Some(status);
        if code == 503 {
            e.retry_after_s = Some(retry_after_s);
        }
        e
    }

    pub fn body(&self) -> Value {
        let domain = if self.code == 429 {
            "usageLimits"
        } else {
            "global"
        };
        let mut item = json!({"message": self.message, "domain": domain, "reason": self.reason});
        // A 401 names the header that carried (or lacked) the credential.
        if self.code == 401 {
            item["location"] = json!("Authorization");
            item["locationType"] = json!("header");
        }
        let mut error = json!({"code": self.code, "message": self.message, "errors": [item]});
        if let Some(s) = self.status {
            error["status"] = json!(s);
        }
        json!({ "error": error })
    }

    pub fn reply(self) -> Reply {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = Reply::json(status, self.body());
        if let Some(s) = self.retry_after_s {
            r = r.header("Retry-After", s.to_string());
        }
        if self.code == 401 {
            r = r.header(
                "WWW-Authenticate",
                "Bearer realm=\"https://accounts.google.com/\"",
            );
        }
        r
    }
}
