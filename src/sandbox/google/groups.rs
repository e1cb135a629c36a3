//! `groups` and `members` (CONTRACT §4): list, get and insert groups, list members (paged, by role,
//! `includeDerivedMembership` expanding nested groups), get, insert and delete a member, and
//! `hasMember` (direct or nested).

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::errors::{GoogleError, GoogleResult};
use super::model::{self, primary_email, Group, Member, Workspace};
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;

const MAX_PAGE: usize = 200;

fn group_view(g: &Group) -> Value {
    let direct = g.members.len();
    let mut v = json!({
        "kind": "admin#directory#group", "id": g.id, "etag": g.etag, "email": g.email, "name": g.name,
        "description": g.description, "directMembersCount": direct.to_string(), "adminCreated": true,
        "nonEditableAliases": [],
    });
    if !g.aliases.is_empty() {
        v["aliases"] = json!(g.aliases);
    }
    v
}

fn member_view(m: &Member) -> Value {
    json!({
        "kind": "admin#directory#member", "etag": model::etag(), "id": m.id, "email": m.email,
        "role": m.role, "type": m.kind, "status": "ACTIVE", "delivery_settings": "ALL_MAIL",
    })
}

fn page(ctx: &Ctx) -> Result<(usize, usize), GoogleError> {
    let max = match ctx.call.query("maxResults") {
        None => MAX_PAGE,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(GoogleError::invalid(format!(
                    "Invalid value '{m}'. Values must be within the range: [1, {MAX_PAGE}]"
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
    Ok((max, offset))
}

fn paged(kind: &str, field: &str, items: Vec<Value>, max: usize, offset: usize) -> Value {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(max).collect();
    let mut body = json!({"kind": kind, "etag": model::etag()});
    if !page.is_empty() {
        body[field] = Value::Array(page);
    }
    if offset + max < total {
        body["nextPageToken"] = json!(ids::page_token(offset + max));
    }
    body
}

fn resolve(ws: &Workspace, key: &str) -> Result<usize, GoogleError> {
    ws.find_group_index(key)
        .ok_or_else(|| GoogleError::not_found("groupKey"))
}

pub fn list(ctx: &Ctx) -> GoogleResult {
    let (max, offset) = page(ctx)?;
    let st = ctx.world.lock();
    let ws = &st.google;
    let groups: Vec<&Group> = match (
        ctx.call.query("userKey"),
        ctx.call.query("customer"),
        ctx.call.query("domain"),
    ) {
        (Some(_), Some(_), _) => return Err(GoogleError::bad_request("Bad Request")),
        (Some(key), _, _) => {
            let i = ws
                .find_user_index(key)
                .ok_or_else(|| GoogleError::not_found("userKey"))?;
            let id = &ws.users[i].id;
            ws.groups
                .iter()
                .filter(|g| g.members.iter().any(|m| &m.id == id))
                .collect()
        }
        (None, Some(c), _) if c == "my_customer" || c == ws.customer_id => {
            ws.groups.iter().collect()
        }
        (None, None, Some(d)) if ws.domains.iter().any(|x| x.eq_ignore_ascii_case(d)) => ws
            .groups
            .iter()
            .filter(|g| {
                g.email
                    .to_ascii_lowercase()
                    .ends_with(&format!("@{}", d.to_ascii_lowercase()))
            })
            .collect(),
        (None, None, None) => return Err(GoogleError::bad_request("Bad Request")),
        _ => return Err(GoogleError::domain_not_found()),
    };
    let mut groups = groups;
    groups.sort_by_key(|g| g.email.to_ascii_lowercase());
    let items = groups.into_iter().map(group_view).collect();
    Ok(Reply::ok(paged(
        "admin#directory#groups",
        "groups",
        items,
        max,
        offset,
    )))
}

pub fn get(ctx: &Ctx) -> GoogleResult {
    let st = ctx.world.lock();
    let i = resolve(&st.google, ctx.call.param("groupKey"))?;
    Ok(Reply::ok(group_view(&st.google.groups[i])))
}

/// `groups.insert`: `email` (in one of the customer's domains, not used by any user, alias or
/// group) is required; `name` defaults to the address's local part, `description` to "".
pub fn insert(ctx: &Ctx) -> GoogleResult {
    let body = ctx
        .call
        .json()
        .filter(Value::is_object)
        .ok_or_else(|| GoogleError::bad_request("Invalid JSON payload received."))?;
    let email = body
        .get("email")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| GoogleError::required("Missing required field: email"))?
        .to_ascii_lowercase();
    if !email.contains('@') {
        return Err(GoogleError::invalid("Invalid Input: email"));
    }
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    if !ws.in_domain(&email) {
        return Err(GoogleError::domain_not_found());
    }
    if ws.email_taken(&email) {
        return Err(GoogleError::duplicate());
    }
    let group = Group {
        id: format!("0{}", &ids::guid().replace('-', "")[..14]),
        email,
        name,
        description,
        aliases: Vec::new(),
        members: Vec::new(),
        etag: model::etag(),
    };
    let out = group_view(&group);
    ws.groups.push(group);
    Ok(Reply::ok(out))
}

pub fn list_members(ctx: &Ctx) -> GoogleResult {
    let (max, offset) = page(ctx)?;
    let roles: Option<Vec<String>> = ctx.call.query("roles").map(|r| {
        r.split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .collect()
    });
    let st = ctx.world.lock();
    let ws = &st.google;
    let g = &ws.groups[resolve(ws, ctx.call.param("groupKey"))?];
    let mut members = g.members.clone();
    if ctx.call.query("includeDerivedMembership") == Some("true") {
        for m in ws.derived_members(&g.id) {
            if !members.iter().any(|x| x.id == m.id) {
                members.push(m);
            }
        }
    }
    let items = members
        .iter()
        .filter(|m| roles.as_ref().is_none_or(|r| r.contains(&m.role)))
        .map(member_view)
        .collect();
    Ok(Reply::ok(paged(
        "admin#directory#members",
        "members",
        items,
        max,
        offset,
    )))
}

fn find_member<'a>(g: &'a Group, key: &str) -> Option<&'a Member> {
    g.members
        .iter()
        .find(|m| m.id == key || m.email.eq_ignore_ascii_case(key))
}

pub fn get_member(ctx: &Ctx) -> GoogleResult {
    let st = ctx.world.lock();
    let ws = &st.google;
    let g = &ws.groups[resolve(ws, ctx.call.param("groupKey"))?];
    let m = find_member(g, ctx.call.param("memberKey"))
        .ok_or_else(|| GoogleError::not_found("memberKey"))?;
    Ok(Reply::ok(member_view(m)))
}

pub fn insert_member(ctx: &Ctx) -> GoogleResult {
    let body = ctx
        .call
        .json()
        .filter(Value::is_object)
        .ok_or_else(|| GoogleError::bad_request("Invalid JSON payload received."))?;
    let key = body
        .get("email")
        .or_else(|| body.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| GoogleError::required("Missing required field: memberKey"))?;
    let role = body
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("MEMBER")
        .to_ascii_uppercase();
    if !["OWNER", "MANAGER", "MEMBER"].contains(&role.as_str()) {
        return Err(GoogleError::invalid(format!("Invalid Input: role {role}")));
    }
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let gi = resolve(ws, ctx.call.param("groupKey"))?;
    let member = if let Some(ui) = ws
        .find_user_index(key)
        .filter(|i| ws.users[*i].visible_at <= ctx.now)
    {
        let u = &ws.users[ui];
        Member {
            id: u.id.clone(),
            email: primary_email(u).to_ascii_lowercase(),
            role,
            kind: "USER".into(),
        }
    } else if let Some(ci) = ws.find_group_index(key) {
        let child = &ws.groups[ci];
        let parent_id = ws.groups[gi].id.clone();
        let cycle = child.id == parent_id || ws.derived_groups(&child.id).contains(&parent_id);
        if cycle {
            return Err(GoogleError::invalid("GROUP_CANNOT_CONTAIN_CYCLE"));
        }
        Member {
            id: child.id.clone(),
            email: child.email.to_ascii_lowercase(),
            role,
            kind: "GROUP".into(),
        }
    } else {
        return Err(GoogleError::not_found("memberKey"));
    };
    let g = &mut ws.groups[gi];
    if g.members.iter().any(|m| m.id == member.id) {
        return Err(GoogleError::new(409, "duplicate", "Member already exists."));
    }
    let out = member_view(&member);
    g.members.push(member);
    g.etag = model::etag();
    Ok(Reply::ok(out))
}

pub fn delete_member(ctx: &Ctx) -> GoogleResult {
    let mut st = ctx.world.lock();
    let ws = &mut st.google;
    let gi = resolve(ws, ctx.call.param("groupKey"))?;
    let key = ctx.call.param("memberKey");
    let g = &mut ws.groups[gi];
    let pos = g
        .members
        .iter()
        .position(|m| m.id == key || m.email.eq_ignore_ascii_case(key))
        .ok_or_else(|| GoogleError::not_found("memberKey"))?;
    g.members.remove(pos);
    g.etag = model::etag();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn has_member(ctx: &Ctx) -> GoogleResult {
    let st = ctx.world.lock();
    let ws = &st.google;
    let g = &ws.groups[resolve(ws, ctx.call.param("groupKey"))?];
    let key = ctx.call.param("memberKey");
    let Some(ui) = ws.find_user_index(key) else {
        if ws.find_group_index(key).is_some() {
            return Err(GoogleError::bad_request(
                "Invalid Input: memberKey must identify a user",
            ));
        }
        return Err(GoogleError::not_found("memberKey"));
    };
    let id = &ws.users[ui].id;
    let is_member = ws.derived_members(&g.id).iter().any(|m| &m.id == id);
    Ok(Reply::ok(json!({"isMember": is_member})))
}
