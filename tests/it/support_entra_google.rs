//! The Entra → Google direction against a sandbox: an engine with `entra` and `google`
//! connections to it (the Google one with the group write scope), an `identity:` mapping and a
//! `triggers.entra` poller section given by the test, playbooks loaded from text, a worker in
//! the process, and Graph calls to change the tenant.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roster::config::Config;
use roster::engine::{Engine, Worker, WorkerOptions};
use roster::playbook::Playbook;
use roster::sandbox::{FaultConfig, SandboxSeed};
use roster::triggers::entra_delta::{PollReport, Poller};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::sandbox_support::{self, Resp};
use crate::{support_lifecycle, support_triggers};

/// `identity.google` of the tests: UPNs, the tenant's onmicrosoft domain mapped to contoso.com,
/// groups by display name on groups.contoso.com.
pub const MAPPING: &str = "identity:\n  google:\n    users_by: upn\n    domains: { contoso.onmicrosoft.com: contoso.com }\n    \
     groups_by: name\n    groups_domain: groups.contoso.com\n";

pub struct E2g {
    pub sb: sandbox_support::Env,
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
    pub config: Arc<Config>,
    stop: watch::Sender<bool>,
}

impl E2g {
    /// `identity` is the `identity:` section, `entra` the `triggers.entra` body (indented by
    /// four spaces).
    pub async fn start(playbooks: &[String], identity: &str, entra: &str) -> E2g {
        let mut seed = SandboxSeed::default_seed();
        seed.google.domains.push("groups.contoso.com".into());
        let sb = sandbox_support::start_with(seed.clone(), FaultConfig::default()).await;
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("entra.secret"),
            seed.entra.clients[0].secret.as_deref().unwrap_or(""),
        )
        .expect("secret");
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/sandbox/google-service-account.json"
        );
        let yaml = format!(
            "connections:\n\
             \x20 entra:\n    tenant_id: {tenant}\n    client_id: {client}\n    client_secret: {{ file: entra.secret }}\n    \
             authority_url: {url}\n    graph_url: {url}\n    limits: {{ requests_per_second: 2000, concurrency: 64 }}\n\
             \x20 google:\n    service_account_key: {{ file: {key} }}\n    admin: admin@contoso.com\n    \
             customer_id: my_customer\n    token_url: {url}/token\n    base_url: {url}\n    \
             limits: {{ requests_per_second: 2000, concurrency: 64 }}\n    \
             scopes: [https://www.googleapis.com/auth/admin.directory.user, https://www.googleapis.com/auth/admin.directory.group]\n\
             {identity}triggers:\n  entra:\n    interval: 1h\n{entra}",
            tenant = seed.entra.tenant_id,
            client = seed.entra.clients[0].client_id,
            url = sb.url,
        );
        let config = support_triggers::config(dir.path(), &yaml);
        let url = crate::support_pg::store_url(dir.path());
        let texts: Vec<&str> = playbooks.iter().map(String::as_str).collect();
        let (engine, playbooks) = support_triggers::engine(&url, &config, &texts).await;
        let (stop, stopped) = watch::channel(false);
        let options = WorkerOptions {
            concurrency: 8,
            idle_check: Duration::from_millis(50),
            ..WorkerOptions::default()
        };
        tokio::spawn(Worker::new(engine.clone(), options).run(stopped));
        E2g {
            sb,
            dir,
            engine,
            playbooks,
            config: Arc::new(config),
            stop,
        }
    }

    /// A poller as `roster serve` builds it (a new one is what a restart gets).
    pub fn poller(&self) -> Poller {
        Poller::from_config(self.engine.clone(), &self.config, self.playbooks.clone())
            .expect("poller")
            .expect("triggers.entra is configured")
    }

    pub async fn poll(&self) -> PollReport {
        self.poller().poll_once().await.expect("poll")
    }

    /// A Graph call with the app's token.
    pub async fn graph(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let t = self.sb.graph_token().await;
        self.sb
            .call(method, path, Some(&t), &[], body.as_ref())
            .await
    }

    /// Creates an Entra user with names; returns its id.
    pub async fn entra_user(&self, upn: &str, given: &str, family: &str) -> String {
        let mut body = sandbox_support::new_user(upn);
        body["givenName"] = json!(given);
        body["surname"] = json!(family);
        body["displayName"] = json!(format!("{given} {family}"));
        let r = self.graph("POST", "/v1.0/users", Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap_or_default().to_string()
    }

    pub async fn patch_user(&self, id: &str, body: Value) {
        let r = self
            .graph("PATCH", &format!("/v1.0/users/{id}"), Some(body))
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    /// `(id, playbook, status)` of every run, oldest first.
    pub async fn runs(&self) -> Vec<(String, String, String)> {
        support_lifecycle::runs(self.engine.store()).await
    }

    /// Waits until no run is queued or running (or due to retry within a minute).
    pub async fn settle(&self) -> Vec<(String, String, String)> {
        support_lifecycle::settle(self.engine.store()).await
    }

    /// The run's steps: id → `{status, outputs, error}`.
    pub async fn steps(&self, run: &str) -> BTreeMap<String, Value> {
        self.engine
            .store()
            .steps_of(run)
            .await
            .expect("steps")
            .into_iter()
            .map(|s| {
                let v =
                    json!({ "status": s.status.as_str(), "outputs": s.outputs, "error": s.error });
                (s.step_id, v)
            })
            .collect()
    }

    /// Google users carrying this Entra object id.
    pub fn google_users_of(&self, entra_id: &str) -> Vec<Value> {
        self.sb.sandbox.state()["google"]["users"]
            .as_array()
            .map(|u| {
                u.iter()
                    .filter(|u| u["externalIds"].to_string().contains(entra_id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn google_group(&self, email: &str) -> Option<Value> {
        self.sb.sandbox.state()["google"]["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["email"] == email).cloned())
    }
}

impl Drop for E2g {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
