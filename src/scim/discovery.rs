//! The discovery endpoints (RFC 7644 §4): `ServiceProviderConfig` (PATCH, filter and ETags
//! supported; bulk, sort and password changes not), `ResourceTypes` (User with the enterprise
//! extension, Group) and `Schemas`.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::error::{scim_json, ScimError};
use super::{schema, Kind, ScimState, LIST_URN};

pub(super) async fn service_provider_config(
    State(s): State<Arc<ScimState>>,
    headers: HeaderMap,
) -> Response {
    let base = s.base_url(&headers);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": s.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A SCIM token from `roster token create --name NAME --scim`",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    });
    scim_json(StatusCode::OK, &body)
}

fn resource_type(kind: Kind, base: &str) -> Value {
    let mut rt = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "description": match kind { Kind::User => "User Account", Kind::Group => "Group" },
        "endpoint": format!("/{}", kind.endpoint()),
        "schema": kind.core_urn(),
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", kind.name()),
        },
    });
    if !kind.extensions().is_empty() {
        rt["schemaExtensions"] = kind
            .extensions()
            .iter()
            .map(|e| json!({"schema": e, "required": false}))
            .collect();
    }
    rt
}

fn list(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_URN],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

pub(super) async fn resource_types(
    State(s): State<Arc<ScimState>>,
    headers: HeaderMap,
) -> Response {
    let base = s.base_url(&headers);
    let items = [Kind::User, Kind::Group]
        .into_iter()
        .map(|k| resource_type(k, &base))
        .collect();
    scim_json(StatusCode::OK, &list(items))
}

pub(super) async fn resource_type_by_id(
    State(s): State<Arc<ScimState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ScimError> {
    let kind = [Kind::User, Kind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))?;
    Ok(scim_json(
        StatusCode::OK,
        &resource_type(kind, &s.base_url(&headers)),
    ))
}

fn schema_document(doc: &Value, base: &str) -> Value {
    let mut doc = doc.clone();
    let id = doc["id"].as_str().unwrap_or_default().to_string();
    doc["meta"] = json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
    doc
}

pub(super) async fn schemas(State(s): State<Arc<ScimState>>, headers: HeaderMap) -> Response {
    let base = s.base_url(&headers);
    let items = schema::documents()
        .iter()
        .map(|d| schema_document(d, &base))
        .collect();
    scim_json(StatusCode::OK, &list(items))
}

pub(super) async fn schema_by_id(
    State(s): State<Arc<ScimState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ScimError> {
    let doc = schema::documents()
        .iter()
        .find(|d| {
            d["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        })
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))?;
    Ok(scim_json(
        StatusCode::OK,
        &schema_document(doc, &s.base_url(&headers)),
    ))
}
