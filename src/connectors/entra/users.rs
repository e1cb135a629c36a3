//! Users: create (an ensure with UPN collision handling), find, update, enable/disable, revoke
//! sessions, delete.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::graph::{literal, segment, Body, GraphError};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::secret::secret_output;

/// What `find` and `create` read back.
const SELECT: &str = "id,userPrincipalName,displayName,mailNickname,employeeId,accountEnabled,\
                      usageLocation,department,jobTitle,mail,givenName,surname";

/// UPN candidates tried before giving up (`jane.doe`, `jane.doe2`, … `jane.doe50`).
const MAX_CANDIDATES: usize = 50;

/// `entra.create_user`: returns the existing user when it is the same person (matched by
/// `match` — one Graph property and its value, e.g. `{ mail: … }` — or by `employee_id`, or by
/// display name and mail nickname when neither is given), otherwise creates one at the first
/// free UPN (`on_conflict: next_free`), adopts whoever holds it (`adopt`) or fails (`fail`).
pub async fn create(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let upn = args.str("user_principal_name")?;
    let (local, domain) = upn
        .rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())
        .ok_or_else(|| {
            ActionError::permanent(format!(
                "user_principal_name '{upn}' is not of the form alias@domain"
            ))
        })?;
    let display_name = args.str("display_name")?;
    let key = match_key(args)?;
    let on_conflict = args.opt_str("on_conflict")?.unwrap_or("next_free");
    if !matches!(on_conflict, "next_free" | "adopt" | "fail") {
        return Err(ActionError::permanent(format!(
            "on_conflict '{on_conflict}': use next_free, adopt or fail"
        )));
    }
    if let Some((property, value)) = &key {
        let filter = format!("{property} eq {}", literal(value));
        let select = format!("{SELECT},{property}");
        let found = c
            .get_all("/users", &[("$filter", &filter), ("$select", &select)])
            .await
            .map_err(GraphError::into_action)?;
        match found.as_slice() {
            [] => {}
            [one] => return Ok(user_outputs(one, false)),
            many => {
                return Err(ActionError::permanent(format!(
                    "{} users have {property} '{value}'; resolve the duplicates in Entra first",
                    many.len()
                )))
            }
        }
    }
    let nickname_arg = args.opt_str("mail_nickname")?;
    let candidate_select = match &key {
        Some((property, _)) => format!("{SELECT},{property}"),
        None => SELECT.to_string(),
    };
    for n in 1..=MAX_CANDIDATES {
        let candidate_local = if n == 1 {
            local.to_string()
        } else {
            format!("{local}{n}")
        };
        let candidate = format!("{candidate_local}@{domain}");
        let nickname = match nickname_arg {
            Some(m) if n == 1 => m.to_string(),
            Some(m) => format!("{m}{n}"),
            None => candidate_local.clone(),
        };
        match c
            .get(
                &format!("/users/{}", segment(&candidate)),
                &[("$select", &candidate_select)],
            )
            .await
        {
            Ok(existing) => {
                if same_person(&existing, key.as_ref(), display_name, &nickname) {
                    return Ok(user_outputs(&existing, false));
                }
                match on_conflict {
                    "adopt" => return Ok(user_outputs(&existing, false)),
                    "fail" => {
                        return Err(ActionError::permanent(format!(
                            "{candidate} is taken by another user ({}); on_conflict is fail",
                            existing.get("id").and_then(Value::as_str).unwrap_or("?")
                        )))
                    }
                    _ => continue,
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into_action()),
        }
        let password = match args.opt_str("password")? {
            Some(p) => p.to_string(),
            None => generate_password(),
        };
        let body = create_body(args, &candidate, display_name, &nickname, &password)?;
        match c.call(Method::POST, "/users", &[], Body::Json(&body)).await {
            Ok(reply) => {
                let mut out = user_outputs(&reply.body, true);
                if let Value::Object(m) = &mut out {
                    m.insert("password".into(), secret_output(password));
                }
                return Ok(out);
            }
            // Taken between our look-up and the create, or by a user still replicating: the
            // next attempt looks again (and adopts it if it is ours).
            Err(e)
                if e.status == 400
                    && e.message
                        .contains("same value for property userPrincipalName") =>
            {
                return Err(ActionError::Transient {
                    message: format!("{candidate} was taken while creating it; looking again: {e}"),
                    retry_after: Some(std::time::Duration::from_secs(1)),
                });
            }
            Err(e) => return Err(e.into_action()),
        }
    }
    Err(ActionError::permanent(format!(
        "no free user principal name among {local}@{domain} … {local}{MAX_CANDIDATES}@{domain}"
    )))
}

/// The property that identifies the person: `match` (one Graph property and its value), else
/// `employee_id`.
fn match_key(args: &ArgMap) -> Result<Option<(String, String)>, ActionError> {
    let given = args.map("match")?;
    match given.len() {
        0 => Ok(args
            .opt_str("employee_id")?
            .map(|e| ("employeeId".to_string(), e.to_string()))),
        1 => {
            let (property, value) = given.into_iter().next().unwrap_or_default();
            let valid = !property.is_empty() && property.chars().all(|c| c.is_ascii_alphanumeric());
            match value {
                Value::String(v) if valid && !v.trim().is_empty() => {
                    Ok(Some((property, v.trim().to_string())))
                }
                _ => Err(ActionError::permanent(format!(
                    "argument 'match' must be one Graph user property and a non-empty string, e.g. {{ mail: jane@contoso.com }}; got {property}"
                ))),
            }
        }
        n => Err(ActionError::permanent(format!(
            "argument 'match' names {n} properties; give exactly one"
        ))),
    }
}

fn same_person(
    existing: &Value,
    key: Option<&(String, String)>,
    display_name: &str,
    nickname: &str,
) -> bool {
    let field = |k: &str| existing.get(k).and_then(Value::as_str);
    match key {
        Some((property, value)) => field(property) == Some(value.as_str()),
        None => {
            field("displayName") == Some(display_name) && field("mailNickname") == Some(nickname)
        }
    }
}

fn create_body(
    args: &ArgMap,
    upn: &str,
    display_name: &str,
    nickname: &str,
    password: &str,
) -> Result<Value, ActionError> {
    let mut body = Map::new();
    // Caller-supplied Graph properties first, so the named arguments win.
    for (k, v) in args.map("properties")? {
        body.insert(k, v);
    }
    body.insert(
        "accountEnabled".into(),
        json!(args.bool_or("account_enabled", true)?),
    );
    body.insert("displayName".into(), json!(display_name));
    body.insert("mailNickname".into(), json!(nickname));
    body.insert("userPrincipalName".into(), json!(upn));
    body.insert(
        "passwordProfile".into(),
        json!({
            "password": password,
            "forceChangePasswordNextSignIn": args.bool_or("force_change_password", true)?,
        }),
    );
    for (arg, prop) in [
        ("given_name", "givenName"),
        ("surname", "surname"),
        ("employee_id", "employeeId"),
        ("department", "department"),
        ("job_title", "jobTitle"),
        ("usage_location", "usageLocation"),
    ] {
        if let Some(v) = args.opt_str(arg)? {
            body.insert(prop.into(), json!(v));
        }
    }
    Ok(Value::Object(body))
}

/// The outputs every user action shares.
fn user_outputs(user: &Value, created: bool) -> Value {
    let s = |k: &str| user.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": s("id"),
        "user_principal_name": s("userPrincipalName"),
        "display_name": s("displayName"),
        "employee_id": s("employeeId"),
        "account_enabled": s("accountEnabled"),
        "usage_location": s("usageLocation"),
        "created": created,
    })
}

/// 16 characters with upper and lower case, digits and symbols: Entra's complexity rules.
fn generate_password() -> String {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"!#$%&*+-=?@^_";
    let pick = |set: &[u8]| set[fastrand::usize(..set.len())] as char;
    let mut chars: Vec<char> = vec![pick(UPPER), pick(LOWER), pick(DIGIT), pick(SYMBOL)];
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    while chars.len() < 16 {
        chars.push(pick(&all));
    }
    fastrand::shuffle(&mut chars);
    chars.into_iter().collect()
}

/// The user named by `user` (an id or a UPN), as `/users/{…}`.
pub(super) fn user_path(args: &ArgMap) -> Result<String, ActionError> {
    Ok(format!("/users/{}", segment(args.str("user")?)))
}

/// `entra.find_user`: by `user` (id or UPN) or `employee_id`; `found: false` when nobody matches.
pub async fn find(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let extra: Vec<String> = args.str_list("select")?;
    let select = if extra.is_empty() {
        SELECT.to_string()
    } else {
        format!("{SELECT},{}", extra.join(","))
    };
    let user = if let Some(u) = args.opt_str("user")? {
        match c
            .get(&format!("/users/{}", segment(u)), &[("$select", &select)])
            .await
        {
            Ok(v) => Some(v),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into_action()),
        }
    } else if let Some(eid) = args.opt_str("employee_id")? {
        let filter = format!("employeeId eq {}", literal(eid));
        let found = c
            .get_all("/users", &[("$filter", &filter), ("$select", &select)])
            .await
            .map_err(GraphError::into_action)?;
        if found.len() > 1 {
            return Err(ActionError::permanent(format!(
                "{} users have employeeId '{eid}'",
                found.len()
            )));
        }
        found.into_iter().next()
    } else {
        return Err(ActionError::permanent(
            "give 'user' (id or UPN) or 'employee_id'",
        ));
    };
    Ok(match user {
        Some(u) => {
            let mut out = user_outputs(&u, false);
            if let Value::Object(m) = &mut out {
                m.remove("created");
                m.insert("found".into(), json!(true));
                m.insert("user".into(), u);
            }
            out
        }
        None => json!({ "found": false }),
    })
}

/// `entra.update_user`: PATCH the Graph properties in `set`.
pub async fn update(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let set = Value::Object(args.map("set")?);
    let path = user_path(args)?;
    c.call(Method::PATCH, &path, &[], Body::Json(&set))
        .await
        .map_err(|e| e.replicating("user"))?;
    Ok(json!({ "updated": set }))
}

/// `entra.disable_user` / `entra.enable_user`.
pub async fn set_enabled(c: &Client, args: &ArgMap, enabled: bool) -> Result<Value, ActionError> {
    let body = json!({ "accountEnabled": enabled });
    c.call(Method::PATCH, &user_path(args)?, &[], Body::Json(&body))
        .await
        .map_err(|e| e.replicating("user"))?;
    Ok(json!({ "account_enabled": enabled }))
}

/// `entra.revoke_sessions`: invalidates refresh tokens and session cookies.
pub async fn revoke_sessions(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let path = format!("{}/revokeSignInSessions", user_path(args)?);
    c.call(Method::POST, &path, &[], Body::None)
        .await
        .map_err(|e| e.replicating("user"))?;
    Ok(json!({ "revoked": true }))
}

/// `entra.delete_user`: soft delete (restorable for 30 days); already gone is success.
pub async fn delete(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    match c
        .call(Method::DELETE, &user_path(args)?, &[], Body::None)
        .await
    {
        Ok(_) => Ok(json!({ "deleted": true })),
        Err(e) if e.is_not_found() => Ok(json!({ "deleted": false, "already_gone": true })),
        Err(e) => Err(e.into_action()),
    }
}

impl Client {
    /// The user whose UPN or primary mail is `address`, if any (for address allocation).
    pub async fn user_by_address(&self, address: &str) -> Result<Option<Value>, ActionError> {
        match self
            .get(
                &format!("/users/{}", segment(address)),
                &[("$select", SELECT)],
            )
            .await
        {
            Ok(u) => return Ok(Some(u)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into_action()),
        }
        let filter = format!("mail eq {}", literal(address));
        let found = self
            .get_all("/users", &[("$filter", &filter), ("$select", SELECT)])
            .await
            .map_err(GraphError::into_action)?;
        Ok(found.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_complexity() {
        for _ in 0..100 {
            let p = generate_password();
            assert_eq!(p.chars().count(), 16);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
    }
}
