//! The demo's closing summary, read back from the sandbox's state and the database.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;
use sqlx::Row;

use super::sqlite;
use crate::sandbox::SandboxSeed;
use crate::store::Store;

fn s<'v>(v: &'v Value, k: &str) -> &'v str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub async fn render(store: &Store, state: &Value, base: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    let seeded: BTreeSet<String> = SandboxSeed::default_seed()
        .entra
        .users
        .iter()
        .map(|u| u.id.clone())
        .collect();
    let users: Vec<&Value> = state["entra"]["users"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let created: Vec<&&Value> = users
        .iter()
        .filter(|u| !seeded.contains(s(u, "id")))
        .collect();
    let sku_name = |id: &str| {
        state["entra"]["skus"]
            .as_array()
            .and_then(|k| k.iter().find(|k| k["skuId"] == id))
            .map(|k| s(k, "skuPartNumber").to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let mut by_sku: BTreeMap<String, usize> = BTreeMap::new();
    for u in &created {
        for l in u["assignedLicenses"].as_array().into_iter().flatten() {
            *by_sku.entry(sku_name(s(l, "skuId"))).or_default() += 1;
        }
    }
    let new_ids: BTreeSet<&str> = created.iter().map(|u| s(u, "id")).collect();
    let mut memberships = 0;
    for g in state["entra"]["groups"].as_array().into_iter().flatten() {
        memberships += g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m.as_str().is_some_and(|m| new_ids.contains(m)))
            .count();
    }
    writeln!(
        out,
        "What happened (read back from the sandbox and roster.db)"
    )?;
    writeln!(
        out,
        "========================================================="
    )?;
    let disabled = created
        .iter()
        .filter(|u| u["accountEnabled"] == false)
        .count();
    writeln!(
        out,
        "Entra ID accounts created: {} ({} disabled by an offboarding)",
        created.len(),
        disabled
    )?;
    for upn in [
        "jose.muller-ludenscheidt@contoso.com",
        "ada.lovelace2@contoso.com",
        "mei.chen2@contoso.com",
        "zoe.angstrom@contoso.com",
    ] {
        if let Some(u) = created.iter().find(|u| s(u, "userPrincipalName") == upn) {
            let note = match upn {
                "jose.muller-ludenscheidt@contoso.com" => "diacritics folded",
                "ada.lovelace2@contoso.com" => "ada.lovelace@ is taken in Google Workspace",
                "mei.chen2@contoso.com" => "a second Mei Chen",
                _ => "joined in Google, then moved to Sales",
            };
            writeln!(out, "  {upn:<40} {} — {note}", s(u, "department"))?;
        }
    }
    let licenses: Vec<String> = by_sku.iter().map(|(k, n)| format!("{k} × {n}")).collect();
    writeln!(out, "Licenses assigned: {}", licenses.join(", "))?;
    writeln!(
        out,
        "Security group memberships of the new accounts: {memberships}"
    )?;
    let hr_written = state["hr"]["employees"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e.get("work_email").is_some())
        .count();
    writeln!(
        out,
        "HR records given their corporate address: {hr_written}"
    )?;
    let google_written = state["google"]["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| u.to_string().contains("entra_upn"))
        .count();
    writeln!(out, "Google users given their Entra UPN: {google_written}")?;

    writeln!(out, "\nRuns by playbook and status:")?;
    let rows = sqlx::query(
        "SELECT playbook, status, COUNT(*) AS n FROM runs GROUP BY playbook, status ORDER BY playbook, status",
    )
    .fetch_all(sqlite(store)?)
    .await?;
    for r in rows {
        let (p, st, n): (String, String, i64) = (r.get("playbook"), r.get("status"), r.get("n"));
        writeln!(out, "  {p:<22} {st:<10} {n}")?;
    }

    writeln!(
        out,
        "\nIn the review queue (nothing of theirs provisioned until someone decides):"
    )?;
    let review = sqlx::query(
        "SELECT r.id, r.person, s.outputs FROM runs r JOIN steps s ON s.run_id = r.id AND s.idx = r.cursor \
         WHERE r.status = 'review' ORDER BY r.seq",
    )
    .fetch_all(sqlite(store)?)
    .await?;
    for r in review {
        let (id, person, outputs): (String, String, String) =
            (r.get("id"), r.get("person"), r.get("outputs"));
        let person: Value = serde_json::from_str(&person).unwrap_or(Value::Null);
        let outputs: Value = serde_json::from_str(&outputs).unwrap_or(Value::Null);
        let reasons: Vec<String> = outputs["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{}: {}", s(e, "field"), s(e, "reason")))
            .collect();
        writeln!(
            out,
            "  {id}  {} {:<22} {}",
            s(&person, "employee_id"),
            format!("{} {}", s(&person, "given_name"), s(&person, "family_name")),
            reasons.join("; ")
        )?;
    }
    let waiting = sqlx::query(
        "SELECT r.id, s.outputs FROM runs r JOIN steps s ON s.run_id = r.id AND s.idx = r.cursor \
         WHERE r.status = 'waiting' AND r.playbook = 'offboard'",
    )
    .fetch_all(sqlite(store)?)
    .await?;
    for r in waiting {
        let (id, outputs): (String, String) = (r.get("id"), r.get("outputs"));
        let outputs: Value = serde_json::from_str(&outputs).unwrap_or(Value::Null);
        writeln!(
            out,
            "\nOffboarding {id} waits until {} to delete the account; a return before then restores it.",
            s(&outputs, "until")
        )?;
    }
    writeln!(out, "\nWhere to look next:")?;
    writeln!(
        out,
        "  roster --database sqlite://roster-demo/roster.db runs list"
    )?;
    writeln!(
        out,
        "  roster --database sqlite://roster-demo/roster.db runs list --status review"
    )?;
    writeln!(
        out,
        "  roster --database sqlite://roster-demo/roster.db runs show <RUN>"
    )?;
    writeln!(
        out,
        "  the HTTP API (while `roster serve` runs; it was at {base} during the demo): \
         GET /api/v1/runs, /api/v1/review, /openapi.json"
    )?;
    Ok(out)
}
