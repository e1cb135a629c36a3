//! `roster serve` as a child process on a free port, and a small client for its API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::support::{eventually, Workspace};

/// A running `roster serve`.
pub struct Serve {
    pub child: Child,
    pub url: String,
    log: PathBuf,
    http: reqwest::Client,
    pub token: Option<String>,
}

/// Writes a playbook into the workspace's `playbooks/` directory (what `serve` loads).
pub fn write_playbook(ws: &Workspace, name: &str, yaml: &str) {
    let dir = ws.path().join("playbooks");
    std::fs::create_dir_all(&dir).expect("playbooks dir");
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("write playbook");
}

/// `roster token create --name NAME`: the token it printed.
pub async fn create_token(ws: &Workspace, name: &str) -> String {
    let out = ws.roster_ok(&["token", "create", "--name", name]).await;
    let token = out.stdout.trim().to_string();
    assert!(token.starts_with("rst_"), "{out:#?}");
    token
}

impl Serve {
    /// Starts `roster serve --listen 127.0.0.1:0 ARGS…` and waits for its bound address.
    pub async fn start(ws: &Workspace, args: &[&str]) -> Serve {
        let log = ws.path().join(format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let file = std::fs::File::create(&log).expect("serve log");
        let mut all = vec!["--log", "info", "serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = ws
            .command(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("spawn roster serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("roster serve printed no address:\n{}", read(&log)))
            .expect("read stdout")
            .unwrap_or_else(|| panic!("roster serve exited:\n{}", read(&log)));
        let url = line
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Serve {
            child,
            url,
            log,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    pub fn with_token(mut self, token: &str) -> Serve {
        self.token = Some(token.to_string());
        self
    }

    pub fn without_token(mut self) -> Serve {
        self.token = None;
        self
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        read(&self.log)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `GET path` with the token: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.request(reqwest::Method::GET, path)).await
    }

    /// `POST path` with a JSON body and the token.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Polls `GET /api/v1/runs/{id}` until the run has `status`; returns the run.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        eventually(
            Duration::from_secs(20),
            &format!("run {id} to be {status}"),
            || async {
                let (code, run) = self.get(&format!("/api/v1/runs/{id}")).await;
                assert_eq!(code, 200, "{run:#}");
                (run["status"] == status).then_some(run)
            },
        )
        .await
    }

    /// SIGTERM, then waits for the process to exit; returns its exit code.
    pub async fn terminate(&mut self) -> i32 {
        let pid = self.child.id().expect("serve is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("serve did not stop after SIGTERM:\n{}", self.log()))
            .expect("wait for serve");
        status.code().unwrap_or(-1)
    }
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request to roster serve");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
