//! The third-party SCIM peers of `../shared/tools/scim`: the python-scim reference server
//! (scim2-server) as a downstream app for the outbound connector, and the compliance checkers
//! (scim2-tester, scim-sanity) for the inbound endpoint. Their virtualenv is set up once per
//! test run (`setup-venv.sh`, idempotent, under `flock`). Without Python or the package index a test is skipped
//! with a message — except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use std::sync::OnceLock;
use tokio::task::block_in_place;

/// `../shared/tools/scim` beside the repository.
pub fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/scim")
}

/// Whether the SCIM tools run here: `Some(())` when they do. Sets the virtualenv up on first
/// use. When they cannot run, panics under `CI=true` and otherwise says why and returns `None`
/// (the caller skips).
pub fn tools() -> Option<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = block_in_place(|| {
        READY.get_or_init(|| {
            let script = tools_dir().join("setup-venv.sh");
            if !script.is_file() {
                return Err(format!("{} is missing", script.display()));
            }
            // The suite runs in two processes at once (the PostgreSQL pass is a child): on a
            // fresh machine both would create the venv, and one's `pip install --upgrade pip`
            // removed pip under the other. `flock` makes the second wait and find it ready.
            let lock = std::env::temp_dir().join("roster-scim-tools-venv.lock");
            let out = Command::new("flock")
                .arg(&lock)
                .arg(&script)
                .output()
                .map_err(|e| format!("{}: {e}", script.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        })
    });
    match ready {
        Ok(()) => Some(()),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the SCIM tools must run in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipped: the SCIM tools cannot run here: {e}");
            None
        }
    }
}

/// A running scim2-server on a loopback port, stopped when dropped.
pub struct ReferenceServer {
    pid: u32,
    /// `http://127.0.0.1:PORT/v2`.
    pub url: String,
    pub token: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ReferenceServer {
    /// Starts the reference server with a bearer token and `extra` arguments (e.g.
    /// `--service-provider-config FILE`).
    pub fn start(extra: &[&str]) -> ReferenceServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("scim2-server.log");
        let token = "reference-token".to_string();
        let mut last = String::new();
        // A free port can be taken between the probe and the start: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut cmd = Command::new(tools_dir().join("start-reference-server.sh"));
            cmd.arg(port.to_string()).arg(&token);
            if !extra.is_empty() {
                cmd.arg("--").args(extra);
            }
            let out = block_in_place(|| cmd.env("SCIM_SERVER_LOG", &log).output())
                .expect("run start-reference-server.sh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            if let (true, Ok(pid)) = (out.status.success(), stdout.trim().parse::<u32>()) {
                return ReferenceServer {
                    pid,
                    url: format!("http://127.0.0.1:{port}/v2"),
                    token,
                    log,
                    _dir: dir,
                };
            }
            last = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        }
        panic!("scim2-server did not start: {last}");
    }

    /// `GET path` (relative to `/v2`) with the token: the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET the reference server");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with a SCIM body: status and body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST to the reference server");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Every user the server holds (page after page).
    pub async fn users(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let (status, list) = self
                .get(&format!("/Users?startIndex={}", all.len() + 1))
                .await;
            assert_eq!(status, 200, "{list:#}");
            let page = list["Resources"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// The request lines the server logged (`"GET /v2/Users?… HTTP/1.1" 200`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('"').map(|(_, r)| r.to_string()))
            .collect()
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// Runs both compliance checkers against `base_url` with `token`: exit code and output (its
/// last line is `N passed, M failed`).
pub fn check_server(base_url: &str, token: &str) -> (i32, String) {
    let out = block_in_place(|| {
        Command::new(tools_dir().join("check-server.sh"))
            .arg(base_url)
            .arg(token)
            .output()
    })
    .expect("run check-server.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A SCIM client for Roster's `/scim/v2`, sending bodies as `application/scim+json`.
pub struct ScimClient {
    /// `http://…/scim/v2`.
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

/// An answer: status, headers, JSON body (`Null` when empty).
pub struct ScimAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl ScimAnswer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl ScimClient {
    pub fn new(base: &str, token: &str) -> ScimClient {
        ScimClient {
            base: base.to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> ScimAnswer {
        self.send_with(method, path, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> ScimAnswer {
        let mut req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("SCIM request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("SCIM answer");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        ScimAnswer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> ScimAnswer {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> ScimAnswer {
        self.send("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> ScimAnswer {
        self.send("PUT", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> ScimAnswer {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> ScimAnswer {
        self.send("DELETE", path, None).await
    }
}

/// A PatchOp body with these operations.
pub fn patch_op(ops: Value) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops,
    })
}

pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A user as Entra's provisioning service creates it (its documented POST, with the `null`s
/// older jobs send for absent attributes).
pub fn entra_user(
    upn: &str,
    mail_nickname: &str,
    given: &str,
    family: &str,
    employee: &str,
    department: &str,
) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": mail_nickname,
        "userName": upn,
        "active": true,
        "addresses": null,
        "displayName": format!("{given} {family}"),
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "roles": [],
        ENTERPRISE: {"employeeNumber": employee, "department": department, "manager": null},
    })
}

/// A user as Google Workspace's provisioning creates it (the request logged in
/// grokability/snipe-it#12642: the SCIM 1.0 URN beside 2.0, the primary address as `userName`,
/// Google's user id as `externalId`), with the enterprise attributes an admin mapped.
pub fn google_user(
    email: &str,
    google_id: &str,
    given: &str,
    family: &str,
    employee: &str,
    department: &str,
) -> Value {
    serde_json::json!({
        "schemas": ["urn:scim:schemas:core:1.0", "urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "externalId": google_id,
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "name": {"givenName": given, "familyName": family},
        "active": true,
        ENTERPRISE: {"employeeNumber": employee, "department": department},
    })
}
