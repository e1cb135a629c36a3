//! Runs: submission, claims and leases, and the manual transitions (cancel, retry, decide).

use std::sync::LazyLock;

use serde_json::Value;
use sqlx::Row;

use super::rows::{RunFilter, RunRow, StepRow, RUN_COLUMNS};
use super::{json_text, Store, StoreError};
use crate::engine::status::RunStatus;

/// A run to create, already evaluated by the engine (vars, concurrency key).
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: String,
    pub playbook: String,
    pub playbook_hash: String,
    pub event_id: Option<String>,
    pub subject: Option<String>,
    pub concurrency_key: Option<String>,
    pub person: Value,
    pub event: Value,
    pub vars: Value,
    /// `Some` creates the run already failed (its `vars:` could not be evaluated).
    pub error: Option<String>,
}

/// Statuses a run can still leave by itself or by a person's decision.
const ACTIVE: &str = "('queued','running','waiting','review','approval')";

pub(super) fn insert_run(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun,
    now: i64,
) -> rusqlite::Result<()> {
    let (status, finished) = match run.error {
        Some(_) => (RunStatus::Failed, Some(now)),
        None => (RunStatus::Queued, None),
    };
    tx.prepare_cached(
        "INSERT INTO runs (id, playbook, playbook_hash, event_id, subject, concurrency_key, status, \
         cursor, attempt, person, event, vars, error, wake_at, created_at, updated_at, finished_at, failed_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(rusqlite::params![
        run.id,
        run.playbook,
        run.playbook_hash,
        run.event_id,
        run.subject,
        run.concurrency_key,
        status.as_str(),
        json_text(&run.person),
        json_text(&run.event),
        json_text(&run.vars),
        run.error,
        now,
        now,
        now,
        finished,
        run.error.as_ref().map(|_| 0i64),
    ])?;
    Ok(())
}

/// The claim statement. Each status is searched on its own, in `runs_ready` order, so a claim
/// reads about `limit` index entries however many runs are queued: one search over all ready
/// statuses at once (`status IN (...) OR ...`) has to sort every ready run first, which made
/// each claim cost O(queued) while holding the write lock.
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    let ready = |condition: &str, order: &str| {
        format!(
            "SELECT seq, wake_at FROM (SELECT r.seq, r.wake_at FROM runs r WHERE {condition} \
               AND (?5 IS NULL OR r.id = ?5) \
               AND (r.concurrency_key IS NULL OR NOT EXISTS ( \
                    SELECT 1 FROM runs o WHERE o.concurrency_key = r.concurrency_key \
                      AND o.seq < r.seq AND o.status IN {ACTIVE})) \
             ORDER BY {order} LIMIT ?4)"
        )
    };
    format!(
        "UPDATE runs SET status = 'running', lease_owner = ?1, lease_expires = ?2, \
             started_at = COALESCE(started_at, ?3), updated_at = ?3, wake_at = NULL \
         WHERE seq IN (SELECT seq FROM ({} UNION ALL {} UNION ALL {} UNION ALL {}) \
             ORDER BY wake_at, seq LIMIT ?4) \
         RETURNING {RUN_COLUMNS}",
        ready(
            "r.status = 'queued' AND r.wake_at <= ?3",
            "r.wake_at, r.seq"
        ),
        ready(
            "r.status = 'waiting' AND r.wake_at <= ?3",
            "r.wake_at, r.seq"
        ),
        ready(
            "r.status = 'approval' AND r.wake_at <= ?3",
            "r.wake_at, r.seq"
        ),
        // Runs whose worker died; their `wake_at` is NULL, so they come first, as before.
        ready("r.status = 'running' AND r.lease_expires < ?3", "r.seq"),
    )
});

/// The claim statement's text, for the step writer's connection.
pub(super) fn claim_sql() -> &'static str {
    &CLAIM_SQL
}

impl Store {
    /// Extends the leases of every run this worker holds.
    pub async fn heartbeat(&self, owner: &str, until: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET lease_expires = ? WHERE lease_owner = ? AND status = 'running'",
        )
        .bind(until)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Hands back the runs this worker still holds, ready for any worker (graceful shutdown).
    pub async fn release(&self, owner: &str, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, \
             wake_at = ?, updated_at = ? WHERE lease_owner = ? AND status = 'running'",
        )
        .bind(now)
        .bind(now)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The earliest future moment something becomes ready by itself: a timer or another worker's
    /// lease running out. Runs that are ready but blocked by a concurrency key are not timers:
    /// the run that blocks them wakes the worker when it finishes.
    pub async fn next_wake(&self, owner: &str, now: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(t) AS t FROM ( \
               SELECT MIN(wake_at) AS t FROM runs \
                 WHERE status IN ('queued', 'waiting', 'approval') AND wake_at > ?1 \
               UNION ALL \
               SELECT MIN(lease_expires) AS t FROM runs \
                 WHERE status = 'running' AND lease_owner <> ?2 AND lease_expires >= ?1)",
        )
        .bind(now)
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }

    pub async fn run(&self, id: &str) -> Result<RunRow, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NoSuchRun(id.to_string()))?;
        RunRow::decode(&row)
    }

    /// Finds a run by its full id or a unique prefix of it (as typed on the command line).
    pub async fn resolve_run_id(&self, prefix: &str) -> Result<String, StoreError> {
        let rows = sqlx::query("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2")
            .bind(prefix)
            .bind(format!("{prefix}\u{10FFFF}"))
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [one] => Ok(one.try_get("id")?),
            _ => Err(StoreError::NoSuchRun(prefix.to_string())),
        }
    }

    /// The newest runs that match `filter`, from `filter.offset` on.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE {} ORDER BY seq DESC LIMIT ? OFFSET ?",
            filter_sql(filter)
        );
        let limit = if filter.limit > 0 { filter.limit } else { 50 };
        let rows = bind_filter(sqlx::query(&sql), filter)
            .bind(limit)
            .bind(filter.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(RunRow::decode).collect()
    }

    /// How many runs match `filter` (ignoring its limit and offset).
    pub async fn count_runs(&self, filter: &RunFilter) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM runs WHERE {}",
            filter_sql(filter)
        );
        let row = bind_filter(sqlx::query(&sql), filter)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// The run an event with this idempotency key started: `None` for an unknown key,
    /// `Some(None)` when the event started no run (its playbook's `where:` was false).
    pub async fn run_for_key(
        &self,
        key: &str,
        playbook: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query(
            "SELECT d.run_id FROM events e LEFT JOIN dispatches d \
               ON d.event_id = e.id AND d.playbook = ? WHERE e.idempotency_key = ?",
        )
        .bind(playbook)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get::<Option<String>, _>("run_id")?))
            .transpose()
    }

    /// The record of the step at `idx` of a run, if it executed.
    pub async fn step_at(&self, run_id: &str, idx: i64) -> Result<Option<StepRow>, StoreError> {
        let row = sqlx::query(
            "SELECT idx, step_id, status, attempts, outputs, error, started_at, finished_at \
             FROM steps WHERE run_id = ? AND idx = ?",
        )
        .bind(run_id)
        .bind(idx)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(StepRow::decode).transpose()
    }

    /// Runs ready to execute now (queued or due): the queue's depth.
    pub async fn ready_runs(&self, now: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM runs WHERE status IN ('queued', 'waiting') AND wake_at <= ?",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Counts of runs by status.
    pub async fn run_counts(&self) -> Result<Vec<(RunStatus, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for row in rows {
            let status: String = row.try_get("status")?;
            let status = status
                .parse()
                .map_err(|e| super::corrupt("run status", e))?;
            out.push((status, row.try_get("n")?));
        }
        Ok(out)
    }

    pub async fn steps_of(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, step_id, status, attempts, outputs, error, started_at, finished_at \
             FROM steps WHERE run_id = ? ORDER BY idx",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StepRow::decode).collect()
    }

    /// Cancels a run that has not finished. A worker executing it notices at its next commit.
    pub async fn cancel(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(&format!(
            "UPDATE runs SET status = 'cancelled', lease_owner = NULL, lease_expires = NULL, \
             wake_at = NULL, updated_at = ?1, finished_at = ?1 WHERE id = ?2 AND status IN {ACTIVE}"
        ))
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.expect_changed(
            done.rows_affected(),
            id,
            "only an unfinished run can be cancelled",
        )
        .await?;
        self.erase_secrets(id).await
    }

    /// Erases a finished run's secret outputs (see `steps::erase_secrets`).
    pub(super) async fn erase_secrets(&self, run_id: &str) -> Result<(), StoreError> {
        let run_id = run_id.to_string();
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            super::steps::erase_secrets(&tx, &run_id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Queues a failed run again from the step that failed.
    pub async fn retry(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', cursor = failed_at, failed_at = NULL, \
             attempt = attempt + 1, error = NULL, wake_at = ?1, updated_at = ?1, finished_at = NULL \
             WHERE id = ?2 AND status = 'failed' AND failed_at IS NOT NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.expect_changed(done.rows_affected(), id, "only a failed run can be retried")
            .await
    }

    /// Records a person's approval on the step a run is parked at (review or approval) and queues
    /// the run, so the step sees the decision when it executes again. `person` replaces the
    /// run's person when the reviewer corrected fields, and `vars` the vars evaluated from it.
    pub async fn approve(
        &self,
        id: &str,
        decision: &Value,
        person: Option<&Value>,
        vars: Option<&Value>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE runs SET status = 'queued', wake_at = ?1, updated_at = ?1, \
             person = COALESCE(?2, person), vars = COALESCE(?3, vars) \
             WHERE id = ?4 AND status IN ('review', 'approval')",
        )
        .bind(now)
        .bind(person.map(json_text))
        .bind(vars.map(json_text))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return self
                .expect_changed(
                    0,
                    id,
                    "only a run waiting for review or approval can be approved",
                )
                .await;
        }
        sqlx::query(
            "UPDATE steps SET outputs = json_set(COALESCE(outputs, '{}'), '$.decision', json(?1)) \
             WHERE run_id = ?2 AND idx = (SELECT cursor FROM runs WHERE id = ?2)",
        )
        .bind(json_text(decision))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rejects a run parked for review or approval: it ends, and nothing after it executes.
    pub async fn reject(&self, id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE runs SET status = 'rejected', error = ?1, wake_at = NULL, updated_at = ?2, \
             finished_at = ?2 WHERE id = ?3 AND status IN ('review', 'approval')",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return self
                .expect_changed(
                    0,
                    id,
                    "only a run waiting for review or approval can be rejected",
                )
                .await;
        }
        sqlx::query(
            "UPDATE steps SET status = 'rejected', error = ?1, finished_at = ?2 \
             WHERE run_id = ?3 AND idx = (SELECT cursor FROM runs WHERE id = ?3)",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.erase_secrets(id).await
    }

    async fn expect_changed(&self, changed: u64, id: &str, wanted: &str) -> Result<(), StoreError> {
        if changed > 0 {
            return Ok(());
        }
        let run = self.run(id).await?;
        Err(StoreError::WrongState {
            run: id.to_string(),
            actual: run.status.to_string(),
            wanted: wanted.to_string(),
        })
    }
}

/// The `WHERE` condition for `filter`; `bind_filter` binds its parameters in the same order.
fn filter_sql(filter: &RunFilter) -> String {
    let mut sql = String::from("1 = 1");
    for (present, condition) in [
        (filter.playbook.is_some(), " AND playbook = ?"),
        (filter.status.is_some(), " AND status = ?"),
        (filter.subject.is_some(), " AND subject = ?"),
        (filter.created_after.is_some(), " AND created_at >= ?"),
        (filter.created_before.is_some(), " AND created_at < ?"),
    ] {
        if present {
            sql.push_str(condition);
        }
    }
    sql
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_filter<'q>(mut q: Query<'q>, filter: &'q RunFilter) -> Query<'q> {
    if let Some(p) = &filter.playbook {
        q = q.bind(p);
    }
    if let Some(s) = filter.status {
        q = q.bind(s.as_str());
    }
    if let Some(s) = &filter.subject {
        q = q.bind(s);
    }
    if let Some(t) = filter.created_after {
        q = q.bind(t);
    }
    if let Some(t) = filter.created_before {
        q = q.bind(t);
    }
    q
}

impl Store {
    /// Runs a worker would still execute without anyone's decision: queued, running, waiting.
    pub async fn active_runs(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM runs WHERE status IN ('queued', 'running', 'waiting')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }
}
