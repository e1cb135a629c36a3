//! Any SCIM 2.0 service provider (RFC 7643/7644) — most SaaS apps' provisioning APIs — over a
//! `scim` connection (`base_url`, bearer or basic `auth`). Several connections of this kind may
//! be configured by name (`slack`, `zoom`, …); a step picks one with `connection:`.
//!
//! Actions (arguments; outputs), each an idempotent *ensure*:
//! - `scim.ensure_user` (`user_name`; optional `external_id`, `display_name`, `given_name`,
//!   `family_name`, `email` (a primary work address), `active` (default true), `attributes`
//!   (any other SCIM attributes, extension objects by URN)) → `id` (the app's SCIM id),
//!   `user_name`, `created`, `adopted`, `updated` (the attributes changed). Looks the user up
//!   by `externalId`, then `userName`, creates it when absent and otherwise PATCHes only what
//!   differs; a 409 `uniqueness` on create finds and adopts the existing user. A user found
//!   by `userName` whose `externalId` names someone else is refused, not taken over.
//! - `scim.deactivate_user` (`user` (SCIM id), `external_id` or `user_name`) → `id`, `found`,
//!   `changed` (`active: false`; already inactive or absent is success).
//! - `scim.delete_user` (same) → `id`, `deleted` (false when it was already gone).
//! - `scim.ensure_group` (`display_name`; `external_id`) → `id`, `display_name`, `created`.
//! - `scim.add_to_group` / `scim.remove_from_group` (`group`: id or display name; `user` or
//!   `users`: SCIM ids) → `group`, `added`/`already` or `removed`/`not_member`.
//!
//! The provider's `ServiceProviderConfig` is read once and decides how: PATCH (else PUT of the
//! whole resource), filters (else the collection is listed and searched here), ETags
//! (`If-Match` with the version read; a 412 is retried from a fresh read). Lists are read page
//! by page (`startIndex`, `count`, within the provider's `maxResults`). Bulk is not needed: each
//! action converges one resource in one or two requests. Network errors, 408, 412, 429 and 5xx
//! are transient (retried honouring `Retry-After`); other errors fail the step with the SCIM
//! error's `scimType` and `detail`.

mod api;
mod groups;
mod users;

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::OnceCell;

pub use api::{Features, ScimCallError};

use super::args::ArgMap;
use super::Limiter;
use crate::actions::ActionError;
use crate::config::{HttpAuth, Limits, ScimConfig};
use crate::secret::Secret;

const DEFAULT_LIMITS: Limits = Limits {
    requests_per_second: 10.0,
    concurrency: 4,
};

const TARGET: &[(&str, bool)] = &[
    ("user", false),
    ("external_id", false),
    ("user_name", false),
];

/// The `scim.*` actions and the arguments each takes: (name, required).
pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[
    (
        "scim.ensure_user",
        &[
            ("user_name", true),
            ("external_id", false),
            ("display_name", false),
            ("given_name", false),
            ("family_name", false),
            ("email", false),
            ("active", false),
            ("attributes", false),
        ],
    ),
    ("scim.deactivate_user", TARGET),
    ("scim.delete_user", TARGET),
    (
        "scim.ensure_group",
        &[("display_name", true), ("external_id", false)],
    ),
    (
        "scim.add_to_group",
        &[("group", true), ("user", false), ("users", false)],
    ),
    (
        "scim.remove_from_group",
        &[("group", true), ("user", false), ("users", false)],
    ),
];

#[derive(Debug)]
enum Auth {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

/// A client for one SCIM service provider.
#[derive(Debug)]
pub struct Client {
    /// The connection's name, for the record of external calls and messages.
    name: String,
    /// The base URL without a trailing slash.
    base: String,
    auth: Auth,
    headers: HeaderMap,
    http: reqwest::Client,
    limiter: Limiter,
    /// What the provider's `ServiceProviderConfig` says, read on first use.
    features: OnceCell<Features>,
}

impl Client {
    pub fn new(
        name: &str,
        config: &ScimConfig,
        base_dir: &Path,
        http: reqwest::Client,
    ) -> Result<Client, String> {
        let auth = match &config.auth {
            HttpAuth::Bearer(r) => Auth::Bearer(
                r.resolve(base_dir)
                    .map_err(|e| format!("auth.bearer: {e}"))?,
            ),
            HttpAuth::Basic(b) => Auth::Basic {
                username: b.username.clone(),
                password: b
                    .password
                    .resolve(base_dir)
                    .map_err(|e| format!("auth.basic.password: {e}"))?,
            },
        };
        if !config.base_url.starts_with("https://") && !config.base_url.starts_with("http://") {
            return Err(format!(
                "base_url '{}' is not an http(s) URL",
                config.base_url
            ));
        }
        Ok(Client {
            name: name.to_string(),
            base: config.base_url.trim_end_matches('/').to_string(),
            auth,
            headers: headers(&config.headers)?,
            http,
            limiter: Limiter::new(config.limits.unwrap_or(DEFAULT_LIMITS)),
            features: OnceCell::new(),
        })
    }

    /// Executes the action `name` (one of `ACTIONS`).
    pub async fn execute(&self, name: &str, args: &ArgMap) -> Result<Value, ActionError> {
        let out = match name {
            "scim.ensure_user" => users::ensure(self, args).await,
            "scim.deactivate_user" => users::deactivate(self, args).await,
            "scim.delete_user" => users::delete(self, args).await,
            "scim.ensure_group" => groups::ensure(self, args).await,
            "scim.add_to_group" => groups::add(self, args).await,
            "scim.remove_from_group" => groups::remove(self, args).await,
            other => {
                return Err(ActionError::permanent(format!(
                    "unknown SCIM action '{other}'"
                )))
            }
        };
        out.map_err(|e| match e {
            Failure::Call(c) => c.into_action(),
            Failure::Action(a) => a,
        })
    }
}

/// Why an action failed: a call the provider refused, or something about the arguments or the
/// data.
#[derive(Debug)]
pub(crate) enum Failure {
    Call(ScimCallError),
    Action(ActionError),
}

impl From<ScimCallError> for Failure {
    fn from(e: ScimCallError) -> Self {
        Failure::Call(e)
    }
}

impl From<ActionError> for Failure {
    fn from(e: ActionError) -> Self {
        Failure::Action(e)
    }
}

fn headers(map: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (k, v) in map {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("headers: '{k}' is not a valid header name"))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| format!("headers.{k}: the value is not a valid header value"))?;
        out.insert(name, value);
    }
    Ok(out)
}
