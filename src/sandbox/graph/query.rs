//! OData query options over Graph collections (CONTRACT §2.2–§2.4): `$filter` (see `filter`),
//! `$select`, `$top` with an opaque
//! `$skiptoken` in `@odata.nextLink`, `$orderby`, `$count` and `$search`; and the rule that
//! advanced queries need `ConsistencyLevel: eventual` (plus `$count=true` for ne/not/endsWith).

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::errors::GraphError;
use super::filter::{compare, parse, Expr};
use crate::sandbox::dispatch::Call;
use crate::sandbox::ids;

/// The query options of one list request, checked.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub filter: Option<Expr>,
    pub select: Option<Vec<String>>,
    pub top: usize,
    pub offset: usize,
    pub count: bool,
    pub order_by: Option<(String, bool)>,
    pub search: Option<(String, String)>,
}

/// The resource a collection holds, for option checks and messages.
pub struct Resource<'a> {
    /// `microsoft.graph.user`.
    pub type_name: &'a str,
    /// Properties that exist on the type.
    pub known: &'a [&'a str],
    /// Whether `$filter` may use `ConsistencyLevel`-gated operators at all.
    pub advanced: bool,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(axum::http::StatusCode::BAD_REQUEST, "BadRequest", message)
}

pub fn canonical<'a>(known: &[&'a str], name: &str) -> Option<&'a str> {
    known.iter().find(|k| k.eq_ignore_ascii_case(name)).copied()
}

pub fn parse_select(call: &Call, r: &Resource) -> Result<Option<Vec<String>>, GraphError> {
    let Some(select) = call.query("$select") else {
        return Ok(None);
    };
    select
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            canonical(r.known, name).map(str::to_string).ok_or_else(|| {
                bad(format!(
                    "Could not find a property named '{name}' on type '{}'.",
                    r.type_name
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub fn parse_list(call: &Call, r: &Resource) -> Result<ListQuery, GraphError> {
    let eventual = call
        .header("consistencylevel")
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let count = match call.query("$count") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(bad(format!("Invalid value '{v}' for $count."))),
    };
    if call.query("$skip").is_some() {
        return Err(GraphError::bad_request(
            "The query specified in the URI is not valid. Query option 'Skip' is not allowed.",
        ));
    }
    let filter = match call.query("$filter") {
        None => None,
        Some(f) => {
            let e = parse(f).map_err(|why| bad(format!("Invalid filter clause: {why}")))?;
            for p in e.properties() {
                let head = p.split('/').next().unwrap_or(p);
                if canonical(r.known, head).is_none() {
                    return Err(bad(format!(
                        "Could not find a property named '{head}' on type '{}'.",
                        r.type_name
                    )));
                }
            }
            if let Some(op) = e.advanced_operator() {
                if !(r.advanced && eventual && count) {
                    return Err(GraphError::unsupported_query(format!("Operator '{op}' is not supported because the required parameters might be missing. Try adding $count with a value of true and the ConsistencyLevel header with a value of eventual.")));
                }
            }
            Some(e)
        }
    };
    let order_by = match call.query("$orderby") {
        None => None,
        Some(o) => {
            let mut parts = o.split_whitespace();
            let name = parts.next().unwrap_or("");
            let prop = canonical(r.known, name).ok_or_else(|| {
                bad(format!(
                    "Could not find a property named '{name}' on type '{}'.",
                    r.type_name
                ))
            })?;
            let desc = parts.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            if filter.is_some() && !eventual {
                return Err(GraphError::unsupported_query("Sorting not supported for current query. Combining $orderby with $filter requires ConsistencyLevel: eventual and $count=true."));
            }
            Some((prop.to_string(), desc))
        }
    };
    if count && !eventual {
        return Err(GraphError::unsupported_query("$count is not currently supported. Counting needs the ConsistencyLevel header with a value of eventual."));
    }
    let search = match call.query("$search") {
        None => None,
        Some(_) if !eventual => {
            return Err(GraphError::unsupported_query("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"))
        }
        Some(s) => {
            let inner = s.trim().trim_matches('"');
            let (prop, value) = inner.split_once(':').ok_or_else(|| bad("Syntax error: $search clauses look like \"property:value\"."))?;
            let prop = canonical(r.known, prop).ok_or_else(|| bad(format!("Could not find a property named '{prop}' on type '{}'.", r.type_name)))?;
            Some((prop.to_string(), value.to_lowercase()))
        }
    };
    let top = match call.query("$top") {
        None => 100,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
                )))
            }
        },
    };
    let offset = match call.query("$skiptoken") {
        None => 0,
        Some(t) => ids::page_offset(t).ok_or_else(|| bad("The specified page token value has expired and can no longer be included in your request."))?,
    };
    Ok(ListQuery {
        filter,
        select: parse_select(call, r)?,
        top,
        offset,
        count,
        order_by,
        search,
    })
}

/// A projected item: the selected properties (or the default set), absent ones as `null`.
pub fn project(
    item: &Map<String, Value>,
    select: Option<&[String]>,
    default: &[&str],
) -> Map<String, Value> {
    let names: Vec<&str> = match select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => default.to_vec(),
    };
    names
        .into_iter()
        .map(|n| (n.to_string(), item.get(n).cloned().unwrap_or(Value::Null)))
        .collect()
}

/// Filters, orders, counts and pages `items`, then projects each one.
pub fn collection(
    items: Vec<Map<String, Value>>,
    q: &ListQuery,
    case_sensitive: bool,
    context: &str,
    self_url: &str,
    raw_query: &str,
    project_item: impl Fn(&Map<String, Value>) -> Map<String, Value>,
) -> Value {
    let mut items: Vec<Map<String, Value>> = items
        .into_iter()
        .filter(|i| {
            q.filter
                .as_ref()
                .is_none_or(|f| f.matches(i, case_sensitive))
        })
        .filter(|i| {
            q.search.as_ref().is_none_or(|(p, v)| {
                i.get(p)
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.to_lowercase().contains(v.as_str()))
            })
        })
        .collect();
    if let Some((prop, desc)) = &q.order_by {
        items.sort_by(|a, b| {
            let o = compare(
                a.get(prop).unwrap_or(&Value::Null),
                b.get(prop).unwrap_or(&Value::Null),
                false,
            )
            .unwrap_or(Ordering::Equal);
            if *desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = items.len();
    let page: Vec<Value> = items
        .iter()
        .skip(q.offset)
        .take(q.top)
        .map(|i| Value::Object(project_item(i)))
        .collect();
    let mut body = Map::new();
    let context = match &q.select {
        Some(s) => format!("{context}({})", s.join(",")),
        None => context.to_string(),
    };
    body.insert("@odata.context".into(), json!(context));
    if q.count {
        body.insert("@odata.count".into(), json!(total));
    }
    if q.offset + q.top < total {
        let kept: Vec<&str> = raw_query
            .split('&')
            .filter(|p| {
                !p.is_empty() && !p.starts_with("$skiptoken=") && !p.starts_with("%24skiptoken=")
            })
            .collect();
        let mut next = format!("{self_url}?");
        for p in kept {
            next.push_str(p);
            next.push('&');
        }
        next.push_str(&format!("$skiptoken={}", ids::page_token(q.offset + q.top)));
        body.insert("@odata.nextLink".into(), json!(next));
    }
    body.insert("value".into(), Value::Array(page));
    Value::Object(body)
}
