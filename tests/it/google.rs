//! `google.*` actions through real playbook runs against `roster sandbox` (its Google token
//! endpoint and Directory API): the outcome in the sandbox's state, a second run that changes
//! nothing, a missing user, throttling and server errors retried, a revoked token renewed once;
//! and the trigger-side methods (list with paging, watch, stop) on the client itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use roster::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use serde_json::{json, Value};

use crate::support::{person, Workspace};

/// The sandbox's service-account key file (a test-only credential).
fn key_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sandbox/google-service-account.json")
}

pub async fn sandbox_with(seed: SandboxSeed, faults: FaultConfig, listen: &str) -> Sandbox {
    Sandbox::start(SandboxOptions {
        listen: listen.parse().unwrap(),
        seed,
        faults,
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox: {e:#}"))
}

pub async fn sandbox() -> Sandbox {
    sandbox_with(
        SandboxSeed::default_seed(),
        FaultConfig::default(),
        "127.0.0.1:0",
    )
    .await
}

/// `roster.yaml` in the workspace with a `google` connection to the sandbox at `url`, and an
/// `hr` one with bearer authentication.
pub fn config(ws: &Workspace, url: &str) {
    std::fs::write(ws.path().join("hr.token"), "sandbox-hr-token\n").unwrap();
    let yaml = format!(
        "connections:\n  google:\n    service_account_key: {{ file: {key} }}\n    \
         admin: admin@contoso.com\n    token_url: {url}/token\n    base_url: {url}\n  \
         hr:\n    kind: http\n    base_url: {url}/hr\n    auth: {{ bearer: {{ file: hr.token }} }}\n",
        key = key_file().display()
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

/// `roster run` of `yaml` for person E1: exit code and `{ run, steps }`.
pub async fn run(ws: &Workspace, yaml: &str) -> (i32, Value) {
    let pb = ws.write_playbook("pb", yaml);
    let who = ws.write_person("person", &person("E1"));
    let out = ws
        .roster(&[
            "--json",
            "run",
            pb.to_str().unwrap(),
            "--person",
            who.to_str().unwrap(),
        ])
        .await;
    (out.code, out.json())
}

pub fn step<'v>(shown: &'v Value, id: &str) -> &'v Value {
    shown["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_id"] == id))
        .unwrap_or_else(|| panic!("no step '{id}' in {shown:#}"))
}

fn user(state: &Value, email: &str) -> Value {
    state["google"]["users"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["primaryEmail"] == email))
        .cloned()
        .unwrap_or_else(|| panic!("no Google user {email} in the sandbox"))
}

/// How often the sandbox answered `route` with `status`.
pub fn count(state: &Value, route: &str, status: u16) -> u64 {
    state["requests"][route][status.to_string()]
        .as_u64()
        .unwrap_or(0)
}

const PATCH_USER: &str = "PATCH /admin/directory/v1/users/{userKey}";
const GET_USER: &str = "GET /admin/directory/v1/users/{userKey}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_user_finds_by_email_alias_or_id_and_reports_a_missing_one() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: lookups
on: [ { manual: {} } ]
steps:
  - { id: by_email, uses: google.get_user, with: { user: ada.lovelace@contoso.com } }
  - { id: by_alias, uses: google.get_user, with: { user: ADA@contoso.com } }
  - { id: by_id, uses: google.get_user, with: { user: "100000000000000000104", projection: basic } }
  - { id: missing, uses: google.get_user, with: { user: nobody@contoso.com } }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    let ada = &step(&shown, "by_email")["outputs"];
    assert_eq!(ada["found"], true);
    assert_eq!(ada["id"], "100000000000000000102");
    assert_eq!(ada["primary_email"], "ada.lovelace@contoso.com");
    assert_eq!(ada["given_name"], "Ada");
    assert_eq!(ada["org_unit_path"], "/Engineering");
    assert_eq!(ada["suspended"], false);
    assert_eq!(ada["aliases"], json!(["ada@contoso.com"]));
    assert_eq!(
        ada["user"]["customSchemas"]["employmentData"]["employeeNumber"],
        "E2001"
    );
    assert_eq!(
        step(&shown, "by_alias")["outputs"]["id"],
        "100000000000000000102"
    );
    let alan = &step(&shown, "by_id")["outputs"];
    assert_eq!(alan["primary_email"], "alan.turing@contoso.com");
    assert_eq!(alan["suspended"], true);
    assert_eq!(
        step(&shown, "missing")["outputs"],
        json!({ "found": false })
    );
    assert_eq!(step(&shown, "missing")["attempts"], 1);
}

const WRITE_BACK: &str = r#"
name: write-back
on: [ { manual: {} } ]
steps:
  - id: update
    uses: google.update_user
    with:
      user: ada@contoso.com
      corporate_email: ada.lovelace@corp.example
      set:
        orgUnitPath: /Sales
        customSchemas: { employmentData: { jobLevel: 8 } }
      add:
        externalIds: [ { type: custom, customType: entra, value: "0f1e2d3c" } ]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_user_writes_back_and_a_second_run_changes_nothing() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let (code, shown) = run(&ws, WRITE_BACK).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "update")["outputs"];
    assert_eq!(out["changed"], true);
    assert_eq!(
        out["updated"],
        json!(["orgUnitPath", "customSchemas", "externalIds", "emails"])
    );
    assert_eq!(out["org_unit_path"], "/Sales");

    let ada = user(&sb.state(), "ada.lovelace@contoso.com");
    assert_eq!(ada["orgUnitPath"], "/Sales");
    // customSchemas merge per field: the employee number stays.
    assert_eq!(
        ada["customSchemas"]["employmentData"],
        json!({ "employeeNumber": "E2001", "jobLevel": 8 })
    );
    // Array fields keep what was there.
    assert_eq!(
        ada["externalIds"],
        json!([
            { "type": "organization", "value": "E2001" },
            { "type": "custom", "customType": "entra", "value": "0f1e2d3c" },
        ])
    );
    let emails = ada["emails"].as_array().cloned().unwrap_or_default();
    let corp: Vec<_> = emails
        .iter()
        .filter(|e| e["address"] == "ada.lovelace@corp.example")
        .collect();
    assert_eq!(
        corp,
        [&json!({ "address": "ada.lovelace@corp.example", "type": "work" })]
    );
    assert_eq!(count(&sb.state(), PATCH_USER, 200), 1);

    let (code, shown) = run(&ws, WRITE_BACK).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "update")["outputs"];
    assert_eq!(out["changed"], false, "{out:#}");
    assert_eq!(out["updated"], json!([]));
    assert_eq!(count(&sb.state(), PATCH_USER, 200), 1, "no second PATCH");
    assert_eq!(user(&sb.state(), "ada.lovelace@contoso.com"), ada);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_or_suspending_a_missing_user_fails_at_once() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    for action in [
        "google.update_user\n    with: { user: nobody@contoso.com, set: { orgUnitPath: /Sales } }",
        "google.suspend_user\n    with: { user: nobody@contoso.com }",
    ] {
        let yaml = format!(
            "name: missing\non: [ {{ manual: {{}} }} ]\nsteps:\n  - id: act\n    uses: {action}\n    \
             retry: {{ attempts: 5, initial: 100ms }}\n"
        );
        let (code, shown) = run(&ws, &yaml).await;
        assert_eq!(code, 1, "{shown:#}");
        assert_eq!(step(&shown, "act")["attempts"], 1, "not retried");
        let error = shown["run"]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("no Google user 'nobody@contoso.com'"),
            "{error}"
        );
    }
    assert_eq!(count(&sb.state(), PATCH_USER, 200), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_user_suspends_once_and_already_suspended_is_success() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: leaver
on: [ { manual: {} } ]
steps:
  - { id: first, uses: google.suspend_user, with: { user: grace.hopper@contoso.com } }
  - { id: again, uses: google.suspend_user, with: { user: "100000000000000000103" } }
  - { id: alan, uses: google.suspend_user, with: { user: alan.turing@contoso.com } }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(step(&shown, "first")["outputs"]["changed"], true);
    assert_eq!(step(&shown, "again")["outputs"]["changed"], false);
    assert_eq!(step(&shown, "again")["outputs"]["suspended"], true);
    assert_eq!(step(&shown, "alan")["outputs"]["changed"], false);
    let state = sb.state();
    assert_eq!(user(&state, "grace.hopper@contoso.com")["suspended"], true);
    assert_eq!(count(&state, PATCH_USER, 200), 1, "one PATCH in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_group_members_flattens_nested_groups() {
    let sb = sandbox().await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: members
on: [ { manual: {} } ]
steps:
  - { id: all, uses: google.list_group_members, with: { group: all-staff@contoso.com } }
  - { id: direct, uses: google.list_group_members, with: { group: "200000000000000000001", nested: false } }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    let all = &step(&shown, "all")["outputs"];
    let mut emails: Vec<(String, String, String)> = all["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["type"], "USER", "{m}");
            assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
            (
                m["email"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
                m["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    emails.sort();
    let want = |e: &str, r: &str, v: &str| (e.to_string(), r.to_string(), v.to_string());
    assert_eq!(
        emails,
        [
            want(
                "ada.lovelace@contoso.com",
                "MEMBER",
                "engineering@contoso.com"
            ),
            want("admin@contoso.com", "OWNER", "all-staff@contoso.com"),
            want("alan.turing@contoso.com", "MEMBER", "all-staff@contoso.com"),
            want("grace.hopper@contoso.com", "MEMBER", "platform@contoso.com"),
            want(
                "katherine.johnson@contoso.com",
                "MEMBER",
                "all-staff@contoso.com"
            ),
        ]
    );
    assert_eq!(all["count"], 5);
    assert_eq!(all["group"]["id"], "200000000000000000001");
    let walked: Vec<_> = all["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["email"].clone())
        .collect();
    assert_eq!(
        walked,
        [
            json!("engineering@contoso.com"),
            json!("platform@contoso.com")
        ]
    );
    let direct = &step(&shown, "direct")["outputs"];
    assert_eq!(direct["count"], 4);
    assert!(direct["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["email"] == "engineering@contoso.com" && m["type"] == "GROUP"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_of_nested_groups_is_walked_once() {
    // Google refuses to make a cycle (GROUP_CANNOT_CONTAIN_CYCLE); a seed can still hold one.
    let mut seed = SandboxSeed::default_seed();
    let platform = seed
        .google
        .groups
        .iter_mut()
        .find(|g| g.email == "platform@contoso.com")
        .unwrap();
    platform.members.push("all-staff@contoso.com".into());
    let sb = sandbox_with(seed, FaultConfig::default(), "127.0.0.1:0").await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: cycle
on: [ { manual: {} } ]
steps:
  - { id: all, uses: google.list_group_members, with: { group: engineering@contoso.com } }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "all")["outputs"];
    assert_eq!(out["count"], 5, "{out:#}");
    let lists = count(
        &sb.state(),
        "GET /admin/directory/v1/groups/{groupKey}/members",
        200,
    );
    assert_eq!(lists, 3, "each of the three groups listed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried() {
    let faults = FaultConfig {
        throttle_rate: 0.25,
        error_rate: 0.25,
        error_statuses: vec![500, 503],
        retry_after_s: 0,
        rng_seed: Some(7),
        ..FaultConfig::default()
    };
    let sb = sandbox_with(SandboxSeed::default_seed(), faults, "127.0.0.1:0").await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: flaky
on: [ { manual: {} } ]
steps:
  - id: look
    uses: google.get_user
    with: { user: katherine.johnson@contoso.com }
    retry: { attempts: 20, initial: 20ms, backoff: fixed }
  - id: move
    uses: google.update_user
    with: { user: katherine.johnson@contoso.com, set: { orgUnitPath: /Engineering } }
    retry: { attempts: 20, initial: 20ms, backoff: fixed }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    let state = sb.state();
    let faulted: u64 = state["requests"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|by| by.as_object().unwrap().iter())
        .filter(|(s, _)| ["429", "500", "503"].contains(&s.as_str()))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(
        faulted > 0,
        "the faults were injected: {:#}",
        state["requests"]
    );
    let attempts: i64 = ["look", "move"]
        .iter()
        .map(|s| step(&shown, s)["attempts"].as_i64().unwrap())
        .sum();
    assert!(attempts > 2, "some step was retried: {shown:#}");
    assert_eq!(
        user(&state, "katherine.johnson@contoso.com")["orgUnitPath"],
        "/Engineering"
    );
    assert_eq!(count(&state, PATCH_USER, 200), 1, "the write landed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_renewed_once() {
    let sb = sandbox().await;
    let addr: SocketAddr = sb.local_addr();
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let yaml = r#"
name: long
on: [ { manual: {} } ]
steps:
  - { id: before, uses: google.get_user, with: { user: ada@contoso.com } }
  - { id: pause, uses: wait, with: { duration: 3s } }
  - { id: after, uses: google.get_user, with: { user: ada@contoso.com } }
"#;
    let pb = ws.write_playbook("pb", yaml);
    let who = ws.write_person("person", &person("E1"));
    let args = [
        "--json",
        "run",
        pb.to_str().unwrap(),
        "--person",
        who.to_str().unwrap(),
    ];
    let restart = async {
        crate::support::eventually(Duration::from_secs(20), "the first look-up", || async {
            (count(&sb.state(), GET_USER, 200) == 1).then_some(())
        })
        .await;
        // A sandbox restarted on the same port knows none of the tokens it issued before: the
        // cached token is refused (401) like a revoked or expired one.
        sb.shutdown().await;
        sandbox_with(
            SandboxSeed::default_seed(),
            FaultConfig::default(),
            &addr.to_string(),
        )
        .await
    };
    let (out, sb) = tokio::join!(ws.roster(&args), restart);
    assert_eq!(out.code, 0, "{out:#?}");
    let shown = out.json();
    assert_eq!(
        step(&shown, "after")["attempts"],
        1,
        "renewed within the attempt"
    );
    assert_eq!(step(&shown, "after")["outputs"]["found"], true);
    let state = sb.state();
    assert_eq!(count(&state, GET_USER, 401), 1);
    assert_eq!(count(&state, GET_USER, 200), 1);
    assert_eq!(count(&state, "POST /token", 200), 1);
}

/// The client the triggers will use, built from the same config as a connection.
fn client(url: &str) -> roster::connectors::google::Client {
    let config = roster::config::GoogleConfig {
        service_account_key: roster::secret::SecretRef::File { file: key_file() },
        admin: "admin@contoso.com".into(),
        customer_id: "my_customer".into(),
        token_url: Some(format!("{url}/token")),
        base_url: url.into(),
        scopes: None,
        limits: None,
    };
    roster::connectors::google::Client::new(
        &config,
        std::path::Path::new("."),
        reqwest::Client::new(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_page_by_page_and_filtered() {
    use roster::connectors::google::UserQuery;
    let sb = sandbox().await;
    let c = client(&sb.url());
    let q = UserQuery {
        max_results: Some(2),
        ..UserQuery::default()
    };
    let (first, next) = c.list_users_page(&q, None).await.unwrap();
    assert_eq!(first.len(), 2);
    let (second, _) = c.list_users_page(&q, next.as_deref()).await.unwrap();
    assert_ne!(first[0]["id"], second[0]["id"]);
    let all = c.list_users(&q).await.unwrap();
    let emails: Vec<_> = all
        .iter()
        .map(|u| u["primaryEmail"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 5, "{emails:?}");
    assert_eq!(
        count(&sb.state(), "GET /admin/directory/v1/users", 200),
        2 + 3,
        "two single pages, then three pages of two"
    );
    let suspended = UserQuery {
        domain: Some("contoso.com".into()),
        query: Some("isSuspended=true".into()),
        ..UserQuery::default()
    };
    let found = c.list_users(&suspended).await.unwrap();
    let found: Vec<_> = found.iter().map(|u| u["primaryEmail"].clone()).collect();
    assert_eq!(found, [json!("alan.turing@contoso.com")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_channel_is_opened_and_stopped() {
    use roster::connectors::google::{Channel, UserQuery};
    let sb = sandbox().await;
    let c = client(&sb.url());
    let hook = crate::support::TestServer::start(|_| crate::support::Reply::ok()).await;
    let channel = Channel {
        id: "01234567-89ab-cdef-0123-456789abcdef".into(),
        address: format!("{}/hooks/google", hook.url),
        token: Some("verifier".into()),
        ttl: Some(Duration::from_secs(3600)),
    };
    let opened = c
        .watch_users(&UserQuery::default(), "update", &channel)
        .await
        .unwrap();
    assert_eq!(opened["id"], channel.id);
    let resource = opened["resourceId"].as_str().unwrap().to_string();
    let channels = sb.state()["google"]["channels"].clone();
    assert_eq!(channels[0]["id"], channel.id, "{channels:#}");
    assert_eq!(channels[0]["event"], "update");
    c.stop_channel(&channel.id, &resource).await.unwrap();
    assert_eq!(sb.state()["google"]["channels"], json!([]));
    let e = c.stop_channel(&channel.id, &resource).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}
