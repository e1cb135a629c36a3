//! The inbound SCIM 2.0 endpoint (RFC 7643/7644) at `/scim/v2` on `roster serve`: Entra ID's
//! and Google Workspace's provisioning services push users (and Entra groups) here as SCIM
//! clients, and every change to a User becomes an observation of the `scim` source, so the
//! playbooks fire from a push exactly as from a Google poll: a POST is `person.joined`,
//! `active: false` is `person.left`, a mapped attribute's change is `person.changed`, a DELETE
//! is `person.left` (terminated) unless the user had already left.
//!
//! - `discovery`: `ServiceProviderConfig`, `ResourceTypes`, `Schemas` (`schemas.json`).
//! - `resources`: Users and Groups — list with `filter`/`startIndex`/`count`, `.search`, GET,
//!   POST, PUT, PATCH, DELETE — stored durably (`store::scim`), each write guarded by the
//!   version it read. A write is committed, then observed: if the observation fails the
//!   request is answered 500 and the next request for that user observes again (an
//!   observation is a diff against the last one, so nothing fires twice).
//! - `filter`, `path`, `patch`, `resource`: the protocol — filters, attribute paths, PATCH
//!   operations, the stored form and projections.
//! - `person`: the attribute mapping of `triggers.scim.mapping` (User → Person).
//! - `auth`: SCIM bearer tokens (`roster token create --scim`), separate from API tokens.
//!
//! Every answer is `application/scim+json`; errors are SCIM errors with a `scimType`.

mod auth;
mod discovery;
pub mod error;
pub mod filter;
mod list;
pub mod patch;
pub mod path;
mod person;
pub mod resource;
mod resources;
pub mod schema;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;

pub use error::ScimError;
pub use person::Mapping;

use crate::clock::rfc3339;
use crate::config::Config;
use crate::engine::Engine;
use crate::playbook::Playbook;
use crate::store::ScimRow;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The resource type's name (`meta.resourceType`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn core_urn(self) -> &'static str {
        match self {
            Kind::User => USER_URN,
            Kind::Group => GROUP_URN,
        }
    }

    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::User => &[ENTERPRISE_URN],
            Kind::Group => &[],
        }
    }

    /// The collection's path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    /// The required, unique name attribute.
    pub fn name_attr(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

/// What the handlers share.
pub struct ScimState {
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    mapping: Mapping,
    source: String,
    max_results: usize,
    base_url: Option<String>,
}

impl ScimState {
    /// The endpoint's own URL, for `meta.location`: the configured one, else from the
    /// request's `Host` (and a proxy's `X-Forwarded-Proto`/`-Host`).
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(b) = &self.base_url {
            return b.trim_end_matches('/').to_string();
        }
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = h("x-forwarded-host")
            .or_else(|| h("host"))
            .unwrap_or("localhost");
        let proto = h("x-forwarded-proto").unwrap_or("http");
        format!("{proto}://{host}/scim/v2")
    }

    /// A stored resource as served.
    fn render(&self, kind: Kind, row: &ScimRow, base: &str) -> serde_json::Value {
        let location = format!("{base}/{}/{}", kind.endpoint(), row.id);
        resource::render(
            kind,
            &row.id,
            &row.body,
            &resource::Meta {
                created: &rfc3339(row.created_at),
                last_modified: &rfc3339(row.updated_at),
                location: &location,
                version: row.version,
            },
        )
    }
}

/// `/scim/v2/...` (to be nested at `/scim/v2`), behind SCIM bearer tokens, request bodies
/// limited to `max_body_bytes`. Fails when `triggers.scim.mapping` does not compile.
pub fn router(
    engine: Arc<Engine>,
    config: &Config,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    max_body_bytes: usize,
) -> anyhow::Result<Router> {
    let settings = &config.triggers.scim;
    let mapping = Mapping::new(settings)
        .map_err(|(f, m)| anyhow::anyhow!("triggers.scim.mapping.{f}: {m}"))?;
    let store = engine.store().clone();
    let state = Arc::new(ScimState {
        engine,
        playbooks,
        mapping,
        source: settings.source.clone(),
        max_results: settings.max_results,
        base_url: settings.base_url.clone(),
    });
    let routes = Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type_by_id))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema_by_id))
        .route("/.search", post(resources::search_all))
        .merge(resources::routes(Kind::User))
        .merge(resources::routes(Kind::Group))
        .fallback(|| async {
            ScimError::not_found("no such SCIM endpoint (see /scim/v2/ResourceTypes)")
                .into_response()
        })
        .method_not_allowed_fallback(|| async {
            ScimError::new(405, None, "this endpoint does not take that method").into_response()
        })
        .with_state(state);
    Ok(routes
        .layer(axum::middleware::from_fn_with_state(store, auth::check))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body_bytes)))
}

/// Every (method, path) served, for the OpenAPI document's check.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/scim/v2/ServiceProviderConfig"),
    ("get", "/scim/v2/ResourceTypes"),
    ("get", "/scim/v2/ResourceTypes/{id}"),
    ("get", "/scim/v2/Schemas"),
    ("get", "/scim/v2/Schemas/{id}"),
    ("post", "/scim/v2/.search"),
    ("get", "/scim/v2/Users"),
    ("post", "/scim/v2/Users"),
    ("post", "/scim/v2/Users/.search"),
    ("get", "/scim/v2/Users/{id}"),
    ("put", "/scim/v2/Users/{id}"),
    ("patch", "/scim/v2/Users/{id}"),
    ("delete", "/scim/v2/Users/{id}"),
    ("get", "/scim/v2/Groups"),
    ("post", "/scim/v2/Groups"),
    ("post", "/scim/v2/Groups/.search"),
    ("get", "/scim/v2/Groups/{id}"),
    ("put", "/scim/v2/Groups/{id}"),
    ("patch", "/scim/v2/Groups/{id}"),
    ("delete", "/scim/v2/Groups/{id}"),
];
