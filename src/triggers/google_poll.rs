//! The Google Workspace poller: lists the configured customer's users (`users.list`, paged,
//! projection `full`) every `triggers.google.interval`, observes each as a Person (source
//! `triggers.google.source`, default `google`) and observes users that disappeared since the
//! last poll (deleted, or out of the configured domain or query) as terminated, which is
//! `person.left`.
//!
//! The first poll of a directory Roster has never seen (no subject from this source yet)
//! records every user as the baseline and fires nothing, unless `baseline: false`. Push
//! (`google_push`) shares the subjects, so a change seen by both fires once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::google_user;
use crate::config::{Config, GoogleTrigger};
use crate::connectors::google::UserQuery;
use crate::engine::{Engine, EngineError};
use crate::person::PersonStatus;
use crate::playbook::Playbook;
use crate::store::ObservationOutcome;

/// Why a poll did not complete (nothing was concluded from a partial listing).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("Google connection '{0}': {1}")]
    Connection(String, String),
    #[error("listing the Google directory failed (retried at the next interval): {0}")]
    List(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    pub users: usize,
    /// This poll recorded the baseline.
    pub baseline: bool,
    /// Events recorded, by type (`person.joined`, …), in order.
    pub events: Vec<String>,
    pub unchanged: usize,
}

pub struct Poller {
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    settings: GoogleTrigger,
    interval: Duration,
}

pub(super) fn user_query(settings: &GoogleTrigger) -> UserQuery {
    UserQuery {
        domain: settings.domain.clone(),
        query: settings.query.clone(),
        show_deleted: false,
        projection: Some("full".into()),
        max_results: Some(500),
    }
}

impl Poller {
    /// The poller `triggers.google` asks for, if any.
    pub fn from_config(
        engine: Arc<Engine>,
        config: &Config,
        playbooks: Arc<Vec<Arc<Playbook>>>,
    ) -> anyhow::Result<Option<Poller>> {
        match &config.triggers.google {
            Some(g) => Ok(Some(Poller::new(engine, playbooks, g.clone())?)),
            None => Ok(None),
        }
    }

    pub fn new(
        engine: Arc<Engine>,
        playbooks: Arc<Vec<Arc<Playbook>>>,
        settings: GoogleTrigger,
    ) -> anyhow::Result<Poller> {
        let interval = settings
            .interval()
            .map_err(|(k, m)| anyhow::anyhow!("{k}: {m}"))?;
        engine
            .connections()
            .google(&settings.connection)
            .map_err(|e| anyhow::anyhow!("triggers.google.connection: {e}"))?;
        Ok(Poller {
            engine,
            playbooks,
            settings,
            interval,
        })
    }

    /// Lists the directory once and observes what it says.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let s = &self.settings;
        let client = self
            .engine
            .connections()
            .google(&s.connection)
            .map_err(|e| PollError::Connection(s.connection.clone(), e.to_string()))?;
        let users = client
            .list_users(&user_query(s))
            .await
            .map_err(|e| PollError::List(e.to_string()))?;
        let known = self
            .engine
            .store()
            .subjects(&s.source)
            .await
            .map_err(EngineError::from)?;
        let mut report = PollReport {
            users: users.len(),
            baseline: known.is_empty() && s.baseline,
            ..PollReport::default()
        };
        let mut seen = HashSet::new();
        for user in &users {
            let Some(person) = google_user::person(user) else {
                continue;
            };
            if let Some(id) = person.get("id").and_then(Value::as_str) {
                seen.insert(id.to_string());
            }
            let outcome = if report.baseline {
                self.engine
                    .observe_baseline(&self.playbooks, &s.source, person)
                    .await?
            } else {
                self.engine
                    .observe(&self.playbooks, &s.source, person)
                    .await?
            };
            self.tally(&mut report, outcome).await;
        }
        for (id, mut previous) in known {
            if seen.contains(&id) {
                continue;
            }
            if let Some(gone) = terminated(&mut previous) {
                let outcome = self
                    .engine
                    .observe(&self.playbooks, &s.source, gone)
                    .await?;
                self.tally(&mut report, outcome).await;
            }
        }
        Ok(report)
    }

    async fn tally(&self, report: &mut PollReport, outcome: ObservationOutcome) {
        match outcome {
            ObservationOutcome::Recorded { event_id, .. } => {
                let kind = self
                    .engine
                    .store()
                    .event_body(&event_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|b| b.get("type").and_then(Value::as_str).map(String::from))
                    .unwrap_or_default();
                report.events.push(kind);
            }
            ObservationOutcome::Unchanged => report.unchanged += 1,
            _ => {}
        }
    }

    /// Polls now and then every interval until `shutdown` turns true. A failed poll is logged
    /// and tried again at the next interval.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        while !*shutdown.borrow() {
            match self.poll_once().await {
                Ok(r) => tracing::info!(
                    users = r.users,
                    baseline = r.baseline,
                    events = r.events.len(),
                    "Google directory polled"
                ),
                Err(e) => tracing::warn!("{e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        Ok(())
    }
}

/// The last known state of a person who is gone from the directory, marked terminated;
/// `None` when it already says so.
pub(super) fn terminated(previous: &mut Value) -> Option<Value> {
    let status = previous
        .get("status")
        .and_then(|s| serde_json::from_value::<PersonStatus>(s.clone()).ok())
        .unwrap_or_default();
    if status == PersonStatus::Terminated {
        return None;
    }
    let obj = previous.as_object_mut()?;
    obj.insert("status".into(), Value::String("terminated".into()));
    Some(previous.clone())
}
