//! The control actions (`validate`, `script`, `wait`, `approval`, `fail`), `http.request`
//! against a local server, step conditions, `where:`, `vars` and the sandbox limits, executed
//! in-process by a real worker over a temporary SQLite database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roster::engine::status::{RunStatus, StepStatus};
use roster::store::RunFilter;
use serde_json::{json, Map, Value};

use crate::support_checks::{person, person_with, Harness};

// ---------------------------------------------------------------------------------------------
// validate

fn validate_playbook(on_invalid: &str) -> String {
    format!(
        r#"
name: validate-all
on: [ {{ manual: {{}} }} ]
steps:
  - id: check
    uses: validate
    with:
      on_invalid: {on_invalid}
      rules:
        - {{ field: given_name, required: true, pattern: "[\\p{{L}}' -]+" }}
        - {{ field: family_name, required: true, pattern: "[\\p{{L}}' -]+" }}
        - {{ field: title, required: true }}
        - {{ field: department, one_of: [Engineering, Finance, Sales] }}
        - {{ field: employee_id, min_length: 5, max_length: 8 }}
        - {{ field: location, max_length: 6 }}
        - {{ field: personal_email, email: true }}
        - {{ field: start_date, date: true }}
        - {{ field: custom.birthday, date: "%d.%m.%Y" }}
  - id: after
    uses: script
    with:
      code: '#{{ department: person.department, given_name: person.given_name }}'
"#
    )
}

/// A person breaking every rule above except `family_name`'s (non-ASCII letters are letters).
fn invalid_person() -> Value {
    person_with(json!({
        "given_name": "J0sé",
        "family_name": "Müller",
        "title": null,
        "department": "Legal",
        "employee_id": "E12",
        "location": "Amsterdam",
        "personal_email": "jose@example",
        "start_date": "2026-02-30",
        "custom": { "birthday": "1990-05-17" }
    }))
}

/// Every (field, reason) the invalid person must be reported with.
const INVALID_REASONS: [(&str, &str); 8] = [
    (
        "given_name",
        "'J0sé' does not match the pattern [\\p{L}' -]+",
    ),
    ("title", "is required"),
    (
        "department",
        "'Legal' is not one of: Engineering, Finance, Sales",
    ),
    ("employee_id", "is 3 characters; at least 5 required"),
    ("location", "is 9 characters; at most 6 allowed"),
    ("personal_email", "'jose@example' is not an email address"),
    (
        "start_date",
        "'2026-02-30' is not a date in the format %Y-%m-%d",
    ),
    (
        "custom.birthday",
        "'1990-05-17' is not a date in the format %d.%m.%Y",
    ),
];

#[tokio::test]
async fn validate_accepts_a_clean_record_under_every_rule_kind() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("fail")).await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    assert_eq!(h.outputs(&id, "check").await, json!({ "valid": true }));
    h.shutdown().await;
}

#[tokio::test]
async fn validate_fail_ends_the_run_with_every_failing_rule_in_the_error() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("fail")).await;
    let id = h.start_run(&pb, invalid_person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.expect("a failed run has an error");
    assert!(
        error.starts_with("step 'check' failed: validation failed: "),
        "{error}"
    );
    for (field, reason) in INVALID_REASONS {
        assert!(
            error.contains(&format!("{field}: {reason}")),
            "'{field}: {reason}' missing from: {error}"
        );
    }
    assert!(
        !error.contains("family_name"),
        "Müller is made of letters: {error}"
    );
    let steps = h.steps(&id).await;
    assert_eq!(steps.len(), 1, "nothing after the failed validation runs");
    assert_eq!(steps[0].status, StepStatus::Failed);
    h.shutdown().await;
}

#[tokio::test]
async fn validate_review_parks_the_run_with_every_reason_listed() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("review")).await;
    let id = h.start_run(&pb, invalid_person()).await;
    let run = h.wait_for(&id, &[RunStatus::Review]).await;
    assert_eq!(
        run.wake_at, None,
        "a review waits for a person, not a timer"
    );
    let steps = h.steps(&id).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, StepStatus::Review);
    assert_eq!(steps[0].outputs["valid"], false);
    let reported: Vec<(String, String)> = steps[0].outputs["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = INVALID_REASONS
        .iter()
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect();
    assert_eq!(reported, expected);
    h.shutdown().await;
}

fn corrections(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn approving_a_review_with_corrections_validates_again_and_completes() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("review")).await;
    let id = h
        .start_run(&pb, person_with(json!({ "department": "Legal" })))
        .await;
    h.wait_for(&id, &[RunStatus::Review]).await;

    h.engine
        .approve(
            &id,
            "alice",
            None,
            corrections(&[("department", json!("Finance"))]),
        )
        .await
        .expect("approve");
    let run = h.wait_for(&id, &[RunStatus::Succeeded]).await;
    assert_eq!(run.person["department"], "Finance");
    let check = h.outputs(&id, "check").await;
    assert_eq!(check["valid"], true);
    // The reviewer's decision stays on the record with the result.
    assert_eq!(check["decision"]["by"], "alice", "{check}");
    assert_eq!(check["decision"]["corrected"], true, "{check}");
    assert_eq!(
        h.outputs(&id, "after").await["department"],
        "Finance",
        "later steps see the corrected person"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_correction_that_is_still_invalid_parks_the_run_again() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("review")).await;
    let id = h
        .start_run(&pb, person_with(json!({ "department": "Legal" })))
        .await;
    h.wait_for(&id, &[RunStatus::Review]).await;

    let mut changes = h.engine.subscribe();
    h.engine
        .approve(
            &id,
            "alice",
            None,
            corrections(&[("department", json!("Marketing"))]),
        )
        .await
        .expect("approve");
    // The run goes back to review only after the worker has validated the correction.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match changes.recv().await {
                Ok(c) if c.run_id == id => return c.status,
                Ok(_) => {}
                Err(e) => panic!("change feed: {e}"),
            }
        }
    })
    .await
    .map(|status| assert_eq!(status, RunStatus::Review))
    .expect("the correction is validated");
    let outputs = h.outputs(&id, "check").await;
    assert_eq!(
        outputs["errors"],
        json!([{ "field": "department", "reason": "'Marketing' is not one of: Engineering, Finance, Sales" }])
    );
    h.shutdown().await;
}

#[tokio::test]
async fn approving_a_review_without_corrections_overrides_the_rules() {
    let h = Harness::start().await;
    let pb = h.playbook(&validate_playbook("review")).await;
    let id = h
        .start_run(&pb, person_with(json!({ "department": "Legal" })))
        .await;
    h.wait_for(&id, &[RunStatus::Review]).await;

    h.engine
        .approve(&id, "alice", Some("Legal is new"), Map::new())
        .await
        .expect("approve");
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let outputs = h.outputs(&id, "check").await;
    assert_eq!(outputs["valid"], false);
    assert_eq!(outputs["overridden"], true);
    assert_eq!(outputs["decision"]["by"], "alice");
    assert_eq!(outputs["decision"]["comment"], "Legal is new");
    assert_eq!(h.outputs(&id, "after").await["department"], "Legal");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// script

#[tokio::test]
async fn a_scripts_map_becomes_outputs_that_later_steps_read() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: script-outputs
on: [ { manual: {} } ]
steps:
  - id: account
    uses: script
    with:
      code: |
        let upn = email_local(person.given_name, person.family_name) + "@contoso.com";
        #{ upn: upn, groups: ["All Staff", "Dept " + person.department], count: 40 + 2 }
  - id: summary
    uses: script
    with:
      code: '#{ line: steps.account.upn + " joins " + steps.account.groups[1], double: steps.account.count * 2 }'
"#,
        )
        .await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    assert_eq!(
        h.outputs(&id, "account").await,
        json!({ "upn": "jose.muller@contoso.com", "groups": ["All Staff", "Dept Sales"], "count": 42 })
    );
    assert_eq!(
        h.outputs(&id, "summary").await,
        json!({ "line": "jose.muller@contoso.com joins Dept Sales", "double": 84 })
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_script_that_returns_no_map_fails_and_says_why() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: script-not-a-map
on: [ { manual: {} } ]
steps:
  - id: compute
    uses: script
    with: { code: "40 + 2" }
"#,
        )
        .await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains("step 'compute' failed: the script must end with a map (#{ key: value })")
            && error.contains("but returned 42"),
        "{error}"
    );
    h.shutdown().await;
}

/// A playbook whose only step is `script` with this code.
fn script_playbook(name: &str, code: &str) -> String {
    format!(
        "name: {name}\non: [ {{ manual: {{}} }} ]\nsteps:\n  - id: runaway\n    uses: script\n    with:\n      code: |\n        {code}\n"
    )
}

#[tokio::test]
async fn an_endless_script_fails_its_step_within_two_seconds() {
    let h = Harness::start().await;
    let pb = h.playbook(&script_playbook("endless", "loop { }")).await;
    let started = Instant::now();
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let elapsed = started.elapsed();
    let error = run.error.unwrap_or_default();
    assert!(
        error.starts_with("step 'runaway' failed: script exceeded")
            && error.contains("(infinite loop?)"),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_script_growing_a_huge_string_hits_the_size_limit() {
    let h = Harness::start().await;
    let pb = h
        .playbook(&script_playbook(
            "huge-string",
            r#"let s = "0123456789"; loop { s += s; }"#,
        ))
        .await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains("script exceeded a size limit") && error.contains("strings up to 1 MiB"),
        "{error}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_endless_if_fails_its_step_and_the_worker_keeps_working() {
    let h = Harness::start().await;
    // Expressions cannot hold `loop`, but nested iteration gets as far as any loop would.
    let pb = h
        .playbook(
            r#"
name: endless-if
on: [ { manual: {} } ]
steps:
  - id: spin
    uses: script
    if: 'blob(100000).to_array().map(|x| blob(1000).to_array().map(|y| y + x).len()).len() > 0'
    with: { code: '#{}' }
"#,
        )
        .await;
    let started = Instant::now();
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.unwrap_or_default();
    assert!(
        error.starts_with("step 'spin' failed: if: script exceeded")
            && error.contains("(infinite loop?)"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // The same worker still executes the next run.
    let ok = h
        .playbook(&script_playbook("after-endless", "#{ fine: true }"))
        .await;
    let next = h.start_run(&ok, person()).await;
    h.wait_for(&next, &[RunStatus::Succeeded]).await;
    h.shutdown().await;
}

#[tokio::test]
async fn a_template_building_a_huge_string_fails_at_the_size_limit() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: huge-template
on: [ { manual: {} } ]
steps:
  - id: stop
    uses: fail
    with: { message: '${{ "x".pad(2000000, "y") }}' }
"#,
        )
        .await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.unwrap_or_default();
    assert!(error.contains("script exceeded a size limit"), "{error}");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// wait

fn wait_playbook(name: &str, until: &str) -> String {
    format!(
        "name: {name}\non: [ {{ manual: {{}} }} ]\nsteps:\n  - id: hold\n    uses: wait\n    with: {{ until: \"{until}\" }}\n  - id: after\n    uses: script\n    with: {{ code: '#{{ done: true }}' }}\n"
    )
}

#[tokio::test]
async fn waiting_until_a_past_moment_completes_at_once() {
    let h = Harness::start().await;
    let pb = h
        .playbook(&wait_playbook("wait-past", "2020-01-01T00:00:00Z"))
        .await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let outputs = h.outputs(&id, "hold").await;
    assert_eq!(outputs["until_ms"], 1_577_836_800_000i64);
    assert_eq!(outputs["until"], "2020-01-01T00:00:00.000Z");
    h.shutdown().await;
}

#[tokio::test]
async fn waiting_until_a_future_moment_parks_the_run_with_wake_at() {
    let h = Harness::start().await;
    let pb = h
        .playbook(&wait_playbook("wait-future", "2999-01-01"))
        .await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Waiting]).await;
    assert_eq!(run.wake_at, Some(32_472_144_000_000));
    let steps = h.steps(&id).await;
    assert_eq!(steps.len(), 1, "nothing after the wait has run");
    assert_eq!(steps[0].status, StepStatus::Waiting);
    assert_eq!(steps[0].outputs["until_ms"], 32_472_144_000_000i64);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// approval

const APPROVAL: &str = r#"
name: approval
on: [ { manual: {} } ]
steps:
  - id: gate
    uses: approval
    with: { message: "Create an account for ${{ person.full_name }}?", timeout: 7d }
  - id: after
    uses: script
    with: { code: '#{ approved: steps.gate.approved, by: steps.gate.by }' }
"#;

#[tokio::test]
async fn approval_parks_until_approved_and_records_who_approved() {
    let h = Harness::start().await;
    let pb = h.playbook(APPROVAL).await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Approval]).await;
    let seven_days = 7 * 24 * 3600 * 1000;
    let wake = run.wake_at.expect("the approval times out");
    assert!(
        (wake - run.created_at - seven_days).abs() < 60_000,
        "wake_at {wake}"
    );
    let parked = h.outputs(&id, "gate").await;
    assert_eq!(parked["message"], "Create an account for José Müller?");

    h.engine
        .approve(&id, "alice", Some("welcome"), Map::new())
        .await
        .expect("approve");
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let gate = h.outputs(&id, "gate").await;
    assert_eq!(gate["approved"], true);
    assert_eq!(gate["by"], "alice");
    assert_eq!(gate["comment"], "welcome");
    assert_eq!(
        h.outputs(&id, "after").await,
        json!({ "approved": true, "by": "alice" })
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_rejected_approval_ends_the_run_as_rejected() {
    let h = Harness::start().await;
    let pb = h.playbook(APPROVAL).await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Approval]).await;

    h.engine
        .reject(&id, "bob", Some("not a real hire"))
        .await
        .expect("reject");
    let run = h.run(&id).await;
    assert_eq!(run.status, RunStatus::Rejected);
    assert_eq!(
        run.error.as_deref(),
        Some("rejected by bob: not a real hire")
    );
    let steps = h.steps(&id).await;
    assert_eq!(steps.len(), 1, "no step after the rejected approval runs");
    assert_eq!(steps[0].status.as_str(), "rejected");
    // Approving afterwards is refused: the run has ended.
    assert!(h
        .engine
        .approve(&id, "alice", None, Map::new())
        .await
        .is_err());
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// fail and on_failure

fn fail_playbook(name: &str, handler_prelude: &str) -> String {
    format!(
        r#"
name: {name}
on: [ {{ manual: {{}} }} ]
steps:
  - id: stop
    uses: fail
    with: {{ message: "no manager for ${{{{ person.given_name }}}} in ${{{{ person.department }}}}" }}
  - id: never
    uses: script
    with: {{ code: '#{{}}' }}
on_failure:{handler_prelude}
  - id: notify
    uses: script
    with: {{ code: '#{{ seen: error.message, failed_step: error.step }}' }}
"#
    )
}

#[tokio::test]
async fn fail_renders_its_message_and_on_failure_steps_see_it() {
    let h = Harness::start().await;
    let pb = h.playbook(&fail_playbook("fail-message", "")).await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    assert_eq!(
        run.error.as_deref(),
        Some("step 'stop' failed: no manager for José in Sales")
    );
    let steps = h.steps(&id).await;
    let ids: Vec<&str> = steps.iter().map(|s| s.step_id.as_str()).collect();
    assert_eq!(ids, ["stop", "notify"], "the step after `fail` never runs");
    assert_eq!(
        h.outputs(&id, "notify").await,
        json!({ "seen": "no manager for José in Sales", "failed_step": "stop" })
    );
    h.shutdown().await;
}

#[tokio::test]
async fn on_failure_steps_see_the_same_error_after_the_run_was_parked() {
    let h = Harness::start().await;
    // The wait parks the handler, so `notify` executes in a later claim of the run.
    let pause = "\n  - id: pause\n    uses: wait\n    with: { duration: 50ms }";
    let pb = h.playbook(&fail_playbook("fail-resumed", pause)).await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Failed]).await;
    assert_eq!(
        h.outputs(&id, "notify").await,
        json!({ "seen": "no manager for José in Sales", "failed_step": "stop" })
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// http.request

/// What the local server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn answer(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Ok(mut l) = log.lock() {
        l.push(Seen {
            method,
            path: path.clone(),
            query: uri.query().map(String::from),
            headers,
            body,
        });
    }
    match path.as_str() {
        "/users" => (
            StatusCode::CREATED,
            [("x-request-id", "r-1")],
            axum::Json(json!({ "id": "u-1", "ok": true })),
        )
            .into_response(),
        "/plain" => (
            StatusCode::OK,
            [("content-type", "text/plain")],
            "hello, plain",
        )
            .into_response(),
        _ => (StatusCode::OK, axum::Json(json!({ "fine": true }))).into_response(),
    }
}

/// A local HTTP server on port 0 that records every request.
async fn server() -> (String, Log) {
    let log: Log = Arc::default();
    let app = axum::Router::new().fallback(answer).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

#[tokio::test]
async fn http_request_sends_method_headers_query_and_json_and_outputs_the_answer() {
    let (base, log) = server().await;
    let h = Harness::start().await;
    let pb = h
        .playbook(&format!(
            r#"
name: http-create
on: [ {{ manual: {{}} }} ]
steps:
  - id: create
    uses: http.request
    with:
      method: POST
      url: "{base}/users"
      headers: {{ X-Run: "${{{{ run.id }}}}", Authorization: "Bearer t0ken" }}
      query: {{ dept: "${{{{ person.department }}}}", limit: 5 }}
      json:
        name: "${{{{ person.full_name }}}}"
        groups: '${{{{ ["All Staff", "Dept " + person.department] }}}}'
        active: true
      expect: [201]
  - id: fetch
    uses: http.request
    with: {{ url: "{base}/users/${{{{ steps.create.body.id }}}}" }}
"#
        ))
        .await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;

    let requests = seen(&log);
    assert_eq!(requests.len(), 2, "{requests:?}");
    let create = &requests[0];
    assert_eq!(create.method, Method::POST);
    assert_eq!(create.path, "/users");
    assert_eq!(create.query.as_deref(), Some("dept=Sales&limit=5"));
    assert_eq!(create.headers["x-run"], id.as_str());
    assert_eq!(create.headers["authorization"], "Bearer t0ken");
    assert_eq!(create.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&create.body).expect("a JSON body");
    assert_eq!(
        body,
        json!({ "name": "José Müller", "groups": ["All Staff", "Dept Sales"], "active": true })
    );
    assert_eq!(requests[1].method, Method::GET);
    assert_eq!(
        requests[1].path, "/users/u-1",
        "the next step used steps.create.body.id"
    );

    let outputs = h.outputs(&id, "create").await;
    assert_eq!(outputs["status"], 201);
    assert_eq!(outputs["headers"]["x-request-id"], "r-1");
    assert_eq!(outputs["body"], json!({ "id": "u-1", "ok": true }));
    h.shutdown().await;
}

#[tokio::test]
async fn an_unexpected_success_status_fails_the_step_without_retrying() {
    let (base, log) = server().await;
    let h = Harness::start().await;
    let pb = h
        .playbook(&format!(
            r#"
name: http-expect
on: [ {{ manual: {{}} }} ]
steps:
  - id: create
    uses: http.request
    with: {{ method: POST, url: "{base}/elsewhere", json: {{}}, expect: [201] }}
    retry: {{ attempts: 3, initial: 10ms }}
"#
        ))
        .await;
    let id = h.start_run(&pb, person()).await;
    let run = h.wait_for(&id, &[RunStatus::Failed]).await;
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains(&format!("POST {base}/elsewhere answered 200"))
            && error.contains(r#"{"fine":true}"#),
        "{error}"
    );
    assert_eq!(seen(&log).len(), 1, "a permanent failure is not retried");
    assert_eq!(h.steps(&id).await[0].attempts, 1);
    h.shutdown().await;
}

#[tokio::test]
async fn a_non_json_answer_comes_back_as_a_string() {
    let (base, _log) = server().await;
    let h = Harness::start().await;
    let pb = h
        .playbook(&format!(
            "name: http-plain\non: [ {{ manual: {{}} }} ]\nsteps:\n  - id: get\n    uses: http.request\n    with: {{ url: \"{base}/plain\" }}\n"
        ))
        .await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let outputs = h.outputs(&id, "get").await;
    assert_eq!(outputs["status"], 200);
    assert_eq!(outputs["body"], "hello, plain");
    assert_eq!(outputs["headers"]["content-type"], "text/plain");
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// if, where, vars, idempotency

#[tokio::test]
async fn a_false_if_skips_the_step_and_later_steps_see_it_skipped() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: skip
on: [ { manual: {} } ]
steps:
  - id: finance_only
    uses: script
    if: person.department == "Finance"
    with: { code: '#{ ran: true }' }
  - id: after
    uses: script
    with: { code: '#{ was_skipped: steps.finance_only.skipped }' }
"#,
        )
        .await;
    let id = h.start_run(&pb, person()).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let steps = h.steps(&id).await;
    assert_eq!(steps[0].status, StepStatus::Skipped);
    assert_eq!(steps[0].outputs, json!({ "skipped": true }));
    assert_eq!(
        h.outputs(&id, "after").await,
        json!({ "was_skipped": true })
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_false_where_starts_no_run_and_records_the_dispatch_as_filtered() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: finance-only
on: [ { manual: {} } ]
where: person.department == "Finance"
steps:
  - id: hello
    uses: script
    with: { code: '#{}' }
"#,
        )
        .await;
    let started = h.engine.start(&pb, person(), None).await.expect("start");
    assert_eq!(started, None, "Sales is filtered out");
    let rows: Vec<(String, String, Option<String>)> =
        crate::support::on_db!(&crate::support::Db::of(h.engine.store()), |pool| {
            sqlx::query_as("SELECT playbook, outcome, run_id FROM dispatches")
                .fetch_all(pool)
                .await
                .expect("dispatches")
        });
    assert_eq!(
        rows,
        vec![("finance-only".to_string(), "filtered".to_string(), None)]
    );
    let runs = h
        .engine
        .store()
        .runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("runs");
    assert!(runs.is_empty());

    let finance = person_with(json!({ "department": "Finance" }));
    let id = h.start_run(&pb, finance).await;
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    h.shutdown().await;
}

#[tokio::test]
async fn vars_are_evaluated_in_order_when_the_run_starts_and_every_step_sees_them() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: vars
on: [ { manual: {} } ]
vars:
  local_part: email_local(person.given_name, person.family_name)
  upn: vars.local_part + "@contoso.com"
  sku: if person.department == "Engineering" { "SPE_E5" } else { "SPE_E3" }
steps:
  - id: gate
    uses: approval
  - id: first
    uses: script
    with: { code: '#{ upn: vars.upn, sku: vars.sku }' }
  - id: second
    uses: fail
    if: vars.upn != steps.first.upn
    with: { message: "vars changed between steps" }
"#,
        )
        .await;
    let id = h.start_run(&pb, person()).await;
    // Parked before any step ran, the run already carries its vars.
    let run = h.wait_for(&id, &[RunStatus::Approval]).await;
    let expected =
        json!({ "local_part": "jose.muller", "upn": "jose.muller@contoso.com", "sku": "SPE_E3" });
    assert_eq!(run.vars, expected);

    h.engine
        .approve(&id, "alice", None, Map::new())
        .await
        .expect("approve");
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    assert_eq!(
        h.outputs(&id, "first").await,
        json!({ "upn": "jose.muller@contoso.com", "sku": "SPE_E3" })
    );
    assert_eq!(h.steps(&id).await[2].status, StepStatus::Skipped);
    h.shutdown().await;
}

#[tokio::test]
async fn a_reviewers_correction_reaches_the_vars_derived_from_the_person() {
    let h = Harness::start().await;
    let pb = h
        .playbook(
            r#"
name: vars-corrected
on: [ { manual: {} } ]
vars:
  upn: email_local(person.given_name, person.family_name) + "@contoso.com"
steps:
  - id: check
    uses: validate
    with:
      rules: [ { field: given_name, pattern: "[\\p{L}' -]+" } ]
  - id: account
    uses: script
    with: { code: '#{ upn: vars.upn }' }
"#,
        )
        .await;
    let id = h
        .start_run(&pb, person_with(json!({ "given_name": "J0se" })))
        .await;
    h.wait_for(&id, &[RunStatus::Review]).await;
    h.engine
        .approve(
            &id,
            "alice",
            None,
            corrections(&[("given_name", json!("José"))]),
        )
        .await
        .expect("approve");
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    assert_eq!(
        h.outputs(&id, "account").await,
        json!({ "upn": "jose.muller@contoso.com" }),
        "the account is made from the corrected name, not from 'J0se'"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_manual_start_with_a_used_idempotency_key_starts_one_run() {
    let h = Harness::start().await;
    let pb = h
        .playbook(&script_playbook("idempotent", "#{ hello: true }"))
        .await;
    let first = h
        .engine
        .start(&pb, person(), Some("hire-42".into()))
        .await
        .expect("start");
    let second = h
        .engine
        .start(&pb, person(), Some("hire-42".into()))
        .await
        .expect("start again");
    let id = first.expect("the first start creates a run");
    assert_eq!(second, None, "the key was used");
    h.wait_for(&id, &[RunStatus::Succeeded]).await;
    let runs = h
        .engine
        .store()
        .runs(&RunFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1);
    h.shutdown().await;
}
