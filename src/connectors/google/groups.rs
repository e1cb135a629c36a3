//! Group members, with nested groups flattened: the groups are walked breadth first, so a
//! direct membership is reported before one through a nested group, and each group is listed
//! once however often (or circularly) it is nested.

use std::collections::{HashSet, VecDeque};

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
