//! `/groups`: find (`$filter`), create a security group, read, update (incl.
//! `members@odata.bind`), delete, and membership by `$ref` (CONTRACT §3).

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::model::{self, Entra, Group, Kind};
use super::query::{self, Resource};
use super::users;
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;
use crate::sandbox::world::State;

pub const KNOWN: &[&str] = &[
    "id",
    "deletedDateTime",
    "accessType",
    "allowExternalSenders",
    "assignedLabels",
    "assignedLicenses",
    "autoSubscribeNewMembers",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "hasMembersWithLicenseErrors",
    "hideFromAddressLists",
    "hideFromOutlookClients",
    "isArchived",
    "isAssignableToRole",
    "isManagementRestricted",
    "isSubscribedByMail",
    "licenseProcessingState",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "serviceProvisioningErrors",
    "theme",
    "uniqueName",
    "visibility",
];

pub const RESOURCE: Resource<'static> = Resource {
    type_name: "microsoft.graph.group",
    known: KNOWN,
    advanced: true,
};

/// Characters a mailNickname may not contain (CONTRACT §3.2).
const NICKNAME_FORBIDDEN: &str = "@()\\[]\";:.<>, ";
/// At most this many `@odata.bind` references per request.
const MAX_BINDS: usize = 20;

fn all_props(g: &Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    match select {
        Some(_) => query::project(g, select, &[]),
        None => g.clone(),
    }
}

/// A group inside a directoryObject collection: tagged with its `@odata.type`.
pub fn directory_object(g: &Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!("#microsoft.graph.group"));
    m.extend(all_props(g, select));
    m
}

pub fn list(ctx: &Ctx) -> GraphResult {
    let q = query::parse_list(ctx.call, &RESOURCE)?;
    let st = ctx.world.lock();
    let items = st
        .entra
        .groups
        .values()
        .filter(|g| g.visible_at <= ctx.now)
        .map(|g| g.props.clone())
        .collect();
    Ok(Reply::ok(query::collection(
        items,
        &q,
        false,
        &users::context(ctx, "groups"),
        &format!("{}/v1.0/groups", ctx.world.base_url),
        &ctx.call.raw_query,
        |g| all_props(g, q.select.as_deref()),
    )))
}

pub fn get(ctx: &Ctx) -> GraphResult {
    let select = query::parse_select(ctx.call, &RESOURCE)?;
    let st = ctx.world.lock();
    let g = st
        .entra
        .visible_group(ctx.call.param("group-id"), ctx.now)?;
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(users::context(ctx, "groups/$entity")),
    );
    body.extend(all_props(&g.props, select.as_deref()));
    Ok(Reply::ok(Value::Object(body)))
}

/// Resolves `…/directoryObjects/{id}` (or `/users/{id}`, `/groups/{id}`) to a visible object id.
fn resolve_reference(
    entra: &Entra,
    url: &str,
    now: std::time::Instant,
) -> Result<(String, Kind), GraphError> {
    let id = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let id = id.split('/').next().unwrap_or(id);
    if !crate::sandbox::seed::is_guid(id) && !id.contains('@') {
        return Err(GraphError::bad_request(format!(
            "Invalid object identifier '{id}'."
        )));
    }
    if let Some(kind) = entra.visible_kind(id, now) {
        return Ok((id.to_ascii_lowercase(), kind));
    }
    let user = entra.visible_user(id, now)?;
    Ok((user.id.clone(), Kind::User))
}

fn binds(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, GraphError> {
    match body.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            if a.len() > MAX_BINDS {
                return Err(GraphError::bad_request(format!(
                    "A maximum of {MAX_BINDS} references can be added in one request to '{key}'."
                )));
            }
            a.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| GraphError::invalid_value(key, "Group"))
                })
                .collect()
        }
        Some(_) => Err(GraphError::invalid_value(key, "Group")),
    }
}

pub fn create(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| body.get(k).and_then(Value::as_bool);
    let name = text("displayName")
        .filter(|n| !n.is_empty() && n.chars().count() <= 256)
        .ok_or_else(|| GraphError::invalid_value("displayName", "Group"))?;
    let nickname = text("mailNickname")
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii() && !NICKNAME_FORBIDDEN.contains(c))
        })
        .ok_or_else(|| GraphError::invalid_value("mailNickname", "Group"))?;
    let mail_enabled =
        flag("mailEnabled").ok_or_else(|| GraphError::invalid_value("mailEnabled", "Group"))?;
    let security_enabled = flag("securityEnabled")
        .ok_or_else(|| GraphError::invalid_value("securityEnabled", "Group"))?;
    for k in body.keys() {
        let bind = k == "members@odata.bind" || k == "owners@odata.bind";
        if !bind && !k.starts_with('@') && query::canonical(KNOWN, k).is_none() {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        }
    }
    let visible_at = ctx.world.visible_from(ctx.now);
    let mut st = ctx.world.lock();
    let members = binds(&body, "members@odata.bind")?
        .iter()
        .map(|u| resolve_reference(&st.entra, u, ctx.now).map(|r| r.0))
        .collect::<Result<Vec<_>, _>>()?;
    let owners = binds(&body, "owners@odata.bind")?
        .iter()
        .map(|u| resolve_reference(&st.entra, u, ctx.now).map(|r| r.0))
        .collect::<Result<Vec<_>, _>>()?;
    let id = ids::guid();
    let mut props = model::group_props(
        &id,
        &name,
        &nickname,
        text("description").as_deref(),
        mail_enabled,
        security_enabled,
    );
    if let Some(types) = body.get("groupTypes").filter(|v| v.is_array()) {
        props.insert("groupTypes".into(), types.clone());
    }
    let group = Group {
        id: id.clone(),
        props: props.clone(),
        members,
        owners,
        visible_at,
    };
    st.entra.groups.insert(id, group);
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(users::context(ctx, "groups/$entity")),
    );
    let odata_id = format!(
        "{}/v2/{}/directoryObjects/{}/Microsoft.DirectoryServices.Group",
        ctx.world.base_url,
        st.entra.tenant_id,
        props["id"].as_str().unwrap_or_default()
    );
    out.insert("@odata.id".into(), json!(odata_id));
    out.extend(props);
    Ok(Reply::json(StatusCode::CREATED, Value::Object(out)))
}

pub fn update(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    let mut st = ctx.world.lock();
    let gid = path_group_id(&st, ctx)?;
    // All or nothing: resolve every reference before changing anything.
    let mut added = Vec::new();
    for url in binds(&body, "members@odata.bind")? {
        let (id, _) = resolve_reference(&st.entra, &url, ctx.now)?;
        let already = st
            .entra
            .groups
            .get(&gid)
            .is_some_and(|g| g.members.contains(&id));
        if already || added.contains(&id) {
            return Err(GraphError::member_exists());
        }
        added.push(id);
    }
    for k in body.keys() {
        if k == "members@odata.bind" || k.starts_with('@') {
            continue;
        }
        match query::canonical(KNOWN, k) {
            None => {
                return Err(GraphError::bad_request(format!(
                    "Property '{k}' does not exist as a declared property or extension property."
                )))
            }
            Some("id" | "createdDateTime") => {
                return Err(GraphError::bad_request(format!(
                    "Property '{k}' is read-only and cannot be set."
                )))
            }
            Some(_) => {}
        }
    }
    let Some(group) = st.entra.groups.get_mut(&gid) else {
        return Err(GraphError::not_found(&gid));
    };
    for (k, v) in body {
        if let Some(name) = query::canonical(KNOWN, &k) {
            group.props.insert(name.to_string(), v);
        }
    }
    group.members.extend(added);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn delete(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let gid = path_group_id(&st, ctx)?;
    // Security groups cannot be restored, so they are not kept in deletedItems.
    st.entra.groups.remove(&gid);
    for g in st.entra.groups.values_mut() {
        g.members.retain(|m| m != &gid);
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn members(ctx: &Ctx, transitive: bool) -> GraphResult {
    let q = query::parse_list(ctx.call, &users::RESOURCE)?;
    let st = ctx.world.lock();
    let gid = path_group_id(&st, ctx)?;
    let ids: Vec<String> = if transitive {
        st.entra.transitive_members(&gid)
    } else {
        st.entra
            .groups
            .get(&gid)
            .map(|g| g.members.clone())
            .unwrap_or_default()
    };
    let items: Vec<Map<String, Value>> = ids
        .iter()
        .filter_map(|id| {
            if let Some(u) = st.entra.users.get(id) {
                let mut m = Map::new();
                m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                m.extend(u.props.clone());
                Some(m)
            } else {
                st.entra
                    .groups
                    .get(id)
                    .map(|g| directory_object(&g.props, None))
            }
        })
        .collect();
    let tail = if transitive {
        "transitiveMembers"
    } else {
        "members"
    };
    Ok(Reply::ok(query::collection(
        items,
        &q,
        false,
        &users::context(ctx, "directoryObjects"),
        &format!("{}/v1.0/groups/{gid}/{tail}", ctx.world.base_url),
        &ctx.call.raw_query,
        |item| {
            let mut m = Map::new();
            let kind = item.get("@odata.type").cloned().unwrap_or(Value::Null);
            m.insert("@odata.type".into(), kind.clone());
            if kind == json!("#microsoft.graph.user") {
                m.extend(query::project(item, q.select.as_deref(), users::DEFAULT));
            } else {
                m.extend(all_props(item, q.select.as_deref()));
                m.insert("@odata.type".into(), kind);
            }
            m
        },
    )))
}

pub fn add_member(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    let url = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("The request body must contain '@odata.id'."))?;
    let mut st = ctx.world.lock();
    let gid = path_group_id(&st, ctx)?;
    let (member, _) = resolve_reference(&st.entra, url, ctx.now)?;
    if member == gid {
        return Err(GraphError::bad_request(
            "A group cannot be a member of itself.",
        ));
    }
    let Some(group) = st.entra.groups.get_mut(&gid) else {
        return Err(GraphError::not_found(&gid));
    };
    if group.members.contains(&member) {
        return Err(GraphError::member_exists());
    }
    group.members.push(member);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn remove_member(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let gid = path_group_id(&st, ctx)?;
    let member = ctx.call.param("directoryObject-id").to_ascii_lowercase();
    let Some(group) = st.entra.groups.get_mut(&gid) else {
        return Err(GraphError::not_found(&gid));
    };
    match group.members.iter().position(|m| *m == member) {
        Some(pos) => {
            group.members.remove(pos);
            Ok(Reply::empty(StatusCode::NO_CONTENT))
        }
        None => Err(GraphError::member_missing()),
    }
}

/// The id of the group the path names (`{group-id}`), if it is visible yet.
fn path_group_id(st: &State, ctx: &Ctx) -> Result<String, GraphError> {
    Ok(st
        .entra
        .visible_group(ctx.call.param("group-id"), ctx.now)?
        .id
        .clone())
}
