//! The step writer and the claim on PostgreSQL.
//!
//! The writer is a task that drains the queued step commits into one transaction per batch,
//! as on SQLite, but writes a whole batch with two statements over arrays (`unnest`): one
//! guarded `UPDATE runs` that returns the runs it moved, one upsert of their steps. A round
//! trip costs far more on a network connection than a statement inside SQLite, so statements
//! per batch, not per step, bound the rate. A batch that fails because the connection was lost
//! is written again once the database answers (the guards make that safe); the run tasks wait.
//!
//! Up to `BATCHES_IN_FLIGHT` batches are written at once. Claims run in their own transactions beside the writer (PostgreSQL has many writers): the
//! candidate rows are locked `FOR UPDATE SKIP LOCKED`, so two processes never wait for or take
//! the same run, and a transaction-scoped advisory lock orders the claims of every process so
//! that each sees the previous one's runs as started — that is what keeps a concurrency key to
//! one run at a time across processes.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::rows::RUN_COLUMNS;
use super::super::runs::ACTIVE;
use super::super::steps::{ClaimRequest, ClaimRows, Request, StepCommit, MAX_BATCH};
use super::super::{parse_json, Claimed, StoreError};

/// The advisory lock key that orders claims across processes ("roster" "claim").
const CLAIM_LOCK: (i32, i32) = (0x726f_7374, 0x636c_6169);

/// How many batches one process writes at once. PostgreSQL has many writers and commits
/// concurrent transactions together, so while one batch waits for its round trips the next
/// one forms and is written beside it (the batches move different runs).
const BATCHES_IN_FLIGHT: usize = 4;

type Acked = Vec<(StepCommit, oneshot::Sender<Result<bool, String>>)>;

/// The writer task: batches until the channel closes.
pub(in crate::store) async fn write_loop(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Request>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let mut commits: Acked = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Step(c, ack) => commits.push((c, ack)),
                Request::Claim(c, ack) => {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        let result = claim(&pool, &c).await.map_err(|e| e.to_string());
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
        tokio::spawn(async move {
            write_and_ack(&pool, commits).await;
            drop(slot);
        });
    }
}

/// Writes one batch (again while the database is unreachable) and acknowledges its commits.
async fn write_and_ack(pool: &PgPool, mut commits: Acked) {
    let batch: Vec<&StepCommit> = commits.iter().map(|(c, _)| c).collect();
    let mut delay = Duration::from_millis(100);
    let mut retried = false;
    let outcome = loop {
        match write_batch(pool, &batch).await {
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
    .bind(missed.iter().map(|c| c.run_id.as_str()).collect::<Vec<_>>())
    .bind(missed.iter().map(|c| c.run.status.as_str()).collect::<Vec<_>>())
    .bind(missed.iter().map(|c| c.run.cursor).collect::<Vec<_>>())
    .bind(missed.iter().map(|c| &*c.owner).collect::<Vec<_>>())
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
/// that moved (`ins`, a data-modifying CTE that sees `moved`), a `NOTIFY` when a run left
/// `running`, and the stored steps of the runs that ended whose outputs may hold a secret.
/// The statement's snapshot predates `ins`, so those are the runs' earlier steps; the batch's
/// own step of an ending run is erased before it is written. As on SQLite, a re-executed
/// step's calls are appended to the earlier ones as text.
const WRITE_BATCH: &str = "WITH c AS (SELECT * FROM unnest($1::text[], $2::text[], \
       $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::int8[], $8::bool[], $9::text[], \
       $10::int8[]) AS c(id, status, cursor, wake_at, error, failed_at, now, terminal, owner, \
       expected)), \
     moved AS (UPDATE runs r SET status = c.status, cursor = c.cursor, \
       wake_at = c.wake_at, error = COALESCE(c.error, r.error), \
       failed_at = COALESCE(c.failed_at, r.failed_at), updated_at = c.now, \
       finished_at = CASE WHEN c.terminal THEN c.now ELSE NULL END, \
       lease_owner = CASE WHEN c.status = 'running' THEN r.lease_owner ELSE NULL END, \
       lease_expires = CASE WHEN c.status = 'running' THEN r.lease_expires ELSE NULL END \
       FROM c WHERE r.id = c.id AND r.status = 'running' AND r.lease_owner = c.owner \
         AND r.cursor = c.expected \
       RETURNING r.id, r.status, c.terminal), \
     ins AS (INSERT INTO steps (run_id, idx, step_id, status, attempts, outputs, error, \
         started_at, finished_at, calls) \
       SELECT * FROM unnest($11::text[], $12::int8[], $13::text[], $14::text[], $15::int8[], \
                            $16::text[], $17::text[], $18::int8[], $19::int8[], $20::text[]) \
         AS s(run_id, idx, step_id, status, attempts, outputs, error, started_at, \
              finished_at, calls) \
       WHERE s.run_id IN (SELECT id FROM moved) \
       ON CONFLICT (run_id, idx) DO UPDATE SET step_id = excluded.step_id, \
         status = excluded.status, attempts = excluded.attempts, \
         outputs = excluded.outputs, error = excluded.error, \
         started_at = excluded.started_at, finished_at = excluded.finished_at, \
         calls = CASE WHEN excluded.calls IS NULL THEN steps.calls \
                      WHEN steps.calls IS NULL THEN excluded.calls \
                      ELSE substr(steps.calls, 1, length(steps.calls) - 1) || ',' \
                           || substr(excluded.calls, 2) END \
       RETURNING 1) \
     SELECT m.id AS run_id, NULL::int8 AS idx, NULL::text AS outputs, \
       CASE WHEN m.status <> 'running' THEN pg_notify('roster_wake', '') END::text AS woke \
       FROM moved m \
     UNION ALL \
     SELECT s.run_id, s.idx, s.outputs, NULL FROM steps s JOIN moved m \
       ON m.id = s.run_id AND m.terminal WHERE strpos(s.outputs, '\"$secret\"') > 0";

/// One transaction, one statement (and an update per stored secret to erase).
async fn write_batch(pool: &PgPool, batch: &[&StepCommit]) -> Result<Vec<bool>, StoreError> {
    let n = batch.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut cursors = Vec::with_capacity(n);
    let mut wakes = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut failed = Vec::with_capacity(n);
    let mut nows = Vec::with_capacity(n);
    let mut terminal = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut expected = Vec::with_capacity(n);
    for c in batch {
        ids.push(c.run_id.as_str());
        statuses.push(c.run.status.as_str());
        cursors.push(c.run.cursor);
        wakes.push(c.run.wake_at);
        errors.push(c.run.error.as_deref());
        failed.push(c.run.failed_at);
        nows.push(c.run.now);
        terminal.push(c.run.status.is_terminal());
        owners.push(&*c.owner);
        expected.push(c.expected_cursor);
    }
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
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(WRITE_BATCH)
        .bind(&ids)
        .bind(&statuses)
        .bind(&cursors)
        .bind(&wakes)
        .bind(&errors)
        .bind(&failed)
        .bind(&nows)
        .bind(&terminal)
        .bind(&owners)
        .bind(&expected)
        .bind(
            steps
                .iter()
                .map(|(c, _)| c.run_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(steps.iter().map(|(_, s)| s.idx).collect::<Vec<_>>())
        .bind(
            steps
                .iter()
                .map(|(_, s)| s.step_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            steps
                .iter()
                .map(|(_, s)| s.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(steps.iter().map(|(_, s)| s.attempts).collect::<Vec<_>>())
        .bind(&outputs)
        .bind(
            steps
                .iter()
                .map(|(_, s)| s.error.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(steps.iter().map(|(_, s)| s.started_at).collect::<Vec<_>>())
        .bind(steps.iter().map(|(_, s)| s.finished_at).collect::<Vec<_>>())
        .bind(
            steps
                .iter()
                .map(|(_, s)| s.calls.as_deref())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await?;
    let written: std::collections::HashSet<(&str, i64)> = steps
        .iter()
        .map(|(c, s)| (c.run_id.as_str(), s.idx))
        .collect();
    let mut moved = std::collections::HashSet::new();
    for row in &rows {
        let run: String = row.try_get("run_id")?;
        let Some(idx) = row.try_get::<Option<i64>, _>("idx")? else {
            moved.insert(run);
            continue;
        };
        // The batch's own step replaced this row; it was erased before it was written.
        if written.contains(&(run.as_str(), idx)) {
            continue;
        }
        let stored: String = row.try_get("outputs")?;
        if let Some(erased) = crate::secret::erase_text(&stored) {
            sqlx::query("UPDATE steps SET outputs = $1 WHERE run_id = $2 AND idx = $3")
                .bind(erased)
                .bind(&run)
                .bind(idx)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(batch.iter().map(|c| moved.contains(&c.run_id)).collect())
}

/// The claim statement: each ready status searched on its own (as on SQLite), the candidates
/// locked `FOR UPDATE SKIP LOCKED`. A keyed run is ready when no older run of its key is
/// active and no younger one has started (a younger run can have started when the older one
/// committed after it was claimed).
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    let ready = |name: &str, condition: &str, order: &str| {
        format!(
            "{name} AS (SELECT r.seq, r.wake_at FROM runs r WHERE {condition} \
               AND ($5::text IS NULL OR r.id = $5) \
               AND (r.concurrency_key IS NULL OR NOT EXISTS ( \
                    SELECT 1 FROM runs o WHERE o.concurrency_key = r.concurrency_key \
                      AND o.id <> r.id AND o.status IN {ACTIVE} \
                      AND (o.seq < r.seq OR o.status <> 'queued'))) \
             ORDER BY {order} LIMIT $4 FOR UPDATE OF r SKIP LOCKED)"
        )
    };
    format!(
        "WITH {}, {}, {}, {}, picked AS (SELECT * FROM q UNION ALL SELECT * FROM w \
           UNION ALL SELECT * FROM a UNION ALL SELECT * FROM l) \
         UPDATE runs SET status = 'running', lease_owner = $1, lease_expires = $2, \
             started_at = COALESCE(started_at, $3), updated_at = $3, wake_at = NULL \
         WHERE seq IN (SELECT seq FROM picked ORDER BY wake_at NULLS FIRST, seq LIMIT $4) \
         RETURNING {RUN_COLUMNS}",
        ready(
            "q",
            "r.status = 'queued' AND r.wake_at <= $3",
            "r.wake_at, r.seq"
        ),
        ready(
            "w",
            "r.status = 'waiting' AND r.wake_at <= $3",
            "r.wake_at, r.seq"
        ),
        ready(
            "a",
            "r.status = 'approval' AND r.wake_at <= $3",
            "r.wake_at, r.seq"
        ),
        ready(
            "l",
            "r.status = 'running' AND r.lease_expires < $3",
            "r.seq"
        ),
    )
});

/// Claims up to `c.limit` ready runs for `c.owner` in a transaction of its own.
async fn claim(pool: &PgPool, c: &ClaimRequest) -> Result<Vec<Claimed>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(CLAIM_LOCK.0)
        .bind(CLAIM_LOCK.1)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(&CLAIM_SQL)
        .bind(&*c.owner)
        .bind(c.now + c.lease_ms)
        .bind(c.now)
        .bind(c.limit as i64)
        .bind(c.only.as_deref())
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    rows.iter().map(decode_claim).collect()
}

fn decode_claim(row: &PgRow) -> Result<Claimed, StoreError> {
    let updated_at: i64 = row.try_get("updated_at")?;
    Ok(Claimed {
        id: row.try_get("id")?,
        playbook_hash: row.try_get("playbook_hash")?,
        cursor: row.try_get("cursor")?,
        attempt: row.try_get("attempt")?,
        person: parse_json("run person", row.try_get("person")?)?,
        event: parse_json("run event", row.try_get("event")?)?,
        vars: parse_json("run vars", row.try_get("vars")?)?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row
            .try_get::<Option<i64>, _>("started_at")?
            .unwrap_or(updated_at),
    })
}
