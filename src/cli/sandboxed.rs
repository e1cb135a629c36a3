//! `roster run --sandbox`: the run's connections point at an in-process `roster sandbox`, so a
//! playbook that provisions real accounts can be tried on a fresh machine with one command.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use serde_json::Value;

use crate::config::{
    Config, ConnectionConfig, EntraConfig, GoogleConfig, HttpAuth, HttpConfig, Limits,
};
use crate::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use crate::secret::SecretRef;

/// The sandbox-only service-account key whose public half is in the default seed.
const GOOGLE_KEY: &str = include_str!("../../examples/sandbox/google-service-account.json");

/// Starts a sandbox with the default seed on a free loopback port.
pub async fn start() -> anyhow::Result<Sandbox> {
    Sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seed: SandboxSeed::default_seed(),
        faults: FaultConfig::default(),
    })
    .await
}

/// `config` with its `entra`, `google` and `hr` connections replaced by ones to `sandbox`.
pub fn config(mut config: Config, sandbox: &Sandbox) -> Config {
    let seed = SandboxSeed::default_seed();
    let url = sandbox.url();
    let limits = Some(Limits {
        requests_per_second: 1000.0,
        concurrency: 32,
    });
    if let Some(app) = seed.entra.clients.first() {
        config.connections.insert(
            "entra".into(),
            ConnectionConfig::Entra(EntraConfig {
                tenant_id: seed.entra.tenant_id.clone(),
                client_id: app.client_id.clone(),
                client_secret: app.secret.clone().map(SecretRef::Value),
                certificate: None,
                authority_url: url.clone(),
                graph_url: url.clone(),
                limits,
            }),
        );
    }
    if let Some(admin) = seed.google.admins.first() {
        config.connections.insert(
            "google".into(),
            ConnectionConfig::Google(GoogleConfig {
                service_account_key: SecretRef::Value(GOOGLE_KEY.into()),
                admin: admin.clone(),
                customer_id: "my_customer".into(),
                token_url: Some(format!("{url}/token")),
                base_url: url.clone(),
                scopes: None,
                limits,
            }),
        );
    }
    config.connections.insert(
        "hr".into(),
        ConnectionConfig::Http(HttpConfig {
            base_url: format!("{url}/hr"),
            auth: seed
                .hr
                .bearer_tokens
                .first()
                .map(|t| HttpAuth::Bearer(SecretRef::Value(t.clone()))),
            headers: Default::default(),
            limits,
        }),
    );
    config
}

/// The Entra users' ids.
pub fn user_ids(sandbox: &Sandbox) -> BTreeSet<String> {
    users(&sandbox.state())
        .filter_map(|u| u["id"].as_str().map(String::from))
        .collect()
}

fn users(state: &Value) -> impl Iterator<Item = &Value> {
    state["entra"]["users"].as_array().into_iter().flatten()
}

/// What the run left in the sandbox: the users created, with their licenses and groups.
pub fn summary(sandbox: &Sandbox, before: &BTreeSet<String>) -> Vec<String> {
    let state = sandbox.state();
    let sku_name = |id: &str| {
        state["entra"]["skus"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["skuId"] == id))
            .and_then(|s| s["skuPartNumber"].as_str())
            .unwrap_or(id)
            .to_string()
    };
    let mut lines = Vec::new();
    for u in users(&state) {
        let Some(id) = u["id"].as_str() else { continue };
        if before.contains(id) {
            continue;
        }
        let licenses: Vec<String> = u["assignedLicenses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["skuId"].as_str().map(sku_name))
            .collect();
        let groups: Vec<&str> = state["entra"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| {
                g["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x == id))
            })
            .filter_map(|g| g["displayName"].as_str())
            .collect();
        lines.push(format!(
            "created {} ({}), licenses: {}, groups: {}",
            u["userPrincipalName"].as_str().unwrap_or("?"),
            u["displayName"].as_str().unwrap_or("?"),
            if licenses.is_empty() {
                "none".into()
            } else {
                licenses.join(", ")
            },
            if groups.is_empty() {
                "none".into()
            } else {
                groups.join(", ")
            },
        ));
    }
    for e in state["hr"]["employees"].as_array().into_iter().flatten() {
        if let Some(email) = e["work_email"].as_str() {
            lines.push(format!(
                "HR record {} has work_email {email}",
                e["id"].as_str().unwrap_or("?")
            ));
        }
    }
    lines
}
