//! PostgreSQL's side of the statements that differ from SQLite: migrations, the ingest
//! transactions (submissions, observations, timers, imports) written as async sqlx on one
//! transaction, secret erasure, and `pg_notify` wakes. The step writer and the claim are in
//! `writer`.
//!
//! Two processes may observe the same person at once; a transaction-scoped advisory lock per
//! (source, subject) makes the second diff against what the first stored, as SQLite's single
//! writer does.

mod claim;
mod conns;
pub(super) mod submit;
pub(super) mod writer;

use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

use super::db::WAKE_CHANNEL;
use super::events::{run_ids, Observed, Sighting};
use super::events::{Dispatch, NewEvent, ObservationOutcome, ObservationRecord, ObserveMode};
use super::runs::NewRun;
use super::timers::DateTimerPlan;
use super::{json_text, parse_json, StoreError};
use crate::engine::status::RunStatus;

/// One column of a batch, as the array an `unnest($n::…[])` parameter binds.
pub(super) fn column<'a, T, U>(items: &'a [T], f: impl FnMut(&'a T) -> U) -> Vec<U> {
    items.iter().map(f).collect()
}

/// Applies `migrations/postgres` (one migration set per database, kept in step by a test).
pub(super) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("migrations/postgres").run(pool).await?;
    Ok(())
}

/// Wakes the idle workers of every process when `tx` commits (PostgreSQL folds identical
/// notifications of one transaction into one).
pub(super) async fn notify(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKE_CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}

pub(super) async fn insert_run(
    tx: &mut PgConnection,
    run: &NewRun,
    now: i64,
) -> Result<(), StoreError> {
    let (status, finished) = match run.error {
        Some(_) => (RunStatus::Failed, Some(now)),
        None => (RunStatus::Queued, None),
    };
    sqlx::query(
        "INSERT INTO runs (id, playbook, playbook_hash, event_id, subject, concurrency_key, \
         status, cursor, attempt, person, event, vars, error, wake_at, created_at, updated_at, \
         finished_at, failed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 1, $8, $9, $10, $11, $12, $12, $12, $13, $14)",
    )
    .bind(&run.id)
    .bind(&run.playbook)
    .bind(&run.playbook_hash)
    .bind(&run.event_id)
    .bind(&run.subject)
    .bind(&run.concurrency_key)
    .bind(status.as_str())
    .bind(json_text(&run.person))
    .bind(json_text(&run.event))
    .bind(json_text(&run.vars))
    .bind(&run.error)
    .bind(now)
    .bind(finished)
    .bind(run.error.as_ref().map(|_| 0i64))
    .execute(tx)
    .await?;
    Ok(())
}

/// Records one event and its dispatches; `None` when its idempotency key was seen before.
pub(super) async fn record(
    tx: &mut PgConnection,
    event: &NewEvent,
    dispatches: &[Dispatch],
    now: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, idempotency_key, type, source, subject_id, body, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&event.id)
    .bind(&event.idempotency_key)
    .bind(&event.kind)
    .bind(&event.source)
    .bind(&event.subject_id)
    .bind(json_text(&event.body))
    .bind(event.received_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    let woken = wake_waiting(&mut *tx, event, now).await?;
    let mut runs = Vec::new();
    for d in dispatches {
        let (playbook, outcome, run_id) = match d {
            Dispatch::Run(run) => {
                insert_run(&mut *tx, run, now).await?;
                runs.push(run.id.clone());
                (run.playbook.as_str(), "run", Some(run.id.as_str()))
            }
            Dispatch::Filtered { playbook } => (playbook.as_str(), "filtered", None),
        };
        sqlx::query(
            "INSERT INTO dispatches (event_id, playbook, outcome, run_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(&event.id)
        .bind(playbook)
        .bind(outcome)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    }
    if woken > 0 || !runs.is_empty() {
        notify(tx).await?;
    }
    Ok(Some(runs))
}

/// `wakes::wake_waiting` on PostgreSQL (jsonb instead of SQLite's JSON functions).
pub(super) async fn wake_waiting(
    tx: &mut PgConnection,
    event: &NewEvent,
    now: i64,
) -> Result<usize, StoreError> {
    let Some(subject) = event.subject_id.as_deref() else {
        return Ok(0);
    };
    let woken: Vec<String> = sqlx::query_scalar(
        "UPDATE steps SET outputs = jsonb_set(outputs::jsonb, '{woken_by}', $3::jsonb)::text \
         WHERE (run_id, idx) IN (SELECT id, cursor FROM runs \
                                 WHERE subject = $1 AND status = 'waiting') \
           AND status = 'waiting' \
           AND COALESCE(outputs::jsonb -> 'woken_by', 'null'::jsonb) = 'null'::jsonb \
           AND jsonb_typeof(outputs::jsonb -> 'wake_on') = 'array' \
           AND (outputs::jsonb -> 'wake_on') @> jsonb_build_array($2::text) \
         RETURNING run_id",
    )
    .bind(subject)
    .bind(&event.kind)
    .bind(json_text(&event.body))
    .fetch_all(&mut *tx)
    .await?;
    for run in &woken {
        sqlx::query(
            "UPDATE runs SET wake_at = $1, updated_at = $1 WHERE id = $2 AND status = 'waiting'",
        )
        .bind(now)
        .bind(run)
        .execute(&mut *tx)
        .await?;
    }
    Ok(woken.len())
}

/// Erases the secret outputs of `runs` (see `steps::erase_secrets`). The pre-filter looks for
/// the marker's key only: PostgreSQL's jsonb output puts a space after the colon.
pub(super) async fn erase_secrets(
    tx: &mut PgConnection,
    runs: &[String],
) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    let found = sqlx::query(
        "SELECT run_id, idx, outputs FROM steps WHERE run_id = ANY($1) \
         AND strpos(outputs, '\"$secret\"') > 0",
    )
    .bind(runs)
    .fetch_all(&mut *tx)
    .await?;
    for row in found {
        let outputs: String = row.try_get("outputs")?;
        if let Some(erased) = crate::secret::erase_text(&outputs) {
            sqlx::query("UPDATE steps SET outputs = $1 WHERE run_id = $2 AND idx = $3")
                .bind(erased)
                .bind(row.try_get::<String, _>("run_id")?)
                .bind(row.try_get::<i64, _>("idx")?)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// `timers::apply_date_timers` on PostgreSQL.
pub(super) async fn apply_date_timers(
    tx: &mut PgConnection,
    source: &str,
    subject_id: &str,
    plans: &[DateTimerPlan],
    now: i64,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for p in plans {
        changed += match &p.target {
            None => sqlx::query(
                "DELETE FROM date_timers WHERE playbook = $1 AND field = $2 AND source = $3 \
                 AND subject_id = $4",
            )
            .bind(&p.playbook)
            .bind(&p.field)
            .bind(source)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Some((date, due_at)) => sqlx::query(
                "INSERT INTO date_timers (playbook, field, source, subject_id, date, offset_ms, \
                 due_at, fired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                 CASE WHEN $7 < $8 THEN $9::bigint END) \
                 ON CONFLICT (playbook, field, source, subject_id) DO UPDATE SET \
                 date = excluded.date, offset_ms = excluded.offset_ms, due_at = excluded.due_at, \
                 fired_at = excluded.fired_at, event_id = NULL \
                 WHERE date_timers.due_at <> excluded.due_at",
            )
            .bind(&p.playbook)
            .bind(&p.field)
            .bind(source)
            .bind(subject_id)
            .bind(date)
            .bind(p.offset_ms)
            .bind(*due_at)
            .bind(p.skip_before)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
    }
    Ok(changed)
}

/// `events::observe_one` on PostgreSQL.
pub(super) async fn observe_one<F>(
    tx: &mut PgConnection,
    source: &str,
    (subject_id, person, timers): &Sighting,
    now: i64,
    mode: ObserveMode,
    diff: &mut F,
) -> Result<ObservationRecord, StoreError>
where
    F: FnMut(&str, Option<&Value>, &Value) -> Observed,
{
    if mode == ObserveMode::Apply {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))")
            .bind(source)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?;
    }
    let previous: Option<String> =
        sqlx::query_scalar("SELECT person FROM subjects WHERE source = $1 AND subject_id = $2")
            .bind(source)
            .bind(subject_id)
            .fetch_optional(&mut *tx)
            .await?;
    let previous = match previous {
        Some(text) => Some(parse_json("subject", &text)?),
        None => None,
    };
    let observed = diff(subject_id, previous.as_ref(), person);
    let timers_changed = match mode {
        ObserveMode::Apply => {
            apply_date_timers(&mut *tx, source, subject_id, timers, now).await? > 0
        }
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
        sqlx::query(
            "INSERT INTO subjects (source, subject_id, person, observed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (source, subject_id) DO UPDATE SET \
             person = excluded.person, observed_at = excluded.observed_at",
        )
        .bind(source)
        .bind(subject_id)
        .bind(json_text(person))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let Observed::Event(event, dispatches) = observed else {
        return Ok(ObservationRecord {
            outcome: ObservationOutcome::Baseline,
            event: None,
            timers_changed,
        });
    };
    let runs = match mode {
        ObserveMode::Apply => record(&mut *tx, &event, &dispatches, now).await?,
        ObserveMode::Plan => {
            let seen: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM events WHERE idempotency_key = $1")
                    .bind(&event.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?;
            seen.is_none().then(|| run_ids(&dispatches))
        }
    };
    Ok(ObservationRecord::new(
        event,
        dispatches,
        runs,
        timers_changed,
    ))
}
