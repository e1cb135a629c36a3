//! The Google Workspace customer's mutable state: users (as `User` resource maps), deleted
//! users, groups with members, and watch channels; key resolution by id, primary e-mail or alias.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::sandbox::ids;
use crate::sandbox::seed::GoogleSeed;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    /// The writable and service-set fields of the `User` resource, except those below.
    pub body: Map<String, Value>,
    pub aliases: Vec<String>,
    pub is_admin: bool,
    pub password: Option<String>,
    pub etag: String,
    pub visible_at: Instant,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub role: String,
    /// `USER` or `GROUP`.
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub email: String,
    pub name: String,
    pub description: String,
    pub aliases: Vec<String>,
    pub members: Vec<Member>,
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub token: Option<String>,
    pub address: String,
    pub expiration_ms: i64,
    /// The one event watched (`add`, `delete`, `update`, …); `None` watches all.
    pub event: Option<String>,
    pub message_number: u64,
}

pub struct Workspace {
    pub customer_id: String,
    pub domains: Vec<String>,
    pub users: Vec<User>,
    pub deleted: Vec<(User, String)>,
    pub groups: Vec<Group>,
    pub channels: Vec<Channel>,
}

pub fn etag() -> String {
    format!("\"sbx/{}\"", ids::opaque(18))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Workspace {
    pub fn from_seed(seed: &GoogleSeed, now: Instant) -> Workspace {
        let users = seed
            .users
            .iter()
            .map(|u| {
                let mut body = Map::new();
                body.insert("primaryEmail".into(), json!(u.primary_email));
                body.insert(
                    "name".into(),
                    json!({"givenName": u.given_name, "familyName": u.family_name, "fullName": format!("{} {}", u.given_name, u.family_name)}),
                );
                body.insert("orgUnitPath".into(), json!(u.org_unit_path));
                body.insert("suspended".into(), json!(u.suspended));
                if u.suspended {
                    body.insert("suspensionReason".into(), json!("ADMIN"));
                }
                body.insert("emails".into(), json!([{"address": u.primary_email, "primary": true}]));
                if !u.external_ids.is_empty() {
                    body.insert("externalIds".into(), json!(u.external_ids.iter().map(|e| json!({"value": e.value, "type": e.kind})).collect::<Vec<_>>()));
                }
                if u.department.is_some() || u.title.is_some() {
                    let mut org = json!({"primary": true, "type": "work"});
                    if let Some(d) = &u.department {
                        org["department"] = json!(d);
                    }
                    if let Some(t) = &u.title {
                        org["title"] = json!(t);
                    }
                    body.insert("organizations".into(), json!([org]));
                }
                if let Some(m) = &u.manager {
                    body.insert("relations".into(), json!([{"value": m, "type": "manager"}]));
                }
                if let Some(cs) = &u.custom_schemas {
                    body.insert("customSchemas".into(), cs.clone());
                }
                defaults(&mut body, &seed.customer_id);
                User {
                    id: u.id.clone(),
                    body,
                    aliases: u.aliases.clone(),
                    is_admin: seed.admins.iter().any(|a| a.eq_ignore_ascii_case(&u.primary_email)),
                    password: None,
                    etag: etag(),
                    visible_at: now,
                }
            })
            .collect::<Vec<_>>();
        let groups = seed
            .groups
            .iter()
            .map(|g| {
                let member = |email: &String, role: &str| {
                    let user = users
                        .iter()
                        .find(|u| primary_email(u).eq_ignore_ascii_case(email));
                    let group = seed
                        .groups
                        .iter()
                        .find(|x| x.email.eq_ignore_ascii_case(email));
                    let (id, kind) = match (user, group) {
                        (Some(u), _) => (u.id.clone(), "USER"),
                        (None, Some(x)) => (x.id.clone(), "GROUP"),
                        (None, None) => (ids::numeric(), "USER"),
                    };
                    Member {
                        id,
                        email: email.to_ascii_lowercase(),
                        role: role.into(),
                        kind: kind.into(),
                    }
                };
                let mut members: Vec<Member> =
                    g.owners.iter().map(|m| member(m, "OWNER")).collect();
                members.extend(g.members.iter().map(|m| member(m, "MEMBER")));
                Group {
                    id: g.id.clone(),
                    email: g.email.clone(),
                    name: g.name.clone(),
                    description: g.description.clone().unwrap_or_default(),
                    aliases: Vec::new(),
                    members,
                    etag: etag(),
                }
            })
            .collect();
        Workspace {
            customer_id: seed.customer_id.clone(),
            domains: seed.domains.clone(),
            users,
            deleted: Vec::new(),
            groups,
            channels: Vec::new(),
        }
    }

    /// A user by id, primary e-mail or alias (e-mails case-insensitive), replicated or not.
    pub fn find_user_index(&self, key: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.id == key
                || primary_email(u).eq_ignore_ascii_case(key)
                || u.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
        })
    }

    pub fn find_group_index(&self, key: &str) -> Option<usize> {
        self.groups.iter().position(|g| {
            g.id == key
                || g.email.eq_ignore_ascii_case(key)
                || g.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
        })
    }

    /// Whether an address is used by any user, alias or group.
    pub fn email_taken(&self, email: &str) -> bool {
        self.find_user_index(email).is_some() || self.find_group_index(email).is_some()
    }

    pub fn in_domain(&self, email: &str) -> bool {
        email
            .rsplit_once('@')
            .is_some_and(|(_, d)| self.domains.iter().any(|x| x.eq_ignore_ascii_case(d)))
    }

    /// Users in `group_id` directly or through nested groups, each once.
    pub fn derived_members(&self, group_id: &str) -> Vec<Member> {
        let mut out: Vec<Member> = Vec::new();
        let mut seen = vec![group_id.to_string()];
        let mut frontier = vec![group_id.to_string()];
        while let Some(gid) = frontier.pop() {
            let Some(g) = self.groups.iter().find(|g| g.id == gid) else {
                continue;
            };
            for m in &g.members {
                if m.kind == "GROUP" {
                    if !seen.contains(&m.id) {
                        seen.push(m.id.clone());
                        frontier.push(m.id.clone());
                    }
                } else if !out.iter().any(|o| o.id == m.id) {
                    out.push(m.clone());
                }
            }
        }
        out
    }
}

impl Workspace {
    /// Ids of every group nested (at any depth) inside `group_id`.
    pub fn derived_groups(&self, group_id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut frontier = vec![group_id.to_string()];
        while let Some(gid) = frontier.pop() {
            let Some(g) = self.groups.iter().find(|g| g.id == gid) else {
                continue;
            };
            for m in g.members.iter().filter(|m| m.kind == "GROUP") {
                if !out.contains(&m.id) {
                    out.push(m.id.clone());
                    frontier.push(m.id.clone());
                }
            }
        }
        out
    }
}

pub fn primary_email(u: &User) -> &str {
    u.body
        .get("primaryEmail")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Service-set fields a new user has.
pub fn defaults(body: &mut Map<String, Value>, customer_id: &str) {
    let now = now_rfc3339();
    for (k, v) in [
        ("isDelegatedAdmin", json!(false)),
        ("lastLoginTime", json!("1970-01-01T00:00:00.000Z")),
        ("creationTime", json!(now)),
        ("agreedToTerms", json!(false)),
        ("suspended", json!(false)),
        ("archived", json!(false)),
        ("changePasswordAtNextLogin", json!(false)),
        ("ipWhitelisted", json!(false)),
        ("customerId", json!(customer_id)),
        ("orgUnitPath", json!("/")),
        ("isMailboxSetup", json!(true)),
        ("isEnrolledIn2Sv", json!(false)),
        ("isEnforcedIn2Sv", json!(false)),
        ("includeInGlobalAddressList", json!(true)),
    ] {
        body.entry(k).or_insert(v);
    }
}
