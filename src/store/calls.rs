//! Reading the record of external calls (written by the step writer with each step).

use sqlx::Row;

use super::{Store, StoreError};
use crate::connectors::calls::ExternalCall;

/// One recorded call and the step that made it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRow {
    pub step_idx: i64,
    pub attempt: i64,
    #[serde(flatten)]
    pub call: ExternalCall,
}

impl Store {
    /// Every external call a run's steps made, in the order they were sent.
    pub async fn calls_of(&self, run_id: &str) -> Result<Vec<CallRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT step_idx, attempt, connection, method, url, status, duration_ms, at \
             FROM external_calls WHERE run_id = ? ORDER BY step_idx, execution, seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallRow {
                    step_idx: r.try_get("step_idx")?,
                    attempt: r.try_get("attempt")?,
                    call: ExternalCall {
                        connection: r.try_get("connection")?,
                        method: r.try_get("method")?,
                        url: r.try_get("url")?,
                        status: r.try_get::<i64, _>("status")? as u16,
                        duration_ms: r.try_get("duration_ms")?,
                        at: r.try_get("at")?,
                    },
                })
            })
            .collect()
    }
}
