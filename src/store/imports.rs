//! CSV imports: the `imports` row with its status and running counts, and `import_rows` with
//! the outcome of every data row. Written on the ingest connection, batch by batch, so a
//! report can be read while the import progresses.

use rusqlite::{params, TransactionBehavior};
use serde_json::Value;
use sqlx::Row;

use super::{json_text, parse_json, Store, StoreError};

/// An import as stored.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub id: String,
    pub profile: String,
    pub source: String,
    pub file_name: Option<String>,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub counts: Value,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One data row's outcome.
#[derive(Debug, Clone)]
pub struct ImportRowRecord {
    pub row_number: i64,
    pub subject_id: Option<String>,
    pub outcome: String,
    pub event_id: Option<String>,
    /// The row's whole report.
    pub detail: Value,
}

impl Store {
    /// Records a new import, `running`.
    pub async fn create_import(&self, import: ImportRecord) -> Result<(), StoreError> {
        self.with_ingest(move |conn| {
            conn.prepare_cached(
                "INSERT INTO imports (id, profile, source, file_name, status, counts, error, \
                 created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                import.id,
                import.profile,
                import.source,
                import.file_name,
                import.status,
                json_text(&import.counts),
                import.error,
                import.created_at,
                import.created_at,
                import.finished_at,
            ])?;
            Ok(())
        })
        .await
    }

    /// Adds a processed batch's rows and the running counts, in one transaction.
    pub async fn add_import_rows(
        &self,
        import_id: String,
        rows: Vec<ImportRowRecord>,
        counts: Value,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO import_rows (import_id, row_number, subject_id, outcome, \
                     event_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                )?;
                for r in &rows {
                    insert.execute(params![
                        import_id,
                        r.row_number,
                        r.subject_id,
                        r.outcome,
                        r.event_id,
                        json_text(&r.detail),
                    ])?;
                }
            }
            let changed = tx
                .prepare_cached(
                    "UPDATE imports SET counts = ?, updated_at = ? WHERE id = ? AND status = 'running'",
                )?
                .execute(params![json_text(&counts), now, import_id])?;
            if changed != 1 {
                return Err(StoreError::ImportEnded(import_id));
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Ends a running import: `completed`, or `failed` with the reason.
    pub async fn finish_import(
        &self,
        import_id: String,
        status: &'static str,
        counts: Value,
        error: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_ingest(move |conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE imports SET status = ?, counts = ?, error = ?, updated_at = ?, \
                     finished_at = ? WHERE id = ? AND status = 'running'",
                )?
                .execute(params![
                    status,
                    json_text(&counts),
                    error,
                    now,
                    now,
                    import_id
                ])?;
            if changed != 1 {
                return Err(StoreError::ImportEnded(import_id));
            }
            Ok(())
        })
        .await
    }

    /// One import and its rows processed so far (in file order), read in one transaction so
    /// the counts match the rows while the import progresses.
    pub async fn import(
        &self,
        id: &str,
    ) -> Result<Option<(ImportRecord, Vec<ImportRowRecord>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT id, profile, source, file_name, status, counts, error, created_at, finished_at \
             FROM imports WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let import = ImportRecord {
            id: row.try_get("id")?,
            profile: row.try_get("profile")?,
            source: row.try_get("source")?,
            file_name: row.try_get("file_name")?,
            status: row.try_get("status")?,
            counts: parse_json("import counts", row.try_get("counts")?)?,
            error: row.try_get("error")?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
        };
        let rows = sqlx::query(
            "SELECT row_number, subject_id, outcome, event_id, detail FROM import_rows \
             WHERE import_id = ? ORDER BY row_number",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(ImportRowRecord {
                    row_number: row.try_get("row_number")?,
                    subject_id: row.try_get("subject_id")?,
                    outcome: row.try_get("outcome")?,
                    event_id: row.try_get("event_id")?,
                    detail: parse_json("import row", row.try_get("detail")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((import, rows)))
    }
}
