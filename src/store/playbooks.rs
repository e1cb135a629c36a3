//! Pinned playbook versions: the exact text every run started with.

use super::db::{on_pool, sql_for};

use super::{Store, StoreError};

/// A stored playbook version.
#[derive(Debug, Clone)]
pub struct PlaybookVersion {
    pub hash: String,
    pub name: String,
    pub path: String,
    pub source: String,
}

impl Store {
    /// Stores a version once; storing the same text again is a no-op.
    pub async fn put_playbook_version(
        &self,
        v: &PlaybookVersion,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(&sql_for(pool, "INSERT INTO playbook_versions (hash, name, path, source, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (hash) DO NOTHING"))
        .bind(&v.hash)
        .bind(&v.name)
        .bind(&v.path)
        .bind(&v.source)
        .bind(now)
        .execute(pool).await?.rows_affected()
        });
        Ok(())
    }

    pub async fn playbook_version(&self, hash: &str) -> Result<PlaybookVersion, StoreError> {
        let (hash, name, path, source): (String, String, String, String) =
            on_pool!(self, |pool| sqlx::query_as(&sql_for(
                pool,
                "SELECT hash, name, path, source FROM playbook_versions WHERE hash = ?"
            ))
            .bind(hash)
            .fetch_optional(pool)
            .await?)
            .ok_or_else(|| super::corrupt("playbook version", format!("{hash} is missing")))?;
        Ok(PlaybookVersion {
            hash,
            name,
            path,
            source,
        })
    }
}
