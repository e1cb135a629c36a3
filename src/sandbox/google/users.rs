//! `users`: list (customer/domain, query, paging, ordering, projection, showDeleted), get by id,
//! e-mail or alias, insert, patch/update with Google's merge rules (arrays replaced whole,
//! `customSchemas` merged per field, `null` clears, read-only fields ignored), delete, undelete,
//! and makeAdmin (CONTRACT §2).

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GoogleError, GoogleResult};
use super::model::{self, primary_email, User, Workspace};
use super::query;
use super::watch::{self, Event};
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;

/// Fields of the `User` schema in the discovery document.
const FIELDS: &[&str] = &[
    "addresses",
    "agreedToTerms",
    "aliases",
    "archivalTime",
    "archived",
    "changePasswordAtNextLogin",
    "creationTime",
    "customSchemas",
    "customerId",
    "deletionTime",
    "emails",
    "etag",
    "externalIds",
    "gender",
    "guestAccountInfo",
    "hashFunction",
    "id",
    "ims",
    "includeInGlobalAddressList",
    "ipWhitelisted",
    "isAdmin",
    "isDelegatedAdmin",
    "isEnforcedIn2Sv",
    "isEnrolledIn2Sv",
    "isGuestUser",
    "isMailboxSetup",
    "keywords",
    "kind",
    "languages",
    "lastLoginTime",
    "locations",
    "name",
    "nonEditableAliases",
    "notes",
    "orgUnitPath",
    "organizations",
    "password",
    "phones",
    "posixAccounts",
    "primaryEmail",
    "recoveryEmail",
    "recoveryPhone",
    "relations",
    "sshPublicKeys",
    "suspended",
    "suspensionReason",
    "suspensionTime",
    "thumbnailPhotoEtag",
    "thumbnailPhotoUrl",
    "websites",
];

/// Output-only fields: silently ignored in writes (CONTRACT §2.4).
const READ_ONLY: &[&str] = &[
    "kind",
    "id",
    "etag",
    "isAdmin",
    "isDelegatedAdmin",
    "lastLoginTime",
    "creationTime",
    "deletionTime",
    "agreedToTerms",
    "isMailboxSetup",
    "customerId",
    "aliases",
    "nonEditableAliases",
    "isEnrolledIn2Sv",
    "isEnforcedIn2Sv",
    "thumbnailPhotoUrl",
    "thumbnailPhotoEtag",
    "suspensionReason",
    "suspensionTime",
    "archivalTime",
    "isGuestUser",
];

#[derive(Debug, Clone)]
pub enum Projection {
    Basic,
    Custom(Vec<String>),
    Full,
}

pub fn projection(ctx: &Ctx) -> Result<Projection, GoogleError> {
    match ctx.call.query("projection").unwrap_or("basic") {
        "basic" => Ok(Projection::Basic),
        "full" => Ok(Projection::Full),
        "custom" => {
            let mask = ctx.call.query("customFieldMask").ok_or_else(|| {
                GoogleError::invalid(
                    "Invalid Input: customFieldMask is required with projection=custom",
                )
            })?;
            Ok(Projection::Custom(
                mask.split(',').map(|s| s.trim().to_string()).collect(),
            ))
        }
        other => Err(GoogleError::invalid(format!(
            "Invalid value for: projection = {other}"
        ))),
    }
}

/// The `User` resource as the API returns it.
pub fn view(u: &User, projection: &Projection) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), json!("admin#directory#user"));
    m.insert("id".into(), json!(u.id));
    m.insert("etag".into(), json!(u.etag));
    m.insert("primaryEmail".into(), json!(primary_email(u)));
    m.insert("isAdmin".into(), json!(u.is_admin));
    for (k, v) in &u.body {
        if k != "customSchemas" && k != "primaryEmail" {
            m.insert(k.clone(), v.clone());
        }
    }
    if !u.aliases.is_empty() {
        m.insert("aliases".into(), json!(u.aliases));
    }
    if let Some(Value::Object(schemas)) = u.body.get("customSchemas") {
        let kept: Map<String, Value> = match projection {
            Projection::Basic => Map::new(),
            Projection::Full => schemas.clone(),
            Projection::Custom(mask) => schemas
                .iter()
                .filter(|(k, _)| mask.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        if !kept.is_empty() {
            m.insert("customSchemas".into(), Value::Object(kept));
        }
    }
    m
}

pub fn user_key(ctx: &Ctx) -> String {
    ctx.call.param("userKey").to_string()
}

/// Resolves `userKey` to a replicated user; a group's address is "Type not supported".
pub fn resolve(ws: &Workspace, key: &str, now: std::time::Instant) -> Result<usize, GoogleError> {
    if let Some(i) = ws.find_user_index(key) {
        if ws.users[i].visible_at <= now {
            return Ok(i);
        }
    } else if ws.find_group_index(key).is_some() {
        return Err(GoogleError::bad_request("Type not supported: userKey"));
    }
    Err(GoogleError::not_found("userKey"))
}

pub fn list(ctx: &Ctx) -> GoogleResult {
    let st = ctx.world.lock();
    let ws = &st.google;
    let domain = match (ctx.call.query("customer"), ctx.call.query("domain")) {
        (None, None) => return Err(GoogleError::bad_request("Bad Request")),
        (Some(c), _) if c != "my_customer" && c != ws.customer_id => {
            return Err(GoogleError::domain_not_found())
        }
        (_, Some(d)) if !ws.domains.iter().any(|x| x.eq_ignore_ascii_case(d)) => {
            return Err(GoogleError::domain_not_found())
        }
        (_, d) => d.map(str::to_ascii_lowercase),
    };
    let in_scope = |email: &str| {
        domain
            .as_ref()
            .is_none_or(|d| email.to_ascii_lowercase().ends_with(&format!("@{d}")))
    };
    let max = match ctx.call.query("maxResults") {
        None => 100,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return Err(GoogleError::invalid(format!(
                    "Invalid value '{m}'. Values must be within the range: [1, 500]"
                )))
            }
        },
    };
    let offset = match ctx.call.query("pageToken") {
        None => 0,
        Some(t) => {
            ids::page_offset(t).ok_or_else(|| GoogleError::bad_request("Invalid page token"))?
        }
    };
    let projection = projection(ctx)?;
    let mut items: Vec<(String, String, Map<String, Value>)> = if ctx.call.query("showDeleted")
        == Some("true")
    {
        ws.deleted
            .iter()
            .filter(|(u, _)| in_scope(primary_email(u)))
            .map(|(u, when)| {
                let m = json!({"kind": "admin#directory#user", "id": u.id, "primaryEmail": primary_email(u), "deletionTime": when});
                (primary_email(u).to_lowercase(), String::new(), m.as_object().cloned().unwrap_or_default())
            })
            .collect()
    } else {
        let clauses = match ctx.call.query("query") {
            None => Vec::new(),
            Some(q) => {
                query::parse(q).map_err(|e| GoogleError::invalid(format!("Invalid Input: {e}")))?
            }
        };
        let order_field = match ctx.call.query("orderBy") {
            None | Some("email") => "email",
            Some("familyName") => "familyName",
            Some("givenName") => "givenName",
            Some(other) => {
                return Err(GoogleError::invalid(format!(
                    "Invalid value for: orderBy = {other}"
                )))
            }
        };
        ws.users
            .iter()
            .filter(|u| {
                u.visible_at <= ctx.now && in_scope(primary_email(u)) && query::matches(&clauses, u)
            })
            .map(|u| {
                let key = match order_field {
                    "email" => primary_email(u).to_lowercase(),
                    f => u
                        .body
                        .get("name")
                        .and_then(|n| n.get(f))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase(),
                };
                (key, primary_email(u).to_lowercase(), view(u, &projection))
            })
            .collect()
    };
    items.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    if ctx
        .call
        .query("sortOrder")
        .is_some_and(|s| s.eq_ignore_ascii_case("DESCENDING"))
    {
        items.reverse();
    }
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(max)
        .map(|(_, _, m)| Value::Object(m))
        .collect();
    let mut body = json!({"kind": "admin#directory#users", "etag": model::etag()});
    if !page.is_empty() {
        body["users"] = Value::Array(page);
    }
    if offset + max < total {
        body["nextPageToken"] = json!(ids::page_token(offset + max));
    }
    Ok(Reply::ok(body))
}

pub fn get(ctx: &Ctx) -> GoogleResult {
    let projection = projection(ctx)?;
    let st = ctx.world.lock();
    let i = resolve(&st.google, &user_key(ctx), ctx.now)?;
    Ok(Reply::ok(Value::Object(view(
        &st.google.users[i],
        &projection,
    ))))
}

fn body_object(ctx: &Ctx) -> Result<Map<String, Value>, GoogleError> {
    match ctx.call.json() {
        Some(Value::Object(m)) => {
            if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(GoogleError::invalid(format!("Invalid JSON payload received. Unknown name \"{k}\" at 'resource': Cannot find field.")));
            }
            Ok(m)
        }
        _ => Err(GoogleError::bad_request("Invalid JSON payload received.")),
    }
}

fn check_password(p: &Value) -> Result<String, GoogleError> {
    match p.as_str() {
        Some(s) if (8..=100).contains(&s.chars().count()) => Ok(s.to_string()),
        _ => Err(GoogleError::invalid("Invalid Password")),
    }
}

pub fn insert(ctx: &Ctx) -> GoogleResult {
    let body = body_object(ctx)?;
    let email = body
        .get("primaryEmail")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if email.is_empty() || !email.contains('@') {
        return Err(GoogleError::invalid("Invalid Input: primary_user_email"));
    }
    for (field, label) in [("givenName", "GivenName"), ("familyName", "FamilyName")] {
        let ok = body
            .get("name")
            .and_then(|n| n.get(field))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !ok {
            return Err(GoogleError::invalid(format!(
                "Invalid Given/Family Name: {label}"
            )));
        }
    }
    let password = check_password(body.get("password").unwrap_or(&Value::Null))?;
    let visible_at = ctx.world.visible_from(ctx.now);
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    if !ws.in_domain(&email) {
        return Err(GoogleError::domain_not_found());
    }
    if ws.email_taken(&email) {
        return Err(GoogleError::duplicate());
    }
    let mut user = User {
        id: ids::numeric(),
        body: Map::new(),
        aliases: Vec::new(),
        is_admin: false,
        password: Some(password),
        etag: model::etag(),
        visible_at,
    };
    merge(ws, &mut user, body)?;
    user.body
        .entry("emails")
        .or_insert(json!([{"address": email, "primary": true}]));
    model::defaults(&mut user.body, &ws.customer_id);
    let out = view(&user, &Projection::Full);
    let summary = watch::summary(&user);
    ws.users.push(user);
    let deliveries = watch::events(ws, Event::Add, summary);
    drop(st);
    watch::deliver(deliveries);
    Ok(Reply::ok(Value::Object(out)))
}

/// Applies a patch body to `user` with Google's merge rules.
fn merge(ws: &Workspace, user: &mut User, body: Map<String, Value>) -> Result<(), GoogleError> {
    for (k, v) in body {
        if READ_ONLY.contains(&k.as_str()) {
            continue;
        }
        match k.as_str() {
            "password" => user.password = Some(check_password(&v)?),
            "primaryEmail" => {
                let new = v
                    .as_str()
                    .ok_or_else(|| GoogleError::invalid("Invalid Input: primary_user_email"))?
                    .to_string();
                let old = primary_email(user).to_string();
                if new.eq_ignore_ascii_case(&old) {
                    continue;
                }
                if !ws.in_domain(&new) {
                    return Err(GoogleError::domain_not_found());
                }
                let own_alias = user.aliases.iter().any(|a| a.eq_ignore_ascii_case(&new));
                if ws.email_taken(&new) && !own_alias {
                    return Err(GoogleError::duplicate());
                }
                user.aliases.retain(|a| !a.eq_ignore_ascii_case(&new));
                if !old.is_empty() {
                    user.aliases.push(old);
                }
                user.body.insert(k, json!(new));
            }
            "name" => {
                let mut name = user
                    .body
                    .get("name")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Value::Object(patch) = v {
                    for (nk, nv) in patch {
                        if nk == "fullName" {
                            continue;
                        }
                        if nv.is_null() {
                            name.remove(&nk);
                        } else {
                            name.insert(nk, nv);
                        }
                    }
                }
                let full = format!(
                    "{} {}",
                    name.get("givenName").and_then(Value::as_str).unwrap_or(""),
                    name.get("familyName").and_then(Value::as_str).unwrap_or("")
                );
                name.insert("fullName".into(), json!(full.trim()));
                user.body.insert(k, Value::Object(name));
            }
            "customSchemas" => {
                let mut schemas = user
                    .body
                    .get("customSchemas")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                if let Value::Object(patch) = v {
                    for (schema, fields) in patch {
                        match fields {
                            Value::Null => {
                                schemas.remove(&schema);
                            }
                            Value::Object(fields) => {
                                let entry =
                                    schemas.entry(schema.clone()).or_insert_with(|| json!({}));
                                if let Value::Object(existing) = entry {
                                    for (f, fv) in fields {
                                        if fv.is_null() {
                                            existing.remove(&f);
                                        } else {
                                            existing.insert(f, fv);
                                        }
                                    }
                                }
                                if entry.as_object().is_some_and(Map::is_empty) {
                                    schemas.remove(&schema);
                                }
                            }
                            _ => {
                                return Err(GoogleError::invalid(format!(
                                    "Invalid Input: customSchemas.{schema}"
                                )))
                            }
                        }
                    }
                }
                user.body.insert(k, Value::Object(schemas));
            }
            "suspended" => {
                let s = v
                    .as_bool()
                    .ok_or_else(|| GoogleError::invalid("Invalid Input: suspended"))?;
                user.body.insert(k, json!(s));
                if s {
                    user.body.insert("suspensionReason".into(), json!("ADMIN"));
                    user.body
                        .insert("suspensionTime".into(), json!(model::now_rfc3339()));
                } else {
                    user.body.remove("suspensionReason");
                    user.body.remove("suspensionTime");
                }
            }
            "orgUnitPath" => {
                let p = v
                    .as_str()
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| GoogleError::invalid("Invalid Input: INVALID_OU_ID"))?;
                user.body.insert(k, json!(p));
            }
            _ if v.is_null() => {
                user.body.remove(&k);
            }
            // Everything else, arrays included, is replaced whole.
            _ => {
                user.body.insert(k, v);
            }
        }
    }
    user.etag = model::etag();
    Ok(())
}

/// PATCH, and PUT, which the guide documents with the same merge semantics.
pub fn patch(ctx: &Ctx) -> GoogleResult {
    let body = body_object(ctx)?;
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let i = resolve(ws, &user_key(ctx), ctx.now)?;
    let mut user = ws.users[i].clone();
    merge(ws, &mut user, body)?;
    let out = view(&user, &Projection::Full);
    let summary = watch::summary(&user);
    ws.users[i] = user;
    let deliveries = watch::events(ws, Event::Update, summary);
    drop(st);
    watch::deliver(deliveries);
    Ok(Reply::ok(Value::Object(out)))
}

pub fn delete(ctx: &Ctx) -> GoogleResult {
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let i = resolve(ws, &user_key(ctx), ctx.now)?;
    let user = ws.users.remove(i);
    for g in &mut ws.groups {
        g.members.retain(|m| m.id != user.id);
    }
    let summary = watch::summary(&user);
    ws.deleted.push((user, model::now_rfc3339()));
    let deliveries = watch::events(ws, Event::Delete, summary);
    drop(st);
    watch::deliver(deliveries);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// Only the numeric id identifies a deleted user (CONTRACT §2.5).
pub fn undelete(ctx: &Ctx) -> GoogleResult {
    let org_unit = ctx.call.json().and_then(|b| {
        b.get("orgUnitPath")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let key = user_key(ctx);
    let pos = ws
        .deleted
        .iter()
        .position(|(u, _)| u.id == key)
        .ok_or_else(|| GoogleError::not_found("userKey"))?;
    if ws.email_taken(primary_email(&ws.deleted[pos].0)) {
        return Err(GoogleError::duplicate());
    }
    let (mut user, _) = ws.deleted.remove(pos);
    if let Some(p) = org_unit {
        user.body.insert("orgUnitPath".into(), json!(p));
    }
    user.etag = model::etag();
    let summary = watch::summary(&user);
    ws.users.push(user);
    let deliveries = watch::events(ws, Event::Undelete, summary);
    drop(st);
    watch::deliver(deliveries);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn make_admin(ctx: &Ctx) -> GoogleResult {
    let status = ctx
        .call
        .json()
        .and_then(|b| b.get("status").and_then(Value::as_bool))
        .ok_or_else(|| GoogleError::required("Required parameter: status"))?;
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let i = resolve(ws, &user_key(ctx), ctx.now)?;
    ws.users[i].is_admin = status;
    ws.users[i].etag = model::etag();
    let summary = watch::summary(&ws.users[i]);
    let deliveries = watch::events(ws, Event::MakeAdmin, summary);
    drop(st);
    watch::deliver(deliveries);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
