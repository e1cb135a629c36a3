//! The connections a playbook's steps use: `entra`, `google`, `http` (an HR system), `scim`
//! (any SCIM 2.0 service provider; several, by name) and `smtp`.
//! A connection's kind is its `kind:` or, for a connection named after a kind, its name.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{from_yaml_tree, Yaml};
use serde::Deserialize;

use crate::secret::SecretRef;

/// One configured connection.
#[derive(Debug, Clone)]
pub enum ConnectionConfig {
    Entra(EntraConfig),
    Google(GoogleConfig),
    Http(HttpConfig),
    Scim(ScimConfig),
    Smtp(SmtpConfig),
}

pub const KINDS: &[&str] = &["entra", "google", "http", "scim", "smtp"];

impl ConnectionConfig {
    /// Types one `connections.<name>` entry.
    pub fn parse(name: &str, value: Yaml) -> Result<ConnectionConfig, String> {
        let mut map = match value {
            Yaml::Mapping(m) => m,
            Yaml::Null => Default::default(),
            _ => return Err("a connection is a map of settings".into()),
        };
        let kind = match map.remove(Yaml::String("kind".into())) {
            Some(Yaml::String(k)) => k,
            Some(_) => return Err(format!("kind must be one of {}", KINDS.join(", "))),
            None if KINDS.contains(&name) => name.to_string(),
            None => {
                return Err(format!(
                    "say which kind of connection this is: kind: {}",
                    KINDS.join(" | ")
                ))
            }
        };
        let value = Yaml::Mapping(map);
        let typed = match kind.as_str() {
            "entra" => from_yaml_tree(value).map(ConnectionConfig::Entra),
            "google" => from_yaml_tree(value).map(ConnectionConfig::Google),
            "http" => from_yaml_tree(value).map(ConnectionConfig::Http),
            "scim" => from_yaml_tree(value).map(ConnectionConfig::Scim),
            "smtp" => from_yaml_tree(value).map(ConnectionConfig::Smtp),
            other => {
                return Err(format!(
                    "unknown kind '{other}'; expected one of {}",
                    KINDS.join(", ")
                ))
            }
        };
        let typed = typed.map_err(|e| e.to_string())?;
        typed.check()?;
        Ok(typed)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionConfig::Entra(_) => "entra",
            ConnectionConfig::Google(_) => "google",
            ConnectionConfig::Http(_) => "http",
            ConnectionConfig::Scim(_) => "scim",
            ConnectionConfig::Smtp(_) => "smtp",
        }
    }

    fn check(&self) -> Result<(), String> {
        if let ConnectionConfig::Entra(e) = self {
            match (&e.client_secret, &e.certificate) {
                (None, None) => {
                    return Err("give client_secret or certificate (the app's credential)".into())
                }
                (Some(_), Some(_)) => {
                    return Err("give either client_secret or certificate, not both".into())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Request rate and concurrency for one connection, kept under the provider's limits.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub requests_per_second: f64,
    pub concurrency: usize,
}

/// Microsoft Graph with app-only (client credentials) authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The tenant id or a verified domain.
    pub tenant_id: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    #[serde(default)]
    pub certificate: Option<Certificate>,
    /// The identity platform; national clouds and the sandbox have their own.
    #[serde(default = "default_authority")]
    pub authority_url: String,
    #[serde(default = "default_graph")]
    pub graph_url: String,
    /// Default: 20 requests/s and 8 at once, well under Graph's per-app directory limits.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A certificate credential: the certificate (PEM) registered on the app and its private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub certificate: PathBuf,
    pub private_key: SecretRef,
    /// `PS256` with `x5t#S256` (current), or `RS256` with `x5t` (older tenants and MSAL).
    #[serde(default = "default_assertion_alg")]
    pub algorithm: String,
}

/// Google Admin SDK with a service account and domain-wide delegation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// The service account's JSON key file.
    pub service_account_key: SecretRef,
    /// The admin the service account acts as (`sub`).
    pub admin: String,
    #[serde(default = "default_customer")]
    pub customer_id: String,
    /// Default: the key file's `token_uri`.
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default = "default_google_base")]
    pub base_url: String,
    /// Default: the directory user, group and member scopes the actions need.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Default: 10 requests/s and 8 at once.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A JSON API, e.g. the HR system's write-back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub base_url: String,
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default: 10 requests/s and 8 at once.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A SCIM 2.0 service provider (a SaaS app's provisioning API), for the `scim.*` actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The URL `/Users` and `/Groups` hang off, e.g. `https://api.example.com/scim/v2`.
    pub base_url: String,
    /// `{ bearer: SECRET }` or `{ basic: { username, password: SECRET } }`.
    pub auth: HttpAuth,
    /// Extra headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default: 10 requests/s and 4 at once (SaaS SCIM APIs throttle early).
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// `auth: { bearer: SECRET }` or `auth: { basic: { username, password: SECRET } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawHttpAuth")]
pub enum HttpAuth {
    Bearer(SecretRef),
    Basic(BasicAuth),
}

/// What `auth:` holds as written: serde_yaml reads an externally tagged enum only from a YAML
/// tag (`!bearer`), so the map form is read into this and checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpAuth {
    #[serde(default)]
    bearer: Option<SecretRef>,
    #[serde(default)]
    basic: Option<BasicAuth>,
}

impl TryFrom<RawHttpAuth> for HttpAuth {
    type Error = String;

    fn try_from(raw: RawHttpAuth) -> Result<HttpAuth, String> {
        match (raw.bearer, raw.basic) {
            (Some(b), None) => Ok(HttpAuth::Bearer(b)),
            (None, Some(b)) => Ok(HttpAuth::Basic(b)),
            (Some(_), Some(_)) => Err("auth: give bearer or basic, not both".into()),
            (None, None) => Err("auth: give bearer or basic".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: SecretRef,
}

/// An SMTP relay for `email.send`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// The sender, e.g. `Roster <roster@contoso.com>`.
    pub from: String,
    /// An extra CA certificate (PEM) to trust, for a relay whose certificate a private CA
    /// signed; the public web roots are trusted either way.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refuses to send without it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on localhost or a test server.
    None,
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}

fn default_graph() -> String {
    "https://graph.microsoft.com".into()
}

fn default_assertion_alg() -> String {
    "PS256".into()
}

fn default_customer() -> String {
    "my_customer".into()
}

fn default_google_base() -> String {
    "https://admin.googleapis.com".into()
}
