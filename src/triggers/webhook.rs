//! Generic signed webhooks: `POST /hooks/{name}` for each `webhooks.<name>` in the config.
//!
//! A delivery is checked in this order: a known name (404), the size limit (413), the
//! signature — `sha256=<hex HMAC-SHA256 of the raw body>` in the configured header, compared in
//! constant time (401) — the JSON and its mapping onto a Person (400 naming the JSON path).
//! Then the person goes through `Engine::observe` like any source (joined / changed / left /
//! returned, idempotent), and a `webhook.received` event fires playbooks with
//! `on: - webhook: { name }`; its idempotency key is the body's hash, so a replayed delivery
//! starts nothing new. The answer is 202 with what the delivery produced. No bearer token: the
//! signature is the authentication.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::hook_error::HookError;
use super::mapping::PersonMapping;
use crate::clock::{now_ms, rfc3339};
use crate::config::Config;
use crate::engine::{dispatch, Engine};
use crate::playbook::Playbook;
use crate::secret::Secret;
use crate::store::{NewEvent, ObservationOutcome};

/// One configured webhook, ready to check deliveries.
struct Hook {
    secret: Secret,
    header: HeaderName,
    source: String,
    max_body: usize,
    mapping: PersonMapping,
}

struct Hooks {
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    by_name: HashMap<String, Hook>,
}

/// `POST /hooks/{name}` for every configured webhook. Fails when a secret cannot be read.
pub fn router(
    engine: Arc<Engine>,
    config: &Config,
    playbooks: Arc<Vec<Arc<Playbook>>>,
) -> anyhow::Result<Router> {
    let mut by_name = HashMap::new();
    for (name, w) in &config.webhooks {
        let secret = w
            .secret
            .resolve(&config.base_dir)
            .map_err(|e| anyhow::anyhow!("webhooks.{name}.secret: {e}"))?;
        let header = HeaderName::try_from(w.header.trim())
            .map_err(|e| anyhow::anyhow!("webhooks.{name}.header: {e}"))?;
        let mapping = PersonMapping::compile(&w.mapping)
            .map_err(|e| anyhow::anyhow!("webhooks.{name}.mapping.{e}"))?;
        by_name.insert(
            name.clone(),
            Hook {
                secret,
                header,
                source: w.source.clone().unwrap_or_else(|| name.clone()),
                max_body: w.max_body_bytes,
                mapping,
            },
        );
    }
    let state = Arc::new(Hooks {
        engine,
        playbooks,
        by_name,
    });
    Ok(Router::new()
        .route("/hooks/{name}", post(receive))
        .with_state(state))
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`.
pub fn signature_matches(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body`: what a sender puts in the signature header.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn read_body(hook: &Hook, headers: &HeaderMap, body: Body) -> Result<Bytes, HookError> {
    let too_large = || {
        HookError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body is larger than this webhook's limit of {} bytes",
                hook.max_body
            ),
        )
        .details(json!({"max_body_bytes": hook.max_body}))
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > hook.max_body) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, hook.max_body)
        .await
        .map_err(|e| {
            let length_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if length_limit {
                too_large()
            } else {
                HookError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("the body could not be read: {e}"),
                )
            }
        })
}

async fn receive(
    State(hooks): State<Arc<Hooks>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match deliver(&hooks, &name, &headers, body).await {
        Ok(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn deliver(
    hooks: &Hooks,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, HookError> {
    let hook = hooks.by_name.get(name).ok_or_else(|| {
        HookError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no webhook named '{name}' is configured"),
        )
    })?;
    let raw = read_body(hook, headers, body).await?;
    let signature = headers.get(&hook.header).and_then(|v| v.to_str().ok());
    if !signature_matches(hook.secret.expose().as_bytes(), &raw, signature) {
        return Err(HookError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            format!("the {} header is missing or is not sha256=<hex HMAC-SHA256 of the body> under this webhook's secret", hook.header),
        ));
    }
    let payload: Value = serde_json::from_slice(&raw).map_err(|e| {
        HookError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not JSON: {e}"),
        )
        .details(json!({"line": e.line(), "column": e.column()}))
    })?;
    let engine = &hooks.engine;
    let mut person = json!({});
    let observation = if hook.mapping.is_empty() {
        Value::Null
    } else {
        person = hook.mapping.apply(&payload).map_err(|e| {
            HookError::new(StatusCode::BAD_REQUEST, "unmappable", e.to_string())
                .details(json!({"path": e.path, "field": e.field}))
        })?;
        let outcome = engine
            .observe(&hooks.playbooks, &hook.source, person.clone())
            .await
            .map_err(HookError::internal)?;
        describe(engine, outcome).await
    };
    let now = now_ms();
    let event = webhook_event(name, &hook.source, &raw, &payload, &person, now);
    let dispatches = dispatch::plan_all(engine.scripting(), &hooks.playbooks, &event, &person);
    let event_id = event.id.clone();
    let recorded = engine
        .store()
        .submit(vec![(event, dispatches)], now)
        .await
        .map_err(HookError::internal)?;
    engine.wake();
    let webhook = match recorded.into_iter().next().flatten() {
        Some(runs) => {
            json!({"outcome": "recorded", "event_id": event_id, "type": "webhook.received", "runs": runs})
        }
        None => json!({"outcome": "duplicate", "runs": []}),
    };
    Ok(json!({"observation": observation, "webhook": webhook}))
}

/// What an observation produced, as the 202 body says it.
async fn describe(engine: &Engine, outcome: ObservationOutcome) -> Value {
    match outcome {
        ObservationOutcome::Unchanged => json!({"outcome": "unchanged"}),
        ObservationOutcome::Baseline => json!({"outcome": "baseline"}),
        ObservationOutcome::Duplicate => json!({"outcome": "duplicate"}),
        ObservationOutcome::Recorded { event_id, runs } => {
            let kind = engine
                .store()
                .event_body(&event_id)
                .await
                .ok()
                .flatten()
                .and_then(|b| b.get("type").cloned())
                .unwrap_or(Value::Null);
            json!({"outcome": "recorded", "event_id": event_id, "type": kind, "runs": runs})
        }
    }
}

fn webhook_event(
    name: &str,
    source: &str,
    raw: &[u8],
    payload: &Value,
    person: &Value,
    now: i64,
) -> NewEvent {
    let id = Uuid::now_v7().to_string();
    let digest = hex(&Sha256::digest(raw));
    let subject = person.get("id").and_then(Value::as_str).map(String::from);
    NewEvent {
        idempotency_key: format!("webhook:{name}:{digest}"),
        body: json!({
            "id": id, "type": "webhook.received", "source": name, "webhook": name,
            "observation_source": source, "subject": subject, "payload": payload,
            "changes": {}, "received_at": rfc3339(now),
        }),
        id,
        kind: "webhook.received".into(),
        source: Some(name.to_string()),
        subject_id: subject,
        received_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        let s = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(signature_matches(
            b"Jefe",
            b"what do ya want for nothing?",
            Some(&s)
        ));
        assert!(!signature_matches(
            b"Jefe",
            b"what do ya want for nothing!",
            Some(&s)
        ));
        assert!(!signature_matches(
            b"jefe",
            b"what do ya want for nothing?",
            Some(&s)
        ));
        assert!(!signature_matches(b"Jefe", b"x", None));
        assert!(!signature_matches(b"Jefe", b"x", Some("sha256=zz")));
    }
}
