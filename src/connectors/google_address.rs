//! The Entra ID → Google address mapping, driven by `identity.google` in `roster.yaml`
//! (`config::GoogleMapping`): which address a user gets (UPN or `mail`, the domain
//! substitution table, guests skipped or mapped by mail, `onmicrosoft.com` refused), and which
//! address a group gets (its `mail`, or a slug of its display name on the groups domain), with
//! groups whose addresses collide reported as conflicts rather than merged. Pure functions: the
//! `identity.google_user` and `identity.google_groups` actions call them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::{GoogleMapping, GroupsBy, Guests, UsersBy};
use crate::script::slug;

/// Where one user goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAddress {
    Provision(String),
    /// Deliberately not provisioned (a guest with `guests: skip`).
    Skip(String),
    /// No usable address: a person must decide.
    Review(String),
}

impl UserAddress {
    pub fn to_json(&self) -> Value {
        match self {
            UserAddress::Provision(a) => {
                json!({ "outcome": "provision", "address": a, "reason": Value::Null })
            }
            UserAddress::Skip(r) => {
                json!({ "outcome": "skip", "address": Value::Null, "reason": r })
            }
            UserAddress::Review(r) => {
                json!({ "outcome": "review", "address": Value::Null, "reason": r })
            }
        }
    }
}

/// The source account as the mapping needs it.
#[derive(Debug, Clone, Default)]
pub struct SourceUser<'a> {
    pub upn: &'a str,
    pub mail: Option<&'a str>,
    pub user_type: Option<&'a str>,
}

fn is_guest(u: &SourceUser) -> bool {
    u.upn.to_ascii_uppercase().contains("#EXT#")
        || u.user_type.is_some_and(|t| t.eq_ignore_ascii_case("guest"))
}

/// `local@domain` with the domain table applied; `Err` says why it is not an address.
fn substitute(m: &GoogleMapping, address: &str) -> Result<String, String> {
    let address = address.trim().to_ascii_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(format!("'{address}' is not an e-mail address"));
    };
    if local.is_empty() || !domain.contains('.') || local.contains('@') {
        return Err(format!("'{address}' is not an e-mail address"));
    }
    let domain = m
        .domains
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(domain))
        .map_or(domain.to_string(), |(_, to)| to.to_ascii_lowercase());
    Ok(format!("{local}@{domain}"))
}

/// The Google address of a source account, or why it has none.
pub fn user(m: &GoogleMapping, u: &SourceUser) -> UserAddress {
    let mail = u.mail.map(str::trim).filter(|s| !s.is_empty());
    let (source, what) = if is_guest(u) {
        match (m.guests, mail) {
            (Guests::Skip, _) => {
                return UserAddress::Skip(format!(
                    "'{}' is a guest account; guests are not provisioned in Google \
                     (identity.google.guests: skip)",
                    u.upn
                ))
            }
            (Guests::Mail, Some(mail)) => (mail, "mail"),
            (Guests::Mail, None) => {
                return UserAddress::Review(format!(
                    "guest '{}' has no mail attribute to map it by (identity.google.guests: mail)",
                    u.upn
                ))
            }
        }
    } else {
        match (m.users_by, mail) {
            (UsersBy::Upn, _) => (u.upn, "userPrincipalName"),
            (UsersBy::Mail, Some(mail)) => (mail, "mail"),
            (UsersBy::Mail, None) => {
                return UserAddress::Review(format!(
                    "'{}' has no mail attribute, and users are mapped by mail \
                     (identity.google.users_by: mail)",
                    u.upn
                ))
            }
        }
    };
    let address = match substitute(m, source) {
        Ok(a) => a,
        Err(e) => return UserAddress::Review(format!("{what} of '{}': {e}", u.upn)),
    };
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_string();
    if domain.ends_with(".onmicrosoft.com") {
        return UserAddress::Review(format!(
            "'{source}' ({what}) is on {domain}, which Google cannot verify, and \
             identity.google.domains maps no domain for it (add e.g. '{domain}: example.com')"
        ));
    }
    UserAddress::Provision(address)
}

/// A source group as the mapping needs it.
#[derive(Debug, Clone)]
pub struct SourceGroup {
    pub id: String,
    pub name: String,
    pub mail: Option<String>,
    pub security_enabled: bool,
}

/// What `groups` decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupPlan {
    /// (group id, display name, Google address), in the order given.
    pub mapped: Vec<(String, String, String)>,
    /// One entry per contested address: the groups that would share it. None of them is mapped.
    pub conflicts: Vec<Value>,
    /// (group id, reason).
    pub skipped: Vec<(String, String)>,
}

/// The Google address of each group; two groups that would land on one address are a conflict
/// (both left out and reported) so one never overwrites the other.
pub fn groups(m: &GoogleMapping, groups: &[SourceGroup]) -> GroupPlan {
    let mut plan = GroupPlan::default();
    let mut by_address: BTreeMap<String, Vec<&SourceGroup>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for g in groups {
        if m.security_groups_only && !g.security_enabled {
            plan.skipped.push((
                g.id.clone(),
                format!(
                    "'{}' is not security-enabled (identity.google.security_groups_only)",
                    g.name
                ),
            ));
            continue;
        }
        let mail = g.mail.as_deref().filter(|s| !s.trim().is_empty());
        let address = match (m.groups_by, mail, &m.groups_domain) {
            (GroupsBy::Email, Some(mail), _) => substitute(m, mail),
            (_, _, Some(domain)) => {
                let local = slug(&g.name);
                if local.is_empty() {
                    Err(format!("'{}' gives no address", g.name))
                } else {
                    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
                }
            }
            (_, _, None) => Err(format!(
                "'{}' has no mail and identity.google.groups_domain is not set",
                g.name
            )),
        };
        match address {
            Ok(a) if a.ends_with(".onmicrosoft.com") => plan.skipped.push((
                g.id.clone(),
                format!("'{a}' is on a domain Google cannot verify (identity.google.domains)"),
            )),
            Ok(a) => {
                if !by_address.contains_key(&a) {
                    order.push(a.clone());
                }
                by_address.entry(a).or_default().push(g);
            }
            Err(e) => plan.skipped.push((g.id.clone(), e)),
        }
    }
    for address in order {
        let Some(list) = by_address.get(&address) else {
            continue;
        };
        match list.as_slice() {
            [one] => plan
                .mapped
                .push((one.id.clone(), one.name.clone(), address.clone())),
            many => plan.conflicts.push(json!({
                "address": address,
                "groups": many.iter().map(|g| json!({"id": g.id, "name": g.name})).collect::<Vec<_>>(),
                "reason": format!(
                    "{} Entra groups ({}) would all become {address}: none is mirrored until \
                     they are renamed or given distinct mail addresses",
                    many.len(),
                    many.iter().map(|g| format!("'{}' {}", g.name, g.id)).collect::<Vec<_>>().join(", ")
                ),
            })),
        }
    }
    plan
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn mapping() -> GoogleMapping {
        let mut m = GoogleMapping::default();
        m.domains
            .insert("contoso.onmicrosoft.com".into(), "contoso.com".into());
        m
    }

    fn u<'a>(upn: &'a str, mail: Option<&'a str>) -> SourceUser<'a> {
        SourceUser {
            upn,
            mail,
            user_type: None,
        }
    }

    #[test]
    fn users_map_by_upn_or_mail_through_the_domain_table() {
        let m = mapping();
        assert_eq!(
            user(&m, &u("Jane.Doe@Contoso.onmicrosoft.com", None)),
            UserAddress::Provision("jane.doe@contoso.com".into())
        );
        let mut by_mail = mapping();
        by_mail.users_by = UsersBy::Mail;
        assert_eq!(
            user(&by_mail, &u("jd@contoso.com", Some("jane@contoso.com"))),
            UserAddress::Provision("jane@contoso.com".into())
        );
        assert!(matches!(
            user(&by_mail, &u("jd@contoso.com", None)),
            UserAddress::Review(r) if r.contains("no mail attribute")
        ));
    }

    #[test]
    fn onmicrosoft_without_a_mapping_goes_to_review_and_guests_are_skipped() {
        let m = GoogleMapping::default();
        let UserAddress::Review(reason) = user(&m, &u("x@fabrikam.onmicrosoft.com", None)) else {
            panic!("review expected")
        };
        assert!(reason.contains("fabrikam.onmicrosoft.com") && reason.contains("cannot verify"));
        let guest = u(
            "ann_partner.com#EXT#@contoso.onmicrosoft.com",
            Some("ann@partner.com"),
        );
        assert!(matches!(user(&m, &guest), UserAddress::Skip(r) if r.contains("guest")));
        let mut by_mail = mapping();
        by_mail.guests = Guests::Mail;
        assert_eq!(
            user(&by_mail, &guest),
            UserAddress::Provision("ann@partner.com".into())
        );
    }

    fn g(id: &str, name: &str, mail: Option<&str>, security: bool) -> SourceGroup {
        SourceGroup {
            id: id.into(),
            name: name.into(),
            mail: mail.map(String::from),
            security_enabled: security,
        }
    }

    #[test]
    fn groups_by_name_on_the_groups_domain_report_duplicates_as_one_conflict() {
        let mut m = mapping();
        m.groups_by = GroupsBy::Name;
        m.groups_domain = Some("groups.contoso.com".into());
        let plan = groups(
            &m,
            &[
                g("1", "Finance Team", None, true),
                g("2", "Sales", None, true),
                g("3", "Finance  team", None, true),
                g("4", "Newsletter", None, false),
            ],
        );
        assert_eq!(
            plan.mapped,
            vec![(
                "2".into(),
                "Sales".into(),
                "sales@groups.contoso.com".into()
            )]
        );
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(
            plan.conflicts[0]["address"],
            "finance-team@groups.contoso.com"
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].0, "4");
    }
}
