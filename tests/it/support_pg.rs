//! PostgreSQL for tests: each test gets a fresh schema in the `test` database (its URL selects
//! it with `options[search_path]`), dropped when the test ends well. Where PostgreSQL is
//! unreachable the PostgreSQL tests are skipped, except with `CI=true`, where they fail.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// The server the tests use (`ROSTER_TEST_POSTGRES` overrides it).
fn base_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema of its own for one test.
pub struct PgSchema {
    pub name: String,
    /// The URL `roster` and `Store::open` are given.
    pub url: String,
    /// A pool on the schema, for the test's own queries.
    pub pool: PgPool,
}

impl PgSchema {
    /// A fresh schema, or `None` (skip) when PostgreSQL is unreachable outside CI.
    pub async fn create() -> Option<PgSchema> {
        let base = base_url();
        let admin = match PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&base)
            .await
        {
            Ok(pool) => pool,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL at {base} is unreachable in CI: {e}")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL at {base} is unreachable ({e})");
                return None;
            }
        };
        // A nested suite run names its schemas with its own prefix, to drop them all at its end.
        let prefix = std::env::var("ROSTER_TEST_SCHEMA_PREFIX").unwrap_or_else(|_| "t_".into());
        let name = format!("{prefix}{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .expect("create the test schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={name}");
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connect to the test schema");
        Some(PgSchema { name, url, pool })
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&self.pool)
            .await
            .expect("drop the test schema");
        self.pool.close().await;
    }
}

/// With `ROSTER_TEST_BACKEND=postgres`, the URL of a fresh schema for a workspace (left for
/// the suite's run to drop: see `postgres::the_engine_suite_passes_on_postgres`).
pub fn backend_schema() -> Option<String> {
    if std::env::var("ROSTER_TEST_BACKEND").as_deref() != Ok("postgres") {
        return None;
    }
    // `Workspace::new` is synchronous; the schema is made on a thread with a runtime of its own.
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let schema = PgSchema::create()
                .await
                .expect("ROSTER_TEST_BACKEND=postgres needs PostgreSQL");
            schema.pool.close().await;
            schema.url
        })
    })
    .join()
    .ok()
}

/// The database URL for a test's store in `dir`: SQLite there, or a fresh PostgreSQL schema
/// with `ROSTER_TEST_BACKEND=postgres`.
pub fn store_url(dir: &std::path::Path) -> String {
    backend_schema().unwrap_or_else(|| format!("sqlite://{}", dir.join("roster.db").display()))
}
