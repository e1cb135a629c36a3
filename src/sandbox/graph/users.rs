//! `/users`: create, read (default vs `$select` property sets), list with query options,
//! update, soft delete, revoke sessions, and a user's group memberships (CONTRACT §2, §3.5).

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::model::{self, Deleted, Entra, User};
use super::query::{self, Resource};
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;

/// Properties of `microsoft.graph.user` (the CSDL subset in `openapi-v1.0-subset.yaml`).
pub const KNOWN: &[&str] = &[
    "id",
    "deletedDateTime",
    "aboutMe",
    "accountEnabled",
    "ageGroup",
    "assignedLicenses",
    "assignedPlans",
    "authorizationInfo",
    "birthday",
    "businessPhones",
    "city",
    "companyName",
    "consentProvidedForMinor",
    "country",
    "createdDateTime",
    "creationType",
    "customSecurityAttributes",
    "department",
    "deviceEnrollmentLimit",
    "displayName",
    "employeeHireDate",
    "employeeId",
    "employeeLeaveDateTime",
    "employeeOrgData",
    "employeeType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "faxNumber",
    "givenName",
    "hireDate",
    "identities",
    "identityParentId",
    "imAddresses",
    "interests",
    "isManagementRestricted",
    "isResourceAccount",
    "jobTitle",
    "lastPasswordChangeDateTime",
    "legalAgeGroupClassification",
    "licenseAssignmentStates",
    "mail",
    "mailboxSettings",
    "mailNickname",
    "mobilePhone",
    "mySite",
    "officeLocation",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesProvisioningErrors",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "passwordProfile",
    "pastProjects",
    "postalCode",
    "preferredDataLocation",
    "preferredLanguage",
    "preferredName",
    "print",
    "provisionedPlans",
    "proxyAddresses",
    "responsibilities",
    "schools",
    "securityIdentifier",
    "serviceProvisioningErrors",
    "showInAddressList",
    "signInActivity",
    "signInSessionsValidFromDateTime",
    "skills",
    "state",
    "streetAddress",
    "surname",
    "usageLocation",
    "userPrincipalName",
    "userType",
];

/// What Graph returns without `$select` (CONTRACT §2.1).
pub const DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// What the assignLicense action returns: the default set plus the license state.
const WITH_LICENSES: &[&str] = &[
    "id",
    "accountEnabled",
    "assignedLicenses",
    "assignedPlans",
    "businessPhones",
    "city",
    "companyName",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "usageLocation",
    "userPrincipalName",
];

/// Set by the service, never by a client.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "assignedLicenses",
    "assignedPlans",
    "licenseAssignmentStates",
    "provisionedPlans",
    "signInSessionsValidFromDateTime",
    "lastPasswordChangeDateTime",
    "securityIdentifier",
    "signInActivity",
    "proxyAddresses",
];

const MAX_LENGTHS: &[(&str, usize)] = &[
    ("displayName", 256),
    ("mailNickname", 64),
    ("employeeId", 16),
    ("department", 64),
    ("jobTitle", 128),
    ("givenName", 64),
    ("surname", 64),
];

pub const RESOURCE: Resource<'static> = Resource {
    type_name: "microsoft.graph.user",
    known: KNOWN,
    advanced: true,
};

const UPN_CHARS: &str = "'.-_!#^~";

pub fn context(ctx: &Ctx, tail: &str) -> String {
    format!("{}/v1.0/$metadata#{tail}", ctx.world.base_url)
}

pub fn view(u: &User, select: Option<&[String]>) -> Map<String, Value> {
    let mut m = query::project(&u.props, select, DEFAULT);
    if m.get("businessPhones") == Some(&Value::Null) {
        m.insert("businessPhones".into(), json!([]));
    }
    m
}

pub fn view_with_licenses(u: &User) -> Map<String, Value> {
    let mut m = query::project(&u.props, None, WITH_LICENSES);
    for k in ["businessPhones", "assignedLicenses", "assignedPlans"] {
        if m.get(k) == Some(&Value::Null) {
            m.insert(k.into(), json!([]));
        }
    }
    m
}

pub fn list(ctx: &Ctx) -> GraphResult {
    let q = query::parse_list(ctx.call, &RESOURCE)?;
    let st = ctx.world.lock();
    let items = st
        .entra
        .users
        .values()
        .filter(|u| u.visible_at <= ctx.now)
        .map(|u| u.props.clone())
        .collect();
    let body = query::collection(
        items,
        &q,
        false,
        &context(ctx, "users"),
        &format!("{}/v1.0/users", ctx.world.base_url),
        &ctx.call.raw_query,
        |i| {
            let mut m = query::project(i, q.select.as_deref(), DEFAULT);
            if q.select.is_none() && m.get("businessPhones") == Some(&Value::Null) {
                m.insert("businessPhones".into(), json!([]));
            }
            m
        },
    );
    Ok(Reply::ok(body))
}

pub fn get(ctx: &Ctx) -> GraphResult {
    let select = query::parse_select(ctx.call, &RESOURCE)?;
    let st = ctx.world.lock();
    let u = st.entra.visible_user(ctx.call.param("user-id"), ctx.now)?;
    let mut body = view(u, select.as_deref());
    let tail = match &select {
        Some(s) => format!("users({})/$entity", s.join(",")),
        None => "users/$entity".into(),
    };
    body.insert("@odata.context".into(), json!(context(ctx, &tail)));
    Ok(Reply::ok(Value::Object(move_context_first(body))))
}

fn move_context_first(m: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(c) = m.get("@odata.context") {
        out.insert("@odata.context".into(), c.clone());
    }
    for (k, v) in m {
        if k != "@odata.context" {
            out.insert(k, v);
        }
    }
    out
}

/// Checks property names and values of a create or update body; returns the password if set.
fn check_properties(
    entra: &Entra,
    body: &Map<String, Value>,
    except: Option<&str>,
) -> Result<Option<String>, GraphError> {
    for (k, v) in body {
        if k.starts_with('@') {
            continue;
        }
        let Some(name) = query::canonical(KNOWN, k) else {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        };
        if READ_ONLY.contains(&name) {
            return Err(GraphError::bad_request(format!(
                "Property '{name}' is read-only and cannot be set."
            )));
        }
        if let Some((_, max)) = MAX_LENGTHS.iter().find(|(p, _)| *p == name) {
            let ok = v.is_null() || v.as_str().is_some_and(|s| s.chars().count() <= *max);
            if !ok {
                return Err(GraphError::invalid_value(name, "User"));
            }
        }
        match name {
            "accountEnabled" if !v.is_boolean() => {
                return Err(GraphError::invalid_value(name, "User"))
            }
            "usageLocation"
                if !(v.is_null()
                    || v.as_str().is_some_and(|s| {
                        s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase())
                    })) =>
            {
                return Err(GraphError::invalid_value(name, "User"))
            }
            "userPrincipalName" => {
                let upn = v.as_str().unwrap_or("");
                if !valid_upn(upn, &entra.domains) {
                    return Err(GraphError::bad_request(
                        "Property userPrincipalName is invalid.",
                    ));
                }
                if entra.upn_taken(upn, except) {
                    return Err(GraphError::upn_conflict());
                }
            }
            "mail" => {
                if let Some(m) = v.as_str() {
                    if !m.is_ascii() || !m.contains('@') {
                        return Err(GraphError::invalid_value(name, "User"));
                    }
                    if entra.mail_taken(m, except) {
                        return Err(GraphError::conflicting_object());
                    }
                }
            }
            _ => {}
        }
    }
    let Some(profile) = body.get("passwordProfile") else {
        return Ok(None);
    };
    let password = profile
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::invalid_value("passwordProfile", "User"))?;
    if !strong(password) {
        return Err(GraphError::bad_request("The specified password does not comply with password complexity requirements. Please provide a different password."));
    }
    Ok(Some(password.to_string()))
}

fn valid_upn(upn: &str, domains: &[String]) -> bool {
    let Some((alias, domain)) = upn.rsplit_once('@') else {
        return false;
    };
    !alias.is_empty()
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || UPN_CHARS.contains(c))
        && !alias.starts_with('.')
        && !alias.ends_with('.')
        && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
}

/// Entra's default policy: at least 8 characters from at least three of four classes.
fn strong(p: &str) -> bool {
    let classes = [
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    p.chars().count() >= 8
        && p.chars().count() <= 256
        && classes.iter().filter(|c| **c).count() >= 3
}

/// Adds a user; shared with bulkUpload. `body` must already be an object.
pub fn insert(
    entra: &mut Entra,
    body: &Map<String, Value>,
    visible_at: Instant,
) -> Result<User, GraphError> {
    for required in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        if body.get(required).is_none_or(Value::is_null) {
            return Err(GraphError::invalid_value(required, "User"));
        }
    }
    let password = check_properties(entra, body, None)?;
    let id = ids::guid();
    let mut props = Map::new();
    props.insert("id".into(), json!(id));
    for (k, v) in body {
        if k.starts_with('@') || k == "passwordProfile" {
            continue;
        }
        if let Some(name) = query::canonical(KNOWN, k) {
            props.insert(name.to_string(), v.clone());
        }
    }
    props.insert("assignedLicenses".into(), json!([]));
    props.insert("createdDateTime".into(), json!(model::timestamp()));
    props.entry("userType").or_insert(json!("Member"));
    let user = User {
        id: id.clone(),
        props,
        password,
        visible_at,
    };
    entra.users.insert(id, user.clone());
    Ok(user)
}

pub fn create(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    let visible_at = ctx.world.visible_from(ctx.now);
    let mut st = ctx.world.lock();
    let user = insert(&mut st.entra, &body, visible_at)?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(context(ctx, "users/$entity")),
    );
    out.extend(view(&user, None));
    Ok(Reply::json(StatusCode::CREATED, Value::Object(out)))
}

pub fn update(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    if body.contains_key("employeeLeaveDateTime")
        && !ctx.has_role("User-LifeCycleInfo.ReadWrite.All")
    {
        return Err(GraphError::denied());
    }
    let mut st = ctx.world.lock();
    let id = st
        .entra
        .visible_user_id(ctx.call.param("user-id"), ctx.now)?;
    let password = check_properties(&st.entra, &body, Some(&id))?;
    let Some(user) = st.entra.users.get_mut(&id) else {
        return Err(GraphError::not_found(ctx.call.param("user-id")));
    };
    for (k, v) in body {
        if k.starts_with('@') || k == "passwordProfile" {
            continue;
        }
        if let Some(name) = query::canonical(KNOWN, &k) {
            if v.is_null() {
                user.props.remove(name);
            } else {
                user.props.insert(name.to_string(), v);
            }
        }
    }
    if password.is_some() {
        user.password = password;
        user.props.insert(
            "lastPasswordChangeDateTime".into(),
            json!(model::timestamp()),
        );
    }
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub fn delete(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let id = st
        .entra
        .visible_user_id(ctx.call.param("user-id"), ctx.now)?;
    soft_delete(&mut st.entra, &id);
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

/// Moves a user into `deletedItems`, remembering its groups for a restore.
fn soft_delete(entra: &mut Entra, id: &str) {
    let Some(mut user) = entra.users.remove(id) else {
        return;
    };
    let mut groups = Vec::new();
    for g in entra.groups.values_mut() {
        if let Some(pos) = g.members.iter().position(|m| m == id) {
            g.members.remove(pos);
            groups.push(g.id.clone());
        }
    }
    user.props
        .insert("deletedDateTime".into(), json!(model::timestamp()));
    entra
        .deleted
        .insert(id.to_string(), Deleted { user, groups });
}

pub fn revoke_sessions(ctx: &Ctx) -> GraphResult {
    let mut st = ctx.world.lock();
    let id = st
        .entra
        .visible_user_id(ctx.call.param("user-id"), ctx.now)?;
    if let Some(u) = st.entra.users.get_mut(&id) {
        u.props.insert(
            "signInSessionsValidFromDateTime".into(),
            json!(model::timestamp()),
        );
    }
    Ok(Reply::ok(json!({
        "@odata.context": context(ctx, "Edm.Boolean"),
        "value": true,
    })))
}

/// `memberOf` (direct) or `transitiveMemberOf`: groups as directoryObjects.
pub fn member_of(ctx: &Ctx, transitive: bool) -> GraphResult {
    let q = query::parse_list(ctx.call, &super::groups::RESOURCE)?;
    let st = ctx.world.lock();
    let id = st
        .entra
        .visible_user_id(ctx.call.param("user-id"), ctx.now)?;
    let groups = if transitive {
        st.entra.transitive_groups_of(&id)
    } else {
        st.entra.direct_groups_of(&id)
    };
    let items = groups.into_iter().map(|g| g.props.clone()).collect();
    let tail = if transitive {
        "transitiveMemberOf"
    } else {
        "memberOf"
    };
    Ok(Reply::ok(query::collection(
        items,
        &q,
        false,
        &context(ctx, "directoryObjects"),
        &format!("{}/v1.0/users/{id}/{tail}", ctx.world.base_url),
        &ctx.call.raw_query,
        |g| super::groups::directory_object(g, q.select.as_deref()),
    )))
}
