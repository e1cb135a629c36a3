//! Queries (RFC 7644 §3.4.2): `GET /Users?filter=…&startIndex=…&count=…&attributes=…`, the
//! same as a `POST …/.search` body, and the `ListResponse` they answer (0 matches is a 200 with
//! `totalResults: 0`). A filter on `id`, `externalId` or the resource's name (`userName eq`,
//! `displayName eq`: what Entra and Google send for every user) reads one index; any other
//! filter is evaluated over the resources of the type.

use serde_json::{json, Value};

use super::error::ScimError;
use super::filter::{Filter, Op};
use super::path::{get_ci, scope, Path};
use super::{Kind, ScimState, LIST_URN};
use crate::store::ScimKey;

/// `attributes` / `excludedAttributes` of any request that answers resources.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<Path>,
    pub excluded: Vec<Path>,
}

impl Projection {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    pub fn apply(&self, resource: Value) -> Value {
        super::resource::project(resource, &self.attributes, &self.excluded)
    }
}

/// A query's parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: Option<usize>,
    pub projection: Projection,
}

fn paths(list: &str, param: &str) -> Result<Vec<Path>, ScimError> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Path::parse(p).map_err(|e| ScimError::bad("invalidPath", format!("{param}: {e}"))))
        .collect()
}

fn filter(text: &str) -> Result<Option<Filter>, ScimError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    Filter::parse(text)
        .map(Some)
        .map_err(|e| ScimError::bad("invalidFilter", format!("filter '{text}': {e}")))
}

/// A number parameter; negative values count as 0 (RFC 7644 §3.4.2.4).
fn number(v: &Value, param: &str) -> Result<usize, ScimError> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.map(|n| n.max(0) as usize)
        .ok_or_else(|| ScimError::bad("invalidValue", format!("{param} must be an integer")))
}

impl Projection {
    /// From URL parameters (names ignoring case).
    pub fn from_params(params: &[(String, String)]) -> Result<Projection, ScimError> {
        let mut p = Projection::default();
        for (k, v) in params {
            if k.eq_ignore_ascii_case("attributes") {
                p.attributes.extend(paths(v, "attributes")?);
            } else if k.eq_ignore_ascii_case("excludedAttributes") {
                p.excluded.extend(paths(v, "excludedAttributes")?);
            }
        }
        Ok(p)
    }
}

impl ListQuery {
    /// From URL parameters (names ignoring case).
    pub fn from_params(params: &[(String, String)]) -> Result<ListQuery, ScimError> {
        let mut q = ListQuery {
            start_index: 1,
            projection: Projection::from_params(params)?,
            ..ListQuery::default()
        };
        for (k, v) in params {
            match k.to_ascii_lowercase().as_str() {
                "filter" => q.filter = filter(v)?,
                "startindex" => q.start_index = number(&json!(v), "startIndex")?.max(1),
                "count" => q.count = Some(number(&json!(v), "count")?),
                _ => {}
            }
        }
        Ok(q)
    }

    /// From a `SearchRequest` body.
    pub fn from_search(body: &Value) -> Result<ListQuery, ScimError> {
        if !body.is_object() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "a search body is a SearchRequest object",
            ));
        }
        let list = |key: &str| -> Result<Vec<Path>, ScimError> {
            match get_ci(body, key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => paths(s, key),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| paths(s, key))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.concat()),
                Some(_) => Err(ScimError::bad(
                    "invalidValue",
                    format!("{key} is a list of paths"),
                )),
            }
        };
        Ok(ListQuery {
            filter: match get_ci(body, "filter") {
                Some(Value::String(f)) => filter(f)?,
                _ => None,
            },
            start_index: match get_ci(body, "startIndex") {
                Some(v) if !v.is_null() => number(v, "startIndex")?.max(1),
                _ => 1,
            },
            count: match get_ci(body, "count") {
                Some(v) if !v.is_null() => Some(number(v, "count")?),
                _ => None,
            },
            projection: Projection {
                attributes: list("attributes")?,
                excluded: list("excludedAttributes")?,
            },
        })
    }
}

/// The index a filter can be answered from: `attr eq "value"` on `id`, `externalId` or the
/// name, alone or as one side of an `and`.
fn index_hint(f: &Filter, kind: Kind) -> Option<(ScimKey, &str)> {
    match f {
        Filter::And(a, b) => index_hint(a, kind).or_else(|| index_hint(b, kind)),
        Filter::Compare(..) => {
            let (attr, value) = f.simple_eq()?;
            if attr.eq_ignore_ascii_case("id") {
                Some((ScimKey::Id, value))
            } else if attr.eq_ignore_ascii_case("externalId") {
                Some((ScimKey::ExternalId, value))
            } else if attr.eq_ignore_ascii_case(kind.name_attr()) {
                Some((ScimKey::Name, value))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Every resource of `kind` that `filter` selects, rendered, oldest first.
pub async fn matching(
    s: &ScimState,
    kind: Kind,
    filter: &Filter,
    base: &str,
) -> Result<Vec<Value>, ScimError> {
    let store = s.engine.store();
    let rows = match index_hint(filter, kind) {
        Some((key, value)) => store.scim_find(kind.name(), key, value).await?,
        None => store.scim_all(kind.name()).await?,
    };
    Ok(rows
        .iter()
        .map(|r| s.render(kind, r, base))
        .filter(|r| filter.matches(r, scope(kind)))
        .collect())
}

impl ScimState {
    /// The page size a query gets: its `count`, at most `max_results`.
    fn page_size(&self, q: &ListQuery) -> usize {
        q.count.unwrap_or(self.max_results).min(self.max_results)
    }

    /// One page of `kind`'s resources that `q` selects, and how many there are in all.
    pub async fn search(
        &self,
        kind: Kind,
        q: &ListQuery,
        base: &str,
    ) -> Result<(Vec<Value>, usize), ScimError> {
        let size = self.page_size(q);
        let offset = q.start_index.saturating_sub(1);
        match &q.filter {
            None => {
                let (rows, total) = self
                    .engine
                    .store()
                    .scim_page(kind.name(), offset, size)
                    .await?;
                Ok((
                    rows.iter().map(|r| self.render(kind, r, base)).collect(),
                    total,
                ))
            }
            Some(f) => {
                let all = matching(self, kind, f, base).await?;
                let total = all.len();
                Ok((all.into_iter().skip(offset).take(size).collect(), total))
            }
        }
    }

    /// `POST /.search`: Users, then Groups.
    pub async fn search_all(
        &self,
        q: &ListQuery,
        base: &str,
    ) -> Result<(Vec<Value>, usize), ScimError> {
        let everything = Filter::Compare(
            Path::parse("id").map_err(ScimError::internal)?,
            Op::Ne,
            Value::Null,
        );
        let f = q.filter.as_ref().unwrap_or(&everything);
        let mut all = matching(self, Kind::User, f, base).await?;
        all.extend(matching(self, Kind::Group, f, base).await?);
        let total = all.len();
        let size = self.page_size(q);
        Ok((
            all.into_iter()
                .skip(q.start_index.saturating_sub(1))
                .take(size)
                .collect(),
            total,
        ))
    }
}

/// The `ListResponse` of a page.
pub fn response(page: Vec<Value>, total: usize, q: &ListQuery) -> Value {
    let items: Vec<Value> = page.into_iter().map(|r| q.projection.apply(r)).collect();
    json!({
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_and_search_bodies_read_alike() {
        let q = ListQuery::from_params(&params(&[
            ("filter", "userName eq \"a\""),
            ("startIndex", "0"),
            ("COUNT", "-3"),
            ("excludedAttributes", "members, name.givenName"),
        ]))
        .unwrap();
        assert_eq!((q.start_index, q.count), (1, Some(0)));
        assert_eq!(q.projection.excluded.len(), 2);
        let e = ListQuery::from_params(&params(&[("filter", "userName eq")])).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some("invalidFilter")));
        let q = ListQuery::from_search(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName"], "filter": "displayName sw \"A\"", "startIndex": 2, "count": 5,
        }))
        .unwrap();
        assert_eq!((q.start_index, q.count), (2, Some(5)));
        assert!(q.filter.is_some() && q.projection.attributes.len() == 1);
    }

    #[test]
    fn indexes_answer_the_filters_clients_send_most() {
        let hint = |f: &str, k: Kind| {
            index_hint(&Filter::parse(f).unwrap(), k)
                .map(|(key, v)| (format!("{key:?}"), v.to_string()))
        };
        assert_eq!(
            hint("userName eq \"A\"", Kind::User),
            Some(("Name".into(), "A".into()))
        );
        assert_eq!(
            hint("displayName eq \"G\"", Kind::Group),
            Some(("Name".into(), "G".into()))
        );
        assert_eq!(
            hint("id eq \"G\" and members.value eq \"U\"", Kind::Group),
            Some(("Id".into(), "G".into()))
        );
        assert_eq!(hint("userName eq \"A\"", Kind::Group), None);
        assert_eq!(hint("userName eq \"A\" or title pr", Kind::User), None);
    }
}
