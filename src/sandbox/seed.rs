//! The world a sandbox starts from, as written in a YAML seed file (`SandboxSeed`), and its
//! validation. `world` compiles a validated seed into mutable state; `POST /_sandbox/reset`
//! compiles it again. The default seed is `examples/sandbox/seed.yaml`, embedded at build time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::keys;

const DEFAULT_SEED: &str = include_str!("../../examples/sandbox/seed.yaml");

/// A seed file could not be used; the message names the file and where in it.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{path}: cannot read the sandbox seed: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: invalid sandbox seed:\n  - {}", problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// Everything a sandbox starts with: the Entra tenant, the Google customer and the HR system.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSeed {
    pub entra: EntraSeed,
    #[serde(default)]
    pub google: GoogleSeed,
    #[serde(default)]
    pub hr: HrSeed,
}

/// The Entra ID tenant behind the Microsoft token endpoint and Graph.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraSeed {
    /// Tenant id (a GUID); `{tenant}` in token URLs may be this or a verified domain.
    pub tenant_id: String,
    /// Verified domains: a UPN's domain must be one of them.
    pub domains: Vec<String>,
    /// Lifetime of issued access tokens (`expires_in`); small values let tests expire them.
    #[serde(default = "default_token_lifetime_s")]
    pub token_lifetime_s: u64,
    /// How long after a bulkUpload its records are applied and logged.
    #[serde(default = "default_bulk_upload_delay_ms")]
    pub bulk_upload_delay_ms: u64,
    /// App registrations allowed to get tokens, with their credentials and application roles.
    pub clients: Vec<EntraClientSeed>,
    #[serde(default)]
    pub skus: Vec<SkuSeed>,
    #[serde(default)]
    pub groups: Vec<EntraGroupSeed>,
    #[serde(default)]
    pub users: Vec<EntraUserSeed>,
    /// API-driven provisioning jobs that accept bulkUpload.
    #[serde(default)]
    pub provisioning_jobs: Vec<ProvisioningJobSeed>,
}

/// An app registration (client credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraClientSeed {
    /// Application (client) id, a GUID.
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A client secret; accepted in the form body or HTTP Basic.
    #[serde(default)]
    pub secret: Option<String>,
    /// A PEM certificate whose key signs client assertions (RS256 + x5t or PS256 + x5t#S256).
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// Application permissions granted, e.g. `User.ReadWrite.All`; they become the token's `roles`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A subscribed license SKU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuSeed {
    pub sku_id: String,
    /// E.g. `SPE_E3`.
    pub sku_part_number: String,
    /// Seats bought (`prepaidUnits.enabled`).
    pub prepaid_units: i64,
    /// Seats held by people the seed does not list; users holding the SKU add to this.
    #[serde(default)]
    pub consumed_units: i64,
    #[serde(default)]
    pub service_plans: Vec<ServicePlanSeed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePlanSeed {
    pub id: String,
    pub name: String,
}

/// A security group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraGroupSeed {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub security_enabled: bool,
    #[serde(default)]
    pub mail_enabled: bool,
    /// Member user ids or UPNs, or group ids (nested groups).
    #[serde(default)]
    pub members: Vec<String>,
}

/// An existing user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraUserSeed {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub employee_id: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// SKU part numbers assigned, e.g. `[SPE_E3]`.
    #[serde(default)]
    pub licenses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningJobSeed {
    pub service_principal_id: String,
    /// E.g. `API2AAD.<hex>.<guid>`.
    pub job_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The Google Workspace customer behind Google's token endpoint and the Directory API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleSeed {
    /// E.g. `C03az79cb`; `my_customer` always means this customer.
    #[serde(default)]
    pub customer_id: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default = "default_token_lifetime_s")]
    pub token_lifetime_s: u64,
    /// Let `users.watch` deliver to `http://` addresses (Google requires https).
    #[serde(default = "yes")]
    pub allow_http_webhooks: bool,
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSeed>,
    /// Users a service account may impersonate (`sub`) to call the Directory API.
    #[serde(default)]
    pub admins: Vec<String>,
    #[serde(default)]
    pub users: Vec<GoogleUserSeed>,
    #[serde(default)]
    pub groups: Vec<GoogleGroupSeed>,
}

/// A service account with domain-wide delegation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSeed {
    pub client_email: String,
    #[serde(default)]
    pub client_id: Option<String>,
    /// The key file's `private_key_id`; when set, an assertion's `kid` must match it.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The public half: a PEM certificate or public key.
    pub public_key_pem: String,
    /// Scopes authorized for delegation (the Admin console allow-list).
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleUserSeed {
    /// Numeric id string.
    pub id: String,
    pub primary_email: String,
    pub given_name: String,
    pub family_name: String,
    #[serde(default = "root_org_unit")]
    pub org_unit_path: String,
    #[serde(default)]
    pub suspended: bool,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `{type, value}` pairs, e.g. `{type: organization, value: E1001}`.
    #[serde(default)]
    pub external_ids: Vec<GoogleExternalIdSeed>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The manager's e-mail (a `relations` entry of type `manager`).
    #[serde(default)]
    pub manager: Option<String>,
    /// `{schemaName: {fieldName: value}}` as the API writes it.
    #[serde(default)]
    pub custom_schemas: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleExternalIdSeed {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleGroupSeed {
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Member e-mails (users or groups) with role MEMBER.
    #[serde(default)]
    pub members: Vec<String>,
    /// Member e-mails with role OWNER.
    #[serde(default)]
    pub owners: Vec<String>,
}

/// The HR system: its credentials and employee records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrSeed {
    /// Accepted `Authorization: Bearer` tokens.
    #[serde(default)]
    pub bearer_tokens: Vec<String>,
    /// Accepted HTTP Basic credentials.
    #[serde(default)]
    pub basic: Vec<BasicCredential>,
    /// Employee records: JSON objects, each with a string `id`.
    #[serde(default)]
    pub employees: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicCredential {
    pub username: String,
    pub password: String,
}

fn default_token_lifetime_s() -> u64 {
    3599
}
fn default_bulk_upload_delay_ms() -> u64 {
    1000
}
fn yes() -> bool {
    true
}
fn root_org_unit() -> String {
    "/".to_string()
}

impl SandboxSeed {
    /// The seed shipped as `examples/sandbox/seed.yaml` (contoso.com), embedded in the binary.
    pub fn default_seed() -> SandboxSeed {
        // The embedded file is checked by a unit test below, so the fallback is never taken in a
        // released binary; it keeps this function total without a panic path.
        Self::parse(DEFAULT_SEED, Path::new("<embedded seed>")).unwrap_or_else(|e| {
            tracing::error!("embedded sandbox seed is invalid: {e}");
            SandboxSeed::empty()
        })
    }

    /// Reads and validates a seed file; errors name the file and the field (and line, for YAML
    /// errors).
    pub fn from_file(path: &Path) -> Result<SandboxSeed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates seed YAML; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<SandboxSeed, SeedError> {
        let seed: SandboxSeed = serde_yaml::from_str(text).map_err(|e| SeedError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let problems = seed.problems();
        if problems.is_empty() {
            Ok(seed)
        } else {
            Err(SeedError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    fn empty() -> SandboxSeed {
        SandboxSeed {
            entra: EntraSeed {
                tenant_id: "00000000-0000-0000-0000-000000000000".into(),
                domains: vec![],
                token_lifetime_s: default_token_lifetime_s(),
                bulk_upload_delay_ms: default_bulk_upload_delay_ms(),
                clients: vec![],
                skus: vec![],
                groups: vec![],
                users: vec![],
                provisioning_jobs: vec![],
            },
            google: GoogleSeed::default(),
            hr: HrSeed::default(),
        }
    }

    /// Every semantic problem, each naming the field it is about.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.entra.check(&mut p);
        self.google.check(&mut p);
        self.hr.check(&mut p);
        p
    }
}

/// Whether `s` is a GUID in the 8-4-4-4-12 hex form Graph uses.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn domain_of(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

fn unique(p: &mut Vec<String>, seen: &mut HashSet<String>, value: &str, at: String) {
    if !seen.insert(value.to_ascii_lowercase()) {
        p.push(format!("{at}: `{value}` is listed twice"));
    }
}

impl EntraSeed {
    fn check(&self, p: &mut Vec<String>) {
        if !is_guid(&self.tenant_id) {
            p.push("entra.tenant_id: must be a GUID".into());
        }
        let domains: HashSet<String> = self
            .domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        let mut seen = HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let at = format!("entra.clients[{i}]");
            if !is_guid(&c.client_id) {
                p.push(format!("{at}.client_id: must be a GUID"));
            }
            unique(p, &mut seen, &c.client_id, format!("{at}.client_id"));
            if c.secret.is_none() && c.certificate_pem.is_none() {
                p.push(format!("{at}: needs a secret or a certificate_pem"));
            }
            if let Some(pem) = &c.certificate_pem {
                if let Err(e) = keys::PublicKey::from_pem(pem) {
                    p.push(format!("{at}.certificate_pem: {e}"));
                }
            }
        }
        let mut skus = HashSet::new();
        for (i, s) in self.skus.iter().enumerate() {
            let at = format!("entra.skus[{i}]");
            if !is_guid(&s.sku_id) {
                p.push(format!("{at}.sku_id: must be a GUID"));
            }
            unique(
                p,
                &mut skus,
                &s.sku_part_number,
                format!("{at}.sku_part_number"),
            );
            if s.prepaid_units < 0 || s.consumed_units < 0 {
                p.push(format!("{at}: unit counts cannot be negative"));
            }
        }
        let mut ids = HashSet::new();
        let mut upns = HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let at = format!("entra.users[{i}]");
            if !is_guid(&u.id) {
                p.push(format!("{at}.id: must be a GUID"));
            }
            unique(p, &mut ids, &u.id, format!("{at}.id"));
            unique(
                p,
                &mut upns,
                &u.user_principal_name,
                format!("{at}.user_principal_name"),
            );
            match domain_of(&u.user_principal_name) {
                Some(d) if domains.contains(&d) => {}
                _ => p.push(format!(
                    "{at}.user_principal_name: `{}` is not alias@<one of entra.domains>",
                    u.user_principal_name
                )),
            }
            for l in &u.licenses {
                if !skus.contains(&l.to_ascii_lowercase()) {
                    p.push(format!("{at}.licenses: no SKU `{l}` in entra.skus"));
                }
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            let at = format!("entra.groups[{i}]");
            if !is_guid(&g.id) {
                p.push(format!("{at}.id: must be a GUID"));
            }
            unique(p, &mut ids, &g.id, format!("{at}.id"));
        }
        for (i, g) in self.groups.iter().enumerate() {
            for m in &g.members {
                let m = m.to_ascii_lowercase();
                if !ids.contains(&m) && !upns.contains(&m) {
                    p.push(format!(
                        "entra.groups[{i}].members: `{m}` is no user id, UPN or group id"
                    ));
                }
            }
        }
        for (i, j) in self.provisioning_jobs.iter().enumerate() {
            if !is_guid(&j.service_principal_id) {
                p.push(format!(
                    "entra.provisioning_jobs[{i}].service_principal_id: must be a GUID"
                ));
            }
        }
    }
}

impl GoogleSeed {
    fn check(&self, p: &mut Vec<String>) {
        let domains: HashSet<String> = self
            .domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        for (i, sa) in self.service_accounts.iter().enumerate() {
            if let Err(e) = keys::PublicKey::from_pem(&sa.public_key_pem) {
                p.push(format!("google.service_accounts[{i}].public_key_pem: {e}"));
            }
        }
        let mut emails = HashSet::new();
        let mut ids = HashSet::new();
        let in_domain = |email: &str, at: String, p: &mut Vec<String>| match domain_of(email) {
            Some(d) if domains.contains(&d) => {}
            _ => p.push(format!("{at}: `{email}` is not in google.domains")),
        };
        for (i, u) in self.users.iter().enumerate() {
            let at = format!("google.users[{i}]");
            if u.id.is_empty() || !u.id.chars().all(|c| c.is_ascii_digit()) {
                p.push(format!("{at}.id: must be a string of digits"));
            }
            unique(p, &mut ids, &u.id, format!("{at}.id"));
            unique(
                p,
                &mut emails,
                &u.primary_email,
                format!("{at}.primary_email"),
            );
            in_domain(&u.primary_email, format!("{at}.primary_email"), p);
            for a in &u.aliases {
                unique(p, &mut emails, a, format!("{at}.aliases"));
                in_domain(a, format!("{at}.aliases"), p);
            }
            if !u.org_unit_path.starts_with('/') {
                p.push(format!("{at}.org_unit_path: must start with `/`"));
            }
            if let Some(cs) = &u.custom_schemas {
                if !cs.is_object() {
                    p.push(format!("{at}.custom_schemas: must be a mapping of schemas"));
                }
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            let at = format!("google.groups[{i}]");
            unique(p, &mut ids, &g.id, format!("{at}.id"));
            unique(p, &mut emails, &g.email, format!("{at}.email"));
        }
        for (i, g) in self.groups.iter().enumerate() {
            for m in g.members.iter().chain(&g.owners) {
                if !emails.contains(&m.to_ascii_lowercase()) {
                    p.push(format!(
                        "google.groups[{i}].members: `{m}` is no user or group"
                    ));
                }
            }
        }
        for a in &self.admins {
            let known = self
                .users
                .iter()
                .any(|u| u.primary_email.eq_ignore_ascii_case(a));
            if !known {
                p.push(format!("google.admins: `{a}` is not one of google.users"));
            }
        }
    }
}

impl HrSeed {
    fn check(&self, p: &mut Vec<String>) {
        let mut ids = HashSet::new();
        for (i, e) in self.employees.iter().enumerate() {
            match e.get("id").and_then(|v| v.as_str()) {
                Some(id) => unique(p, &mut ids, id, format!("hr.employees[{i}].id")),
                None => p.push(format!("hr.employees[{i}]: needs a string `id`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_seed_is_valid() {
        let seed = SandboxSeed::parse(DEFAULT_SEED, Path::new("seed.yaml"));
        assert!(
            seed.is_ok(),
            "{}",
            seed.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let text = DEFAULT_SEED.replacen("tenant_id:", "tenant_idx:", 1);
        let err = SandboxSeed::parse(&text, Path::new("my-seed.yaml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("my-seed.yaml: "), "{err}");
        assert!(err.contains("tenant_idx") && err.contains("line"), "{err}");
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let mut seed = SandboxSeed::default_seed();
        seed.entra.tenant_id = "not-a-guid".into();
        seed.entra.users[0].licenses.push("NOPE".into());
        let p = seed.problems();
        assert!(p.iter().any(|m| m.starts_with("entra.tenant_id")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("no SKU `NOPE`")), "{p:?}");
    }
}
