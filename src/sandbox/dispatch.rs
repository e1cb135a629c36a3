//! From an HTTP request to a `Reply`: read the path parameters, query and body into a `Call`,
//! hand it to the API the route belongs to, count and log the answer. Authentication and faults
//! are the API modules' business, because each answers them in its own error shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::reply::Reply;
use super::routes::{Api, RouteSpec};
use super::world::World;
use super::{admin, google, google_token, graph, hr, ids, microsoft_token};

/// Largest request body read (bulkUpload's 50 records fit easily).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// One request, read in full.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub params: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    /// The raw query string, for `@odata.nextLink` to carry the original options.
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Graph's `request-id`; echoed in error bodies.
    pub request_id: String,
    /// The caller's `client-request-id`, or a fresh one.
    pub client_request_id: String,
}

impl Call {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The first value of a query option.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Authorization: Bearer` token, if any.
    pub fn bearer(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// The body's media type, lowercased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let v = self.header("content-type")?;
        Some(v.split(';').next()?.trim().to_ascii_lowercase())
    }

    /// The body as JSON, or `None` if it is not valid JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as an `application/x-www-form-urlencoded` form.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }
}

pub async fn handle(world: Arc<World>, spec: &'static RouteSpec, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let params = path_params(&mut parts).await;
    let query = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return Reply::empty(StatusCode::PAYLOAD_TOO_LARGE).into_response_with(""),
    };
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(ids::guid);
    let call = Call {
        path: parts.uri.path().to_string(),
        params,
        query,
        raw_query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
        request_id: ids::guid(),
        client_request_id,
    };
    let (reply, content_type) = match spec.api {
        Api::MicrosoftToken => (
            microsoft_token::handle(&world, &call),
            "application/json; charset=utf-8",
        ),
        Api::GoogleToken => (
            google_token::handle(&world, &call),
            "application/json; charset=utf-8",
        ),
        Api::Graph => (
            graph::handle(&world, spec.op, &call).await,
            graph::CONTENT_TYPE,
        ),
        Api::GoogleDirectory => (
            google::handle(&world, spec.op, &call).await,
            "application/json; charset=UTF-8",
        ),
        Api::Hr => (hr::handle(&world, spec.op, &call).await, "application/json"),
        Api::Admin => (admin::handle(&world, spec.op, &call), "application/json"),
    };
    let status = reply.status.as_u16();
    world.count(format!("{} {}", spec.method, spec.path), status);
    // The path only: query strings may carry `access_token`, and bodies carry secrets.
    tracing::debug!(method = spec.method, path = %call.path, status, "sandbox request");
    reply.into_response_with(content_type)
}

/// No route matched the path (or the method): answer in the shape of the API the path is under.
pub async fn unmatched(world: Arc<World>, req: Request, wrong_method: bool) -> Response {
    let path = req.uri().path().to_string();
    let status = if wrong_method {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::NOT_FOUND
    };
    let reply = if path.starts_with("/v1.0/") {
        graph::unmatched(&path, wrong_method)
    } else if path.starts_with("/admin/") {
        google::errors::GoogleError::new(status.as_u16(), "notFound", "Not Found").reply()
    } else {
        Reply::json(
            status,
            serde_json::json!({"error": {"code": "not_found", "message": format!("no route for {path}")}}),
        )
    };
    world.count("unmatched".into(), reply.status.as_u16());
    tracing::debug!(path = %path, status = reply.status.as_u16(), "sandbox request without a route");
    reply.into_response_with("application/json")
}

/// The route's path parameters, percent-decoded.
async fn path_params(parts: &mut axum::http::request::Parts) -> HashMap<String, String> {
    use axum::extract::FromRequestParts;
    Path::<HashMap<String, String>>::from_request_parts(parts, &())
        .await
        .map(|p| p.0)
        .unwrap_or_default()
}
