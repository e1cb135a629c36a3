//! The `server:` section: what `roster serve` listens on, what it loads, and its web console.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::SecretRef;

/// `roster serve` settings. Every key is optional.
///
/// ```yaml
/// server:
///   listen: 127.0.0.1:8080      # --listen overrides it; port 0 picks a free port
///   max_body_bytes: 1048576     # larger request bodies are answered 413
///   playbooks: playbooks/       # the playbooks the API starts and triggers fire
///   console:
///     admin_password: { file: console.password }   # optional; API tokens always sign in
///     session_ttl: 12h
///     secure_cookies: auto      # auto | always | never
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The address the HTTP API listens on.
    pub listen: SocketAddr,
    /// The largest request body the API accepts, in bytes (uploads with a limit of their own,
    /// such as CSV imports, are configured with them).
    pub max_body_bytes: usize,
    /// The directory of playbooks loaded at start-up (relative to the working directory).
    pub playbooks: PathBuf,
    /// The web console served at `/`.
    pub console: ConsoleConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            playbooks: PathBuf::from("playbooks"),
            console: ConsoleConfig::default(),
        }
    }
}

/// `server.console`: who may sign in to the web console and how long a session lasts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// `false` serves no console (the API alone).
    pub enabled: bool,
    /// A password that signs in as `admin`, named like any secret (`{ env: NAME }` or
    /// `{ file: PATH }`). Without it, only API tokens (`roster token create`) sign in.
    pub admin_password: Option<SecretRef>,
    /// How long a session lasts after sign-in, e.g. `12h` (default) or `30m`.
    pub session_ttl: String,
    /// When the session cookie is marked `Secure`: `auto` (default) when the request came
    /// over TLS as a proxy in front reports it (`X-Forwarded-Proto: https` or
    /// `Forwarded: proto=https`), `always`, or `never`.
    pub secure_cookies: SecureCookies,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            admin_password: None,
            session_ttl: "12h".into(),
            secure_cookies: SecureCookies::Auto,
        }
    }
}

/// `server.console.secure_cookies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

impl ConsoleConfig {
    /// `session_ttl` parsed, with the key named on error.
    pub fn session_ttl(&self) -> Result<Duration, (String, String)> {
        let d = humantime::parse_duration(self.session_ttl.trim()).map_err(|e| {
            (
                "server.console.session_ttl".to_string(),
                format!(
                    "'{}' is not a duration like 30m or 12h: {e}",
                    self.session_ttl
                ),
            )
        })?;
        if d < Duration::from_secs(60) {
            return Err((
                "server.console.session_ttl".into(),
                "must be at least 1m".into(),
            ));
        }
        Ok(d)
    }
}
