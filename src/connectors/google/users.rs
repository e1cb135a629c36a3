//! Users: get, update (a PATCH of only what differs), suspend; and for the triggers list, watch
//! and stop a channel.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::directory::GoogleError;
use super::{Client, V1};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;

/// `google.get_user`: `found: false` when no user has that key.
pub async fn get(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let key = args.str("user")?;
    let projection = args.opt_str("projection")?.unwrap_or("full");
    if !matches!(projection, "basic" | "custom" | "full") {
        return Err(ActionError::permanent(format!(
            "projection '{projection}': use basic, custom or full"
        )));
    }
    match c.get_user(key, projection).await {
        Ok(Some(u)) => {
            let mut out = user_outputs(&u);
            out.insert("found".into(), json!(true));
            out.insert("user".into(), u);
            Ok(Value::Object(out))
        }
        Ok(None) => Ok(json!({ "found": false })),
        Err(e) => Err(e.into_action()),
    }
}

/// `google.update_user`: reads the user, works out the fields whose values differ from what
/// `set`, `add` and `corporate_email` ask for, and PATCHes only those.
pub async fn update(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let key = args.str("user")?;
    let wanted = Wanted::read(args)?;
    let user = existing(c, key).await?;
    let patch = wanted.patch(&user)?;
    let mut out = user_outputs(&user);
    let updated: Vec<String> = patch.keys().cloned().collect();
    if !patch.is_empty() {
        let id = user.get("id").and_then(Value::as_str).unwrap_or(key);
        let path = format!("{V1}/users/{}", segment(id));
        let after = c
            .call(Method::PATCH, &path, &[], Some(&Value::Object(patch)))
            .await
            .map_err(GoogleError::into_action)?;
        if after.is_object() {
            out = user_outputs(&after);
        }
    }
    out.insert("changed".into(), json!(!updated.is_empty()));
    out.insert("updated".into(), json!(updated));
    Ok(Value::Object(out))
}

/// What `google.update_user` asks for: fields to set, entries to add to array fields.
pub(super) struct Wanted {
    set: Map<String, Value>,
    add: Map<String, Value>,
}

impl Wanted {
    pub fn read(args: &ArgMap) -> Result<Wanted, ActionError> {
        let set = args.map("set")?;
        let mut add = args.map("add")?;
        if let Some(address) = args.opt_str("corporate_email")? {
            let entry = json!({ "address": address, "type": "work" });
            match add.get_mut("emails") {
                Some(Value::Array(list)) => list.push(entry),
                _ => {
                    add.insert("emails".into(), json!([entry]));
                }
            }
        }
        if set.is_empty() && add.is_empty() {
            return Err(ActionError::permanent(
                "give 'set', 'add' or 'corporate_email': there is nothing to update",
            ));
        }
        Ok(Wanted { set, add })
    }

    /// The fields to PATCH on `user`: only those whose values differ.
    pub fn patch(&self, user: &Value) -> Result<Map<String, Value>, ActionError> {
        let mut wanted = self.set.clone();
        for (field, entries) in &self.add {
            let Value::Array(entries) = entries else {
                return Err(ActionError::permanent(format!(
                    "add.{field} must be a list of entries to add to the user's {field}"
                )));
            };
            // Google replaces an array field whole (CONTRACT §2.4): send what is there plus
            // the new.
            let mut list = match wanted.get(field).or_else(|| user.get(field)) {
                Some(Value::Array(l)) => l.clone(),
                _ => Vec::new(),
            };
            for e in entries {
                if !list.iter().any(|x| same_entry(x, e)) {
                    list.push(e.clone());
                }
            }
            wanted.insert(field.clone(), Value::Array(list));
        }
        Ok(wanted
            .into_iter()
            .filter(|(k, v)| differs(user.get(k), v))
            .collect())
    }
}

/// `google.suspend_user`: already suspended is success (`changed: false`).
pub async fn suspend(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let key = args.str("user")?;
    let user = existing(c, key).await?;
    let mut out = user_outputs(&user);
    let already = user.get("suspended") == Some(&json!(true));
    if !already {
        let id = user.get("id").and_then(Value::as_str).unwrap_or(key);
        let path = format!("{V1}/users/{}", segment(id));
        c.call(
            Method::PATCH,
            &path,
            &[],
            Some(&json!({ "suspended": true })),
        )
        .await
        .map_err(GoogleError::into_action)?;
    }
    out.insert("suspended".into(), json!(true));
    out.insert("changed".into(), json!(!already));
    Ok(Value::Object(out))
}

/// The user, or a permanent error naming the key when there is none.
pub(super) async fn existing(c: &Client, key: &str) -> Result<Value, ActionError> {
    match c.get_user(key, "full").await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(ActionError::permanent(format!(
            "no Google user '{key}' (Resource Not Found)"
        ))),
        Err(e) => Err(e.into_action()),
    }
}

/// Whether writing `new` over `current` would change anything. Objects are compared key by key
/// (Google merges `customSchemas` and `name` per field, and `null` clears one); arrays and
/// scalars must be equal.
fn differs(current: Option<&Value>, new: &Value) -> bool {
    match (current, new) {
        (None | Some(Value::Null), Value::Null) => false,
        (Some(Value::Object(cur)), Value::Object(new)) => {
            new.iter().any(|(k, v)| differs(cur.get(k), v))
        }
        (Some(cur), new) => cur != new,
        (None, _) => true,
    }
}

/// Whether `existing` already is the entry `new` asks for: it has every key of `new` with the
/// same value (e-mail addresses compared without case).
fn same_entry(existing: &Value, new: &Value) -> bool {
    match (existing, new) {
        (Value::Object(x), Value::Object(n)) => n.iter().all(|(k, v)| match (x.get(k), v) {
            (Some(Value::String(a)), Value::String(b)) if k == "address" => {
                a.eq_ignore_ascii_case(b)
            }
            (got, v) => got.unwrap_or(&Value::Null) == v,
        }),
        (x, n) => x == n,
    }
}

/// The outputs every user action shares.
pub(super) fn user_outputs(u: &Value) -> Map<String, Value> {
    let s = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    let name = u.get("name");
    let mut m = Map::new();
    m.insert("id".into(), s(u.get("id")));
    m.insert("primary_email".into(), s(u.get("primaryEmail")));
    m.insert("name".into(), s(name.and_then(|n| n.get("fullName"))));
    m.insert(
        "given_name".into(),
        s(name.and_then(|n| n.get("givenName"))),
    );
    m.insert(
        "family_name".into(),
        s(name.and_then(|n| n.get("familyName"))),
    );
    m.insert(
        "suspended".into(),
        json!(u.get("suspended") == Some(&json!(true))),
    );
    m.insert("org_unit_path".into(), s(u.get("orgUnitPath")));
    m.insert(
        "is_admin".into(),
        json!(u.get("isAdmin") == Some(&json!(true))),
    );
    m.insert(
        "aliases".into(),
        u.get("aliases").cloned().unwrap_or_else(|| json!([])),
    );
    m
}

/// Which users `list_users` and `watch_users` cover (CONTRACT §2.1).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// One domain; otherwise the whole customer.
    pub domain: Option<String>,
    /// A search (`isSuspended=true`, `orgUnitPath=/Sales`, …; CONTRACT §2.2).
    pub query: Option<String>,
    /// Users deleted in the last 20 days instead of live ones.
    pub show_deleted: bool,
    /// basic (default), custom or full.
    pub projection: Option<String>,
    /// Page size, 1–500; default 100.
    pub max_results: Option<u32>,
}

/// A web-hook channel for `watch_users` (CONTRACT §3.1).
#[derive(Debug, Clone)]
pub struct Channel {
    /// Unique per project, ≤ 64 characters: a UUID.
    pub id: String,
    /// HTTPS with a valid certificate.
    pub address: String,
    /// Echoed in `X-Goog-Channel-Token`: a random verifier for this channel.
    pub token: Option<String>,
    /// Lifetime; Google's default is 2 hours, its maximum 2 days.
    pub ttl: Option<std::time::Duration>,
}

impl Client {
    /// The user with this key (primary e-mail, alias or id), or `None` when there is none.
    pub async fn get_user(
        &self,
        key: &str,
        projection: &str,
    ) -> Result<Option<Value>, GoogleError> {
        let path = format!("{V1}/users/{}", segment(key));
        match self.get(&path, &[("projection", projection)]).await {
            Ok(u) => Ok(Some(u)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn user_params<'a>(
        &'a self,
        q: &'a UserQuery,
        size: Option<&'a str>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut p: Vec<(&str, &str)> = match &q.domain {
            Some(d) => vec![("domain", d.as_str())],
            None => vec![("customer", self.customer.as_str())],
        };
        if let Some(s) = &q.query {
            p.push(("query", s));
        }
        if q.show_deleted {
            p.push(("showDeleted", "true"));
        }
        if let Some(s) = &q.projection {
            p.push(("projection", s));
        }
        if let Some(n) = size {
            p.push(("maxResults", n));
        }
        p
    }

    /// One page of users and the token of the next (`None` on the last page).
    pub async fn list_users_page(
        &self,
        q: &UserQuery,
        page_token: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), GoogleError> {
        let size = q.max_results.map(|n| n.clamp(1, 500).to_string());
        let params = self.user_params(q, size.as_deref());
        self.page(&format!("{V1}/users"), &params, "users", page_token)
            .await
    }

    /// Every user the query matches.
    pub async fn list_users(&self, q: &UserQuery) -> Result<Vec<Value>, GoogleError> {
        // The largest pages: fewest calls.
        let size = q.max_results.unwrap_or(500).clamp(1, 500).to_string();
        let params = self.user_params(q, Some(&size));
        self.get_all(&format!("{V1}/users"), &params, "users").await
    }

    /// Opens a channel for one `event` (add, delete, makeAdmin, undelete, update) on the users
    /// `q` covers; returns Google's `Channel` (with the `resourceId` that `stop_channel` needs).
    pub async fn watch_users(
        &self,
        q: &UserQuery,
        event: &str,
        channel: &Channel,
    ) -> Result<Value, GoogleError> {
        let mut params = self.user_params(q, None);
        params.push(("event", event));
        let mut body = json!({
            "id": channel.id,
            "type": "web_hook",
            "address": channel.address,
        });
        if let Some(t) = &channel.token {
            body["token"] = json!(t);
        }
        if let Some(ttl) = channel.ttl {
            // Discovery types params values as strings.
            body["params"] = json!({ "ttl": ttl.as_secs().to_string() });
        }
        self.call(
            Method::POST,
            &format!("{V1}/users/watch"),
            &params,
            Some(&body),
        )
        .await
    }

    /// Stops a channel (the path is `directory_v1`, not `directory/v1`: CONTRACT §3.3).
    pub async fn stop_channel(&self, id: &str, resource_id: &str) -> Result<(), GoogleError> {
        let body = json!({ "id": id, "resourceId": resource_id });
        self.call(
            Method::POST,
            "/admin/directory_v1/channels/stop",
            &[],
            Some(&body),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fields_that_change_something_differ() {
        let cur = json!({
            "orgUnitPath": "/Sales",
            "customSchemas": { "HR": { "costCenter": "1", "grade": "7" } },
            "externalIds": [{ "type": "organization", "value": "E1" }],
        });
        let d = |k: &str, v: Value| differs(cur.get(k), &v);
        assert!(!d("orgUnitPath", json!("/Sales")));
        assert!(d("orgUnitPath", json!("/Eng")));
        assert!(!d("customSchemas", json!({ "HR": { "costCenter": "1" } })));
        assert!(d("customSchemas", json!({ "HR": { "costCenter": "2" } })));
        assert!(d("customSchemas", json!({ "HR": { "grade": null } })));
        assert!(!d("customSchemas", json!({ "HR": { "missing": null } })));
        assert!(!d(
            "externalIds",
            json!([{ "type": "organization", "value": "E1" }])
        ));
        assert!(d("externalIds", json!([])));
        assert!(d("suspended", json!(false)));
    }

    #[test]
    fn entries_match_on_the_keys_given() {
        let have = json!({ "address": "Jane@Contoso.com", "type": "work", "primary": false });
        assert!(same_entry(
            &have,
            &json!({ "address": "jane@contoso.com", "type": "work" })
        ));
        assert!(!same_entry(
            &have,
            &json!({ "address": "jane@contoso.com", "type": "home" })
        ));
        let id = json!({ "type": "organization", "value": "E1" });
        assert!(same_entry(&id, &json!({ "value": "E1" })));
        assert!(!same_entry(&id, &json!({ "value": "e1" })));
    }
}
