//! Events, their dispatches to playbooks, and the `subjects` that observations are diffed against.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use sqlx::Row;

use super::runs::{insert_run, NewRun};
use super::timers::{apply_date_timers, DateTimerPlan};
use super::{json_text, parse_json, Store, StoreError};

/// An event to record. A second event with the same idempotency key is dropped.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub idempotency_key: String,
    pub kind: String,
    pub source: Option<String>,
    pub subject_id: Option<String>,
    /// The event as playbooks see it.
    pub body: Value,
    pub received_at: i64,
}

/// What one playbook does with an event.
// Short-lived values built once per event: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Dispatch {
    Run(NewRun),
    /// The playbook's `where:` was false.
    Filtered {
        playbook: String,
    },
}

/// What the diff of an observation against the stored one decided.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Observed {
    /// Nothing changed: nothing is written.
    Unchanged,
    /// Store the new state but fire nothing (a first sighting of someone already gone).
    Baseline,
    Event(NewEvent, Vec<Dispatch>),
}

/// What an observation turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationOutcome {
    /// Same as the last observation: no event.
    Unchanged,
    /// Recorded as the new base, no event.
    Baseline,
    /// An event with this idempotency key was recorded before: nothing fired.
    Duplicate,
    Recorded {
        event_id: String,
        runs: Vec<String>,
    },
}

/// Records one event and its dispatches; `None` when its idempotency key was seen before.
pub(super) fn record(
    tx: &rusqlite::Transaction<'_>,
    event: &NewEvent,
    dispatches: &[Dispatch],
    now: i64,
) -> rusqlite::Result<Option<Vec<String>>> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events (id, idempotency_key, type, source, subject_id, body, received_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        )?
        .execute(params![
            event.id,
            event.idempotency_key,
            event.kind,
            event.source,
            event.subject_id,
            json_text(&event.body),
            event.received_at,
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let mut runs = Vec::new();
    for d in dispatches {
        let (playbook, outcome, run_id) = match d {
            Dispatch::Run(run) => {
                insert_run(tx, run, now)?;
                runs.push(run.id.clone());
                (run.playbook.as_str(), "run", Some(run.id.as_str()))
            }
            Dispatch::Filtered { playbook } => (playbook.as_str(), "filtered", None),
        };
        tx.prepare_cached(
            "INSERT INTO dispatches (event_id, playbook, outcome, run_id) VALUES (?, ?, ?, ?)",
        )?
        .execute(params![event.id, playbook, outcome, run_id])?;
    }
    Ok(Some(runs))
}

impl Store {
    /// Records events and the runs they start, all in one transaction. Returns, per event, the
    /// ids of the runs it started, or `None` when it was a duplicate.
    pub async fn submit(
        &self,
        entries: Vec<(NewEvent, Vec<Dispatch>)>,
        now: i64,
    ) -> Result<Vec<Option<Vec<String>>>, StoreError> {
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(entries.len());
            for (event, dispatches) in &entries {
                out.push(record(&tx, event, dispatches, now)?);
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Stores what `source` now says about `subject_id` and, in the same transaction, the event
    /// `diff` derives from the previous observation (if any), the runs it starts and the
    /// person's `person.date` timers. The flag says whether a timer was created, moved or
    /// dropped.
    pub async fn observe<F>(
        &self,
        source: String,
        subject_id: String,
        person: Value,
        timers: Vec<DateTimerPlan>,
        now: i64,
        diff: F,
    ) -> Result<(ObservationOutcome, bool), StoreError>
    where
        F: FnOnce(Option<&Value>, &Value) -> Observed + Send + 'static,
    {
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let previous: Option<String> = tx
                .prepare_cached("SELECT person FROM subjects WHERE source = ? AND subject_id = ?")?
                .query_row(params![source, subject_id], |row| row.get(0))
                .optional()?;
            let previous = match previous {
                Some(text) => Some(parse_json("subject", &text)?),
                None => None,
            };
            let observed = diff(previous.as_ref(), &person);
            // Timers follow the person even when nothing changed: a playbook with a new date
            // trigger arms them on the next sighting.
            let timers_changed = apply_date_timers(&tx, &source, &subject_id, &timers, now)? > 0;
            if matches!(observed, Observed::Unchanged) {
                tx.commit()?;
                return Ok((ObservationOutcome::Unchanged, timers_changed));
            }
            tx.prepare_cached(
                "INSERT INTO subjects (source, subject_id, person, observed_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (source, subject_id) DO UPDATE SET person = excluded.person, \
                 observed_at = excluded.observed_at",
            )?
            .execute(params![source, subject_id, json_text(&person), now])?;
            let outcome = match observed {
                Observed::Event(event, dispatches) => {
                    match record(&tx, &event, &dispatches, now)? {
                        Some(runs) => ObservationOutcome::Recorded {
                            event_id: event.id.clone(),
                            runs,
                        },
                        None => ObservationOutcome::Duplicate,
                    }
                }
                _ => ObservationOutcome::Baseline,
            };
            tx.commit()?;
            Ok((outcome, timers_changed))
        })
        .await
    }

    /// The last observed state of a subject.
    pub async fn subject(
        &self,
        source: &str,
        subject_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT person FROM subjects WHERE source = ? AND subject_id = ?")
            .bind(source)
            .bind(subject_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(parse_json("subject", row.try_get("person")?)?)),
            None => Ok(None),
        }
    }

    /// Event types recorded, oldest first (for tests and `runs show`).
    pub async fn event_body(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let row = sqlx::query("SELECT body FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(parse_json("event", row.try_get("body")?)?)),
            None => Ok(None),
        }
    }
}
