//! API tokens: only their SHA-256 is stored; the token itself is shown once, when created.

use super::db::{on_pool, sql_for};

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
        let done = on_pool!(self, |pool| {
            sqlx::query(&sql_for(
            pool,
            "INSERT INTO api_tokens (id, name, hash, scope, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(name)
        .bind(hash)
        .bind(scope)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
        });
        if done == 0 {
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
        let row: Option<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(&sql_for(
            pool,
            "SELECT name, hash FROM api_tokens WHERE id = ? AND scope = ? AND revoked_at IS NULL"
        ))
        .bind(id)
        .bind(scope)
        .fetch_optional(pool)
        .await?
        });
        Ok(row)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows: Vec<(String, String, String, i64, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as(&sql_for(pool, "SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY created_at, id"))
        .fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name, scope, created_at, revoked_at)| TokenRow {
                id,
                name,
                scope,
                created_at,
                revoked_at,
            })
            .collect())
    }

    /// Revokes the active token named `name_or_id` (a name or an id); `false` when none matched.
    pub async fn revoke_token(&self, name_or_id: &str, now: i64) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query(&sql_for(pool, "UPDATE api_tokens SET revoked_at = ? WHERE (name = ?2 OR id = ?2) AND revoked_at IS NULL"))
        .bind(now)
        .bind(name_or_id)
        .execute(pool).await?.rows_affected()
        });
        Ok(done > 0)
    }
}
