//! A Google Directory `User` as a Person (source `google`):
//!
//! | Person | Directory user |
//! |---|---|
//! | `id` | `id` (immutable; an e-mail can be renamed) |
//! | `primary_email` | `primaryEmail` |
//! | `personal_email` | the `emails[]` entry of type `home` |
//! | `given_name`, `family_name`, `full_name` | `name.givenName`, `name.familyName`, `name.fullName` |
//! | `department`, `title`, `location` | the primary `organizations[]` entry (else the first): `department`, `title`, `location` |
//! | `org_unit` | `orgUnitPath` |
//! | `employee_id` | the `externalIds[]` entry of type `organization` |
//! | `manager_email` | the `relations[]` entry of type `manager` |
//! | `status` | `terminated` if `archived` (or deleted), `suspended` if `suspended`, else `active` |
//! | `custom.<schema>` | `customSchemas.<schema>` (a map of its fields) |

use serde_json::{Map, Value};

use crate::person::{Person, PersonStatus};

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The first entry of the array `key` whose `type` is `kind`.
fn typed_entry<'v>(user: &'v Value, key: &str, kind: &str) -> Option<&'v Value> {
    user.get(key)?
        .as_array()?
        .iter()
        .find(|e| str_at(e, "type") == Some(kind))
}

/// The Person a Directory user describes; `None` without an `id`.
pub fn person(user: &Value) -> Option<Value> {
    let id = str_at(user, "id")?;
    let name = user.get("name").cloned().unwrap_or(Value::Null);
    let orgs = user.get("organizations").and_then(Value::as_array);
    let org = orgs.and_then(|o| {
        o.iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| o.first())
    });
    let org_field = |k: &str| org.and_then(|o| str_at(o, k)).map(String::from);
    let status =
        if user.get("archived") == Some(&Value::Bool(true)) || user.get("deletionTime").is_some() {
            PersonStatus::Terminated
        } else if user.get("suspended") == Some(&Value::Bool(true)) {
            PersonStatus::Suspended
        } else {
            PersonStatus::Active
        };
    let custom: Map<String, Value> = user
        .get("customSchemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut p = Person {
        id: Some(id.to_string()),
        primary_email: str_at(user, "primaryEmail").map(String::from),
        personal_email: typed_entry(user, "emails", "home")
            .and_then(|e| str_at(e, "address"))
            .map(String::from),
        given_name: str_at(&name, "givenName").map(String::from),
        family_name: str_at(&name, "familyName").map(String::from),
        full_name: str_at(&name, "fullName").map(String::from),
        department: org_field("department"),
        title: org_field("title"),
        location: org_field("location"),
        manager_email: typed_entry(user, "relations", "manager")
            .and_then(|e| str_at(e, "value"))
            .map(String::from),
        employee_id: typed_entry(user, "externalIds", "organization")
            .and_then(|e| str_at(e, "value"))
            .map(String::from),
        org_unit: str_at(user, "orgUnitPath").map(String::from),
        start_date: None,
        end_date: None,
        status,
        custom,
    };
    p.fill_derived();
    Some(p.to_value())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_directory_user_maps_onto_a_person() {
        let p = person(&json!({
            "id": "1001", "primaryEmail": "grace@contoso.com",
            "name": {"givenName": "Grace", "familyName": "Hopper", "fullName": "Grace Hopper"},
            "organizations": [{"department": "Ops"}, {"department": "Engineering", "title": "Admiral", "primary": true}],
            "orgUnitPath": "/Engineering", "suspended": true,
            "externalIds": [{"type": "custom", "value": "x"}, {"type": "organization", "value": "E2002"}],
            "relations": [{"type": "manager", "value": "ada@contoso.com"}],
            "emails": [{"address": "grace@contoso.com", "primary": true}, {"address": "g@home.example", "type": "home"}],
        }))
        .unwrap();
        assert_eq!(p["id"], "1001");
        assert_eq!(p["department"], "Engineering");
        assert_eq!(p["title"], "Admiral");
        assert_eq!(p["employee_id"], "E2002");
        assert_eq!(p["manager_email"], "ada@contoso.com");
        assert_eq!(p["personal_email"], "g@home.example");
        assert_eq!(p["org_unit"], "/Engineering");
        assert_eq!(p["status"], "suspended");
        let archived = person(&json!({"id": "1", "archived": true, "suspended": true})).unwrap();
        assert_eq!(archived["status"], "terminated");
        assert!(person(&json!({"primaryEmail": "x@y"})).is_none());
    }
}
