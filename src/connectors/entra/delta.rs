//! Change tracking for the Entra poller (Graph delta query: `/users/delta`, `/groups/delta`;
//! learn.microsoft.com/graph/delta-query-overview). One page at a time, so the caller can store
//! the link it needs next after each page and resume there after a restart. A token Graph no
//! longer knows (`410 Gone`, or the code `syncStateNotFound` / `resyncRequired`, which Graph
//! sends with 400 for expired identity delta tokens) is told apart from other failures: the
//! caller must start a full round again.

use reqwest::Method;
use serde_json::Value;

use super::graph::{segment, Body, GraphError};
use super::Client;

/// One page of a delta round.
#[derive(Debug, Clone)]
pub struct DeltaPage {
    pub items: Vec<Value>,
    /// `@odata.nextLink`: more pages in this round.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: the round is over; the link for the next one.
    pub delta_link: Option<String>,
}

/// Why a delta page could not be read.
#[derive(Debug, Clone)]
pub enum DeltaFailure {
    /// The token is expired or unknown: start a full round.
    Expired(GraphError),
    Failed(GraphError),
}

impl std::fmt::Display for DeltaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeltaFailure::Expired(e) => write!(f, "the delta token is no longer valid: {e}"),
            DeltaFailure::Failed(e) => e.fmt(f),
        }
    }
}

/// Whether Graph says the delta token must be thrown away.
pub fn is_expired(e: &GraphError) -> bool {
    e.status == 410
        || ["syncStateNotFound", "resyncRequired", "syncStateInvalid"]
            .iter()
            .any(|c| e.code.eq_ignore_ascii_case(c))
}

impl Client {
    /// One page: `link` is a path relative to `/v1.0` (the first request of a full round, e.g.
    /// `/users/delta?$select=…`) or a next/delta link as Graph gave it.
    pub async fn delta_page(
        &self,
        link: &str,
        page_size: Option<u32>,
    ) -> Result<DeltaPage, DeltaFailure> {
        let prefer = page_size.map(|n| format!("odata.maxpagesize={n}"));
        let headers: Vec<(&str, &str)> = prefer.iter().map(|p| ("Prefer", p.as_str())).collect();
        let reply = self
            .call_with(Method::GET, link, &[], Body::None, &headers)
            .await
            .map_err(|e| {
                if is_expired(&e) {
                    DeltaFailure::Expired(e)
                } else {
                    DeltaFailure::Failed(e)
                }
            })?;
        let mut body = reply.body;
        let items = match body.get_mut("value").map(Value::take) {
            Some(Value::Array(v)) => v,
            _ => Vec::new(),
        };
        let link = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
        Ok(DeltaPage {
            items,
            next_link: link("@odata.nextLink"),
            delta_link: link("@odata.deltaLink"),
        })
    }

    /// A user's `select`ed properties, or `None` when there is no such user.
    pub async fn user_properties(
        &self,
        id: &str,
        select: &str,
    ) -> Result<Option<Value>, GraphError> {
        match self
            .get(&format!("/users/{}", segment(id)), &[("$select", select)])
            .await
        {
            Ok(u) => Ok(Some(u)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(status: u16, code: &str) -> GraphError {
        GraphError {
            status,
            code: code.into(),
            message: String::new(),
            retry_after: None,
            call: "GET /users/delta".into(),
        }
    }

    #[test]
    fn gone_and_sync_state_codes_mean_start_over() {
        assert!(is_expired(&e(410, "Gone")));
        assert!(is_expired(&e(400, "syncStateNotFound")));
        assert!(is_expired(&e(400, "SyncStateNotFound")));
        assert!(is_expired(&e(400, "resyncRequired")));
        assert!(!is_expired(&e(400, "Request_BadRequest")));
        assert!(!is_expired(&e(503, "serviceNotAvailable")));
    }
}
