//! A SCIM User as a Person: the attribute mapping of `triggers.scim.mapping` over defaults that
//! fit Entra's and Google's provisioning clients.
//!
//! | Person | SCIM User (first path with a value) |
//! |---|---|
//! | `id` | `externalId` (Google's user id, Entra's object id or mail nickname: stable across renames), else the SCIM `id` — fixed when the user is created |
//! | `primary_email` | `emails[primary eq true].value`, `emails[type eq "work"].value`, `userName` (Google sends the primary address only as `userName`) |
//! | `personal_email` | `emails[type eq "home"].value` |
//! | `given_name`, `family_name` | `name.givenName`, `name.familyName` |
//! | `full_name` | `name.formatted`, `displayName` |
//! | `title` | `title` |
//! | `department`, `employee_id` | the enterprise extension's `department`, `employeeNumber` |
//! | `manager_email` | the enterprise `manager.value`: the manager's SCIM id, replaced by that user's `primary_email` |
//! | `location` | `addresses[type eq "work"].locality` |
//! | `status` | `active: false` → `suspended`; deleted → `terminated`; else `active` |
//! | `custom.<attribute>` | each attribute of any other extension schema (e.g. Google's `urn:ietf:params:scim:schemas:gsuite:1.0:User`) |

use serde_json::{Map, Value};

use super::path::{get_ci, scope, Path};
use super::{Kind, ENTERPRISE_URN};
use crate::config::{check_field, ScimTrigger};
use crate::person::{Person, PersonStatus};

/// The default paths of each Person field.
const DEFAULTS: &[(&str, &[&str])] = &[
    ("id", &["externalId"]),
    (
        "primary_email",
        &[
            "emails[primary eq true].value",
            "emails[type eq \"work\"].value",
            "userName",
        ],
    ),
    ("personal_email", &["emails[type eq \"home\"].value"]),
    ("given_name", &["name.givenName"]),
    ("family_name", &["name.familyName"]),
    ("full_name", &["name.formatted", "displayName"]),
    ("title", &["title"]),
    (
        "department",
        &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"],
    ),
    (
        "employee_id",
        &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"],
    ),
    (
        "manager_email",
        &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"],
    ),
    ("location", &["addresses[type eq \"work\"].locality"]),
];

/// The compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    fields: Vec<(String, Vec<Path>)>,
    custom_extensions: bool,
}

impl Mapping {
    /// The defaults with `config.mapping` over them; the error names the field.
    pub fn new(config: &ScimTrigger) -> Result<Mapping, (String, String)> {
        let mut fields: Vec<(String, Vec<String>)> = DEFAULTS
            .iter()
            .map(|(f, ps)| (f.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect();
        for (field, paths) in &config.mapping {
            if field == "status" {
                return Err((
                    field.clone(),
                    "status comes from 'active' and cannot be mapped".into(),
                ));
            }
            check_field(field).map_err(|m| (field.clone(), m))?;
            fields.retain(|(f, _)| f != field);
            if let Some(p) = paths {
                fields.push((
                    field.clone(),
                    p.paths().into_iter().map(String::from).collect(),
                ));
            }
        }
        let fields = fields
            .into_iter()
            .map(|(f, ps)| {
                let parsed = ps
                    .iter()
                    .map(|p| Path::parse(p).map_err(|e| (f.clone(), format!("'{p}': {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((f, parsed))
            })
            .collect::<Result<Vec<_>, (String, String)>>()?;
        Ok(Mapping {
            fields,
            custom_extensions: config.custom_extensions,
        })
    }

    /// The first value of `field`'s paths in `user` (a rendered User).
    fn first(&self, field: &str, user: &Value) -> Option<Value> {
        let (_, paths) = self.fields.iter().find(|(f, _)| f == field)?;
        paths.iter().find_map(|p| {
            p.values(user, scope(Kind::User))
                .into_iter()
                .find(|v| !v.is_null() && *v != "")
                .cloned()
        })
    }

    /// The person's id for a User being created: the mapped `id`, else the SCIM id.
    pub fn subject(&self, user: &Value) -> String {
        self.first("id", user)
            .and_then(|v| text(&v))
            .or_else(|| get_ci(user, "id").and_then(text))
            .unwrap_or_default()
    }

    /// The manager's SCIM id, when the mapped `manager_email` is one (not an address).
    pub fn manager_id(&self, user: &Value) -> Option<String> {
        self.first("manager_email", user)
            .and_then(|v| text(&v))
            .filter(|s| !s.contains('@'))
    }

    /// The Person `user` describes, with `subject` as its id. `manager_email` is the manager's
    /// address when the caller resolved `manager_id` (else the mapped value if it is one).
    pub fn person(
        &self,
        user: &Value,
        subject: &str,
        status: PersonStatus,
        manager_email: Option<String>,
    ) -> Value {
        let mut out = Map::new();
        let mut custom = Map::new();
        if self.custom_extensions {
            extension_customs(user, &mut custom);
        }
        for (field, _) in &self.fields {
            let Some(v) = self.first(field, user) else {
                continue;
            };
            match field.strip_prefix("custom.") {
                Some(name) => {
                    custom.insert(name.to_string(), v);
                }
                None if field == "id" || field == "manager_email" => {}
                None => {
                    if let Some(s) = text(&v) {
                        out.insert(field.clone(), Value::String(s));
                    }
                }
            }
        }
        let manager = manager_email.or_else(|| {
            self.first("manager_email", user)
                .and_then(|v| text(&v))
                .filter(|s| s.contains('@'))
        });
        if let Some(m) = manager {
            out.insert("manager_email".into(), Value::String(m));
        }
        out.insert("id".into(), Value::String(subject.to_string()));
        out.insert("custom".into(), Value::Object(custom));
        let mut p: Person = serde_json::from_value(Value::Object(out)).unwrap_or_default();
        p.status = status;
        p.fill_derived();
        p.to_value()
    }
}

/// The status of a stored User.
pub fn status(user: &Value) -> PersonStatus {
    match get_ci(user, "active") {
        Some(Value::Bool(false)) => PersonStatus::Suspended,
        _ => PersonStatus::Active,
    }
}

/// The attributes of extensions other than the enterprise one, as `custom.<attribute>`.
fn extension_customs(user: &Value, custom: &mut Map<String, Value>) {
    let Some(obj) = user.as_object() else { return };
    for (k, v) in obj {
        if !k.starts_with("urn:") || k.eq_ignore_ascii_case(ENTERPRISE_URN) {
            continue;
        }
        match v {
            Value::Object(attrs) => custom.extend(attrs.clone()),
            // `urn:…:User.authnRole` or `urn:…:User:authnRole` as one key.
            other => {
                let name = k.rsplit([':', '.']).next().unwrap_or(k);
                custom.insert(name.to_string(), other.clone());
            }
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(yaml_mapping: &[(&str, Option<&str>)]) -> Mapping {
        let mut c = ScimTrigger::default();
        for (f, p) in yaml_mapping {
            c.mapping.insert(
                f.to_string(),
                p.map(|p| crate::config::ScimPaths::One(p.to_string())),
            );
        }
        Mapping::new(&c).unwrap()
    }

    #[test]
    fn google_and_entra_users_map_with_the_defaults() {
        let m = mapping(&[]);
        let google = json!({
            "id": "s1", "userName": "grace@contoso.com", "externalId": "103456789",
            "name": {"givenName": "Grace", "familyName": "Hopper"}, "displayName": "Grace Hopper",
            "emails": [{"primary": true, "value": "grace@contoso.com", "type": "work"}],
            "active": true,
            "urn:ietf:params:scim:schemas:gsuite:1.0:User": {"authnRole": "admin"},
        });
        assert_eq!(m.subject(&google), "103456789");
        let p = m.person(&google, "103456789", status(&google), None);
        assert_eq!(p["id"], "103456789");
        assert_eq!(p["primary_email"], "grace@contoso.com");
        assert_eq!(p["full_name"], "Grace Hopper");
        assert_eq!(p["custom"]["authnRole"], "admin");
        assert_eq!(p["status"], "active");

        let entra = json!({
            "id": "s2", "userName": "adele@contoso.onmicrosoft.com", "active": false,
            "emails": [{"type": "work", "value": "adele@contoso.com"}],
            ENTERPRISE_URN: {"department": "Retail", "employeeNumber": "E7", "manager": {"value": "s1"}},
        });
        assert_eq!(m.subject(&entra), "s2", "no externalId: the SCIM id");
        assert_eq!(m.manager_id(&entra).as_deref(), Some("s1"));
        let p = m.person(
            &entra,
            "s2",
            status(&entra),
            Some("grace@contoso.com".into()),
        );
        assert_eq!(p["primary_email"], "adele@contoso.com");
        assert_eq!(p["department"], "Retail");
        assert_eq!(p["employee_id"], "E7");
        assert_eq!(p["manager_email"], "grace@contoso.com");
        assert_eq!(p["status"], "suspended");
    }

    #[test]
    fn the_config_replaces_and_drops_defaults() {
        let m = mapping(&[
            (
                "org_unit",
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"),
            ),
            (
                "custom.role",
                Some("urn:ietf:params:scim:schemas:gsuite:1.0:User.authnRole"),
            ),
            ("title", None),
        ]);
        let u = json!({"userName": "a@b", "title": "Boss",
                       ENTERPRISE_URN: {"division": "/Staff"},
                       "urn:ietf:params:scim:schemas:gsuite:1.0:User": {"authnRole": "x"}});
        let p = m.person(&u, "k", PersonStatus::Active, None);
        assert_eq!(p["org_unit"], "/Staff");
        assert_eq!(p["custom"]["role"], "x");
        assert!(p["title"].is_null());
        let mut c = ScimTrigger::default();
        c.mapping.insert("colour".into(), None);
        assert_eq!(Mapping::new(&c).unwrap_err().0, "colour");
        c.mapping.clear();
        c.mapping.insert(
            "title".into(),
            Some(crate::config::ScimPaths::One("emails[type eq".into())),
        );
        assert!(Mapping::new(&c).unwrap_err().1.contains("emails[type eq"));
    }
}
