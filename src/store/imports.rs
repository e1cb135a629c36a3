//! CSV imports: the `imports` row with its status and running counts, and `import_rows` with
//! the outcome of every data row. Written on the ingest connection, batch by batch, so a
//! report can be read while the import progresses.

use rusqlite::{params, TransactionBehavior};
use serde_json::Value;

use super::db::{on_pool, pg_sql, sql_for, Db, Get as _};

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

const INSERT_IMPORT: &str = "INSERT INTO imports (id, profile, source, file_name, status, \
     counts, error, created_at, updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_ROW: &str = "INSERT INTO import_rows (import_id, row_number, subject_id, outcome, \
     event_id, detail) VALUES (?, ?, ?, ?, ?, ?)";
const UPDATE_COUNTS: &str =
    "UPDATE imports SET counts = ?, updated_at = ? WHERE id = ? AND status = 'running'";
const FINISH: &str = "UPDATE imports SET status = ?, counts = ?, error = ?, updated_at = ?, \
     finished_at = ? WHERE id = ? AND status = 'running'";

impl Store {
    /// Records a new import, `running`.
    pub async fn create_import(&self, import: ImportRecord) -> Result<(), StoreError> {
        if let Db::Postgres(db) = &self.db {
            sqlx::query(&pg_sql(INSERT_IMPORT))
                .bind(&import.id)
                .bind(&import.profile)
                .bind(&import.source)
                .bind(&import.file_name)
                .bind(&import.status)
                .bind(json_text(&import.counts))
                .bind(&import.error)
                .bind(import.created_at)
                .bind(import.created_at)
                .bind(import.finished_at)
                .execute(&db.pool)
                .await?;
            return Ok(());
        }
        self.with_ingest(move |conn| {
            conn.prepare_cached(INSERT_IMPORT)?.execute(params![
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
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            let insert = pg_sql(INSERT_ROW);
            for r in &rows {
                sqlx::query(&insert)
                    .bind(&import_id)
                    .bind(r.row_number)
                    .bind(&r.subject_id)
                    .bind(&r.outcome)
                    .bind(&r.event_id)
                    .bind(json_text(&r.detail))
                    .execute(&mut *tx)
                    .await?;
            }
            let changed = sqlx::query(&pg_sql(UPDATE_COUNTS))
                .bind(json_text(&counts))
                .bind(now)
                .bind(&import_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(StoreError::ImportEnded(import_id));
            }
            tx.commit().await?;
            return Ok(());
        }
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(INSERT_ROW)?;
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
            let changed = tx.prepare_cached(UPDATE_COUNTS)?.execute(params![
                json_text(&counts),
                now,
                import_id
            ])?;
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
        if let Db::Postgres(db) = &self.db {
            let changed = sqlx::query(&pg_sql(FINISH))
                .bind(status)
                .bind(json_text(&counts))
                .bind(&error)
                .bind(now)
                .bind(now)
                .bind(&import_id)
                .execute(&db.pool)
                .await?
                .rows_affected();
            if changed != 1 {
                return Err(StoreError::ImportEnded(import_id));
            }
            return Ok(());
        }
        self.with_ingest(move |conn| {
            let changed = conn.prepare_cached(FINISH)?.execute(params![
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
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if self.backend() == "postgres" {
                // One snapshot for both reads, as SQLite's read transaction gives.
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *tx)
                    .await?;
            }
            let row = sqlx::query(&sql_for(pool,
            "SELECT id, profile, source, file_name, status, counts, error, created_at, finished_at \
             FROM imports WHERE id = ?",
        ))
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
                counts: parse_json("import counts", &row.try_get::<String>("counts")?)?,
                error: row.try_get("error")?,
                created_at: row.try_get("created_at")?,
                finished_at: row.try_get("finished_at")?,
            };
            let rows = sqlx::query(&sql_for(
                pool,
                "SELECT row_number, subject_id, outcome, event_id, detail FROM import_rows \
             WHERE import_id = ? ORDER BY row_number",
            ))
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
                        detail: parse_json("import row", &row.try_get::<String>("detail")?)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Some((import, rows)))
        })
    }
}
