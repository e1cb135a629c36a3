//! What the store hands back: plain records decoded from rows.

use super::db::Get;
use super::{corrupt, parse_json, StoreError};
use crate::engine::status::{RunStatus, StepStatus};
use serde::Serialize;
use serde_json::Value;

/// A run as listed and shown.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: String,
    pub playbook: String,
    pub playbook_hash: String,
    pub event_id: Option<String>,
    pub subject: Option<String>,
    pub concurrency_key: Option<String>,
    #[serde(serialize_with = "ser_status")]
    pub status: RunStatus,
    pub cursor: i64,
    pub failed_at: Option<i64>,
    pub attempt: i64,
    pub person: Value,
    pub event: Value,
    pub vars: Value,
    pub error: Option<String>,
    pub wake_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

fn ser_status<S: serde::Serializer>(s: &RunStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

fn ser_step_status<S: serde::Serializer>(s: &StepStatus, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

pub(super) const RUN_COLUMNS: &str = "id, playbook, playbook_hash, event_id, subject, concurrency_key, \
    status, cursor, failed_at, attempt, person, event, vars, error, wake_at, lease_owner, created_at, \
    started_at, updated_at, finished_at";

impl RunRow {
    pub(super) fn decode(row: &impl Get) -> Result<RunRow, StoreError> {
        let status: String = row.try_get("status")?;
        Ok(RunRow {
            id: row.try_get("id")?,
            playbook: row.try_get("playbook")?,
            playbook_hash: row.try_get("playbook_hash")?,
            event_id: row.try_get("event_id")?,
            subject: row.try_get("subject")?,
            concurrency_key: row.try_get("concurrency_key")?,
            status: status.parse().map_err(|e| corrupt("run status", e))?,
            cursor: row.try_get("cursor")?,
            failed_at: row.try_get("failed_at")?,
            attempt: row.try_get("attempt")?,
            person: parse_json("run person", &row.try_get::<String>("person")?)?,
            event: parse_json("run event", &row.try_get::<String>("event")?)?,
            vars: parse_json("run vars", &row.try_get::<String>("vars")?)?,
            error: row.try_get("error")?,
            wake_at: row.try_get("wake_at")?,
            lease_owner: row.try_get("lease_owner")?,
            created_at: row.try_get("created_at")?,
            started_at: row.try_get("started_at")?,
            updated_at: row.try_get("updated_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }
}

/// A run a worker has just claimed: what it needs to resume it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub playbook_hash: String,
    pub cursor: i64,
    pub attempt: i64,
    pub person: Value,
    pub event: Value,
    pub vars: Value,
    /// Set when a step failed for good and the `on_failure` steps are running.
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: i64,
}

impl Claimed {
    pub(super) fn decode(row: &impl Get) -> Result<Claimed, StoreError> {
        let updated_at: i64 = row.try_get("updated_at")?;
        Ok(Claimed {
            id: row.try_get("id")?,
            playbook_hash: row.try_get("playbook_hash")?,
            cursor: row.try_get("cursor")?,
            attempt: row.try_get("attempt")?,
            person: parse_json("run person", &row.try_get::<String>("person")?)?,
            event: parse_json("run event", &row.try_get::<String>("event")?)?,
            vars: parse_json("run vars", &row.try_get::<String>("vars")?)?,
            error: row.try_get("error")?,
            created_at: row.try_get("created_at")?,
            started_at: row
                .try_get::<Option<i64>>("started_at")?
                .unwrap_or(updated_at),
        })
    }
}

/// One recorded step of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub idx: i64,
    pub step_id: String,
    #[serde(serialize_with = "ser_step_status")]
    pub status: StepStatus,
    pub attempts: i64,
    pub outputs: Value,
    pub error: Option<String>,
    pub started_at: i64,
    pub finished_at: i64,
}

impl StepRow {
    pub(super) fn decode(row: &impl Get) -> Result<StepRow, StoreError> {
        let status: String = row.try_get("status")?;
        let outputs: Option<String> = row.try_get("outputs")?;
        Ok(StepRow {
            idx: row.try_get("idx")?,
            step_id: row.try_get("step_id")?,
            status: status.parse().map_err(|e| corrupt("step status", e))?,
            attempts: row.try_get("attempts")?,
            outputs: match outputs {
                Some(s) => parse_json("step outputs", &s)?,
                None => Value::Null,
            },
            error: row.try_get("error")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }
}

/// Which runs `runs list` shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub playbook: Option<String>,
    pub status: Option<RunStatus>,
    pub subject: Option<String>,
    /// Created at or after (Unix ms).
    pub created_after: Option<i64>,
    /// Created before (Unix ms).
    pub created_before: Option<i64>,
    /// At most this many (default 50).
    pub limit: i64,
    /// Skip this many of the newest first.
    pub offset: i64,
}
