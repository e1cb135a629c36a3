//! A `roster sandbox` per test and a `roster.yaml` that points the connections at it.

use std::net::SocketAddr;

use roster::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use serde_json::Value;

use crate::support::Workspace;

pub async fn start(faults: FaultConfig) -> Sandbox {
    Sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seed: SandboxSeed::default_seed(),
        faults,
    })
    .await
    .expect("start the sandbox")
}

/// Which Entra credential the connection uses.
pub enum Credential {
    Secret,
    Reader,
    Certificate(&'static str),
}

/// Writes `roster.yaml` into the workspace: an `entra` connection to the sandbox's tenant.
pub fn write_config(ws: &Workspace, sandbox: &Sandbox, credential: Credential) {
    let seed = SandboxSeed::default_seed();
    let (client, credential) = match credential {
        Credential::Secret => {
            let c = &seed.entra.clients[0];
            std::fs::write(
                ws.path().join("entra.secret"),
                c.secret.as_deref().unwrap_or(""),
            )
            .expect("write secret");
            (
                c.client_id.clone(),
                "client_secret: { file: entra.secret }".to_string(),
            )
        }
        Credential::Reader => {
            let c = &seed.entra.clients[1];
            std::fs::write(
                ws.path().join("entra.secret"),
                c.secret.as_deref().unwrap_or(""),
            )
            .expect("write secret");
            (
                c.client_id.clone(),
                "client_secret: { file: entra.secret }".to_string(),
            )
        }
        Credential::Certificate(alg) => {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sandbox");
            (
                seed.entra.clients[0].client_id.clone(),
                format!(
                    "certificate: {{ certificate: {dir}/entra-app.cert.pem, \
                     private_key: {{ file: {dir}/entra-app.key.pem }}, algorithm: {alg} }}"
                ),
            )
        }
    };
    let url = sandbox.url();
    let yaml = format!(
        "connections:\n  entra:\n    tenant_id: {tenant}\n    client_id: {client}\n    {credential}\n    \
         authority_url: {url}\n    graph_url: {url}\n    \
         limits: {{ requests_per_second: 2000, concurrency: 64 }}\n",
        tenant = seed.entra.tenant_id,
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).expect("write roster.yaml");
}

/// The sandbox's Entra users.
pub fn users(sandbox: &Sandbox) -> Vec<Value> {
    sandbox.state()["entra"]["users"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn user_by_upn(sandbox: &Sandbox, upn: &str) -> Option<Value> {
    users(sandbox).into_iter().find(|u| {
        u["userPrincipalName"].as_str().map(str::to_lowercase) == Some(upn.to_lowercase())
    })
}

/// Member ids of the group with this display name.
pub fn group_members(sandbox: &Sandbox, name: &str) -> Vec<String> {
    let state = sandbox.state();
    let group = state["entra"]["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["displayName"] == name))
        .unwrap_or_else(|| panic!("no group {name} in the sandbox"))
        .clone();
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `consumedUnits` of a SKU by part number.
pub fn consumed(sandbox: &Sandbox, part: &str) -> i64 {
    sandbox.state()["entra"]["skus"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["skuPartNumber"] == part))
        .and_then(|s| s["consumedUnits"].as_i64())
        .unwrap_or_else(|| panic!("no SKU {part}"))
}

/// The SKU ids a user holds.
pub fn licenses(user: &Value) -> Vec<String> {
    user["assignedLicenses"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l["skuId"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn sku_id(part: &str) -> String {
    SandboxSeed::default_seed()
        .entra
        .skus
        .iter()
        .find(|s| s.sku_part_number == part)
        .map(|s| s.sku_id.clone())
        .unwrap_or_else(|| panic!("no SKU {part} in the seed"))
}

/// Requests the sandbox answered with an injected 429 or 5xx.
pub fn faulted_requests(sandbox: &Sandbox) -> u64 {
    sandbox.state()["requests"]
        .as_object()
        .into_iter()
        .flat_map(|routes| routes.values())
        .filter_map(Value::as_object)
        .flat_map(|by_status| by_status.iter())
        .filter(|(status, _)| status.as_str() == "429" || status.starts_with('5'))
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}
