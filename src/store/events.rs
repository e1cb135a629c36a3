//! Events, their dispatches to playbooks, and the `subjects` that observations are diffed against.

use serde_json::Value;
use sqlx::{Row, Sqlite, Transaction};

use super::runs::{insert_run, NewRun};
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

async fn record(
    tx: &mut Transaction<'_, Sqlite>,
    event: &NewEvent,
    dispatches: &[Dispatch],
    now: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, idempotency_key, type, source, subject_id, body, received_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.idempotency_key)
    .bind(&event.kind)
    .bind(&event.source)
    .bind(&event.subject_id)
    .bind(json_text(&event.body))
    .bind(event.received_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    let mut runs = Vec::new();
    for d in dispatches {
        let (playbook, outcome, run_id) = match d {
            Dispatch::Run(run) => {
                insert_run(tx, run, now).await?;
                runs.push(run.id.clone());
                (run.playbook.as_str(), "run", Some(run.id.as_str()))
            }
            Dispatch::Filtered { playbook } => (playbook.as_str(), "filtered", None),
        };
        sqlx::query(
            "INSERT INTO dispatches (event_id, playbook, outcome, run_id) VALUES (?, ?, ?, ?)",
        )
        .bind(&event.id)
        .bind(playbook)
        .bind(outcome)
        .bind(run_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Some(runs))
}

impl Store {
    /// Records events and the runs they start, all in one transaction. Returns, per event, the
    /// ids of the runs it started, or `None` when it was a duplicate.
    pub async fn submit(
        &self,
        entries: &[(NewEvent, Vec<Dispatch>)],
        now: i64,
    ) -> Result<Vec<Option<Vec<String>>>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(entries.len());
        for (event, dispatches) in entries {
            out.push(record(&mut tx, event, dispatches, now).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Stores what `source` now says about `subject_id` and, in the same transaction, the event
    /// `diff` derives from the previous observation (if any) and the runs it starts.
    #[allow(clippy::too_many_arguments)]
    pub async fn observe<F>(
        &self,
        source: &str,
        subject_id: &str,
        person: &Value,
        now: i64,
        diff: F,
    ) -> Result<ObservationOutcome, StoreError>
    where
        F: FnOnce(Option<&Value>) -> Observed,
    {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let previous =
            sqlx::query("SELECT person FROM subjects WHERE source = ? AND subject_id = ?")
                .bind(source)
                .bind(subject_id)
                .fetch_optional(&mut *tx)
                .await?;
        let previous = match previous {
            Some(row) => Some(parse_json("subject", row.try_get("person")?)?),
            None => None,
        };
        let observed = diff(previous.as_ref());
        if matches!(observed, Observed::Unchanged) {
            return Ok(ObservationOutcome::Unchanged);
        }
        sqlx::query(
            "INSERT INTO subjects (source, subject_id, person, observed_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (source, subject_id) DO UPDATE SET person = excluded.person, \
             observed_at = excluded.observed_at",
        )
        .bind(source)
        .bind(subject_id)
        .bind(json_text(person))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let outcome = match observed {
            Observed::Event(event, dispatches) => {
                match record(&mut tx, &event, &dispatches, now).await? {
                    Some(runs) => ObservationOutcome::Recorded {
                        event_id: event.id.clone(),
                        runs,
                    },
                    None => ObservationOutcome::Duplicate,
                }
            }
            _ => ObservationOutcome::Baseline,
        };
        tx.commit().await?;
        Ok(outcome)
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
