//! An Entra ID user (Graph `user`, as `/users/delta` gives it) as a Person (source `entra`):
//!
//! | Person | Graph user |
//! |---|---|
//! | `id` | `id` (immutable; a UPN can change) |
//! | `primary_email` | `userPrincipalName` |
//! | `given_name`, `family_name`, `full_name` | `givenName`, `surname`, `displayName` |
//! | `department`, `title`, `employee_id`, `location` | `department`, `jobTitle`, `employeeId`, `officeLocation` |
//! | `status` | `suspended` when `accountEnabled` is false, else `active` (`terminated` when deleted or out of scope) |
//! | `custom.entra` | the Graph properties as read (`userPrincipalName`, `mail`, `userType`, …), for the address mapping |
//! | `custom.groups` | display names of the groups the user is a direct member of, sorted |

use serde_json::{json, Map, Value};

use crate::person::{Person, PersonStatus};

/// The properties the poller selects.
pub const SELECT: &str = "id,userPrincipalName,mail,givenName,surname,displayName,accountEnabled,\
department,jobTitle,employeeId,officeLocation,userType";

fn text(user: &Map<String, Value>, key: &str) -> Option<String> {
    user.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The Graph properties a person was built from (`custom.entra`), for merging a partial delta
/// item (Graph may send only what changed) over them.
pub fn raw(person: &Value) -> Map<String, Value> {
    person
        .pointer("/custom/entra")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The Person a Graph user describes, with its groups; `None` without an `id`.
pub fn person(user: &Map<String, Value>, groups: &[String]) -> Option<Value> {
    let id = text(user, "id")?;
    let status = if user.get("accountEnabled") == Some(&Value::Bool(false)) {
        PersonStatus::Suspended
    } else {
        PersonStatus::Active
    };
    let mut custom = Map::new();
    custom.insert("entra".into(), Value::Object(user.clone()));
    custom.insert("groups".into(), json!(groups));
    let mut p = Person {
        id: Some(id),
        primary_email: text(user, "userPrincipalName"),
        personal_email: None,
        given_name: text(user, "givenName"),
        family_name: text(user, "surname"),
        full_name: text(user, "displayName"),
        department: text(user, "department"),
        title: text(user, "jobTitle"),
        manager_email: None,
        employee_id: text(user, "employeeId"),
        org_unit: None,
        location: text(user, "officeLocation"),
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

    #[test]
    fn a_graph_user_maps_onto_a_person_with_its_raw_properties() {
        let u = json!({"id": "u1", "userPrincipalName": "jane@contoso.com", "givenName": "Jane",
            "surname": "Doe", "displayName": "Jane Doe", "accountEnabled": false,
            "jobTitle": "Analyst", "mail": null, "userType": "Member"});
        let p = person(u.as_object().unwrap(), &["Finance".into()]).unwrap();
        assert_eq!(p["primary_email"], "jane@contoso.com");
        assert_eq!(p["status"], "suspended");
        assert_eq!(p["title"], "Analyst");
        assert_eq!(p["custom"]["groups"], json!(["Finance"]));
        assert_eq!(raw(&p)["userType"], "Member");
    }
}
