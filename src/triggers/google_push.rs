//! Google Workspace push: `users.watch` channels (`Channels`, a background task) and the
//! receiver of their notifications at `POST /hooks/google` (`Receiver`, a route).
//!
//! `Channels` opens one channel per event (`add`, `update`, `delete`, `undelete`: Google takes
//! one event per channel) to `triggers.google.push.address` with the configured token, renews
//! them a tenth of their lifetime before they expire (new channels first, then the old ones
//! stopped, so nothing is missed in between), and stops them with `channels.stop` on shutdown.
//!
//! `Receiver` checks `X-Goog-Channel-Token` against the configured token in constant time
//! (401 otherwise), acknowledges `sync` messages, and for any other event fetches the user by
//! id (`users.get`, projection full) and observes it; a `delete` (or a user that is gone by the
//! time it is fetched) observes the last known state as terminated. Notifications carry no
//! user data, so a repeated or overlapping notification is harmless: the diff finds nothing.
//! A failure to fetch or record is answered 503, which Google retries.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use uuid::Uuid;

use super::google_poll::{terminated, user_query};
use super::google_user;
use super::hook_error::HookError;
use crate::clock::now_ms;
use crate::config::{Config, GoogleTrigger};
use crate::connectors::google::{Channel, UserQuery};
use crate::engine::Engine;
use crate::playbook::Playbook;
use crate::secret::Secret;
use crate::store::ObservationOutcome;

/// The events a channel is opened for.
const EVENTS: &[&str] = &["add", "update", "delete", "undelete"];

fn settings(config: &Config) -> Option<(&GoogleTrigger, &crate::config::GooglePush)> {
    let g = config.triggers.google.as_ref()?;
    Some((g, g.push.as_ref()?))
}

fn token(config: &Config, push: &crate::config::GooglePush) -> anyhow::Result<Secret> {
    push.token
        .resolve(&config.base_dir)
        .map_err(|e| anyhow::anyhow!("triggers.google.push.token: {e}"))
}

/// The `/hooks/google` route's state.
pub struct Receiver {
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    connection: String,
    source: String,
    token: Secret,
}

impl Receiver {
    /// The receiver `triggers.google.push` asks for, if any.
    pub fn from_config(
        engine: Arc<Engine>,
        config: &Config,
        playbooks: Arc<Vec<Arc<Playbook>>>,
    ) -> anyhow::Result<Option<Receiver>> {
        let Some((g, push)) = settings(config) else {
            return Ok(None);
        };
        Ok(Some(Receiver {
            engine,
            playbooks,
            connection: g.connection.clone(),
            source: g.source.clone(),
            token: token(config, push)?,
        }))
    }

    /// `POST /hooks/google` (authenticated by the channel token, not a bearer token).
    pub fn router(self) -> Router {
        Router::new()
            .route("/hooks/google", post(notify))
            .with_state(Arc::new(self))
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn notify(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, HookError> {
    let given = header(&headers, "x-goog-channel-token").unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(r.token.expose().as_bytes())) {
        return Err(HookError::new(
            StatusCode::UNAUTHORIZED,
            "bad_channel_token",
            "X-Goog-Channel-Token does not match triggers.google.push.token",
        ));
    }
    let state = header(&headers, "x-goog-resource-state").unwrap_or("");
    if state == "sync" {
        return Ok(Json(json!({"outcome": "sync"})));
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").and_then(Value::as_str) else {
        return Err(HookError::new(
            StatusCode::BAD_REQUEST,
            "bad_notification",
            "the notification names no user ($.id)",
        ));
    };
    let person = if state == "delete" {
        None
    } else {
        let client = r
            .engine
            .connections()
            .google(&r.connection)
            .map_err(HookError::internal)?;
        let user = client
            .get_user(id, "full")
            .await
            .map_err(HookError::internal)?;
        user.as_ref().and_then(google_user::person)
    };
    let person = match person {
        Some(p) => p,
        None => {
            // Deleted: what we knew of them, now terminated.
            let known = r
                .engine
                .store()
                .subject(&r.source, id)
                .await
                .map_err(HookError::internal)?;
            match known.and_then(|mut p| terminated(&mut p)) {
                Some(p) => p,
                None => return Ok(Json(json!({"outcome": "unchanged"}))),
            }
        }
    };
    let outcome = r
        .engine
        .observe(&r.playbooks, &r.source, person)
        .await
        .map_err(HookError::internal)?;
    Ok(Json(match outcome {
        ObservationOutcome::Recorded { event_id, runs } => {
            json!({"outcome": "recorded", "event_id": event_id, "runs": runs})
        }
        ObservationOutcome::Unchanged => json!({"outcome": "unchanged"}),
        ObservationOutcome::Baseline => json!({"outcome": "baseline"}),
        ObservationOutcome::Duplicate => json!({"outcome": "duplicate"}),
    }))
}

/// An open channel: what `channels.stop` needs, and when it expires.
#[derive(Debug, Clone)]
pub struct OpenChannel {
    pub id: String,
    pub resource_id: String,
    pub expires_at: i64,
}

/// The `users.watch` channels of `triggers.google.push`.
pub struct Channels {
    engine: Arc<Engine>,
    connection: String,
    query: UserQuery,
    address: String,
    token: Secret,
    ttl: Duration,
}

impl Channels {
    pub fn from_config(engine: Arc<Engine>, config: &Config) -> anyhow::Result<Option<Channels>> {
        let Some((g, push)) = settings(config) else {
            return Ok(None);
        };
        let ttl = push.ttl().map_err(|(k, m)| anyhow::anyhow!("{k}: {m}"))?;
        Ok(Some(Channels {
            engine,
            connection: g.connection.clone(),
            query: user_query(g),
            address: push.address.clone(),
            token: token(config, push)?,
            ttl,
        }))
    }

    /// Opens one channel per event. Channels opened before a failure are stopped again.
    pub async fn open(&self) -> anyhow::Result<Vec<OpenChannel>> {
        let client = self
            .engine
            .connections()
            .google(&self.connection)
            .map_err(|e| anyhow::anyhow!("triggers.google.connection: {e}"))?;
        let mut open = Vec::new();
        for event in EVENTS {
            let channel = Channel {
                id: format!("roster-{}", Uuid::now_v7()),
                address: self.address.clone(),
                token: Some(self.token.expose().to_string()),
                ttl: Some(self.ttl),
            };
            match client.watch_users(&self.query, event, &channel).await {
                Ok(answer) => {
                    let expires_at = answer
                        .get("expiration")
                        .and_then(|e| match e {
                            Value::String(s) => s.parse().ok(),
                            other => other.as_i64(),
                        })
                        .unwrap_or_else(|| now_ms() + self.ttl.as_millis() as i64);
                    open.push(OpenChannel {
                        id: channel.id,
                        resource_id: answer
                            .get("resourceId")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        expires_at,
                    });
                }
                Err(e) => {
                    self.stop(&open).await;
                    return Err(anyhow::anyhow!("users.watch for '{event}' failed: {e}"));
                }
            }
        }
        Ok(open)
    }

    /// Stops channels (`channels.stop`); failures are logged: a channel expires by itself.
    pub async fn stop(&self, channels: &[OpenChannel]) {
        let Ok(client) = self.engine.connections().google(&self.connection) else {
            return;
        };
        for c in channels {
            if let Err(e) = client.stop_channel(&c.id, &c.resource_id).await {
                tracing::warn!(channel = %c.id, "channels.stop failed (it expires by itself): {e}");
            }
        }
    }

    /// Keeps channels open until `shutdown`, then stops them.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut open: Vec<OpenChannel> = Vec::new();
        while !*shutdown.borrow() {
            let wait = match self.open().await {
                Ok(fresh) => {
                    // The new channels deliver from now on; the old ones can go.
                    self.stop(&open).await;
                    open = fresh;
                    let expires = open.iter().map(|c| c.expires_at).min().unwrap_or(0);
                    let margin = (self.ttl.as_millis() / 10) as i64;
                    Duration::from_millis((expires - margin - now_ms()).max(1000) as u64)
                }
                Err(e) => {
                    tracing::warn!("Google push channels: {e}; trying again in 30 s");
                    Duration::from_secs(30)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        self.stop(&open).await;
        Ok(())
    }
}
