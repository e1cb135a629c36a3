//! `person.date` triggers: durable timers armed from observations, fired by a task.
//!
//! `plans` is called by `Engine::observe` for every observation, whatever its source, and the
//! store applies the result in the observation's transaction: a timer per (playbook, date
//! field, source, person) at `date + offset`, moved (and armed again) when the date changes,
//! dropped when the date disappears or the person leaves. `run` sleeps until the earliest armed
//! timer (or until an observation changes the timers), then fires each due timer once: a
//! `person.date` event for that playbook alone, recorded in the same transaction that marks
//! the timer fired, so two processes cannot both fire it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::{now_ms, parse_instant, rfc3339};
use crate::engine::{dispatch, Engine, EngineError};
use crate::person::PersonStatus;
use crate::playbook::Playbook;
use crate::store::{DateTimerPlan, DueDateTimer, NewEvent};

/// Timers are re-read at least this often, to pick up timers other processes armed.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Timers fired per store round trip.
const BATCH: i64 = 100;

/// The value of `field` (`start_date`, or `custom.<name>`) in a person.
fn field_value<'p>(person: &'p Value, field: &str) -> Option<&'p Value> {
    match field.strip_prefix("custom.") {
        Some(c) => person.get("custom")?.get(c),
        None => person.get(field),
    }
}

/// What one observation of `person` means for every `person.date` trigger of `playbooks`.
/// `skip_before`: a timer armed with a due time before it is recorded as skipped.
pub fn plans(playbooks: &[Arc<Playbook>], person: &Value, skip_before: i64) -> Vec<DateTimerPlan> {
    let gone = person
        .get("status")
        .and_then(|s| serde_json::from_value::<PersonStatus>(s.clone()).ok())
        .unwrap_or_default()
        .is_gone();
    let mut out: Vec<DateTimerPlan> = Vec::new();
    for pb in playbooks {
        for (field, offset_ms) in pb.date_triggers() {
            if out
                .iter()
                .any(|p| p.playbook == pb.name && p.field == field)
            {
                continue;
            }
            let target = if gone {
                None
            } else {
                field_value(person, field)
                    .and_then(Value::as_str)
                    .and_then(|d| parse_instant(d).map(|at| (d.to_string(), at + offset_ms)))
            };
            out.push(DateTimerPlan {
                playbook: pb.name.clone(),
                field: field.to_string(),
                offset_ms,
                target,
                skip_before,
            });
        }
    }
    out
}

/// The `person.date` event of a due timer. Its idempotency key names the due time, so a date
/// moved away and back fires once.
fn event(t: &DueDateTimer, now: i64) -> NewEvent {
    let id = Uuid::now_v7().to_string();
    NewEvent {
        idempotency_key: format!(
            "date:{}:{}:{}:{}:{}",
            t.playbook, t.field, t.source, t.subject_id, t.due_at
        ),
        body: json!({
            "id": id, "type": "person.date", "source": t.source, "subject": t.subject_id,
            "field": t.field, "date": t.date, "offset_ms": t.offset_ms,
            "due_at": rfc3339(t.due_at), "changes": {}, "received_at": rfc3339(now),
        }),
        id,
        kind: "person.date".into(),
        source: Some(t.source.clone()),
        subject_id: Some(t.subject_id.clone()),
        received_at: now,
    }
}

/// Fires every timer due at `now`; returns how many fired (an event was recorded).
pub async fn fire_due(
    engine: &Engine,
    playbooks: &[Arc<Playbook>],
    now: i64,
) -> Result<usize, EngineError> {
    let mut fired = 0;
    loop {
        let due = engine.store().due_date_timers(now, BATCH).await?;
        let n = due.len();
        for t in due {
            // A playbook that no longer has this trigger (or is not loaded) fires nothing: the
            // timer is retired.
            let pb = playbooks
                .iter()
                .find(|p| p.name == t.playbook && p.date_triggers().any(|(f, _)| f == t.field));
            let fire = pb.map(|pb| {
                let e = event(&t, now);
                let d = dispatch::plan(engine.scripting(), pb, &e, &t.person);
                (e, vec![d])
            });
            if pb.is_none() {
                tracing::info!(playbook = %t.playbook, field = %t.field, "date timer retired: the playbook has no such person.date trigger now");
            }
            let has_event = fire.is_some();
            let recorded = engine.store().fire_date_timer(t, fire, now).await?;
            if has_event && recorded.is_some() {
                fired += 1;
            }
        }
        if fired > 0 {
            engine.wake();
        }
        if (n as i64) < BATCH {
            return Ok(fired);
        }
    }
}

/// Fires due `person.date` timers until `shutdown` turns true (or its sender is dropped).
/// Sleeps until the earliest armed timer, an observation that changed the timers, or at most
/// a minute (timers armed by other processes).
pub async fn run(
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let changed = engine.date_timers_changed();
    while !*shutdown.borrow() {
        let wait = match step(&engine, &playbooks).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!("person.date timers: {e}; trying again in 5 s");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.notified() => {}
            r = shutdown.changed() => if r.is_err() { break },
        }
    }
    Ok(())
}

async fn step(engine: &Engine, playbooks: &[Arc<Playbook>]) -> Result<Duration, EngineError> {
    fire_due(engine, playbooks, now_ms()).await?;
    let next = engine.store().next_date_timer().await?;
    Ok(match next {
        Some(at) => Duration::from_millis((at - now_ms()).max(0) as u64).min(MAX_SLEEP),
        None => MAX_SLEEP,
    })
}
