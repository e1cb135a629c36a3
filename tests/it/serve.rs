//! `roster serve` as a process: bearer tokens, `/healthz`, the body limit, the OpenAPI document
//! against the routes served, `/metrics`, and a graceful shutdown with a step in flight.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{Reply, TestServer, Workspace};
use crate::support_serve::{create_token, write_playbook, Serve};

const HELLO: &str = r#"
name: hello
on: [ { manual: {} } ]
steps:
  - id: greet
    uses: script
    with: { code: '#{ greeting: "hello " + person.given_name }' }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_the_api_and_revoked_ones_stop_working() {
    let ws = Workspace::new();
    write_playbook(&ws, "hello", HELLO);
    let token = create_token(&ws, "ci").await;
    let serve = Serve::start(&ws, &[]).await;

    let (code, body) = serve.get("/api/v1/runs").await;
    assert_eq!(code, 401, "{body:#}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["message"].is_string());

    let wrong = serve.with_token("rst_000000000000_nope");
    assert_eq!(wrong.get("/api/v1/runs").await.0, 401);
    // The right id with a wrong secret is refused too.
    let id = token.split('_').nth(1).unwrap();
    let forged = wrong.with_token(&format!("rst_{id}_{}", "A".repeat(43)));
    assert_eq!(forged.get("/api/v1/runs").await.0, 401);

    let serve = forged.with_token(&token);
    let (code, body) = serve.get("/api/v1/runs").await;
    assert_eq!(code, 200, "{body:#}");
    assert_eq!(body["total"], 0);
    let (code, body) = serve.get("/api/v1/playbooks").await;
    assert_eq!(code, 200);
    assert_eq!(body["playbooks"][0]["name"], "hello");
    assert_eq!(body["playbooks"][0]["steps"], 1);
    assert_eq!(body["playbooks"][0]["triggers"], json!([{ "manual": {} }]));

    // Only the hash is stored; the list shows no secret.
    let listed = ws.roster_ok(&["--json", "token", "list"]).await.stdout;
    assert!(!listed.contains(&token), "{listed}");
    let raw = ws.db().await.column("SELECT hash FROM api_tokens").await;
    assert!(raw
        .iter()
        .all(|h| h.len() == 64 && !token.contains(h.as_str())));

    ws.roster_ok(&["token", "revoke", "ci"]).await;
    assert_eq!(serve.get("/api/v1/runs").await.0, 401);
    // Health and metrics are open.
    let open = serve.without_token();
    let (code, body) = open.get("/healthz").await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));
    assert!(open
        .metrics()
        .await
        .contains("roster_runs{status=\"queued\"} 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413_in_the_error_shape() {
    let ws = Workspace::new();
    write_playbook(&ws, "hello", HELLO);
    std::fs::write(
        ws.path().join("roster.yaml"),
        "server:\n  max_body_bytes: 2048\n",
    )
    .unwrap();
    let token = create_token(&ws, "ci").await;
    let serve = Serve::start(&ws, &[]).await.with_token(&token);
    let big = json!({ "playbook": "hello", "person": { "id": "x", "title": "a".repeat(4096) } });
    let (code, body) = serve.post("/api/v1/runs", &big).await;
    assert_eq!(code, 413, "{body:#}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(body["error"]["details"]["limit_bytes"], 2048);
    // Nothing was started.
    assert_eq!(serve.get("/api/v1/runs").await.1["total"], 0);
    // A body under the limit with a mistake names it.
    let (code, body) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": "hello", "person": { "idd": "x" } }),
        )
        .await;
    assert_eq!(code, 422, "{body:#}");
    assert_eq!(body["error"]["code"], "invalid_person");
    assert!(body["error"]["message"].as_str().unwrap().contains("idd"));
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{name}", "nothing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_the_openapi_document_is_served() {
    let ws = Workspace::new();
    let token = create_token(&ws, "ci").await;
    let serve = Serve::start(&ws, &[]).await.with_token(&token);
    let open = serve.without_token();
    let (code, doc) = open.get("/api/v1/openapi.json").await;
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let serve = open.with_token(&token);
    let client = reqwest::Client::new();
    let mut probed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let url = format!("{}{}", serve.url, concrete(path));
            let resp = client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}: {body:#}");
            assert_ne!(
                body["error"]["code"], "no_route",
                "{method} {path} is not served"
            );
            probed += 1;
        }
    }
    assert!(probed >= 17, "only {probed} routes documented");
    // An undocumented path is not served.
    let (code, body) = serve.get("/api/v1/nothing").await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("no_route"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_steps_and_external_calls() {
    let hr = TestServer::start(|h| {
        if h.path.ends_with("/missing") {
            Reply::status(404).json(json!({ "error": "no such employee" }))
        } else {
            Reply::ok()
        }
    })
    .await;
    let ws = Workspace::new();
    write_playbook(
        &ws,
        "sync",
        &format!(
            r#"
name: sync
on: [ {{ manual: {{}} }} ]
steps:
  - id: one
    uses: http.request
    with: {{ method: GET, url: "{url}/employees/1?key=s3cr3t" }}
  - id: two
    uses: http.request
    with: {{ method: PUT, url: "{url}/employees/missing" }}
"#,
            url = hr.url
        ),
    );
    let token = create_token(&ws, "ci").await;
    let serve = Serve::start(&ws, &[]).await.with_token(&token);
    let (code, body) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": "sync", "person": { "id": "p1" } }),
        )
        .await;
    assert_eq!(code, 201, "{body:#}");
    let id = body["run"]["id"].as_str().unwrap().to_string();
    let run = serve.wait_status(&id, "failed").await;
    // The record of the calls: no query string (it held a key), statuses as answered.
    let calls: Vec<&Value> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["calls"].as_array().unwrap())
        .collect();
    assert_eq!(calls.len(), 2, "{run:#}");
    assert_eq!(calls[0]["url"], format!("{}/employees/1", hr.url));
    assert_eq!(calls[0]["status"], 200);
    assert_eq!(calls[1]["method"], "PUT");
    assert_eq!(calls[1]["status"], 404);
    assert!(!run.to_string().contains("s3cr3t"));

    let text = serve.metrics().await;
    for line in [
        "roster_runs{status=\"failed\"} 1",
        "roster_runs{status=\"succeeded\"} 0",
        "roster_queue_depth 0",
        "roster_step_duration_seconds_count{action=\"http.request\"} 2",
        "roster_step_duration_seconds_bucket{action=\"http.request\",le=\"+Inf\"} 2",
        "roster_external_calls_total{connection=\"http\",status=\"200\"} 1",
        "roster_external_calls_total{connection=\"http\",status=\"404\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_step_in_flight_commit_and_a_restart_finishes_the_run() {
    // The second step's request is held for a while: SIGTERM arrives while it is in flight.
    let target = TestServer::start(|h| {
        if h.path == "/slow" {
            Reply::ok().delay(Duration::from_millis(700))
        } else {
            Reply::ok()
        }
    })
    .await;
    let ws = Workspace::new();
    write_playbook(
        &ws,
        "three",
        &format!(
            r#"
name: three
on: [ {{ manual: {{}} }} ]
steps:
  - id: first
    uses: http.request
    with: {{ method: POST, url: "{url}/first" }}
  - id: slow
    uses: http.request
    with: {{ method: POST, url: "{url}/slow" }}
  - id: last
    uses: http.request
    with: {{ method: POST, url: "{url}/last" }}
"#,
            url = target.url
        ),
    );
    let token = create_token(&ws, "ci").await;
    let mut serve = Serve::start(&ws, &[]).await.with_token(&token);
    let (code, body) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": "three", "person": { "id": "p1" } }),
        )
        .await;
    assert_eq!(code, 201, "{body:#}");
    let id = body["run"]["id"].as_str().unwrap().to_string();
    target.wait_for_hits(2, Duration::from_secs(10)).await;
    assert_eq!(target.hits().last().unwrap().path, "/slow");

    assert_eq!(serve.terminate().await, 0, "{}", serve.log());
    // The step in flight committed; the run was handed back, not left running.
    let db = ws.db().await;
    let steps = db.steps(&id).await;
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.step_id.as_str(), s.status.as_str()))
            .collect::<Vec<_>>(),
        vec![("first", "succeeded"), ("slow", "succeeded")],
        "{}",
        serve.log()
    );
    assert_eq!(db.run_status(&id).await, "queued");
    assert!(target.hits_to("/last").is_empty());

    let serve = Serve::start(&ws, &[]).await.with_token(&token);
    serve.wait_status(&id, "succeeded").await;
    // Every committed step ran once.
    for path in ["/first", "/slow", "/last"] {
        assert_eq!(target.hits_to(path).len(), 1, "{path}: {:?}", target.hits());
    }
}
