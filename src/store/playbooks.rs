//! Pinned playbook versions: the exact text every run started with.

use sqlx::Row;

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
        sqlx::query(
            "INSERT INTO playbook_versions (hash, name, path, source, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&v.hash)
        .bind(&v.name)
        .bind(&v.path)
        .bind(&v.source)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn playbook_version(&self, hash: &str) -> Result<PlaybookVersion, StoreError> {
        let row =
            sqlx::query("SELECT hash, name, path, source FROM playbook_versions WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| super::corrupt("playbook version", format!("{hash} is missing")))?;
        Ok(PlaybookVersion {
            hash: row.try_get("hash")?,
            name: row.try_get("name")?,
            path: row.try_get("path")?,
            source: row.try_get("source")?,
        })
    }
}
