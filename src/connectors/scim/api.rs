//! One SCIM call (limiter, credentials, `application/scim+json`, the record of external calls),
//! the SCIM error body read into `ScimCallError`, the provider's `ServiceProviderConfig`, and
//! listing a collection page by page.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;

use super::{Auth, Client};
use crate::actions::ActionError;
use crate::connectors::{calls, error_chain, retry_after};

const SCIM_JSON: &str = "application/scim+json";

/// The page size asked for when the provider states no maximum.
const PAGE: usize = 100;

/// A listing stops after this many pages (a provider that never says it is done).
const MAX_PAGES: usize = 10_000;

/// A call the provider did not answer with success.
#[derive(Debug, Clone)]
pub struct ScimCallError {
    /// 0 when no response arrived (network error, timeout).
    pub status: u16,
    /// The SCIM error's `scimType` (`uniqueness`, `invalidValue`, `mutability`, …).
    pub scim_type: Option<String>,
    pub detail: String,
    pub retry_after: Option<Duration>,
    /// `connection: METHOD /path`, for messages.
    pub call: String,
}

impl ScimCallError {
    /// Network errors, 408, 412 (the resource changed since it was read: read it again), 429
    /// and 5xx.
    pub fn is_transient(&self) -> bool {
        matches!(self.status, 0 | 408 | 412 | 429) || self.status >= 500
    }

    pub fn is_conflict(&self) -> bool {
        self.status == 409
    }

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

impl std::fmt::Display for ScimCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status, &self.scim_type) {
            (0, _) => write!(f, "SCIM {} failed: {}", self.call, self.detail),
            (s, Some(t)) => write!(f, "SCIM {} answered {s} {t}: {}", self.call, self.detail),
            (s, None) => write!(f, "SCIM {} answered {s}: {}", self.call, self.detail),
        }
    }
}

/// What the provider supports (its `ServiceProviderConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub patch: bool,
    pub filter: bool,
    pub etag: bool,
    pub bulk: bool,
    /// `filter.maxResults`: the most resources one answer holds.
    pub max_results: Option<usize>,
}

impl Features {
    /// What a provider without a readable `ServiceProviderConfig` is assumed to do: what
    /// RFC 7644 requires of every provider and most implement.
    pub const ASSUMED: Features = Features {
        patch: true,
        filter: true,
        etag: false,
        bulk: false,
        max_results: None,
    };

    fn read(spc: &Value) -> Features {
        let supported = |key: &str, default: bool| {
            crate::scim::path::get_ci(spc, key)
                .and_then(|v| crate::scim::path::get_ci(v, "supported"))
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        Features {
            patch: supported("patch", true),
            filter: supported("filter", true),
            etag: supported("etag", false),
            bulk: supported("bulk", false),
            max_results: crate::scim::path::get_ci(spc, "filter")
                .and_then(|f| crate::scim::path::get_ci(f, "maxResults"))
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(|n| n as usize),
        }
    }
}

/// `detail` (or a message) and `scimType` of an error body.
fn error_parts(status: u16, body: &Value) -> (Option<String>, String) {
    let get = |k: &str| crate::scim::path::get_ci(body, k).and_then(Value::as_str);
    let scim_type = get("scimType").map(String::from);
    let detail = get("detail")
        .or_else(|| get("message"))
        .or_else(|| get("error"))
        .map(String::from)
        .unwrap_or_else(|| match body {
            Value::Null => format!("HTTP {status} without a body"),
            Value::String(s) => s.chars().take(300).collect(),
            other => other.to_string().chars().take(300).collect(),
        });
    (scim_type, detail)
}

impl Client {
    /// Calls `path` (relative to the base URL, starting with `/`): the answer's JSON, or `Null`
    /// for an empty body (a 204).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Value, ScimCallError> {
        let url = format!("{}{path}", self.base);
        let fail = |status: u16, scim_type: Option<String>, detail: String| ScimCallError {
            status,
            scim_type,
            detail,
            retry_after: None,
            call: format!("{}: {method} {path}", self.name),
        };
        let mut req = self
            .http
            .request(method.clone(), &url)
            .headers(self.headers.clone())
            .header(ACCEPT, format!("{SCIM_JSON}, application/json"));
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, SCIM_JSON).body(b.to_string());
        }
        if let Some(v) = if_match {
            req = req.header(IF_MATCH, v);
        }
        req = match &self.auth {
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password.expose())),
        };
        let (client, request) = req.build_split();
        let request = request.map_err(|e| fail(0, None, error_chain(&e)))?;
        let sent_url = request.url().to_string();
        let _permit = self.limiter.acquire().await;
        let sent = std::time::Instant::now();
        let resp = client.execute(request).await;
        let status = resp.as_ref().map_or(0, |r| r.status().as_u16());
        calls::record(&self.name, method.as_str(), &sent_url, status, sent);
        let resp = resp.map_err(|e| fail(0, None, error_chain(&e.without_url())))?;
        let wait = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| fail(0, None, error_chain(&e.without_url())))?;
        let mut body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if (200..300).contains(&status) {
            // A provider that sends the version only as a header: keep it with the resource.
            if let (Some(t), Some(obj)) = (etag, body.as_object_mut()) {
                let meta = obj.entry("meta").or_insert_with(|| serde_json::json!({}));
                if let Some(m) = meta.as_object_mut() {
                    m.entry("version").or_insert(Value::String(t));
                }
            }
            return Ok(body);
        }
        let (scim_type, detail) = error_parts(status, &body);
        let mut e = fail(status, scim_type, detail);
        e.retry_after = wait;
        Err(e)
    }

    /// The provider's features, read once. A provider without a readable configuration (404,
    /// 501, not JSON) is assumed to do what RFC 7644 requires; refused credentials and
    /// transient failures are errors (and nothing is cached).
    pub(super) async fn features(&self) -> Result<Features, ScimCallError> {
        self.features
            .get_or_try_init(|| async {
                match self
                    .call(Method::GET, "/ServiceProviderConfig", &[], None, None)
                    .await
                {
                    Ok(body) if body.is_object() => Ok(Features::read(&body)),
                    Ok(_) => Ok(Features::ASSUMED),
                    Err(e) if e.is_transient() || matches!(e.status, 401 | 403) => Err(e),
                    Err(_) => Ok(Features::ASSUMED),
                }
            })
            .await
            .copied()
    }

    /// Every resource of a collection (`/Users`, `/Groups`) that `filter` selects, page after
    /// page.
    pub(super) async fn list_all(
        &self,
        path: &str,
        filter: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<Vec<Value>, ScimCallError> {
        let features = self.features().await?;
        let size = features.max_results.unwrap_or(PAGE).min(PAGE).to_string();
        let mut all: Vec<Value> = Vec::new();
        let mut start = 1usize;
        for _ in 0..MAX_PAGES {
            let start_text = start.to_string();
            let mut q: Vec<(&str, &str)> = vec![("startIndex", &start_text), ("count", &size)];
            if let Some(f) = filter {
                q.push(("filter", f));
            }
            q.extend_from_slice(extra);
            let page = self.call(Method::GET, path, &q, None, None).await?;
            let items = crate::scim::path::get_ci(&page, "Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = crate::scim::path::get_ci(&page, "totalResults")
                .and_then(Value::as_u64)
                .map_or(0, |n| n as usize);
            let got = items.len();
            all.extend(items);
            if got == 0 || all.len() >= total {
                return Ok(all);
            }
            start += got;
        }
        Ok(all)
    }
}

/// A SCIM string literal (JSON string syntax).
pub(super) fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_service_provider_config_decides_the_features() {
        let f = Features::read(&json!({
            "patch": {"supported": false}, "filter": {"supported": true, "maxResults": 50},
            "etag": {"supported": true}, "bulk": {"supported": true, "maxOperations": 10},
        }));
        assert_eq!(
            f,
            Features {
                patch: false,
                filter: true,
                etag: true,
                bulk: true,
                max_results: Some(50)
            }
        );
        assert_eq!(Features::read(&json!({})), Features::ASSUMED);
    }

    #[test]
    fn scim_errors_keep_their_type_and_detail() {
        let (t, d) = error_parts(
            409,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409", "scimType": "uniqueness", "detail": "userName taken"}),
        );
        assert_eq!(
            (t.as_deref(), d.as_str()),
            (Some("uniqueness"), "userName taken")
        );
        let e = ScimCallError {
            status: 409,
            scim_type: t,
            detail: d,
            retry_after: None,
            call: "slack: POST /Users".into(),
        };
        assert!(!e.is_transient() && e.is_conflict());
        assert_eq!(
            e.to_string(),
            "SCIM slack: POST /Users answered 409 uniqueness: userName taken"
        );
        for s in [0, 408, 412, 429, 500, 503] {
            let e = ScimCallError {
                status: s,
                ..e.clone()
            };
            assert!(
                matches!(e.into_action(), ActionError::Transient { .. }),
                "{s}"
            );
        }
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
