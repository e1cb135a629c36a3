//! Licenses (CONTRACT §4): `subscribedSkus` with seat counts, `assignLicense` (checks the usage
//! location and free seats before changing anything) and a user's `licenseDetails`.

use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::model::{self, Entra, Sku, User};
use super::users;
use super::Ctx;
use crate::sandbox::reply::Reply;

fn sku_view(entra: &Entra, s: &Sku) -> Value {
    json!({
        "accountName": "Roster Sandbox",
        "accountId": entra.tenant_id,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": entra.consumed(&s.sku_id),
        "id": format!("{}_{}", entra.tenant_id, s.sku_id),
        "prepaidUnits": {"enabled": s.prepaid, "lockedOut": 0, "suspended": 0, "warning": 0},
        "servicePlans": s.plans.iter().map(|(id, name)| json!({
            "servicePlanId": id, "servicePlanName": name, "provisioningStatus": "Success", "appliesTo": "User",
        })).collect::<Vec<_>>(),
        "skuId": s.sku_id,
        "skuPartNumber": s.part_number,
        "subscriptionIds": [s.subscription_id],
    })
}

pub fn subscribed_skus(ctx: &Ctx) -> GraphResult {
    let st = ctx.world.lock();
    let value: Vec<Value> = st
        .entra
        .skus
        .iter()
        .map(|s| sku_view(&st.entra, s))
        .collect();
    Ok(Reply::ok(json!({
        "@odata.context": users::context(ctx, "subscribedSkus"),
        "value": value,
    })))
}

/// A SKU to add and the service plans to disable in it.
type Addition = (String, Vec<Value>);

/// Both arrays are required and non-null (the CSDL marks them `Nullable="false"`).
fn parameters(body: &Map<String, Value>) -> Result<(Vec<Addition>, Vec<String>), GraphError> {
    let missing: Vec<&str> = ["addLicenses", "removeLicenses"]
        .into_iter()
        .filter(|k| !body.get(*k).is_some_and(Value::is_array))
        .collect();
    if !missing.is_empty() {
        return Err(GraphError::bad_request(format!(
            "One or more parameters of the operation 'assignLicense' are missing from the request payload. The missing parameters are: {}.",
            missing.join(", ")
        )));
    }
    let add = body["addLicenses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let sku = l
                        .get("skuId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| GraphError::invalid_value("skuId", "AssignedLicense"))?;
                    let disabled = l
                        .get("disabledPlans")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    Ok((sku.to_ascii_lowercase(), disabled))
                })
                .collect::<Result<Vec<_>, GraphError>>()
        })
        .transpose()?
        .unwrap_or_default();
    let remove = body["removeLicenses"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    Ok((add, remove))
}

fn invalid_license(sku: &str) -> GraphError {
    GraphError::bad_request(format!(
        "License {sku} does not correspond to a valid company License."
    ))
}

pub fn assign(ctx: &Ctx) -> GraphResult {
    let body = ctx.json_object()?;
    let (add, remove) = parameters(&body)?;
    let mut st = ctx.world.lock();
    let entra = &mut st.entra;
    let id = entra.visible_user_id(ctx.call.param("user-id"), ctx.now)?;
    let Some(user) = entra.users.get(&id) else {
        return Err(GraphError::not_found(&id));
    };
    let held = model::license_ids(user);
    // Validate everything first so a refused call changes nothing.
    for sku in add.iter().map(|(s, _)| s).chain(&remove) {
        if entra.sku(sku).is_none() {
            return Err(invalid_license(sku));
        }
    }
    for sku in &remove {
        if !held.contains(sku) {
            return Err(GraphError::bad_request(
                "User does not have a corresponding license.",
            ));
        }
    }
    if !add.is_empty() {
        let location = user
            .props
            .get("usageLocation")
            .and_then(Value::as_str)
            .unwrap_or("");
        if location.is_empty() {
            return Err(GraphError::bad_request(
                "License assignment cannot be done for user with invalid usage location.",
            ));
        }
    }
    for (sku, _) in &add {
        if held.contains(sku) {
            continue;
        }
        let free = entra.sku(sku).map(|s| s.prepaid).unwrap_or(0) - entra.consumed(sku);
        if free <= 0 {
            return Err(GraphError::bad_request(format!(
                "Subscription with SKU {sku} does not have any available licenses."
            )));
        }
    }
    let plans: Vec<(String, Vec<(String, String)>)> = add
        .iter()
        .filter_map(|(s, _)| entra.sku(s).map(|k| (s.clone(), k.plans.clone())))
        .collect();
    let Some(user) = entra.users.get_mut(&id) else {
        return Err(GraphError::not_found(&id));
    };
    let mut licenses: Vec<Value> = user
        .props
        .get("assignedLicenses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| {
            let sku = l
                .get("skuId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            !remove.contains(&sku) && !add.iter().any(|(a, _)| *a == sku)
        })
        .collect();
    for (sku, disabled) in &add {
        licenses.push(json!({"disabledPlans": disabled, "skuId": sku}));
    }
    user.props
        .insert("assignedLicenses".into(), Value::Array(licenses));
    let assigned_plans = assigned_plans(user, &plans);
    user.props.insert("assignedPlans".into(), assigned_plans);
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(users::context(ctx, "users/$entity")),
    );
    out.extend(users::view_with_licenses(user));
    Ok(Reply::ok(Value::Object(out)))
}

/// `assignedPlans`: the plans of newly added SKUs joined to those already recorded.
fn assigned_plans(user: &User, added: &[(String, Vec<(String, String)>)]) -> Value {
    let mut plans: Vec<Value> = user
        .props
        .get("assignedPlans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let held = model::license_ids(user);
    plans.retain(|p| {
        p.get("skuId")
            .and_then(Value::as_str)
            .is_none_or(|s| held.iter().any(|h| h == s))
    });
    for (sku, sku_plans) in added {
        for (id, name) in sku_plans {
            plans.push(json!({
                "assignedDateTime": model::timestamp(), "capabilityStatus": "Enabled",
                "service": name, "servicePlanId": id, "skuId": sku,
            }));
        }
    }
    Value::Array(plans)
}

pub fn details(ctx: &Ctx) -> GraphResult {
    let st = ctx.world.lock();
    let user = st.entra.visible_user(ctx.call.param("user-id"), ctx.now)?;
    let assigned: Vec<Value> = user
        .props
        .get("assignedLicenses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let value: Vec<Value> = assigned
        .iter()
        .filter_map(|l| {
            let sku_id = l.get("skuId").and_then(Value::as_str)?;
            let disabled: Vec<&str> = l.get("disabledPlans").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let sku = st.entra.sku(sku_id)?;
            Some(json!({
                "id": format!("{}_{}", user.id, sku.sku_id),
                "skuId": sku.sku_id,
                "skuPartNumber": sku.part_number,
                "servicePlans": sku.plans.iter().map(|(id, name)| json!({
                    "servicePlanId": id, "servicePlanName": name,
                    "provisioningStatus": if disabled.contains(&id.as_str()) { "Disabled" } else { "Success" },
                    "appliesTo": "User",
                })).collect::<Vec<_>>(),
            }))
        })
        .collect();
    Ok(Reply::ok(json!({
        "@odata.context": users::context(ctx, &format!("users('{}')/licenseDetails", user.id)),
        "value": value,
    })))
}
