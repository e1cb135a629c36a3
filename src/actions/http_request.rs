//! `http.request`: one call to a JSON API (an HR system's write-back, a webhook, any REST API).
//!
//! Outputs `status`, `headers` (lower-case names) and `body` (parsed JSON, or text). A status in
//! `expect` (default: any 2xx) succeeds. 408, 425, 429 and 5xx are transient and honour
//! `Retry-After`; any other status fails the step at once with the server's message. Network
//! errors and timeouts are transient.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::Method;
use serde_json::{Map, Value};

use super::{ActionError, Outcome, StepContext};
use crate::connectors::{error_chain, retry_after};
use crate::playbook::args::Args;
use crate::script::ValueTemplate;

/// Responses larger than this are cut off rather than held in memory and stored.
const MAX_BODY: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct HttpRequest {
    method: Method,
    url: ValueTemplate,
    headers: Option<ValueTemplate>,
    query: Option<ValueTemplate>,
    json: Option<ValueTemplate>,
    body: Option<ValueTemplate>,
    /// Statuses that count as success; empty means any 2xx.
    expect: Vec<u16>,
}

impl HttpRequest {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<HttpRequest> {
        let method = args.choice(
            "method",
            &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
            "GET",
        );
        let url = args.string("url", true);
        let headers = args.map("headers", false);
        let query = args.map("query", false);
        let json = args.template("json", false);
        let body = args.string("body", false);
        if json.is_some() && body.is_some() {
            args.error("body", "give either 'json' or 'body', not both");
        }
        let mut expect = Vec::new();
        for s in args.int_list("expect").unwrap_or_default() {
            match u16::try_from(s) {
                Ok(s) if (100..600).contains(&s) => expect.push(s),
                _ => args.error("expect", format!("{s} is not an HTTP status")),
            }
        }
        Some(HttpRequest {
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            url: url?,
            headers,
            query,
            json,
            body,
            expect,
        })
    }

    /// Renders the request from the run's variables.
    pub fn prepare(&self, cx: &StepContext<'_>) -> Result<Call, ActionError> {
        let render = |t: &ValueTemplate| cx.scripting.render(t, &cx.vars);
        let url = match render(&self.url)? {
            Value::String(s) => s,
            other => {
                return Err(ActionError::permanent(format!(
                    "url rendered to {other}, not a string"
                )))
            }
        };
        let headers = match &self.headers {
            Some(h) => header_map(&render(h)?)?,
            None => HeaderMap::new(),
        };
        let query = match &self.query {
            Some(q) => object(&render(q)?, "query")?
                .iter()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
            None => Vec::new(),
        };
        let body = match (&self.json, &self.body) {
            (Some(j), _) => Body::Json(render(j)?),
            (None, Some(b)) => Body::Text(text(&render(b)?)),
            (None, None) => Body::None,
        };
        Ok(Call {
            method: self.method.clone(),
            url,
            headers,
            query,
            body,
            expect: self.expect.clone(),
        })
    }
}

/// A rendered request, ready to send.
#[derive(Debug)]
pub struct Call {
    method: Method,
    url: String,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Body,
    expect: Vec<u16>,
}

#[derive(Debug)]
enum Body {
    None,
    Json(Value),
    Text(String),
}

impl Call {
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL without its query string (which may carry credentials).
    pub fn url(&self) -> &str {
        redact_query(&self.url)
    }

    pub async fn send(self, http: &reqwest::Client) -> Result<Outcome, ActionError> {
        let mut req = http
            .request(self.method.clone(), &self.url)
            .headers(self.headers);
        if !self.query.is_empty() {
            req = req.query(&self.query);
        }
        req = match self.body {
            Body::Json(v) => req.json(&v),
            Body::Text(t) => req.body(t),
            Body::None => req,
        };
        let what = format!("{} {}", self.method, redact_query(&self.url));
        crate::connectors::read_only::check(self.method.as_str(), &self.url)
            .map_err(ActionError::Permanent)?;
        let sent = std::time::Instant::now();
        let resp = req.send().await;
        let status = resp.as_ref().map_or(0, |r| r.status().as_u16());
        crate::connectors::calls::record("http", self.method.as_str(), &self.url, status, sent);
        let resp = resp.map_err(|e| ActionError::Transient {
            message: format!("{what} failed: {}", error_chain(&e)),
            retry_after: None,
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let headers: Map<String, Value> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    Value::String(v.to_str().unwrap_or("").to_string()),
                )
            })
            .collect();
        let is_json = headers
            .get("content-type")
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains("json"));
        let bytes = resp.bytes().await.map_err(|e| ActionError::Transient {
            message: format!("{what}: reading the response failed: {}", error_chain(&e)),
            retry_after: None,
        })?;
        let bytes = &bytes[..bytes.len().min(MAX_BODY)];
        let body = if bytes.is_empty() {
            Value::Null
        } else if is_json {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        };
        let ok = if self.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect.contains(&status)
        };
        if ok {
            let mut out = Map::new();
            out.insert("status".into(), Value::from(status));
            out.insert("headers".into(), Value::Object(headers));
            out.insert("body".into(), body);
            return Ok(Outcome::Done(Value::Object(out)));
        }
        let message = format!("{what} answered {status}: {}", excerpt(&body));
        if matches!(status, 408 | 425 | 429) || status >= 500 {
            Err(ActionError::Transient {
                message,
                retry_after,
            })
        } else {
            Err(ActionError::Permanent(message))
        }
    }
}

fn object<'v>(v: &'v Value, what: &str) -> Result<&'v Map<String, Value>, ActionError> {
    v.as_object()
        .ok_or_else(|| ActionError::permanent(format!("{what} rendered to {v}, not a map")))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn header_map(v: &Value) -> Result<HeaderMap, ActionError> {
    let mut map = HeaderMap::new();
    for (k, v) in object(v, "headers")? {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ActionError::permanent(format!("'{k}' is not a valid header name")))?;
        let value = HeaderValue::from_str(&text(v)).map_err(|_| {
            ActionError::permanent(format!(
                "the value of header '{k}' is not valid in a header"
            ))
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// The server's message, shortened to what fits an error line.
fn excerpt(body: &Value) -> String {
    let s = match body {
        Value::Null => return "(no body)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 500 {
        format!("{}…", s.chars().take(500).collect::<String>())
    } else {
        s
    }
}

/// Query strings often carry keys; error messages and logs show the path only.
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
