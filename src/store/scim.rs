//! The resources of the inbound SCIM endpoint (`scim_resources`): Users and Groups as clients
//! pushed them. Every write is guarded by the version it read (`WHERE version = ?`), so two
//! concurrent PATCHes of one resource cannot both win; unique names (and, for Users, the
//! person's id) are enforced by the database.

use serde_json::{Map, Value};

use super::db::{on_pool, sql_for, Get};

use super::{json_text, parse_json, Store, StoreError};

/// One stored resource.
#[derive(Debug, Clone)]
pub struct ScimRow {
    pub id: String,
    pub subject_id: Option<String>,
    pub body: Map<String, Value>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a write stores besides the body.
#[derive(Debug, Clone)]
pub struct ScimWrite<'a> {
    /// `User` or `Group`.
    pub resource_type: &'a str,
    pub name_key: &'a str,
    pub external_id: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    pub body: &'a Map<String, Value>,
    pub now: i64,
}

/// Which unique value another resource already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimTaken {
    Name,
    Subject,
}

/// What an indexed look-up goes by.
#[derive(Debug, Clone, Copy)]
pub enum ScimKey {
    Id,
    Name,
    ExternalId,
}

const COLUMNS: &str = "id, subject_id, body, version, created_at, updated_at";

fn row(r: &impl Get) -> Result<ScimRow, StoreError> {
    let body: String = r.try_get("body")?;
    let body = match parse_json("SCIM resource", &body)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(ScimRow {
        id: r.try_get("id")?,
        subject_id: r.try_get("subject_id")?,
        body,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A unique index refused the write: which one.
fn taken(e: &sqlx::Error) -> Option<ScimTaken> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    Some(if db.message().contains("subject") {
        ScimTaken::Subject
    } else {
        ScimTaken::Name
    })
}

impl Store {
    /// Stores a new resource at version 1; `Ok(Err(_))` when a unique value is taken.
    pub async fn scim_insert(
        &self,
        id: &str,
        w: &ScimWrite<'_>,
    ) -> Result<Result<(), ScimTaken>, StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query(&sql_for(
            pool,
            "INSERT INTO scim_resources (id, resource_type, name_key, external_id, subject_id, \
             body, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"
        ))
        .bind(id)
        .bind(w.resource_type)
        .bind(w.name_key)
        .bind(w.external_id)
        .bind(w.subject_id)
        .bind(json_text(&Value::Object(w.body.clone())))
        .bind(w.now)
        .bind(w.now)
        .execute(pool)
        .await
        .map(|d| d.rows_affected())
        });
        match done {
            Ok(_) => Ok(Ok(())),
            Err(e) => match taken(&e) {
                Some(t) => Ok(Err(t)),
                None => Err(e.into()),
            },
        }
    }

    /// Replaces the body of resource `id` if it is still at `version`. `Ok(Ok(false))` when
    /// it changed (or went) in between.
    pub async fn scim_update(
        &self,
        id: &str,
        version: i64,
        w: &ScimWrite<'_>,
    ) -> Result<Result<bool, ScimTaken>, StoreError> {
        let done = on_pool!(self, |pool| sqlx::query(&sql_for(
            pool,
            "UPDATE scim_resources SET name_key = ?, external_id = ?, body = ?, \
             version = version + 1, updated_at = ? \
             WHERE id = ? AND resource_type = ? AND version = ?"
        ))
        .bind(w.name_key)
        .bind(w.external_id)
        .bind(json_text(&Value::Object(w.body.clone())))
        .bind(w.now)
        .bind(id)
        .bind(w.resource_type)
        .bind(version)
        .execute(pool)
        .await
        .map(|d| d.rows_affected()));
        match done {
            Ok(d) => Ok(Ok(d == 1)),
            Err(e) => match taken(&e) {
                Some(t) => Ok(Err(t)),
                None => Err(e.into()),
            },
        }
    }

    /// Deletes resource `id` if it is still at `version`; `false` when it changed or went.
    pub async fn scim_delete(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |pool| sqlx::query(&sql_for(
            pool,
            "DELETE FROM scim_resources WHERE id = ? AND resource_type = ? AND version = ?"
        ))
        .bind(id)
        .bind(resource_type)
        .bind(version)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done == 1)
    }

    /// The resources whose `key` is `value` (a name is compared lower-cased), oldest first.
    pub async fn scim_find(
        &self,
        resource_type: &str,
        key: ScimKey,
        value: &str,
    ) -> Result<Vec<ScimRow>, StoreError> {
        let column = match key {
            ScimKey::Id => "id",
            ScimKey::Name => "name_key",
            ScimKey::ExternalId => "external_id",
        };
        let value = match key {
            ScimKey::Name => value.to_lowercase(),
            _ => value.to_string(),
        };
        let rows = on_pool!(self, |pool| sqlx::query(&sql_for(
            pool,
            &format!(
                "SELECT {COLUMNS} FROM scim_resources WHERE resource_type = ? AND {column} = ? \
             ORDER BY created_at, id"
            )
        ))
        .bind(resource_type)
        .bind(value)
        .fetch_all(pool)
        .await?
        .iter()
        .map(row)
        .collect::<Result<Vec<_>, _>>())?;
        Ok(rows)
    }

    /// One resource by id.
    pub async fn scim_get(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<ScimRow>, StoreError> {
        Ok(self
            .scim_find(resource_type, ScimKey::Id, id)
            .await?
            .into_iter()
            .next())
    }

    /// `limit` resources from `offset`, oldest first, and how many there are.
    pub async fn scim_page(
        &self,
        resource_type: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<ScimRow>, usize), StoreError> {
        let total: i64 = on_pool!(self, |pool| sqlx::query_scalar(&sql_for(
            pool,
            "SELECT COUNT(*) FROM scim_resources WHERE resource_type = ?"
        ))
        .bind(resource_type)
        .fetch_one(pool)
        .await?);
        let rows = if limit == 0 {
            Vec::new()
        } else {
            on_pool!(self, |pool| sqlx::query(&sql_for(
                pool,
                &format!(
                    "SELECT {COLUMNS} FROM scim_resources WHERE resource_type = ? \
                 ORDER BY created_at, id LIMIT ? OFFSET ?"
                )
            ))
            .bind(resource_type)
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<Vec<_>, StoreError>>())?
        };
        Ok((rows, total as usize))
    }

    /// Every resource of a type, oldest first (a filter the indexes cannot answer).
    pub async fn scim_all(&self, resource_type: &str) -> Result<Vec<ScimRow>, StoreError> {
        let (rows, _) = self.scim_page(resource_type, 0, i64::MAX as usize).await?;
        Ok(rows)
    }
}
