//! `triggers:` in `roster.yaml`: the Google Workspace poller and push channels, the Entra ID
//! delta poller, the
//! `person.date` timers' catch-up window and the inbound SCIM endpoint (`scim`). Schedules and
//! webhooks need no section here: a schedule lives in its playbook, a webhook in `webhooks:`.

use std::time::Duration;

use serde::Deserialize;

use crate::secret::SecretRef;

/// `triggers:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersConfig {
    /// Observe a Google Workspace directory (poll `users.list`, and optionally push).
    #[serde(default)]
    pub google: Option<GoogleTrigger>,
    /// Observe an Entra ID tenant through Graph delta queries.
    #[serde(default)]
    pub entra: Option<EntraTrigger>,
    /// `person.date` timers.
    #[serde(default)]
    pub dates: DatesConfig,
    /// The inbound SCIM endpoint's source name, page size and attribute mapping.
    #[serde(default)]
    pub scim: super::ScimTrigger,
}

/// `triggers.google`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleTrigger {
    /// The `google` connection to read the directory with. Default: `google`.
    #[serde(default = "default_google")]
    pub connection: String,
    /// How often the whole directory is listed (the safety net behind push). Default: `5m`.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// The observation source name playbooks filter on (`person.joined: { source: google }`).
    /// Default: `google`.
    #[serde(default = "default_google")]
    pub source: String,
    /// `true` (the default): the first poll of a directory Roster has never seen records every
    /// user as the baseline and fires nothing. `false`: every existing user fires
    /// `person.joined` on the first poll.
    #[serde(default = "yes")]
    pub baseline: bool,
    /// Only the users of this domain. Default: the connection's whole customer.
    #[serde(default)]
    pub domain: Option<String>,
    /// Only the users this Directory search matches, e.g. `orgUnitPath=/Staff`.
    #[serde(default)]
    pub query: Option<String>,
    /// Push notifications through `users.watch`.
    #[serde(default)]
    pub push: Option<GooglePush>,
}

/// `triggers.entra`: the Entra ID delta poller.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraTrigger {
    /// The `entra` connection to read the tenant with. Default: `entra`.
    #[serde(default = "default_entra")]
    pub connection: String,
    /// How often the delta links are followed. Default: `1m`.
    #[serde(default = "default_entra_interval")]
    pub interval: String,
    /// The observation source name playbooks filter on (`person.joined: { source: entra }`).
    /// Default: `entra`.
    #[serde(default = "default_entra")]
    pub source: String,
    /// `true` (the default): the first full round over a tenant Roster has never seen records
    /// every user as the baseline and fires nothing.
    #[serde(default = "yes")]
    pub baseline: bool,
    /// Only the direct members of these groups (ids or display names) are observed; a user who
    /// leaves them all is observed as gone (`person.left`). Default: every user.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Items per delta page (`Prefer: odata.maxpagesize`). Default: Graph's.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Pages read per poll at most (the rest follows at the next interval, from the stored
    /// link). Default: no limit.
    #[serde(default)]
    pub max_pages: Option<u32>,
}

/// `triggers.google.push`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GooglePush {
    /// The public HTTPS URL of this server's `/hooks/google`, e.g.
    /// `https://roster.example.com/hooks/google`.
    pub address: String,
    /// The channel token Google echoes in `X-Goog-Channel-Token`: a random string, named like
    /// any secret (`{ env: ROSTER_GOOGLE_CHANNEL_TOKEN }`). A notification without it is 401.
    pub token: SecretRef,
    /// A channel's lifetime; it is renewed (a new channel, then the old one stopped) a tenth of
    /// it before expiry. Default `6h`; Google caps it at 2 days.
    #[serde(default = "default_ttl")]
    pub ttl: String,
}

/// `triggers.dates`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatesConfig {
    /// A timer armed with a due time already further in the past than this is recorded as
    /// skipped, not fired: importing people who started years ago runs no pre-hire playbook.
    /// Default: `7d`.
    #[serde(default = "default_catch_up")]
    pub catch_up: String,
}

impl Default for DatesConfig {
    fn default() -> Self {
        DatesConfig {
            catch_up: default_catch_up(),
        }
    }
}

fn default_google() -> String {
    "google".into()
}
fn default_entra() -> String {
    "entra".into()
}
fn default_entra_interval() -> String {
    "1m".into()
}
fn default_interval() -> String {
    "5m".into()
}
fn default_ttl() -> String {
    "6h".into()
}
fn default_catch_up() -> String {
    "7d".into()
}
fn yes() -> bool {
    true
}

/// A duration setting, with the key named on error.
fn duration(key: &str, value: &str) -> Result<Duration, (String, String)> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        (
            key.to_string(),
            format!("'{value}' is not a duration like 30s, 5m or 2h: {e}"),
        )
    })
}

impl GoogleTrigger {
    pub fn interval(&self) -> Result<Duration, (String, String)> {
        let d = duration("triggers.google.interval", &self.interval)?;
        if d < Duration::from_secs(1) {
            return Err((
                "triggers.google.interval".into(),
                "must be at least 1s".into(),
            ));
        }
        Ok(d)
    }
}

impl EntraTrigger {
    pub fn interval(&self) -> Result<Duration, (String, String)> {
        let d = duration("triggers.entra.interval", &self.interval)?;
        if d < Duration::from_secs(1) {
            return Err((
                "triggers.entra.interval".into(),
                "must be at least 1s".into(),
            ));
        }
        Ok(d)
    }
}

impl GooglePush {
    pub fn ttl(&self) -> Result<Duration, (String, String)> {
        let d = duration("triggers.google.push.ttl", &self.ttl)?;
        if d < Duration::from_secs(60) || d > Duration::from_secs(172_800) {
            return Err((
                "triggers.google.push.ttl".into(),
                "must be between 1m and 2d (Google's maximum)".into(),
            ));
        }
        Ok(d)
    }
}

impl DatesConfig {
    pub fn catch_up(&self) -> Result<Duration, (String, String)> {
        duration("triggers.dates.catch_up", &self.catch_up)
    }
}

impl TriggersConfig {
    /// Checks the values serde cannot: (key, message) of the first problem.
    pub fn check(&self) -> Result<(), (String, String)> {
        self.dates.catch_up()?;
        self.scim.check()?;
        if let Some(e) = &self.entra {
            e.interval()?;
            if e.page_size == Some(0) || e.max_pages == Some(0) {
                return Err((
                    "triggers.entra".into(),
                    "page_size and max_pages must be at least 1 when set".into(),
                ));
            }
        }
        if let Some(g) = &self.google {
            g.interval()?;
            if let Some(p) = &g.push {
                p.ttl()?;
                if !p.address.starts_with("https://") && !p.address.starts_with("http://") {
                    return Err((
                        "triggers.google.push.address".into(),
                        format!(
                            "'{}' is not an http(s) URL; Google delivers only to https://",
                            p.address
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
