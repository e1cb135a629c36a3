//! SQLite's own limits on this disk: how many single-row transactions commit per second, and how
//! many rows per second go in 100 at a time, with the engine's settings (WAL, synchronous=FULL)
//! on one sqlx connection.

use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

/// A row about the size of a step record.
const PAYLOAD: &str = r#"{"status":201,"headers":{"content-type":"application/json","content-length":"140","date":"Sun, 22 Nov 2026 10:00:00 GMT"},"body":{"id":"5f1c2a9e-0c4b-4a11-8e2f-3b9d7c6a1e05","userPrincipalName":"emp00001@contoso.test"}}"#;

#[derive(Debug, Clone, Serialize)]
pub struct CommitRates {
    /// Single-row transactions committed per second.
    pub single_commits_per_s: f64,
    /// Rows per second when each transaction holds 100 rows.
    pub batch100_rows_per_s: f64,
}

/// Measures both rates on a fresh file at `path`.
pub async fn commit_rates(path: &Path, singles: usize, batches: usize) -> Result<CommitRates> {
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;

    let t0 = Instant::now();
    for i in 0..singles {
        // One statement outside an explicit transaction is one transaction: one WAL sync.
        insert(&mut conn, i).await?;
    }
    let single_commits_per_s = singles as f64 / t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    for b in 0..batches {
        let mut tx = conn.begin().await?;
        for i in 0..100 {
            insert(&mut tx, singles + b * 100 + i).await?;
        }
        tx.commit().await?;
    }
    let batch100_rows_per_s = (batches * 100) as f64 / t0.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(CommitRates {
        single_commits_per_s,
        batch100_rows_per_s,
    })
}

async fn insert(conn: &mut SqliteConnection, i: usize) -> Result<()> {
    sqlx::query("INSERT INTO t (k, v) VALUES (?, ?)")
        .bind(format!("run-{i:08}"))
        .bind(PAYLOAD)
        .execute(conn)
        .await?;
    Ok(())
}
