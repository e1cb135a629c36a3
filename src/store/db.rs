//! The two databases the store runs on, and what lets one query text serve both.
//!
//! Queries are written once in portable SQL with SQLite's placeholders (`?`, `?N`); on
//! PostgreSQL `pg_sql` rewrites them to `$N` (a bare `?` takes the largest number so far plus
//! one, as in SQLite). `on_pool!` expands a query's code once per backend, so the binds and
//! decodes are typed for each driver; `Get` reads a column the same way from either row type.
//! Statements that differ (JSON functions, locking) are written per backend where they are used.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{Decode, Type};

/// The SQLite backend: the pool, the synchronous ingest connection and what the step writer
/// needs to open its own.
#[derive(Debug, Clone)]
pub(super) struct SqliteDb {
    pub pool: SqlitePool,
    /// A synchronous connection for submissions and observations, used on a blocking thread:
    /// a bulk import is thousands of statements, and sqlx's SQLite driver costs a round trip to
    /// its connection thread per statement (measured: 10,000 submissions took 2 s that way).
    pub ingest: Arc<Mutex<Option<rusqlite::Connection>>>,
    /// The database file and sync mode, for the step writer's own connection.
    pub path: String,
    pub synchronous_full: bool,
}

/// The PostgreSQL backend: one pool shared by every part of the process.
#[derive(Debug, Clone)]
pub(super) struct PgDb {
    pub pool: PgPool,
    /// The URL, for the `LISTEN` connection (a connection of its own, outside the pool).
    pub url: String,
}

#[derive(Debug, Clone)]
pub(super) enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// The channel `pg_notify` wakes idle workers of every process on.
pub(super) const WAKE_CHANNEL: &str = "roster_wake";

/// A query text in the dialect of a pool's database.
pub(super) trait Dialect {
    fn sql(text: &str) -> Cow<'_, str>;
}

impl Dialect for Sqlite {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Borrowed(text)
    }
}

impl Dialect for Postgres {
    fn sql(text: &str) -> Cow<'_, str> {
        Cow::Owned(pg_sql(text))
    }
}

/// `text` for the database of `pool` (the pool only picks the dialect).
pub(super) fn sql_for<'a, DB: sqlx::Database + Dialect>(
    _pool: &sqlx::Pool<DB>,
    text: &'a str,
) -> Cow<'a, str> {
    DB::sql(text)
}

/// SQLite placeholders to PostgreSQL's: `?N` → `$N`, a bare `?` → `$(max so far + 1)`.
/// Text in single quotes is left alone.
pub(super) fn pg_sql(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    let mut highest = 0u32;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
            continue;
        }
        if c != '?' || quoted {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let n = match digits.parse::<u32>() {
            Ok(n) => n,
            Err(_) => highest + 1,
        };
        highest = highest.max(n);
        out.push('$');
        out.push_str(&n.to_string());
    }
    out
}

/// A column type both drivers decode.
pub(crate) trait Col:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Col for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// Reads a column by name from a row of either database.
pub(crate) trait Get {
    fn try_get<T: Col>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl Get for SqliteRow {
    fn try_get<T: Col>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

impl Get for PgRow {
    fn try_get<T: Col>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

/// Expands `$body` once per backend with `$pool` bound to that backend's pool, so one query
/// text (passed through `sql_for($pool, …)`) serves both.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::store::db::Db::Sqlite(db) => {
                let $pool = &db.pool;
                $body
            }
            $crate::store::db::Db::Postgres(db) => {
                let $pool = &db.pool;
                $body
            }
        }
    };
}
pub(super) use on_pool;

#[cfg(test)]
mod tests {
    use super::pg_sql;

    #[test]
    fn placeholders_follow_sqlite_numbering() {
        assert_eq!(pg_sql("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(
            pg_sql("SET x = ? WHERE (n = ?2 OR i = ?2) AND y = ?"),
            "SET x = $1 WHERE (n = $2 OR i = $2) AND y = $3"
        );
        assert_eq!(pg_sql("x = '?' AND y = ?10"), "x = '?' AND y = $10");
    }
}
