//! What each `google.*` write would do, found with reads only (`roster plan`): the user is read
//! and the same `Wanted::patch` as the action works out what would be sent.

use serde_json::{json, Value};

use super::users::{existing, user_outputs, Wanted};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::plan::preview::{field_changes, Effect, FieldChange, Planned, Preview};

impl Client {
    /// The preview of the write `name`; `None` for a read. (No Google action creates a user,
    /// so none depends on an object planned by an earlier step.)
    pub async fn preview(
        &self,
        name: &str,
        args: &ArgMap,
        _planned: &Planned,
    ) -> Result<Option<Preview>, ActionError> {
        Ok(Some(match name {
            "google.update_user" => update_user(self, args).await?,
            "google.suspend_user" => suspend_user(self, args).await?,
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
