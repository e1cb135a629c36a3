//! The shipped playbooks against a sandbox: an engine with `entra`, `google`, `hr` (and, when
//! given, `smtp`) connections to the sandbox, the playbooks loaded from `playbooks/` (a test
//! may edit the text, e.g. to shorten a wait), and a worker running in the process.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roster::config::Config;
use roster::engine::{Engine, Worker, WorkerOptions};
use roster::playbook::Playbook;
use roster::sandbox::SandboxSeed;
use roster::store::ObserveMode;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::sandbox_support;
use crate::support::{on_db, Db};
use crate::support_triggers;

pub const GOOGLE_USERS: &str = "/admin/directory/v1/users";

pub struct Life {
    pub sb: sandbox_support::Env,
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
    pub config: Arc<Config>,
    stop: watch::Sender<bool>,
}

/// The text of a shipped playbook.
pub fn shipped(name: &str) -> String {
    let path = format!("{}/playbooks/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl Life {
    /// A sandbox with the default seed and an engine running `playbooks` (texts).
    pub async fn start(playbooks: &[String], smtp_port: Option<u16>) -> Life {
        let sb = sandbox_support::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let seed = SandboxSeed::default_seed();
        std::fs::write(
            dir.path().join("entra.secret"),
            seed.entra.clients[0].secret.as_deref().unwrap_or(""),
        )
        .expect("secret");
        std::fs::write(dir.path().join("hr.token"), "sandbox-hr-token").expect("token");
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/sandbox/google-service-account.json"
        );
        let mut yaml = format!(
            "connections:\n\
             \x20 entra:\n    tenant_id: {tenant}\n    client_id: {client}\n    client_secret: {{ file: entra.secret }}\n    \
             authority_url: {url}\n    graph_url: {url}\n    limits: {{ requests_per_second: 2000, concurrency: 64 }}\n\
             \x20 google:\n    service_account_key: {{ file: {key} }}\n    admin: admin@contoso.com\n    \
             customer_id: my_customer\n    token_url: {url}/token\n    base_url: {url}\n    limits: {{ requests_per_second: 2000, concurrency: 64 }}\n\
             \x20 hr:\n    kind: http\n    base_url: {url}/hr\n    auth: {{ bearer: {{ file: hr.token }} }}\n",
            tenant = seed.entra.tenant_id,
            client = seed.entra.clients[0].client_id,
            url = sb.url,
        );
        if let Some(port) = smtp_port {
            yaml.push_str(&format!(
                "  smtp:\n    host: 127.0.0.1\n    port: {port}\n    security: none\n    from: \"Roster <roster@contoso.com>\"\n"
            ));
        }
        yaml.push_str(&format!(
            "triggers:\n  google:\n    interval: 1h\n  dates:\n    catch_up: 30d\n{}",
            imports_yaml()
        ));
        let config = support_triggers::config(dir.path(), &yaml);
        let url = crate::support_pg::store_url(dir.path());
        let texts: Vec<&str> = playbooks.iter().map(String::as_str).collect();
        let (engine, playbooks) = support_triggers::engine(&url, &config, &texts).await;
        let (stop, stopped) = watch::channel(false);
        let options = WorkerOptions {
            concurrency: 16,
            idle_check: Duration::from_millis(50),
            ..WorkerOptions::default()
        };
        tokio::spawn(Worker::new(engine.clone(), options).run(stopped));
        Life {
            sb,
            dir,
            engine,
            playbooks,
            config: Arc::new(config),
            stop,
        }
    }

    /// Observes people from `source` as a poll or an import would.
    pub async fn observe(&self, source: &str, people: Vec<Value>) -> Vec<String> {
        self.engine
            .observe_many(&self.playbooks, source, people, ObserveMode::Apply)
            .await
            .expect("observe")
            .into_iter()
            .filter_map(|r| r.event.map(|(e, _)| e.kind))
            .collect()
    }

    /// `(id, playbook, status)` of every run, oldest first.
    pub async fn runs(&self) -> Vec<(String, String, String)> {
        runs(self.engine.store()).await
    }

    /// Waits until no run is queued or running, and none is waiting on a retry due within
    /// a minute; returns the runs.
    pub async fn settle(&self) -> Vec<(String, String, String)> {
        settle(self.engine.store()).await
    }

    /// Statuses counted.
    pub async fn statuses(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, _, s) in self.runs().await {
            *out.entry(s).or_default() += 1;
        }
        out
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

    /// The runs of `playbook`, oldest first.
    pub async fn runs_of(&self, playbook: &str) -> Vec<(String, String)> {
        self.runs()
            .await
            .into_iter()
            .filter(|(_, p, _)| p == playbook)
            .map(|(id, _, s)| (id, s))
            .collect()
    }

    pub fn state(&self) -> Value {
        self.sb.sandbox.state()
    }

    /// The sandbox's Entra user with this UPN.
    pub fn user(&self, upn: &str) -> Option<Value> {
        self.state()["entra"]["users"].as_array().and_then(|u| {
            u.iter()
                .find(|u| u["userPrincipalName"].as_str() == Some(upn))
                .cloned()
        })
    }

    /// Display names of the Entra groups `user_id` is a direct member of.
    pub fn groups_of(&self, user_id: &str) -> Vec<String> {
        let state = self.state();
        let mut out: Vec<String> = state["entra"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| {
                g["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|x| x.as_str() == Some(user_id)))
            })
            .filter_map(|g| g["displayName"].as_str().map(String::from))
            .collect();
        out.sort();
        out
    }

    pub fn hr_employee(&self, id: &str) -> Value {
        self.state()["hr"]["employees"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["id"] == id).cloned())
            .unwrap_or(Value::Null)
    }

    /// Creates a user in the sandbox's Entra tenant through Graph; returns its id.
    pub async fn entra_user(&self, upn: &str, employee_id: Option<&str>) -> String {
        let mut body = sandbox_support::new_user(upn);
        if let Some(e) = employee_id {
            body["employeeId"] = json!(e);
        }
        let t = self.sb.graph_token().await;
        let r = self.sb.send("POST", "/v1.0/users", &t, &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap_or_default().to_string()
    }

    /// Adds a user to an Entra group (both by id) through Graph.
    pub async fn entra_add_member(&self, group: &str, user: &str) {
        let t = self.sb.graph_token().await;
        let body = json!({ "@odata.id": format!("{}/v1.0/directoryObjects/{user}", self.sb.url) });
        let r = self
            .sb
            .send(
                "POST",
                &format!("/v1.0/groups/{group}/members/$ref"),
                &t,
                &body,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }

    pub fn group_id(&self, name: &str) -> String {
        self.state()["entra"]["groups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["displayName"] == name).cloned())
            .and_then(|g| g["id"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("no Entra group {name}"))
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The `new-hires` import profile of examples/roster.yaml.
fn imports_yaml() -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/roster.yaml"))
            .expect("examples/roster.yaml");
    let start = text.find("\nimports:").expect("imports section");
    text[start + 1..].to_string()
}

/// `(id, playbook, status)` of every run of `store`, oldest first.
pub async fn runs(store: &roster::store::Store) -> Vec<(String, String, String)> {
    on_db!(&Db::of(store), |pool| {
        sqlx::query_as("SELECT id, playbook, status FROM runs ORDER BY seq")
            .fetch_all(pool)
            .await
            .expect("runs")
    })
}

/// Waits until no run is queued or running, and none is waiting on a retry due within
/// a minute; returns the runs.
pub async fn settle(store: &roster::store::Store) -> Vec<(String, String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let busy: i64 = on_db!(&Db::of(store), |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running') \
                 OR (status = 'waiting' AND wake_at < $1)",
            )
            .bind(roster::clock::now_ms() + 60_000)
            .fetch_one(pool)
            .await
            .expect("count")
        });
        if busy == 0 {
            return runs(store).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs did not settle within 60 s: {:?}",
            runs(store).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
