//! `hr.update_employee` over an `http` connection: against the sandbox's HR API (the record
//! written, a second run harmless, a missing employee, faults retried, refused credentials), and
//! against a recording server for the request's method, path, headers and basic auth.

use roster::sandbox::{FaultConfig, SandboxSeed};
use serde_json::json;

use crate::google::{config, count, run, sandbox, sandbox_with, step};
use crate::support::{eventually, Reply, TestServer, Workspace};

const PATCH: &str = "PATCH /hr/employees/{id}";

fn employee(state: &serde_json::Value, id: &str) -> serde_json::Value {
    state["hr"]["employees"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no employee {id}"))
}

const WRITE_BACK: &str = r#"
name: hr-write-back
on: [ { manual: {} } ]
steps:
  - id: hr
    uses: hr.update_employee
    with:
      employee: E1001
      set: { work_email: adele.vance@contoso.com, accounts: { entra: "0f1e2d3c" } }
    retry: { attempts: 20, initial: 20ms, backoff: fixed }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_back_to_the_employee_and_a_second_run_is_harmless() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let (code, shown) = run(&ws, WRITE_BACK).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(step(&shown, "hr")["outputs"]["status"], 204);
    let after = employee(&sb.state(), "E1001");
    assert_eq!(after["work_email"], "adele.vance@contoso.com");
    assert_eq!(after["accounts"], json!({ "entra": "0f1e2d3c" }));
    assert_eq!(after["department"], "Engineering", "other fields stay");

    let (code, shown) = run(&ws, WRITE_BACK).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(employee(&sb.state(), "E1001"), after);
    assert_eq!(count(&sb.state(), PATCH, 204), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_employee_or_refused_credentials_fail_at_once() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let (code, shown) = run(&ws, &WRITE_BACK.replace("E1001", "E9999")).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "hr")["attempts"], 1);
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("404") && error.contains("Employee E9999 not found."),
        "{error}"
    );

    std::fs::write(ws.path().join("hr.token"), "stale-token").unwrap();
    let (code, shown) = run(&ws, WRITE_BACK).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "hr")["attempts"], 1);
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("401") && !error.contains("stale-token"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_and_then_a_503_are_retried() {
    let throttle = FaultConfig {
        throttle_rate: 1.0,
        retry_after_s: 0,
        ..FaultConfig::default()
    };
    let sb = sandbox_with(SandboxSeed::default_seed(), throttle, "127.0.0.1:0").await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    // Every request is throttled until one was; then every one fails until one did; then the
    // HR system recovers.
    let faults = async {
        let seen = |status| {
            let sb = &sb;
            move || async move { (count(&sb.state(), PATCH, status) > 0).then_some(()) }
        };
        let within = std::time::Duration::from_secs(20);
        eventually(within, "a 429", seen(429)).await;
        sb.set_faults(FaultConfig {
            error_rate: 1.0,
            retry_after_s: 0,
            ..FaultConfig::default()
        });
        eventually(within, "a 503", seen(503)).await;
        sb.set_faults(FaultConfig::default());
    };
    let ((code, shown), ()) = tokio::join!(run(&ws, WRITE_BACK), faults);
    assert_eq!(code, 0, "{shown:#}");
    let state = sb.state();
    assert_eq!(count(&state, PATCH, 204), 1);
    let faulted = count(&state, PATCH, 429) + count(&state, PATCH, 503);
    assert_eq!(step(&shown, "hr")["attempts"].as_u64(), Some(faulted + 1));
    assert_eq!(
        employee(&state, "E1001")["work_email"],
        "adele.vance@contoso.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_the_method_path_headers_and_basic_auth_of_the_connection() {
    let server = TestServer::start(|h| match h.method.as_str() {
        "PUT" => Reply::status(200).json(json!({ "saved": true })),
        _ => Reply::status(405).json(json!({ "message": "use PUT" })),
    })
    .await;
    let ws = Workspace::new();
    std::fs::write(ws.path().join("hr.pass"), "pw").unwrap();
    let yaml = format!(
        "connections:\n  people:\n    kind: http\n    base_url: {}/api/\n    \
         auth: {{ basic: {{ username: roster, password: {{ file: hr.pass }} }} }}\n    \
         headers: {{ X-Api-Version: \"2\" }}\n",
        server.url
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
    let playbook = r#"
name: put
on: [ { manual: {} } ]
steps:
  - id: put
    uses: hr.update_employee
    with:
      connection: people
      employee: "E/1 2"
      method: put
      path: /v2/people/{employee}/profile
      expect: [200, 201]
      set: { email: "${{ person.primary_email }}" }
  - id: post
    uses: hr.update_employee
    with: { connection: people, employee: E1, method: POST, set: { x: 1 } }
"#;
    let (code, shown) = run(&ws, playbook).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(
        step(&shown, "put")["outputs"]["body"],
        json!({ "saved": true })
    );
    let hits = server.hits();
    let put = &hits[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, "/api/v2/people/E%2F1%202/profile");
    assert_eq!(put.headers["x-api-version"], "2");
    assert_eq!(put.headers["authorization"], "Basic cm9zdGVyOnB3");
    assert_eq!(put.headers["content-type"], "application/json");
    assert_eq!(put.body, r#"{"email":"E1@example.com"}"#);
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("POST /employees/E1 answered 405: use PUT"),
        "{error}"
    );
}
