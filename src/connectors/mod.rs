//! Connectors: the live clients behind connector actions (`entra.*`, …), built once from the
//! config's `connections:` and shared by every run. Each holds its credentials, its token cache
//! and its rate limiter; the actions in `crate::actions::connector` call into them.

pub mod args;
pub mod calls;
pub mod entra;
mod limiter;
mod token;

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
}

/// Every configured connection, by name.
#[derive(Debug, Default)]
pub struct Connections {
    by_name: BTreeMap<String, Connection>,
    /// Configured but of a kind this build cannot use yet, with the reason.
    unavailable: BTreeMap<String, String>,
}

impl Connections {
    /// Builds the clients (reading their credentials) for every connection in `config`.
    pub fn from_config(
        config: &Config,
        http: &reqwest::Client,
    ) -> Result<Connections, ConfigError> {
        let mut out = Connections::default();
        for (name, c) in &config.connections {
            let place = |message: String| ConfigError {
                place: format!("connections.{name}"),
                message,
            };
            match c {
                ConnectionConfig::Entra(e) => {
                    let client = entra::Client::new(e, &config.base_dir, http.clone())
                        .map_err(place)?
                        .named(name);
                    out.by_name
                        .insert(name.clone(), Connection::Entra(Arc::new(client)));
                }
                other => {
                    out.unavailable.insert(
                        name.clone(),
                        format!(
                            "{} connections are not supported by this build",
                            other.kind()
                        ),
                    );
                }
            }
        }
        Ok(out)
    }

    /// The Entra connection `name`.
    pub fn entra(&self, name: &str) -> Result<&entra::Client, ActionError> {
        match self.by_name.get(name) {
            Some(Connection::Entra(c)) => Ok(c),
            None => Err(self.missing(name, "entra")),
        }
    }

    fn missing(&self, name: &str, kind: &str) -> ActionError {
        if let Some(why) = self.unavailable.get(name) {
            return ActionError::permanent(format!("connection '{name}': {why}"));
        }
        ActionError::permanent(format!(
            "no {kind} connection named '{name}' is configured (add connections.{name} to roster.yaml)"
        ))
    }
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
