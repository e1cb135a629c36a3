//! A resource as stored and as served. `normalize` turns what a client wrote into the stored
//! form: attribute names as the schema spells them (clients may use any case), booleans sent
//! as strings coerced (`"False"` → `false`), a single value of a multi-valued attribute put in a
//! list (and a one-item list of a single-valued one unwrapped: Entra sends `manager` as a list),
//! `null`s and empty lists dropped (unassigned, RFC 7643 §2.5), read-only attributes (`id`,
//! `meta`, `groups`) ignored, `password` never stored, enterprise attributes sent without their
//! URN moved into the extension, and `schemas` recomputed from the extensions present (Google's
//! `urn:scim:schemas:core:1.0` is dropped with it). `render` adds `id` and `meta`; `project`
//! applies `attributes` / `excludedAttributes`.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::path::{key_ci, Path};
use super::schema::{self, AttrDef};
use super::{Kind, ENTERPRISE_URN};

/// The stored form of a resource's attributes (see the module docs). Fails on a value of the
/// wrong type for a known attribute, and on a missing `userName` / `displayName`.
pub fn normalize(kind: Kind, body: Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, v) in body {
        let lower = key.to_ascii_lowercase();
        if v.is_null() || ["id", "meta", "schemas", "password"].contains(&lower.as_str()) {
            continue;
        }
        if lower.starts_with("urn:") {
            if lower == kind.core_urn().to_ascii_lowercase() {
                // The core schema's attributes written under its URN: the resource's own.
                if let Value::Object(inner) = v {
                    for (k, x) in normalize_attrs(kind, None, inner)? {
                        out.insert(k, x);
                    }
                }
                continue;
            }
            match schema::extension(kind, &key) {
                Some(ext) => {
                    let Value::Object(inner) = v else {
                        return Err(ScimError::bad(
                            "invalidValue",
                            format!("'{ext}' is an object of the extension's attributes"),
                        ));
                    };
                    let attrs = normalize_attrs(kind, Some(ext), inner)?;
                    merge_into(&mut out, ext, attrs);
                }
                None => {
                    let v = drop_empty(v);
                    if !v.is_null() {
                        out.insert(key, v);
                    }
                }
            }
            continue;
        }
        let (urn, def) = match schema::attribute(kind, None, &key) {
            Some(d) => (None, Some(d)),
            None if kind == Kind::User => match schema::attribute(kind, Some(ENTERPRISE_URN), &key)
            {
                Some(d) => (Some(ENTERPRISE_URN), Some(d)),
                None => (None, None),
            },
            None => (None, None),
        };
        match (urn, def) {
            (_, Some(d)) if d.is_read_only() => {}
            (None, Some(d)) => {
                let v = value_for(d, v)?;
                if !v.is_null() {
                    out.insert(d.name.clone(), v);
                }
            }
            (Some(ext), Some(d)) => {
                let v = value_for(d, v)?;
                if !v.is_null() {
                    let mut m = Map::new();
                    m.insert(d.name.clone(), v);
                    merge_into(&mut out, ext, m);
                }
            }
            (_, None) => {
                let v = drop_empty(v);
                if !v.is_null() {
                    out.insert(key, v);
                }
            }
        }
    }
    let required = kind.name_attr();
    match out.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ScimError::bad(
                "invalidValue",
                format!("'{required}' is required"),
            ))
        }
    }
    let mut schemas = vec![Value::String(kind.core_urn().into())];
    schemas.extend(
        out.iter()
            .filter(|(k, v)| k.starts_with("urn:") && v.is_object())
            .map(|(k, _)| Value::String(k.clone())),
    );
    let mut with_schemas = Map::new();
    with_schemas.insert("schemas".into(), Value::Array(schemas));
    with_schemas.extend(out);
    Ok(with_schemas)
}

fn merge_into(out: &mut Map<String, Value>, ext: &str, attrs: Map<String, Value>) {
    if attrs.is_empty() {
        return;
    }
    match out.get_mut(ext) {
        Some(Value::Object(m)) => m.extend(attrs),
        _ => {
            out.insert(ext.to_string(), Value::Object(attrs));
        }
    }
}

fn normalize_attrs(
    kind: Kind,
    urn: Option<&str>,
    attrs: Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (k, v) in attrs {
        match schema::attribute(kind, urn, &k) {
            Some(d) if d.is_read_only() => {}
            Some(d) => {
                let v = value_for(d, v)?;
                if !v.is_null() {
                    out.insert(d.name.clone(), v);
                }
            }
            None => {
                let v = drop_empty(v);
                if !v.is_null() {
                    out.insert(k, v);
                }
            }
        }
    }
    Ok(out)
}

/// A value of attribute `def` in stored form; `Null` when it is unassigned.
fn value_for(def: &AttrDef, v: Value) -> Result<Value, ScimError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if def.multi_valued {
        let items = match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        let items: Vec<Value> = items
            .into_iter()
            .map(|x| item_for(def, x))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|x| !x.is_null())
            .collect();
        return Ok(if items.is_empty() {
            Value::Null
        } else {
            Value::Array(items)
        });
    }
    let v = match v {
        Value::Array(mut a) if a.len() == 1 => a.remove(0),
        Value::Array(a) if a.is_empty() => Value::Null,
        other => other,
    };
    item_for(def, v)
}

fn item_for(def: &AttrDef, v: Value) -> Result<Value, ScimError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    if !def.is_complex() {
        return scalar(def, v);
    }
    let Value::Object(obj) = v else {
        return Err(wrong(def, "an object"));
    };
    let mut out = Map::new();
    for (k, x) in obj {
        match def.sub(&k) {
            Some(sd) => {
                let x = scalar(sd, x)?;
                if !x.is_null() {
                    out.insert(sd.name.clone(), x);
                }
            }
            None if !x.is_null() => {
                out.insert(k, x);
            }
            None => {}
        }
    }
    Ok(if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    })
}

fn scalar(def: &AttrDef, v: Value) -> Result<Value, ScimError> {
    match (def.kind.as_str(), v) {
        (_, Value::Null) => Ok(Value::Null),
        ("boolean", Value::Bool(b)) => Ok(Value::Bool(b)),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        ("boolean", _) => Err(wrong(def, "true or false")),
        ("string" | "reference" | "binary" | "dateTime", Value::String(s)) => Ok(Value::String(s)),
        ("string" | "reference" | "binary" | "dateTime", _) => Err(wrong(def, "a string")),
        ("integer" | "decimal", Value::Number(n)) => Ok(Value::Number(n)),
        ("integer" | "decimal", _) => Err(wrong(def, "a number")),
        (_, other) => Ok(other),
    }
}

fn wrong(def: &AttrDef, want: &str) -> ScimError {
    ScimError::bad("invalidValue", format!("'{}' must be {want}", def.name))
}

fn drop_empty(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let a: Vec<Value> = a
                .into_iter()
                .map(drop_empty)
                .filter(|x| !x.is_null())
                .collect();
            if a.is_empty() {
                Value::Null
            } else {
                Value::Array(a)
            }
        }
        Value::Object(o) => {
            let o: Map<String, Value> = o
                .into_iter()
                .map(|(k, x)| (k, drop_empty(x)))
                .filter(|(_, x)| !x.is_null())
                .collect();
            if o.is_empty() {
                Value::Null
            } else {
                Value::Object(o)
            }
        }
        other => other,
    }
}

/// `meta` of a stored resource.
pub struct Meta<'a> {
    pub created: &'a str,
    pub last_modified: &'a str,
    pub location: &'a str,
    pub version: i64,
}

/// The weak ETag of a version (`meta.version` and the `ETag` header).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The resource as served: `schemas`, `id`, its attributes, `meta`.
pub fn render(kind: Kind, id: &str, body: &Map<String, Value>, meta: &Meta<'_>) -> Value {
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        body.get("schemas")
            .cloned()
            .unwrap_or_else(|| json!([kind.core_urn()])),
    );
    out.insert("id".into(), Value::String(id.into()));
    for (k, v) in body {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": etag(meta.version),
        }),
    );
    Value::Object(out)
}

/// `attributes` (only these, with `schemas` and `id`) or `excludedAttributes` (all but these).
pub fn project(resource: Value, attributes: &[Path], excluded: &[Path]) -> Value {
    let Value::Object(mut full) = resource else {
        return resource;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for k in ["schemas", "id"] {
            if let Some(v) = full.remove(k) {
                out.insert(k.into(), v);
            }
        }
        for p in attributes {
            copy_path(&full, &mut out, p);
        }
        return Value::Object(out);
    }
    for p in excluded {
        if p.urn.is_none()
            && ["schemas", "id"]
                .iter()
                .any(|k| p.attr.eq_ignore_ascii_case(k))
        {
            continue;
        }
        remove_path(&mut full, p);
    }
    Value::Object(full)
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, p: &Path) {
    let (src, dst) = match &p.urn {
        None => (Some(from), to),
        Some(u) => {
            let Some(k) = key_ci(from, u) else { return };
            if p.attr.is_empty() {
                to.insert(k.clone(), from[&k].clone());
                return;
            }
            let dst = match to.entry(k.clone()).or_insert_with(|| json!({})) {
                Value::Object(m) => m,
                _ => return,
            };
            (from.get(&k).and_then(Value::as_object), dst)
        }
    };
    let Some(src) = src else { return };
    let Some(k) = key_ci(src, &p.attr) else {
        return;
    };
    let v = &src[&k];
    match &p.sub {
        None => {
            dst.insert(k, v.clone());
        }
        Some(s) => {
            let pick = |e: &Value| -> Option<Value> {
                let obj = e.as_object()?;
                let sk = key_ci(obj, s)?;
                let mut m = Map::new();
                m.insert(sk.clone(), obj[&sk].clone());
                Some(Value::Object(m))
            };
            let picked = match v {
                Value::Array(items) => Some(Value::Array(items.iter().filter_map(pick).collect())),
                other => pick(other),
            };
            if let Some(x) = picked {
                dst.insert(k, x);
            }
        }
    }
}

fn remove_path(full: &mut Map<String, Value>, p: &Path) {
    let target = match &p.urn {
        None => Some(full),
        Some(u) => {
            let Some(k) = key_ci(full, u) else { return };
            if p.attr.is_empty() {
                full.remove(&k);
                return;
            }
            full.get_mut(&k).and_then(Value::as_object_mut)
        }
    };
    let Some(obj) = target else { return };
    let Some(k) = key_ci(obj, &p.attr) else {
        return;
    };
    match &p.sub {
        None => {
            obj.remove(&k);
        }
        Some(s) => {
            let strip = |e: &mut Value| {
                if let Some(o) = e.as_object_mut() {
                    if let Some(sk) = key_ci(o, s) {
                        o.remove(&sk);
                    }
                }
            };
            match obj.get_mut(&k) {
                Some(Value::Array(items)) => items.iter_mut().for_each(strip),
                Some(other) => strip(other),
                None => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn norm(kind: Kind, v: Value) -> Result<Value, ScimError> {
        let Value::Object(m) = v else {
            panic!("not an object")
        };
        normalize(kind, m).map(Value::Object)
    }

    #[test]
    fn what_entra_and_google_write_is_stored_in_one_form() {
        let v = norm(
            Kind::User,
            json!({
                "schemas": ["urn:scim:schemas:core:1.0", "urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
                "id": "ignored", "UserName": "ada@contoso.com", "ACTIVE": "False",
                "emails": {"Value": "ada@contoso.com", "primary": "True", "type": "work"},
                "addresses": null, "password": "s3cr3t", "groups": [{"value": "g"}],
                "manager": [{"$ref": null, "value": "m1"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": {"Department": "R&D"},
                "urn:ietf:params:scim:schemas:gsuite:1.0:User": {"authnRole": "admin"},
            }),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_URN,
                            "urn:ietf:params:scim:schemas:gsuite:1.0:User"],
                "userName": "ada@contoso.com", "active": false,
                "emails": [{"value": "ada@contoso.com", "primary": true, "type": "work"}],
                ENTERPRISE_URN: {"manager": {"value": "m1"}, "department": "R&D"},
                "urn:ietf:params:scim:schemas:gsuite:1.0:User": {"authnRole": "admin"},
            })
        );
    }

    #[test]
    fn required_and_typed_attributes_are_checked() {
        let e = norm(Kind::User, json!({"name": {"givenName": "A"}})).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some("invalidValue")));
        let e = norm(Kind::User, json!({"userName": "a", "active": "maybe"})).unwrap_err();
        assert!(e.detail.contains("active"), "{e}");
        assert!(norm(Kind::Group, json!({"displayName": " "})).is_err());
    }

    #[test]
    fn projection_keeps_schemas_and_id() {
        let r = json!({"schemas": ["s"], "id": "1", "userName": "u", "title": "t",
                       "name": {"givenName": "A", "familyName": "B"},
                       ENTERPRISE_URN: {"department": "D", "costCenter": "C"}});
        let only = |a: &[&str]| {
            let paths: Vec<Path> = a.iter().map(|p| Path::parse(p).unwrap()).collect();
            project(r.clone(), &paths, &[])
        };
        assert_eq!(
            only(&["USERNAME"]),
            json!({"schemas": ["s"], "id": "1", "userName": "u"})
        );
        assert_eq!(
            only(&["name.familyName", &format!("{ENTERPRISE_URN}:department")]),
            json!({"schemas": ["s"], "id": "1", "name": {"familyName": "B"},
                   ENTERPRISE_URN: {"department": "D"}})
        );
        let ex = [Path::parse("title").unwrap(), Path::parse("id").unwrap()];
        let v = project(r.clone(), &[], &ex);
        assert!(v.get("title").is_none() && v["id"] == "1");
    }
}
