//! The record of every external call a step makes: the audit trail of a run.
//!
//! The executor runs each action inside `collect`, which gives the step's task a call log; every
//! place that sends a request to another system (the Graph client, its token endpoint,
//! `http.request`, and any connector added later) calls `record` once per response or network
//! failure. The log is task-local, so connector clients shared by all runs need no per-run
//! plumbing, and a call made outside a step (a test, a trigger) records nothing. What is kept is
//! safe to show anyone: method, URL without query, fragment or credentials, status and duration —
//! never headers or bodies.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One request a step sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalCall {
    /// The connection's name (`entra`), or `http` for `http.request`.
    pub connection: String,
    pub method: String,
    /// Scheme, host, port and path only.
    pub url: String,
    /// The HTTP status; 0 when no response arrived (network error, timeout).
    pub status: u16,
    pub duration_ms: i64,
    /// When it was sent (Unix milliseconds).
    pub at: i64,
}

type Log = Arc<Mutex<Vec<ExternalCall>>>;

/// One stored call: the call and the step attempt that made it.
#[derive(Serialize)]
struct Stored<'a> {
    attempt: i64,
    #[serde(flatten)]
    call: &'a ExternalCall,
}

/// The calls of one execution of a step as the JSON array stored with the step; `None` for
/// none.
pub fn to_json(calls: &[ExternalCall], attempt: i64) -> Option<String> {
    if calls.is_empty() {
        return None;
    }
    let stored: Vec<Stored<'_>> = calls.iter().map(|call| Stored { attempt, call }).collect();
    serde_json::to_string(&stored).ok()
}

tokio::task_local! {
    static CALLS: Log;
}

/// Runs `action` with a fresh call log and returns its output with the calls it recorded.
pub async fn collect<F: Future>(action: F) -> (F::Output, Vec<ExternalCall>) {
    let log: Log = Arc::default();
    let out = CALLS.scope(log.clone(), action).await;
    let calls = match log.lock() {
        Ok(mut calls) => std::mem::take(&mut *calls),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    (out, calls)
}

/// Records one call that started at `started` (a no-op outside `collect`).
pub fn record(connection: &str, method: &str, url: &str, status: u16, started: Instant) {
    let _ = CALLS.try_with(|log| {
        let duration = started.elapsed();
        let call = ExternalCall {
            connection: connection.to_string(),
            method: method.to_string(),
            url: redact(url),
            status,
            duration_ms: duration.as_millis() as i64,
            at: crate::clock::now_ms() - duration.as_millis() as i64,
        };
        if let Ok(mut calls) = log.lock() {
            calls.push(call);
        }
    });
}

/// `url` without its query, fragment and user info: those may carry credentials. Plain string
/// work, not a URL parser: this runs once per call on the hot path.
pub fn redact(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &url[scheme_end + at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_query_fragment_and_credentials() {
        assert_eq!(
            redact("https://u:p@hr.example.com:8443/api/e/1?token=s3cr3t#x"),
            "https://hr.example.com:8443/api/e/1"
        );
        assert_eq!(redact("not a url?key=1"), "not a url");
        assert_eq!(redact("http://h/a@b?x"), "http://h/a@b");
        assert_eq!(redact("http://tok@h"), "http://h");
    }

    #[tokio::test]
    async fn calls_are_collected_per_scope_and_ignored_outside() {
        record("http", "GET", "http://a/", 200, Instant::now());
        let ((), calls) = collect(async {
            record(
                "entra",
                "POST",
                "http://g/v1.0/users?$x=1",
                201,
                Instant::now(),
            );
        })
        .await;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].url, "http://g/v1.0/users");
        assert_eq!(calls[0].status, 201);
    }
}
