#![allow(clippy::panic)]
use serde_json::{json, Map, Value};

use super::*;
use crate::scim::resource::normalize;

/// `resource` after the PATCH `body`, normalised as the endpoint stores it.
fn patched(kind: Kind, resource: Value, body: Value) -> Result<Value, ScimError> {
    let Value::Object(mut r) = resource else {
        panic!("not an object")
    };
    let ops = parse(&body)?;
    apply(&mut r, kind, &ops)?;
    normalize(kind, r).map(|m| {
        let mut m: Map<String, Value> = m;
        m.remove("schemas");
        Value::Object(m)
    })
}

fn ops(list: Value) -> Value {
    json!({"schemas": [crate::scim::PATCH_URN], "Operations": list})
}

#[test]
fn entra_default_job_disables_with_a_string_boolean_and_capitalised_ops() {
    let u = json!({"userName": "ada", "active": true, "title": "Dev"});
    let v = patched(
        Kind::User,
        u,
        ops(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "title", "value": "Lead"},
            {"op": "Add", "path": "name.givenName", "value": "Ada"},
        ])),
    )
    .unwrap();
    assert_eq!(
        v,
        json!({"userName": "ada", "active": false, "title": "Lead", "name": {"givenName": "Ada"}})
    );
}

#[test]
fn entra_flagged_job_sends_one_pathless_replace_with_dotted_keys() {
    let u = json!({"userName": "ada", "name": {"givenName": "A", "familyName": "L"}});
    let v = patched(
        Kind::User,
        u,
        ops(json!([{"op": "replace", "value": {
            "active": false,
            "name.givenName": "Ada",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "E1",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "m"},
        }}])),
    )
    .unwrap();
    assert_eq!(v["name"], json!({"givenName": "Ada", "familyName": "L"}));
    assert_eq!(v["active"], false);
    assert_eq!(
        v[ENTERPRISE_URN],
        json!({"employeeNumber": "E1", "manager": {"value": "m"}})
    );
}

#[test]
fn members_are_added_once_and_removed_in_both_entra_forms() {
    let g = json!({"displayName": "G", "members": [{"value": "u1"}]});
    let g = patched(
        Kind::Group,
        g,
        ops(json!([
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u1"}, {"value": "u2"}, {"value": "u3"}]},
        ])),
    )
    .unwrap();
    assert_eq!(
        g["members"],
        json!([{"value": "u1"}, {"value": "u2"}, {"value": "u3"}])
    );
    let g = patched(
        Kind::Group,
        g,
        ops(json!([
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": "members[value eq \"u3\"]"},
            {"op": "remove", "path": "members[value eq \"nobody\"]"},
        ])),
    )
    .unwrap();
    assert_eq!(g["members"], json!([{"value": "u2"}]));
    let g = patched(
        Kind::Group,
        g,
        ops(json!([{"op": "remove", "path": "members"}])),
    )
    .unwrap();
    assert!(g.get("members").is_none());
}

#[test]
fn filtered_paths_replace_create_and_remove_entries() {
    let u = json!({"userName": "a", "emails": [{"type": "work", "value": "a@w"}, {"type": "home", "value": "a@h"}]});
    let v = patched(
        Kind::User,
        u,
        ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@w"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"},
            {"op": "Add", "path": "manager", "value": [{"$ref": "https://x/Users/m", "value": "m"}]},
            {"op": "remove", "path": "emails[type eq \"home\"]"},
        ])),
    )
    .unwrap();
    assert_eq!(v["emails"], json!([{"type": "work", "value": "new@w"}]));
    assert_eq!(
        v["phoneNumbers"],
        json!([{"type": "work", "value": "+1 555"}])
    );
    assert_eq!(
        v[ENTERPRISE_URN]["manager"],
        json!({"$ref": "https://x/Users/m", "value": "m"})
    );
}

#[test]
fn extensions_are_added_replaced_and_removed_whole() {
    let u = json!({"userName": "a"});
    let v = patched(
        Kind::User,
        u,
        ops(json!([{"op": "add", "path": ENTERPRISE_URN, "value": {"department": "D", "costCenter": "C"}}])),
    )
    .unwrap();
    assert_eq!(
        v[ENTERPRISE_URN],
        json!({"department": "D", "costCenter": "C"})
    );
    let v = patched(
        Kind::User,
        v,
        ops(json!([{"op": "remove", "path": format!("{ENTERPRISE_URN}:department")}])),
    )
    .unwrap();
    assert_eq!(v[ENTERPRISE_URN], json!({"costCenter": "C"}));
    let v = patched(
        Kind::User,
        v,
        ops(json!([{"op": "remove", "path": ENTERPRISE_URN}])),
    )
    .unwrap();
    assert!(v.get(ENTERPRISE_URN).is_none());
}

#[test]
fn bad_operations_say_why() {
    let u = json!({"userName": "a"});
    let e = |body: Value| patched(Kind::User, u.clone(), body).unwrap_err();
    assert_eq!(
        e(json!({"Operations": []})).scim_type,
        Some("invalidSyntax")
    );
    assert_eq!(
        e(ops(json!([{"op": "move", "path": "title"}]))).scim_type,
        Some("invalidSyntax")
    );
    assert_eq!(
        e(ops(json!([{"op": "remove"}]))).scim_type,
        Some("noTarget")
    );
    assert_eq!(
        e(ops(json!([{"op": "add", "path": "emails[type eq"}]))).scim_type,
        Some("invalidPath")
    );
    assert_eq!(
        e(ops(json!([{"op": "replace", "path": "id", "value": "x"}]))).scim_type,
        Some("mutability")
    );
    assert_eq!(
        e(ops(
            json!([{"op": "replace", "path": "emails[type pr].value", "value": "x"}])
        ))
        .scim_type,
        Some("noTarget")
    );
    assert_eq!(
        e(ops(
            json!([{"op": "replace", "path": "userName", "value": ""}])
        ))
        .scim_type,
        Some("invalidValue")
    );
}
