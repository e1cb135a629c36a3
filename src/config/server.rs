//! The `server:` section: what `roster serve` listens on and what it loads.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `roster serve` settings. Every key is optional.
///
/// ```yaml
/// server:
///   listen: 127.0.0.1:8080      # --listen overrides it; port 0 picks a free port
///   max_body_bytes: 1048576     # larger request bodies are answered 413
///   playbooks: playbooks/       # the playbooks the API starts and triggers fire
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            playbooks: PathBuf::from("playbooks"),
        }
    }
}
