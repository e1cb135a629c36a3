//! `directory/deletedItems` (CONTRACT §2.8): soft-deleted users, restore (with their group
//! memberships and licenses) and purge. Purging after 30 days is not modelled.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::query;
use super::users;
use super::Ctx;
use crate::sandbox::reply::Reply;

fn deleted_view(props: &Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
    let mut fields: Vec<String> = users::DEFAULT.iter().map(|s| s.to_string()).collect();
    fields.extend(["mailNickname", "accountEnabled", "deletedDateTime"].map(String::from));
    m.extend(query::project(
        props,
        Some(select.map(<[String]>::to_vec).unwrap_or(fields).as_slice()),
        &[],
    ));
    m
}

pub fn get(ctx: &Ctx) -> GraphResult {
    let st = ctx.world.lock();
    let id = ctx.call.param("directoryObject-id");
    let d = st
        .entra
        .deleted
        .get(&id.to_ascii_lowercase())
        .ok_or_else(|| GraphError::not_found(id))?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(users::context(ctx, "directoryObjects/$entity")),
    );
    out.extend(deleted_view(&d.user.props, None));
    Ok(Reply::ok(Value::Object(out)))
}

pub fn list_users(ctx: &Ctx) -> GraphResult {
    let q = query::parse_list(ctx.call, &users::RESOURCE)?;
    let st = ctx.world.lock();
    let items = st
        .entra
        .deleted
        .values()
        .map(|d| d.user.props.clone())
        .collect();
    Ok(Reply::ok(query::collection(
        items,
        &q,
        false,
        &users::context(ctx, "users"),
        &format!(
            "{}/v1.0/directory/deletedItems/microsoft.graph.user",
            ctx.world.base_url
        ),
        &ctx.call.raw_query,
        |p| deleted_view(p, q.select.as_deref()),
    )))
}

pub fn purge(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let id = ctx.call.param("directoryObject-id");
    st.entra
        .deleted
        .remove(&id.to_ascii_lowercase())
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn restore(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let key = ctx.call.param("directoryObject-id").to_ascii_lowercase();
    let entra = &mut st.entra;
    let d = entra
        .deleted
        .get(&key)
        .ok_or_else(|| GraphError::not_found(&key))?;
    let upn = super::model::upn(&d.user).to_string();
    if entra.upn_taken(&upn, None) {
        return Err(GraphError::upn_conflict());
    }
    let Some(mut d) = entra.deleted.remove(&key) else {
        return Err(GraphError::not_found(&key));
    };
    d.user.props.insert("deletedDateTime".into(), Value::Null);
    for gid in &d.groups {
        if let Some(g) = entra.groups.get_mut(gid) {
            if !g.members.contains(&key) {
                g.members.push(key.clone());
            }
        }
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(users::context(ctx, "directoryObjects/$entity")),
    );
    out.extend(deleted_view(&d.user.props, None));
    entra.users.insert(key, d.user);
    Ok(Reply::ok(Value::Object(out)))
}
