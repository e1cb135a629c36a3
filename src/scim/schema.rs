//! The schemas `/scim/v2` serves (RFC 7643 §8.7.1: User, Group and the enterprise User
//! extension, in `schemas.json` beside this file) and the look-ups the rest of the endpoint makes
//! in them: an attribute's canonical name, type, multiplicity and case sensitivity.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use super::{Kind, ENTERPRISE_URN};

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttrDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default = "read_write")]
    pub mutability: String,
    #[serde(default)]
    pub sub_attributes: Vec<AttrDef>,
}

fn read_write() -> String {
    "readWrite".into()
}

impl AttrDef {
    pub fn is_complex(&self) -> bool {
        self.kind == "complex"
    }

    pub fn is_boolean(&self) -> bool {
        self.kind == "boolean"
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == "readOnly"
    }

    /// A sub-attribute by name, ignoring case.
    pub fn sub(&self, name: &str) -> Option<&AttrDef> {
        find(&self.sub_attributes, name)
    }
}

#[derive(Debug, Clone, Deserialize)]
struct SchemaDef {
    id: String,
    attributes: Vec<AttrDef>,
}

struct Published {
    /// The document as served (without `meta`, which names this server).
    raw: Vec<Value>,
    defs: Vec<SchemaDef>,
    /// `id`, `externalId` and `meta` (RFC 7643 §3.1), common to every resource.
    common: Vec<AttrDef>,
}

static PUBLISHED: LazyLock<Published> = LazyLock::new(|| {
    let raw: Vec<Value> = serde_json::from_str(include_str!("schemas.json")).unwrap_or_default();
    let defs = raw
        .iter()
        .filter_map(|s| serde_json::from_value(s.clone()).ok())
        .collect();
    let common = serde_json::from_value(serde_json::json!([
        {"name": "id", "type": "string", "caseExact": true, "mutability": "readOnly"},
        {"name": "externalId", "type": "string", "caseExact": true},
        {"name": "meta", "type": "complex", "mutability": "readOnly"},
    ]))
    .unwrap_or_default();
    Published { raw, defs, common }
});

/// The published schemas, as `/Schemas` lists them.
pub fn documents() -> &'static [Value] {
    &PUBLISHED.raw
}

fn find<'d>(defs: &'d [AttrDef], name: &str) -> Option<&'d AttrDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

fn schema(id: &str) -> Option<&'static SchemaDef> {
    PUBLISHED
        .defs
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

/// The definition of attribute `name` of a resource of `kind`: in its core schema (with the
/// common attributes) when `urn` is `None`, else in the extension `urn`.
pub fn attribute(kind: Kind, urn: Option<&str>, name: &str) -> Option<&'static AttrDef> {
    match urn {
        None => find(&PUBLISHED.common, name)
            .or_else(|| schema(kind.core_urn()).and_then(|s| find(&s.attributes, name))),
        Some(u) if kind.extensions().iter().any(|e| e.eq_ignore_ascii_case(u)) => {
            schema(u).and_then(|s| find(&s.attributes, name))
        }
        Some(_) => None,
    }
}

/// The extension `urn` as the schema spells it, if `kind` has it. Entra has been seen sending
/// the enterprise URN without its last colon (`…:enterprise:2.0User`); that is read as the
/// extension too.
pub fn extension(kind: Kind, urn: &str) -> Option<&'static str> {
    if kind == Kind::User
        && urn.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:extension:enterprise:2.0User")
    {
        return Some(ENTERPRISE_URN);
    }
    kind.extensions()
        .iter()
        .copied()
        .find(|e| e.eq_ignore_ascii_case(urn))
}

/// Whether string comparisons on `urn:attr.sub` respect case (RFC 7643 §2.2 `caseExact`).
/// Unknown attributes compare ignoring case.
pub fn case_exact(kind: Kind, urn: Option<&str>, attr: &str, sub: Option<&str>) -> bool {
    let Some(def) = attribute(kind, urn, attr) else {
        return false;
    };
    match sub {
        None => def.case_exact,
        Some(s) => def.sub(s).is_some_and(|d| d.case_exact),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_published_schemas_parse_and_are_found_ignoring_case() {
        assert_eq!(documents().len(), 3);
        assert_eq!(PUBLISHED.defs.len(), 3);
        let emails = attribute(Kind::User, None, "EMAILS").unwrap();
        assert!(emails.multi_valued && emails.is_complex());
        assert_eq!(emails.sub("VALUE").unwrap().name, "value");
        assert!(attribute(Kind::User, None, "active").unwrap().is_boolean());
        assert!(attribute(Kind::User, Some(ENTERPRISE_URN), "manager").is_some());
        assert!(attribute(Kind::Group, Some(ENTERPRISE_URN), "manager").is_none());
        assert!(attribute(Kind::Group, None, "members").is_some());
        assert!(case_exact(Kind::User, None, "externalId", None));
        assert!(!case_exact(Kind::User, None, "userName", None));
        assert!(case_exact(Kind::Group, None, "members", Some("value")));
        assert_eq!(
            extension(
                Kind::User,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
            ),
            Some(ENTERPRISE_URN)
        );
    }
}
