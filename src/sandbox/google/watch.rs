//! Push notifications (CONTRACT §3): `users.watch` stores a channel and sends its `sync`
//! message; every later user change POSTs the 4-field body to each live channel watching that
//! event, with the `X-Goog-*` headers, retrying on 5xx; `channels.stop` removes a channel.
//! Deliveries are collected under the state lock and sent after it is released.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use super::errors::{GoogleError, GoogleResult};
use super::model::{self, primary_email, Channel, User, Workspace};
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;

const DEFAULT_TTL_S: i64 = 7200;
const MAX_TTL_S: i64 = 172_800;
const EVENTS: &[&str] = &["add", "delete", "makeAdmin", "undelete", "update"];

#[derive(Debug, Clone, Copy)]
pub enum Event {
    Add,
    Delete,
    MakeAdmin,
    Undelete,
    Update,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Add => "add",
            Event::Delete => "delete",
            Event::MakeAdmin => "makeAdmin",
            Event::Undelete => "undelete",
            Event::Update => "update",
        }
    }
}

/// One notification to send.
pub struct Delivery {
    address: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

/// What an event message carries: not the user, only these four fields.
pub fn summary(u: &User) -> Value {
    json!({"kind": "admin#directory#user", "id": u.id, "etag": model::etag(), "primaryEmail": primary_email(u)})
}

fn headers(c: &Channel, state: &str) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("X-Goog-Channel-ID", c.id.clone()),
        ("X-Goog-Message-Number", c.message_number.to_string()),
        ("X-Goog-Resource-ID", c.resource_id.clone()),
        ("X-Goog-Resource-State", state.to_string()),
        ("X-Goog-Resource-URI", c.resource_uri.clone()),
    ];
    if let Some(when) = chrono::DateTime::from_timestamp_millis(c.expiration_ms) {
        h.push((
            "X-Goog-Channel-Expiration",
            when.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ));
    }
    if let Some(t) = &c.token {
        h.push(("X-Goog-Channel-Token", t.clone()));
    }
    h
}

/// Notifications for `event` on every live channel watching it; message numbers grow with gaps.
pub fn events(ws: &mut Workspace, event: Event, body: Value) -> Vec<Delivery> {
    let now = chrono::Utc::now().timestamp_millis();
    ws.channels.retain(|c| c.expiration_ms > now);
    ws.channels
        .iter_mut()
        .filter(|c| c.event.as_deref().is_none_or(|e| e == event.name()))
        .map(|c| {
            c.message_number += 1 + u64::from(fastrand::u8(0..40));
            Delivery {
                address: c.address.clone(),
                headers: headers(c, event.name()),
                body: Some(body.clone()),
            }
        })
        .collect()
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

/// Sends each delivery in the background, retrying 5xx answers a few times with backoff.
pub fn deliver(deliveries: Vec<Delivery>) {
    for d in deliveries {
        tokio::spawn(async move {
            for attempt in 0..4u32 {
                let mut req = client().post(&d.address);
                for (k, v) in &d.headers {
                    req = req.header(*k, v);
                }
                if let Some(b) = &d.body {
                    req = req
                        .header("content-type", "application/json; utf-8")
                        .body(b.to_string());
                }
                match req.send().await {
                    Ok(r) if !r.status().is_server_error() => return,
                    Ok(_) | Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await
                    }
                }
            }
            tracing::debug!(address = %d.address, "push notification not delivered");
        });
    }
}

fn number_or_string(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub fn watch(ctx: &Ctx) -> GoogleResult {
    let body = ctx
        .call
        .json()
        .filter(Value::is_object)
        .ok_or_else(|| GoogleError::bad_request("Invalid JSON payload received."))?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or_else(|| GoogleError::required("Required: channel id (at most 64 characters)"))?;
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "web_hook" && kind != "webhook" {
        return Err(GoogleError::invalid(format!(
            "Invalid Input: channel type '{kind}' (expected web_hook)"
        )));
    }
    let address = body
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| GoogleError::required("Required: channel address"))?;
    let http_ok = ctx.world.seed.google.allow_http_webhooks && address.starts_with("http://");
    if !address.starts_with("https://") && !http_ok {
        return Err(GoogleError::bad_request(format!(
            "WebHook callback must be HTTPS: {address}"
        )));
    }
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_string);
    if token.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(GoogleError::invalid(
            "Invalid Input: channel token longer than 256 characters",
        ));
    }
    let event = ctx.call.query("event").map(str::to_string);
    if let Some(e) = &event {
        if !EVENTS.contains(&e.as_str()) {
            return Err(GoogleError::invalid(format!(
                "Invalid value for: event = {e}"
            )));
        }
    }
    let scope = match (ctx.call.query("customer"), ctx.call.query("domain")) {
        (_, Some(d)) => format!("domain={d}"),
        (Some(c), None) => format!("customer={c}"),
        (None, None) => return Err(GoogleError::bad_request("Bad Request")),
    };
    let now = chrono::Utc::now().timestamp_millis();
    let ttl = number_or_string(body.get("params").and_then(|p| p.get("ttl")))
        .unwrap_or(DEFAULT_TTL_S)
        .clamp(1, MAX_TTL_S);
    let mut expiration = now + ttl * 1000;
    if let Some(requested) = number_or_string(body.get("expiration")) {
        expiration = expiration.min(requested);
    }
    let resource_uri = format!(
        "{}/admin/directory/v1/users?{scope}{}&alt=json",
        ctx.world.base_url,
        event
            .as_ref()
            .map(|e| format!("&event={e}"))
            .unwrap_or_default()
    );
    let channel = Channel {
        id: id.to_string(),
        resource_id: ids::opaque(20),
        resource_uri,
        token,
        address: address.to_string(),
        expiration_ms: expiration,
        event,
        message_number: 1,
    };
    let mut st = ctx.world.lock();
    if st.google.channels.iter().any(|c| c.id == channel.id) {
        return Err(GoogleError::bad_request(format!(
            "Channel id {} not unique",
            channel.id
        )));
    }
    let mut out = json!({
        "kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri, "expiration": channel.expiration_ms.to_string(),
    });
    if let Some(t) = &channel.token {
        out["token"] = json!(t);
    }
    let sync = Delivery {
        address: channel.address.clone(),
        headers: headers(&channel, "sync"),
        body: None,
    };
    st.google.channels.push(channel);
    drop(st);
    deliver(vec![sync]);
    Ok(Reply::ok(out))
}

pub fn stop(ctx: &Ctx) -> GoogleResult {
    let body = ctx.call.json().unwrap_or(Value::Null);
    let id = body.get("id").and_then(Value::as_str).unwrap_or("");
    let resource = body.get("resourceId").and_then(Value::as_str).unwrap_or("");
    let mut st = ctx.world.lock();
    let pos = st
        .google
        .channels
        .iter()
        .position(|c| c.id == id && c.resource_id == resource)
        .ok_or_else(|| GoogleError::not_found(&format!("Channel '{id}' not found for project")))?;
    st.google.channels.remove(pos);
    Ok(Reply::empty(axum::http::StatusCode::NO_CONTENT))
}
