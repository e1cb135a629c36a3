//! `GET /api/v1/openapi.json`: the OpenAPI 3 document, written by hand in `openapi.json` beside
//! this file. A test checks it against `api::routes()` and probes every documented route over
//! HTTP, so a route cannot be added without documenting it (pieces merged by `app.rs` add their
//! paths to the same document).

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// The document's text.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/api/v1/openapi.json", get(document))
}

pub(super) const ROUTES: &[(&str, &str)] = &[("get", "/api/v1/openapi.json")];

async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}

/// Every (method, path) the document lists.
pub fn documented() -> Result<Vec<(String, String)>, serde_json::Error> {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT)?;
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                if item.get(method).is_some() {
                    out.push((method.to_string(), path.clone()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let documented: BTreeSet<(String, String)> =
            super::documented().unwrap().into_iter().collect();
        let served: BTreeSet<(String, String)> = super::super::routes()
            .into_iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "served but not in openapi.json: {undocumented:?}"
        );
        // The other direction (every documented path is served, including the routes of the
        // pieces app.rs merges) is probed over HTTP by the integration tests.
    }
}
