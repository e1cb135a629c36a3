//! One Directory API call: limiter, bearer token (minted, cached, renewed once on 401), Google's
//! error envelope (`error.errors[].reason`, CONTRACT §2.8) parsed into `GoogleError`, and paging
//! through `nextPageToken`.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::Client;
use crate::actions::ActionError;
use crate::connectors::bearer;

/// Reasons Google gives for throttling (CONTRACT §5): a 403 with one of them is not a refusal.
const RATE_LIMITED: &[&str] = &[
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "quotaExceeded",
    "backendError",
];

/// A Directory call that did not succeed.
#[derive(Debug, Clone)]
pub struct GoogleError {
    /// 0 when no response arrived (network error, timeout).
    pub status: u16,
    /// `error.errors[0].reason`, e.g. `notFound`, `duplicate`, `userRateLimitExceeded`.
    pub reason: String,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// `METHOD /path` of the call, for messages.
    pub call: String,
}

impl GoogleError {
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// Whether trying again later can help: no response, 408, 429, 5xx, or a 403 whose reason
    /// is a rate or quota limit (a 403 is not necessarily an authorization failure).
    pub fn is_transient(&self) -> bool {
        self.status == 0
            || matches!(self.status, 408 | 429)
            || self.status >= 500
            || (self.status == 403 && RATE_LIMITED.contains(&self.reason.as_str()))
    }

    /// The step's error: transient ones are retried by the engine.
    pub fn into_action(self) -> ActionError {
        let message = self.to_string();
        if self.is_transient() {
            ActionError::Transient {
                message,
                retry_after: self.retry_after,
            }
        } else {
            ActionError::Permanent(message)
        }
    }
}

impl std::fmt::Display for GoogleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "Google {} failed: {}", self.call, self.message)
        } else {
            write!(
                f,
                "Google {} answered {} {}: {}",
                self.call, self.status, self.reason, self.message
            )
        }
    }
}

/// The error a response body describes; `status` when it has no envelope.
pub fn parse_error(status: u16, body: &Value) -> (String, String) {
    let error = body.get("error");
    let first = error
        .and_then(|e| e.get("errors"))
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let reason = first
        .and_then(|e| e.get("reason"))
        .or_else(|| error.and_then(|e| e.get("status")))
        .and_then(Value::as_str)
        .unwrap_or(match status {
            404 => "notFound",
            _ => "unknown",
        })
        .to_string();
    let message = error
        .and_then(|e| e.get("message"))
        .or_else(|| first.and_then(|e| e.get("message")))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| match body {
            Value::Null => "no error body".to_string(),
            Value::String(s) => s.chars().take(300).collect(),
            other => other.to_string(),
        });
    (reason, message)
}

impl Client {
    /// Calls `path` (starting with `/`, relative to the base URL).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, GoogleError> {
        let url = format!("{}{path}", self.base);
        let call = format!("{method} {path}");
        let fail = |status: u16, reason: &str, message: String| GoogleError {
            status,
            reason: reason.into(),
            message,
            retry_after: None,
            call: call.clone(),
        };
        let _permit = self.limiter.acquire().await;
        let answer = bearer::send(
            &self.name,
            &self.tokens,
            || self.auth.fetch(&self.http, &self.name),
            |token| {
                let req = bearer::request(&self.http, &method, &url, token, query);
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            },
        )
        .await
        .map_err(|e| {
            let (status, code, message) = e.parts();
            fail(status, code, message)
        })?;
        if (200..300).contains(&answer.status) {
            return Ok(answer.body);
        }
        let (reason, message) = parse_error(answer.status, &answer.body);
        let mut e = fail(answer.status, &reason, message);
        e.retry_after = answer.retry_after;
        Err(e)
    }

    pub(super) async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, GoogleError> {
        self.call(Method::GET, path, query, None).await
    }

    /// One page of a collection: its `items_key` array and the next page's token.
    pub(super) async fn page(
        &self,
        path: &str,
        query: &[(&str, &str)],
        items_key: &str,
        page_token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), GoogleError> {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        if let Some(t) = page_token {
            q.push(("pageToken", t));
        }
        let mut page = self.get(path, &q).await?;
        // A page with no results has no items array at all (CONTRACT §2.1).
        let items = match page.get_mut(items_key).map(Value::take) {
            Some(Value::Array(v)) => v,
            _ => Vec::new(),
        };
        let next = page
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(String::from);
        Ok((items, next))
    }

    /// Every item of a collection, page after page.
    pub(super) async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
        items_key: &str,
    ) -> Result<Vec<Value>, GoogleError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (items, next) = self.page(path, query, items_key, token.as_deref()).await?;
            all.extend(items);
            match next {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok(all),
            }
        }
    }
}

impl Client {
    /// A Directory API call for tools outside the actions (`roster demo` lets a user join):
    /// `path` relative to the base URL, e.g. `/admin/directory/v1/users`.
    pub async fn directory(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ActionError> {
        self.call(method, path, &[], body)
            .await
            .map_err(GoogleError::into_action)
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(status: u16, body: Value) -> GoogleError {
        let (reason, message) = parse_error(status, &body);
        GoogleError {
            status,
            reason,
            message,
            retry_after: None,
            call: "GET /admin/directory/v1/users/x".into(),
        }
    }

    fn envelope(code: u16, reason: &str, message: &str) -> Value {
        json!({"error": {"errors": [{"domain": "global", "reason": reason, "message": message}],
                         "code": code, "message": message}})
    }

    #[test]
    fn the_envelope_gives_reason_and_message() {
        let e = error(
            404,
            envelope(404, "notFound", "Resource Not Found: userKey"),
        );
        assert!(e.is_not_found() && !e.is_transient());
        assert_eq!(e.reason, "notFound");
        assert_eq!(
            e.to_string(),
            "Google GET /admin/directory/v1/users/x answered 404 notFound: Resource Not Found: userKey"
        );
        let e = error(400, json!("<html>bad gateway</html>"));
        assert_eq!(
            (e.reason.as_str(), e.message.as_str()),
            ("unknown", "<html>bad gateway</html>")
        );
    }

    #[test]
    fn throttling_and_server_errors_are_transient_other_4xx_permanent() {
        for (status, reason) in [
            (429, "rateLimitExceeded"),
            (403, "userRateLimitExceeded"),
            (403, "quotaExceeded"),
            (503, "backendError"),
            (500, "unknown"),
            (408, "unknown"),
        ] {
            let e = error(status, envelope(status, reason, "slow down"));
            assert!(e.is_transient(), "{status} {reason}");
            assert!(matches!(e.into_action(), ActionError::Transient { .. }));
        }
        for (status, reason) in [
            (403, "forbidden"),
            (400, "badRequest"),
            (409, "duplicate"),
            (404, "notFound"),
            (401, "authError"),
        ] {
            let e = error(status, envelope(status, reason, "no"));
            assert!(!e.is_transient(), "{status} {reason}");
            let ActionError::Permanent(m) = e.into_action() else {
                panic!("{status} {reason} must be permanent")
            };
            assert!(m.contains(reason) && m.contains(&status.to_string()), "{m}");
        }
    }
}
