//! Microsoft Entra ID through Microsoft Graph v1.0 (`../shared/specs/graph/CONTRACT.md`).
//!
//! Every action is an idempotent *ensure*: it looks before it writes, treats "already a member"
//! and "not a member" as success, and adopts the user it created itself when a step is executed
//! again after a crash. Transient failures (network, 408, 429, 5xx, and a 404 on an object that
//! is still replicating) are retried by the engine, honouring `Retry-After`; anything else fails
//! the step with Graph's own code and message.

mod auth;
mod bulk;
mod delta;
mod graph;
mod groups;
mod licenses;
mod members;
mod preview;
mod users;

use std::path::Path;

use serde_json::Value;

pub use delta::{DeltaFailure, DeltaPage};
pub use graph::GraphError;

use super::args::ArgMap;
use super::{Limiter, TokenCache};
use crate::actions::ActionError;
use crate::config::{EntraConfig, Limits};

/// Graph's per-app limits are thousands of requests a minute; this leaves room for other apps.
const DEFAULT_LIMITS: Limits = Limits {
    requests_per_second: 20.0,
    concurrency: 8,
};

/// The `entra.*` actions and the arguments each takes: (name, required).
pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[
    (
        "entra.create_user",
        &[
            ("user_principal_name", true),
            ("display_name", true),
            ("mail_nickname", false),
            ("given_name", false),
            ("surname", false),
            ("employee_id", false),
            ("department", false),
            ("job_title", false),
            ("usage_location", false),
            ("account_enabled", false),
            ("password", false),
            ("force_change_password", false),
            ("properties", false),
            ("on_conflict", false),
            ("match", false),
        ],
    ),
    (
        "entra.find_user",
        &[("user", false), ("employee_id", false), ("select", false)],
    ),
    ("entra.update_user", &[("user", true), ("set", true)]),
    (
        "entra.assign_license",
        &[("user", true), ("sku", true), ("disabled_plans", false)],
    ),
    ("entra.remove_license", &[("user", true), ("sku", true)]),
    ("entra.remove_all_licenses", &[("user", true)]),
    ("entra.add_to_groups", &[("user", true), ("groups", true)]),
    (
        "entra.remove_from_groups",
        &[("user", true), ("groups", true)],
    ),
    ("entra.list_groups", &[("user", true)]),
    ("entra.list_group_members", &[("groups", true)]),
    ("entra.read_groups", &[("groups", false)]),
    ("entra.add_group_members", &[("members", true)]),
    ("entra.remove_group_members", &[("members", true)]),
    (
        "entra.remove_from_all_groups",
        &[("user", true), ("keep", false)],
    ),
    ("entra.disable_user", &[("user", true)]),
    ("entra.enable_user", &[("user", true)]),
    ("entra.revoke_sessions", &[("user", true)]),
    ("entra.delete_user", &[("user", true)]),
    (
        "entra.bulk_upload",
        &[
            ("service_principal_id", true),
            ("job_id", true),
            ("records", true),
        ],
    ),
];

/// A Graph client for one tenant and app.
#[derive(Debug)]
pub struct Client {
    /// The connection's name in the config, for the record of external calls.
    name: String,
    graph: String,
    auth: auth::Credentials,
    http: reqwest::Client,
    tokens: TokenCache,
    limiter: Limiter,
    cache: groups::Cache,
    skus: licenses::SkuCache,
}

impl Client {
    pub fn new(
        config: &EntraConfig,
        base_dir: &Path,
        http: reqwest::Client,
    ) -> Result<Client, String> {
        Ok(Client {
            name: "entra".into(),
            graph: format!("{}/v1.0", config.graph_url.trim_end_matches('/')),
            auth: auth::Credentials::new(config, base_dir)?,
            http,
            tokens: TokenCache::default(),
            limiter: Limiter::new(config.limits.unwrap_or(DEFAULT_LIMITS)),
            cache: groups::Cache::default(),
            skus: licenses::SkuCache::default(),
        })
    }

    /// The client under the connection name `name` (default `entra`).
    pub fn named(mut self, name: &str) -> Client {
        self.name = name.to_string();
        self
    }

    /// Executes the action `name` (one of `ACTIONS`).
    pub async fn execute(&self, name: &str, args: &ArgMap) -> Result<Value, ActionError> {
        match name {
            "entra.create_user" => users::create(self, args).await,
            "entra.find_user" => users::find(self, args).await,
            "entra.update_user" => users::update(self, args).await,
            "entra.disable_user" => users::set_enabled(self, args, false).await,
            "entra.enable_user" => users::set_enabled(self, args, true).await,
            "entra.revoke_sessions" => users::revoke_sessions(self, args).await,
            "entra.delete_user" => users::delete(self, args).await,
            "entra.assign_license" => licenses::assign(self, args).await,
            "entra.remove_license" => licenses::remove(self, args).await,
            "entra.remove_all_licenses" => licenses::remove_all(self, args).await,
            "entra.add_to_groups" => groups::add(self, args).await,
            "entra.remove_from_groups" => groups::remove(self, args).await,
            "entra.list_groups" => groups::list(self, args).await,
            "entra.list_group_members" => members::list(self, args).await,
            "entra.read_groups" => members::read_groups(self, args).await,
            "entra.add_group_members" => members::add(self, args).await,
            "entra.remove_group_members" => members::remove(self, args).await,
            "entra.remove_from_all_groups" => groups::remove_all(self, args).await,
            "entra.bulk_upload" => bulk::upload(self, args).await,
            other => Err(ActionError::permanent(format!(
                "unknown Entra action '{other}'"
            ))),
        }
    }
}
