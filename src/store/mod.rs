//! The durable state of the engine, and the only module that talks SQL.
//!
//! `Store` owns the connection pool. Its operations are grouped by the table they own:
//! `runs` (submission, claims, leases, manual transitions), `steps` (the group-commit writer that
//! records a step and moves its run on in one transaction), `events` (events, dispatches and the
//! `subjects` an observation is diffed against), `imports` (CSV import reports and their rows),
//! `playbooks` (pinned playbook versions), `scim` (the resources pushed to the inbound SCIM
//! endpoint), `tokens` (API tokens), `sessions` (the web console's sign-ins) and
//! `trigger_state` (what a polling trigger remembers across restarts).
//!
//! Every status change is an `UPDATE … WHERE status = <expected>` whose row count is checked, so
//! two workers can never both finish the same step.

mod calls;
pub(crate) mod db;
mod events;
mod imports;
mod pg;
mod playbooks;
mod rows;
mod runs;
mod scim;
mod sessions;
mod steps;
mod timers;
mod tokens;
mod transitions;
mod trigger_state;
mod wakes;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use db::{on_pool, Db, PgDb, SqliteDb};

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
    #[error("unsupported database URL '{0}': expected sqlite://PATH or postgres://USER@HOST/DB")]
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

/// How the database is opened. The defaults are the ones `roster serve` and `roster worker`
/// use unless the config's `database:` section says otherwise.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// SQLite: `synchronous=FULL` (the default) makes every commit durable against power loss.
    /// `NORMAL` is offered for throwaway environments: in WAL mode it can lose the last commits.
    pub synchronous_full: bool,
    /// The pool's size (PostgreSQL: connections per process, besides the up to three a worker
    /// keeps for its step commits and claims).
    pub max_connections: u32,
    /// PostgreSQL: a statement running longer than this is cancelled (`statement_timeout`), so
    /// a stuck query cannot hold a lock or a worker forever. Zero disables it.
    pub statement_timeout: Duration,
    /// PostgreSQL: how long opening the store keeps retrying an unreachable server.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            synchronous_full: true,
            max_connections: 8,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The engine's database.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// `url` with its password (if any) replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating if missing) the database at `url` and applies pending migrations:
    /// `sqlite://PATH` or `postgres://…` (the schema is the first of the connection's
    /// `search_path`, `public` unless the URL's `options` say otherwise).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if is_postgres_url(url) {
            return Store::open_postgres(url, options).await;
        }
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
            db: Db::Sqlite(SqliteDb {
                pool,
                ingest: Arc::new(Mutex::new(None)),
                path: path.split('?').next().unwrap_or(path).to_string(),
                synchronous_full: options.synchronous_full,
            }),
        })
    }

    async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let mut connect = PgConnectOptions::from_str(url)?;
        if !options.statement_timeout.is_zero() {
            connect = connect.options([(
                "statement_timeout",
                format!("{}", options.statement_timeout.as_millis()),
            )]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(options.connect_timeout.max(Duration::from_secs(1)))
            // A connection the server dropped (restart, failover) is replaced, not handed out.
            .test_before_acquire(true)
            .connect_lazy_with(connect);
        // The server may still be starting (or restarting): retry for a while, then say why.
        let deadline = std::time::Instant::now() + options.connect_timeout;
        loop {
            match sqlx::query("SELECT 1").execute(&pool).await {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        pg::migrate(&pool).await?;
        Ok(Store {
            db: Db::Postgres(PgDb {
                pool,
                url: url.to_string(),
            }),
        })
    }

    /// Which database this is: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` on a blocking thread with the SQLite ingest connection (opened on first use).
    async fn with_ingest<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Db::Sqlite(db) = &self.db else {
            return Err(corrupt("ingest", "not a SQLite store"));
        };
        let slot = db.ingest.clone();
        let path = db.path.clone();
        let full = db.synchronous_full;
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
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// The SQLite pool, for the few callers (benchmarks, tests, the demo) that measure or
    /// inspect a SQLite database itself; `None` on PostgreSQL.
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.db {
            Db::Sqlite(db) => Some(&db.pool),
            Db::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool (benchmarks, tests); `None` on SQLite.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.db {
            Db::Postgres(db) => Some(&db.pool),
            Db::Sqlite(_) => None,
        }
    }

    /// Closes the pool (at shutdown, so the last commits are flushed and connections end).
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// Wakes the idle workers of every process (PostgreSQL `NOTIFY`); on SQLite the workers
    /// of other processes notice changes by themselves (`PRAGMA data_version`).
    pub(crate) async fn notify_wake(&self) -> Result<(), StoreError> {
        if let Db::Postgres(db) = &self.db {
            let mut conn = db.pool.acquire().await?;
            pg::notify(&mut conn).await?;
        }
        Ok(())
    }

    /// What an idle worker watches for changes made by other processes.
    pub async fn watcher(&self) -> Result<Watcher, StoreError> {
        Ok(match &self.db {
            Db::Sqlite(db) => Watcher::Sqlite {
                conn: db.pool.acquire().await?,
                data_version: -1,
            },
            Db::Postgres(db) => {
                let mut listener = sqlx::postgres::PgListener::connect(&db.url).await?;
                listener.listen(db::WAKE_CHANNEL).await?;
                Watcher::Postgres { listener }
            }
        })
    }

    /// A count from a query that has no parameters (tests, the demo's summary, benchmarks).
    pub async fn count(&self, sql: &str) -> Result<i64, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?)
        })
    }
}

/// How a worker learns that another process made work ready.
pub enum Watcher {
    /// Polled: `PRAGMA data_version` changes when another connection commits.
    Sqlite {
        conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
        data_version: i64,
    },
    /// Pushed: `NOTIFY roster_wake` from any process (submissions, freed keys, decisions).
    Postgres {
        listener: sqlx::postgres::PgListener,
    },
}

impl Watcher {
    /// Polled after an idle nap: whether the database changed since the last look (SQLite).
    /// PostgreSQL pushes changes instead (`notified`), so there is nothing to poll.
    pub async fn changed(&mut self) -> bool {
        match self {
            Watcher::Sqlite { conn, data_version } => {
                let v: i64 = sqlx::query_scalar("PRAGMA data_version")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap_or(-2);
                let changed = v != *data_version;
                *data_version = v;
                changed
            }
            Watcher::Postgres { .. } => false,
        }
    }

    /// Resolves when another process notified (PostgreSQL); never on SQLite. When the
    /// listener's connection was lost it resolves too (notifications sent meanwhile are lost,
    /// so the worker looks once), and the next call reconnects.
    pub async fn notified(&mut self) {
        match self {
            Watcher::Sqlite { .. } => std::future::pending().await,
            Watcher::Postgres { listener } => match listener.try_recv().await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::warn!("wake listener lost its connection; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "wake listener cannot reach the database");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
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
