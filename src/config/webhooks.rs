//! `webhooks:` in `roster.yaml`: generic signed webhooks served at `POST /hooks/{name}`.
//!
//! ```yaml
//! webhooks:
//!   hr:
//!     secret: { env: HR_WEBHOOK_SECRET }      # the HMAC-SHA256 key shared with the sender
//!     header: X-Roster-Signature              # default; value `sha256=<hex>` of the raw body
//!     source: hr                              # observation source; default: the name
//!     max_body_bytes: 1048576                 # default 1 MiB; larger bodies are 413
//!     mapping:                                # JSON path → Person field
//!       id: $.employee.id
//!       given_name: { path: $.employee.first_name, case: title }
//!       start_date: { path: $.employee.start, date_format: "%d/%m/%Y" }
//!       status: { path: $.employee.state, values: { hired: active, gone: terminated } }
//!       custom.cost_center: $.employee.cc
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::secret::SecretRef;

/// The signature header when none is configured.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Roster-Signature";

/// One webhook, `webhooks.<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The HMAC-SHA256 key the sender signs the raw body with.
    pub secret: SecretRef,
    /// The header carrying `sha256=<hex HMAC-SHA256 of the raw body>`.
    #[serde(default = "default_header")]
    pub header: String,
    /// The observation source name (what `person.joined: { source: … }` matches). Default:
    /// the webhook's name.
    #[serde(default)]
    pub source: Option<String>,
    /// Bodies larger than this are refused with 413. Default: 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Person fields (`given_name`, …, `custom.<name>`) from JSON paths in the body. Without a
    /// mapping a delivery only fires `webhook: { name }` playbooks, with an empty person.
    #[serde(default)]
    pub mapping: BTreeMap<String, FieldMapping>,
}

/// Where one Person field comes from: a JSON path, or a path with transforms.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldMapping {
    Path(String),
    Rule(FieldRule),
}

/// A JSON path with transforms, applied in this order: `values`, `trim`, `case`,
/// `date_format`; `default` when the path is missing, null or empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// `$.a.b[0].c` (the `$.` is optional).
    pub path: String,
    /// Trim surrounding whitespace. Default: true.
    #[serde(default = "yes")]
    pub trim: bool,
    /// `lower`, `upper` or `title`.
    #[serde(default)]
    pub case: Option<String>,
    /// The input's date format (chrono, e.g. `%d/%m/%Y`); the field becomes `YYYY-MM-DD`.
    #[serde(default)]
    pub date_format: Option<String>,
    /// Used when the value is missing, null or empty.
    #[serde(default)]
    pub default: Option<Value>,
    /// Translates values, e.g. `{ hired: active, gone: terminated }`; a value not listed is an
    /// error.
    #[serde(default)]
    pub values: Option<BTreeMap<String, String>>,
    /// A missing value is an error (400) rather than an absent field.
    #[serde(default)]
    pub required: bool,
}

impl FieldMapping {
    /// The mapping as a rule (a bare path gets the defaults).
    pub fn rule(&self) -> FieldRule {
        match self {
            FieldMapping::Path(p) => FieldRule {
                path: p.clone(),
                trim: true,
                case: None,
                date_format: None,
                default: None,
                values: None,
                required: false,
            },
            FieldMapping::Rule(r) => r.clone(),
        }
    }
}

/// Person fields a mapping may set (besides `custom.<name>`).
pub const PERSON_FIELDS: &[&str] = crate::person::FIELDS;

fn default_header() -> String {
    DEFAULT_SIGNATURE_HEADER.into()
}
fn default_max_body() -> usize {
    1 << 20
}
fn yes() -> bool {
    true
}

impl WebhookConfig {
    /// Checks what serde cannot: (key, message) of the first problem.
    pub fn check(&self, name: &str) -> Result<(), (String, String)> {
        let at = |k: &str| format!("webhooks.{name}.{k}");
        if name == "google" {
            return Err((
                format!("webhooks.{name}"),
                "the name 'google' is taken by /hooks/google (triggers.google.push)".into(),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                format!("webhooks.{name}"),
                "a webhook name is letters, digits, - and _ (it is a URL segment)".into(),
            ));
        }
        if self.header.trim().is_empty() {
            return Err((at("header"), "must name a header".into()));
        }
        for (field, m) in &self.mapping {
            let known = PERSON_FIELDS.contains(&field.as_str())
                || field.strip_prefix("custom.").is_some_and(|c| !c.is_empty());
            if !known {
                return Err((
                    at(&format!("mapping.{field}")),
                    format!(
                        "'{field}' is not a Person field; use one of {} or custom.<name>",
                        PERSON_FIELDS.join(", ")
                    ),
                ));
            }
            let rule = m.rule();
            if let Err(e) = crate::triggers::json_path::JsonPath::parse(&rule.path) {
                return Err((at(&format!("mapping.{field}")), e));
            }
            if let Some(c) = &rule.case {
                if !matches!(c.as_str(), "lower" | "upper" | "title") {
                    return Err((
                        at(&format!("mapping.{field}.case")),
                        format!("'{c}' is not one of lower, upper, title"),
                    ));
                }
            }
        }
        Ok(())
    }
}
