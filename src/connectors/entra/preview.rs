//! What each `entra.*` write would do, found with reads only (`roster plan`): the same look-ups
//! as the actions themselves (`users::resolve` for the account, `sku_id`, `group_id`,
//! `memberships`), then a `Preview` instead of the write.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::graph::segment;
use super::groups::{group_id, is_guid, memberships, user_id};
use super::licenses::sku_id;
use super::users::{create_body, resolve, user_outputs, CreateRequest, Resolved};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::plan::preview::{field_changes, Effect, FieldChange, Planned, Preview, NEW_ID};
use crate::secret::MASK;

impl Client {
    /// The preview of the write `name`; `None` for an action without one (a read, or
    /// `entra.bulk_upload`, which the plan reports as a call).
    pub async fn preview(
        &self,
        name: &str,
        args: &ArgMap,
        planned: &Planned,
    ) -> Result<Option<Preview>, ActionError> {
        let user = || Target::of(args, planned);
        Ok(Some(match name {
            "entra.create_user" => create_user(self, args).await?,
            "entra.update_user" => update_user(self, args, user()?).await?,
            "entra.disable_user" => set_enabled(self, user()?, false).await?,
            "entra.enable_user" => set_enabled(self, user()?, true).await?,
            "entra.revoke_sessions" => revoke_sessions(self, user()?).await?,
            "entra.delete_user" => delete_user(self, user()?).await?,
            "entra.assign_license" => assign_license(self, args, user()?).await?,
            "entra.remove_license" => remove_license(self, args, user()?).await?,
            "entra.add_to_groups" => add_to_groups(self, args, user()?).await?,
            "entra.remove_from_groups" => remove_from_groups(self, args, user()?).await?,
            "entra.remove_from_all_groups" => remove_from_all(self, args, user()?).await?,
            _ => return Ok(None),
        }))
    }
}

/// The user a step names: one that exists (read it), or one an earlier step would create.
struct Target {
    given: String,
    /// How lines name it: its UPN once read.
    label: String,
    planned: bool,
}

impl Target {
    fn of(args: &ArgMap, planned: &Planned) -> Result<Target, ActionError> {
        let given = args.str("user")?.to_string();
        let is_new = planned.contains(&given);
        let label = match planned.label(&given) {
            Some(name) if is_new => format!("the new user {name}"),
            _ if is_new => "the new user".to_string(),
            _ => given.clone(),
        };
        Ok(Target {
            given,
            label,
            planned: is_new,
        })
    }

    /// Reads the user's `select` properties (and its UPN for the lines).
    async fn read(&mut self, c: &Client, select: &str) -> Result<Value, ActionError> {
        let select = format!("id,userPrincipalName,{select}");
        let path = format!("/users/{}", segment(&self.given));
        let user =
            c.get(&path, &[("$select", &select)])
                .await
                .map_err(|e| match e.is_not_found() {
                    true => ActionError::permanent(format!("no Entra user '{}': {e}", self.given)),
                    false => e.into_action(),
                })?;
        if let Some(upn) = user.get("userPrincipalName").and_then(Value::as_str) {
            self.label = upn.to_string();
        }
        Ok(user)
    }

    fn preview(&self, effect: Effect, summary: String, outputs: Value) -> Preview {
        Preview::new(effect, summary, outputs).target(self.label.clone())
    }
}

async fn create_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let request = CreateRequest::read(args)?;
    let adopt = |user: &Value, why: String| {
        let upn = user["userPrincipalName"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let id = user["id"].as_str().unwrap_or("?");
        Preview::new(
            Effect::Unchanged,
            format!("adopt existing user {upn} ({id}), {why}"),
            user_outputs(user, false),
        )
        .target(upn)
    };
    Ok(match resolve(c, &request).await? {
        Resolved::Existing { user, matched_by } => adopt(&user, format!("same {matched_by}")),
        Resolved::Adopted { user } => adopt(&user, "on_conflict: adopt".into()),
        Resolved::Free {
            upn,
            nickname,
            taken,
        } => {
            // The body the create would send, with the password masked.
            let body = create_body(args, &upn, request.display_name, &nickname, MASK)?;
            let mut shown = body.clone();
            shown["id"] = json!(NEW_ID);
            let mut outputs = user_outputs(&shown, true);
            outputs["password"] = json!(MASK);
            let mut summary = format!("create user {upn} ({})", request.display_name);
            if !taken.is_empty() {
                summary.push_str(&format!(", as {} is taken", taken.join(", ")));
            }
            let mut p = Preview::new(Effect::Create, summary, outputs)
                .target(upn.clone())
                .detail(json!({ "properties": body, "taken": taken }));
            p.creates = vec![upn];
            p
        }
    })
}

async fn update_user(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
    let set = args.map("set")?;
    let outputs = json!({ "updated": set });
    let current = if u.planned {
        Value::Null
    } else {
        let keys: Vec<&str> = set.keys().map(String::as_str).collect();
        u.read(c, &keys.join(",")).await?
    };
    let changes = field_changes(&current, &set);
    if changes.is_empty() {
        let summary = format!("{} already has these values (PATCHed again)", u.label);
        return Ok(u.preview(Effect::Unchanged, summary, outputs));
    }
    let summary = format!("update {}", u.label);
    Ok(u.preview(Effect::Change, summary, outputs).changes(changes))
}

async fn set_enabled(c: &Client, mut u: Target, enabled: bool) -> Result<Preview, ActionError> {
    let outputs = json!({ "account_enabled": enabled });
    let verb = if enabled { "enable" } else { "disable" };
    let current = if u.planned {
        Value::Null
    } else {
        u.read(c, "accountEnabled").await?["accountEnabled"].clone()
    };
    if current == json!(enabled) {
        let summary = format!("{} is already {verb}d", u.label);
        return Ok(u.preview(Effect::Unchanged, summary, outputs));
    }
    let change = FieldChange {
        field: "accountEnabled".into(),
        from: current,
        to: json!(enabled),
    };
    let summary = format!("{verb} {}", u.label);
    Ok(u.preview(Effect::Change, summary, outputs)
        .changes(vec![change]))
}

async fn revoke_sessions(c: &Client, mut u: Target) -> Result<Preview, ActionError> {
    if !u.planned {
        u.read(c, "id").await?;
    }
    let summary = format!("revoke the sign-in sessions of {}", u.label);
    Ok(u.preview(Effect::Change, summary, json!({ "revoked": true })))
}

async fn delete_user(c: &Client, mut u: Target) -> Result<Preview, ActionError> {
    if !u.planned {
        let path = format!("/users/{}", segment(&u.given));
        match c.get(&path, &[("$select", "id,userPrincipalName")]).await {
            Ok(user) => {
                if let Some(upn) = user["userPrincipalName"].as_str() {
                    u.label = upn.to_string();
                }
            }
            Err(e) if e.is_not_found() => {
                let summary = format!("{} is already gone", u.label);
                let outputs = json!({ "deleted": false, "already_gone": true });
                return Ok(u.preview(Effect::Unchanged, summary, outputs));
            }
            Err(e) => return Err(e.into_action()),
        }
    }
    let summary = format!("delete {} (restorable for 30 days)", u.label);
    Ok(u.preview(Effect::Remove, summary, json!({ "deleted": true })))
}

/// The SKU's name as given and its id, and whether the user holds it now.
async fn license_state(
    c: &Client,
    args: &ArgMap,
    u: &mut Target,
) -> Result<(String, String, bool), ActionError> {
    let name = args.str("sku")?.to_string();
    let id = sku_id(c, &name).await?;
    let held = !u.planned
        && u.read(c, "assignedLicenses").await?["assignedLicenses"]
            .as_array()
            .is_some_and(|a| a.iter().any(|l| l["skuId"] == id.as_str()));
    Ok((name, id, held))
}

async fn assign_license(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
    let (sku, sku_id, held) = license_state(c, args, &mut u).await?;
    let outputs = json!({ "sku": sku, "sku_id": sku_id, "assigned": true });
    let (effect, summary) = if held {
        (Effect::Unchanged, format!("{} already has {sku}", u.label))
    } else {
        (Effect::Add, format!("assign {sku} to {}", u.label))
    };
    Ok(u.preview(effect, summary, outputs)
        .detail(json!({ "sku": sku, "sku_id": sku_id })))
}

async fn remove_license(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
    let (sku, sku_id, held) = license_state(c, args, &mut u).await?;
    let outputs = json!({ "sku": sku, "sku_id": sku_id, "removed": held });
    let (effect, summary) = if held {
        (Effect::Remove, format!("remove {sku} from {}", u.label))
    } else {
        (
            Effect::Unchanged,
            format!("{} does not have {sku}", u.label),
        )
    };
    Ok(u.preview(effect, summary, outputs)
        .detail(json!({ "sku": sku, "sku_id": sku_id })))
}

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

async fn add_to_groups(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
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

async fn remove_from_groups(
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

async fn remove_from_all(c: &Client, args: &ArgMap, mut u: Target) -> Result<Preview, ActionError> {
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
