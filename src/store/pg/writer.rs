//! The step writer on PostgreSQL.
//!
//! The writer is a task that drains the queued step commits into one batch, as on SQLite, but
//! writes a whole batch with one statement over arrays (`unnest`), in one round trip: the
//! guarded `UPDATE runs` that returns the runs it moved, the upsert of their steps, the erasure
//! of secrets of the runs that ended, and a `NOTIFY` when a run left `running`, as
//! data-modifying CTEs of a statement that commits on its own. A round trip costs far more on a
//! network connection than a statement inside SQLite, so round trips per batch, not per step,
//! bound the rate. A batch that fails because the connection was lost is written again once
//! the database answers (the guards make that safe); the run tasks wait.
//!
//! Up to `BATCHES_IN_FLIGHT` batches are written at once, each on a connection of the writer's
//! own (`conns`). Claims run beside the writer in transactions of their own (`claim`):
//! PostgreSQL has many writers.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::steps::{ClaimRows, Request, StepCommit, MAX_BATCH};
use super::super::StoreError;
use super::claim::claim;
use super::column;
use super::conns::Conns;

/// How many batches one process writes at once. While one batch waits for its commit the next
/// one forms and is written beside it (the batches move different runs). More in flight make
/// smaller batches, and a batch's fixed cost on the server (executor start, locks, commit)
/// dominates: measured at 0 ms with 64 runs in flight, server and worker CPU per step was
/// 431 µs with one batch in flight (CPU left idle waiting for commits), 440 µs with two and
/// 546 µs with four.
const BATCHES_IN_FLIGHT: usize = 2;

type Acked = Vec<(StepCommit, oneshot::Sender<Result<bool, String>>)>;

/// The writer task: batches until the channel closes.
pub(in crate::store) async fn write_loop(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Request>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let conns = Arc::new(Conns::new(&pool));
    while let Some(first) = rx.recv().await {
        let mut commits: Acked = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Step(c, ack) => commits.push((c, ack)),
                Request::Claim(c, ack) => {
                    let conns = conns.clone();
                    tokio::spawn(async move {
                        let result = claim(&conns, &c).await.map_err(|e| e.to_string());
                        let _ = ack.send(result.map(ClaimRows::Decoded));
                    });
                }
            }
            if commits.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if commits.is_empty() {
            continue;
        }
        // Waiting for a free slot lets more commits queue up for the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let pool = pool.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            write_and_ack(&pool, &conns, commits).await;
            drop(slot);
        });
    }
}

/// Writes one batch (again while the database is unreachable) and acknowledges its commits.
async fn write_and_ack(pool: &PgPool, conns: &Conns, mut commits: Acked) {
    let batch: Vec<&StepCommit> = commits.iter().map(|(c, _)| c).collect();
    let mut delay = Duration::from_millis(100);
    let mut retried = false;
    let outcome = loop {
        match write_batch(conns, &batch).await {
            Err(StoreError::Database(e)) if is_connection_error(&e) => {
                tracing::warn!(error = %e, "database unreachable; step commits wait and retry");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                retried = true;
            }
            // The connection may have been lost after the server committed: a commit whose
            // guard fails now can be one that landed then. Those are recognised by the run
            // being exactly where the commit put it, so their run tasks go on.
            Ok(applied) if retried => break landed_before(pool, &batch, applied).await,
            other => break other,
        }
    };
    match outcome {
        Ok(applied) => {
            for ((_, ack), ok) in commits.drain(..).zip(applied) {
                let _ = ack.send(Ok(ok));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, commits = commits.len(), "step commit failed");
            let message = e.to_string();
            for (_, ack) in commits.drain(..) {
                let _ = ack.send(Err(message.clone()));
            }
        }
    }
}

/// After a retry: marks applied the commits whose run already is where they move it (status
/// and cursor, and still this worker's lease while running).
async fn landed_before(
    pool: &PgPool,
    batch: &[&StepCommit],
    mut applied: Vec<bool>,
) -> Result<Vec<bool>, StoreError> {
    let missed: Vec<&StepCommit> = batch
        .iter()
        .zip(&applied)
        .filter(|(_, ok)| !**ok)
        .map(|(c, _)| *c)
        .collect();
    if missed.is_empty() {
        return Ok(applied);
    }
    let landed: Vec<String> = sqlx::query_scalar(
        "SELECT r.id FROM runs r \
         JOIN unnest($1::text[], $2::text[], $3::int8[], $4::text[]) AS c(id, status, cursor, owner) \
           ON r.id = c.id \
         WHERE r.status = c.status AND r.cursor = c.cursor \
           AND (c.status <> 'running' OR r.lease_owner = c.owner)",
    )
    .bind(column(&missed, |c| c.run_id.as_str()))
    .bind(column(&missed, |c| c.run.status.as_str()))
    .bind(column(&missed, |c| c.run.cursor))
    .bind(column(&missed, |c| &*c.owner))
    .fetch_all(pool)
    .await?;
    for (c, ok) in batch.iter().zip(applied.iter_mut()) {
        if !*ok && landed.contains(&c.run_id) {
            *ok = true;
        }
    }
    Ok(applied)
}

/// Errors that say the database could not be reached (as opposed to a rejected statement).
pub(in crate::store) fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    ) || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || c == "57P01"))
}

/// A whole batch in one statement: the guarded run updates (`moved`), the steps of the runs
/// that moved (`ins`, a data-modifying CTE that sees `moved`), the erasure of live secrets in
/// the earlier steps of the runs that ended (`erased`), and a `NOTIFY` when a run left
/// `running`. The statement's snapshot predates `ins`, so `erased` sees the runs' earlier steps
/// only and leaves the batch's own (a row must not be changed twice in one statement); those
/// are erased before they are written. `erased` does on the text what `secret::erase_text`
/// does on the JSON: a sealed value is an object of the one key `$secret` whose value is
/// `v1:` and base64, and the pattern allows the space PostgreSQL's jsonb output puts after the
/// colon. As on SQLite, a re-executed step's calls are appended to the earlier ones as text.
const WRITE_BATCH: &str = r#"WITH c AS (SELECT * FROM unnest($1::text[], $2::text[],
       $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::int8[], $8::bool[], $9::text[],
       $10::int8[]) AS c(id, status, cursor, wake_at, error, failed_at, now, terminal, owner,
       expected)),
     moved AS (UPDATE runs r SET status = c.status, cursor = c.cursor,
       wake_at = c.wake_at, error = COALESCE(c.error, r.error),
       failed_at = COALESCE(c.failed_at, r.failed_at), updated_at = c.now,
       finished_at = CASE WHEN c.terminal THEN c.now ELSE NULL END,
       lease_owner = CASE WHEN c.status = 'running' THEN r.lease_owner ELSE NULL END,
       lease_expires = CASE WHEN c.status = 'running' THEN r.lease_expires ELSE NULL END
       FROM c WHERE r.id = c.id AND r.status = 'running' AND r.lease_owner = c.owner
         AND r.cursor = c.expected
       RETURNING r.id, r.status, c.terminal),
     s AS (SELECT * FROM unnest($11::text[], $12::int8[], $13::text[], $14::text[], $15::int8[],
                                $16::text[], $17::text[], $18::int8[], $19::int8[], $20::text[])
         AS s(run_id, idx, step_id, status, attempts, outputs, error, started_at,
              finished_at, calls)),
     ins AS (INSERT INTO steps (run_id, idx, step_id, status, attempts, outputs, error,
         started_at, finished_at, calls)
       SELECT * FROM s WHERE s.run_id IN (SELECT id FROM moved)
       ON CONFLICT (run_id, idx) DO UPDATE SET step_id = excluded.step_id,
         status = excluded.status, attempts = excluded.attempts,
         outputs = excluded.outputs, error = excluded.error,
         started_at = excluded.started_at, finished_at = excluded.finished_at,
         calls = CASE WHEN excluded.calls IS NULL THEN steps.calls
                      WHEN steps.calls IS NULL THEN excluded.calls
                      ELSE substr(steps.calls, 1, length(steps.calls) - 1) || ','
                           || substr(excluded.calls, 2) END
       RETURNING 1),
     erased AS (UPDATE steps t
       SET outputs = regexp_replace(t.outputs, '\{"\$secret": ?"v1:[A-Za-z0-9+/=]*"\}',
                                    '{"$secret":"erased"}', 'g')
       FROM moved m
       WHERE m.terminal AND t.run_id = m.id AND strpos(t.outputs, '"$secret"') > 0
         AND NOT EXISTS (SELECT 1 FROM s WHERE s.run_id = t.run_id AND s.idx = t.idx)
       RETURNING 1)
     SELECT m.id, CASE WHEN m.status <> 'running' THEN pg_notify('roster_wake', '') END::text
       FROM moved m"#;

/// One round trip: the statement commits on its own.
async fn write_batch(conns: &Conns, batch: &[&StepCommit]) -> Result<Vec<bool>, StoreError> {
    let steps: Vec<_> = batch
        .iter()
        .filter_map(|c| c.step.as_ref().map(|s| (*c, s)))
        .collect();
    // A run that ends keeps no usable secret: its last step's outputs are erased as written.
    let outputs: Vec<Option<String>> = steps
        .iter()
        .map(|(c, s)| match (&s.outputs, c.run.status.is_terminal()) {
            (Some(o), true) => Some(crate::secret::erase_text(o).unwrap_or_else(|| o.clone())),
            (o, _) => o.clone(),
        })
        .collect();
    let mut conn = conns.take().await?;
    let result = sqlx::query_as::<_, (String, Option<String>)>(WRITE_BATCH)
        .bind(column(batch, |c| c.run_id.as_str()))
        .bind(column(batch, |c| c.run.status.as_str()))
        .bind(column(batch, |c| c.run.cursor))
        .bind(column(batch, |c| c.run.wake_at))
        .bind(column(batch, |c| c.run.error.as_deref()))
        .bind(column(batch, |c| c.run.failed_at))
        .bind(column(batch, |c| c.run.now))
        .bind(column(batch, |c| c.run.status.is_terminal()))
        .bind(column(batch, |c| &*c.owner))
        .bind(column(batch, |c| c.expected_cursor))
        .bind(column(&steps, |(c, _)| c.run_id.as_str()))
        .bind(column(&steps, |(_, s)| s.idx))
        .bind(column(&steps, |(_, s)| s.step_id.as_str()))
        .bind(column(&steps, |(_, s)| s.status.as_str()))
        .bind(column(&steps, |(_, s)| s.attempts))
        .bind(&outputs)
        .bind(column(&steps, |(_, s)| s.error.as_deref()))
        .bind(column(&steps, |(_, s)| s.started_at))
        .bind(column(&steps, |(_, s)| s.finished_at))
        .bind(column(&steps, |(_, s)| s.calls.as_deref()))
        .fetch_all(&mut conn)
        .await;
    conns.give(conn, &result);
    let moved: std::collections::HashSet<String> = result?.into_iter().map(|(id, _)| id).collect();
    Ok(batch.iter().map(|c| moved.contains(&c.run_id)).collect())
}
