//! JSON batching (CONTRACT §5.4): `POST /$batch` with at most 20 requests, unique ids and
//! `dependsOn`. Each sub-request goes through the sandbox's own router with the batch's bearer
//! token, so it meets the same checks and faults as a direct call; a request whose dependency
//! failed is answered 424 without running.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use super::errors::{GraphError, GraphResult};
use super::Ctx;
use crate::sandbox::reply::Reply;
use crate::sandbox::routes;

const MAX_REQUESTS: usize = 20;

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

struct Item {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(body: &Map<String, Value>) -> Result<Vec<Item>, GraphError> {
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Invalid batch payload format: 'requests' is missing."))?;
    if requests.len() > MAX_REQUESTS {
        return Err(bad(format!(
            "Maximum number of requests allowed in a batch is {MAX_REQUESTS}."
        )));
    }
    let mut items: Vec<Item> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let id = text("id").ok_or_else(|| {
            bad(format!(
                "Invalid batch payload format: requests[{i}] has no 'id'."
            ))
        })?;
        if items.iter().any(|x| x.id.eq_ignore_ascii_case(&id)) {
            return Err(bad(format!(
                "Batch request ids must be unique; '{id}' is used twice."
            )));
        }
        let method = text("method").ok_or_else(|| {
            bad(format!(
                "Invalid batch payload format: request '{id}' has no 'method'."
            ))
        })?;
        let url = text("url").ok_or_else(|| {
            bad(format!(
                "Invalid batch payload format: request '{id}' has no 'url'."
            ))
        })?;
        let depends_on = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        items.push(Item {
            id,
            method: method.to_ascii_uppercase(),
            url,
            headers: r
                .get("headers")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            body: r.get("body").cloned(),
            depends_on,
        });
    }
    for item in &items {
        for d in &item.depends_on {
            if !items.iter().any(|x| x.id.eq_ignore_ascii_case(d)) {
                return Err(bad(format!(
                    "Request '{}' depends on '{d}', which is not in the batch.",
                    item.id
                )));
            }
        }
    }
    Ok(items)
}

pub async fn run(ctx: &Ctx<'_>) -> GraphResult {
    let body = ctx.json_object()?;
    let items = parse(&body)?;
    let mut done: Vec<(String, u16)> = Vec::new();
    let mut responses = Vec::new();
    // Run in dependency order; anything left when no progress is possible is a cycle.
    let mut pending: Vec<&Item> = items.iter().collect();
    while !pending.is_empty() {
        let ready = pending.iter().position(|i| {
            i.depends_on
                .iter()
                .all(|d| done.iter().any(|(x, _)| x.eq_ignore_ascii_case(d)))
        });
        let Some(pos) = ready else {
            return Err(bad("The dependsOn references of the batch form a cycle."));
        };
        let item = pending.remove(pos);
        let failed_dependency = item.depends_on.iter().find(|d| {
            done.iter()
                .any(|(x, s)| x.eq_ignore_ascii_case(d) && *s >= 400)
        });
        let (status, headers, body) = match failed_dependency {
            Some(d) => {
                let e = GraphError::new(
                    StatusCode::FAILED_DEPENDENCY,
                    "FailedDependency",
                    format!("The request depends on request '{d}', which failed."),
                );
                (
                    424,
                    json!({"Content-Type": "application/json"}),
                    Some(e.body(ctx.call)),
                )
            }
            None => send(ctx, item).await,
        };
        done.push((item.id.clone(), status));
        let mut r = json!({"id": item.id, "status": status, "headers": headers});
        if let Some(b) = body {
            r["body"] = b;
        }
        responses.push(r);
    }
    Ok(Reply::ok(json!({ "responses": responses })))
}

async fn send(ctx: &Ctx<'_>, item: &Item) -> (u16, Value, Option<Value>) {
    let url = item.url.replace(' ', "%20").replace('\'', "%27");
    let path = url.trim_start_matches("/v1.0");
    let uri = format!(
        "/v1.0{}{}",
        if path.starts_with('/') { "" } else { "/" },
        path
    );
    if uri.starts_with("/v1.0/$batch") {
        let e = bad("A batch cannot contain another batch.");
        return (
            400,
            json!({"Content-Type": "application/json"}),
            Some(e.body(ctx.call)),
        );
    }
    let mut builder = Request::builder()
        .method(item.method.as_str())
        .uri(uri.as_str());
    for (k, v) in &item.headers {
        if let Some(v) = v.as_str() {
            builder = builder.header(k.as_str(), v);
        }
    }
    if let Some(auth) = ctx.call.header("authorization") {
        builder = builder.header("authorization", auth);
    }
    let has_type = item
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    if item.body.is_some() && !has_type {
        let e = bad("Content-Type header is required when a request in a batch has a body.");
        return (
            400,
            json!({"Content-Type": "application/json"}),
            Some(e.body(ctx.call)),
        );
    }
    let body = item
        .body
        .as_ref()
        .map(|b| Body::from(b.to_string()))
        .unwrap_or_else(Body::empty);
    let Ok(request) = builder.body(body) else {
        let e = bad(format!(
            "Request '{}' has an invalid method, url or header.",
            item.id
        ));
        return (
            400,
            json!({"Content-Type": "application/json"}),
            Some(e.body(ctx.call)),
        );
    };
    let response = match routes::router(ctx.world.clone()).oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let headers: Map<String, Value> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((batch_header_name(k.as_str()), json!(v.to_str().ok()?))))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), 8 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))),
        )
    };
    (status, Value::Object(headers), body)
}

/// Header names as Graph spells them inside batch responses (JSON keys are case-sensitive).
fn batch_header_name(lower: &str) -> String {
    match lower {
        "content-type" => "Content-Type",
        "cache-control" => "Cache-Control",
        "odata-version" => "OData-Version",
        "retry-after" => "Retry-After",
        "location" => "Location",
        other => other,
    }
    .to_string()
}
