//! `roster.yaml`: the database, the secrets key, the connections, the server, the CSV import
//! profiles, the triggers and the webhooks.
//!
//! Every value can also be set from the environment: `ROSTER_<PATH>` with `__` between the
//! keys, e.g. `ROSTER_CONNECTIONS__ENTRA__TENANT_ID=contoso.onmicrosoft.com` or
//! `ROSTER_SECRETS_KEY=…`. Secrets are named, never written, in the file: `{ env: NAME }` or
//! `{ file: PATH }`; a literal at a secret's key is refused with the place it was found.

mod connections;
mod database;
mod identity;
mod imports;
mod scim;
mod server;
mod triggers;
mod webhooks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// An untyped YAML tree.
pub type Yaml = serde_yaml::Value;

pub use connections::{
    BasicAuth, Certificate, ConnectionConfig, EntraConfig, GoogleConfig, HttpAuth, HttpConfig,
    Limits, ScimConfig, SmtpConfig, SmtpSecurity,
};

pub use database::{DatabaseConfig, DEFAULT_LEASE};
pub use identity::{GoogleMapping, GroupsBy, Guests, IdentityConfig, UsersBy};
pub use imports::{
    check_field, Case, ColumnSpec, ImportProfile, InvalidCells, StatusValues, DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS, PERSON_FIELDS,
};
pub use scim::{ScimPaths, ScimTrigger};
pub use server::{ConsoleConfig, SecureCookies, ServerConfig};
pub use triggers::{DatesConfig, EntraTrigger, GooglePush, GoogleTrigger, TriggersConfig};
pub use webhooks::{FieldMapping, FieldRule, WebhookConfig, DEFAULT_SIGNATURE_HEADER};

use crate::secret::SecretRef;

/// Typed YAML text. With `playbook::raw`, this file holds every serde_yaml call, so the archived
/// crate can be swapped for a maintained fork in one change.
pub fn from_yaml<T: DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
    serde_yaml::from_str(text)
}

/// A YAML tree typed.
pub fn from_yaml_tree<T: DeserializeOwned>(tree: Yaml) -> Result<T, serde_yaml::Error> {
    serde_yaml::from_value(tree)
}

/// The default config file, looked up in the working directory.
pub const DEFAULT_PATH: &str = "roster.yaml";

/// The top-level keys an environment override may set.
const TOP_LEVEL: &[&str] = &[
    "database",
    "secrets_key",
    "connections",
    "imports",
    "triggers",
    "identity",
    "webhooks",
    "server",
];

/// Keys whose values are credentials: a literal there is an error.
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "password",
    "private_key",
    "service_account_key",
    "bearer",
    "secrets_key",
    "token",
    "secret",
    "admin_password",
];

/// A config that failed to load, with the place.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConfigError {
    pub place: String,
    pub message: String,
}

/// The loaded configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The URL (`sqlite://PATH`, `postgres://…`) alone, or a section with the URL, the pool,
    /// timeouts and the workers' lease (`config::database`).
    #[serde(default)]
    pub database: DatabaseConfig,
    /// 32 bytes, base64, that seal secret step outputs. Default: `roster.key` beside the
    /// database, created on first use.
    #[serde(default)]
    pub secrets_key: Option<SecretRef>,
    #[serde(default, skip)]
    pub connections: BTreeMap<String, ConnectionConfig>,
    /// `roster serve`: listen address, request size limit, playbooks directory.
    #[serde(default)]
    pub server: ServerConfig,
    /// The untyped `connections:` map; typed per kind after loading.
    #[serde(default, rename = "connections")]
    raw_connections: BTreeMap<String, Yaml>,
    /// CSV import profiles by name (`roster import --profile NAME`, `POST /api/v1/imports`).
    #[serde(default, skip)]
    pub imports: BTreeMap<String, ImportProfile>,
    /// The untyped `imports:` map; typed per profile after loading.
    #[serde(default, rename = "imports")]
    raw_imports: BTreeMap<String, Yaml>,
    /// Google Workspace polling and push, and `person.date` timer settings.
    #[serde(default)]
    pub triggers: TriggersConfig,
    /// How source accounts and groups get their Google addresses (the Entra → Google direction).
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Signed webhooks served at `POST /hooks/{name}`.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// The config file's directory: relative paths in it are relative to this.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Config {
    /// Loads `path`; a missing file is an empty config unless `required` (it was named
    /// explicitly). Environment overrides apply either way.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(e) => {
                return Err(ConfigError {
                    place: path.display().to_string(),
                    message: format!("cannot read the config: {e}"),
                })
            }
        };
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::from_parts(
            &path.display().to_string(),
            text.as_deref(),
            &vars,
            base_dir,
        )
    }

    /// Parses a config text (if any) with the given environment.
    pub fn from_parts(
        file: &str,
        text: Option<&str>,
        env: &[(String, String)],
        base_dir: PathBuf,
    ) -> Result<Config, ConfigError> {
        let mut tree = match text {
            Some(t) if !t.trim().is_empty() => {
                serde_yaml::from_str::<Yaml>(t).map_err(|e| yaml_error(file, &e))?
            }
            _ => Yaml::Mapping(Default::default()),
        };
        if let (Some(t), Yaml::Mapping(_)) = (text, &tree) {
            refuse_literal_secrets(file, t, &tree, &mut Vec::new())?;
        }
        for (name, value) in env {
            apply_override(&mut tree, name, value);
        }
        let mut config: Config = serde_yaml::from_value(tree).map_err(|e| ConfigError {
            place: file.to_string(),
            message: e.to_string(),
        })?;
        config.base_dir = base_dir;
        for (name, raw) in std::mem::take(&mut config.raw_connections) {
            let typed = ConnectionConfig::parse(&name, raw).map_err(|message| ConfigError {
                place: format!("{file}: connections.{name}"),
                message,
            })?;
            config.connections.insert(name, typed);
        }
        for (name, raw) in std::mem::take(&mut config.raw_imports) {
            let typed = ImportProfile::parse(raw).map_err(|message| ConfigError {
                place: format!("{file}: imports.{name}"),
                message,
            })?;
            config.imports.insert(name, typed);
        }
        let checked = config
            .triggers
            .check()
            .and_then(|()| config.identity.check())
            .and_then(|()| config.server.console.session_ttl().map(drop))
            .and_then(|()| {
                config
                    .webhooks
                    .iter()
                    .try_for_each(|(name, w)| w.check(name))
            });
        if let Err((key, message)) = checked {
            return Err(ConfigError {
                place: format!("{file}: {key}"),
                message,
            });
        }
        Ok(config)
    }
}

fn yaml_error(file: &str, e: &serde_yaml::Error) -> ConfigError {
    let place = match e.location() {
        Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
        None => file.to_string(),
    };
    ConfigError {
        place,
        message: e.to_string(),
    }
}

/// A credential written into the file is an error that names its key and line.
fn refuse_literal_secrets(
    file: &str,
    text: &str,
    node: &Yaml,
    path: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let Yaml::Mapping(map) = node else {
        return Ok(());
    };
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        path.push(key.to_string());
        if SECRET_KEYS.contains(&key) && matches!(v, Yaml::String(_) | Yaml::Number(_)) {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("{key}:")))
                .map(|i| format!(":{}", i + 1))
                .unwrap_or_default();
            return Err(ConfigError {
                place: format!("{file}{line}"),
                message: format!(
                    "{} is a secret written into the file; name it instead: \
                     `{key}: {{ env: VARIABLE }}` or `{key}: {{ file: PATH }}`",
                    path.join(".")
                ),
            });
        }
        refuse_literal_secrets(file, text, v, path)?;
        path.pop();
    }
    Ok(())
}

/// `ROSTER_CONNECTIONS__ENTRA__TENANT_ID=x` sets `connections.entra.tenant_id: x`.
fn apply_override(tree: &mut Yaml, name: &str, value: &str) {
    let Some(rest) = name.strip_prefix("ROSTER_") else {
        return;
    };
    let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if !TOP_LEVEL.contains(&keys[0].as_str()) {
        return;
    }
    let mut node = tree;
    for key in &keys {
        if !matches!(node, Yaml::Mapping(_)) {
            *node = Yaml::Mapping(Default::default());
        }
        let Yaml::Mapping(map) = node else { return };
        node = map.entry(Yaml::String(key.clone())).or_insert(Yaml::Null);
    }
    // Numbers and booleans keep their type (`port: 587`); everything else is a string.
    *node = match serde_yaml::from_str::<Yaml>(value) {
        Ok(v @ (Yaml::Number(_) | Yaml::Bool(_))) => v,
        _ => Yaml::String(value.to_string()),
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_parts("roster.yaml", Some(text), &env, PathBuf::from("."))
    }

    const ENTRA: &str = "connections:\n  entra:\n    tenant_id: contoso.com\n    client_id: app\n    client_secret: { env: ENTRA_SECRET }\n";

    #[test]
    fn environment_overrides_any_value() {
        let c = parse(
            ENTRA,
            &[
                ("ROSTER_CONNECTIONS__ENTRA__TENANT_ID", "fabrikam.com"),
                ("ROSTER_CONNECTIONS__HR__KIND", "http"),
                ("ROSTER_CONNECTIONS__HR__BASE_URL", "http://hr.test/api"),
                ("ROSTER_LOG", "debug"),
            ],
        )
        .unwrap();
        let ConnectionConfig::Entra(e) = &c.connections["entra"] else {
            panic!("not entra")
        };
        assert_eq!(e.tenant_id, "fabrikam.com");
        assert!(matches!(c.connections["hr"], ConnectionConfig::Http(_)));
    }

    #[test]
    fn a_secret_in_the_file_is_refused_at_its_line() {
        let text = ENTRA.replace("{ env: ENTRA_SECRET }", "s3cr3t");
        let e = parse(&text, &[]).unwrap_err();
        assert_eq!(e.place, "roster.yaml:5");
        assert!(e.message.contains("connections.entra.client_secret"), "{e}");
        assert!(!e.to_string().contains("s3cr3t"));
        // The same value from the environment is fine.
        let c = parse(
            "connections: {}\n",
            &[
                ("ROSTER_CONNECTIONS__ENTRA__TENANT_ID", "t"),
                ("ROSTER_CONNECTIONS__ENTRA__CLIENT_ID", "c"),
                ("ROSTER_CONNECTIONS__ENTRA__CLIENT_SECRET", "s3cr3t"),
            ],
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn http_auth_is_bearer_or_basic_from_the_file_or_the_environment() {
        let text = "connections:\n  hr:\n    kind: http\n    base_url: http://hr.test\n    \
                    auth: { basic: { username: roster, password: { env: HR_PW } } }\n";
        let c = parse(text, &[]).unwrap();
        let ConnectionConfig::Http(h) = &c.connections["hr"] else {
            panic!("not http")
        };
        assert!(matches!(&h.auth, Some(HttpAuth::Basic(b)) if b.username == "roster"));
        let c = parse(
            "connections: {}\n",
            &[
                ("ROSTER_CONNECTIONS__HR__KIND", "http"),
                ("ROSTER_CONNECTIONS__HR__BASE_URL", "http://hr.test"),
                ("ROSTER_CONNECTIONS__HR__AUTH__BEARER", "t0ken"),
            ],
        )
        .unwrap();
        let ConnectionConfig::Http(h) = &c.connections["hr"] else {
            panic!("not http")
        };
        assert!(matches!(&h.auth, Some(HttpAuth::Bearer(_))));
        let both = text.replace("{ basic:", "{ bearer: { env: T }, basic:");
        let e = parse(&both, &[]).unwrap_err();
        assert!(e.message.contains("bearer or basic, not both"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_yaml_name_the_place() {
        let e = parse("connections:\n  entra:\n    tenant: x\n", &[]).unwrap_err();
        assert!(e.message.contains("tenant"), "{e}");
        let e = parse("connections: [\n", &[]).unwrap_err();
        assert!(e.place.starts_with("roster.yaml:"), "{e}");
    }
}
