//! The Microsoft Graph v1.0 emulator (CONTRACT §0–§6): bearer-token and application-role
//! checks, fault injection, then one `match` over the operation. Resource modules: `users`,
//! `groups`, `licenses`, `deleted`, `delta` (change tracking), `bulk` (API-driven provisioning), `batch` (JSON batching);
//! `query` holds the OData options, `errors` the error bodies, `model` the tenant's state.

mod batch;
mod bulk;
mod deleted;
pub mod delta;
pub mod errors;
mod filter;
mod groups;
mod licenses;
pub mod model;
mod query;
mod users;

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use errors::{GraphError, GraphResult};

use super::dispatch::Call;
use super::faults::Fault;
use super::reply::Reply;
use super::routes::Op;
use super::tokens::{GraphGrant, Rejection};
use super::world::World;

pub const CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_USERS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const CREATE_GROUPS: &[&str] = &[
    "Group.Create",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_GROUPS: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
const WRITE_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const READ_SKUS: &[&str] = &[
    "LicenseAssignment.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ASSIGN_LICENSES: &[&str] = &[
    "User.ReadWrite.All",
    "LicenseAssignment.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const UPLOAD: &[&str] = &["SynchronizationData-User.Upload"];
const READ_PROVISIONING: &[&str] = &["ProvisioningLog.Read.All", "AuditLog.Read.All"];

/// The application roles of which a caller needs at least one (CONTRACT §1 and the pages it cites).
fn needs(op: Op) -> &'static [&'static str] {
    match op {
        Op::GraphListUsers
        | Op::GraphUsersDelta
        | Op::GraphGetUser
        | Op::GraphLicenseDetails
        | Op::GraphGetDeleted
        | Op::GraphListDeletedUsers => READ_USERS,
        Op::GraphCreateUser
        | Op::GraphUpdateUser
        | Op::GraphDeleteUser
        | Op::GraphRevokeSessions
        | Op::GraphRestoreDeleted
        | Op::GraphPurgeDeleted => WRITE_USERS,
        Op::GraphUserMemberOf
        | Op::GraphUserTransitiveMemberOf
        | Op::GraphListGroups
        | Op::GraphGroupsDelta
        | Op::GraphGetGroup
        | Op::GraphGroupMembers
        | Op::GraphGroupTransitiveMembers => READ_GROUPS,
        Op::GraphCreateGroup => CREATE_GROUPS,
        Op::GraphUpdateGroup | Op::GraphDeleteGroup => WRITE_GROUPS,
        Op::GraphAddMember | Op::GraphRemoveMember => WRITE_MEMBERS,
        Op::GraphSubscribedSkus => READ_SKUS,
        Op::GraphAssignLicense => ASSIGN_LICENSES,
        Op::GraphBulkUpload => UPLOAD,
        Op::GraphProvisioningLogs => READ_PROVISIONING,
        _ => &[],
    }
}

/// What a Graph handler works with.
pub struct Ctx<'a> {
    pub world: &'a Arc<World>,
    pub call: &'a Call,
    pub grant: GraphGrant,
    pub now: Instant,
}

impl Ctx<'_> {
    pub fn has_role(&self, role: &str) -> bool {
        self.grant
            .roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
    }

    /// The body as a JSON object, after the `Content-Type: application/json` check.
    pub fn json_object(&self) -> Result<Map<String, Value>, GraphError> {
        match self.call.content_type() {
            Some(t) if t == "application/json" => {}
            _ => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Write requests (excluding DELETE) must contain the Content-Type header declaration.",
                ))
            }
        }
        match self.call.json() {
            Some(Value::Object(m)) => Ok(m),
            _ => Err(GraphError::unreadable_body()),
        }
    }
}

pub async fn handle(world: &Arc<World>, op: Op, call: &Call) -> Reply {
    let reply = match authorize(world, op, call).await {
        Ok(grant) => {
            let ctx = Ctx {
                world,
                call,
                grant,
                now: Instant::now(),
            };
            if op == Op::GraphBatch {
                batch::run(&ctx).await
            } else {
                execute(&ctx, op)
            }
        }
        Err(e) => Err(e),
    };
    let reply = reply.unwrap_or_else(|e| e.reply(call));
    reply
        .header("request-id", call.request_id.clone())
        .header("client-request-id", call.client_request_id.clone())
        .header("Cache-Control", "no-cache")
        .header("OData-Version", "4.0")
        .header("x-ms-resource-unit", resource_units(op, call).to_string())
}

/// The request's cost in resource units (CONTRACT §5.1): a base cost per operation, `$select`
/// −1, `$expand` +1, `$top` under 20 −1, never below 1.
fn resource_units(op: Op, call: &Call) -> i64 {
    let base = match op {
        Op::GraphSubscribedSkus | Op::GraphGroupMembers => 3,
        Op::GraphGroupTransitiveMembers => 5,
        Op::GraphListUsers
        | Op::GraphUserMemberOf
        | Op::GraphUserTransitiveMemberOf
        | Op::GraphLicenseDetails => 2,
        _ => 1,
    };
    let select = if call.query("$select").is_some() {
        -1
    } else {
        0
    };
    let expand = if call.query("$expand").is_some() {
        1
    } else {
        0
    };
    let top = match call.query("$top").and_then(|t| t.parse::<u32>().ok()) {
        Some(n) if n < 20 => -1,
        _ => 0,
    };
    (base + select + expand + top).max(1)
}

/// Token (401), then faults (decided before any state is touched), then the role (403).
async fn authorize(world: &World, op: Op, call: &Call) -> Result<GraphGrant, GraphError> {
    let grant = world.lock().tokens.graph(call.bearer(), Instant::now());
    let grant = grant.map_err(|r| {
        GraphError::unauthenticated(match r {
            Rejection::Missing => "Access token is empty.",
            Rejection::Expired => "Lifetime validation failed, the token is expired.",
            Rejection::Unknown => "Access token validation failure. Invalid audience.",
        })
    })?;
    // $batch sub-requests meet their own faults; the envelope is not faulted.
    if op != Op::GraphBatch {
        let (latency, fault) = world.draw_fault();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            Some(Fault::Throttle { retry_after_s }) => {
                let scope = format!(
                    "Tenant_Application/ReadWrite/{}/{}",
                    grant.client_id, world.seed.entra.tenant_id
                );
                return Err(GraphError::throttled(retry_after_s, scope));
            }
            Some(Fault::ServerError {
                status,
                retry_after_s,
            }) => return Err(GraphError::server_error(status, retry_after_s)),
            None => {}
        }
    }
    let need = needs(op);
    if !need.is_empty()
        && !need
            .iter()
            .any(|n| grant.roles.iter().any(|r| r.eq_ignore_ascii_case(n)))
    {
        return Err(GraphError::denied());
    }
    Ok(grant)
}

fn execute(ctx: &Ctx, op: Op) -> GraphResult {
    match op {
        Op::GraphListUsers => users::list(ctx),
        Op::GraphUsersDelta => delta::delta(ctx, delta::Tracked::Users),
        Op::GraphGroupsDelta => delta::delta(ctx, delta::Tracked::Groups),
        Op::GraphCreateUser => users::create(ctx),
        Op::GraphGetUser => users::get(ctx),
        Op::GraphUpdateUser => users::update(ctx),
        Op::GraphDeleteUser => users::delete(ctx),
        Op::GraphUserMemberOf => users::member_of(ctx, false),
        Op::GraphUserTransitiveMemberOf => users::member_of(ctx, true),
        Op::GraphRevokeSessions => users::revoke_sessions(ctx),
        Op::GraphLicenseDetails => licenses::details(ctx),
        Op::GraphAssignLicense => licenses::assign(ctx),
        Op::GraphSubscribedSkus => licenses::subscribed_skus(ctx),
        Op::GraphListGroups => groups::list(ctx),
        Op::GraphCreateGroup => groups::create(ctx),
        Op::GraphGetGroup => groups::get(ctx),
        Op::GraphUpdateGroup => groups::update(ctx),
        Op::GraphDeleteGroup => groups::delete(ctx),
        Op::GraphGroupMembers => groups::members(ctx, false),
        Op::GraphGroupTransitiveMembers => groups::members(ctx, true),
        Op::GraphAddMember => groups::add_member(ctx),
        Op::GraphRemoveMember => groups::remove_member(ctx),
        Op::GraphGetDeleted => deleted::get(ctx),
        Op::GraphPurgeDeleted => deleted::purge(ctx),
        Op::GraphListDeletedUsers => deleted::list_users(ctx),
        Op::GraphRestoreDeleted => deleted::restore(ctx),
        Op::GraphBulkUpload => bulk::upload(ctx),
        Op::GraphProvisioningLogs => bulk::logs(ctx),
        _ => Err(GraphError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "Not implemented by the sandbox.",
        )),
    }
}

/// A `/v1.0/…` path or method no route serves.
pub fn unmatched(path: &str, wrong_method: bool) -> Reply {
    let e = if wrong_method {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    } else {
        let segment = path
            .trim_start_matches("/v1.0/")
            .split('/')
            .next_back()
            .unwrap_or(path);
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    };
    let call_ids = Call {
        path: path.to_string(),
        params: Default::default(),
        query: Vec::new(),
        raw_query: String::new(),
        headers: Default::default(),
        body: Default::default(),
        request_id: super::ids::guid(),
        client_request_id: super::ids::guid(),
    };
    e.reply(&call_ids)
}
