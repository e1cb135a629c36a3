//! `triggers.scim`: the inbound SCIM 2.0 endpoint (`/scim/v2` on `roster serve`), where Entra
//! ID and Google Workspace provisioning push users. Every key is optional: the endpoint is
//! always served (behind SCIM bearer tokens, `roster token create --scim`) with these defaults.
//!
//! ```yaml
//! triggers:
//!   scim:
//!     source: scim                  # observation source (`person.joined: { source: scim }`)
//!     max_results: 1000             # the largest page; also the page when a client asks none
//!     base_url: https://roster.example.com/scim/v2   # for meta.location; default: from Host
//!     mapping:                      # Person field → SCIM path(s); replaces that field's default
//!       org_unit: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"
//!       custom.authn_role: "urn:ietf:params:scim:schemas:gsuite:1.0:User:authnRole"
//!       location: null              # no location at all
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// `triggers.scim`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimTrigger {
    /// The observation source of pushed users. Default: `scim`.
    #[serde(default = "default_source")]
    pub source: String,
    /// The most resources one list answer holds (`filter.maxResults`), and the page size when
    /// the client gives no `count`. Default: 1000.
    #[serde(default = "default_max_results")]
    pub max_results: usize,
    /// The endpoint's public URL (`https://…/scim/v2`), for `meta.location`. Default: built
    /// from the request's `Host` (and `X-Forwarded-Proto`) headers.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Person field (or `custom.<name>`) → a SCIM attribute path, or a list of paths of which
    /// the first with a value wins. An entry replaces that field's default; `null` drops it.
    #[serde(default)]
    pub mapping: BTreeMap<String, Option<ScimPaths>>,
    /// Every attribute of an extension schema other than the enterprise one (e.g.
    /// `urn:ietf:params:scim:schemas:gsuite:1.0:User`) as `custom.<attribute>`. Default: true.
    #[serde(default = "yes")]
    pub custom_extensions: bool,
}

/// One path or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScimPaths {
    One(String),
    Many(Vec<String>),
}

impl ScimPaths {
    pub fn paths(&self) -> Vec<&str> {
        match self {
            ScimPaths::One(p) => vec![p.as_str()],
            ScimPaths::Many(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}

impl Default for ScimTrigger {
    fn default() -> Self {
        ScimTrigger {
            source: default_source(),
            max_results: default_max_results(),
            base_url: None,
            mapping: BTreeMap::new(),
            custom_extensions: true,
        }
    }
}

fn default_source() -> String {
    "scim".into()
}

fn default_max_results() -> usize {
    1000
}

fn yes() -> bool {
    true
}

impl ScimTrigger {
    /// Checks the values serde cannot: (key, message) of the first problem.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.max_results == 0 {
            return Err((
                "triggers.scim.max_results".into(),
                "must be at least 1".into(),
            ));
        }
        crate::scim::Mapping::new(self)
            .map(|_| ())
            .map_err(|(field, message)| (format!("triggers.scim.mapping.{field}"), message))
    }
}
