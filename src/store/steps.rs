//! The step writer: group commit of step results.
//!
//! A run task hands the writer one `StepCommit` per finished step and waits for its
//! acknowledgement before it starts the next step. The writer is a thread that owns one
//! synchronous SQLite connection (rusqlite, on the same libsqlite3 as sqlx) and drains everything
//! that queued up while the previous transaction was being synced, so concurrent runs share one
//! commit (one fsync) while no step is ever acknowledged before its commit. Executing the whole
//! batch on its own thread costs one hand-off per batch, where sqlx's SQLite driver costs a
//! round trip to its connection thread per statement (measured: 35% less CPU per step).
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

use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::db::Db;
use super::runs::claim_sql;
use super::{open_sync_connection, parse_json, Claimed, Store, StoreError};
use crate::engine::status::{RunStatus, StepStatus};

/// The most commits one transaction takes, to bound the time a batch holds the write lock.
pub(super) const MAX_BATCH: usize = 512;

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
    /// The external calls this execution of the step made (the audit trail), as a JSON array
    /// (`calls::to_json`); `None` when it made none.
    pub calls: Option<String>,
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
pub(super) struct ClaimRequest {
    pub owner: Arc<str>,
    pub limit: usize,
    pub now: i64,
    pub lease_ms: i64,
    pub only: Option<String>,
}

/// Claimed rows as a writer hands them back: SQLite's raw (decoded on the caller's side, off
/// the writer thread), PostgreSQL's decoded by the claim's own task.
#[derive(Debug)]
pub(super) enum ClaimRows {
    Raw(Vec<RawClaim>),
    Decoded(Vec<Claimed>),
}

type Ack = oneshot::Sender<Result<bool, String>>;
type ClaimAck = oneshot::Sender<Result<ClaimRows, String>>;

/// What the writer is asked to do.
pub(super) enum Request {
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
    /// Starts the writer on a thread and a connection of its own.
    pub async fn start(store: &Store) -> Result<StepWriter, StoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let db = match &store.db {
            Db::Sqlite(db) => db,
            Db::Postgres(db) => {
                tokio::spawn(super::pg::writer::write_loop(db.pool.clone(), rx));
                return Ok(StepWriter { tx });
            }
        };
        let conn = open_sync_connection(&db.path, db.synchronous_full).map_err(writer_error)?;
        std::thread::Builder::new()
            .name("roster-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(|e| StoreError::Corrupt {
                what: "step writer".into(),
                detail: e.to_string(),
            })?;
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
            Ok(Ok(ClaimRows::Raw(rows))) => rows.into_iter().map(RawClaim::decode).collect(),
            Ok(Ok(ClaimRows::Decoded(claimed))) => Ok(claimed),
            Ok(Err(message)) => Err(StoreError::Corrupt {
                what: "claim".into(),
                detail: message,
            }),
            Err(_) => Err(stopped()),
        }
    }
}

fn writer_error(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        what: "step writer connection".into(),
        detail: e.to_string(),
    }
}

/// A claimed run's row as read by the writer; decoded on the caller's side.
#[derive(Debug)]
pub(super) struct RawClaim {
    id: String,
    playbook_hash: String,
    cursor: i64,
    attempt: i64,
    person: String,
    event: String,
    vars: String,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    updated_at: i64,
}

impl RawClaim {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawClaim> {
        Ok(RawClaim {
            id: row.get("id")?,
            playbook_hash: row.get("playbook_hash")?,
            cursor: row.get("cursor")?,
            attempt: row.get("attempt")?,
            person: row.get("person")?,
            event: row.get("event")?,
            vars: row.get("vars")?,
            error: row.get("error")?,
            created_at: row.get("created_at")?,
            started_at: row.get("started_at")?,
            updated_at: row.get("updated_at")?,
        })
    }

    fn decode(self) -> Result<Claimed, StoreError> {
        Ok(Claimed {
            person: parse_json("run person", &self.person)?,
            event: parse_json("run event", &self.event)?,
            vars: parse_json("run vars", &self.vars)?,
            started_at: self.started_at.unwrap_or(self.updated_at),
            id: self.id,
            playbook_hash: self.playbook_hash,
            cursor: self.cursor,
            attempt: self.attempt,
            error: self.error,
            created_at: self.created_at,
        })
    }
}

/// The writer thread: one synchronous connection, so a whole batch is one hand-off instead of a
/// round trip to a connection thread per statement.
fn write_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Request>) {
    let mut commits: Vec<(StepCommit, Ack)> = Vec::with_capacity(MAX_BATCH);
    let mut claims: Vec<(ClaimRequest, ClaimAck)> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
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
        match write_batch(&mut conn, &commits, &claims) {
            Ok((applied, claimed)) => {
                for ((_, ack), ok) in commits.drain(..).zip(applied) {
                    let _ = ack.send(Ok(ok));
                }
                for ((_, ack), rows) in claims.drain(..).zip(claimed) {
                    let _ = ack.send(Ok(ClaimRows::Raw(rows)));
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

const UPDATE_RUN: &str = "UPDATE runs SET status = ?1, cursor = ?2, wake_at = ?3, \
       error = COALESCE(?4, error), failed_at = COALESCE(?5, failed_at), updated_at = ?6, \
       finished_at = CASE WHEN ?7 THEN ?6 ELSE NULL END, \
       lease_owner = CASE WHEN ?1 = 'running' THEN lease_owner ELSE NULL END, \
       lease_expires = CASE WHEN ?1 = 'running' THEN lease_expires ELSE NULL END \
     WHERE id = ?8 AND status = 'running' AND lease_owner = ?9 AND cursor = ?10";

/// A re-executed step's calls are appended to the earlier ones by joining the two JSON arrays
/// as text (`[a,b]` + `[c]` → `[a,b,c]`), so the writer never parses JSON.
const UPSERT_STEP: &str =
    "INSERT INTO steps (run_id, idx, step_id, status, attempts, outputs, error, \
       started_at, finished_at, calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (run_id, idx) DO UPDATE SET step_id = excluded.step_id, \
       status = excluded.status, attempts = excluded.attempts, \
       outputs = excluded.outputs, error = excluded.error, \
       started_at = excluded.started_at, finished_at = excluded.finished_at, \
       calls = CASE WHEN excluded.calls IS NULL THEN steps.calls \
                    WHEN steps.calls IS NULL THEN excluded.calls \
                    ELSE substr(steps.calls, 1, length(steps.calls) - 1) || ',' \
                         || substr(excluded.calls, 2) END";

/// Steps of a run whose outputs hold a live secret (a cheap pre-filter; `erase_text` decides).
pub(super) const SECRET_STEPS: &str =
    "SELECT idx, outputs FROM steps WHERE run_id = ? AND instr(outputs, '\"$secret\":\"v1:') > 0";

/// Erases the run's secret outputs: a run that ended keeps no usable secret.
pub(super) fn erase_secrets(tx: &rusqlite::Transaction<'_>, run_id: &str) -> rusqlite::Result<()> {
    let found: Vec<(i64, String)> = tx
        .prepare_cached(SECRET_STEPS)?
        .query_map(params![run_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (idx, outputs) in found {
        if let Some(erased) = crate::secret::erase_text(&outputs) {
            tx.prepare_cached("UPDATE steps SET outputs = ? WHERE run_id = ? AND idx = ?")?
                .execute(params![erased, run_id, idx])?;
        }
    }
    Ok(())
}

/// One transaction: the step commits, then the claims (so they see the slots and the
/// concurrency keys the commits freed). Dropping the transaction on an error rolls it back.
fn write_batch(
    conn: &mut Connection,
    commits: &[(StepCommit, Ack)],
    claims: &[(ClaimRequest, ClaimAck)],
) -> rusqlite::Result<(Vec<bool>, Vec<Vec<RawClaim>>)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = Vec::with_capacity(commits.len());
    let mut claimed = Vec::with_capacity(claims.len());
    {
        let mut update = tx.prepare_cached(UPDATE_RUN)?;
        let mut upsert = tx.prepare_cached(UPSERT_STEP)?;
        for (c, _) in commits {
            let u = &c.run;
            let moved = update.execute(params![
                u.status.as_str(),
                u.cursor,
                u.wake_at,
                u.error,
                u.failed_at,
                u.now,
                u.status.is_terminal(),
                c.run_id,
                &*c.owner,
                c.expected_cursor,
            ])? == 1;
            if moved {
                if let Some(s) = &c.step {
                    upsert.execute(params![
                        c.run_id,
                        s.idx,
                        s.step_id,
                        s.status.as_str(),
                        s.attempts,
                        s.outputs,
                        s.error,
                        s.started_at,
                        s.finished_at,
                        s.calls,
                    ])?;
                }
            }
            if moved && u.status.is_terminal() {
                erase_secrets(&tx, &c.run_id)?;
            }
            applied.push(moved);
        }
        if !claims.is_empty() {
            let mut claim = tx.prepare_cached(claim_sql())?;
            for (c, _) in claims {
                let rows = claim
                    .query_map(
                        params![&*c.owner, c.now + c.lease_ms, c.now, c.limit as i64, c.only],
                        RawClaim::read,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                claimed.push(rows);
            }
        }
    }
    tx.commit()?;
    Ok((applied, claimed))
}
