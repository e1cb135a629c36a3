//! People decide from the command line: a record parked for review is corrected and continues,
//! or is rejected and ends; an `approval` step waits for `roster approve` or times out.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{person, Reply, TestServer, Workspace};

const JOINER: &str = r#"
name: joiner
on: [ { manual: {} } ]
steps:
  - id: check
    uses: validate
    with:
      rules:
        - { field: family_name, required: true, pattern: "[\\p{L}' -]+" }
        - { field: department, required: true, one_of: [Engineering, Finance] }
      on_invalid: review
  - id: create
    uses: http.request
    with: { method: POST, url: "BASE/users", json: { family_name: "${{ person.family_name }}" } }
"#;

/// Runs the playbook for `who` with `roster run --json` until it settles; returns the run id
/// and what was printed.
async fn start(ws: &Workspace, yaml: &str, who: &Value) -> (String, Value) {
    let pb = ws.write_playbook("pb", yaml);
    let file = ws.write_person("person", who);
    let out = ws
        .roster(&[
            "--json",
            "run",
            pb.to_str().unwrap(),
            "--person",
            file.to_str().unwrap(),
        ])
        .await;
    let shown = out.json();
    let id = shown["run"]["id"].as_str().expect("run id").to_string();
    (id, shown)
}

fn misspelt() -> Value {
    let mut p = person("E42");
    p["family_name"] = json!("D0e");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_parked_for_review_continues_after_a_correction() {
    let server = TestServer::start(|_| Reply::status(201)).await;
    let ws = Workspace::new();
    let (id, shown) = start(&ws, &JOINER.replace("BASE", &server.url), &misspelt()).await;
    assert_eq!(shown["run"]["status"], "review", "{shown:#}");

    let text = ws.roster_ok(&["runs", "show", &id]).await.stdout;
    assert!(
        text.contains("review") && text.contains("family_name: 'D0e' does not match"),
        "runs show does not explain the review:\n{text}"
    );
    assert!(
        server.hits().is_empty(),
        "nothing is provisioned before review"
    );

    ws.roster_ok(&["approve", &id, "--set", "family_name=Doe"])
        .await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let shown = ws.show(&id).await;
    assert_eq!(shown["run"]["status"], "succeeded", "{shown:#}");
    assert_eq!(shown["run"]["person"]["family_name"], "Doe");
    let users = server.hits_to("/users");
    assert_eq!(users.len(), 1);
    let body: Value = serde_json::from_str(&users[0].body).expect("JSON body");
    assert_eq!(body["family_name"], "Doe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_record_ends_without_executing_later_steps() {
    let server = TestServer::start(|_| Reply::status(201)).await;
    let ws = Workspace::new();
    let (id, shown) = start(&ws, &JOINER.replace("BASE", &server.url), &misspelt()).await;
    assert_eq!(shown["run"]["status"], "review", "{shown:#}");

    ws.roster_ok(&["reject", &id, "--reason", "not a real hire", "--by", "hr"])
        .await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let shown = ws.show(&id).await;
    assert_eq!(shown["run"]["status"], "rejected");
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not a real hire"), "run error: {error}");
    assert_eq!(shown["steps"][0]["status"], "rejected");
    assert!(server.hits().is_empty(), "a rejected run provisioned");
    let again = ws.roster(&["approve", &id]).await;
    assert_ne!(again.code, 0, "a rejected run cannot be approved");
}

const GRANT: &str = r#"
name: grant-admin
on: [ { manual: {} } ]
steps:
  - id: ask
    uses: approval
    with: { message: "Grant admin rights to ${{ person.id }}?" TIMEOUT }
  - id: grant
    uses: http.request
    with: { method: POST, url: "BASE/grant" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_step_continues_after_roster_approve() {
    let server = TestServer::start(|_| Reply::ok()).await;
    let ws = Workspace::new();
    let yaml = GRANT.replace("BASE", &server.url).replace(" TIMEOUT", "");
    let (id, shown) = start(&ws, &yaml, &person("E5")).await;
    assert_eq!(shown["run"]["status"], "approval", "{shown:#}");
    assert!(server.hits().is_empty());

    ws.roster_ok(&["approve", &id, "--comment", "ticket 123", "--by", "it-lead"])
        .await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let shown = ws.show(&id).await;
    assert_eq!(shown["run"]["status"], "succeeded", "{shown:#}");
    let ask = &shown["steps"][0];
    assert_eq!(ask["status"], "succeeded");
    assert_eq!(ask["outputs"]["approved"], true);
    assert_eq!(ask["outputs"]["by"], "it-lead");
    assert_eq!(ask["outputs"]["comment"], "ticket 123");
    assert_eq!(server.hits_to("/grant").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_without_a_decision_times_out() {
    let server = TestServer::start(|_| Reply::ok()).await;
    let ws = Workspace::new();
    let yaml = GRANT
        .replace("BASE", &server.url)
        .replace(" TIMEOUT", ", timeout: 1s");
    let (id, shown) = start(&ws, &yaml, &person("E6")).await;
    assert_eq!(shown["run"]["status"], "approval", "{shown:#}");

    let mut worker = ws.spawn_worker(&["--idle-check", "50ms"]);
    let db = ws.db().await;
    db.wait_status(&id, "failed", Duration::from_secs(10)).await;
    worker.kill().await;

    let error = db.run_error(&id).await.unwrap_or_default();
    assert!(
        error.contains("step 'ask' failed: approval timed out"),
        "run error: {error}"
    );
    assert!(server.hits().is_empty(), "granted without approval");
}
