//! The durable state of the engine, and the only module that talks SQL.
//!
//! `Store` owns the connection pool. Its operations are grouped by the table they own:
//! `runs` (submission, claims, leases, manual transitions), `steps` (the group-commit writer that
//! records a step and moves its run on in one transaction), `events` (events, dispatches and the
//! `subjects` an observation is diffed against), `imports` (CSV import reports and their rows),
//! `playbooks` (pinned playbook versions), `scim` (the resources pushed to the inbound SCIM
//! endpoint), `tokens` (API tokens), `sessions` (the web console's sign-ins) and
//! `trigger_state` (what a polling trigger remembers across restarts).

mod calls;
mod events;
mod imports;
mod playbooks;
mod rows;
mod runs;
mod scim;
mod sessions;
mod steps;
mod timers;
mod tokens;
mod trigger_state;
mod wakes;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use calls::CallRow;
pub use events::{
    Dispatch, NewEvent, ObservationOutcome, ObservationRecord, ObserveMode, Observed, Sighting,
};
pub use imports::{ImportRecord, ImportRowRecord};
pub use playbooks::PlaybookVersion;
pub use rows::{Claimed, RunFilter, RunRow, StepRow};
pub use runs::NewRun;
pub use scim::{ScimKey, ScimRow, ScimTaken, ScimWrite};
pub use sessions::{NewSession, SessionRow};
pub use steps::{RunUpdate, StepCommit, StepRecord, StepWriter};
pub use timers::{DateTimerPlan, DateTimerRow, DueDateTimer};
pub use tokens::TokenRow;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sync(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported database URL '{0}': expected sqlite://PATH (PostgreSQL support is planned)"
    )]
    UnsupportedUrl(String),
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("no run with id '{0}'")]
    NoSuchRun(String),
    /// Rows or an end were written to an import that has already ended.
    #[error("import {0} is no longer running")]
    ImportEnded(String),
    /// A unique name or key is taken.
    #[error("{0}")]
    Conflict(String),
    /// A guarded transition found the row in another state.
    #[error("run {run} is {actual}, {wanted}")]
    WrongState {
        run: String,
        actual: String,
        wanted: String,
    },
}

/// How the SQLite file is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `synchronous=FULL` (the default) makes every commit durable against power loss.
    /// `NORMAL` is offered for throwaway environments: in WAL mode it can lose the last commits.
    pub synchronous_full: bool,
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous_full: true,
            max_connections: 8,
        }
    }
}

/// The engine's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// A synchronous connection for submissions and observations, used on a blocking thread:
    /// a bulk import is thousands of statements, and sqlx's SQLite driver costs a round trip to
    /// its connection thread per statement (measured: 10,000 submissions took 2 s that way).
    ingest: Arc<Mutex<Option<rusqlite::Connection>>>,
    /// The database file and sync mode, for the step writer's own connection.
    path: String,
    synchronous_full: bool,
}

impl Store {
    /// Opens (creating if missing) the database at `url` and applies pending migrations.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let connect = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            .statement_cache_capacity(256);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(1)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Store {
            pool,
            ingest: Arc::new(Mutex::new(None)),
            path: path.split('?').next().unwrap_or(path).to_string(),
            synchronous_full: options.synchronous_full,
        })
    }

    /// Runs `f` on a blocking thread with the ingest connection (opened on first use).
    async fn with_ingest<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let slot = self.ingest.clone();
        let path = self.path.clone();
        let full = self.synchronous_full;
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no half-open transaction behind (rusqlite
            // rolls back on drop), so a poisoned lock is still safe to use.
            let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let conn = match guard.as_mut() {
                Some(conn) => conn,
                None => guard.insert(open_sync_connection(&path, full)?),
            };
            f(conn)
        })
        .await
        .map_err(|e| corrupt("ingest task", e))?
    }

    /// Whether the database answers (a trivial query).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool, for the few callers (benchmarks, tests) that measure the database itself.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A synchronous connection to the store's file with the pool's durability (`synchronous` is a
/// per-connection setting, so it is set here again).
fn open_sync_connection(
    path: &str,
    synchronous_full: bool,
) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if synchronous_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn corrupt(what: &str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

fn parse_json(what: &str, s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}
