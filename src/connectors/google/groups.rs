//! Group members, with nested groups flattened: the groups are walked breadth first, so a
//! direct membership is reported before one through a nested group, and each group is listed
//! once however often (or circularly) it is nested.

use std::collections::{HashSet, VecDeque};

use reqwest::Method;
use serde_json::{json, Value};

use super::directory::GoogleError;
use super::{Client, V1};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;

/// Google's largest members page (CONTRACT §4).
const PAGE: &str = "200";

/// `google.list_group_members`: one group (`group: email`) with its members flattened, or
/// several (`group: [email, …]`) as `by_group: { email: [member email, …] }` for mirroring.
pub async fn list_members(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let nested = args.bool_or("nested", true)?;
    if let Some(Value::Array(_)) = args.value("group") {
        let mut by_group = serde_json::Map::new();
        for key in args.str_list("group")? {
            let one = members_of(c, &key, nested).await?;
            let emails: Vec<Value> = one
                .get("members")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter(|e| e.get("type").and_then(Value::as_str) == Some("USER"))
                        .filter_map(|e| e.get("email").cloned())
                        .collect()
                })
                .unwrap_or_default();
            by_group.insert(key, Value::Array(emails));
        }
        return Ok(json!({ "by_group": by_group }));
    }
    members_of(c, args.str("group")?, nested).await
}

async fn members_of(c: &Client, key: &str, nested: bool) -> Result<Value, ActionError> {
    let group = match c.get(&format!("{V1}/groups/{}", segment(key)), &[]).await {
        Ok(g) => g,
        Err(e) if e.is_not_found() => {
            return Err(ActionError::permanent(format!(
                "no Google group '{key}' (Resource Not Found)"
            )))
        }
        Err(e) => return Err(e.into_action()),
    };
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (top_id, top_email) = (field(&group, "id"), field(&group, "email"));
    let mut queue = VecDeque::from([(top_id.clone(), top_email.clone())]);
    let mut walked: HashSet<String> = HashSet::from([top_id.clone()]);
    let mut seen: HashSet<String> = HashSet::new();
    let (mut members, mut groups) = (Vec::new(), Vec::new());
    while let Some((gid, gemail)) = queue.pop_front() {
        let listed = c
            .get_all(
                &format!("{V1}/groups/{}/members", segment(&gid)),
                &[("maxResults", PAGE)],
                "members",
            )
            .await
            .map_err(GoogleError::into_action)?;
        for m in listed {
            let id = field(&m, "id");
            let kind = field(&m, "type");
            let entry = json!({
                "email": m.get("email").cloned().unwrap_or(Value::Null),
                "id": id,
                "type": kind,
                "role": m.get("role").cloned().unwrap_or(json!("MEMBER")),
                "via": gemail,
            });
            if kind == "GROUP" && nested {
                if walked.insert(id.clone()) {
                    groups.push(entry);
                    queue.push_back((id, field(&m, "email")));
                }
                continue;
            }
            if seen.insert(if id.is_empty() {
                field(&m, "email")
            } else {
                id
            }) {
                members.push(entry);
            }
        }
    }
    Ok(json!({
        "group": { "id": top_id, "email": top_email },
        "count": members.len(),
        "members": members,
        "groups": groups,
    }))
}

/// `google.ensure_group` (`email`, `name`, `description`) → `id`, `email`, `name`, `created`;
/// or several at once (`groups: {email: name}`) → `created` and `existing` (addresses). An
/// existing group with the address is success; its name and description are left alone (they
/// may have been edited in Google on purpose).
pub async fn ensure(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let many = args.map("groups")?;
    if args.opt_str("email")?.is_none() {
        if many.is_empty() && args.value("groups").is_none() {
            return Err(ActionError::permanent(
                "give 'email' (one group) or 'groups: {email: name}'",
            ));
        }
        let (mut created, mut existing) = (Vec::new(), Vec::new());
        for (email, name) in many {
            let one = ensure_one(c, &email, name.as_str(), args.opt_str("description")?).await?;
            match one.get("created") {
                Some(Value::Bool(true)) => created.push(one["email"].clone()),
                _ => existing.push(one["email"].clone()),
            }
        }
        return Ok(json!({ "created": created, "existing": existing }));
    }
    ensure_one(
        c,
        args.str("email")?,
        args.opt_str("name")?,
        args.opt_str("description")?,
    )
    .await
}

async fn ensure_one(
    c: &Client,
    email: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Value, ActionError> {
    let email = email.trim().to_ascii_lowercase();
    let outputs = |g: &Value, created: bool| {
        json!({
            "id": g.get("id").cloned().unwrap_or(Value::Null),
            "email": g.get("email").cloned().unwrap_or(Value::Null),
            "name": g.get("name").cloned().unwrap_or(Value::Null),
            "created": created,
        })
    };
    let path = format!("{V1}/groups/{}", segment(&email));
    match c.get(&path, &[]).await {
        Ok(g) => return Ok(outputs(&g, false)),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into_action()),
    }
    let mut body = json!({ "email": email });
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    match c
        .call(Method::POST, &format!("{V1}/groups"), &[], Some(&body))
        .await
    {
        Ok(g) => Ok(outputs(&g, true)),
        // Made by an earlier attempt whose answer was lost.
        Err(e) if e.status == 409 => match c.get(&path, &[]).await {
            Ok(g) => Ok(outputs(&g, false)),
            Err(e) => Err(e.into_action()),
        },
        Err(e) => Err(e.into_action()),
    }
}

/// The (group, member addresses) pairs a membership step names: `group` with `member` (one
/// address or a list), or `members: { group: [address, …] }` for several groups at once.
fn pairs(args: &ArgMap) -> Result<Vec<(String, Vec<String>)>, ActionError> {
    let mut out = Vec::new();
    if let Some(group) = args.opt_str("group")? {
        let members = args.str_list("member")?;
        if args.value("member").is_none() {
            return Err(ActionError::permanent(
                "give 'member' (an address or a list) with 'group'",
            ));
        }
        out.push((group.to_string(), members));
    }
    for (group, list) in args.map("members")? {
        let members = match list {
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            Value::String(s) => vec![s],
            other => {
                return Err(ActionError::permanent(format!(
                    "members.{group} must be a list of addresses, not {other}"
                )))
            }
        };
        out.push((group, members));
    }
    if out.is_empty() && args.value("members").is_none() {
        return Err(ActionError::permanent(
            "give 'group' and 'member', or 'members: {group: [addresses]}'",
        ));
    }
    Ok(out)
}

/// `google.add_member` → `added` and `already` (`{group: [address]}`). "Already a member"
/// (409 duplicate) is success.
pub async fn add_member(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let role = args
        .opt_str("role")?
        .unwrap_or("MEMBER")
        .to_ascii_uppercase();
    let (mut added, mut already) = (serde_json::Map::new(), serde_json::Map::new());
    for (group, members) in pairs(args)? {
        let path = format!("{V1}/groups/{}/members", segment(&group));
        let (mut a, mut k) = (Vec::new(), Vec::new());
        for m in members {
            let body = json!({ "email": m, "role": role });
            match c.call(Method::POST, &path, &[], Some(&body)).await {
                Ok(_) => a.push(json!(m)),
                Err(e) if e.status == 409 => k.push(json!(m)),
                Err(e) => return Err(e.into_action()),
            }
        }
        added.insert(group.clone(), Value::Array(a));
        already.insert(group, Value::Array(k));
    }
    Ok(json!({ "added": added, "already": already }))
}

/// `google.remove_member` → `removed` and `absent` (`{group: [address]}`). A member that is
/// not there (404) is success.
pub async fn remove_member(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let (mut removed, mut absent) = (serde_json::Map::new(), serde_json::Map::new());
    for (group, members) in pairs(args)? {
        let (mut r, mut k) = (Vec::new(), Vec::new());
        for m in members {
            let path = format!("{V1}/groups/{}/members/{}", segment(&group), segment(&m));
            match c.call(Method::DELETE, &path, &[], None).await {
                Ok(_) => r.push(json!(m)),
                Err(e) if e.is_not_found() => k.push(json!(m)),
                Err(e) => return Err(e.into_action()),
            }
        }
        removed.insert(group.clone(), Value::Array(r));
        absent.insert(group, Value::Array(k));
    }
    Ok(json!({ "removed": removed, "absent": absent }))
}
