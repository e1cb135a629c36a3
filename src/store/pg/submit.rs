//! A batch of submissions on PostgreSQL in a handful of statements over arrays (`unnest`)
//! instead of five round trips per event: a bulk import or `start_many` of thousands of runs
//! otherwise spends most of its time waiting for the network, and no run can start before
//! its transaction commits.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::{column, notify, record, wake_waiting};
use crate::engine::status::RunStatus;
use crate::store::events::{Dispatch, NewEvent};
use crate::store::{json_text, StoreError};

/// Records `entries` in `tx` as `record` would one by one: per event, the ids of the runs it
/// started, or `None` when its idempotency key was seen before.
pub(in crate::store) async fn record_many(
    tx: &mut PgConnection,
    entries: &[(NewEvent, Vec<Dispatch>)],
    now: i64,
) -> Result<Vec<Option<Vec<String>>>, StoreError> {
    let mut keys = HashSet::new();
    let repeats = !entries
        .iter()
        .all(|(e, _)| keys.insert(e.idempotency_key.as_str()));
    if entries.len() < 2 || repeats {
        // A key twice in one batch: the first wins, as one by one.
        let mut out = Vec::with_capacity(entries.len());
        for (event, dispatches) in entries {
            out.push(record(&mut *tx, event, dispatches, now).await?);
        }
        return Ok(out);
    }
    let events: Vec<&NewEvent> = entries.iter().map(|(e, _)| e).collect();
    let inserted: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO events (id, idempotency_key, type, source, subject_id, body, received_at) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                              $6::text[], $7::int8[]) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(column(&events, |e| e.id.as_str()))
    .bind(column(&events, |e| e.idempotency_key.as_str()))
    .bind(column(&events, |e| e.kind.as_str()))
    .bind(column(&events, |e| e.source.as_deref()))
    .bind(column(&events, |e| e.subject_id.as_deref()))
    .bind(column(&events, |e| json_text(&e.body)))
    .bind(column(&events, |e| e.received_at))
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    // `wake_on` waits: one look for the subjects that have a waiting run, then the per-event
    // wake (in event order) only for those.
    let subjects: Vec<&str> = events
        .iter()
        .filter(|e| inserted.contains(&e.id))
        .filter_map(|e| e.subject_id.as_deref())
        .collect();
    let waiting: HashSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT subject FROM runs WHERE status = 'waiting' AND subject = ANY($1)",
    )
    .bind(&subjects)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut woken = 0;
    for e in &events {
        let has_waiting = e.subject_id.as_ref().is_some_and(|s| waiting.contains(s));
        if has_waiting && inserted.contains(&e.id) {
            woken += wake_waiting(&mut *tx, e, now).await?;
        }
    }
    let mut runs = Runs::default();
    let mut dispatch_rows = Dispatches::default();
    let mut out = Vec::with_capacity(entries.len());
    for (event, dispatches) in entries {
        if !inserted.contains(&event.id) {
            out.push(None);
            continue;
        }
        let mut started = Vec::new();
        for d in dispatches {
            match d {
                Dispatch::Run(run) => {
                    runs.push(run, now);
                    started.push(run.id.clone());
                    dispatch_rows.push(&event.id, &run.playbook, "run", Some(&run.id));
                }
                Dispatch::Filtered { playbook } => {
                    dispatch_rows.push(&event.id, playbook, "filtered", None)
                }
            }
        }
        out.push(Some(started));
    }
    if !runs.id.is_empty() {
        runs.insert(&mut *tx, now).await?;
    }
    if !dispatch_rows.event.is_empty() {
        sqlx::query(
            "INSERT INTO dispatches (event_id, playbook, outcome, run_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
        )
        .bind(&dispatch_rows.event)
        .bind(&dispatch_rows.playbook)
        .bind(&dispatch_rows.outcome)
        .bind(&dispatch_rows.run)
        .execute(&mut *tx)
        .await?;
    }
    if woken > 0 || !runs.id.is_empty() {
        notify(tx).await?;
    }
    Ok(out)
}

/// The columns of the runs to insert, as arrays.
#[derive(Default)]
struct Runs {
    id: Vec<String>,
    playbook: Vec<String>,
    hash: Vec<String>,
    event: Vec<Option<String>>,
    subject: Vec<Option<String>>,
    key: Vec<Option<String>>,
    status: Vec<&'static str>,
    person: Vec<String>,
    body: Vec<String>,
    vars: Vec<String>,
    error: Vec<Option<String>>,
    finished: Vec<Option<i64>>,
    failed_at: Vec<Option<i64>>,
}

impl Runs {
    fn push(&mut self, run: &crate::store::NewRun, now: i64) {
        // As `insert_run`: a run whose `vars:` failed is created failed.
        let (status, finished) = match run.error {
            Some(_) => (RunStatus::Failed, Some(now)),
            None => (RunStatus::Queued, None),
        };
        self.id.push(run.id.clone());
        self.playbook.push(run.playbook.clone());
        self.hash.push(run.playbook_hash.clone());
        self.event.push(run.event_id.clone());
        self.subject.push(run.subject.clone());
        self.key.push(run.concurrency_key.clone());
        self.status.push(status.as_str());
        self.person.push(json_text(&run.person));
        self.body.push(json_text(&run.event));
        self.vars.push(json_text(&run.vars));
        self.error.push(run.error.clone());
        self.finished.push(finished);
        self.failed_at.push(run.error.as_ref().map(|_| 0));
    }

    /// One statement, in submission order (`seq` follows `ord`).
    async fn insert(&self, tx: &mut PgConnection, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO runs (id, playbook, playbook_hash, event_id, subject, concurrency_key, \
             status, cursor, attempt, person, event, vars, error, wake_at, created_at, \
             updated_at, finished_at, failed_at) \
             SELECT r.id, r.playbook, r.hash, r.event, r.subject, r.key, r.status, 0, 1, \
                    r.person, r.body, r.vars, r.error, $14, $14, $14, r.finished, r.failed_at \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                         $11::text[], $12::int8[], $13::int8[]) WITH ORDINALITY \
               AS r(id, playbook, hash, event, subject, key, status, person, body, vars, \
                    error, finished, failed_at, ord) \
             ORDER BY r.ord",
        )
        .bind(&self.id)
        .bind(&self.playbook)
        .bind(&self.hash)
        .bind(&self.event)
        .bind(&self.subject)
        .bind(&self.key)
        .bind(&self.status)
        .bind(&self.person)
        .bind(&self.body)
        .bind(&self.vars)
        .bind(&self.error)
        .bind(&self.finished)
        .bind(&self.failed_at)
        .bind(now)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// The dispatch rows, as arrays.
#[derive(Default)]
struct Dispatches {
    event: Vec<String>,
    playbook: Vec<String>,
    outcome: Vec<&'static str>,
    run: Vec<Option<String>>,
}

impl Dispatches {
    fn push(&mut self, event: &str, playbook: &str, outcome: &'static str, run: Option<&str>) {
        self.event.push(event.to_string());
        self.playbook.push(playbook.to_string());
        self.outcome.push(outcome);
        self.run.push(run.map(String::from));
    }
}
