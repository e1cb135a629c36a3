//! Attribute paths (RFC 7644 §3.10 and the PATCH `path` of §3.5.2): `userName`,
//! `name.givenName`, `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, and a whole
//! extension (`urn:…:enterprise:2.0:User`). Attribute names and URNs match ignoring case.

use serde_json::{Map, Value};

use super::filter::{Filter, Parser, Scope};
use super::{Kind, ENTERPRISE_URN, GROUP_URN, USER_URN};

/// One parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// The extension URN (the schema's spelling when it is a known one); `None` for the core
    /// schema.
    pub urn: Option<String>,
    /// The attribute; empty when the path names a whole extension.
    pub attr: String,
    /// `[filter]` selecting values of a multi-valued attribute.
    pub filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

/// The extensions a path may name without being told (the last colon of an unknown URN
/// separates it from the attribute).
const KNOWN_URNS: &[&str] = &[USER_URN, GROUP_URN, ENTERPRISE_URN];

impl Path {
    /// A path that must be all of `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Path, String> {
        let mut p = Parser::new(text);
        let path = p.path()?;
        p.end()?;
        Ok(path)
    }

    /// Splits an attribute token (`urn:…:User:name.givenName`, `emails`) into URN, attribute
    /// and sub-attribute.
    pub(super) fn from_token(token: &str) -> Result<Path, String> {
        let (urn, rest) = split_urn(token);
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if urn.is_none() || !attr.is_empty() {
            check_name(attr, token)?;
        }
        if let Some(s) = sub {
            check_name(s, token)?;
        }
        Ok(Path {
            urn,
            attr: attr.to_string(),
            filter: None,
            sub: sub.map(String::from),
        })
    }

    /// Whether the path names a whole extension object.
    pub fn is_extension_root(&self) -> bool {
        self.urn.is_some() && self.attr.is_empty()
    }

    /// The object holding the attribute: the resource, or its extension object.
    fn container<'v>(&self, resource: &'v Value) -> Option<&'v Value> {
        match &self.urn {
            None => Some(resource),
            Some(u) => get_ci(resource, u),
        }
    }

    /// Every value the path selects in `resource` (multi-valued attributes flattened).
    pub fn values<'v>(&self, resource: &'v Value, scope: Scope<'_>) -> Vec<&'v Value> {
        let Some(top) = self.container(resource) else {
            // `urn:x:User.attr`: a custom URN written with a dot before its attribute.
            return match (&self.urn, &self.sub) {
                (Some(u), Some(s)) => get_ci(resource, &format!("{u}:{}", self.attr))
                    .and_then(|o| get_ci(o, s))
                    .map(flatten)
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
        };
        if self.attr.is_empty() {
            return vec![top];
        }
        let Some(v) = get_ci(top, &self.attr) else {
            return Vec::new();
        };
        let mut items = flatten(v);
        if let Some(f) = &self.filter {
            let inner = scope.within(self.urn.as_deref(), &self.attr);
            items.retain(|e| f.matches(e, inner));
        }
        match &self.sub {
            None => items,
            Some(s) => items
                .into_iter()
                .filter_map(|e| get_ci(e, s))
                .flat_map(flatten)
                .collect(),
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}")?;
            if !self.attr.is_empty() {
                write!(f, ":")?;
            }
        }
        write!(f, "{}", self.attr)?;
        if self.filter.is_some() {
            write!(f, "[…]")?;
        }
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// `urn:…` and the rest of an attribute token; a core schema's URN is dropped (its attributes
/// are the resource's own).
fn split_urn(token: &str) -> (Option<String>, &str) {
    if !token
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        return (None, token);
    }
    let known = KNOWN_URNS.iter().find_map(|k| {
        let head = token.get(..k.len())?;
        if !head.eq_ignore_ascii_case(k) {
            return None;
        }
        match &token[k.len()..] {
            "" => Some((*k, "")),
            rest => rest.strip_prefix(':').map(|r| (*k, r)),
        }
    });
    let (urn, rest) = match known {
        Some((k, rest)) => (k.to_string(), rest),
        None => match token.rfind(':') {
            Some(i) => (token[..i].to_string(), &token[i + 1..]),
            None => (token.to_string(), ""),
        },
    };
    if urn == USER_URN || urn == GROUP_URN {
        (None, rest)
    } else {
        (Some(urn), rest)
    }
}

/// RFC 7643 §2.1 `ATTRNAME = ALPHA *(nameChar)`, plus `$ref`.
fn check_name(name: &str, token: &str) -> Result<(), String> {
    let ok = name == "$ref"
        || (name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{token}' is not an attribute path"))
    }
}

/// A member of an object by name, ignoring case (an exact match first).
pub fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key under which `map` holds `key` ignoring case, if it does.
pub fn key_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    if map.contains_key(key) {
        return Some(key.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// The scope a path of `kind`'s resource is evaluated in.
pub fn scope(kind: Kind) -> Scope<'static> {
    Scope { kind, parent: None }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_urn_attribute_and_sub_attribute() {
        let p = Path::parse("name.givenName").unwrap();
        assert_eq!(
            (p.urn, p.attr.as_str(), p.sub.as_deref()),
            (None, "name", Some("givenName"))
        );
        let p =
            Path::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
                .unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENTERPRISE_URN));
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("manager", Some("value"))
        );
        let p = Path::parse("URN:IETF:params:scim:schemas:extension:enterprise:2.0:User").unwrap();
        assert!(p.is_extension_root());
        let p = Path::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert_eq!((p.urn, p.attr.as_str()), (None, "userName"));
        let p = Path::parse("urn:ietf:params:scim:schemas:gsuite:1.0:User:authnRole").unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:gsuite:1.0:User")
        );
        assert!(Path::parse("emails[type eq \"work\"].value")
            .unwrap()
            .filter
            .is_some());
        assert!(Path::parse("9lives").is_err());
        assert!(Path::parse("name.givenName.x").is_err());
    }

    #[test]
    fn values_follow_filters_sub_attributes_and_dotted_custom_urns() {
        let user = json!({
            "emails": [{"value": "a@x", "type": "work"}, {"value": "b@y", "type": "home"}],
            "urn:ietf:params:scim:schemas:gsuite:1.0:User": {"authnRole": "admin"},
        });
        let s = scope(Kind::User);
        let p = Path::parse("emails[type eq \"HOME\"].value").unwrap();
        assert_eq!(p.values(&user, s), vec![&json!("b@y")]);
        let p = Path::parse("EMAILS.value").unwrap();
        assert_eq!(p.values(&user, s).len(), 2);
        let p = Path::parse("urn:ietf:params:scim:schemas:gsuite:1.0:User.authnRole").unwrap();
        assert_eq!(p.values(&user, s), vec![&json!("admin")]);
    }
}
