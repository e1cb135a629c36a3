//! Runs: submission, claims and leases, and the manual transitions (cancel, retry, decide).

use std::sync::LazyLock;

use serde_json::Value;

use super::db::{on_pool, sql_for, Get as _};
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
pub(super) const ACTIVE: &str = "('queued','running','waiting','review','approval')";

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

/// The `WHERE` condition for `filter`; `bind_filter!` binds its parameters in the same order.
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

/// Binds `filter`'s parameters to a query of either database (`filter_sql`'s order).
macro_rules! bind_filter {
    ($q:expr, $filter:expr) => {{
        let mut q = $q;
        let f: &RunFilter = $filter;
        if let Some(p) = &f.playbook {
            q = q.bind(p.as_str());
        }
        if let Some(s) = f.status {
            q = q.bind(s.as_str());
        }
        if let Some(s) = &f.subject {
            q = q.bind(s.as_str());
        }
        if let Some(t) = f.created_after {
            q = q.bind(t);
        }
        if let Some(t) = f.created_before {
            q = q.bind(t);
        }
        q
    }};
}

impl Store {
    /// Extends the leases of every run this worker holds.
    pub async fn heartbeat(&self, owner: &str, until: i64) -> Result<u64, StoreError> {
        // On PostgreSQL the rows a step commit of this worker holds are skipped (renewed next
        // time): waiting for them could deadlock with the commit's batch, which locks its rows
        // in another order.
        let sql = match self.backend() {
            "postgres" => {
                "UPDATE runs SET lease_expires = ? WHERE id IN (SELECT id FROM runs \
                 WHERE lease_owner = ? AND status = 'running' FOR UPDATE SKIP LOCKED)"
            }
            _ => "UPDATE runs SET lease_expires = ? WHERE lease_owner = ? AND status = 'running'",
        };
        on_pool!(self, |pool| {
            let done = sqlx::query(&sql_for(pool, sql))
                .bind(until)
                .bind(owner)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Hands back the runs this worker still holds, ready for any worker (graceful shutdown).
    pub async fn release(&self, owner: &str, now: i64) -> Result<u64, StoreError> {
        let released = on_pool!(self, |pool| {
            sqlx::query(&sql_for(
                pool,
                "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_expires = NULL, \
                 wake_at = ?, updated_at = ? WHERE lease_owner = ? AND status = 'running'",
            ))
            .bind(now)
            .bind(now)
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if released > 0 {
            self.notify_wake().await?;
        }
        Ok(released)
    }

    /// The earliest future moment something becomes ready by itself: a timer or another worker's
    /// lease running out. Runs that are ready but blocked by a concurrency key are not timers:
    /// the run that blocks them wakes the worker when it finishes.
    pub async fn next_wake(&self, owner: &str, now: i64) -> Result<Option<i64>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql_for(
                pool,
                "SELECT MIN(t) AS t FROM ( \
                   SELECT MIN(wake_at) AS t FROM runs \
                     WHERE status IN ('queued', 'waiting', 'approval') AND wake_at > ?1 \
                   UNION ALL \
                   SELECT MIN(lease_expires) AS t FROM runs \
                     WHERE status = 'running' AND lease_owner <> ?2 AND lease_expires >= ?1) w",
            ))
            .bind(now)
            .bind(owner)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get::<Option<i64>>("t")?)
        })
    }

    pub async fn run(&self, id: &str) -> Result<RunRow, StoreError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?");
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql_for(pool, &sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| StoreError::NoSuchRun(id.to_string()))?;
            RunRow::decode(&row)
        })
    }

    /// Finds a run by its full id or a unique prefix of it (as typed on the command line).
    pub async fn resolve_run_id(&self, prefix: &str) -> Result<String, StoreError> {
        // Ids are ASCII; the bounds compare bytes on both databases (`COLLATE "C"` on
        // PostgreSQL, whose default collation need not order by code point).
        let ids: Vec<String> = on_pool!(self, |pool| {
            let collate = if self.backend() == "postgres" {
                " COLLATE \"C\""
            } else {
                ""
            };
            let sql = format!(
                "SELECT id FROM runs WHERE id{collate} >= ? AND id{collate} < ? ORDER BY id LIMIT 2"
            );
            sqlx::query_scalar(&sql_for(pool, &sql))
                .bind(prefix)
                .bind(format!("{prefix}\u{7f}"))
                .fetch_all(pool)
                .await?
        });
        match ids.as_slice() {
            [one] => Ok(one.clone()),
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
        on_pool!(self, |pool| {
            let sql = sql_for(pool, &sql);
            let rows = bind_filter!(sqlx::query(&sql), filter)
                .bind(limit)
                .bind(filter.offset.max(0))
                .fetch_all(pool)
                .await?;
            rows.iter().map(RunRow::decode).collect()
        })
    }

    /// How many runs match `filter` (ignoring its limit and offset).
    pub async fn count_runs(&self, filter: &RunFilter) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) AS n FROM runs WHERE {}",
            filter_sql(filter)
        );
        on_pool!(self, |pool| {
            let sql = sql_for(pool, &sql);
            let row = bind_filter!(sqlx::query(&sql), filter)
                .fetch_one(pool)
                .await?;
            Ok(row.try_get("n")?)
        })
    }

    /// The run an event with this idempotency key started: `None` for an unknown key,
    /// `Some(None)` when the event started no run (its playbook's `where:` was false).
    pub async fn run_for_key(
        &self,
        key: &str,
        playbook: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql_for(
                pool,
                "SELECT d.run_id FROM events e LEFT JOIN dispatches d \
                   ON d.event_id = e.id AND d.playbook = ? WHERE e.idempotency_key = ?",
            ))
            .bind(playbook)
            .bind(key)
            .fetch_optional(pool)
            .await?;
            row.map(|r| Ok(r.try_get::<Option<String>>("run_id")?))
                .transpose()
        })
    }

    /// The record of the step at `idx` of a run, if it executed.
    pub async fn step_at(&self, run_id: &str, idx: i64) -> Result<Option<StepRow>, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql_for(
                pool,
                "SELECT idx, step_id, status, attempts, outputs, error, started_at, finished_at \
                 FROM steps WHERE run_id = ? AND idx = ?",
            ))
            .bind(run_id)
            .bind(idx)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(StepRow::decode).transpose()
        })
    }

    /// Runs ready to execute now (queued or due): the queue's depth.
    pub async fn ready_runs(&self, now: i64) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql_for(
                pool,
                "SELECT COUNT(*) AS n FROM runs WHERE status IN ('queued', 'waiting') \
                 AND wake_at <= ?",
            ))
            .bind(now)
            .fetch_one(pool)
            .await?;
            Ok(row.try_get("n")?)
        })
    }

    /// Counts of runs by status.
    pub async fn run_counts(&self) -> Result<Vec<(RunStatus, i64)>, StoreError> {
        let counted: Vec<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
                .fetch_all(pool)
                .await?
        });
        let mut out = Vec::new();
        for (status, n) in counted {
            let status = status
                .parse()
                .map_err(|e| super::corrupt("run status", e))?;
            out.push((status, n));
        }
        Ok(out)
    }

    pub async fn steps_of(&self, run_id: &str) -> Result<Vec<StepRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql_for(
                pool,
                "SELECT idx, step_id, status, attempts, outputs, error, started_at, finished_at \
                 FROM steps WHERE run_id = ? ORDER BY idx",
            ))
            .bind(run_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(StepRow::decode).collect()
        })
    }

    /// Runs a worker would still execute without anyone's decision: queued, running, waiting.
    pub async fn active_runs(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running', 'waiting')")
            .await
    }
}
