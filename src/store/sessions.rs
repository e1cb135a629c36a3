//! The web console's sessions: opened at sign-in, looked up on every page, deleted at sign-out.
//! Only a hash of the session's cookie value is stored. A session opened with an API token
//! lasts only as long as the token: revoking the token ends it.

use super::db::{on_pool, sql_for};

use super::{Store, StoreError};

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub csrf: &'a str,
    pub principal: &'a str,
    pub token_id: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub csrf: String,
    pub principal: String,
    pub expires_at: i64,
}

impl Store {
    /// Stores a session, and forgets the expired ones (sign-ins are rare, so this is the
    /// cheapest place to keep the table small).
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(&sql_for(
            pool,
            "DELETE FROM console_sessions WHERE expires_at <= ?"
        ))
        .bind(s.created_at)
        .execute(pool)
        .await?
        .rows_affected());
        on_pool!(self, |pool| {
            sqlx::query(&sql_for(pool, "INSERT INTO console_sessions (id_hash, csrf, principal, token_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)"))
        .bind(s.id_hash)
        .bind(s.csrf)
        .bind(s.principal)
        .bind(s.token_id)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(pool).await?.rows_affected()
        });
        Ok(())
    }

    /// The session with this hash if it has not expired and its token (if any) is not revoked.
    pub async fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRow>, StoreError> {
        let row: Option<(String, String, i64)> = on_pool!(self, |pool| sqlx::query_as(&sql_for(
            pool,
            "SELECT s.csrf, s.principal, s.expires_at FROM console_sessions s \
             LEFT JOIN api_tokens t ON t.id = s.token_id \
             WHERE s.id_hash = ? AND s.expires_at > ? \
               AND (s.token_id IS NULL OR t.revoked_at IS NULL)"
        ))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(csrf, principal, expires_at)| SessionRow {
            csrf,
            principal,
            expires_at,
        }))
    }

    /// Ends a session (sign-out); `false` when there was none.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| sqlx::query(&sql_for(
            pool,
            "DELETE FROM console_sessions WHERE id_hash = ?"
        ))
        .bind(id_hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done > 0)
    }
}
