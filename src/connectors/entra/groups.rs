//! Group memberships: add, remove, and remove from all (recording what was removed so a return
//! can restore it). Groups are named by display name or id; names are resolved once and cached.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{json, Value};

use super::graph::{literal, segment, Body, GraphError};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;

/// Graph's answers for an add that is already done and a removal that is (CONTRACT §3.3–3.4).
const ALREADY_MEMBER: &str = "already exist";
const NOT_MEMBER: &str = "do not exist";

/// Group display names resolved to ids (only hits are kept: a group created later is found).
#[derive(Debug, Default)]
pub struct Cache {
    ids: Mutex<HashMap<String, String>>,
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The group's id: `group` itself when it is one, else the one group with that display name.
pub(super) async fn group_id(c: &Client, group: &str) -> Result<String, ActionError> {
    if is_guid(group) {
        return Ok(group.to_string());
    }
    if let Some(id) = c.cache.ids.lock().ok().and_then(|m| m.get(group).cloned()) {
        return Ok(id);
    }
    let filter = format!("displayName eq {}", literal(group));
    let found = c
        .get_all(
            "/groups",
            &[("$filter", &filter), ("$select", "id,displayName")],
        )
        .await
        .map_err(GraphError::into_action)?;
    let id = match found.as_slice() {
        [one] => one
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        [] => {
            return Err(ActionError::permanent(format!(
                "no Entra group is named '{group}'"
            )))
        }
        many => {
            return Err(ActionError::permanent(format!(
                "{} Entra groups are named '{group}'; name it by id instead",
                many.len()
            )))
        }
    };
    if let Ok(mut m) = c.cache.ids.lock() {
        m.insert(group.to_string(), id.clone());
    }
    Ok(id)
}

/// The user's object id: `user` itself when it is one, else looked up by UPN.
pub(super) async fn user_id(c: &Client, user: &str) -> Result<String, ActionError> {
    if is_guid(user) {
        return Ok(user.to_string());
    }
    let u = c
        .get(&format!("/users/{}", segment(user)), &[("$select", "id")])
        .await
        .map_err(|e| e.replicating("user"))?;
    u.get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| ActionError::permanent(format!("Graph returned no id for {user}")))
}

/// Whether an add made the membership or found it made.
pub(super) enum Added {
    Now,
    Already,
}

/// Adds `uid` to `gid`; "already a member" is success.
pub(super) async fn add_one(c: &Client, gid: &str, uid: &str) -> Result<Added, ActionError> {
    let body = json!({ "@odata.id": format!("{}/directoryObjects/{uid}", c.graph) });
    let path = format!("/groups/{gid}/members/$ref");
    match c.call(Method::POST, &path, &[], Body::Json(&body)).await {
        Ok(_) => Ok(Added::Now),
        Err(e) if e.status == 400 && e.message.contains(ALREADY_MEMBER) => Ok(Added::Already),
        // The user or the group was created moments ago (CONTRACT §3.3, §5.3).
        Err(e) if e.status == 400 && e.message.contains(NOT_MEMBER) => {
            Err(e.replicating("group or user").or_replication())
        }
        Err(e) => Err(e.replicating("user")),
    }
}

/// `entra.add_to_groups`: outputs `added` and `already` (group names as given).
pub async fn add(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let uid = user_id(c, args.str("user")?).await?;
    let groups = args.str_list("groups")?;
    let (mut added, mut already) = (Vec::new(), Vec::new());
    for g in &groups {
        let gid = group_id(c, g).await?;
        match add_one(c, &gid, &uid).await? {
            Added::Now => added.push(g.clone()),
            Added::Already => already.push(g.clone()),
        }
    }
    Ok(json!({ "added": added, "already": already }))
}

/// `entra.remove_from_groups`: outputs `removed` and `not_member`.
pub async fn remove(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let uid = user_id(c, args.str("user")?).await?;
    let (mut removed, mut not_member) = (Vec::new(), Vec::new());
    for g in args.str_list("groups")? {
        let gid = group_id(c, &g).await?;
        match remove_one(c, &gid, &uid).await? {
            true => removed.push(g),
            false => not_member.push(g),
        }
    }
    Ok(json!({ "removed": removed, "not_member": not_member }))
}

/// `true` if removed, `false` if the user was not a member.
pub(super) async fn remove_one(c: &Client, gid: &str, uid: &str) -> Result<bool, ActionError> {
    // The `/$ref` is what makes this remove a membership and not delete the user (CONTRACT §3.4).
    let path = format!("/groups/{gid}/members/{uid}/$ref");
    match c.call(Method::DELETE, &path, &[], Body::None).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() || (e.status == 400 && e.message.contains(NOT_MEMBER)) => {
            Ok(false)
        }
        Err(e) => Err(e.into_action()),
    }
}

/// The user's direct group memberships (directory roles and administrative units left out).
async fn memberships(c: &Client, uid: &str) -> Result<Vec<Membership>, ActionError> {
    let member_of = c
        .get_all(
            &format!("/users/{uid}/memberOf"),
            &[("$select", "id,displayName,groupTypes")],
        )
        .await
        .map_err(|e| e.replicating("user"))?;
    Ok(member_of
        .iter()
        .filter(|g| g.get("@odata.type").and_then(Value::as_str) == Some("#microsoft.graph.group"))
        .map(|g| Membership {
            id: g
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: g
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            dynamic: g
                .get("groupTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|x| x == "DynamicMembership")),
        })
        .collect())
}

struct Membership {
    id: String,
    name: String,
    /// A dynamic group's rule decides its members; they cannot be removed by hand.
    dynamic: bool,
}

impl Membership {
    fn to_json(&self) -> Value {
        json!({ "id": self.id, "display_name": self.name, "dynamic": self.dynamic })
    }
}

/// `entra.list_groups`: the user's direct groups, `groups: [{id, display_name, dynamic}]`. An
/// offboarding records them with this step before removing them, so the record is committed
/// even if the removal is interrupted and retried.
pub async fn list(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let uid = user_id(c, args.str("user")?).await?;
    let groups: Vec<Value> = memberships(c, &uid)
        .await?
        .iter()
        .map(Membership::to_json)
        .collect();
    Ok(json!({ "groups": groups }))
}

/// `entra.remove_from_all_groups`: every direct group membership except dynamic groups (whose
/// rules decide) and the groups in `keep`. Outputs `removed` and `kept`; a retry after an
/// interruption reports only what it removed itself, so record first with `entra.list_groups`.
pub async fn remove_all(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let uid = user_id(c, args.str("user")?).await?;
    let keep = args.str_list("keep")?;
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for g in memberships(c, &uid).await? {
        if g.dynamic || keep.iter().any(|k| *k == g.name || *k == g.id) {
            kept.push(json!({ "id": g.id, "display_name": g.name }));
            continue;
        }
        if remove_one(c, &g.id, &uid).await? {
            removed.push(json!({ "id": g.id, "display_name": g.name }));
        }
    }
    Ok(json!({ "removed": removed, "kept": kept }))
}

trait OrReplication {
    fn or_replication(self) -> ActionError;
}

impl OrReplication for ActionError {
    /// A 400 "objects being referenced do not exist" right after a create is replication too.
    fn or_replication(self) -> ActionError {
        match self {
            ActionError::Permanent(message) => ActionError::Transient {
                message: format!("not visible yet (directory replication): {message}"),
                retry_after: Some(std::time::Duration::from_secs(2)),
            },
            other => other,
        }
    }
}
