//! `database:` in roster.yaml: either the URL alone (`database: sqlite://roster.db`) or a
//! section with the URL and the settings that matter when several processes share PostgreSQL —
//! the pool, the statement timeout, how long a start-up waits for the server, and the workers'
//! lease and heartbeat. The defaults live here and in `StoreOptions`/`WorkerOptions`.

use std::time::Duration;

use serde::Deserialize;

use crate::store::StoreOptions;

/// How long a claim lasts without a heartbeat, unless configured.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The `database:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "Raw")]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; `--database` and `DATABASE_URL` take
    /// precedence.
    pub url: Option<String>,
    /// The pool's connections per process (default 8); a worker adds up to three of its own
    /// for step commits and claims.
    pub max_connections: Option<u32>,
    /// PostgreSQL `statement_timeout`, e.g. `30s` (default); `0s` disables it.
    pub statement_timeout: Option<String>,
    /// How long start-up retries an unreachable PostgreSQL (default `10s`).
    pub connect_timeout: Option<String>,
    /// A worker's lease, e.g. `30s` (default): a killed worker's runs resume this long after
    /// its last heartbeat. `--lease` takes precedence.
    pub lease: Option<String>,
    /// How often a worker renews its leases (default: a third of the lease).
    pub heartbeat: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Url(String),
    Section(Section),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    url: Option<String>,
    max_connections: Option<u32>,
    statement_timeout: Option<String>,
    connect_timeout: Option<String>,
    lease: Option<String>,
    heartbeat: Option<String>,
}

impl From<Raw> for DatabaseConfig {
    fn from(raw: Raw) -> Self {
        match raw {
            Raw::Url(url) => DatabaseConfig {
                url: Some(url),
                ..DatabaseConfig::default()
            },
            Raw::Section(s) => DatabaseConfig {
                url: s.url,
                max_connections: s.max_connections,
                statement_timeout: s.statement_timeout,
                connect_timeout: s.connect_timeout,
                lease: s.lease,
                heartbeat: s.heartbeat,
            },
        }
    }
}

/// A duration setting of `database:`, with the key in the error.
fn duration(key: &str, value: &Option<String>) -> anyhow::Result<Option<Duration>> {
    value
        .as_deref()
        .map(|v| {
            humantime::parse_duration(v.trim()).map_err(|e| {
                anyhow::anyhow!("database.{key}: '{v}' is not a duration (e.g. 30s): {e}")
            })
        })
        .transpose()
}

impl DatabaseConfig {
    /// The store's options: the configured ones over the defaults.
    pub fn store_options(&self) -> anyhow::Result<StoreOptions> {
        let mut options = StoreOptions::default();
        if let Some(n) = self.max_connections {
            anyhow::ensure!(n >= 2, "database.max_connections: at least 2, got {n}");
            options.max_connections = n;
        }
        if let Some(d) = duration("statement_timeout", &self.statement_timeout)? {
            options.statement_timeout = d;
        }
        if let Some(d) = duration("connect_timeout", &self.connect_timeout)? {
            options.connect_timeout = d;
        }
        Ok(options)
    }

    /// The lease and the heartbeat period, checked against each other.
    pub fn lease(&self, cli: Option<Duration>) -> anyhow::Result<(Duration, Duration)> {
        let lease = match cli {
            Some(d) => d,
            None => duration("lease", &self.lease)?.unwrap_or(DEFAULT_LEASE),
        };
        anyhow::ensure!(
            lease >= Duration::from_millis(300),
            "database.lease: at least 300ms"
        );
        let heartbeat = duration("heartbeat", &self.heartbeat)?.unwrap_or(lease / 3);
        anyhow::ensure!(
            heartbeat < lease,
            "database.heartbeat ({heartbeat:?}) must be shorter than the lease ({lease:?})"
        );
        Ok((lease, heartbeat))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_url_alone_or_a_section() {
        let c: DatabaseConfig = serde_json::from_str("\"sqlite://x.db\"").unwrap();
        assert_eq!(c.url.as_deref(), Some("sqlite://x.db"));
        let c: DatabaseConfig = serde_json::from_str(
            r#"{"url": "postgres://u@h/db", "max_connections": 16, "statement_timeout": "5s",
                "lease": "12s"}"#,
        )
        .unwrap();
        let o = c.store_options().unwrap();
        assert_eq!(o.max_connections, 16);
        assert_eq!(o.statement_timeout, Duration::from_secs(5));
        assert_eq!(
            c.lease(None).unwrap(),
            (Duration::from_secs(12), Duration::from_secs(4))
        );
        let bad: DatabaseConfig =
            serde_json::from_str(r#"{"lease": "5s", "heartbeat": "9s"}"#).unwrap();
        assert!(bad.lease(None).is_err());
    }
}
