//! `identity:` in `roster.yaml`: how accounts and groups of the source directory (Entra ID)
//! are given addresses in Google, for the `identity.google_user` and `identity.google_groups`
//! actions. Defaults live in one place (the `Default` impls); `check` reports the first
//! problem with its key.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `identity:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Entra ID accounts and groups → Google addresses.
    #[serde(default)]
    pub google: GoogleMapping,
}

/// Which Entra attribute a user's Google address comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsersBy {
    /// `userPrincipalName` (the default).
    #[default]
    Upn,
    /// `mail`.
    Mail,
}

/// What becomes of guest accounts (`#EXT#` UPNs, `userType: Guest`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guests {
    /// Not provisioned; the run says why (the default).
    #[default]
    Skip,
    /// Provisioned under their `mail` address, mapped like any other (domain table included).
    Mail,
}

/// Where a group's Google address comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupsBy {
    /// The group's `mail` (mail-enabled groups), domain table applied (the default).
    #[default]
    Email,
    /// An address derived from the display name on `groups_domain`
    /// (`Finance Team` → `finance-team@groups.example.com`).
    Name,
}

/// `identity.google`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleMapping {
    /// `upn` (default) or `mail`.
    #[serde(default)]
    pub users_by: UsersBy,
    /// Domain substitutions applied to every address, e.g.
    /// `contoso.onmicrosoft.com: contoso.com` (Google cannot verify `onmicrosoft.com`).
    #[serde(default)]
    pub domains: BTreeMap<String, String>,
    /// `skip` (default) or `mail`.
    #[serde(default)]
    pub guests: Guests,
    /// `email` (default) or `name`.
    #[serde(default)]
    pub groups_by: GroupsBy,
    /// The domain name-derived group addresses go to, e.g. `groups.example.com`; required
    /// with `groups_by: name`, and the fallback for groups without `mail` otherwise.
    #[serde(default)]
    pub groups_domain: Option<String>,
    /// Only security-enabled groups are mirrored (default `true`).
    #[serde(default = "yes")]
    pub security_groups_only: bool,
}

fn yes() -> bool {
    true
}

impl Default for GoogleMapping {
    fn default() -> Self {
        GoogleMapping {
            users_by: UsersBy::default(),
            domains: BTreeMap::new(),
            guests: Guests::default(),
            groups_by: GroupsBy::default(),
            groups_domain: None,
            security_groups_only: true,
        }
    }
}

impl IdentityConfig {
    /// (key, message) of the first problem serde cannot see.
    pub fn check(&self) -> Result<(), (String, String)> {
        let g = &self.google;
        for (from, to) in &g.domains {
            for (what, d) in [("from", from), ("to", to)] {
                if d.trim().is_empty() || d.contains('@') || !d.contains('.') {
                    return Err((
                        format!("identity.google.domains.{from}"),
                        format!("'{d}' ({what}) is not a domain name like contoso.com"),
                    ));
                }
            }
        }
        if g.groups_by == GroupsBy::Name && g.groups_domain.is_none() {
            return Err((
                "identity.google.groups_domain".into(),
                "groups_by: name needs groups_domain (e.g. groups.example.com)".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::Config;

    fn load(yaml: &str) -> Result<Config, String> {
        Config::from_parts("roster.yaml", Some(yaml), &[], std::env::temp_dir())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_mapping_is_read_with_defaults_and_bad_values_name_their_key() {
        let c =
            load("identity:\n  google:\n    domains: { contoso.onmicrosoft.com: contoso.com }\n")
                .unwrap();
        let g = &c.identity.google;
        assert_eq!(g.users_by, super::UsersBy::Upn);
        assert_eq!(g.guests, super::Guests::Skip);
        assert!(g.security_groups_only);
        assert_eq!(g.domains["contoso.onmicrosoft.com"], "contoso.com");

        let e = load("identity:\n  google:\n    groups_by: name\n").unwrap_err();
        assert!(e.contains("identity.google.groups_domain"), "{e}");
        let e = load("identity:\n  google:\n    domains: { contoso.onmicrosoft.com: nodot }\n")
            .unwrap_err();
        assert!(
            e.contains("identity.google.domains.contoso.onmicrosoft.com"),
            "{e}"
        );
        let e = load("identity:\n  google:\n    users_by: email\n").unwrap_err();
        assert!(e.contains("users_by") || e.contains("email"), "{e}");
    }
}
