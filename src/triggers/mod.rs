//! Triggers: how work gets into the engine besides a manual start.
//!
//! - `schedule`: `schedule.tick` events from playbooks' cron schedules (exactly once per tick).
//! - `dates`: durable `person.date` timers armed by every observation (`Engine::observe` calls
//!   `dates::plans`), fired by a task.
//! - `webhook`: signed JSON deliveries at `POST /hooks/{name}` → observations and
//!   `webhook.received` events.
//! - `google_poll` / `google_push`: a Google Workspace directory observed by listing it at an
//!   interval and through `users.watch` notifications at `POST /hooks/google`; `google_user`
//!   maps a Directory user onto a Person.
//! - `entra_delta`: an Entra ID tenant observed through Graph delta queries, with durable
//!   links; `entra_user` maps a Graph user onto a Person.
//!
//! For `roster serve` (the composition contract): `router` gives every `/hooks/...` route (no
//! bearer token: webhooks authenticate by signature, Google by channel token) and `run` runs
//! every background task until shutdown.

pub mod dates;
pub mod entra_delta;
pub mod entra_user;
pub mod google_poll;
pub mod google_push;
pub mod google_user;
mod hook_error;
pub mod json_path;
pub mod mapping;
pub mod schedule;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

use crate::config::Config;
use crate::engine::Engine;
use crate::playbook::Playbook;

/// `POST /hooks/{name}` for each configured webhook, and `POST /hooks/google` when
/// `triggers.google.push` is configured. State is applied (a `Router<()>`); no bearer auth.
/// Fails when a secret (webhook secret, channel token) cannot be read.
pub fn router(
    engine: Arc<Engine>,
    config: Arc<Config>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
) -> anyhow::Result<Router> {
    let mut r = webhook::router(engine.clone(), &config, playbooks.clone())?;
    if let Some(push) = google_push::Receiver::from_config(engine, &config, playbooks)? {
        r = r.merge(push.router());
    }
    Ok(r)
}

/// Runs the schedules, the `person.date` timers and (when configured) the Google poller, its
/// push channels and the Entra poller until `shutdown` turns true; returns when all have
/// stopped (push channels are stopped with `channels.stop` first). The first task to fail
/// ends the others.
pub async fn run(
    engine: Arc<Engine>,
    config: Arc<Config>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(schedule::run(
        engine.clone(),
        playbooks.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(dates::run(
        engine.clone(),
        playbooks.clone(),
        shutdown.clone(),
    ));
    if let Some(poller) =
        google_poll::Poller::from_config(engine.clone(), &config, playbooks.clone())?
    {
        tasks.spawn(poller.run(shutdown.clone()));
    }
    if let Some(poller) =
        entra_delta::Poller::from_config(engine.clone(), &config, playbooks.clone())?
    {
        tasks.spawn(poller.run(shutdown.clone()));
    }
    if let Some(channels) = google_push::Channels::from_config(engine.clone(), &config)? {
        tasks.spawn(channels.run(shutdown.clone()));
    }
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        let r = done.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = r {
            tracing::error!("trigger task stopped: {e:#}");
            if result.is_ok() {
                result = Err(e);
            }
            tasks.abort_all();
        }
    }
    result
}
