//! How work gets in through one `roster serve` process: a CSV upload and a signed webhook, both
//! observed into events whose runs the same process's workers execute.

use serde_json::{json, Value};

use crate::imports::{workspace, MIXED};
use crate::support_serve::{create_token, Serve};

const HOOKS: &str = "\nwebhooks:\n  badge:\n    secret: { file: hook.secret }\n    source: badge\n    mapping:\n      id: $.employee.id\n      given_name: $.employee.first\n      family_name: $.employee.last\n      department: $.employee.dept\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_upload_and_a_signed_webhook_become_runs_in_roster_serve() {
    let ws = workspace();
    let config = std::fs::read_to_string(ws.path().join("roster.yaml")).unwrap();
    std::fs::write(ws.path().join("roster.yaml"), format!("{config}{HOOKS}")).unwrap();
    std::fs::write(ws.path().join("hook.secret"), "badge-secret").unwrap();
    let token = create_token(&ws, "hr-upload").await;
    let serve = Serve::start(&ws, &[]).await;
    let http = reqwest::Client::new();
    let upload = |token: Option<&str>| {
        let req = http
            .post(format!("{}/api/v1/imports?profile=hr", serve.url))
            .header("content-type", "text/csv")
            .body(MIXED);
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    };

    // The upload endpoint is behind the API's bearer tokens.
    let refused = upload(None).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let resp = upload(Some(&token)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["counts"]["invalid"], 3, "{report:#}");
    assert_eq!(report["counts"]["joined"], 3, "{report:#}");
    let id = report["id"].as_str().unwrap();
    let serve = serve.with_token(&token);
    let (code, read_back) = serve.get(&format!("/api/v1/imports/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(read_back["counts"], report["counts"]);

    // The joiners' runs are executed by this process's workers.
    let runs = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["playbooks"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["run"].as_str().map(String::from))
        .collect::<Vec<_>>();
    assert_eq!(runs.len(), 3);
    for run in &runs {
        serve.wait_status(run, "succeeded").await;
    }

    // A signed webhook, through the same process: observed as a joiner from `badge`.
    let body = json!({"employee": {"id": "B7", "first": "Katherine", "last": "Johnson", "dept": "Research"}})
        .to_string();
    let signature = roster::triggers::webhook::sign(b"badge-secret", body.as_bytes());
    let hook = |sig: &str| {
        http.post(format!("{}/hooks/badge", serve.url))
            .header("content-type", "application/json")
            .header("x-roster-signature", sig.to_string())
            .body(body.clone())
            .send()
    };
    assert_eq!(hook("sha256=00").await.unwrap().status(), 401);
    let accepted = hook(&signature).await.unwrap();
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    assert!(
        accepted.to_string().contains("person.joined"),
        "{accepted:#}"
    );
}
