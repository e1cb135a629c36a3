//! Events, their dispatches to playbooks, and the `subjects` that observations are diffed against.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::db::{on_pool, sql_for, Db};

use super::runs::{insert_run, NewRun};
use super::timers::{apply_date_timers, DateTimerPlan};
use super::wakes;
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

/// Whether an observation is stored or only planned (a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObserveMode {
    Apply,
    Plan,
}

/// One observation of a batch: what it turned into and, when the diff found a change, the
/// event and what each matching playbook does with it (recorded, or planned in a dry run).
#[derive(Debug)]
pub struct ObservationRecord {
    pub outcome: ObservationOutcome,
    pub event: Option<(NewEvent, Vec<Dispatch>)>,
    /// A `person.date` timer of the person was created, moved or dropped.
    pub timers_changed: bool,
}

/// One observation of a batch: the subject's id, the person, and the `person.date` timers the
/// playbooks want for them.
pub type Sighting = (String, Value, Vec<DateTimerPlan>);

/// Diffs one observation against the stored state and, in `Apply` mode, stores it with its
/// event, runs and date timers in `tx`. In `Plan` mode it only reads.
fn observe_one<F>(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    (subject_id, person, timers): &Sighting,
    now: i64,
    mode: ObserveMode,
    diff: &mut F,
) -> Result<ObservationRecord, StoreError>
where
    F: FnMut(&str, Option<&Value>, &Value) -> Observed,
{
    let previous: Option<String> = tx
        .prepare_cached("SELECT person FROM subjects WHERE source = ? AND subject_id = ?")?
        .query_row(params![source, subject_id], |row| row.get(0))
        .optional()?;
    let previous = match previous {
        Some(text) => Some(parse_json("subject", &text)?),
        None => None,
    };
    let observed = diff(subject_id, previous.as_ref(), person);
    // Timers follow the person even when nothing changed: a playbook with a new date trigger
    // arms them on the next sighting.
    let timers_changed = match mode {
        ObserveMode::Apply => apply_date_timers(tx, source, subject_id, timers, now)? > 0,
        ObserveMode::Plan => false,
    };
    if matches!(observed, Observed::Unchanged) {
        return Ok(ObservationRecord {
            outcome: ObservationOutcome::Unchanged,
            event: None,
            timers_changed,
        });
    }
    if mode == ObserveMode::Apply {
        tx.prepare_cached(
            "INSERT INTO subjects (source, subject_id, person, observed_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (source, subject_id) DO UPDATE SET person = excluded.person, \
             observed_at = excluded.observed_at",
        )?
        .execute(params![source, subject_id, json_text(person), now])?;
    }
    let Observed::Event(event, dispatches) = observed else {
        return Ok(ObservationRecord {
            outcome: ObservationOutcome::Baseline,
            event: None,
            timers_changed,
        });
    };
    let runs = match mode {
        ObserveMode::Apply => record(tx, &event, &dispatches, now)?,
        ObserveMode::Plan => {
            let seen = tx
                .prepare_cached("SELECT 1 FROM events WHERE idempotency_key = ?")?
                .exists(params![event.idempotency_key])?;
            (!seen).then(|| run_ids(&dispatches))
        }
    };
    Ok(ObservationRecord::new(
        event,
        dispatches,
        runs,
        timers_changed,
    ))
}

/// The ids of the runs `dispatches` start.
pub(super) fn run_ids(dispatches: &[Dispatch]) -> Vec<String> {
    dispatches
        .iter()
        .filter_map(|d| match d {
            Dispatch::Run(run) => Some(run.id.clone()),
            Dispatch::Filtered { .. } => None,
        })
        .collect()
}

impl ObservationRecord {
    /// The record of a stored (or planned) event: `runs` is `None` for a duplicate.
    pub(super) fn new(
        event: NewEvent,
        dispatches: Vec<Dispatch>,
        runs: Option<Vec<String>>,
        timers_changed: bool,
    ) -> ObservationRecord {
        let outcome = match runs {
            Some(runs) => ObservationOutcome::Recorded {
                event_id: event.id.clone(),
                runs,
            },
            None => ObservationOutcome::Duplicate,
        };
        ObservationRecord {
            outcome,
            event: Some((event, dispatches)),
            timers_changed,
        }
    }
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
    wakes::wake_waiting(tx, event, now)?;
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
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            let out = super::pg::submit::record_many(&mut tx, &entries, now).await?;
            tx.commit().await?;
            return Ok(out);
        }
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
        let mut diff = Some(diff);
        let records = self
            .observe_many(
                source,
                vec![(subject_id, person, timers)],
                now,
                ObserveMode::Apply,
                move |_, previous, person| match diff.take() {
                    Some(diff) => diff(previous, person),
                    None => Observed::Unchanged,
                },
            )
            .await?;
        Ok(records
            .into_iter()
            .next()
            .map_or((ObservationOutcome::Unchanged, false), |r| {
                (r.outcome, r.timers_changed)
            }))
    }

    /// Many observations from one source in one transaction (a CSV import's batch): each is
    /// diffed against the stored state (or an earlier item of the batch) and stored with its
    /// event and runs exactly as `observe` does. With `ObserveMode::Plan` nothing is written
    /// and the records say what would have been.
    pub async fn observe_many<F>(
        &self,
        source: String,
        items: Vec<Sighting>,
        now: i64,
        mode: ObserveMode,
        mut diff: F,
    ) -> Result<Vec<ObservationRecord>, StoreError>
    where
        F: FnMut(&str, Option<&Value>, &Value) -> Observed + Send + 'static,
    {
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            let mut out = Vec::with_capacity(items.len());
            for item in &items {
                out.push(
                    super::pg::observe_one(&mut tx, &source, item, now, mode, &mut diff).await?,
                );
            }
            match mode {
                ObserveMode::Apply => tx.commit().await?,
                ObserveMode::Plan => tx.rollback().await?,
            }
            return Ok(out);
        }
        self.with_ingest(move |conn| {
            let tx = match mode {
                ObserveMode::Apply => {
                    conn.transaction_with_behavior(TransactionBehavior::Immediate)?
                }
                ObserveMode::Plan => conn.transaction()?,
            };
            let mut out = Vec::with_capacity(items.len());
            for item in &items {
                out.push(observe_one(&tx, &source, item, now, mode, &mut diff)?);
            }
            match mode {
                ObserveMode::Apply => tx.commit()?,
                ObserveMode::Plan => tx.rollback()?,
            }
            Ok(out)
        })
        .await
    }

    /// The last observed state of a subject.
    pub async fn subject(
        &self,
        source: &str,
        subject_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let person: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(&sql_for(
                pool,
                "SELECT person FROM subjects WHERE source = ? AND subject_id = ?",
            ))
            .bind(source)
            .bind(subject_id)
            .fetch_optional(pool)
            .await?
        });
        person.map(|p| parse_json("subject", &p)).transpose()
    }

    /// Event types recorded, oldest first (for tests and `runs show`).
    pub async fn event_body(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let body: Option<String> = on_pool!(self, |pool| {
            sqlx::query_scalar(&sql_for(pool, "SELECT body FROM events WHERE id = ?"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        body.map(|b| parse_json("event", &b)).transpose()
    }
}
