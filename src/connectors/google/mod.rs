//! Google Workspace through the Admin SDK Directory API v1 (`../shared/specs/google/CONTRACT.md`),
//! as a service account acting for an admin (domain-wide delegation).
//!
//! Actions (arguments; outputs):
//! - `google.get_user` (`user`: primary e-mail, alias or id; `projection`: basic|custom|full,
//!   default full) → `found`, and when found `id`, `primary_email`, `name`, `given_name`,
//!   `family_name`, `suspended`, `org_unit_path`, `is_admin`, `aliases`, `user` (the whole
//!   User). A missing user is `found: false`, not an error.
//! - `google.update_user` (`user`; `set`: User fields to PATCH, e.g. `orgUnitPath`,
//!   `customSchemas` (merged per field by Google, `null` clears one), `externalIds` (an array
//!   field, replaced whole); `add`: array fields whose entries are *added* to what the user
//!   already has, e.g. `{ externalIds: [{ type: organization, value: E1 }] }`;
//!   `corporate_email`: writes the corporate address (say the one Entra generated) back as a
//!   `work` entry of `emails`, keeping the others — data, not an alias, so any domain is
//!   accepted) → `id`, `primary_email`, `changed`, `updated` (the fields sent). Fields that
//!   already hold the wanted values are not sent; with nothing to change no PATCH is made.
//! - `google.suspend_user` (`user`) → `id`, `primary_email`, `suspended: true`, `changed`
//!   (false when it was already suspended).
//! - `google.list_group_members` (`group`: e-mail, alias or id; `nested`: default true) →
//!   `group` `{id, email}`, `members` `[{email, id, type, role, via}]` (`via`: the group whose
//!   listing named the member), `groups` (the nested groups walked) and `count`. Members of
//!   nested groups are flattened, each member once, and a cycle of groups is walked once.
//!
//! - `google.create_user` (`primary_email`, `given_name`, `family_name`; `external_id` and
//!   `external_id_type` (default `entra`): the source's stable id, kept as a `custom`
//!   `externalIds` entry; `org_unit_path`, `suspended`, `set`: more User fields) → the user
//!   outputs, `created`, `found_by` (`external_id` | `primary_email` | null) and `updated`. An
//!   ensure: the user is looked up by external id, then by address, before one is inserted; a
//!   found user is brought to the wanted address (a rename keeps the old one as an alias),
//!   name and fields. An address held by a user with another external id is refused.
//! - `google.unsuspend_user` (`user`) → `suspended: false`, `changed`.
//! - `google.delete_user` (`user`) → `deleted` (false when there was no such user).
//! - `google.ensure_group` (`email`; `name`, `description`) → `id`, `email`, `name`, `created`;
//!   or `groups: {email: name}` → `created`, `existing` (addresses).
//! - `google.add_member` / `google.remove_member` (`group` + `member`: an address or a list, or
//!   `members: {group: [address]}`; `role` for adds, default MEMBER) → `added`/`already` or
//!   `removed`/`absent` by group. Already a member, or not one, is success.
//!
//! For the triggers, plain methods (not actions): `list_users` / `list_users_page`,
//! `watch_users` and `stop_channel` (CONTRACT §2.1, §3).
//!
//! Failures: network, 408, 429, 5xx and the 403 rate/quota reasons are transient and retried
//! by the engine honouring `Retry-After`; any other error fails the step with Google's reason
//! and message.

mod accounts;
mod auth;
mod directory;
mod groups;
mod preview;
mod users;

use std::path::Path;

use serde_json::Value;

pub use auth::DEFAULT_SCOPES;
pub use directory::GoogleError;
pub use users::{Channel, UserQuery};

use super::args::ArgMap;
use super::{Limiter, TokenCache};
use crate::actions::ActionError;
use crate::config::{GoogleConfig, Limits};

/// The Directory API's paths start here (DISC `servicePath` is empty).
const V1: &str = "/admin/directory/v1";

/// Well under the default 2,400 queries a minute per user (CONTRACT §5).
const DEFAULT_LIMITS: Limits = Limits {
    requests_per_second: 10.0,
    concurrency: 8,
};

/// The `google.*` actions and the arguments each takes: (name, required).
pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[
    ("google.get_user", &[("user", true), ("projection", false)]),
    (
        "google.update_user",
        &[
            ("user", true),
            ("set", false),
            ("add", false),
            ("corporate_email", false),
        ],
    ),
    ("google.suspend_user", &[("user", true)]),
    ("google.unsuspend_user", &[("user", true)]),
    ("google.delete_user", &[("user", true)]),
    (
        "google.create_user",
        &[
            ("primary_email", true),
            ("given_name", true),
            ("family_name", true),
            ("external_id", false),
            ("external_id_type", false),
            ("org_unit_path", false),
            ("suspended", false),
            ("set", false),
        ],
    ),
    (
        "google.ensure_group",
        &[
            ("email", false),
            ("name", false),
            ("description", false),
            ("groups", false),
        ],
    ),
    (
        "google.add_member",
        &[
            ("group", false),
            ("member", false),
            ("members", false),
            ("role", false),
        ],
    ),
    (
        "google.remove_member",
        &[("group", false), ("member", false), ("members", false)],
    ),
    (
        "google.list_group_members",
        &[("group", true), ("nested", false)],
    ),
];

/// A Directory client for one Workspace customer.
#[derive(Debug)]
pub struct Client {
    /// The connection's name in the config, for the record of external calls.
    name: String,
    /// The base URL without a trailing slash, e.g. `https://admin.googleapis.com`.
    base: String,
    customer: String,
    auth: auth::ServiceAccount,
    http: reqwest::Client,
    tokens: TokenCache,
    limiter: Limiter,
}

impl Client {
    /// The client under the connection name `name` (default `google`).
    pub fn named(mut self, name: &str) -> Client {
        self.name = name.to_string();
        self
    }

    pub fn new(
        config: &GoogleConfig,
        base_dir: &Path,
        http: reqwest::Client,
    ) -> Result<Client, String> {
        Ok(Client {
            name: "google".into(),
            base: config.base_url.trim_end_matches('/').to_string(),
            customer: config.customer_id.clone(),
            auth: auth::ServiceAccount::new(config, base_dir)?,
            http,
            tokens: TokenCache::default(),
            limiter: Limiter::new(config.limits.unwrap_or(DEFAULT_LIMITS)),
        })
    }

    /// Executes the action `name` (one of `ACTIONS`).
    pub async fn execute(&self, name: &str, args: &ArgMap) -> Result<Value, ActionError> {
        match name {
            "google.get_user" => users::get(self, args).await,
            "google.update_user" => users::update(self, args).await,
            "google.suspend_user" => users::suspend(self, args).await,
            "google.unsuspend_user" => accounts::unsuspend(self, args).await,
            "google.delete_user" => accounts::delete(self, args).await,
            "google.create_user" => accounts::create(self, args).await,
            "google.ensure_group" => groups::ensure(self, args).await,
            "google.add_member" => groups::add_member(self, args).await,
            "google.remove_member" => groups::remove_member(self, args).await,
            "google.list_group_members" => groups::list_members(self, args).await,
            other => Err(ActionError::permanent(format!(
                "unknown Google action '{other}'"
            ))),
        }
    }
}
