//! The unauthenticated admin surface under `/_sandbox/`: dump the whole state, reset it to the
//! seed, and read or replace the fault configuration.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::dispatch::Call;
use super::faults::FaultConfig;
use super::google::model::primary_email;
use super::graph::model::{self as entra_model};
use super::reply::Reply;
use super::routes::Op;
use super::world::World;

pub fn handle(world: &World, op: Op, call: &Call) -> Reply {
    match op {
        Op::AdminState => Reply::ok(dump(world)),
        Op::AdminReset => {
            world.reset();
            Reply::ok(json!({"reset": true}))
        }
        Op::AdminGetFaults => Reply::ok(json!(world.fault_config())),
        Op::AdminPutFaults => {
            let parsed =
                serde_json::from_slice::<FaultConfig>(&call.body).map_err(|e| e.to_string());
            match parsed.and_then(|f| f.validate().map(|_| f).map_err(|e| e.to_string())) {
                Ok(f) => {
                    world.set_faults(f.clone());
                    Reply::ok(json!(f))
                }
                Err(e) => Reply::json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": "invalid_faults", "message": e}}),
                ),
            }
        }
        _ => Reply::empty(StatusCode::NOT_FOUND),
    }
}

/// Everything the sandbox holds, for tests and for a look while developing a playbook.
pub fn dump(world: &World) -> Value {
    let st = world.lock();
    let e = &st.entra;
    let users: Vec<Value> = e
        .users
        .values()
        .map(|u| Value::Object(u.props.clone()))
        .collect();
    let groups: Vec<Value> = e
        .groups
        .values()
        .map(|g| {
            let mut v = Value::Object(g.props.clone());
            v["members"] = json!(g.members);
            v["owners"] = json!(g.owners);
            v
        })
        .collect();
    let skus: Vec<Value> = e
        .skus
        .iter()
        .map(|s| json!({"skuId": s.sku_id, "skuPartNumber": s.part_number, "prepaidUnits": s.prepaid, "consumedUnits": e.consumed(&s.sku_id)}))
        .collect();
    let deleted: Vec<Value> = e
        .deleted
        .values()
        .map(|d| {
            let mut v = Value::Object(d.user.props.clone());
            v["memberOf"] = json!(d.groups);
            v
        })
        .collect();
    let g = &st.google;
    let google_user = |u: &super::google::model::User| {
        let mut v = Value::Object(u.body.clone());
        v["id"] = json!(u.id);
        v["aliases"] = json!(u.aliases);
        v["isAdmin"] = json!(u.is_admin);
        v
    };
    json!({
        "entra": {
            "tenantId": e.tenant_id,
            "users": users,
            "groups": groups,
            "skus": skus,
            "deletedItems": deleted,
            "provisioningLogs": e.provisioning_logs,
        },
        "google": {
            "customerId": g.customer_id,
            "users": g.users.iter().map(google_user).collect::<Vec<_>>(),
            "deletedUsers": g.deleted.iter().map(|(u, when)| json!({"id": u.id, "primaryEmail": primary_email(u), "deletionTime": when})).collect::<Vec<_>>(),
            "groups": g.groups.iter().map(|x| json!({
                "id": x.id, "email": x.email, "name": x.name,
                "members": x.members.iter().map(|m| json!({"id": m.id, "email": m.email, "role": m.role, "type": m.kind})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "channels": g.channels.iter().map(|c| json!({"id": c.id, "resourceId": c.resource_id, "address": c.address, "event": c.event, "expiration": c.expiration_ms})).collect::<Vec<_>>(),
        },
        "hr": { "employees": st.hr.employees },
        "requests": world.request_counts(),
        "faults": world.fault_config(),
        "at": entra_model::timestamp(),
    })
}
