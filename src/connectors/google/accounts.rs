//! The account lifecycle writes of the Entra → Google direction, each an idempotent *ensure*:
//! `google.create_user` (find by the stored external id, then by the primary e-mail, before
//! inserting; a found account is adopted and brought to the wanted address and name),
//! `google.unsuspend_user` and `google.delete_user`.
//!
//! The external id is kept on the Google user as an `externalIds` entry of type `custom` with
//! `customType` `external_id_type` (default `entra`), so a renamed source account (a UPN
//! change) is found again by its stable id and its Google address follows instead of a second
//! account being made. Google keeps the old address as an alias on a rename.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::directory::GoogleError;
use super::users::{existing, user_outputs};
use super::{Client, V1};
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::segment;

/// The `customType` of the external-id entry when the step does not name one.
const DEFAULT_ID_TYPE: &str = "entra";

/// What `google.create_user` asks for.
pub(super) struct Wanted {
    pub(super) email: String,
    given: String,
    family: String,
    pub(super) external_id: Option<String>,
    pub(super) id_type: String,
    org_unit: Option<String>,
    suspended: Option<bool>,
    set: Map<String, Value>,
}

impl Wanted {
    pub(super) fn read(args: &ArgMap) -> Result<Wanted, ActionError> {
        let email = args.str("primary_email")?.trim().to_ascii_lowercase();
        if !email.contains('@') {
            return Err(ActionError::permanent(format!(
                "primary_email '{email}' is not an e-mail address"
            )));
        }
        let name = |k: &str| -> Result<String, ActionError> {
            let v = args.str(k)?.trim().to_string();
            if v.is_empty() {
                return Err(ActionError::permanent(format!(
                    "{k} is empty: Google needs a given and a family name"
                )));
            }
            Ok(v)
        };
        Ok(Wanted {
            given: name("given_name")?,
            family: name("family_name")?,
            email,
            external_id: args
                .opt_str("external_id")?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
            id_type: args
                .opt_str("external_id_type")?
                .unwrap_or(DEFAULT_ID_TYPE)
                .to_string(),
            org_unit: args.opt_str("org_unit_path")?.map(String::from),
            suspended: match args.value("suspended") {
                None | Some(Value::Null) => None,
                Some(_) => Some(args.bool_or("suspended", false)?),
            },
            set: args.map("set")?,
        })
    }

    fn id_entry(&self) -> Option<Value> {
        self.external_id
            .as_ref()
            .map(|id| json!({"type": "custom", "customType": self.id_type, "value": id}))
    }

    /// The external id stored on `user` under our `customType`, if any.
    pub(super) fn stored_id<'u>(&self, user: &'u Value) -> Option<&'u str> {
        user.get("externalIds")?
            .as_array()?
            .iter()
            .find(|e| e.get("customType").and_then(Value::as_str) == Some(self.id_type.as_str()))
            .and_then(|e| e.get("value").and_then(Value::as_str))
    }

    /// The fields of an existing `user` that differ from what is wanted.
    pub(super) fn patch(&self, user: &Value) -> Map<String, Value> {
        let mut p = Map::new();
        let current = user
            .get("primaryEmail")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !current.eq_ignore_ascii_case(&self.email) {
            p.insert("primaryEmail".into(), json!(self.email));
        }
        let name = user.get("name");
        let same =
            |k: &str, v: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str) == Some(v);
        if !same("givenName", &self.given) || !same("familyName", &self.family) {
            p.insert(
                "name".into(),
                json!({"givenName": self.given, "familyName": self.family}),
            );
        }
        if let Some(entry) = self.id_entry() {
            if self.stored_id(user) != self.external_id.as_deref() {
                let mut ids: Vec<Value> = user
                    .get("externalIds")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                ids.retain(|e| {
                    e.get("customType").and_then(Value::as_str) != Some(self.id_type.as_str())
                });
                ids.push(entry);
                p.insert("externalIds".into(), Value::Array(ids));
            }
        }
        if let Some(ou) = &self.org_unit {
            if user.get("orgUnitPath").and_then(Value::as_str) != Some(ou.as_str()) {
                p.insert("orgUnitPath".into(), json!(ou));
            }
        }
        for (k, v) in &self.set {
            if user.get(k) != Some(v) {
                p.insert(k.clone(), v.clone());
            }
        }
        p
    }

    fn insert_body(&self) -> Value {
        let mut body = self.set.clone();
        body.insert("primaryEmail".into(), json!(self.email));
        body.insert(
            "name".into(),
            json!({"givenName": self.given, "familyName": self.family}),
        );
        // Sign-in goes through the source directory (SSO); the password is random and unused.
        body.insert("password".into(), json!(random_password()));
        body.insert("changePasswordAtNextLogin".into(), json!(false));
        if let Some(entry) = self.id_entry() {
            body.insert("externalIds".into(), json!([entry]));
        }
        if let Some(ou) = &self.org_unit {
            body.insert("orgUnitPath".into(), json!(ou));
        }
        if let Some(s) = self.suspended {
            body.insert("suspended".into(), json!(s));
        }
        Value::Object(body)
    }
}

fn random_password() -> String {
    const SET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$%&*+-=?@^_";
    (0..24)
        .map(|_| SET[fastrand::usize(..SET.len())] as char)
        .collect()
}

/// The user whose stored external id is `id` (users.list `query=externalId:…`, then the
/// entry's `customType` checked, as the search matches any type).
pub(super) async fn by_external_id(c: &Client, w: &Wanted) -> Result<Option<Value>, ActionError> {
    let Some(id) = &w.external_id else {
        return Ok(None);
    };
    let query = format!("externalId='{}'", id.replace('\'', "\\'"));
    let users = c
        .get_all(
            &format!("{V1}/users"),
            &[
                ("customer", c.customer.as_str()),
                ("query", query.as_str()),
                ("projection", "full"),
            ],
            "users",
        )
        .await
        .map_err(GoogleError::into_action)?;
    Ok(users
        .into_iter()
        .find(|u| w.stored_id(u) == Some(id.as_str())))
}

/// `google.create_user` → the user outputs plus `created` and `found_by` (`external_id`,
/// `primary_email` or null when inserted) and `updated` (the fields a found account needed).
pub async fn create(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let w = Wanted::read(args)?;
    let mut found = by_external_id(c, &w).await?.map(|u| (u, "external_id"));
    if found.is_none() {
        if let Some(u) = c
            .get_user(&w.email, "full")
            .await
            .map_err(GoogleError::into_action)?
        {
            found = Some((u, "primary_email"));
        }
    }
    if found.is_none() {
        match c
            .call(
                Method::POST,
                &format!("{V1}/users"),
                &[],
                Some(&w.insert_body()),
            )
            .await
        {
            Ok(user) => {
                let mut out = user_outputs(&user);
                out.insert("created".into(), json!(true));
                out.insert("found_by".into(), Value::Null);
                out.insert("updated".into(), json!([]));
                return Ok(Value::Object(out));
            }
            // Made by an earlier attempt whose answer was lost: adopt it below.
            Err(e) if e.status == 409 => {
                found = Some((existing(c, &w.email).await?, "primary_email"));
            }
            Err(e) => return Err(e.into_action()),
        }
    }
    let Some((user, found_by)) = found else {
        return Err(ActionError::permanent("unreachable: no user found or made"));
    };
    if let (Some(stored), Some(wanted)) = (w.stored_id(&user), w.external_id.as_deref()) {
        if stored != wanted {
            return Err(ActionError::permanent(format!(
                "Google user {} belongs to another {} account (external id {stored}, not {wanted}): \
                 not adopted; resolve the address clash by hand",
                w.email, w.id_type
            )));
        }
    }
    let patch = w.patch(&user);
    let updated: Vec<String> = patch.keys().cloned().collect();
    let mut out = user_outputs(&user);
    if !patch.is_empty() {
        let id = user.get("id").and_then(Value::as_str).unwrap_or(&w.email);
        let after = c
            .call(
                Method::PATCH,
                &format!("{V1}/users/{}", segment(id)),
                &[],
                Some(&Value::Object(patch)),
            )
            .await
            .map_err(GoogleError::into_action)?;
        if after.is_object() {
            out = user_outputs(&after);
        }
    }
    out.insert("created".into(), json!(false));
    out.insert("found_by".into(), json!(found_by));
    out.insert("updated".into(), json!(updated));
    Ok(Value::Object(out))
}

/// `google.unsuspend_user`: not suspended is success (`changed: false`).
pub async fn unsuspend(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let key = args.str("user")?;
    let user = existing(c, key).await?;
    let mut out = user_outputs(&user);
    let suspended = user.get("suspended") == Some(&json!(true));
    if suspended {
        let id = user.get("id").and_then(Value::as_str).unwrap_or(key);
        c.call(
            Method::PATCH,
            &format!("{V1}/users/{}", segment(id)),
            &[],
            Some(&json!({ "suspended": false })),
        )
        .await
        .map_err(GoogleError::into_action)?;
    }
    out.insert("suspended".into(), json!(false));
    out.insert("changed".into(), json!(suspended));
    Ok(Value::Object(out))
}

/// `google.delete_user`: a user that is already gone is success (`deleted: false`).
pub async fn delete(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let key = args.str("user")?;
    let user = match c.get_user(key, "basic").await {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(json!({ "user": key, "deleted": false })),
        Err(e) => return Err(e.into_action()),
    };
    let id = user.get("id").and_then(Value::as_str).unwrap_or(key);
    match c
        .call(
            Method::DELETE,
            &format!("{V1}/users/{}", segment(id)),
            &[],
            None,
        )
        .await
    {
        Ok(_) => Ok(json!({ "user": key, "id": id, "deleted": true })),
        Err(e) if e.is_not_found() => Ok(json!({ "user": key, "id": id, "deleted": false })),
        Err(e) => Err(e.into_action()),
    }
}
