//! Previews of the license writes: the SKUs resolved as the actions resolve them, the user's
//! assigned licenses read.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::Target;
use crate::actions::ActionError;
use crate::connectors::args::ArgMap;
use crate::connectors::entra::graph::GraphError;
use crate::connectors::entra::licenses::sku_id;
use crate::connectors::entra::Client;
use crate::plan::preview::{Effect, Preview};

/// The SKU ids the user holds now (none for a user not created yet).
async fn held(c: &Client, u: &mut Target) -> Result<Vec<String>, ActionError> {
    if u.planned {
        return Ok(Vec::new());
    }
    let user = u.read(c, "assignedLicenses").await?;
    Ok(user["assignedLicenses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["skuId"].as_str().map(String::from))
        .collect())
}

/// `entra.assign_license`: one SKU, or a list (a return restoring what was recorded).
pub(super) async fn assign(
    c: &Client,
    args: &ArgMap,
    mut u: Target,
) -> Result<Preview, ActionError> {
    let many = matches!(args.value("sku"), Some(Value::Array(_)));
    let names = if many {
        args.str_list("sku")?
    } else {
        vec![args.str("sku")?.to_string()]
    };
    let mut ids = Vec::with_capacity(names.len());
    for name in &names {
        ids.push(sku_id(c, name).await?);
    }
    let held = held(c, &mut u).await?;
    let (already, missing): (Vec<_>, Vec<_>) = names
        .iter()
        .zip(&ids)
        .partition(|(_, id)| held.contains(id));
    let outputs = match (many, names.first(), ids.first()) {
        (false, Some(sku), Some(id)) => json!({ "sku": sku, "sku_id": id, "assigned": true }),
        _ => json!({ "sku_ids": ids, "assigned": !ids.is_empty() }),
    };
    let list = |v: &[(&String, &String)]| {
        let names: Vec<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    };
    let (effect, summary) = if missing.is_empty() {
        let summary = match already.is_empty() {
            true => "no license to assign".to_string(),
            false => format!("{} already has {}", u.label, list(&already)),
        };
        (Effect::Unchanged, summary)
    } else {
        let mut summary = format!("assign {} to {}", list(&missing), u.label);
        if !already.is_empty() {
            summary.push_str(&format!(" (already has {})", list(&already)));
        }
        (Effect::Add, summary)
    };
    let detail = match (many, names.first(), ids.first()) {
        (false, Some(sku), Some(id)) => json!({ "sku": sku, "sku_id": id }),
        _ => json!({ "skus": names, "sku_ids": ids }),
    };
    Ok(u.preview(effect, summary, outputs).detail(detail))
}

/// `entra.remove_license`.
pub(super) async fn remove(
    c: &Client,
    args: &ArgMap,
    mut u: Target,
) -> Result<Preview, ActionError> {
    let sku = args.str("sku")?.to_string();
    let id = sku_id(c, &sku).await?;
    let has = held(c, &mut u).await?.contains(&id);
    let outputs = json!({ "sku": sku, "sku_id": id, "removed": has });
    let (effect, summary) = if has {
        (Effect::Remove, format!("remove {sku} from {}", u.label))
    } else {
        (
            Effect::Unchanged,
            format!("{} does not have {sku}", u.label),
        )
    };
    Ok(u.preview(effect, summary, outputs)
        .detail(json!({ "sku": sku, "sku_id": id })))
}

/// `entra.remove_all_licenses`.
pub(super) async fn remove_all(c: &Client, mut u: Target) -> Result<Preview, ActionError> {
    let held = held(c, &mut u).await?;
    let outputs = json!({ "removed": held });
    if held.is_empty() {
        let summary = format!("{} has no license", u.label);
        return Ok(u.preview(Effect::Unchanged, summary, outputs));
    }
    let names = part_numbers(c).await?;
    let shown: Vec<&str> = held
        .iter()
        .map(|id| names.get(id).map_or(id.as_str(), String::as_str))
        .collect();
    let summary = format!("remove {} from {}", shown.join(", "), u.label);
    Ok(u.preview(Effect::Remove, summary, outputs.clone())
        .detail(json!({ "removed": shown })))
}

/// SKU ids → part numbers (`SPE_E3`), for lines.
async fn part_numbers(c: &Client) -> Result<HashMap<String, String>, ActionError> {
    let skus = c
        .get_all("/subscribedSkus", &[("$select", "skuId,skuPartNumber")])
        .await
        .map_err(GraphError::into_action)?;
    Ok(skus
        .iter()
        .filter_map(|s| {
            Some((
                s["skuId"].as_str()?.to_string(),
                s["skuPartNumber"].as_str()?.to_string(),
            ))
        })
        .collect())
}
