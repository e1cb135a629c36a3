//! The manual transitions of a run: cancel, retry, approve and reject. Each is a guarded
//! `UPDATE … WHERE status IN (…)` whose row count says whether the run was in a state that
//! allows it.

use serde_json::Value;

use super::db::{on_pool, sql_for, Db};
use super::runs::ACTIVE;
use super::{json_text, Store, StoreError};

/// Approve: the decision recorded in the parked step's outputs.
const APPROVE_STEP_SQLITE: &str =
    "UPDATE steps SET outputs = json_set(COALESCE(outputs, '{}'), '$.decision', json(?1)) \
     WHERE run_id = ?2 AND idx = (SELECT cursor FROM runs WHERE id = ?2)";
const APPROVE_STEP_PG: &str = "UPDATE steps SET outputs = \
       jsonb_set(COALESCE(outputs, '{}')::jsonb, '{decision}', $1::jsonb)::text \
     WHERE run_id = $2 AND idx = (SELECT cursor FROM runs WHERE id = $2)";

const APPROVE_RUN: &str = "UPDATE runs SET status = 'queued', wake_at = ?1, updated_at = ?1, \
     person = COALESCE(?2, person), vars = COALESCE(?3, vars) \
     WHERE id = ?4 AND status IN ('review', 'approval')";

const REJECT_RUN: &str = "UPDATE runs SET status = 'rejected', error = ?1, wake_at = NULL, \
     updated_at = ?2, finished_at = ?2 WHERE id = ?3 AND status IN ('review', 'approval')";
const REJECT_STEP: &str = "UPDATE steps SET status = 'rejected', error = ?1, finished_at = ?2 \
     WHERE run_id = ?3 AND idx = (SELECT cursor FROM runs WHERE id = ?3)";

impl Store {
    /// Cancels a run that has not finished. A worker executing it notices at its next commit.
    pub async fn cancel(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE runs SET status = 'cancelled', lease_owner = NULL, lease_expires = NULL, \
             wake_at = NULL, updated_at = ?1, finished_at = ?1 WHERE id = ?2 AND status IN {ACTIVE}"
        );
        let changed = on_pool!(self, |pool| {
            sqlx::query(&sql_for(pool, &sql))
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        self.expect_changed(changed, id, "only an unfinished run can be cancelled")
            .await?;
        // A cancelled run may have held a concurrency key that others wait for.
        self.notify_wake().await?;
        self.erase_secrets(id).await
    }

    /// Erases a finished run's secret outputs (see `steps::erase_secrets`).
    pub(super) async fn erase_secrets(&self, run_id: &str) -> Result<(), StoreError> {
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            super::pg::erase_secrets(&mut tx, &[run_id.to_string()]).await?;
            tx.commit().await?;
            return Ok(());
        }
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
        let changed = on_pool!(self, |pool| {
            sqlx::query(&sql_for(
                pool,
                "UPDATE runs SET status = 'queued', cursor = failed_at, failed_at = NULL, \
                 attempt = attempt + 1, error = NULL, wake_at = ?1, updated_at = ?1, \
                 finished_at = NULL WHERE id = ?2 AND status = 'failed' AND failed_at IS NOT NULL",
            ))
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        self.expect_changed(changed, id, "only a failed run can be retried")
            .await?;
        self.notify_wake().await
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
        let changed = match &self.db {
            Db::Sqlite(db) => {
                let mut tx = db.pool.begin_with("BEGIN IMMEDIATE").await?;
                let changed = sqlx::query(APPROVE_RUN)
                    .bind(now)
                    .bind(person.map(json_text))
                    .bind(vars.map(json_text))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed > 0 {
                    sqlx::query(APPROVE_STEP_SQLITE)
                        .bind(json_text(decision))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                changed
            }
            Db::Postgres(db) => {
                let mut tx = db.pool.begin().await?;
                let changed = sqlx::query(&super::db::pg_sql(APPROVE_RUN))
                    .bind(now)
                    .bind(person.map(json_text))
                    .bind(vars.map(json_text))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed > 0 {
                    sqlx::query(APPROVE_STEP_PG)
                        .bind(json_text(decision))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    super::pg::notify(&mut tx).await?;
                    tx.commit().await?;
                }
                changed
            }
        };
        self.expect_changed(
            changed,
            id,
            "only a run waiting for review or approval can be approved",
        )
        .await
    }

    /// Rejects a run parked for review or approval: it ends, and nothing after it executes.
    pub async fn reject(&self, id: &str, reason: &str, now: i64) -> Result<(), StoreError> {
        let changed = on_pool!(self, |pool| {
            let mut tx = match self.backend() {
                "sqlite" => pool.begin_with("BEGIN IMMEDIATE").await?,
                _ => pool.begin().await?,
            };
            let changed = sqlx::query(&sql_for(pool, REJECT_RUN))
                .bind(reason)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed > 0 {
                sqlx::query(&sql_for(pool, REJECT_STEP))
                    .bind(reason)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            changed
        });
        self.expect_changed(
            changed,
            id,
            "only a run waiting for review or approval can be rejected",
        )
        .await?;
        self.notify_wake().await?;
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
