//! Previews of the group-side writes (`entra.add_group_members`, `remove_group_members`): each
//! group's members read once, each user found as the actions find them.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::entra::groups::group_id;
use crate::connectors::entra::members::{plan as members_argument, user};
use crate::connectors::entra::Client;
use crate::plan::preview::{Effect, Planned, Preview};

/// A group's members now: their ids and, lower-cased, their UPNs and mail addresses.
struct Members {
    ids: HashSet<String>,
    names: HashSet<String>,
}

async fn members(c: &Client, gid: &str) -> Result<Members, ActionError> {
    let list = c
        .get_all(
            &format!("/groups/{gid}/members"),
            &[("$select", "id,userPrincipalName,mail")],
        )
        .await
        .map_err(|e| e.into_action())?;
    let text = |m: &Value, k: &str| m[k].as_str().map(str::to_lowercase);
    Ok(Members {
        ids: list.iter().filter_map(|m| text(m, "id")).collect(),
        names: list
            .iter()
            .flat_map(|m| [text(m, "userPrincipalName"), text(m, "mail")])
            .flatten()
            .collect(),
    })
}

/// Where a user stands with a group.
enum Standing {
    Member,
    NotMember,
    /// No such user (nor one an earlier step would create).
    Unknown,
}

async fn standing(
    c: &Client,
    m: &Members,
    u: &str,
    planned: &Planned,
) -> Result<Standing, ActionError> {
    if planned.contains(u) {
        return Ok(Standing::NotMember);
    }
    let lower = u.to_lowercase();
    if m.ids.contains(&lower) || m.names.contains(&lower) {
        return Ok(Standing::Member);
    }
    Ok(match user(c, u).await? {
        Some(id) if m.ids.contains(&id.to_lowercase()) => Standing::Member,
        Some(_) => Standing::NotMember,
        None => Standing::Unknown,
    })
}

/// `users to group` lines (`to` or `from`), and how many users in all.
fn lines(by_group: &Map<String, Value>, to: &str) -> (Vec<String>, usize) {
    let mut n = 0;
    let lines = by_group
        .iter()
        .filter_map(|(g, users)| {
            let users: Vec<&str> = users.as_array()?.iter().filter_map(Value::as_str).collect();
            n += users.len();
            (!users.is_empty()).then(|| format!("{} {to} {g}", users.join(", ")))
        })
        .collect();
    (lines, n)
}

pub(super) async fn add(
    c: &Client,
    args: &ArgMap,
    planned: &Planned,
) -> Result<Preview, ActionError> {
    let (mut added, mut already, mut not_found) = (Map::new(), Map::new(), Map::new());
    for (g, users) in members_argument(args)? {
        let m = members(c, &group_id(c, &g).await?).await?;
        let (mut a, mut al, mut nf) = (Vec::new(), Vec::new(), Vec::new());
        for u in users {
            match standing(c, &m, &u, planned).await? {
                Standing::Member => al.push(u),
                Standing::NotMember => a.push(u),
                Standing::Unknown => nf.push(u),
            }
        }
        added.insert(g.clone(), json!(a));
        already.insert(g.clone(), json!(al));
        not_found.insert(g, json!(nf));
    }
    let (adds, n) = lines(&added, "to");
    let (_, skipped) = lines(&not_found, "to");
    let (_, members) = lines(&already, "to");
    let mut summary = match n {
        0 => "nobody to add".to_string(),
        _ => format!("add {}", adds.join("; ")),
    };
    if members > 0 {
        summary.push_str(&format!(" ({members} already members)"));
    }
    if skipped > 0 {
        summary.push_str(&format!(" ({skipped} without an Entra account)"));
    }
    let outputs = json!({ "added": added, "already": already, "not_found": not_found });
    let effect = if n == 0 {
        Effect::Unchanged
    } else {
        Effect::Add
    };
    Ok(Preview::new(effect, summary, outputs.clone()).detail(outputs))
}

pub(super) async fn remove(
    c: &Client,
    args: &ArgMap,
    planned: &Planned,
) -> Result<Preview, ActionError> {
    let (mut removed, mut not_member) = (Map::new(), Map::new());
    for (g, users) in members_argument(args)? {
        let m = members(c, &group_id(c, &g).await?).await?;
        let (mut r, mut nm) = (Vec::new(), Vec::new());
        for u in users {
            match standing(c, &m, &u, planned).await? {
                Standing::Member => r.push(u),
                Standing::NotMember | Standing::Unknown => nm.push(u),
            }
        }
        removed.insert(g.clone(), json!(r));
        not_member.insert(g, json!(nm));
    }
    let (removes, n) = lines(&removed, "from");
    let summary = match n {
        0 => "nobody to remove".to_string(),
        _ => format!("remove {}", removes.join("; ")),
    };
    let outputs = json!({ "removed": removed, "not_member": not_member });
    let effect = if n == 0 {
        Effect::Unchanged
    } else {
        Effect::Remove
    };
    Ok(Preview::new(effect, summary, outputs.clone()).detail(outputs))
}
