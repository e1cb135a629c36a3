//! The third-party SCIM peers of `../shared/tools/scim`: the python-scim reference server
//! (scim2-server) as a downstream app for the outbound connector, and the compliance checkers
//! (scim2-tester, scim-sanity) for the inbound endpoint. Their virtualenv is set up once per
//! test run (`setup-venv.sh`, idempotent). Without Python or the package index a test is skipped
//! with a message — except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::task::block_in_place;
use std::sync::OnceLock;
use serde_json::Value;

/// `../shared/tools/scim` beside the repository.
pub fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/scim")
}

/// Whether the SCIM tools run here: `Some(())` when they do. Sets the virtualenv up on first
/// use. When they cannot run, panics under `CI=true` and otherwise says why and returns `None`
/// (the caller skips).
pub fn tools() -> Option<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = block_in_place(|| READY.get_or_init(|| {
        let script = tools_dir().join("setup-venv.sh");
        if !script.is_file() {
            return Err(format!("{} is missing", script.display()));
        }
        let out = Command::new(&script)
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
    }));
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
            let (status, list) = self.get(&format!("/Users?startIndex={}", all.len() + 1)).await;
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

