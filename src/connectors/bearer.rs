//! One authenticated call, shared by the connectors that use OAuth bearer tokens: the token
//! comes from the connection's cache; a 401 drops it and the call is made once more with a
//! fresh one (an expired or revoked token), and the answer is read into status, body and
//! `Retry-After`. What the body's error means is the connector's business.

use std::future::Future;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;
use serde_json::Value;

use super::{error_chain, retry_after, Fetched, TokenCache};

/// An answer, whatever its status.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// JSON when it parses, else the text; `Null` when empty.
    pub body: Value,
}

/// The call got no answer.
#[derive(Debug)]
pub enum NoAnswer {
    /// No token: whether trying later can help, and the identity provider's message.
    Token { transient: bool, message: String },
    /// The request or the response failed on the way.
    Network(String),
    /// Not sent: a plan sends only reads (`read_only`).
    Refused(String),
}

impl NoAnswer {
    /// What a connector reports: status 0 when trying later can help, 401 for a refused
    /// credential; a short code; the message.
    pub fn parts(self) -> (u16, &'static str, String) {
        match self {
            NoAnswer::Token { transient, message } => {
                (if transient { 0 } else { 401 }, "token", message)
            }
            NoAnswer::Network(message) => (0, "network", message),
            NoAnswer::Refused(message) => (0, "read_only", message),
        }
    }
}

/// `method url` with the bearer token and the query: what every call builds first.
pub fn request(
    http: &reqwest::Client,
    method: &reqwest::Method,
    url: &str,
    token: &str,
    query: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let req = http.request(method.clone(), url).bearer_auth(token);
    if query.is_empty() {
        req
    } else {
        req.query(query)
    }
}

/// Sends `build(token)`; on a 401 renews the token once. Every request sent is recorded under
/// `connection` (see `calls`).
pub async fn send<F, Fut, B>(
    connection: &str,
    tokens: &TokenCache,
    fetch: F,
    build: B,
) -> Result<Answer, NoAnswer>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Fetched, (bool, String)>>,
    B: Fn(&str) -> reqwest::RequestBuilder,
{
    let mut renewed = false;
    loop {
        let token = tokens
            .get(&fetch)
            .await
            .map_err(|(transient, message)| NoAnswer::Token { transient, message })?;
        let (client, request) = build(token.expose()).build_split();
        let request = request.map_err(|e| NoAnswer::Network(error_chain(&e)))?;
        let (method, url) = (request.method().clone(), request.url().to_string());
        super::read_only::check(method.as_str(), &url).map_err(NoAnswer::Refused)?;
        let sent = std::time::Instant::now();
        let resp = client.execute(request).await;
        let status = resp.as_ref().map_or(0, |r| r.status().as_u16());
        super::calls::record(connection, method.as_str(), &url, status, sent);
        let resp = resp.map_err(|e| NoAnswer::Network(error_chain(&e)))?;
        if status == 401 && !renewed {
            tokens.invalidate(&token).await;
            renewed = true;
            continue;
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| NoAnswer::Network(error_chain(&e)))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        return Ok(Answer {
            status,
            retry_after,
            body,
        });
    }
}
