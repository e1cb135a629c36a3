//! Previews of the group writes: the groups resolved as the actions resolve them, the user's
//! memberships (or a group's members) read.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::Target;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::entra::groups::{group_id, is_guid, memberships, user_id};
use crate::connectors::entra::Client;
use crate::plan::preview::{Effect, Preview};

/// The ids of the user's direct groups (none for a user not created yet).
async fn member_of(c: &Client, u: &mut Target) -> Result<HashSet<String>, ActionError> {
    if u.planned {
        return Ok(HashSet::new());
    }
    let uid = object_id(c, u).await?;
    Ok(memberships(c, &uid)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect())
}

/// The user's object id, as the group actions find it.
async fn object_id(c: &Client, u: &mut Target) -> Result<String, ActionError> {
    if is_guid(&u.given) {
        // Read for the line's UPN, and to fail like the action when there is no such user.
        u.read(c, "id").await?;
        Ok(u.given.clone())
    } else {
        user_id(c, &u.given).await
    }
}

/// The groups a step names, split by whether the user is a member now.
async fn split_groups(
    c: &Client,
    args: &ArgMap,
    u: &mut Target,
) -> Result<(Vec<String>, Vec<String>), ActionError> {
    let groups = args.str_list("groups")?;
    let mut ids = Vec::with_capacity(groups.len());
    for g in &groups {
        ids.push(group_id(c, g).await?);
    }
    let current = member_of(c, u).await?;
    let (mut members, mut others) = (Vec::new(), Vec::new());
    for (g, id) in groups.into_iter().zip(ids) {
        if current.contains(&id) {
            members.push(g);
        } else {
            others.push(g);
        }
    }
    Ok((members, others))
}

pub(super) async fn add(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
    let (already, added) = split_groups(c, args, &mut u).await?;
    let outputs = json!({ "added": added, "already": already });
    let (effect, mut summary) = if added.is_empty() {
        (Effect::Unchanged, format!("{} is already in", u.label))
    } else {
        (
            Effect::Add,
            format!("add {} to {}", u.label, added.join(", ")),
        )
    };
    match (added.is_empty(), already.is_empty()) {
        (true, _) => summary.push_str(&format!(" {}", already.join(", "))),
        (false, false) => summary.push_str(&format!(" (already in {})", already.join(", "))),
        (false, true) => {}
    }
    Ok(u.preview(effect, summary, outputs.clone()).detail(outputs))
}

pub(super) async fn remove(
    c: &Client,
    args: &ArgMap,
    mut u: Target,
) -> Result<Preview, ActionError> {
    let (removed, not_member) = split_groups(c, args, &mut u).await?;
    let outputs = json!({ "removed": removed, "not_member": not_member });
    let (effect, mut summary) = if removed.is_empty() {
        (Effect::Unchanged, format!("{} is not in", u.label))
    } else {
        (
            Effect::Remove,
            format!("remove {} from {}", u.label, removed.join(", ")),
        )
    };
    match (removed.is_empty(), not_member.is_empty()) {
        (true, _) => summary.push_str(&format!(" {}", not_member.join(", "))),
        (false, false) => summary.push_str(&format!(" (not in {})", not_member.join(", "))),
        (false, true) => {}
    }
    Ok(u.preview(effect, summary, outputs.clone()).detail(outputs))
}

pub(super) async fn remove_all(
    c: &Client,
    args: &ArgMap,
    mut u: Target,
) -> Result<Preview, ActionError> {
    let keep = args.str_list("keep")?;
    let all = if u.planned {
        Vec::new()
    } else {
        let uid = object_id(c, &mut u).await?;
        memberships(c, &uid).await?
    };
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for g in all {
        let entry = json!({ "id": g.id, "display_name": g.name });
        if g.dynamic || keep.iter().any(|k| *k == g.name || *k == g.id) {
            kept.push(entry);
        } else {
            removed.push(entry);
        }
    }
    let names = |list: &[Value]| -> String {
        let n: Vec<&str> = list
            .iter()
            .filter_map(|g| g["display_name"].as_str())
            .collect();
        n.join(", ")
    };
    let outputs = json!({ "removed": removed, "kept": kept });
    let (effect, mut summary) = if removed.is_empty() {
        (
            Effect::Unchanged,
            format!("{} is in no group to remove", u.label),
        )
    } else {
        (
            Effect::Remove,
            format!("remove {} from {}", u.label, names(&removed)),
        )
    };
    if !kept.is_empty() {
        summary.push_str(&format!(" (keeps {})", names(&kept)));
    }
    Ok(u.preview(effect, summary, outputs.clone()).detail(outputs))
}
