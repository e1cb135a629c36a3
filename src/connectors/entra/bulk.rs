//! `entra.bulk_upload`: API-driven inbound provisioning (CONTRACT §6). Records become SCIM
//! BulkRequest operations, at most 50 per request; each request answers 202 and Entra applies
//! the records asynchronously (results in the provisioning logs).

use reqwest::Method;
use serde_json::{json, Value};

use super::graph::{segment, Body};
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;

/// The documented maximum operations per bulkUpload request.
pub const MAX_OPERATIONS: usize = 50;

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// `records`: SCIM user objects (with `externalId`); `schemas` defaults to the core schema plus
/// every extension URN the record uses.
pub async fn upload(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let sp = args.str("service_principal_id")?;
    let job = args.str("job_id")?;
    let records = args.list("records")?;
    if records.is_empty() {
        return Ok(json!({ "requests": 0, "operations": 0 }));
    }
    let path = format!(
        "/servicePrincipals/{}/synchronization/jobs/{}/bulkUpload",
        segment(sp),
        segment(job)
    );
    let mut requests = 0;
    for (chunk_no, chunk) in records.chunks(MAX_OPERATIONS).enumerate() {
        let operations = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| operation(r, chunk_no * MAX_OPERATIONS + i))
            .collect::<Result<Vec<_>, _>>()?;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": operations,
            "failOnErrors": null,
        });
        c.call(Method::POST, &path, &[], Body::Scim(&body))
            .await
            .map_err(|e| e.into_action())?;
        requests += 1;
    }
    Ok(json!({ "requests": requests, "operations": records.len() }))
}

fn operation(record: &Value, index: usize) -> Result<Value, ActionError> {
    let Value::Object(map) = record else {
        return Err(ActionError::permanent(format!(
            "records[{index}] must be a SCIM user object (a map)"
        )));
    };
    let external_id = map
        .get("externalId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ActionError::permanent(format!("records[{index}] has no externalId")))?;
    let mut data = map.clone();
    if !data.contains_key("schemas") {
        let mut schemas = vec![Value::from(CORE)];
        schemas.extend(
            map.keys()
                .filter(|k| k.starts_with("urn:"))
                .map(|k| Value::from(k.as_str())),
        );
        data.insert("schemas".into(), Value::Array(schemas));
    }
    Ok(json!({
        "method": "POST",
        "bulkId": external_id,
        "path": "/Users",
        "data": data,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_become_operations_with_their_schemas() {
        let r = json!({"externalId": "701984", "userName": "b@x.com",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tours"}});
        let op = operation(&r, 0).unwrap();
        assert_eq!(op["bulkId"], "701984");
        assert_eq!(op["path"], "/Users");
        assert_eq!(
            op["data"]["schemas"],
            json!([
                CORE,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ])
        );
        assert!(operation(&json!({"userName": "x"}), 3)
            .unwrap_err()
            .to_string()
            .contains("records[3]"));
    }
}
