//! API tokens: only their SHA-256 is stored; the token itself is shown once, when created.

use sqlx::Row;

use super::{Store, StoreError};

/// A stored token, without anything that would let someone use it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    /// `api` (the HTTP API) or `scim` (the inbound SCIM endpoint).
    pub scope: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    /// Stores a new token's hash under `name` for `scope`; fails when an active token already
    /// has the name.
    pub async fn create_token(
        &self,
        id: &str,
        name: &str,
        hash: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO api_tokens (id, name, hash, scope, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(hash)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "an active token is already named '{name}' (revoke it first, or pick another name)"
            )));
        }
        Ok(())
    }

    /// The name and stored hash of the active token `id` of `scope`, if there is one.
    pub async fn token_hash(
        &self,
        id: &str,
        scope: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT name, hash FROM api_tokens WHERE id = ? AND scope = ? AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(scope)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("name")?, r.try_get("hash")?)))
            .transpose()
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    scope: r.try_get("scope")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes the active token named `name_or_id` (a name or an id); `false` when none matched.
    pub async fn revoke_token(&self, name_or_id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE (name = ?2 OR id = ?2) AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(name_or_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
