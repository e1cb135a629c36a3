//! Connectors: the live clients behind connector actions (`entra.*`, `google.*`, `hr.*`,
//! `scim.*`, `email.*`), built once from the
//! config's `connections:` and shared by every run. Each holds its credentials, its token cache
//! and its rate limiter; the actions in `crate::actions::connector` call into them.

pub mod args;
mod bearer;
pub mod calls;
pub mod entra;
pub mod google;
pub mod google_address;
pub mod hr;
pub mod identity;
mod limiter;
pub mod mail;
pub mod read_only;
pub mod scim;
pub(crate) mod token;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use limiter::Limiter;
pub use token::{Fetched, TokenCache};

use crate::actions::ActionError;
use crate::config::{Config, ConfigError, ConnectionConfig};

/// One live connection.
#[derive(Debug, Clone)]
pub enum Connection {
    Entra(Arc<entra::Client>),
    Google(Arc<google::Client>),
    Http(Arc<hr::Client>),
    Scim(Arc<scim::Client>),
    Smtp(Arc<mail::Mailer>),
}

/// Every configured connection, by name.
#[derive(Debug, Default)]
pub struct Connections {
    by_name: BTreeMap<String, Connection>,
    /// `identity.google`: how Entra accounts and groups get Google addresses.
    mapping: crate::config::GoogleMapping,
}

impl Connections {
    /// Builds the clients (reading their credentials) for every connection in `config`.
    pub fn from_config(
        config: &Config,
        http: &reqwest::Client,
    ) -> Result<Connections, ConfigError> {
        let mut out = Connections {
            mapping: config.identity.google.clone(),
            ..Connections::default()
        };
        for (name, c) in &config.connections {
            let place = |message: String| ConfigError {
                place: format!("connections.{name}"),
                message,
            };
            let built = match c {
                ConnectionConfig::Entra(e) => entra::Client::new(e, &config.base_dir, http.clone())
                    .map(|c| Connection::Entra(Arc::new(c.named(name)))),
                ConnectionConfig::Google(g) => {
                    google::Client::new(g, &config.base_dir, http.clone())
                        .map(|c| Connection::Google(Arc::new(c.named(name))))
                }
                ConnectionConfig::Http(h) => hr::Client::new(h, &config.base_dir, http.clone())
                    .map(|c| Connection::Http(Arc::new(c))),
                ConnectionConfig::Scim(sc) => {
                    scim::Client::new(name, sc, &config.base_dir, http.clone())
                        .map(|c| Connection::Scim(Arc::new(c)))
                }
                ConnectionConfig::Smtp(s) => {
                    mail::Mailer::new(s, &config.base_dir).map(|m| Connection::Smtp(Arc::new(m)))
                }
            };
            out.by_name.insert(name.clone(), built.map_err(place)?);
        }
        Ok(out)
    }

    /// The Entra → Google address mapping (`identity.google` in `roster.yaml`).
    pub fn mapping(&self) -> &crate::config::GoogleMapping {
        &self.mapping
    }

    /// The Entra connection `name`.
    pub fn entra(&self, name: &str) -> Result<&entra::Client, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Entra(c)) => Ok(c),
            other => Err(self.missing(name, "entra", other)),
        }
    }

    /// The Google connection `name`.
    pub fn google(&self, name: &str) -> Result<&google::Client, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Google(c)) => Ok(c),
            other => Err(self.missing(name, "google", other)),
        }
    }

    /// The `http` connection `name` (an HR system's API).
    pub fn http(&self, name: &str) -> Result<&hr::Client, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Http(c)) => Ok(c),
            other => Err(self.missing(name, "http", other)),
        }
    }

    /// The SCIM connection `name` (a SaaS app's provisioning API).
    pub fn scim(&self, name: &str) -> Result<&scim::Client, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Scim(c)) => Ok(c),
            other => Err(self.missing(name, "scim", other)),
        }
    }

    /// The SMTP connection `name`.
    pub fn smtp(&self, name: &str) -> Result<&mail::Mailer, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Smtp(c)) => Ok(c),
            other => Err(self.missing(name, "smtp", other)),
        }
    }

    fn missing(&self, name: &str, kind: &str, found: Option<&Connection>) -> ActionError {
        if let Some(other) = found {
            return ActionError::permanent(format!(
                "connection '{name}' is of kind {}, not {kind}",
                other.kind()
            ));
        }
        ActionError::permanent(format!(
            "no {kind} connection named '{name}' is configured (add connections.{name} to roster.yaml)"
        ))
    }
}

impl Connection {
    fn kind(&self) -> &'static str {
        match self {
            Connection::Entra(_) => "entra",
            Connection::Google(_) => "google",
            Connection::Http(_) => "http",
            Connection::Scim(_) => "scim",
            Connection::Smtp(_) => "smtp",
        }
    }
}

/// A path segment (an id or an e-mail): everything but unreserved characters and `@` escaped.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// What a failed API call means for the step.
pub fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> ActionError {
    ActionError::Transient {
        message: message.into(),
        retry_after,
    }
}

/// An error and its sources on one line (reqwest's own message omits the cause).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    #[test]
    fn retry_after_reads_seconds_and_dates() {
        use std::time::Duration;
        assert_eq!(super::retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            super::retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(super::retry_after("soon"), None);
    }

    use super::*;

    #[test]
    fn the_example_config_builds_one_connection_of_each_kind() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let text = std::fs::read_to_string(dir.join("roster.yaml")).unwrap();
        let env = [
            ("ROSTER_CONNECTIONS__ENTRA__CLIENT_SECRET", "s"),
            ("ROSTER_CONNECTIONS__HR__AUTH__BEARER", "t"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let config = Config::from_parts("roster.yaml", Some(&text), &env, dir).unwrap();
        let c = Connections::from_config(&config, &reqwest::Client::new()).unwrap();
        assert!(c.entra("entra").is_ok());
        assert!(c.google("google").is_ok());
        assert!(c.http("hr").is_ok());
        assert!(c.smtp("smtp").is_ok());
        let Err(e) = c.smtp("hr") else {
            panic!("hr is not an smtp connection")
        };
        assert_eq!(e.to_string(), "connection 'hr' is of kind http, not smtp");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let got = retry_after(&later).unwrap_or_default();
        assert!(
            got >= Duration::from_secs(28) && got <= Duration::from_secs(30),
            "{got:?}"
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("o'neil+x@example.com"), "o%27neil%2Bx@example.com");
        assert_eq!(segment("a/b"), "a%2Fb");
    }
}
