//! The step writer: group commit of step results.
//!
//! A run task hands the writer one `StepCommit` per finished step and waits for its
//! acknowledgement before it starts the next step. The writer owns one connection and drains
//! everything that queued up while the previous transaction was being synced, so concurrent runs
//! share one commit (one fsync) while no step is ever acknowledged before its commit.
//! Each commit moves the run on with a guarded update (`status = 'running'`, this worker's lease
//! and the expected cursor); when that matches nothing the step row is not written and the run
//! task learns that the run was cancelled or taken over.
//!
//! The worker's claims go through the same writer: a claim joins the batch that is forming and
//! is made after its step commits, in the same transaction. SQLite has one writer at a time, so a
//! claim made on another connection would wait for the writer's lock (in SQLite's busy handler,
//! which sleeps in steps of milliseconds) or make the writer wait, and would pay a sync of its
//! own.

use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::runs::{claim_query, decode_claimed};
use super::{Claimed, Store, StoreError};
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

/// A claim of ready runs (see `Store::claim`), made in the writer's transaction.
#[derive(Debug)]
struct ClaimRequest {
    owner: Arc<str>,
    limit: usize,
    now: i64,
    lease_ms: i64,
    only: Option<String>,
}

type Ack = oneshot::Sender<Result<bool, String>>;
type ClaimAck = oneshot::Sender<Result<Vec<SqliteRow>, String>>;

/// What the writer is asked to do.
enum Request {
    Step(StepCommit, Ack),
    Claim(ClaimRequest, ClaimAck),
}

/// Handle to the group-commit writer task.
#[derive(Clone, Debug)]
pub struct StepWriter {
    tx: mpsc::UnboundedSender<Request>,
}

fn stopped() -> StoreError {
    StoreError::Corrupt {
        what: "step writer".into(),
        detail: "stopped".into(),
    }
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
            .send(Request::Step(commit, ack))
            .map_err(|_| stopped())?;
        match done.await {
            Ok(Ok(applied)) => Ok(applied),
            Ok(Err(message)) => Err(StoreError::Corrupt {
                what: "step commit".into(),
                detail: message,
            }),
            Err(_) => Err(stopped()),
        }
    }

    /// Claims up to `limit` ready runs for `owner` (see `Store::claim`), in the transaction of
    /// the next batch; the runs are returned once the claim is durable.
    pub async fn claim(
        &self,
        owner: Arc<str>,
        limit: usize,
        now: i64,
        lease_ms: i64,
        only: Option<&str>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let request = ClaimRequest {
            owner,
            limit,
            now,
            lease_ms,
            only: only.map(String::from),
        };
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Request::Claim(request, ack))
            .map_err(|_| stopped())?;
        match done.await {
            Ok(Ok(rows)) => decode_claimed(&rows),
            Ok(Err(message)) => Err(StoreError::Corrupt {
                what: "claim".into(),
                detail: message,
            }),
            Err(_) => Err(stopped()),
        }
    }
}

async fn write_loop(mut conn: PoolConnection<Sqlite>, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut commits: Vec<(StepCommit, Ack)> = Vec::with_capacity(MAX_BATCH);
    let mut claims: Vec<(ClaimRequest, ClaimAck)> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Step(c, ack) => commits.push((c, ack)),
                Request::Claim(c, ack) => claims.push((c, ack)),
            }
            if commits.len() + claims.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        match write_batch(&mut conn, &commits, &claims).await {
            Ok((applied, claimed)) => {
                for ((_, ack), ok) in commits.drain(..).zip(applied) {
                    let _ = ack.send(Ok(ok));
                }
                for ((_, ack), rows) in claims.drain(..).zip(claimed) {
                    let _ = ack.send(Ok(rows));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, commits = commits.len(), claims = claims.len(), "step commit failed");
                let message = e.to_string();
                for (_, ack) in commits.drain(..) {
                    let _ = ack.send(Err(message.clone()));
                }
                for (_, ack) in claims.drain(..) {
                    let _ = ack.send(Err(message.clone()));
                }
            }
        }
    }
}

/// One transaction: the step commits, then the claims (so they see the slots and the
/// concurrency keys the commits freed).
async fn write_batch(
    conn: &mut SqliteConnection,
    commits: &[(StepCommit, Ack)],
    claims: &[(ClaimRequest, ClaimAck)],
) -> Result<(Vec<bool>, Vec<Vec<SqliteRow>>), sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let written = async {
        let applied = write_all(conn, commits).await?;
        let mut claimed = Vec::with_capacity(claims.len());
        for (c, _) in claims {
            let rows = claim_query(&c.owner, c.limit, c.now, c.lease_ms, c.only.as_deref())
                .fetch_all(&mut *conn)
                .await?;
            claimed.push(rows);
        }
        Ok::<_, sqlx::Error>((applied, claimed))
    }
    .await;
    match written {
        Ok(done) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(done)
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
