//! `/Users` and `/Groups`: list, `.search`, GET, POST (201), PUT, PATCH (Users 200 with the
//! resource; Groups 204, as Entra prefers, unless `attributes` asks for a body), DELETE (204).
//! Unique `userName`s and group `displayName`s (ignoring case) and user keys (`externalId`)
//! are 409 `uniqueness`; `If-Match` with a stale `ETag` is 412. A write to a User is observed
//! (see the module docs of `scim`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::header::{ETAG, IF_MATCH, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::{scim_json, ScimError};
use super::list::{self, ListQuery, Projection};
use super::path::get_ci;
use super::resource::{etag, normalize};
use super::{patch, person, Kind, ScimState};
use crate::clock::now_ms;
use crate::person::PersonStatus;
use crate::store::{ObservationOutcome, ScimRow, ScimTaken, ScimWrite};

type St = State<Arc<ScimState>>;

/// How often a write is tried again when the resource changed between its read and its write.
const WRITE_ATTEMPTS: usize = 5;

pub(super) fn routes(kind: Kind) -> Router<Arc<ScimState>> {
    let collection = format!("/{}", kind.endpoint());
    Router::new()
        .route(
            &collection,
            get(move |State(s): St, h: HeaderMap, RawQuery(q): RawQuery| async move {
                list(s, kind, h, q).await
            })
            .post(move |State(s): St, h: HeaderMap, RawQuery(q): RawQuery, b: Bytes| async move {
                create(s, kind, h, q, b).await
            }),
        )
        .route(
            &format!("{collection}/.search"),
            post(move |State(s): St, h: HeaderMap, b: Bytes| async move {
                search(s, kind, h, b).await
            }),
        )
        .route(
            &format!("{collection}/{{id}}"),
            get(
                move |State(s): St, h: HeaderMap, UrlPath(id): UrlPath<String>, RawQuery(q): RawQuery| async move {
                    fetch(s, kind, h, id, q).await
                },
            )
            .put(
                move |State(s): St,
                      h: HeaderMap,
                      UrlPath(id): UrlPath<String>,
                      RawQuery(q): RawQuery,
                      b: Bytes| async move { replace(s, kind, h, id, q, b).await },
            )
            .patch(
                move |State(s): St,
                      h: HeaderMap,
                      UrlPath(id): UrlPath<String>,
                      RawQuery(q): RawQuery,
                      b: Bytes| async move { modify(s, kind, h, id, q, b).await },
            )
            .delete(
                move |State(s): St, h: HeaderMap, UrlPath(id): UrlPath<String>| async move {
                    delete(s, kind, h, id).await
                },
            ),
        )
}

fn params(query: Option<String>) -> Result<Vec<(String, String)>, ScimError> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ScimError::bad("invalidValue", format!("the query string: {e}")))
}

fn json_body(bytes: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not JSON: {e}")))
}

/// A resource body: an object whose `schemas` list the resource type's core schema.
fn resource_body(kind: Kind, bytes: &[u8]) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(body) = json_body(bytes)? else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body is not a JSON object",
        ));
    };
    let listed = get_ci(&Value::Object(body.clone()), "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(kind.core_urn()))
            })
        });
    if !listed {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("'schemas' must list {}", kind.core_urn()),
        ));
    }
    Ok(body)
}

/// A stale `If-Match` is 412.
fn if_match(headers: &HeaderMap, version: i64) -> Result<(), ScimError> {
    let Some(given) = headers.get(IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = etag(version);
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if given
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(&current))
    {
        Ok(())
    } else {
        Err(ScimError::new(
            412,
            None,
            format!("the resource changed: its version is {current}"),
        ))
    }
}

/// A single resource answer, with its `ETag` (and `Location` when created).
fn one(status: StatusCode, resource: Value, version: i64, projection: &Projection) -> Response {
    let location = resource["meta"]["location"].as_str().map(String::from);
    let mut resp = scim_json(status, &projection.apply(resource));
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            resp.headers_mut().insert(LOCATION, v);
        }
    }
    resp
}

fn taken(kind: Kind, t: ScimTaken, body: &Map<String, Value>) -> ScimError {
    let show = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match t {
        ScimTaken::Name => ScimError::uniqueness(format!(
            "{} '{}' is already taken",
            kind.name_attr(),
            show(kind.name_attr())
        )),
        ScimTaken::Subject => ScimError::uniqueness(format!(
            "another user already has the key '{}' (externalId)",
            show("externalId")
        )),
    }
}

async fn load(s: &ScimState, kind: Kind, id: &str) -> Result<ScimRow, ScimError> {
    s.engine
        .store()
        .scim_get(kind.name(), id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no {} with id '{id}'", kind.name())))
}

async fn list(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    q: Option<String>,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(&params(q)?)?;
    let base = s.base_url(&h);
    let (page, total) = s.search(kind, &q, &base).await?;
    Ok(scim_json(StatusCode::OK, &list::response(page, total, &q)))
}

async fn search(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_search(&json_body(&body)?)?;
    let base = s.base_url(&h);
    let (page, total) = s.search(kind, &q, &base).await?;
    Ok(scim_json(StatusCode::OK, &list::response(page, total, &q)))
}

pub(super) async fn search_all(
    State(s): St,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_search(&json_body(&body)?)?;
    let base = s.base_url(&h);
    let (page, total) = s.search_all(&q, &base).await?;
    Ok(scim_json(StatusCode::OK, &list::response(page, total, &q)))
}

async fn fetch(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    id: String,
    q: Option<String>,
) -> Result<Response, ScimError> {
    let projection = Projection::from_params(&params(q)?)?;
    let row = load(&s, kind, &id).await?;
    let rendered = s.render(kind, &row, &s.base_url(&h));
    Ok(one(StatusCode::OK, rendered, row.version, &projection))
}

async fn create(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    q: Option<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from_params(&params(q)?)?;
    let body = normalize(kind, resource_body(kind, &body)?)?;
    let id = Uuid::now_v7().to_string();
    let now = now_ms();
    let base = s.base_url(&h);
    let mut row = ScimRow {
        id: id.clone(),
        subject_id: None,
        body,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    if kind == Kind::User {
        row.subject_id = Some(s.mapping.subject(&s.render(kind, &row, &base)));
    }
    let write = ScimWrite {
        resource_type: kind.name(),
        name_key: &name_key(kind, &row.body),
        external_id: row.body.get("externalId").and_then(Value::as_str),
        subject_id: row.subject_id.as_deref(),
        body: &row.body,
        now,
    };
    if let Err(t) = s.engine.store().scim_insert(&id, &write).await? {
        return Err(taken(kind, t, &row.body));
    }
    let rendered = s.render(kind, &row, &base);
    if kind == Kind::User {
        observe(&s, &row, &rendered, person::status(&rendered)).await?;
    }
    Ok(one(StatusCode::CREATED, rendered, row.version, &projection))
}

fn name_key(kind: Kind, body: &Map<String, Value>) -> String {
    body.get(kind.name_attr())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_lowercase()
}

/// Reads the resource, computes its new body with `change` and writes it if the resource is
/// still as read (else reads it again); observes a User. Returns the stored row.
async fn rewrite(
    s: &ScimState,
    kind: Kind,
    h: &HeaderMap,
    id: &str,
    change: impl Fn(&ScimRow) -> Result<Map<String, Value>, ScimError>,
) -> Result<(ScimRow, Value), ScimError> {
    let base = s.base_url(h);
    for _ in 0..WRITE_ATTEMPTS {
        let row = load(s, kind, id).await?;
        if_match(h, row.version)?;
        let body = change(&row)?;
        let now = now_ms();
        let stored = if body == row.body {
            row
        } else {
            let write = ScimWrite {
                resource_type: kind.name(),
                name_key: &name_key(kind, &body),
                external_id: body.get("externalId").and_then(Value::as_str),
                subject_id: row.subject_id.as_deref(),
                body: &body,
                now,
            };
            match s
                .engine
                .store()
                .scim_update(id, row.version, &write)
                .await?
            {
                Ok(true) => ScimRow {
                    body,
                    version: row.version + 1,
                    updated_at: now,
                    ..row
                },
                Ok(false) => continue,
                Err(t) => return Err(taken(kind, t, &body)),
            }
        };
        let rendered = s.render(kind, &stored, &base);
        if kind == Kind::User {
            // Also when nothing changed: a write whose observation failed is observed now.
            observe(s, &stored, &rendered, person::status(&rendered)).await?;
        }
        return Ok((stored, rendered));
    }
    Err(ScimError::new(
        409,
        None,
        "the resource kept changing while it was written; try again",
    ))
}

async fn replace(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    id: String,
    q: Option<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from_params(&params(q)?)?;
    let body = normalize(kind, resource_body(kind, &body)?)?;
    let (row, rendered) = rewrite(&s, kind, &h, &id, |_| Ok(body.clone())).await?;
    Ok(one(StatusCode::OK, rendered, row.version, &projection))
}

async fn modify(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    id: String,
    q: Option<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let projection = Projection::from_params(&params(q)?)?;
    let ops = patch::parse(&json_body(&body)?)?;
    let (row, rendered) = rewrite(&s, kind, &h, &id, |row| {
        let mut body = row.body.clone();
        patch::apply(&mut body, kind, &ops)?;
        normalize(kind, body)
    })
    .await?;
    if kind == Kind::Group && projection.is_empty() {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(row.version)) {
            resp.headers_mut().insert(ETAG, v);
        }
        return Ok(resp);
    }
    Ok(one(StatusCode::OK, rendered, row.version, &projection))
}

async fn delete(
    s: Arc<ScimState>,
    kind: Kind,
    h: HeaderMap,
    id: String,
) -> Result<Response, ScimError> {
    for _ in 0..WRITE_ATTEMPTS {
        let row = load(&s, kind, &id).await?;
        if_match(&h, row.version)?;
        if !s
            .engine
            .store()
            .scim_delete(kind.name(), &id, row.version)
            .await?
        {
            continue;
        }
        if kind == Kind::User {
            let rendered = s.render(kind, &row, &s.base_url(&h));
            observe(&s, &row, &rendered, PersonStatus::Terminated).await?;
        }
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Err(ScimError::new(
        409,
        None,
        "the resource kept changing while it was deleted; try again",
    ))
}

/// Observes what a User now says about its person (`status` overrides `active` for a delete).
async fn observe(
    s: &ScimState,
    row: &ScimRow,
    user: &Value,
    status: PersonStatus,
) -> Result<(), ScimError> {
    let subject = row.subject_id.clone().unwrap_or_else(|| row.id.clone());
    let manager = match s.mapping.manager_id(user) {
        Some(mid) if mid != row.id => {
            match s.engine.store().scim_get(Kind::User.name(), &mid).await? {
                Some(m) => {
                    let m = s.render(Kind::User, &m, "");
                    let p = s.mapping.person(&m, "", PersonStatus::Active, None);
                    p["primary_email"].as_str().map(String::from)
                }
                None => None,
            }
        }
        _ => None,
    };
    let person = s.mapping.person(user, &subject, status, manager);
    let outcome = s.engine.observe(&s.playbooks, &s.source, person).await?;
    match outcome {
        ObservationOutcome::Recorded { event_id, runs } => tracing::info!(
            source = %s.source, subject = %subject, event = %event_id, runs = runs.len(),
            "SCIM push observed"
        ),
        other => {
            tracing::debug!(source = %s.source, subject = %subject, outcome = ?other, "SCIM push observed")
        }
    }
    Ok(())
}
