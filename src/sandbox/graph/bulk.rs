//! API-driven inbound provisioning (CONTRACT §6): `bulkUpload` validates the SCIM BulkRequest
//! and answers 202 at once; after the seed's `bulk_upload_delay_ms` each operation is applied
//! (matched on `externalId` = the user's `employeeId`: create, update or disable) and logged as
//! one `provisioningObjectSummary`, readable at `GET /auditLogs/provisioning`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::model::{self, Entra};
use super::query::{self, Resource};
use super::{users, Ctx};
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;
use crate::sandbox::world::World;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const MAX_OPERATIONS: usize = 50;

const LOG_FIELDS: &[&str] = &[
    "id",
    "activityDateTime",
    "tenantId",
    "jobId",
    "cycleId",
    "changeId",
    "provisioningAction",
    "durationInMilliseconds",
    "provisioningStatusInfo",
    "provisioningSteps",
    "modifiedProperties",
    "servicePrincipal",
    "sourceSystem",
    "targetSystem",
    "initiatedBy",
    "sourceIdentity",
    "targetIdentity",
];

const LOGS: Resource<'static> = Resource {
    type_name: "microsoft.graph.provisioningObjectSummary",
    known: LOG_FIELDS,
    advanced: false,
};

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The operations of a valid BulkRequest: each one's SCIM user record.
fn operations(body: &[u8]) -> Result<Vec<Map<String, Value>>, GraphError> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad(
            "The request body is not a valid SCIM BulkRequest: it is not a JSON object.",
        ));
    };
    let schemas_ok = req
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x == BULK_REQUEST));
    if !schemas_ok {
        return Err(bad(format!("The request body is not a valid SCIM BulkRequest: 'schemas' must contain '{BULK_REQUEST}'.")));
    }
    let ops = req
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            bad("The request body is not a valid SCIM BulkRequest: 'Operations' is missing.")
        })?;
    if ops.is_empty() {
        return Err(bad("The SCIM BulkRequest has no operations."));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(bad(format!("The SCIM BulkRequest has {} operations; at most {MAX_OPERATIONS} are allowed per request.", ops.len())));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let method = op.get("method").and_then(Value::as_str).unwrap_or("");
            let path = op.get("path").and_then(Value::as_str).unwrap_or("");
            if !method.eq_ignore_ascii_case("POST") || path != "/Users" {
                return Err(bad(format!(
                    "Operations[{i}]: only method POST with path /Users is supported."
                )));
            }
            let data = op.get("data").and_then(Value::as_object).ok_or_else(|| {
                bad(format!(
                    "Operations[{i}]: 'data' must be a SCIM user object."
                ))
            })?;
            let external = data.get("externalId").and_then(Value::as_str).unwrap_or("");
            if external.is_empty() {
                return Err(bad(format!(
                    "Operations[{i}]: 'data.externalId' is required (the matching attribute)."
                )));
            }
            Ok(data.clone())
        })
        .collect()
}

pub fn upload(ctx: &Ctx) -> GraphResult {
    if ctx.call.content_type().as_deref() != Some("application/scim+json") {
        return Err(bad(
            "The Content-Type header must be 'application/scim+json'.",
        ));
    }
    let sp = ctx.call.param("servicePrincipal-id");
    let job_id = ctx.call.param("synchronizationJob-id").to_string();
    let records = operations(&ctx.call.body)?;
    let (generation, tenant, sp_name) = {
        let st = ctx.world.lock();
        let job = st
            .entra
            .jobs
            .iter()
            .find(|j| j.service_principal_id.eq_ignore_ascii_case(sp) && j.job_id == job_id)
            .ok_or_else(|| GraphError::not_found(&job_id))?;
        (
            st.generation,
            st.entra.tenant_id.clone(),
            job.display_name
                .clone()
                .unwrap_or_else(|| "API-driven provisioning".into()),
        )
    };
    let batch = Batch {
        job_id: job_id.clone(),
        cycle_id: ids::guid(),
        service_principal: json!({"id": sp.to_ascii_lowercase(), "displayName": sp_name}),
        tenant_id: tenant,
        records,
    };
    let world = ctx.world.clone();
    let delay = Duration::from_millis(world.seed.entra.bulk_upload_delay_ms);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        apply(&world, generation, batch);
    });
    let location = format!(
        "{}/v1.0/auditLogs/provisioning/?$filter=jobid%20eq%20'{job_id}'",
        ctx.world.base_url
    );
    Ok(Reply::empty(StatusCode::ACCEPTED)
        .header("location", location)
        .header("content-length", "0"))
}

struct Batch {
    job_id: String,
    cycle_id: String,
    service_principal: Value,
    tenant_id: String,
    records: Vec<Map<String, Value>>,
}

fn apply(world: &Arc<World>, generation: u64, batch: Batch) {
    let mut st = world.lock();
    if st.generation != generation {
        return; // The sandbox was reset since the upload.
    }
    for record in &batch.records {
        let started = Instant::now();
        let outcome = apply_record(&mut st.entra, record);
        let entry = log_entry(&batch, record, outcome, started.elapsed());
        st.entra.provisioning_logs.push(entry);
    }
}

/// What one operation did: its action, the target user, changed properties, or the failure.
struct Outcome {
    action: &'static str,
    target: Option<(String, String)>,
    changes: Vec<Value>,
    error: Option<GraphError>,
}

/// The Graph properties a SCIM record maps to (the default inbound attribute mapping).
fn graph_properties(r: &Map<String, Value>) -> Map<String, Value> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(|x| json!(x));
    let ext = r.get(ENTERPRISE);
    let name = r.get("name");
    let primary = |key: &str| {
        r.get(key).and_then(Value::as_array).and_then(|a| {
            a.iter()
                .find(|e| e.get("primary") == Some(&json!(true)))
                .or_else(|| a.first())
                .cloned()
        })
    };
    let mut p = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            p.insert(k.into(), v);
        }
    };
    put("employeeId", s(r.get("externalId")));
    put("userPrincipalName", s(r.get("userName")));
    put("displayName", s(r.get("displayName")));
    put("givenName", s(name.and_then(|n| n.get("givenName"))));
    put("surname", s(name.and_then(|n| n.get("familyName"))));
    put("jobTitle", s(r.get("title")));
    put("employeeType", s(r.get("userType")));
    put("preferredLanguage", s(r.get("preferredLanguage")));
    put(
        "accountEnabled",
        r.get("active").filter(|v| v.is_boolean()).cloned(),
    );
    put(
        "mail",
        primary("emails").and_then(|e| e.get("value").cloned()),
    );
    if let Some(a) = primary("addresses") {
        put("streetAddress", s(a.get("streetAddress")));
        put("city", s(a.get("locality")));
        put("state", s(a.get("region")));
        put("postalCode", s(a.get("postalCode")));
        put("country", s(a.get("country")));
    }
    put("department", s(ext.and_then(|e| e.get("department"))));
    put("companyName", s(ext.and_then(|e| e.get("organization"))));
    let division = s(ext.and_then(|e| e.get("division")));
    let cost_center = s(ext.and_then(|e| e.get("costCenter")));
    if division.is_some() || cost_center.is_some() {
        put(
            "employeeOrgData",
            Some(json!({"division": division, "costCenter": cost_center})),
        );
    }
    p
}

fn apply_record(entra: &mut Entra, record: &Map<String, Value>) -> Outcome {
    let props = graph_properties(record);
    let external = record
        .get("externalId")
        .and_then(Value::as_str)
        .unwrap_or("");
    let existing = entra
        .users
        .values()
        .find(|u| u.props.get("employeeId").and_then(Value::as_str) == Some(external))
        .map(|u| u.id.clone());
    let Some(id) = existing else {
        return create(entra, props);
    };
    if let Some(upn) = props.get("userPrincipalName").and_then(Value::as_str) {
        if entra.upn_taken(upn, Some(&id)) {
            return Outcome {
                action: "update",
                target: None,
                changes: vec![],
                error: Some(GraphError::upn_conflict()),
            };
        }
    }
    let Some(user) = entra.users.get_mut(&id) else {
        return Outcome {
            action: "update",
            target: None,
            changes: vec![],
            error: Some(GraphError::not_found(&id)),
        };
    };
    let was_enabled = user.props.get("accountEnabled") != Some(&json!(false));
    let mut changes = Vec::new();
    for (k, v) in props {
        let old = user.props.get(&k).cloned().unwrap_or(Value::Null);
        if old != v {
            changes.push(json!({"displayName": k, "oldValue": old, "newValue": v}));
            user.props.insert(k, v);
        }
    }
    let disabled = user.props.get("accountEnabled") == Some(&json!(false));
    let action = if was_enabled && disabled {
        "disable"
    } else {
        "update"
    };
    let target = Some((user.id.clone(), model::upn(user).to_string()));
    Outcome {
        action,
        target,
        changes,
        error: None,
    }
}

fn create(entra: &mut Entra, mut props: Map<String, Value>) -> Outcome {
    let upn = props
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let nickname: String = upn
        .split('@')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    props.entry("mailNickname").or_insert(json!(nickname));
    props.entry("accountEnabled").or_insert(json!(true));
    if !props.contains_key("displayName") {
        let given = props.get("givenName").and_then(Value::as_str).unwrap_or("");
        let surname = props.get("surname").and_then(Value::as_str).unwrap_or("");
        props.insert(
            "displayName".into(),
            json!(format!("{given} {surname}").trim()),
        );
    }
    props.insert("passwordProfile".into(), json!({"password": format!("Sbx-{}-9a", ids::opaque(12)), "forceChangePasswordNextSignIn": true}));
    let changes = props
        .iter()
        .filter(|(k, _)| *k != "passwordProfile")
        .map(|(k, v)| json!({"displayName": k, "oldValue": null, "newValue": v}))
        .collect();
    match users::insert(entra, &props, Instant::now()) {
        Ok(u) => Outcome {
            action: "create",
            target: Some((u.id.clone(), upn)),
            changes,
            error: None,
        },
        Err(e) => Outcome {
            action: "create",
            target: None,
            changes: vec![],
            error: Some(e),
        },
    }
}

fn log_entry(batch: &Batch, record: &Map<String, Value>, o: Outcome, took: Duration) -> Value {
    let external = record.get("externalId").cloned().unwrap_or(Value::Null);
    let source_name = record
        .get("displayName")
        .or_else(|| record.get("userName"))
        .cloned()
        .unwrap_or(json!(""));
    let (status, error) = match &o.error {
        None => ("success", Value::Null),
        Some(e) => (
            "failure",
            json!({
                "errorCode": e.code, "reason": e.message, "errorCategory": "NonServiceFailure",
                "recommendedAction": "Correct the record and send it again in the next bulk request.",
                "additionalDetails": null,
            }),
        ),
    };
    let (target_id, target_name) = o.target.clone().unwrap_or_default();
    json!({
        "id": ids::guid(),
        "activityDateTime": model::timestamp(),
        "tenantId": batch.tenant_id,
        "jobId": batch.job_id,
        "cycleId": batch.cycle_id,
        "changeId": ids::guid(),
        "provisioningAction": o.action,
        "durationInMilliseconds": took.as_millis() as u64,
        "provisioningStatusInfo": {"status": status, "errorInformation": error},
        "provisioningSteps": [
            {"name": "EntryImport", "provisioningStepType": "import", "status": "success",
             "description": format!("Received User '{}' from the API", external.as_str().unwrap_or("")), "details": {}},
            {"name": "EntryExport", "provisioningStepType": "export", "status": status,
             "description": match &o.error { None => format!("User '{target_name}' was {}d in Microsoft Entra ID", o.action), Some(e) => e.message.clone() },
             "details": {}},
        ],
        "modifiedProperties": o.changes,
        "servicePrincipal": batch.service_principal,
        "sourceSystem": {"id": batch.job_id, "displayName": "API", "details": {}},
        "targetSystem": {"id": batch.tenant_id, "displayName": "Microsoft Entra ID", "details": {
            "ApplicationId": batch.service_principal["id"],
            "ServicePrincipalId": batch.service_principal["id"],
            "ServicePrincipalDisplayName": batch.service_principal["displayName"],
        }},
        "initiatedBy": {"initiatingType": "system", "id": "", "displayName": "Microsoft Entra ID Provisioning Service"},
        "sourceIdentity": {"identityType": "User", "id": external, "displayName": source_name, "details": {}},
        "targetIdentity": {"identityType": "User", "id": target_id, "displayName": target_name, "details": {}},
    })
}

pub fn logs(ctx: &Ctx) -> GraphResult {
    let q = query::parse_list(ctx.call, &LOGS)?;
    let st = ctx.world.lock();
    let items = st
        .entra
        .provisioning_logs
        .iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    // Filters on provisioning logs are case-sensitive (CONTRACT §6).
    Ok(Reply::ok(query::collection(
        items,
        &q,
        true,
        &users::context(ctx, "auditLogs/provisioning"),
        &format!("{}/v1.0/auditLogs/provisioning", ctx.world.base_url),
        &ctx.call.raw_query,
        |i| i.clone(),
    )))
}
