//! The aliases sub-resource of a user (CONTRACT §2.4): list, insert (in one of the customer's
//! domains, unused, at most 30) and delete.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::errors::{GoogleError, GoogleResult};
use super::model::{self, primary_email, User};
use super::users::{resolve, user_key};
use super::Ctx;
use crate::sandbox::reply::Reply;

const MAX_ALIASES: usize = 30;

fn alias_view(u: &User, alias: &str) -> Value {
    json!({"kind": "admin#directory#alias", "id": u.id, "etag": model::etag(), "primaryEmail": primary_email(u), "alias": alias})
}

pub fn list(ctx: &Ctx) -> GoogleResult {
    let st = ctx.world.lock();
    let i = resolve(&st.google, &user_key(ctx), ctx.now)?;
    let u = &st.google.users[i];
    let aliases: Vec<Value> = u.aliases.iter().map(|a| alias_view(u, a)).collect();
    let mut body = json!({"kind": "admin#directory#aliases", "etag": model::etag()});
    if !aliases.is_empty() {
        body["aliases"] = Value::Array(aliases);
    }
    Ok(Reply::ok(body))
}

pub fn insert(ctx: &Ctx) -> GoogleResult {
    let alias = ctx
        .call
        .json()
        .and_then(|b| b.get("alias").and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| GoogleError::required("Required parameter: alias"))?;
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let i = resolve(ws, &user_key(ctx), ctx.now)?;
    if !ws.in_domain(&alias) {
        return Err(GoogleError::domain_not_found());
    }
    if ws.email_taken(&alias) {
        return Err(GoogleError::duplicate());
    }
    if ws.users[i].aliases.len() >= MAX_ALIASES {
        return Err(GoogleError::invalid(format!(
            "Invalid Input: a user can have at most {MAX_ALIASES} aliases"
        )));
    }
    ws.users[i].aliases.push(alias.clone());
    ws.users[i].etag = model::etag();
    Ok(Reply::ok(alias_view(&ws.users[i], &alias)))
}

pub fn delete(ctx: &Ctx) -> GoogleResult {
    let alias = ctx.call.param("alias").to_string();
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let i = resolve(ws, &user_key(ctx), ctx.now)?;
    let u = &mut ws.users[i];
    let pos = u
        .aliases
        .iter()
        .position(|a| a.eq_ignore_ascii_case(&alias))
        .ok_or_else(|| GoogleError::not_found("alias"))?;
    u.aliases.remove(pos);
    u.etag = model::etag();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}
