//! Reading the record of external calls (written by the step writer with each step, as a JSON
//! array in the step's row).

use super::db::{on_pool, sql_for};
use serde::Deserialize;

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

/// A call as stored: with the attempt that made it.
#[derive(Deserialize)]
struct Stored {
    attempt: i64,
    #[serde(flatten)]
    call: ExternalCall,
}

impl Store {
    /// Every external call a run's steps made, in the order they were sent.
    pub async fn calls_of(&self, run_id: &str) -> Result<Vec<CallRow>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, |pool| sqlx::query_as(&sql_for(
            pool,
            "SELECT idx, calls FROM steps WHERE run_id = ? AND calls IS NOT NULL ORDER BY idx"
        ))
        .bind(run_id)
        .fetch_all(pool)
        .await?);
        let mut out = Vec::new();
        for (step_idx, text) in rows {
            let stored: Vec<Stored> =
                serde_json::from_str(&text).map_err(|e| super::corrupt("step calls", e))?;
            out.extend(stored.into_iter().map(|s| CallRow {
                step_idx,
                attempt: s.attempt,
                call: s.call,
            }));
        }
        Ok(out)
    }
}
