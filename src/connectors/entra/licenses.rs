//! Licenses by SKU part number (`SPE_E3`), resolved through `subscribedSkus` (CONTRACT §4).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::graph::{Body, GraphError};
use super::users::user_path;
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;

/// The SKU's id and its free units, from `subscribedSkus`.
async fn sku(c: &Client, sku: &str) -> Result<(String, i64), ActionError> {
    let skus = c
        .get_all("/subscribedSkus", &[])
        .await
        .map_err(GraphError::into_action)?;
    let found = skus.iter().find(|s| {
        s.get("skuPartNumber").and_then(Value::as_str) == Some(sku)
            || s.get("skuId").and_then(Value::as_str) == Some(sku)
    });
    let Some(s) = found else {
        let known: Vec<&str> = skus
            .iter()
            .filter_map(|s| s.get("skuPartNumber").and_then(Value::as_str))
            .collect();
        return Err(ActionError::permanent(format!(
            "the tenant has no subscription for SKU '{sku}' (it has: {})",
            known.join(", ")
        )));
    };
    let enabled = s
        .pointer("/prepaidUnits/enabled")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let consumed = s.get("consumedUnits").and_then(Value::as_i64).unwrap_or(0);
    let id = s.get("skuId").and_then(Value::as_str).unwrap_or_default();
    Ok((id.to_string(), enabled - consumed))
}

/// The user's assigned SKU ids and usage location.
async fn user_licenses(
    c: &Client,
    path: &str,
) -> Result<(Vec<String>, Option<String>), ActionError> {
    let u = c
        .get(path, &[("$select", "id,assignedLicenses,usageLocation")])
        .await
        .map_err(|e| e.replicating("user"))?;
    let assigned = u
        .get("assignedLicenses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| l.get("skuId").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let location = u
        .get("usageLocation")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    Ok((assigned, location))
}

/// `entra.assign_license`: already assigned is success; a missing usage location and no free
/// units fail with what to do about them.
pub async fn assign(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let name = args.str("sku")?;
    let path = user_path(args)?;
    let (sku_id, free) = sku(c, name).await?;
    let (assigned, location) = user_licenses(c, &path).await?;
    if assigned.contains(&sku_id) {
        return Ok(json!({ "sku": name, "sku_id": sku_id, "assigned": false, "already": true }));
    }
    if location.is_none() {
        return Err(ActionError::permanent(format!(
            "cannot assign {name}: the user has no usageLocation; set it first \
             (entra.create_user usage_location, or entra.update_user set: {{usageLocation: US}})"
        )));
    }
    if free <= 0 {
        return Err(ActionError::permanent(format!(
            "cannot assign {name}: no units left in the subscription (buy more or free some)"
        )));
    }
    let body = json!({
        "addLicenses": [{ "skuId": sku_id, "disabledPlans": args.str_list("disabled_plans")? }],
        "removeLicenses": [],
    });
    match c
        .call(
            Method::POST,
            &format!("{path}/assignLicense"),
            &[],
            Body::Json(&body),
        )
        .await
    {
        Ok(_) => Ok(json!({ "sku": name, "sku_id": sku_id, "assigned": true, "already": false })),
        Err(e) if e.message.contains("invalid usage location") => Err(ActionError::permanent(
            format!("cannot assign {name}: the user's usageLocation is missing or invalid: {e}"),
        )),
        Err(e) if e.message.contains("does not have any available licenses") => Err(
            ActionError::permanent(format!("cannot assign {name}: no units left: {e}")),
        ),
        Err(e) if e.is_not_found() => Err(ActionError::Transient {
            message: format!("user not found yet (directory replication): {e}"),
            retry_after: Some(Duration::from_secs(2)),
        }),
        Err(e) => Err(e.into_action()),
    }
}

/// `entra.remove_license`: not assigned is success.
pub async fn remove(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let name = args.str("sku")?;
    let path = user_path(args)?;
    let (sku_id, _) = sku(c, name).await?;
    let (assigned, _) = user_licenses(c, &path).await?;
    if !assigned.contains(&sku_id) {
        return Ok(json!({ "sku": name, "sku_id": sku_id, "removed": false }));
    }
    let body = json!({ "addLicenses": [], "removeLicenses": [sku_id] });
    c.call(
        Method::POST,
        &format!("{path}/assignLicense"),
        &[],
        Body::Json(&body),
    )
    .await
    .map_err(|e| e.replicating("user"))?;
    Ok(json!({ "sku": name, "sku_id": sku_id, "removed": true }))
}
