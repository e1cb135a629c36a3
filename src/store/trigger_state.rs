//! `trigger_state`: what a polling trigger must remember across restarts, by trigger and key
//! (the Entra delta poller's next link and the groups it has seen).

use super::db::{on_pool, sql_for};
use super::{Store, StoreError};

impl Store {
    /// The value stored under (`trigger`, `key`), if any.
    pub async fn trigger_state(
        &self,
        trigger: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as(&sql_for(
                pool,
                "SELECT value FROM trigger_state WHERE trigger = ? AND key = ?",
            ))
            .bind(trigger)
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(v,)| v))
    }

    /// Every (key, value) of `trigger` whose key starts with `prefix`, ordered by key.
    pub async fn trigger_states(
        &self,
        trigger: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        // `length(?)` rather than a bound integer: one text works for SQLite's substr and
        // PostgreSQL's substr(text, int, int).
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(&sql_for(
                pool,
                "SELECT key, value FROM trigger_state \
                 WHERE trigger = ? AND substr(key, 1, length(?)) = ? ORDER BY key",
            ))
            .bind(trigger)
            .bind(prefix)
            .bind(prefix)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Stores `value` under (`trigger`, `key`), replacing what was there.
    pub async fn set_trigger_state(
        &self,
        trigger: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(&sql_for(
                pool,
                "INSERT INTO trigger_state (trigger, key, value, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (trigger, key) DO UPDATE SET value = excluded.value, \
                 updated_at = excluded.updated_at",
            ))
            .bind(trigger)
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Forgets every key of `trigger` that starts with `prefix` (a full resync starts over).
    pub async fn clear_trigger_states(
        &self,
        trigger: &str,
        prefix: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(&sql_for(
                pool,
                "DELETE FROM trigger_state WHERE trigger = ? AND substr(key, 1, length(?)) = ?",
            ))
            .bind(trigger)
            .bind(prefix)
            .bind(prefix)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::StoreOptions;
    use super::*;

    #[tokio::test]
    async fn values_are_kept_by_trigger_and_key_and_cleared_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url, &StoreOptions::default()).await.unwrap();
        let t = "entra:entra";
        store
            .set_trigger_state(t, "users.link", "a", 1)
            .await
            .unwrap();
        store
            .set_trigger_state(t, "users.link", "b", 2)
            .await
            .unwrap();
        store
            .set_trigger_state(t, "group:1", "{}", 2)
            .await
            .unwrap();
        store
            .set_trigger_state(t, "group:2", "{}", 2)
            .await
            .unwrap();
        store
            .set_trigger_state("other", "group:3", "{}", 2)
            .await
            .unwrap();
        assert_eq!(
            store
                .trigger_state(t, "users.link")
                .await
                .unwrap()
                .as_deref(),
            Some("b")
        );
        let groups = store.trigger_states(t, "group:").await.unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "group:1");
        store.clear_trigger_states(t, "group:").await.unwrap();
        assert!(store.trigger_states(t, "group:").await.unwrap().is_empty());
        assert_eq!(
            store.trigger_states("other", "group:").await.unwrap().len(),
            1
        );
        assert!(store
            .trigger_state(t, "users.link")
            .await
            .unwrap()
            .is_some());
    }
}
