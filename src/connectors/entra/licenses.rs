//! Licenses by SKU part number (`SPE_E3`), resolved through `subscribedSkus` (CONTRACT §4).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use serde_json::{json, Value};

use super::graph::{Body, GraphError};
use super::users::user_path;
use super::Client;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;

/// SKU part numbers resolved to ids; ids never change, so hits are kept for the process.
#[derive(Debug, Default)]
pub struct SkuCache {
    ids: Mutex<HashMap<String, String>>,
}

/// The SKU's id, by part number (`SPE_E3`) or id, from `subscribedSkus`.
async fn sku_id(c: &Client, sku: &str) -> Result<String, ActionError> {
    if let Some(id) = c.skus.ids.lock().ok().and_then(|m| m.get(sku).cloned()) {
        return Ok(id);
    }
    let skus = c
        .get_all("/subscribedSkus", &[("$select", "skuId,skuPartNumber")])
        .await
        .map_err(GraphError::into_action)?;
    let found = skus.iter().find(|s| {
        s.get("skuPartNumber").and_then(Value::as_str) == Some(sku)
            || s.get("skuId").and_then(Value::as_str) == Some(sku)
    });
    let Some(id) = found.and_then(|s| s.get("skuId")).and_then(Value::as_str) else {
        let known: Vec<&str> = skus
            .iter()
            .filter_map(|s| s.get("skuPartNumber").and_then(Value::as_str))
            .collect();
        return Err(ActionError::permanent(format!(
            "the tenant has no subscription for SKU '{sku}' (it has: {})",
            known.join(", ")
        )));
    };
    if let Ok(mut m) = c.skus.ids.lock() {
        m.insert(sku.to_string(), id.to_string());
    }
    Ok(id.to_string())
}

/// The user's assigned SKU ids.
async fn user_licenses(c: &Client, path: &str) -> Result<Vec<String>, ActionError> {
    let u = c
        .get(path, &[("$select", "id,assignedLicenses")])
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
    Ok(assigned)
}

/// `entra.assign_license`: one `assignLicense` call (assigning an assigned SKU is harmless);
/// a missing usage location and no free units fail with what to do about them.
pub async fn assign(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    if let Some(Value::Array(_)) = args.value("sku") {
        return assign_many(c, args).await;
    }
    let name = args.str("sku")?;
    let path = user_path(args)?;
    let sku_id = sku_id(c, name).await?;
    let body = json!({
        "addLicenses": [{ "skuId": sku_id, "disabledPlans": args.str_list("disabled_plans")? }],
        "removeLicenses": [],
    });
    match c
        .call(Method::POST, &format!("{path}/assignLicense"), &[], Body::Json(&body))
        .await
    {
        Ok(_) => Ok(json!({ "sku": name, "sku_id": sku_id, "assigned": true })),
        Err(e) if e.message.contains("invalid usage location") => Err(ActionError::permanent(format!(
            "cannot assign {name}: the user has no valid usageLocation; set it first \
             (entra.create_user usage_location, or entra.update_user set: {{usageLocation: US}}): {e}"
        ))),
        Err(e) if e.message.contains("does not have any available licenses") => Err(
            ActionError::permanent(format!(
                "cannot assign {name}: no units left in the subscription (buy more or free some): {e}"
            )),
        ),
        Err(e) => Err(e.replicating("user")),
    }
}

/// `entra.assign_license` with a list of SKUs (a return restoring what an offboarding
/// recorded): one `assignLicense` call for all of them.
async fn assign_many(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let path = user_path(args)?;
    let mut ids = Vec::new();
    for name in args.str_list("sku")? {
        ids.push(sku_id(c, &name).await?);
    }
    if ids.is_empty() {
        return Ok(json!({ "sku_ids": ids, "assigned": false }));
    }
    let add: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "skuId": id, "disabledPlans": [] }))
        .collect();
    let body = json!({ "addLicenses": add, "removeLicenses": [] });
    c.call(
        Method::POST,
        &format!("{path}/assignLicense"),
        &[],
        Body::Json(&body),
    )
    .await
    .map_err(|e| e.replicating("user"))?;
    Ok(json!({ "sku_ids": ids, "assigned": true }))
}

/// `entra.remove_all_licenses`: every assigned SKU in one call; outputs `removed` (SKU ids).
/// Record them first (`entra.find_user` with `select: [assignedLicenses]`): a retry after an
/// interruption reports only what it removed itself.
pub async fn remove_all(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let path = user_path(args)?;
    let assigned = user_licenses(c, &path).await?;
    if !assigned.is_empty() {
        let body = json!({ "addLicenses": [], "removeLicenses": assigned });
        c.call(
            Method::POST,
            &format!("{path}/assignLicense"),
            &[],
            Body::Json(&body),
        )
        .await
        .map_err(|e| e.replicating("user"))?;
    }
    Ok(json!({ "removed": assigned }))
}

/// `entra.remove_license`: not assigned is success.
pub async fn remove(c: &Client, args: &ArgMap) -> Result<Value, ActionError> {
    let name = args.str("sku")?;
    let path = user_path(args)?;
    let sku_id = sku_id(c, name).await?;
    let assigned = user_licenses(c, &path).await?;
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
