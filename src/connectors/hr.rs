//! An HR system's JSON API over an `http` connection, for writing data back to the employee
//! record (the corporate e-mail, the account id, …).
//!
//! `hr.update_employee` (`employee`: the id; `set`: the JSON body; `method`: PATCH (default),
//! PUT or POST; `path`: default `/employees/{employee}`, where `{employee}` is replaced by the
//! escaped id; `expect`: the statuses that count as success, default any 2xx) → `status` and
//! `body` (the API's answer). PUT and PATCH set values, so executing the step again after a
//! crash or a retry writes the same values again and is harmless.
//!
//! The connection's `auth` (bearer or basic) and `headers` go with every request. Network
//! errors, 408, 429 and 5xx are transient (retried honouring `Retry-After`); other answers
//! outside `expect` fail the step with the API's own message.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::Method;
use serde_json::{json, Value};

use super::args::ArgMap;
use super::{retry_after, segment, transient, Limiter};
use crate::actions::ActionError;
use crate::config::{HttpAuth, HttpConfig, Limits};
use crate::plan::preview::{field_changes, Effect, Preview};
use crate::secret::Secret;

const DEFAULT_LIMITS: Limits = Limits {
    requests_per_second: 10.0,
    concurrency: 8,
};

/// The `hr.*` actions and the arguments each takes: (name, required).
pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[(
    "hr.update_employee",
    &[
        ("employee", true),
        ("set", true),
        ("method", false),
        ("path", false),
        ("expect", false),
    ],
)];

#[derive(Debug)]
enum Auth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// A client for one JSON API.
#[derive(Debug)]
pub struct Client {
    base: String,
    auth: Option<Auth>,
    headers: HeaderMap,
    http: reqwest::Client,
    limiter: Limiter,
}

impl Client {
    pub fn new(
        config: &HttpConfig,
        base_dir: &Path,
        http: reqwest::Client,
    ) -> Result<Client, String> {
        let auth = match &config.auth {
            None => None,
            Some(HttpAuth::Bearer(r)) => Some(Auth::Bearer(
                r.resolve(base_dir)
                    .map_err(|e| format!("auth.bearer: {e}"))?,
            )),
            Some(HttpAuth::Basic(b)) => Some(Auth::Basic {
                username: b.username.clone(),
                password: b
                    .password
                    .resolve(base_dir)
                    .map_err(|e| format!("auth.basic.password: {e}"))?,
            }),
        };
        Ok(Client {
            base: config.base_url.trim_end_matches('/').to_string(),
            auth,
            headers: headers(&config.headers)?,
            http,
            limiter: Limiter::new(config.limits.unwrap_or(DEFAULT_LIMITS)),
        })
    }

    /// Executes the action `name` (one of `ACTIONS`).
    pub async fn execute(&self, name: &str, args: &ArgMap) -> Result<Value, ActionError> {
        match name {
            "hr.update_employee" => self.update_employee(args).await,
            other => Err(ActionError::permanent(format!(
                "unknown HR action '{other}'"
            ))),
        }
    }

    async fn update_employee(&self, args: &ArgMap) -> Result<Value, ActionError> {
        let w = Write::read(args)?;
        let expect = expected(args)?;
        let (status, wait, answer) = self.send(w.method.clone(), &w.path, Some(&w.body)).await?;
        let call = format!("HR {} {}", w.method, w.path);
        let ok = match &expect {
            Some(list) => list.contains(&status),
            None => (200..300).contains(&status),
        };
        if ok {
            return Ok(json!({ "status": status, "body": answer }));
        }
        let message = format!("{call} answered {status}: {}", api_message(&answer));
        if matches!(status, 408 | 429) || status >= 500 {
            Err(transient(message, wait))
        } else {
            Err(ActionError::Permanent(message))
        }
    }
}

/// What `hr.update_employee` sends.
struct Write {
    method: Method,
    /// Relative to the base URL, the employee's id escaped.
    path: String,
    body: Value,
}

impl Write {
    fn read(args: &ArgMap) -> Result<Write, ActionError> {
        let employee = args.str("employee")?;
        let body = Value::Object(args.map("set")?);
        let method = match args
            .opt_str("method")?
            .unwrap_or("PATCH")
            .to_ascii_uppercase()
            .as_str()
        {
            "PATCH" => Method::PATCH,
            "PUT" => Method::PUT,
            "POST" => Method::POST,
            other => {
                return Err(ActionError::permanent(format!(
                    "method '{other}': use PATCH, PUT or POST"
                )))
            }
        };
        let template = args.opt_str("path")?.unwrap_or("/employees/{employee}");
        if !template.starts_with('/') {
            return Err(ActionError::permanent(format!(
                "path '{template}' must start with / (it is relative to the connection's base_url)"
            )));
        }
        Ok(Write {
            method,
            path: template.replace("{employee}", &segment(employee)),
            body,
        })
    }
}

impl Client {
    /// One request with the connection's auth and headers: the status, `Retry-After` and the
    /// body (JSON when it parses). Only a lost request or response is an error (transient).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Option<std::time::Duration>, Value), ActionError> {
        let url = format!("{}{path}", self.base);
        super::read_only::check(method.as_str(), &url).map_err(ActionError::Permanent)?;
        let call = format!("HR {method} {path}");
        let mut req = self.http.request(method, url).headers(self.headers.clone());
        if let Some(b) = body {
            req = req.json(b);
        }
        req = match &self.auth {
            None => req,
            Some(Auth::Bearer(t)) => req.bearer_auth(t.expose()),
            Some(Auth::Basic { username, password }) => {
                req.basic_auth(username, Some(password.expose()))
            }
        };
        let network =
            |e: reqwest::Error| transient(format!("{call} failed: {}", e.without_url()), None);
        let _permit = self.limiter.acquire().await;
        let resp = req.send().await.map_err(network)?;
        let status = resp.status().as_u16();
        let wait = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let bytes = resp.bytes().await.map_err(network)?;
        let answer: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, wait, answer))
    }

    /// The preview of `hr.update_employee` (`roster plan`): the record is read at the same path
    /// and compared with what the write would merge into it. A POST, or a record that cannot
    /// be read, is reported as the call it would be.
    pub async fn preview(&self, name: &str, args: &ArgMap) -> Result<Option<Preview>, ActionError> {
        if name != "hr.update_employee" {
            return Ok(None);
        }
        let w = Write::read(args)?;
        let employee = args.str("employee")?.to_string();
        let outputs = json!({ "status": null, "body": null });
        let fields: Vec<&String> = w
            .body
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .collect();
        let call = |why: String| {
            let fields = fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Preview::new(
                Effect::Call,
                format!("{} {} ({fields}){why}", w.method, w.path),
                outputs.clone(),
            )
            .target(employee.clone())
            .detail(json!({ "method": w.method.as_str(), "path": w.path, "body": w.body }))
        };
        if w.method == Method::POST {
            return Ok(Some(call(String::new())));
        }
        let (status, wait, current) = self.send(Method::GET, &w.path, None).await?;
        let read = format!("HR GET {} answered {status}", w.path);
        match status {
            200..=299 if current.is_object() => {}
            404 => {
                return Err(ActionError::permanent(format!(
                    "{read}: {} (the {} would fail)",
                    api_message(&current),
                    w.method
                )))
            }
            408 | 429 | 500..=599 => {
                return Err(transient(
                    format!("{read}: {}", api_message(&current)),
                    wait,
                ))
            }
            _ => {
                return Ok(Some(call(format!(
                    "; the record could not be read: {read}"
                ))))
            }
        }
        let merged = match w.method {
            Method::PUT => w.body.clone(),
            _ => merge_patch(&current, &w.body),
        };
        let wanted = w
            .body
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| (k, merged.get(k).unwrap_or(&Value::Null)));
        let changes = field_changes(&current, wanted);
        let preview = if changes.is_empty() {
            Preview::new(
                Effect::Unchanged,
                format!(
                    "employee {employee} already has these values ({} sent again)",
                    w.method
                ),
                outputs,
            )
        } else {
            Preview::new(
                Effect::Change,
                format!("update employee {employee}"),
                outputs,
            )
            .changes(changes)
        };
        Ok(Some(preview.target(employee)))
    }
}

/// `patch` merged into `target` as a JSON merge patch (RFC 7386): objects merge, `null`
/// removes.
fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// `expect`: a status or a list of them.
fn expected(args: &ArgMap) -> Result<Option<Vec<u16>>, ActionError> {
    let bad =
        || ActionError::permanent("argument 'expect' must be a status code or a list of them");
    let one = |v: &Value| -> Result<u16, ActionError> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(bad),
            Value::String(s) => s.trim().parse().map_err(|_| bad()),
            _ => Err(bad()),
        }
    };
    match args.value("expect") {
        None => Ok(None),
        Some(Value::Array(items)) => items.iter().map(one).collect::<Result<_, _>>().map(Some),
        Some(v) => Ok(Some(vec![one(v)?])),
    }
}

/// The API's own words for an error: `error.message`, `message`, `error`, `detail` or `title`,
/// else the body (shortened).
fn api_message(body: &Value) -> String {
    let pick = [
        body.pointer("/error/message"),
        body.get("message"),
        body.get("error"),
        body.get("detail"),
        body.get("title"),
    ];
    for v in pick.into_iter().flatten() {
        if let Some(s) = v.as_str() {
            return s.to_string();
        }
    }
    match body {
        Value::Null => "no body".into(),
        Value::String(s) => s.chars().take(300).collect(),
        other => other.to_string().chars().take(300).collect(),
    }
}

fn headers(map: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (k, v) in map {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("headers: '{k}' is not a valid header name"))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| format!("headers.{k}: the value is not a valid header value"))?;
        out.insert(name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apis_own_message_is_used() {
        assert_eq!(
            api_message(&json!({"error": {"message": "no such employee"}})),
            "no such employee"
        );
        assert_eq!(api_message(&json!({"detail": "locked"})), "locked");
        assert_eq!(api_message(&Value::Null), "no body");
    }

    #[test]
    fn expect_takes_one_status_or_a_list() {
        let args =
            |v: Value| ArgMap(serde_json::from_value(json!({ "expect": v })).unwrap_or_default());
        assert_eq!(expected(&args(json!(204))).ok().flatten(), Some(vec![204]));
        assert_eq!(
            expected(&args(json!([200, "204"]))).ok().flatten(),
            Some(vec![200, 204])
        );
        assert!(expected(&args(json!("two hundred"))).is_err());
        assert_eq!(expected(&ArgMap::default()).ok().flatten(), None);
    }
}
