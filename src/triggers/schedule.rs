//! `schedule` triggers: a `schedule.tick` event per due tick of each playbook's cron.
//!
//! Each fired tick is a row `(playbook, tick_at)` written in the transaction that records its
//! event and runs, so a tick fires exactly once however many processes run the scheduler.
//! Ticks missed while no scheduler ran fire **once** on start: the latest missed tick after the
//! last fired one, not one per missed tick. A schedule never fired before starts counting when
//! a scheduler first sees it. Between ticks the task sleeps until the next one (or shutdown).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::{now_ms, rfc3339};
use crate::cron::Cron;
use crate::engine::{dispatch, Engine, EngineError};
use crate::playbook::Playbook;
use crate::store::NewEvent;

/// A tick that was fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub playbook: String,
    pub tick_at: i64,
    pub event_id: String,
    pub runs: Vec<String>,
}

/// The schedules of a set of playbooks, and when this scheduler started.
pub struct Scheduler {
    engine: Arc<Engine>,
    entries: Vec<(Arc<Playbook>, Cron)>,
    started_at: i64,
}

impl Scheduler {
    /// `started_at` is the base of a schedule that never fired: its first tick is the first
    /// after it.
    pub fn new(engine: Arc<Engine>, playbooks: &[Arc<Playbook>], started_at: i64) -> Scheduler {
        let entries = playbooks
            .iter()
            .flat_map(|pb| pb.schedules().map(move |c| (pb.clone(), c.clone())))
            .collect();
        Scheduler {
            engine,
            entries,
            started_at,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Fires, for each schedule, the latest tick in (last fired tick, `now`] if there is one.
    pub async fn fire_due(&self, now: i64) -> Result<Vec<Fired>, EngineError> {
        let mut fired = Vec::new();
        for (pb, cron) in &self.entries {
            let since = self
                .engine
                .store()
                .last_tick(&pb.name)
                .await?
                .unwrap_or(self.started_at);
            let Some(tick) = cron.latest_between(since, now) else {
                continue;
            };
            let event = tick_event(&pb.name, cron, tick, now);
            let person = json!({});
            let d = dispatch::plan(self.engine.scripting(), pb, &event, &person);
            let event_id = event.id.clone();
            let runs = self
                .engine
                .store()
                .fire_tick(pb.name.clone(), tick, event, vec![d], now)
                .await?;
            if let Some(runs) = runs {
                tracing::info!(playbook = %pb.name, tick = %cron.display(tick), "schedule tick fired");
                fired.push(Fired {
                    playbook: pb.name.clone(),
                    tick_at: tick,
                    event_id,
                    runs,
                });
            }
        }
        if !fired.is_empty() {
            self.engine.wake();
        }
        Ok(fired)
    }

    /// The earliest tick of any schedule after `now`.
    pub fn next_due(&self, now: i64) -> Option<i64> {
        self.entries
            .iter()
            .filter_map(|(_, c)| c.next_after(now))
            .min()
    }

    /// Fires ticks as they fall due until `shutdown` turns true (or its sender is dropped).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        while !*shutdown.borrow() {
            let wait = match self.fire_due(now_ms()).await {
                Ok(_) => match self.next_due(now_ms()) {
                    Some(at) => Duration::from_millis((at - now_ms()).max(0) as u64),
                    None if self.is_empty() => return Ok(()),
                    None => Duration::from_secs(3600),
                },
                Err(e) => {
                    tracing::warn!("schedules: {e}; trying again in 5 s");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        Ok(())
    }
}

/// The `schedule.tick` event of one tick; its idempotency key is the tick itself.
fn tick_event(playbook: &str, cron: &Cron, tick: i64, now: i64) -> NewEvent {
    let id = Uuid::now_v7().to_string();
    NewEvent {
        idempotency_key: format!("schedule:{playbook}:{tick}"),
        body: json!({
            "id": id, "type": "schedule.tick", "source": "schedule", "subject": null,
            "tick": cron.display(tick),
            "schedule": { "cron": cron.expression, "timezone": cron.timezone.name() },
            "changes": {}, "received_at": rfc3339(now),
        }),
        id,
        kind: "schedule.tick".into(),
        source: Some("schedule".into()),
        subject_id: None,
        received_at: now,
    }
}

/// Runs the schedules of `playbooks` until shutdown (the composition contract's entry point).
pub async fn run(
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    Scheduler::new(engine, &playbooks, now_ms())
        .run(shutdown)
        .await
}
