//! What each `google.*` write would do, found with reads only (`roster plan`): the user is read
//! and the same `Wanted::patch` as the action works out what would be sent; `create_user` looks
//! the user up as the action does (external id, then address); group writes read the group and
//! the member.

use serde_json::{json, Value};

use super::accounts;
use super::directory::GoogleError;
use super::users::{existing, user_outputs, Wanted};
use super::{Client, V1};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;
use crate::plan::preview::{field_changes, Effect, FieldChange, Planned, Preview, NEW_ID};

impl Client {
    /// The preview of the write `name`; `None` for a read. A user or group an earlier step
    /// would create cannot be read yet: its later writes are previewed as calls.
    pub async fn preview(
        &self,
        name: &str,
        args: &ArgMap,
        planned: &Planned,
    ) -> Result<Option<Preview>, ActionError> {
        let named = |k: &str| {
            args.opt_str(k)
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_string()
        };
        if planned.contains(&named("user")) || planned.contains(&named("group")) {
            return Ok(None);
        }
        Ok(Some(match name {
            "google.update_user" => update_user(self, args).await?,
            "google.suspend_user" => suspend_user(self, args).await?,
            "google.unsuspend_user" => unsuspend_user(self, args).await?,
            "google.create_user" => create_user(self, args).await?,
            "google.delete_user" => delete_user(self, args).await?,
            "google.ensure_group" => match args.opt_str("email")? {
                Some(email) => ensure_group(self, email).await?,
                None => return Ok(None),
            },
            "google.add_member" | "google.remove_member" => {
                match (args.opt_str("group")?, args.str_list("member")?.as_slice()) {
                    (Some(group), [member]) => {
                        membership(self, group, member, name == "google.add_member").await?
                    }
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        }))
    }
}

fn label(user: &Value, key: &str) -> String {
    user["primaryEmail"].as_str().unwrap_or(key).to_string()
}

async fn update_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let key = args.str("user")?;
    let wanted = Wanted::read(args)?;
    let user = existing(c, key).await?;
    let patch = wanted.patch(&user)?;
    let mut outputs = user_outputs(&user);
    let updated: Vec<&String> = patch.keys().collect();
    outputs.insert("changed".into(), json!(!updated.is_empty()));
    outputs.insert("updated".into(), json!(updated));
    let who = label(&user, key);
    let preview = if patch.is_empty() {
        Preview::new(
            Effect::Unchanged,
            format!("{who} already has these values"),
            Value::Object(outputs),
        )
    } else {
        Preview::new(
            Effect::Change,
            format!("update Google user {who}"),
            Value::Object(outputs),
        )
        .changes(field_changes(&user, &patch))
    };
    Ok(preview.target(who))
}

async fn suspend_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let key = args.str("user")?;
    let user = existing(c, key).await?;
    let already = user.get("suspended") == Some(&json!(true));
    let mut outputs = user_outputs(&user);
    outputs.insert("suspended".into(), json!(true));
    outputs.insert("changed".into(), json!(!already));
    let who = label(&user, key);
    let preview = if already {
        Preview::new(
            Effect::Unchanged,
            format!("{who} is already suspended"),
            Value::Object(outputs),
        )
    } else {
        Preview::new(
            Effect::Change,
            format!("suspend Google user {who}"),
            Value::Object(outputs),
        )
        .changes(vec![FieldChange {
            field: "suspended".into(),
            from: user.get("suspended").cloned().unwrap_or(json!(false)),
            to: json!(true),
        }])
    };
    Ok(preview.target(who))
}

async fn unsuspend_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let key = args.str("user")?;
    let user = existing(c, key).await?;
    let suspended = user.get("suspended") == Some(&json!(true));
    let mut outputs = user_outputs(&user);
    outputs.insert("suspended".into(), json!(false));
    outputs.insert("changed".into(), json!(suspended));
    let who = label(&user, key);
    let preview = if suspended {
        Preview::new(
            Effect::Change,
            format!("unsuspend Google user {who}"),
            Value::Object(outputs),
        )
        .changes(vec![FieldChange {
            field: "suspended".into(),
            from: json!(true),
            to: json!(false),
        }])
    } else {
        Preview::new(
            Effect::Unchanged,
            format!("{who} is not suspended"),
            Value::Object(outputs),
        )
    };
    Ok(preview.target(who))
}

async fn create_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let w = accounts::Wanted::read(args)?;
    let mut found = accounts::by_external_id(c, &w)
        .await?
        .map(|u| (u, "external id"));
    if found.is_none() {
        found = c
            .get_user(&w.email, "full")
            .await
            .map_err(GoogleError::into_action)?
            .map(|u| (u, "address"));
    }
    let Some((user, by)) = found else {
        let outputs = json!({"id": NEW_ID, "primary_email": w.email, "created": true,
            "found_by": null, "updated": []});
        let mut p = Preview::new(
            Effect::Create,
            format!("create Google user {}", w.email),
            outputs,
        )
        .target(w.email.clone());
        p.creates = vec![w.email.clone()];
        return Ok(p);
    };
    if let (Some(stored), Some(wanted)) = (w.stored_id(&user), w.external_id.as_deref()) {
        if stored != wanted {
            return Err(ActionError::permanent(format!(
                "Google user {} belongs to another {} account (external id {stored}, not {wanted})",
                w.email, w.id_type
            )));
        }
    }
    let patch = w.patch(&user);
    let mut outputs = user_outputs(&user);
    outputs.insert("created".into(), json!(false));
    outputs.insert(
        "found_by".into(),
        json!(if by == "address" {
            "primary_email"
        } else {
            "external_id"
        }),
    );
    outputs.insert("updated".into(), json!(patch.keys().collect::<Vec<_>>()));
    let who = label(&user, &w.email);
    let preview = if patch.is_empty() {
        Preview::new(
            Effect::Unchanged,
            format!("adopt Google user {who} (same {by})"),
            Value::Object(outputs),
        )
    } else {
        Preview::new(
            Effect::Change,
            format!("adopt and update Google user {who} (same {by})"),
            Value::Object(outputs),
        )
        .changes(field_changes(&user, &patch))
    };
    Ok(preview.target(who))
}

async fn delete_user(c: &Client, args: &ArgMap) -> Result<Preview, ActionError> {
    let key = args.str("user")?;
    Ok(
        match c
            .get_user(key, "basic")
            .await
            .map_err(GoogleError::into_action)?
        {
            Some(u) => Preview::new(
                Effect::Remove,
                format!("delete Google user {}", label(&u, key)),
                json!({"user": key, "id": u["id"], "deleted": true}),
            )
            .target(label(&u, key)),
            None => Preview::new(
                Effect::Unchanged,
                format!("no Google user {key}: nothing to delete"),
                json!({"user": key, "deleted": false}),
            )
            .target(key),
        },
    )
}

async fn ensure_group(c: &Client, email: &str) -> Result<Preview, ActionError> {
    let email = email.trim().to_ascii_lowercase();
    match c
        .get(&format!("{V1}/groups/{}", segment(&email)), &[])
        .await
    {
        Ok(g) => Ok(Preview::new(
            Effect::Unchanged,
            format!("Google group {email} exists"),
            json!({"id": g["id"], "email": email, "name": g["name"], "created": false}),
        )
        .target(email)),
        Err(e) if e.is_not_found() => {
            let mut p = Preview::new(
                Effect::Create,
                format!("create Google group {email}"),
                json!({"id": NEW_ID, "email": email, "created": true}),
            )
            .target(email.clone());
            p.creates = vec![email];
            Ok(p)
        }
        Err(e) => Err(e.into_action()),
    }
}

async fn membership(
    c: &Client,
    group: &str,
    member: &str,
    add: bool,
) -> Result<Preview, ActionError> {
    let path = format!("{V1}/groups/{}/members/{}", segment(group), segment(member));
    let present = match c.get(&path, &[]).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into_action()),
    };
    let one = json!({ group: [member] });
    let none = json!({ group: [] });
    Ok(match (add, present) {
        (true, false) => Preview::new(
            Effect::Add,
            format!("add {member} to Google group {group}"),
            json!({"added": one, "already": none}),
        ),
        (true, true) => Preview::new(
            Effect::Unchanged,
            format!("{member} is already in {group}"),
            json!({"added": none, "already": one}),
        ),
        (false, true) => Preview::new(
            Effect::Remove,
            format!("remove {member} from Google group {group}"),
            json!({"removed": one, "absent": none}),
        ),
        (false, false) => Preview::new(
            Effect::Unchanged,
            format!("{member} is not in {group}"),
            json!({"removed": none, "absent": one}),
        ),
    }
    .target(group))
}
