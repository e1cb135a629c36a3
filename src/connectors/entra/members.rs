//! A group's side of membership, for mirroring: list the members of several groups, and add or
//! remove many users per group. Groups are named by display name or id, users by UPN or id.
//! A user that does not exist is reported under `not_found` rather than failing the step: a
//! mirror adds everyone it can and says who it could not.

use serde_json::{json, Map, Value};

use super::graph::segment;
use super::groups::{add_one, group_id, remove_one, Added};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;

/// `entra.list_group_members`: `by_group: { name: [{id, user_principal_name, mail}] }` for
/// each group in `groups` (direct user members; nested groups are not users to mirror).
pub async fn list(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let mut by_group = Map::new();
    for g in args.str_list("groups")? {
        let gid = group_id(c, &g).await?;
        let members = c
            .get_all(
                &format!("/groups/{gid}/members"),
                &[("$select", "id,userPrincipalName,mail")],
            )
            .await
            .map_err(|e| e.into_action())?;
        let users: Vec<Value> = members
            .iter()
            .filter(|m| {
                m.get("@odata.type").and_then(Value::as_str) == Some("#microsoft.graph.user")
            })
            .map(|m| {
                json!({
                    "id": m.get("id").cloned().unwrap_or(Value::Null),
                    "user_principal_name": m.get("userPrincipalName").cloned().unwrap_or(Value::Null),
                    "mail": m.get("mail").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        by_group.insert(g, Value::Array(users));
    }
    Ok(json!({ "by_group": by_group }))
}

/// `entra.read_groups`: the groups named in `groups` (display names or ids; default every
/// group of the tenant) with what a mirror needs: `groups: [{id, display_name, mail,
/// security_enabled, members: [{id, user_principal_name, mail, user_type}]}]` (direct user
/// members).
pub async fn read_groups(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    const SELECT: &str = "id,displayName,mail,securityEnabled";
    let named = args.str_list("groups")?;
    let groups = if named.is_empty() {
        c.get_all("/groups", &[("$select", SELECT)])
            .await
            .map_err(|e| e.into_action())?
    } else {
        let mut out = Vec::new();
        for g in named {
            let gid = group_id(c, &g).await?;
            out.push(
                c.get(&format!("/groups/{gid}"), &[("$select", SELECT)])
                    .await
                    .map_err(|e| e.into_action())?,
            );
        }
        out
    };
    let mut result = Vec::new();
    for g in groups {
        let gid = g.get("id").and_then(Value::as_str).unwrap_or_default();
        let members = c
            .get_all(
                &format!("/groups/{}/members", segment(gid)),
                &[("$select", "id,userPrincipalName,mail,userType")],
            )
            .await
            .map_err(|e| e.into_action())?;
        let users: Vec<Value> = members
            .iter()
            .filter(|m| {
                m.get("@odata.type").and_then(Value::as_str) == Some("#microsoft.graph.user")
            })
            .map(|m| {
                let f = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
                json!({"id": f("id"), "user_principal_name": f("userPrincipalName"),
                       "mail": f("mail"), "user_type": f("userType")})
            })
            .collect();
        let f = |k: &str| g.get(k).cloned().unwrap_or(Value::Null);
        result.push(json!({
            "id": f("id"), "display_name": f("displayName"), "mail": f("mail"),
            "security_enabled": g.get("securityEnabled") == Some(&Value::Bool(true)),
            "members": users,
        }));
    }
    Ok(json!({ "groups": result }))
}

/// The `members` argument: `{ group: [user, …] }`.
pub(super) fn plan(args: &ArgMap) -> Result<Vec<(String, Vec<String>)>, ActionError> {
    args.map("members")?
        .into_iter()
        .map(|(g, users)| {
            let list = users
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .ok_or_else(|| {
                    ActionError::permanent(format!(
                        "members.{g} must be a list of users (UPNs or ids)"
                    ))
                })?;
            Ok((g, list))
        })
        .collect()
}

/// The user's id, or `None` when no such user exists.
pub(super) async fn user(c: &Client, user: &str) -> Result<Option<String>, ActionError> {
    if uuid::Uuid::parse_str(user).is_ok() {
        return Ok(Some(user.to_string()));
    }
    match c
        .get(&format!("/users/{}", segment(user)), &[("$select", "id")])
        .await
    {
        Ok(u) => Ok(u.get("id").and_then(Value::as_str).map(String::from)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into_action()),
    }
}

/// `entra.add_group_members`: outputs `added`, `already` and `not_found`, each by group.
pub async fn add(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let (mut added, mut already, mut not_found) = (Map::new(), Map::new(), Map::new());
    for (g, users) in plan(args)? {
        let gid = group_id(c, &g).await?;
        let (mut a, mut al, mut nf) = (Vec::new(), Vec::new(), Vec::new());
        for u in users {
            match user(c, &u).await? {
                None => nf.push(u),
                Some(uid) => match add_one(c, &gid, &uid).await? {
                    Added::Now => a.push(u),
                    Added::Already => al.push(u),
                },
            }
        }
        added.insert(g.clone(), json!(a));
        already.insert(g.clone(), json!(al));
        not_found.insert(g, json!(nf));
    }
    Ok(json!({ "added": added, "already": already, "not_found": not_found }))
}

/// `entra.remove_group_members`: outputs `removed` and `not_member`, each by group.
pub async fn remove(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let (mut removed, mut not_member) = (Map::new(), Map::new());
    for (g, users) in plan(args)? {
        let gid = group_id(c, &g).await?;
        let (mut r, mut nm) = (Vec::new(), Vec::new());
        for u in users {
            match user(c, &u).await? {
                Some(uid) if remove_one(c, &gid, &uid).await? => r.push(u),
                _ => nm.push(u),
            }
        }
        removed.insert(g.clone(), json!(r));
        not_member.insert(g, json!(nm));
    }
    Ok(json!({ "removed": removed, "not_member": not_member }))
}
