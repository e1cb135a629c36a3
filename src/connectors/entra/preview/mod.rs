//! What each `entra.*` write would do, found with reads only (`roster plan`): the same look-ups
//! as the actions themselves (`users::resolve` for the account, `sku_id`, `group_id`,
//! `memberships`), then a `Preview` instead of the write.

mod groups;
mod licenses;
mod members;
mod users;

use serde_json::Value;

use super::graph::segment;
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::plan::preview::{Effect, Planned, Preview};

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
            "entra.create_user" => users::create(self, args).await?,
            "entra.update_user" => users::update(self, args, user()?).await?,
            "entra.disable_user" => users::set_enabled(self, user()?, false).await?,
            "entra.enable_user" => users::set_enabled(self, user()?, true).await?,
            "entra.revoke_sessions" => users::revoke_sessions(self, user()?).await?,
            "entra.delete_user" => users::delete(self, user()?).await?,
            "entra.assign_license" => licenses::assign(self, args, user()?).await?,
            "entra.remove_license" => licenses::remove(self, args, user()?).await?,
            "entra.remove_all_licenses" => licenses::remove_all(self, user()?).await?,
            "entra.add_to_groups" => groups::add(self, args, user()?).await?,
            "entra.remove_from_groups" => groups::remove(self, args, user()?).await?,
            "entra.remove_from_all_groups" => groups::remove_all(self, args, user()?).await?,
            "entra.add_group_members" => members::add(self, args, planned).await?,
            "entra.remove_group_members" => members::remove(self, args, planned).await?,
            _ => return Ok(None),
        }))
    }
}

/// The user a step names: one that exists (read it), or one an earlier step would create.
pub(super) struct Target {
    pub given: String,
    /// How lines name it: its UPN once read.
    pub label: String,
    pub planned: bool,
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
    pub async fn read(&mut self, c: &Client, select: &str) -> Result<Value, ActionError> {
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

    pub fn preview(&self, effect: Effect, summary: String, outputs: Value) -> Preview {
        Preview::new(effect, summary, outputs).target(self.label.clone())
    }
}
