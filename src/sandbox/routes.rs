//! The table of every route the sandbox serves. The router is built from it, and the
//! conformance tests check it against the official OpenAPI and discovery documents, so the
//! table, the router and the specs cannot drift apart.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

use super::dispatch;
use super::world::World;

/// Which emulator a route belongs to; it decides authentication, faults and the error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    MicrosoftToken,
    Graph,
    GoogleToken,
    GoogleDirectory,
    Hr,
    Admin,
}

/// One operation the sandbox implements; dispatched by one `match` per API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    MicrosoftToken,
    GraphListUsers,
    GraphUsersDelta,
    GraphCreateUser,
    GraphGetUser,
    GraphUpdateUser,
    GraphDeleteUser,
    GraphUserMemberOf,
    GraphUserTransitiveMemberOf,
    GraphLicenseDetails,
    GraphAssignLicense,
    GraphRevokeSessions,
    GraphListGroups,
    GraphGroupsDelta,
    GraphCreateGroup,
    GraphGetGroup,
    GraphUpdateGroup,
    GraphDeleteGroup,
    GraphGroupMembers,
    GraphAddMember,
    GraphRemoveMember,
    GraphGroupTransitiveMembers,
    GraphSubscribedSkus,
    GraphGetDeleted,
    GraphPurgeDeleted,
    GraphListDeletedUsers,
    GraphRestoreDeleted,
    GraphBulkUpload,
    GraphProvisioningLogs,
    GraphBatch,
    GoogleToken,
    GoogleListUsers,
    GoogleInsertUser,
    GoogleGetUser,
    GooglePatchUser,
    GoogleUpdateUser,
    GoogleDeleteUser,
    GoogleUndeleteUser,
    GoogleMakeAdmin,
    GoogleListAliases,
    GoogleInsertAlias,
    GoogleDeleteAlias,
    GoogleWatchUsers,
    GoogleStopChannel,
    GoogleListGroups,
    GoogleInsertGroup,
    GoogleGetGroup,
    GoogleListMembers,
    GoogleInsertMember,
    GoogleGetMember,
    GoogleDeleteMember,
    GoogleHasMember,
    HrListEmployees,
    HrGetEmployee,
    HrPatchEmployee,
    AdminState,
    AdminReset,
    AdminGetFaults,
    AdminPutFaults,
}

/// A route: HTTP method, axum path (parameter names as in the official specs) and operation.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub api: Api,
    pub op: Op,
}

const fn r(method: &'static str, path: &'static str, api: Api, op: Op) -> RouteSpec {
    RouteSpec {
        method,
        path,
        api,
        op,
    }
}

const G: Api = Api::Graph;
const D: Api = Api::GoogleDirectory;

macro_rules! dir {
    ($p:literal) => {
        concat!("/admin/directory/v1", $p)
    };
}

static ROUTES: &[RouteSpec] = &[
    r("POST", "/{tenant}/oauth2/v2.0/token", Api::MicrosoftToken, Op::MicrosoftToken),
    r("GET", "/v1.0/users", G, Op::GraphListUsers),
    r("GET", "/v1.0/users/delta", G, Op::GraphUsersDelta),
    r("POST", "/v1.0/users", G, Op::GraphCreateUser),
    r("GET", "/v1.0/users/{user-id}", G, Op::GraphGetUser),
    r("PATCH", "/v1.0/users/{user-id}", G, Op::GraphUpdateUser),
    r("DELETE", "/v1.0/users/{user-id}", G, Op::GraphDeleteUser),
    r("GET", "/v1.0/users/{user-id}/memberOf", G, Op::GraphUserMemberOf),
    r("GET", "/v1.0/users/{user-id}/transitiveMemberOf", G, Op::GraphUserTransitiveMemberOf),
    r("GET", "/v1.0/users/{user-id}/licenseDetails", G, Op::GraphLicenseDetails),
    r("POST", "/v1.0/users/{user-id}/assignLicense", G, Op::GraphAssignLicense),
    r("POST", "/v1.0/users/{user-id}/revokeSignInSessions", G, Op::GraphRevokeSessions),
    r("GET", "/v1.0/groups", G, Op::GraphListGroups),
    r("GET", "/v1.0/groups/delta", G, Op::GraphGroupsDelta),
    r("POST", "/v1.0/groups", G, Op::GraphCreateGroup),
    r("GET", "/v1.0/groups/{group-id}", G, Op::GraphGetGroup),
    r("PATCH", "/v1.0/groups/{group-id}", G, Op::GraphUpdateGroup),
    r("DELETE", "/v1.0/groups/{group-id}", G, Op::GraphDeleteGroup),
    r("GET", "/v1.0/groups/{group-id}/members", G, Op::GraphGroupMembers),
    r("POST", "/v1.0/groups/{group-id}/members/$ref", G, Op::GraphAddMember),
    r("DELETE", "/v1.0/groups/{group-id}/members/{directoryObject-id}/$ref", G, Op::GraphRemoveMember),
    r("GET", "/v1.0/groups/{group-id}/transitiveMembers", G, Op::GraphGroupTransitiveMembers),
    r("GET", "/v1.0/subscribedSkus", G, Op::GraphSubscribedSkus),
    r("GET", "/v1.0/directory/deletedItems/{directoryObject-id}", G, Op::GraphGetDeleted),
    r("DELETE", "/v1.0/directory/deletedItems/{directoryObject-id}", G, Op::GraphPurgeDeleted),
    r("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", G, Op::GraphListDeletedUsers),
    r("POST", "/v1.0/directory/deletedItems/{directoryObject-id}/restore", G, Op::GraphRestoreDeleted),
    r(
        "POST",
        "/v1.0/servicePrincipals/{servicePrincipal-id}/synchronization/jobs/{synchronizationJob-id}/bulkUpload",
        G,
        Op::GraphBulkUpload,
    ),
    r("GET", "/v1.0/auditLogs/provisioning", G, Op::GraphProvisioningLogs),
    r("POST", "/v1.0/$batch", G, Op::GraphBatch),
    r("POST", "/token", Api::GoogleToken, Op::GoogleToken),
    r("GET", dir!("/users"), D, Op::GoogleListUsers),
    r("POST", dir!("/users"), D, Op::GoogleInsertUser),
    r("GET", dir!("/users/{userKey}"), D, Op::GoogleGetUser),
    r("PATCH", dir!("/users/{userKey}"), D, Op::GooglePatchUser),
    r("PUT", dir!("/users/{userKey}"), D, Op::GoogleUpdateUser),
    r("DELETE", dir!("/users/{userKey}"), D, Op::GoogleDeleteUser),
    r("POST", dir!("/users/{userKey}/undelete"), D, Op::GoogleUndeleteUser),
    r("POST", dir!("/users/{userKey}/makeAdmin"), D, Op::GoogleMakeAdmin),
    r("GET", dir!("/users/{userKey}/aliases"), D, Op::GoogleListAliases),
    r("POST", dir!("/users/{userKey}/aliases"), D, Op::GoogleInsertAlias),
    r("DELETE", dir!("/users/{userKey}/aliases/{alias}"), D, Op::GoogleDeleteAlias),
    r("POST", dir!("/users/watch"), D, Op::GoogleWatchUsers),
    r("POST", "/admin/directory_v1/channels/stop", D, Op::GoogleStopChannel),
    r("GET", dir!("/groups"), D, Op::GoogleListGroups),
    r("POST", dir!("/groups"), D, Op::GoogleInsertGroup),
    r("GET", dir!("/groups/{groupKey}"), D, Op::GoogleGetGroup),
    r("GET", dir!("/groups/{groupKey}/members"), D, Op::GoogleListMembers),
    r("POST", dir!("/groups/{groupKey}/members"), D, Op::GoogleInsertMember),
    r("GET", dir!("/groups/{groupKey}/members/{memberKey}"), D, Op::GoogleGetMember),
    r("DELETE", dir!("/groups/{groupKey}/members/{memberKey}"), D, Op::GoogleDeleteMember),
    r("GET", dir!("/groups/{groupKey}/hasMember/{memberKey}"), D, Op::GoogleHasMember),
    r("GET", "/hr/employees", Api::Hr, Op::HrListEmployees),
    r("GET", "/hr/employees/{id}", Api::Hr, Op::HrGetEmployee),
    r("PATCH", "/hr/employees/{id}", Api::Hr, Op::HrPatchEmployee),
    r("GET", "/_sandbox/state", Api::Admin, Op::AdminState),
    r("POST", "/_sandbox/reset", Api::Admin, Op::AdminReset),
    r("GET", "/_sandbox/faults", Api::Admin, Op::AdminGetFaults),
    r("PUT", "/_sandbox/faults", Api::Admin, Op::AdminPutFaults),
];

/// Every route the sandbox serves.
pub fn routes() -> &'static [RouteSpec] {
    ROUTES
}

/// The axum router: one entry per table row, all handled by `dispatch`.
pub fn router(world: Arc<World>) -> Router {
    let mut router = Router::new();
    for spec in ROUTES {
        let Ok(method) = Method::from_bytes(spec.method.as_bytes()) else {
            continue;
        };
        let Ok(filter) = MethodFilter::try_from(method) else {
            continue;
        };
        let world = world.clone();
        router = router.route(
            spec.path,
            on(filter, move |req: Request| {
                dispatch::handle(world.clone(), spec, req)
            }),
        );
    }
    let fallback_world = world.clone();
    router
        .fallback(move |req: Request| dispatch::unmatched(fallback_world.clone(), req, false))
        .method_not_allowed_fallback(move |req: Request| {
            dispatch::unmatched(world.clone(), req, true)
        })
}
