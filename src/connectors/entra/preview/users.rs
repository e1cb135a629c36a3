//! Previews of the user writes: create (the same `resolve` as the action: adopt or the first
//! free UPN), update, enable/disable, revoke sessions, delete.

use serde_json::{json, Value};

use super::Target;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::entra::graph::segment;
use crate::connectors::entra::users::{
    create_body, resolve, user_outputs, CreateRequest, Resolved,
};
use crate::connectors::entra::Client;
use crate::plan::preview::{field_changes, Effect, FieldChange, Preview, NEW_ID};
use crate::secret::MASK;

pub(super) async fn create(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
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

pub(super) async fn update(
    c: &Client,
    args: &ArgMap,
    mut u: Target,
) -> Result<Preview, ActionError> {
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

pub(super) async fn set_enabled(
    c: &Client,
    mut u: Target,
    enabled: bool,
) -> Result<Preview, ActionError> {
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

pub(super) async fn revoke_sessions(c: &Client, mut u: Target) -> Result<Preview, ActionError> {
    if !u.planned {
        u.read(c, "id").await?;
    }
    let summary = format!("revoke the sign-in sessions of {}", u.label);
    Ok(u.preview(Effect::Change, summary, json!({ "revoked": true })))
}

pub(super) async fn delete(c: &Client, mut u: Target) -> Result<Preview, ActionError> {
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
