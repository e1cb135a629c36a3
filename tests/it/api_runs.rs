//! The runs API over real HTTP against `roster serve`: start (with an idempotency key), list
//! with filters and paging, show with masked secrets and the external calls, the review and
//! approvals queues, cancel and retry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use roster::sandbox::FaultConfig;
use serde_json::{json, Value};

use crate::support::{Reply, TestServer, Workspace};
use crate::support_sandbox::{start as start_sandbox, write_config, Credential};
use crate::support_serve::{create_token, write_playbook, Serve};

const GREET: &str = r#"
name: greet
on: [ { manual: {} } ]
steps:
  - id: hello
    uses: script
    with: { code: '#{ text: "hello " + person.given_name }' }
"#;

const OTHER: &str = r#"
name: other
on: [ { manual: {} } ]
steps:
  - id: hold
    uses: wait
    with: { duration: 1h }
"#;

async fn serve_with(ws: &Workspace, playbooks: &[(&str, &str)]) -> Serve {
    for (name, yaml) in playbooks {
        write_playbook(ws, name, yaml);
    }
    let token = create_token(ws, "ops").await;
    Serve::start(ws, &[]).await.with_token(&token)
}

async fn start(serve: &Serve, playbook: &str, person: Value) -> String {
    let (code, body) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": playbook, "person": person }),
        )
        .await;
    assert_eq!(code, 201, "{body:#}");
    body["run"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_start_once_per_key_and_list_with_filters_and_pages() {
    let ws = Workspace::new();
    let serve = serve_with(&ws, &[("greet", GREET), ("other", OTHER)]).await;

    let body = json!({
        "playbook": "greet", "idempotency_key": "hire-42",
        "person": { "id": "p42", "given_name": "Ada" },
    });
    let (code, first) = serve.post("/api/v1/runs", &body).await;
    assert_eq!(code, 201, "{first:#}");
    let id = first["run"]["id"].as_str().unwrap().to_string();
    let (code, again) = serve.post("/api/v1/runs", &body).await;
    assert_eq!(code, 200, "{again:#}");
    assert_eq!(
        again["run"]["id"], id,
        "the same key answers with the first run"
    );
    let run = serve.wait_status(&id, "succeeded").await;
    assert_eq!(run["steps"][0]["outputs"]["text"], "hello Ada");

    let (code, body) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": "nope", "person": { "id": "x" } }),
        )
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("playbook_not_found"))
    );

    let mut waiting = Vec::new();
    for i in 0..4 {
        waiting.push(start(&serve, "other", json!({ "id": format!("w{i}") })).await);
    }
    for id in &waiting {
        serve.wait_status(id, "waiting").await;
    }

    let (_, all) = serve.get("/api/v1/runs").await;
    assert_eq!(all["total"], 5);
    let (_, page) = serve.get("/api/v1/runs?playbook=other&limit=3").await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["runs"].as_array().unwrap().len(), 3);
    assert_eq!(page["runs"][0]["id"], waiting[3], "newest first");
    assert_eq!(page["next_offset"], 3);
    let (_, rest) = serve
        .get("/api/v1/runs?playbook=other&limit=3&offset=3")
        .await;
    assert_eq!(rest["runs"].as_array().unwrap().len(), 1);
    assert_eq!(rest["runs"][0]["id"], waiting[0]);
    assert_eq!(rest["next_offset"], Value::Null);

    let (_, ok) = serve.get("/api/v1/runs?status=succeeded").await;
    assert_eq!(ok["total"], 1);
    assert_eq!(ok["runs"][0]["id"], id);
    let (_, by_person) = serve.get("/api/v1/runs?person=w2").await;
    assert_eq!(by_person["runs"][0]["id"], waiting[2]);
    assert_eq!(by_person["total"], 1);

    let created = run["created_at"].as_str().unwrap().replace('+', "%2B");
    let (_, before) = serve
        .get(&format!("/api/v1/runs?created_before={created}"))
        .await;
    assert_eq!(before["total"], 0);
    let (_, after) = serve
        .get(&format!("/api/v1/runs?created_after={created}"))
        .await;
    assert_eq!(after["total"], 5);
    let (code, bad) = serve.get("/api/v1/runs?created_after=yesterday").await;
    assert_eq!(
        (code, bad["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (code, bad) = serve.get("/api/v1/runs?status=done").await;
    assert_eq!(code, 400, "{bad:#}");
    assert!(bad["error"]["message"]
        .as_str()
        .unwrap()
        .contains("succeeded"));
    let (code, missing) = serve.get("/api/v1/runs/no-such-run").await;
    assert_eq!(
        (code, missing["error"]["code"].as_str()),
        (404, Some("run_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_shows_masked_secrets_and_every_external_call() {
    let sandbox = start_sandbox(FaultConfig::default()).await;
    let ws = Workspace::new();
    write_config(&ws, &sandbox, Credential::Secret);
    let serve = serve_with(
        &ws,
        &[(
            "onboard",
            r#"
name: onboard
on: [ { manual: {} } ]
steps:
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: "grace.hopper@contoso.com"
      display_name: "${{ person.full_name }}"
      employee_id: "${{ person.employee_id }}"
  - id: hold
    uses: wait
    with: { duration: 1h }
"#,
        )],
    )
    .await;
    let id = start(
        &serve,
        "onboard",
        json!({ "id": "E77", "employee_id": "E77", "given_name": "Grace", "family_name": "Hopper" }),
    )
    .await;
    // Parked on the wait: the password is still sealed (not yet erased) in the database.
    let run = serve.wait_status(&id, "waiting").await;
    let text = run.to_string();
    let account = &run["steps"][0];
    assert_eq!(account["outputs"]["created"], true, "{run:#}");
    assert_eq!(account["outputs"]["password"], "••••••");
    assert!(!text.contains("$secret") && !text.contains("v1:"), "{text}");
    let stored = ws.db().await.step_outputs(&id, "account").await;
    assert!(stored.contains("\"$secret\":\"v1:"), "{stored}");

    let calls = account["calls"].as_array().unwrap();
    let base = sandbox.url();
    let seen: Vec<(String, String, u64)> = calls
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["url"].as_str().unwrap().replace(&base, ""),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        calls.iter().all(|c| c["connection"] == "entra"),
        "{calls:#?}"
    );
    assert!(
        seen.iter().all(|(_, url, _)| !url.contains('?')),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("POST".into(), "/v1.0/users".into(), 201)),
        "{seen:?}"
    );
    // The look-up by employee id and the token request are recorded too.
    assert!(
        seen.iter()
            .any(|(m, u, s)| m == "GET" && u == "/v1.0/users" && *s == 200),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(m, u, _)| m == "POST" && u.ends_with("/token")),
        "{seen:?}"
    );
    assert!(calls
        .iter()
        .all(|c| c["duration_ms"].as_i64().unwrap() >= 0));

    let metrics = serve.metrics().await;
    assert!(
        metrics.contains("roster_external_calls_total{connection=\"entra\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("roster_step_duration_seconds_count{action=\"entra.create_user\"} 1"));
    assert!(metrics.contains("roster_runs{status=\"waiting\"} 1"));
}

const CHECKED: &str = r#"
name: checked
on: [ { manual: {} } ]
steps:
  - id: check
    uses: validate
    with:
      rules:
        - { field: given_name, required: true }
        - { field: department, one_of: [Engineering, Finance] }
  - id: done
    uses: script
    with:
      code: '#{ upn: email_local(person.given_name, person.family_name) + "@contoso.com" }'

"#;

const SIGNED: &str = r#"
name: signed
on: [ { manual: {} } ]
steps:
  - id: ok
    uses: approval
    with: { message: "Offboard ${{ person.id }}?" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_and_approval_queues_resume_or_end_runs() {
    let ws = Workspace::new();
    let serve = serve_with(&ws, &[("checked", CHECKED), ("signed", SIGNED)]).await;
    let id = start(
        &serve,
        "checked",
        json!({ "id": "p1", "family_name": "Lovelace", "department": "Sales" }),
    )
    .await;
    serve.wait_status(&id, "review").await;
    let (code, queue) = serve.get("/api/v1/review").await;
    assert_eq!(code, 200);
    assert_eq!(queue["total"], 1);
    let item = &queue["runs"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["step"], "check");
    let fields: Vec<&str> = item["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["given_name", "department"], "{item:#}");
    assert!(item["errors"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("Sales"));

    let (code, bad) = serve
        .post(
            &format!("/api/v1/runs/{id}/approve"),
            &json!({ "set": { "nickname": "x" } }),
        )
        .await;
    assert_eq!(
        (code, bad["error"]["code"].as_str()),
        (422, Some("invalid_body"))
    );
    let (code, body) = serve
        .post(
            &format!("/api/v1/runs/{id}/approve"),
            &json!({ "set": { "given_name": "Ada", "department": "Engineering" }, "comment": "fixed" }),
        )
        .await;
    assert_eq!(code, 200, "{body:#}");
    let run = serve.wait_status(&id, "succeeded").await;
    assert_eq!(
        run["steps"][1]["outputs"]["upn"],
        "ada.lovelace@contoso.com"
    );
    assert_eq!(run["steps"][0]["outputs"]["valid"], true);
    assert_eq!(serve.get("/api/v1/review").await.1["total"], 0);
    // Deciding twice is a conflict.
    let (code, again) = serve
        .post(&format!("/api/v1/runs/{id}/approve"), &json!({}))
        .await;
    assert_eq!(
        (code, again["error"]["code"].as_str()),
        (409, Some("wrong_state"))
    );

    let yes = start(&serve, "signed", json!({ "id": "p8" })).await;
    let signed = start(&serve, "signed", json!({ "id": "p9" })).await;
    serve.wait_status(&yes, "approval").await;
    serve.wait_status(&signed, "approval").await;
    let (_, approvals) = serve.get("/api/v1/approvals").await;
    assert_eq!(approvals["total"], 2);
    assert_eq!(approvals["runs"][0]["id"], signed);
    assert_eq!(approvals["runs"][0]["message"], "Offboard p9?");
    let (code, body) = serve
        .post(
            &format!("/api/v1/runs/{yes}/approve"),
            &json!({ "comment": "go" }),
        )
        .await;
    assert_eq!(code, 200, "{body:#}");
    let run = serve.wait_status(&yes, "succeeded").await;
    assert_eq!(run["steps"][0]["outputs"]["approved"], true);
    assert_eq!(run["steps"][0]["outputs"]["by"], "token:ops");
    assert_eq!(run["steps"][0]["outputs"]["comment"], "go");
    let (code, body) = serve
        .post(
            &format!("/api/v1/runs/{signed}/reject"),
            &json!({ "reason": "not yet" }),
        )
        .await;
    assert_eq!(code, 200, "{body:#}");
    assert_eq!(body["run"]["status"], "rejected");
    assert!(body["run"]["error"].as_str().unwrap().contains("not yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_a_parked_run_and_retry_resumes_a_failed_one() {
    // The HR API refuses the first write (400: permanent), then accepts.
    let refusals = Arc::new(AtomicUsize::new(1));
    let left = refusals.clone();
    let hr = TestServer::start(move |_| {
        if left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            Reply::status(400).json(json!({ "error": "department unknown" }))
        } else {
            Reply::ok()
        }
    })
    .await;
    let ws = Workspace::new();
    let push = format!(
        r#"
name: push
on: [ {{ manual: {{}} }} ]
steps:
  - id: write
    uses: http.request
    with: {{ method: PATCH, url: "{}/employees/1" }}
"#,
        hr.url
    );
    let serve = serve_with(&ws, &[("other", OTHER), ("push", &push)]).await;

    let parked = start(&serve, "other", json!({ "id": "p1" })).await;
    serve.wait_status(&parked, "waiting").await;
    let (code, body) = serve
        .post(&format!("/api/v1/runs/{parked}/cancel"), &json!({}))
        .await;
    assert_eq!(
        (code, body["run"]["status"].as_str()),
        (200, Some("cancelled"))
    );
    let (code, body) = serve
        .post(&format!("/api/v1/runs/{parked}/cancel"), &json!({}))
        .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("wrong_state"))
    );
    assert_eq!(body["error"]["details"]["status"], "cancelled");

    let id = start(&serve, "push", json!({ "id": "p2" })).await;
    let failed = serve.wait_status(&id, "failed").await;
    assert!(
        failed["error"].as_str().unwrap().contains("400"),
        "{failed:#}"
    );
    let (code, body) = serve
        .post(&format!("/api/v1/runs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(code, 200, "{body:#}");
    let run = serve.wait_status(&id, "succeeded").await;
    assert_eq!(run["attempt"], 2);
    // Both attempts' calls are on the record.
    let statuses: Vec<u64> = run["steps"][0]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![400, 200]);
    assert_eq!(refusals.load(Ordering::SeqCst), 0);
}
