//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied to a stored
//! resource, in order, all or nothing (the caller stores the result only when every operation
//! applied).
//!
//! Besides the RFC's forms, what the big clients send: Entra's capitalised op names (`Add`,
//! `Replace`, `Remove`), booleans as strings (`"False"`, coerced later by `resource::normalize`),
//! a path-less `replace` whose value has dotted keys (`"name.givenName"`,
//! `"urn:…:enterprise:2.0:User:employeeNumber"`), member removal as a `remove` of `members`
//! with the members in `value`, `manager` without its extension URN, and an `add` to
//! `emails[type eq "work"].value` when there is no work e-mail yet (the entry is created).

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{Filter, Op};
use super::path::{get_ci, key_ci, scope, Path};
use super::{schema, Kind, ENTERPRISE_URN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<Path>,
    pub value: Option<Value>,
}

/// The operations of a `PatchOp` body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let syntax = |m: &str| ScimError::bad("invalidSyntax", m.to_string());
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| syntax("a PATCH body is a PatchOp with a non-empty 'Operations' list"))?;
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(s) if s == "add" => OpKind::Add,
                Some(s) if s == "replace" => OpKind::Replace,
                Some(s) if s == "remove" => OpKind::Remove,
                _ => {
                    return Err(syntax(&format!(
                        "Operations[{i}].op must be add, replace or remove"
                    )))
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(Path::parse(p.trim()).map_err(|e| {
                    ScimError::bad("invalidPath", format!("Operations[{i}].path: {e}"))
                })?),
                Some(_) => return Err(syntax(&format!("Operations[{i}].path must be a string"))),
            };
            let value = get_ci(o, "value").cloned();
            if op != OpKind::Remove && value.is_none() {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("Operations[{i}]: '{}' needs a value", o["op"]),
                ));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies `ops` to `resource` (its attributes, without `id` and `meta`).
pub fn apply(
    resource: &mut Map<String, Value>,
    kind: Kind,
    ops: &[Operation],
) -> Result<(), ScimError> {
    for o in ops {
        match (&o.path, o.op) {
            (None, OpKind::Remove) => {
                return Err(ScimError::bad("noTarget", "a 'remove' needs a path"))
            }
            (None, op) => {
                let Some(Value::Object(values)) = &o.value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "an operation without a path takes an object of attributes",
                    ));
                };
                for (key, v) in values {
                    let path = Path::parse(key).map_err(|e| ScimError::bad("invalidPath", e))?;
                    at_path(resource, kind, op, &path, Some(v))?;
                }
            }
            (Some(path), op) => at_path(resource, kind, op, path, o.value.as_ref())?,
        }
    }
    Ok(())
}

fn no_target(path: &Path) -> ScimError {
    ScimError::bad(
        "noTarget",
        format!("nothing in the resource matches '{path}'"),
    )
}

/// `manager` and the other enterprise attributes may come without their URN.
fn resolve_urn(kind: Kind, path: &Path) -> Option<String> {
    if path.urn.is_none()
        && kind == Kind::User
        && schema::attribute(kind, None, &path.attr).is_none()
        && schema::attribute(kind, Some(ENTERPRISE_URN), &path.attr).is_some()
    {
        return Some(ENTERPRISE_URN.to_string());
    }
    path.urn.clone()
}

fn at_path(
    resource: &mut Map<String, Value>,
    kind: Kind,
    op: OpKind,
    path: &Path,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let urn = resolve_urn(kind, path);
    if path.is_extension_root() {
        return extension_root(resource, kind, op, path, value);
    }
    let def = schema::attribute(kind, urn.as_deref(), &path.attr);
    if def.is_some_and(|d| d.is_read_only()) {
        return Err(ScimError::bad(
            "mutability",
            format!("'{}' is read-only", path.attr),
        ));
    }
    {
        // The object holding the attribute: the resource or its extension object.
        let container = match &urn {
            None => &mut *resource,
            Some(u) => {
                let key = key_ci(resource, u).unwrap_or_else(|| u.clone());
                if op == OpKind::Remove && !resource.contains_key(&key) {
                    return Ok(());
                }
                match resource
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    Value::Object(m) => m,
                    other => {
                        *other = Value::Object(Map::new());
                        match other {
                            Value::Object(m) => m,
                            _ => return Err(ScimError::internal("extension is not an object")),
                        }
                    }
                }
            }
        };
        let name = def.map_or(path.attr.as_str(), |d| d.name.as_str());
        let key = key_ci(container, &path.attr).unwrap_or_else(|| name.to_string());
        let multi = def.map_or_else(
            || {
                container.get(&key).is_some_and(Value::is_array)
                    || value.is_some_and(Value::is_array)
            },
            |d| d.multi_valued,
        );
        let complex = def.map_or_else(|| value.is_some_and(Value::is_object), |d| d.is_complex());
        match (&path.filter, &path.sub) {
            (None, None) => whole(container, &key, op, multi, complex, value),
            (None, Some(sub)) => sub_attribute(container, &key, op, sub, value, path),
            (Some(filter), sub) => {
                let s = scope(kind).within(urn.as_deref(), &path.attr);
                filtered(
                    container,
                    &key,
                    op,
                    filter,
                    sub.as_deref(),
                    value,
                    path,
                    |e| filter.matches(e, s),
                )
            }
        }?;
    }
    if let Some(u) = urn {
        drop_if_empty(resource, &u);
    }
    Ok(())
}

/// `add`/`replace` merge into a whole extension; `remove` drops it.
fn extension_root(
    resource: &mut Map<String, Value>,
    kind: Kind,
    op: OpKind,
    path: &Path,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let urn = path.urn.clone().unwrap_or_default();
    if op == OpKind::Remove {
        if let Some(k) = key_ci(resource, &urn) {
            resource.remove(&k);
        }
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::bad(
            "invalidValue",
            format!("the value of extension '{urn}' is an object of its attributes"),
        ));
    };
    for (k, v) in values {
        let sub =
            Path::parse(&format!("{urn}:{k}")).map_err(|e| ScimError::bad("invalidPath", e))?;
        at_path(resource, kind, op, &sub, Some(v))?;
    }
    Ok(())
}

/// Two values of a multi-valued attribute are the same when their `value`s are, else when
/// they are equal.
fn same(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

fn whole(
    container: &mut Map<String, Value>,
    key: &str,
    op: OpKind,
    multi: bool,
    complex: bool,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    match (op, value) {
        (OpKind::Remove, Some(v)) if multi => {
            // Entra: `{"op":"Remove","path":"members","value":[{"value":"u1"}]}`.
            let gone = items(v);
            if let Some(Value::Array(list)) = container.get_mut(key) {
                list.retain(|e| !gone.iter().any(|g| same(e, g)));
            }
        }
        (OpKind::Remove, _) => {
            container.remove(key);
        }
        (OpKind::Add, Some(v)) if multi => {
            let list = match container
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(vec![]))
            {
                Value::Array(l) => l,
                other => {
                    *other = Value::Array(vec![other.clone()]);
                    match other {
                        Value::Array(l) => l,
                        _ => return Err(ScimError::internal("not a list")),
                    }
                }
            };
            for item in items(v) {
                if !list.iter().any(|e| same(e, &item)) {
                    list.push(item);
                }
            }
        }
        (OpKind::Replace, Some(v)) if multi => {
            container.insert(key.to_string(), Value::Array(items(v)));
        }
        (_, Some(Value::Object(new))) if complex => match container.get_mut(key) {
            // A complex attribute: the given sub-attributes replace theirs, the others stay.
            Some(Value::Object(old)) => {
                for (k, v) in new {
                    let k = key_ci(old, k).unwrap_or_else(|| k.clone());
                    old.insert(k, v.clone());
                }
            }
            _ => {
                container.insert(key.to_string(), Value::Object(new.clone()));
            }
        },
        (_, Some(v)) => {
            container.insert(key.to_string(), v.clone());
        }
        (_, None) => {
            return Err(ScimError::bad(
                "invalidValue",
                "the operation needs a value",
            ))
        }
    }
    Ok(())
}

fn sub_attribute(
    container: &mut Map<String, Value>,
    key: &str,
    op: OpKind,
    sub: &str,
    value: Option<&Value>,
    path: &Path,
) -> Result<(), ScimError> {
    let set = |obj: &mut Map<String, Value>| match (op, value) {
        (OpKind::Remove, _) => {
            if let Some(k) = key_ci(obj, sub) {
                obj.remove(&k);
            }
        }
        (_, Some(v)) => {
            let k = key_ci(obj, sub).unwrap_or_else(|| sub.to_string());
            obj.insert(k, v.clone());
        }
        (_, None) => {}
    };
    match container.get_mut(key) {
        Some(Value::Array(list)) => {
            if list.is_empty() && op != OpKind::Remove {
                return Err(no_target(path));
            }
            list.iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(set);
        }
        Some(Value::Object(obj)) => set(obj),
        _ if op == OpKind::Remove => {}
        _ => {
            let mut obj = Map::new();
            set(&mut obj);
            container.insert(key.to_string(), Value::Object(obj));
        }
    }
    if matches!(container.get(key), Some(Value::Object(o)) if o.is_empty()) {
        container.remove(key);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn filtered(
    container: &mut Map<String, Value>,
    key: &str,
    op: OpKind,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
    path: &Path,
    matches: impl Fn(&Value) -> bool,
) -> Result<(), ScimError> {
    let mut list = match container.remove(key) {
        Some(Value::Array(l)) => l,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    let hits: Vec<usize> = (0..list.len()).filter(|&i| matches(&list[i])).collect();
    let result = match op {
        OpKind::Remove => {
            for &i in hits.iter().rev() {
                match sub {
                    None => {
                        list.remove(i);
                    }
                    Some(s) => {
                        if let Some(obj) = list[i].as_object_mut() {
                            if let Some(k) = key_ci(obj, s) {
                                obj.remove(&k);
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        _ if hits.is_empty() => match (new_entry(filter), value) {
            // `emails[type eq "work"].value` with no work e-mail yet: create it.
            (Some(mut entry), Some(v)) => {
                match (sub, v) {
                    (Some(s), v) => {
                        entry.insert(s.to_string(), v.clone());
                    }
                    (None, Value::Object(o)) => entry.extend(o.clone()),
                    (None, _) => return Err(no_target(path)),
                }
                list.push(Value::Object(entry));
                Ok(())
            }
            _ => Err(no_target(path)),
        },
        _ => {
            let v = value.cloned().unwrap_or(Value::Null);
            for &i in &hits {
                match (sub, op, &mut list[i]) {
                    (Some(s), _, Value::Object(obj)) => {
                        let k = key_ci(obj, s).unwrap_or_else(|| s.to_string());
                        obj.insert(k, v.clone());
                    }
                    (None, OpKind::Add, Value::Object(obj)) => {
                        if let Value::Object(new) = &v {
                            obj.extend(new.clone());
                        }
                    }
                    (_, _, slot) => *slot = v.clone(),
                }
            }
            Ok(())
        }
    };
    if !list.is_empty() {
        container.insert(key.to_string(), Value::Array(list));
    }
    result
}

/// The entry a filter of `eq` comparisons describes (`type eq "work" and primary eq true`).
fn new_entry(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare(p, Op::Eq, v)
            if p.urn.is_none() && p.sub.is_none() && p.filter.is_none() =>
        {
            let mut m = Map::new();
            m.insert(p.attr.clone(), v.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = new_entry(a)?;
            m.extend(new_entry(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn drop_if_empty(resource: &mut Map<String, Value>, urn: &str) {
    if let Some(k) = key_ci(resource, urn) {
        if matches!(resource.get(&k), Some(Value::Object(o)) if o.is_empty()) {
            resource.remove(&k);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "patch_tests.rs"]
mod tests;
