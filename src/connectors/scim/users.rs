//! `scim.ensure_user`, `scim.deactivate_user`, `scim.delete_user`, and the converging write
//! the group actions share: only attributes that differ are sent, by PATCH `replace` when the
//! provider supports it, else by PUT of the whole resource.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::api::quote;
use super::{Client, Failure};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;
use crate::scim::path::get_ci;
use crate::scim::{PATCH_URN, USER_URN};

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    get_ci(v, key).and_then(Value::as_str)
}

/// Whether `have` already holds everything `want` says: objects hold each wanted member, lists
/// hold an entry for each wanted entry, strings are equal (e-mail addresses and `userName`
/// ignoring case, as providers store them).
fn holds(have: Option<&Value>, want: &Value, fold: bool) -> bool {
    let Some(have) = have else {
        return want.is_null();
    };
    match (have, want) {
        (_, Value::Object(w)) => w.iter().all(|(k, v)| {
            holds(
                get_ci(have, k),
                v,
                fold || k.eq_ignore_ascii_case("userName"),
            )
        }),
        (Value::Array(h), Value::Array(w)) => {
            w.iter().all(|x| h.iter().any(|y| holds(Some(y), x, fold)))
        }
        (Value::String(h), Value::String(w)) if fold => h.eq_ignore_ascii_case(w),
        (Value::String(h), Value::Bool(w)) => h.eq_ignore_ascii_case(&w.to_string()),
        (h, w) => h == w,
    }
}

/// The top-level attributes of `want` that `current` does not hold yet.
fn differing(current: &Value, want: &Map<String, Value>) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| {
            let fold = k.eq_ignore_ascii_case("userName") || k.eq_ignore_ascii_case("emails");
            !holds(get_ci(current, k), v, fold)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

impl Client {
    /// Writes the attributes of `want` that `current` (a resource at `path`) lacks; returns
    /// their names. PATCH `replace` per attribute (per attribute of an extension), else PUT.
    pub(super) async fn converge(
        &self,
        path: &str,
        current: &Value,
        want: &Map<String, Value>,
    ) -> Result<Vec<String>, Failure> {
        let changed = differing(current, want);
        if changed.is_empty() {
            return Ok(changed);
        }
        let features = self.features().await?;
        let version = if features.etag {
            current["meta"]["version"].as_str()
        } else {
            None
        };
        if features.patch {
            let mut ops = Vec::new();
            for k in &changed {
                match &want[k] {
                    Value::Object(ext) if k.starts_with("urn:") => {
                        for (sub, v) in ext {
                            ops.push(
                                json!({"op": "replace", "path": format!("{k}:{sub}"), "value": v}),
                            );
                        }
                    }
                    v => ops.push(json!({"op": "replace", "path": k, "value": v})),
                }
            }
            let body = json!({"schemas": [PATCH_URN], "Operations": ops});
            self.call(Method::PATCH, path, &[], Some(&body), version)
                .await?;
        } else {
            let mut whole = match current {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            for k in ["meta", "groups"] {
                whole.remove(k);
            }
            for (k, v) in want {
                match (whole.get_mut(k), v) {
                    (Some(Value::Object(have)), Value::Object(w)) => have.extend(w.clone()),
                    _ => {
                        whole.insert(k.clone(), v.clone());
                    }
                }
            }
            let mut schemas: Vec<Value> = whole
                .get("schemas")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for k in whole.keys().filter(|k| k.starts_with("urn:")) {
                if !schemas.iter().any(|s| s == k) {
                    schemas.push(Value::String(k.clone()));
                }
            }
            whole.insert("schemas".into(), Value::Array(schemas));
            self.call(Method::PUT, path, &[], Some(&Value::Object(whole)), version)
                .await?;
        }
        Ok(changed)
    }

    /// The users whose `attr` (`externalId` exact, `userName` ignoring case) is `value`: by
    /// filter when the provider filters, else by listing; the answer is checked here either
    /// way (some providers ignore filters they do not know).
    pub(super) async fn find_users(&self, attr: &str, value: &str) -> Result<Vec<Value>, Failure> {
        let features = self.features().await?;
        let filter = format!("{attr} eq {}", quote(value));
        let found = self
            .list_all("/Users", features.filter.then_some(filter.as_str()), &[])
            .await?;
        let fold = attr == "userName";
        Ok(found
            .into_iter()
            .filter(|u| {
                str_at(u, attr).is_some_and(|v| {
                    if fold {
                        v.eq_ignore_ascii_case(value)
                    } else {
                        v == value
                    }
                })
            })
            .collect())
    }

    /// The one user `attr` names, if any; two are an error (the key does not identify).
    async fn find_user(&self, attr: &str, value: &str) -> Result<Option<Value>, Failure> {
        let mut found = self.find_users(attr, value).await?;
        if found.len() > 1 {
            return Err(ActionError::permanent(format!(
                "SCIM {}: {} users have {attr} '{value}'; cannot tell which to use",
                self.name,
                found.len()
            ))
            .into());
        }
        Ok(found.pop())
    }

    /// A user by SCIM id; `None` when there is none.
    pub(super) async fn get_user(&self, id: &str) -> Result<Option<Value>, Failure> {
        match self
            .call(
                Method::GET,
                &format!("/Users/{}", segment(id)),
                &[],
                None,
                None,
            )
            .await
        {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.status == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The user `user` (SCIM id), `external_id` or `user_name` names.
    async fn target(&self, args: &ArgMap) -> Result<Option<Value>, Failure> {
        if let Some(id) = args.opt_str("user")? {
            return self.get_user(id).await;
        }
        if let Some(x) = args.opt_str("external_id")? {
            return self.find_user("externalId", x).await;
        }
        if let Some(n) = args.opt_str("user_name")? {
            return self.find_user("userName", n).await;
        }
        Err(
            ActionError::permanent("name the user: 'user' (SCIM id), 'external_id' or 'user_name'")
                .into(),
        )
    }

    /// Looks the user up by external id, then by user name (refusing someone else's account).
    async fn lookup(
        &self,
        user_name: &str,
        external_id: Option<&str>,
    ) -> Result<Option<Value>, Failure> {
        if let Some(x) = external_id {
            if let Some(u) = self.find_user("externalId", x).await? {
                return Ok(Some(u));
            }
        }
        let Some(u) = self.find_user("userName", user_name).await? else {
            return Ok(None);
        };
        match (external_id, str_at(&u, "externalId")) {
            (Some(ours), Some(theirs)) if !theirs.is_empty() && theirs != ours => Err(ActionError::permanent(format!(
                "SCIM {}: userName '{user_name}' belongs to another person (externalId '{theirs}', not '{ours}')",
                self.name
            ))
            .into()),
            _ => Ok(Some(u)),
        }
    }
}

/// The user `scim.ensure_user` describes.
fn wanted(args: &ArgMap) -> Result<Map<String, Value>, ActionError> {
    let mut want = Map::new();
    want.insert("userName".into(), json!(args.str("user_name")?));
    if let Some(x) = args.opt_str("external_id")? {
        want.insert("externalId".into(), json!(x));
    }
    if let Some(d) = args.opt_str("display_name")? {
        want.insert("displayName".into(), json!(d));
    }
    let mut name = Map::new();
    if let Some(g) = args.opt_str("given_name")? {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(f) = args.opt_str("family_name")? {
        name.insert("familyName".into(), json!(f));
    }
    if !name.is_empty() {
        want.insert("name".into(), Value::Object(name));
    }
    if let Some(e) = args.opt_str("email")? {
        want.insert(
            "emails".into(),
            json!([{"value": e, "type": "work", "primary": true}]),
        );
    }
    want.insert("active".into(), json!(args.bool_or("active", true)?));
    for (k, v) in args.map("attributes")? {
        want.insert(k, v);
    }
    Ok(want)
}

/// `scim.ensure_user`.
pub(super) async fn ensure(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let want = wanted(args)?;
    let user_name = args.str("user_name")?;
    let external_id = args.opt_str("external_id")?;
    let (user, created, adopted) = match c.lookup(user_name, external_id).await? {
        Some(u) => (u, false, false),
        None => {
            let mut body = want.clone();
            let mut schemas = vec![json!(USER_URN)];
            schemas.extend(
                body.keys()
                    .filter(|k| k.starts_with("urn:"))
                    .map(|k| json!(k)),
            );
            body.insert("schemas".into(), Value::Array(schemas));
            match c
                .call(
                    Method::POST,
                    "/Users",
                    &[],
                    Some(&Value::Object(body)),
                    None,
                )
                .await
            {
                Ok(body) => (body, true, false),
                // Created meanwhile (a step executed again, another run): find and adopt it.
                Err(e) if e.is_conflict() => match c.lookup(user_name, external_id).await? {
                    Some(u) => (u, false, true),
                    None => return Err(e.into()),
                },
                Err(e) => return Err(e.into()),
            }
        }
    };
    let id = str_at(&user, "id")
        .ok_or_else(|| ActionError::permanent(format!("SCIM {}: the user has no id", c.name)))?
        .to_string();
    let updated = if created {
        Vec::new()
    } else {
        c.converge(&format!("/Users/{}", segment(&id)), &user, &want)
            .await?
    };
    Ok(json!({
        "id": id,
        "user_name": user_name,
        "external_id": external_id,
        "created": created,
        "adopted": adopted,
        "updated": updated,
    }))
}

/// `scim.deactivate_user`.
pub(super) async fn deactivate(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let Some(user) = c.target(args).await? else {
        return Ok(json!({"found": false, "changed": false}));
    };
    let id = str_at(&user, "id").unwrap_or_default().to_string();
    let mut want = Map::new();
    want.insert("active".into(), json!(false));
    let changed = c
        .converge(&format!("/Users/{}", segment(&id)), &user, &want)
        .await?;
    Ok(json!({"id": id, "found": true, "active": false, "changed": !changed.is_empty()}))
}

/// `scim.delete_user`.
pub(super) async fn delete(c: &Client, args: &ArgMap) -> Result<Value, Failure> {
    let Some(user) = c.target(args).await? else {
        return Ok(json!({"deleted": false}));
    };
    let id = str_at(&user, "id").unwrap_or_default().to_string();
    match c
        .call(
            Method::DELETE,
            &format!("/Users/{}", segment(&id)),
            &[],
            None,
            None,
        )
        .await
    {
        Ok(_) => Ok(json!({"id": id, "deleted": true})),
        Err(e) if e.status == 404 => Ok(json!({"id": id, "deleted": false})),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_differs_is_written() {
        let current = json!({
            "id": "1", "userName": "Ada@Contoso.com", "active": true,
            "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
            "emails": [{"value": "ADA@contoso.com", "type": "work", "primary": true}, {"value": "a@home"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        });
        let want = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(differing(
            &current,
            &want(json!({
                "userName": "ada@contoso.com", "active": true, "name": {"givenName": "Ada"},
                "emails": [{"value": "ada@contoso.com", "type": "work", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            }))
        )
        .is_empty());
        assert_eq!(
            differing(
                &current,
                &want(json!({
                    "active": false, "name": {"givenName": "Augusta"}, "title": "Countess",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Maths"},
                }))
            ),
            vec![
                "active",
                "name",
                "title",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ]
        );
    }
}
