//! `scim.ensure_group`, `scim.add_to_group`, `scim.remove_from_group`. Membership is read from
//! the group first, so "already a member" and "not a member" are success and cost no write;
//! members change by PATCH `add` / `remove` (`members[value eq "…"]`), or by PUT of the group
//! when the provider has no PATCH.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::api::quote;
use super::{Client, Failure};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;
use crate::scim::path::get_ci;
use crate::scim::{GROUP_URN, PATCH_URN};

fn display_name(g: &Value) -> Option<&str> {
    get_ci(g, "displayName").and_then(Value::as_str)
}

impl Client {
    /// The groups named `name` (ignoring case).
    async fn find_groups(&self, name: &str) -> Result<Vec<Value>, Failure> {
        let features = self.features().await?;
        let filter = format!("displayName eq {}", quote(name));
        let found = self
            .list_all(
                "/Groups",
                features.filter.then_some(filter.as_str()),
                &[("excludedAttributes", "members")],
            )
            .await?;
        Ok(found
            .into_iter()
            .filter(|g| display_name(g).is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .collect())
    }

    /// The group `group` names: its SCIM id, else its display name. With its members.
    async fn group(&self, group: &str) -> Result<Option<Value>, Failure> {
        match self
            .call(
                Method::GET,
                &format!("/Groups/{}", segment(group)),
                &[],
                None,
                None,
            )
            .await
        {
            Ok(body) => return Ok(Some(body)),
            Err(e) if matches!(e.status, 400 | 404) => {}
            Err(e) => return Err(e.into()),
        }
        let found = self.find_groups(group).await?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => {
                let id = get_ci(one, "id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let body = self
                    .call(
                        Method::GET,
                        &format!("/Groups/{}", segment(id)),
                        &[],
                        None,
                        None,
                    )
                    .await?;
                Ok(Some(body))
            }
            many => Err(ActionError::permanent(format!(
                "SCIM {}: {} groups are named '{group}'; name it by id",
                self.name,
                many.len()
            ))
            .into()),
        }
    }
}

/// `scim.ensure_group`.
pub(super) async fn ensure(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let name = args.str("display_name")?;
    let external_id = args.opt_str("external_id")?;
    let mut want = Map::new();
    want.insert("displayName".into(), json!(name));
    if let Some(x) = external_id {
        want.insert("externalId".into(), json!(x));
    }
    let found = c.find_groups(name).await?;
    let (group, created) = match found.into_iter().next() {
        Some(g) => (g, false),
        None => {
            let mut body = want.clone();
            body.insert("schemas".into(), json!([GROUP_URN]));
            match c
                .call(
                    Method::POST,
                    "/Groups",
                    &[],
                    Some(&Value::Object(body)),
                    None,
                )
                .await
            {
                Ok(body) => (body, true),
                Err(e) if e.is_conflict() => match c.find_groups(name).await?.into_iter().next() {
                    Some(g) => (g, false),
                    None => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
    };
    let id = get_ci(&group, "id")
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::permanent(format!("SCIM {}: the group has no id", c.name)))?
        .to_string();
    if !created {
        c.converge(&format!("/Groups/{}", segment(&id)), &group, &want)
            .await?;
    }
    Ok(json!({"id": id, "display_name": name, "created": created}))
}

/// `user` and `users`: at least one SCIM user id.
fn users(args: &ArgMap) -> Result<Vec<String>, ActionError> {
    let mut all = args.str_list("users")?;
    if let Some(u) = args.opt_str("user")? {
        all.insert(0, u.to_string());
    }
    all.dedup();
    if all.is_empty() {
        return Err(ActionError::permanent(
            "name the members: 'user' or 'users' (SCIM ids)",
        ));
    }
    Ok(all)
}

fn member_ids(group: &Value) -> Vec<String> {
    get_ci(group, "members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| get_ci(x, "value").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the group's new member list: PATCH `ops`, else PUT with `members`.
async fn write_members(
    c: &Client,
    group: &Value,
    ops: Vec<Value>,
    members: Vec<String>,
) -> Result<(), Failure> {
    let id = get_ci(group, "id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = format!("/Groups/{}", segment(id));
    let features = c.features().await?;
    let version = if features.etag {
        group["meta"]["version"].as_str()
    } else {
        None
    };
    if features.patch {
        let body = json!({"schemas": [PATCH_URN], "Operations": ops});
        c.call(Method::PATCH, &path, &[], Some(&body), version)
            .await?;
    } else {
        let mut whole = group.as_object().cloned().unwrap_or_default();
        whole.remove("meta");
        whole.insert(
            "members".into(),
            members.iter().map(|m| json!({"value": m})).collect(),
        );
        c.call(
            Method::PUT,
            &path,
            &[],
            Some(&Value::Object(whole)),
            version,
        )
        .await?;
    }
    Ok(())
}

/// `scim.add_to_group`.
pub(super) async fn add(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let name = args.str("group")?;
    let wanted = users(args)?;
    let group = c.group(name).await?.ok_or_else(|| {
        ActionError::permanent(format!(
            "SCIM {}: no group '{name}' (create it with scim.ensure_group)",
            c.name
        ))
    })?;
    let mut members = member_ids(&group);
    let (already, added): (Vec<String>, Vec<String>) =
        wanted.into_iter().partition(|u| members.contains(u));
    if !added.is_empty() {
        let value: Vec<Value> = added.iter().map(|u| json!({"value": u})).collect();
        members.extend(added.iter().cloned());
        let ops = vec![json!({"op": "add", "path": "members", "value": value})];
        write_members(c, &group, ops, members).await?;
    }
    Ok(json!({"group": group["id"], "added": added, "already": already}))
}

/// `scim.remove_from_group`.
pub(super) async fn remove(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let name = args.str("group")?;
    let wanted = users(args)?;
    let Some(group) = c.group(name).await? else {
        return Ok(json!({"group": null, "removed": [], "not_member": wanted}));
    };
    let members = member_ids(&group);
    let (removed, not_member): (Vec<String>, Vec<String>) =
        wanted.into_iter().partition(|u| members.contains(u));
    if !removed.is_empty() {
        let ops = removed
            .iter()
            .map(|u| json!({"op": "remove", "path": format!("members[value eq {}]", quote(u))}))
            .collect();
        let rest = members
            .into_iter()
            .filter(|m| !removed.contains(m))
            .collect();
        write_members(c, &group, ops, rest).await?;
    }
    Ok(json!({"group": group["id"], "removed": removed, "not_member": not_member}))
}
