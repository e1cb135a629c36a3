//! Retries are durable timers: transient failures (5xx, 429) are retried with backoff and
//! `Retry-After`; permanent failures (400) fail the step at once with the server's message;
//! `on_failure` steps handle a failure; `roster runs retry` resumes a failed run where it failed.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{person, step, Reply, TestServer, Workspace};

/// `roster run PLAYBOOK --person … --json` in the foreground: exit code and `{ run, steps }`.
async fn run(ws: &Workspace, yaml: &str) -> (i32, Value) {
    let (code, shown, _) = ws.run_json(yaml, &person("E1"), &[]).await;
    (code, shown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_503s_are_retried_until_the_step_succeeds() {
    let server = TestServer::start(|h| match (h.path.as_str(), h.nth) {
        ("/users", 0 | 1) => Reply::status(503).json(json!({ "error": "busy" })),
        ("/users", _) => Reply::status(201).json(json!({ "id": "u-1" })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: flaky
on: [ { manual: {} } ]
steps:
  - id: create
    uses: http.request
    with: { method: POST, url: "BASE/users", expect: [201] }
    retry: { attempts: 3, backoff: fixed, initial: 100ms }
  - id: after
    uses: http.request
    with: { url: "BASE/users/${{ steps.create.body.id }}" }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(shown["run"]["status"], "succeeded");
    assert_eq!(step(&shown, "create")["status"], "succeeded");
    assert_eq!(step(&shown, "create")["attempts"], 3);
    let paths: Vec<_> = server.hits().iter().map(|h| h.path.clone()).collect();
    assert_eq!(paths, ["/users", "/users", "/users", "/users/u-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    let server = TestServer::start(|h| match h.nth {
        0 => Reply::status(429)
            .header("retry-after", "2")
            .json(json!({ "error": "slow down" })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: throttled
on: [ { manual: {} } ]
steps:
  - id: call
    uses: http.request
    with: { url: "BASE/throttled" }
    retry: { attempts: 3, backoff: fixed, initial: 100ms }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(step(&shown, "call")["attempts"], 2);
    let hits = server.hits_to("/throttled");
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at - hits[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "retried {gap:?} after a 429 with Retry-After: 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_the_step_at_once_with_the_server_message() {
    let server = TestServer::start(|h| match h.path.as_str() {
        "/users" => Reply::status(400).json(json!({
            "error": { "code": "Request_BadRequest", "message": "Invalid value for property mailNickname" }
        })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: bad-request
on: [ { manual: {} } ]
steps:
  - id: create
    uses: http.request
    with: { method: POST, url: "BASE/users", json: { nick: "a b" } }
    retry: { attempts: 5, backoff: fixed, initial: 50ms }
  - id: later
    uses: http.request
    with: { url: "BASE/later" }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 1, "a failed run exits 1: {shown:#}");
    assert_eq!(shown["run"]["status"], "failed");
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Invalid value for property mailNickname") && error.contains("400"),
        "run error: {error}"
    );
    assert_eq!(step(&shown, "create")["status"], "failed");
    assert_eq!(step(&shown, "create")["attempts"], 1);
    assert_eq!(server.hits_to("/users").len(), 1, "a 400 is not retried");
    assert!(server.hits_to("/later").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_keeps_failing_gives_up_after_its_attempts() {
    let server =
        TestServer::start(|_| Reply::status(503).json(json!({ "error": "down for maintenance" })))
            .await;
    let ws = Workspace::new();
    let yaml = r#"
name: outage
on: [ { manual: {} } ]
steps:
  - id: call
    uses: http.request
    with: { url: "BASE/down" }
    retry: { attempts: 2, backoff: fixed, initial: 50ms }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(shown["run"]["status"], "failed");
    assert_eq!(server.hits_to("/down").len(), 2);
    let call = step(&shown, "call");
    assert_eq!(call["status"], "failed");
    assert_eq!(call["attempts"], 2);
    let error = call["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("gave up after 2 attempts") && error.contains("down for maintenance"),
        "step error: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_steps_run_after_a_permanent_failure_and_see_the_error() {
    let server = TestServer::start(|h| match h.path.as_str() {
        "/licenses" => Reply::status(403).json(json!({ "error": "license quota exceeded" })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: with-handler
on: [ { manual: {} } ]
steps:
  - id: first
    uses: http.request
    with: { url: "BASE/first" }
  - id: license
    uses: http.request
    with: { method: POST, url: "BASE/licenses" }
  - id: never
    uses: http.request
    with: { url: "BASE/never" }
on_failure:
  - id: notify
    uses: http.request
    with:
      method: POST
      url: "BASE/notify"
      json: { message: "${{ error.message }}", step: "${{ error.step }}" }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(shown["run"]["status"], "failed");
    assert_eq!(step(&shown, "notify")["status"], "succeeded");
    let notify = server.hits_to("/notify");
    assert_eq!(notify.len(), 1);
    let body: Value = serde_json::from_str(&notify[0].body).expect("JSON body");
    assert_eq!(body["step"], "license");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("license quota exceeded"),
        "on_failure saw: {message}"
    );
    assert!(server.hits_to("/never").is_empty());
    assert_eq!(server.hits_to("/first").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_a_failed_run_resumes_at_the_failed_step() {
    // The groups endpoint rejects the first request (a bad group id, fixed by an admin since).
    let server = TestServer::start(|h| match (h.path.as_str(), h.nth) {
        ("/groups", 0) => Reply::status(404).json(json!({ "error": "no group 'Sales EMEA'" })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: retry-me
on: [ { manual: {} } ]
steps:
  - id: account
    uses: http.request
    with: { method: POST, url: "BASE/account" }
  - id: groups
    uses: http.request
    with: { method: POST, url: "BASE/groups" }
  - id: welcome
    uses: http.request
    with: { method: POST, url: "BASE/welcome" }
"#
    .replace("BASE", &server.url);
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(shown["run"]["status"], "failed");
    let id = shown["run"]["id"].as_str().expect("run id").to_string();

    ws.roster_ok(&["runs", "retry", &id]).await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let shown = ws.show(&id).await;
    assert_eq!(shown["run"]["status"], "succeeded", "{shown:#}");
    assert_eq!(shown["run"]["attempt"], 2);
    assert_eq!(server.hits_to("/account").len(), 1, "account is not redone");
    assert_eq!(server.hits_to("/groups").len(), 2);
    assert_eq!(server.hits_to("/welcome").len(), 1);
    let order: Vec<_> = server.hits().iter().map(|h| h.path.clone()).collect();
    assert_eq!(order, ["/account", "/groups", "/groups", "/welcome"]);
}
