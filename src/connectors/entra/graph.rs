//! One Graph call: limiter, bearer token (fetched, cached, renewed once on 401), the OData
//! error body parsed into `GraphError`, and paging through `@odata.nextLink`.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::Value;

use super::Client;
use crate::actions::ActionError;
use crate::connectors::bearer;
pub use crate::connectors::segment;

/// A Graph call that did not succeed: Graph's `error.code` and `error.message`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// 0 when no response arrived (network error, timeout).
    pub status: u16,
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// `METHOD /path` of the call, for messages.
    pub call: String,
}

impl GraphError {
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// Whether trying again later can help: no response, 408, 429 or 5xx.
    pub fn is_transient(&self) -> bool {
        self.status == 0 || matches!(self.status, 408 | 429) || self.status >= 500
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

    /// A 404 on an object that was just created is replication delay (CONTRACT §5.3): retried.
    pub fn replicating(self, what: &str) -> ActionError {
        if self.is_not_found() {
            ActionError::Transient {
                message: format!("{what} not found yet (directory replication): {self}"),
                retry_after: Some(Duration::from_secs(2)),
            }
        } else {
            self.into_action()
        }
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "Graph {} failed: {}", self.call, self.message)
        } else {
            write!(
                f,
                "Graph {} answered {} {}: {}",
                self.call, self.status, self.code, self.message
            )
        }
    }
}

/// A successful response.
#[derive(Debug)]
pub struct Reply {
    pub body: Value,
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// bulkUpload takes `application/scim+json` (CONTRACT §6).
    Scim(&'a Value),
}

impl Client {
    /// Calls `path` (relative to `/v1.0`, or an absolute `@odata.nextLink`).
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Reply, GraphError> {
        self.call_with(method, path, query, body, &[]).await
    }

    /// `call` with extra request headers (`Prefer: odata.maxpagesize=…` on a delta query).
    pub(super) async fn call_with(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, GraphError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.graph)
        };
        let call = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let fail = |status: u16, code: &str, message: String| GraphError {
            status,
            code: code.into(),
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
                let mut req = bearer::request(&self.http, &method, &url, token, query);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                match &body {
                    Body::None => req,
                    Body::Json(v) => req.json(v),
                    Body::Scim(v) => req
                        .header(CONTENT_TYPE, "application/scim+json")
                        .body(v.to_string()),
                }
            },
        )
        .await
        .map_err(|e| {
            let (status, code, message) = e.parts();
            fail(status, code, message)
        })?;
        if (200..300).contains(&answer.status) {
            return Ok(Reply { body: answer.body });
        }
        let error = answer.body.get("error");
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| answer.body.to_string());
        let mut e = fail(answer.status, code, message);
        e.retry_after = answer.retry_after;
        Err(e)
    }

    pub(super) async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        Ok(self.call(Method::GET, path, query, Body::None).await?.body)
    }

    /// Every item of a collection, following `@odata.nextLink` verbatim.
    pub(super) async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Value>, GraphError> {
        let mut items = Vec::new();
        let mut page = self.get(path, query).await?;
        loop {
            if let Some(Value::Array(v)) = page.get_mut("value").map(Value::take) {
                items.extend(v);
            }
            match page.get("@odata.nextLink").and_then(Value::as_str) {
                Some(next) => {
                    let next = next.to_string();
                    page = self.get(&next, &[]).await?;
                }
                None => return Ok(items),
            }
        }
    }
}

/// An OData string literal: quotes doubled (CONTRACT §2.2).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_segments_are_escaped() {
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        assert_eq!(
            segment("jane.o'neil@contoso.com"),
            "jane.o%27neil@contoso.com"
        );
        assert_eq!(segment("a/b#c"), "a%2Fb%23c");
    }
}
