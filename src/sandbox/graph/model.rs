//! The Entra tenant's mutable state: users (Graph property maps), groups with member ids,
//! soft-deleted users, license SKUs and provisioning logs; and the lookups every handler shares,
//! which honour replication delay (an object is invisible until its `visible_at`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::errors::GraphError;
use crate::sandbox::seed::{EntraSeed, ProvisioningJobSeed};

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    /// Graph properties as stored (camelCase), `id` included; `assignedLicenses` lives here too.
    pub props: Map<String, Value>,
    /// Kept apart so it is never rendered.
    pub password: Option<String>,
    pub visible_at: Instant,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub props: Map<String, Value>,
    /// Member object ids: users or groups.
    pub members: Vec<String>,
    pub owners: Vec<String>,
    pub visible_at: Instant,
}

/// A soft-deleted user and the groups it was in, so a restore brings both back.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub user: User,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Sku {
    pub sku_id: String,
    pub part_number: String,
    pub prepaid: i64,
    /// Seats consumed by people outside the sandbox (from the seed).
    pub baseline: i64,
    pub plans: Vec<(String, String)>,
    pub subscription_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

pub struct Entra {
    pub tenant_id: String,
    pub domains: Vec<String>,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub deleted: BTreeMap<String, Deleted>,
    pub skus: Vec<Sku>,
    pub jobs: Vec<ProvisioningJobSeed>,
    pub provisioning_logs: Vec<Value>,
    /// Delta-query snapshots and pending pages (`delta`).
    pub delta: super::delta::DeltaState,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Entra {
    pub fn from_seed(seed: &EntraSeed, now: Instant) -> Entra {
        let skus: Vec<Sku> = seed
            .skus
            .iter()
            .map(|s| Sku {
                sku_id: s.sku_id.to_ascii_lowercase(),
                part_number: s.sku_part_number.clone(),
                prepaid: s.prepaid_units,
                baseline: s.consumed_units,
                plans: s
                    .service_plans
                    .iter()
                    .map(|p| (p.id.clone(), p.name.clone()))
                    .collect(),
                subscription_id: super::super::ids::guid(),
            })
            .collect();
        let mut users = BTreeMap::new();
        for u in &seed.users {
            let licenses: Vec<Value> = u
                .licenses
                .iter()
                .filter_map(|part| {
                    skus.iter()
                        .find(|s| s.part_number.eq_ignore_ascii_case(part))
                })
                .map(|s| json!({"disabledPlans": [], "skuId": s.sku_id}))
                .collect();
            let nickname = u.mail_nickname.clone().unwrap_or_else(|| {
                u.user_principal_name
                    .split('@')
                    .next()
                    .unwrap_or("")
                    .to_string()
            });
            let mut props = Map::new();
            props.insert("id".into(), json!(u.id.to_ascii_lowercase()));
            props.insert("accountEnabled".into(), json!(u.account_enabled));
            props.insert("displayName".into(), json!(u.display_name));
            props.insert("userPrincipalName".into(), json!(u.user_principal_name));
            props.insert("mailNickname".into(), json!(nickname));
            for (k, v) in [
                ("givenName", &u.given_name),
                ("surname", &u.surname),
                ("mail", &u.mail),
                ("employeeId", &u.employee_id),
                ("department", &u.department),
                ("jobTitle", &u.job_title),
                ("usageLocation", &u.usage_location),
            ] {
                if let Some(v) = v {
                    props.insert(k.into(), json!(v));
                }
            }
            props.insert("assignedLicenses".into(), Value::Array(licenses));
            props.insert("createdDateTime".into(), json!(now_rfc3339()));
            props.insert("userType".into(), json!("Member"));
            let id = u.id.to_ascii_lowercase();
            users.insert(
                id.clone(),
                User {
                    id,
                    props,
                    password: None,
                    visible_at: now,
                },
            );
        }
        let mut groups = BTreeMap::new();
        for g in &seed.groups {
            let id = g.id.to_ascii_lowercase();
            let members = g
                .members
                .iter()
                .filter_map(|m| {
                    let m = m.to_ascii_lowercase();
                    if users.contains_key(&m)
                        || seed.groups.iter().any(|g| g.id.eq_ignore_ascii_case(&m))
                    {
                        return Some(m);
                    }
                    users
                        .values()
                        .find(|u| upn(u).eq_ignore_ascii_case(&m))
                        .map(|u| u.id.clone())
                })
                .collect();
            let nickname = g.mail_nickname.clone().unwrap_or_else(|| {
                g.display_name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect()
            });
            let props = group_props(
                &id,
                &g.display_name,
                &nickname,
                g.description.as_deref(),
                g.mail_enabled,
                g.security_enabled,
            );
            groups.insert(
                id.clone(),
                Group {
                    id,
                    props,
                    members,
                    owners: Vec::new(),
                    visible_at: now,
                },
            );
        }
        Entra {
            tenant_id: seed.tenant_id.to_ascii_lowercase(),
            domains: seed.domains.clone(),
            users,
            groups,
            deleted: BTreeMap::new(),
            skus,
            jobs: seed.provisioning_jobs.clone(),
            provisioning_logs: Vec::new(),
            delta: Default::default(),
        }
    }

    /// A user by id or UPN (case-insensitive), visible or not.
    pub fn find_user(&self, key: &str) -> Option<&User> {
        let lower = key.to_ascii_lowercase();
        self.users.get(&lower).or_else(|| {
            self.users
                .values()
                .find(|u| upn(u).eq_ignore_ascii_case(key))
        })
    }

    /// A user as reads and references see it: absent until replicated.
    pub fn visible_user(&self, key: &str, now: Instant) -> Result<&User, GraphError> {
        self.find_user(key)
            .filter(|u| u.visible_at <= now)
            .ok_or_else(|| GraphError::not_found(key))
    }

    pub fn visible_user_id(&self, key: &str, now: Instant) -> Result<String, GraphError> {
        self.visible_user(key, now).map(|u| u.id.clone())
    }

    pub fn visible_group(&self, id: &str, now: Instant) -> Result<&Group, GraphError> {
        self.groups
            .get(&id.to_ascii_lowercase())
            .filter(|g| g.visible_at <= now)
            .ok_or_else(|| GraphError::not_found(id))
    }

    /// What kind of directory object `id` is, if it exists and is visible.
    pub fn visible_kind(&self, id: &str, now: Instant) -> Option<Kind> {
        let id = id.to_ascii_lowercase();
        if self.users.get(&id).is_some_and(|u| u.visible_at <= now) {
            Some(Kind::User)
        } else if self.groups.get(&id).is_some_and(|g| g.visible_at <= now) {
            Some(Kind::Group)
        } else {
            None
        }
    }

    pub fn upn_taken(&self, candidate: &str, except: Option<&str>) -> bool {
        self.users
            .values()
            .any(|u| Some(u.id.as_str()) != except && upn(u).eq_ignore_ascii_case(candidate))
    }

    pub fn mail_taken(&self, candidate: &str, except: Option<&str>) -> bool {
        self.users.values().any(|u| {
            Some(u.id.as_str()) != except
                && u.props
                    .get("mail")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.eq_ignore_ascii_case(candidate))
        })
    }

    pub fn sku(&self, sku_id: &str) -> Option<&Sku> {
        self.skus
            .iter()
            .find(|s| s.sku_id.eq_ignore_ascii_case(sku_id))
    }

    /// Seats in use: the seed's baseline plus every active user holding the SKU.
    pub fn consumed(&self, sku_id: &str) -> i64 {
        let baseline = self.sku(sku_id).map(|s| s.baseline).unwrap_or(0);
        let holders = self
            .users
            .values()
            .filter(|u| {
                license_ids(u)
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(sku_id))
            })
            .count();
        baseline + holders as i64
    }

    /// Groups that list `id` directly.
    pub fn direct_groups_of(&self, id: &str) -> Vec<&Group> {
        self.groups
            .values()
            .filter(|g| g.members.iter().any(|m| m == id))
            .collect()
    }

    /// Groups that contain `id` directly or through nested groups.
    pub fn transitive_groups_of(&self, id: &str) -> Vec<&Group> {
        let mut found: Vec<&Group> = Vec::new();
        let mut frontier = vec![id.to_string()];
        while let Some(next) = frontier.pop() {
            for g in self.direct_groups_of(&next) {
                if !found.iter().any(|f| f.id == g.id) {
                    found.push(g);
                    frontier.push(g.id.clone());
                }
            }
        }
        found
    }

    /// Members of a group and of every group nested in it, each once.
    pub fn transitive_members(&self, group_id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut frontier = vec![group_id.to_string()];
        let mut seen_groups = vec![group_id.to_string()];
        while let Some(g) = frontier.pop() {
            let Some(group) = self.groups.get(&g) else {
                continue;
            };
            for m in &group.members {
                if !out.contains(m) {
                    out.push(m.clone());
                }
                if self.groups.contains_key(m) && !seen_groups.contains(m) {
                    seen_groups.push(m.clone());
                    frontier.push(m.clone());
                }
            }
        }
        out
    }
}

pub fn upn(u: &User) -> &str {
    u.props
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The SKU ids in a user's `assignedLicenses`.
pub fn license_ids(u: &User) -> Vec<String> {
    u.props
        .get("assignedLicenses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("skuId").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn group_props(
    id: &str,
    name: &str,
    nickname: &str,
    description: Option<&str>,
    mail_enabled: bool,
    security_enabled: bool,
) -> Map<String, Value> {
    let now = now_rfc3339();
    let mut p = Map::new();
    for (k, v) in [
        ("id", json!(id)),
        ("deletedDateTime", Value::Null),
        ("classification", Value::Null),
        ("createdDateTime", json!(now)),
        ("description", json!(description)),
        ("displayName", json!(name)),
        ("expirationDateTime", Value::Null),
        ("groupTypes", json!([])),
        ("isAssignableToRole", Value::Null),
        ("mail", Value::Null),
        ("mailEnabled", json!(mail_enabled)),
        ("mailNickname", json!(nickname)),
        ("membershipRule", Value::Null),
        ("membershipRuleProcessingState", Value::Null),
        ("onPremisesDomainName", Value::Null),
        ("onPremisesLastSyncDateTime", Value::Null),
        ("onPremisesNetBiosName", Value::Null),
        ("onPremisesSamAccountName", Value::Null),
        ("onPremisesSecurityIdentifier", Value::Null),
        ("onPremisesSyncEnabled", Value::Null),
        ("preferredDataLocation", Value::Null),
        ("preferredLanguage", Value::Null),
        ("proxyAddresses", json!([])),
        ("renewedDateTime", json!(now)),
        ("resourceBehaviorOptions", json!([])),
        ("resourceProvisioningOptions", json!([])),
        ("securityEnabled", json!(security_enabled)),
        (
            "securityIdentifier",
            json!(format!("S-1-12-1-{}", id.len() * 7919)),
        ),
        ("theme", Value::Null),
        ("visibility", Value::Null),
        ("onPremisesProvisioningErrors", json!([])),
    ] {
        p.insert(k.into(), v);
    }
    p
}

pub fn timestamp() -> String {
    now_rfc3339()
}
