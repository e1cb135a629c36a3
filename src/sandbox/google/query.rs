//! The `users.list` `query` search syntax (CONTRACT §2.2): space-separated clauses, ANDed;
//! `field=value` exact, `field:value` whole words in order, `field:prefix*`, `:[min,max]`
//! ranges and `> >= < <=`; quoted values `'…'` with `\'`; a bare value matches given name,
//! family name or e-mail. Fields: email, givenName, familyName, name, isAdmin, isSuspended,
//! isArchived, externalId, org*, orgUnitPath (subtree), manager/directManager, phone, and
//! custom `schema.field`.

use serde_json::Value;

use super::model::{primary_email, User};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exact,
    Words,
    Prefix,
    Range(String, String),
    Cmp(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    field: Option<String>,
    op: Op,
    value: String,
}

fn split_clauses(q: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    current.push('\\');
                    current.push(n);
                }
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err("a quoted value is not closed".into());
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn unquote(v: &str) -> String {
    let v = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(v);
    v.replace("\\'", "'")
}

pub fn parse(q: &str) -> Result<Vec<Clause>, String> {
    split_clauses(q)?
        .into_iter()
        .map(|token| {
            let name_end = token
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(token.len());
            let (field, rest) = token.split_at(name_end);
            let ops: [(&str, Option<&'static str>); 6] = [
                (">=", Some(">=")),
                ("<=", Some("<=")),
                (">", Some(">")),
                ("<", Some("<")),
                ("=", None),
                (":", None),
            ];
            let Some((sym, cmp)) = ops.iter().find(|(s, _)| rest.starts_with(s)).copied() else {
                return Ok(Clause {
                    field: None,
                    op: Op::Words,
                    value: unquote(&token),
                });
            };
            if field.is_empty() {
                return Err(format!("'{token}' has no field name"));
            }
            check_field(field)?;
            let raw = &rest[sym.len()..];
            let op = match (sym, cmp) {
                (_, Some(c)) => Op::Cmp(c),
                ("=", None) => Op::Exact,
                _ if raw.starts_with('[') && raw.ends_with(']') => {
                    let inner = &raw[1..raw.len() - 1];
                    let (a, b) = inner
                        .split_once(',')
                        .ok_or_else(|| format!("'{token}' is not a [min,max] range"))?;
                    Op::Range(unquote(a.trim()), unquote(b.trim()))
                }
                _ if raw.ends_with('*') && !raw.starts_with('\'') => Op::Prefix,
                _ => Op::Words,
            };
            let value = match op {
                Op::Prefix => raw.trim_end_matches('*').to_string(),
                _ => unquote(raw),
            };
            Ok(Clause {
                field: Some(field.to_string()),
                op,
                value,
            })
        })
        .collect()
}

const FIELDS: &[&str] = &[
    "email",
    "givenName",
    "familyName",
    "name",
    "isAdmin",
    "isDelegatedAdmin",
    "isSuspended",
    "isArchived",
    "externalId",
    "orgName",
    "orgTitle",
    "orgDepartment",
    "orgDescription",
    "orgCostCenter",
    "orgUnitPath",
    "manager",
    "directManager",
    "phone",
    "isEnrolledIn2Sv",
    "isEnforcedIn2Sv",
];

fn check_field(field: &str) -> Result<(), String> {
    if field.contains('.') || FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field)) {
        Ok(())
    } else {
        Err(format!("unknown query field '{field}'"))
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Array(a)) => a
            .iter()
            .flat_map(|x| strings(x.get("value").or(Some(x))))
            .collect(),
        _ => Vec::new(),
    }
}

fn from_list(u: &User, list: &str, key: &str) -> Vec<String> {
    u.body
        .get(list)
        .and_then(Value::as_array)
        .map(|a| a.iter().flat_map(|e| strings(e.get(key))).collect())
        .unwrap_or_default()
}

/// The values of a query field for one user.
fn values(u: &User, field: &str) -> Vec<String> {
    let name = |k: &str| strings(u.body.get("name").and_then(|n| n.get(k)));
    match field.to_ascii_lowercase().as_str() {
        "email" => {
            let mut v = vec![primary_email(u).to_string()];
            v.extend(u.aliases.iter().cloned());
            v.extend(from_list(u, "emails", "address"));
            v
        }
        "givenname" => name("givenName"),
        "familyname" => name("familyName"),
        "name" => name("fullName"),
        "isadmin" => vec![u.is_admin.to_string()],
        "issuspended" => strings(u.body.get("suspended")),
        "isarchived" => strings(u.body.get("archived")),
        "isdelegatedadmin" => strings(u.body.get("isDelegatedAdmin")),
        "isenrolledin2sv" => strings(u.body.get("isEnrolledIn2Sv")),
        "isenforcedin2sv" => strings(u.body.get("isEnforcedIn2Sv")),
        "externalid" => from_list(u, "externalIds", "value"),
        "orgname" => from_list(u, "organizations", "name"),
        "orgtitle" => from_list(u, "organizations", "title"),
        "orgdepartment" => from_list(u, "organizations", "department"),
        "orgdescription" => from_list(u, "organizations", "description"),
        "orgcostcenter" => from_list(u, "organizations", "costCenter"),
        "orgunitpath" => strings(u.body.get("orgUnitPath")),
        "phone" => from_list(u, "phones", "value"),
        "manager" | "directmanager" => u
            .body
            .get("relations")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|r| r.get("type") == Some(&Value::from("manager")))
                    .flat_map(|r| strings(r.get("value")))
                    .collect()
            })
            .unwrap_or_default(),
        _ => {
            let Some((schema, key)) = field.split_once('.') else {
                return Vec::new();
            };
            strings(
                u.body
                    .get("customSchemas")
                    .and_then(|c| c.get(schema))
                    .and_then(|s| s.get(key)),
            )
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    let h = words(haystack);
    let n = words(needle);
    !n.is_empty() && h.windows(n.len()).any(|w| w == n.as_slice())
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

impl Clause {
    fn matches(&self, u: &User) -> bool {
        let Some(field) = &self.field else {
            let v = self.value.to_lowercase();
            return ["givenName", "familyName", "email"]
                .iter()
                .flat_map(|f| values(u, f))
                .any(|x| {
                    words(&x).iter().any(|w| w.starts_with(&v)) || x.to_lowercase().starts_with(&v)
                });
        };
        let vals = values(u, field);
        if field.eq_ignore_ascii_case("orgUnitPath") {
            let want = self.value.trim_end_matches('/');
            return vals.iter().any(|p| {
                want.is_empty()
                    || p.eq_ignore_ascii_case(want)
                    || p.to_lowercase()
                        .starts_with(&format!("{}/", want.to_lowercase()))
            });
        }
        vals.iter().any(|x| match &self.op {
            Op::Exact => x.eq_ignore_ascii_case(&self.value),
            Op::Words => contains_words(x, &self.value) || x.eq_ignore_ascii_case(&self.value),
            Op::Prefix => x.to_lowercase().starts_with(&self.value.to_lowercase()),
            Op::Range(min, max) => compare(x, min).is_ge() && compare(x, max).is_lt(),
            Op::Cmp(c) => {
                let o = compare(x, &self.value);
                match *c {
                    ">=" => o.is_ge(),
                    "<=" => o.is_le(),
                    ">" => o.is_gt(),
                    _ => o.is_lt(),
                }
            }
        })
    }
}

pub fn matches(clauses: &[Clause], u: &User) -> bool {
    clauses.iter().all(|c| c.matches(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_on_spaces_outside_quotes() {
        let c = parse("orgDepartment='Human Resources' isSuspended=false email:ada*");
        assert!(c.is_ok(), "{c:?}");
        let c = c.unwrap_or_default();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].value, "Human Resources");
        assert_eq!(c[2].op, Op::Prefix);
        assert!(parse("bogusField=1").is_err());
        assert!(parse("name:'open").is_err());
    }
}
