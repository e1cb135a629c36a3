//! The step writer: group commit of step results.
//!
//! A run task hands the writer one `StepCommit` per finished step and waits for its
//! acknowledgement before it starts the next step. The writer owns one connection and drains
//! everything that queued up while the previous transaction was being synced, so concurrent runs
//! share one commit (one fsync) while no step is ever acknowledged before its commit.
//! Each commit moves the run on with a guarded update (`status = 'running'`, this worker's lease
//! and the expected cursor); when that matches nothing the step row is not written and the run
//! task learns that the run was cancelled or taken over.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError};
use crate::engine::status::{RunStatus, StepStatus};

/// The most commits one transaction takes, to bound the time a batch holds the write lock.
const MAX_BATCH: usize = 512;

/// A finished step and where its run goes next, written in one transaction.
#[derive(Debug)]
pub struct StepCommit {
    pub run_id: String,
    pub owner: std::sync::Arc<str>,
    /// The run's cursor when the step started: the guard against a stale writer.
    pub expected_cursor: i64,
    pub step: Option<StepRecord>,
    pub run: RunUpdate,
}

/// One step's row.
#[derive(Debug)]
pub struct StepRecord {
    pub idx: i64,
    pub step_id: String,
    pub status: StepStatus,
    pub attempts: i64,
    /// Serialized JSON, prepared by the run task so the writer only writes.
    pub outputs: Option<String>,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: i64,
}

/// The run's new position and status.
#[derive(Debug)]
pub struct RunUpdate {
    pub status: RunStatus,
    pub cursor: i64,
    pub wake_at: Option<i64>,
    pub error: Option<String>,
    /// Set when a step failed for good: where a manual retry starts again.
    pub failed_at: Option<i64>,
    pub now: i64,
}

type Ack = oneshot::Sender<Result<bool, String>>;

/// Handle to the group-commit writer task.
#[derive(Clone, Debug)]
pub struct StepWriter {
    tx: mpsc::UnboundedSender<(StepCommit, Ack)>,
}

impl StepWriter {
    /// Starts the writer on a connection of its own.
    pub async fn start(store: &Store) -> Result<StepWriter, StoreError> {
        let conn = store.pool.acquire().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(conn, rx));
        Ok(StepWriter { tx })
    }

    /// Commits one step; `Ok(true)` once it is durable, `Ok(false)` when the guard found the run
    /// cancelled or leased by someone else (nothing was written).
    pub async fn commit(&self, commit: StepCommit) -> Result<bool, StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send((commit, ack))
            .map_err(|_| StoreError::Corrupt {
                what: "step writer".into(),
                detail: "stopped".into(),
            })?;
        match done.await {
            Ok(Ok(applied)) => Ok(applied),
            Ok(Err(message)) => Err(StoreError::Corrupt {
                what: "step commit".into(),
                detail: message,
            }),
            Err(_) => Err(StoreError::Corrupt {
                what: "step writer".into(),
                detail: "stopped".into(),
            }),
        }
    }
}

async fn write_loop(
    mut conn: PoolConnection<Sqlite>,
    mut rx: mpsc::UnboundedReceiver<(StepCommit, Ack)>,
) {
    let mut batch: Vec<(StepCommit, Ack)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let outcome = write_batch(&mut conn, &batch).await;
        match outcome {
            Ok(applied) => {
                for ((_, ack), ok) in batch.drain(..).zip(applied) {
                    let _ = ack.send(Ok(ok));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, commits = batch.len(), "step commit failed");
                let message = e.to_string();
                for (_, ack) in batch.drain(..) {
                    let _ = ack.send(Err(message.clone()));
                }
            }
        }
    }
}

async fn write_batch(
    conn: &mut SqliteConnection,
    batch: &[(StepCommit, Ack)],
) -> Result<Vec<bool>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    match write_all(conn, batch).await {
        Ok(applied) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(applied)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

async fn write_all(
    conn: &mut SqliteConnection,
    batch: &[(StepCommit, Ack)],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut applied = Vec::with_capacity(batch.len());
    for (c, _) in batch {
        let u = &c.run;
        let terminal = u.status.is_terminal();
        let moved = sqlx::query(
            "UPDATE runs SET status = ?1, cursor = ?2, wake_at = ?3, \
               error = COALESCE(?4, error), failed_at = COALESCE(?5, failed_at), updated_at = ?6, \
               finished_at = CASE WHEN ?7 THEN ?6 ELSE NULL END, \
               lease_owner = CASE WHEN ?1 = 'running' THEN lease_owner ELSE NULL END, \
               lease_expires = CASE WHEN ?1 = 'running' THEN lease_expires ELSE NULL END \
             WHERE id = ?8 AND status = 'running' AND lease_owner = ?9 AND cursor = ?10",
        )
        .bind(u.status.as_str())
        .bind(u.cursor)
        .bind(u.wake_at)
        .bind(&u.error)
        .bind(u.failed_at)
        .bind(u.now)
        .bind(terminal)
        .bind(&c.run_id)
        .bind(&*c.owner)
        .bind(c.expected_cursor)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if moved {
            if let Some(s) = &c.step {
                sqlx::query(
                    "INSERT INTO steps (run_id, idx, step_id, status, attempts, outputs, error, \
                       started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (run_id, idx) DO UPDATE SET step_id = excluded.step_id, \
                       status = excluded.status, attempts = excluded.attempts, \
                       outputs = excluded.outputs, error = excluded.error, \
                       started_at = excluded.started_at, finished_at = excluded.finished_at",
                )
                .bind(&c.run_id)
                .bind(s.idx)
                .bind(&s.step_id)
                .bind(s.status.as_str())
                .bind(s.attempts)
                .bind(&s.outputs)
                .bind(&s.error)
                .bind(s.started_at)
                .bind(s.finished_at)
                .execute(&mut *conn)
                .await?;
            }
        }
        applied.push(moved);
    }
    Ok(applied)
}
