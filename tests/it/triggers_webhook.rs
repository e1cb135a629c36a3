//! Generic webhooks over real HTTP: a signed body becomes `person.joined` (and a
//! `webhook.received` run), a bad signature is 401 and stores nothing, a replay produces
//! nothing new, and unknown names, large bodies and unmappable bodies are refused clearly.

use roster::triggers::webhook::sign;
use serde_json::{json, Value};

use crate::support_triggers::{serve, Env};

const SECRET: &str = "s3cr3t-hmac-key";

const ON_HOOK: &str = r#"
name: on-hr-hook
on:
  - webhook: { name: hr }
steps:
  - id: seen
    uses: script
    with: { code: '#{ kind: event.payload.kind }' }
"#;

const JOINER: &str = r#"
name: joiner
on:
  - person.joined: { source: hr }
steps:
  - id: hello
    uses: script
    with: { code: '#{ hi: person.given_name }' }
"#;

const CONFIG: &str = "webhooks:\n  hr:\n    secret: { file: hook.secret }\n    max_body_bytes: 4096\n    mapping:\n      id: $.employee.id\n      given_name: { path: $.employee.first, case: title }\n      family_name: $.employee.last\n      department: $.employee.dept\n      start_date: { path: $.employee.start, date_format: '%d/%m/%Y' }\n";

async fn env() -> (Env, String) {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("hook.secret"), SECRET).expect("secret");
    let mut env = Env::new(&[ON_HOOK, JOINER], "").await;
    env.config = std::sync::Arc::new(crate::support_triggers::config(dir.path(), CONFIG));
    let router = roster::triggers::router(
        env.engine.clone(),
        env.config.clone(),
        env.playbooks.clone(),
    )
    .expect("router");
    let base = serve(router).await;
    // Keep the secret's directory alive as long as the env.
    std::mem::forget(dir);
    (env, base)
}

async fn post(base: &str, name: &str, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/hooks/{name}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(s) = signature {
        req = req.header("X-Roster-Signature", s);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn body(first: &str) -> String {
    json!({"kind": "hire", "employee": {"id": "E77", "first": first, "last": "Vance", "dept": "Sales", "start": "01/03/2027"}}).to_string()
}

#[tokio::test]
async fn a_signed_delivery_joins_a_bad_signature_is_401_and_a_replay_is_nothing_new() {
    let (env, base) = env().await;
    let b = body("adele");

    let (status, reply) = post(&base, "hr", &b, Some(sign(b"wrong key", b.as_bytes()))).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "bad_signature");
    let (status, _) = post(&base, "hr", &b, None).await;
    assert_eq!(status, 401);
    assert!(env
        .engine
        .store()
        .subject("hr", "E77")
        .await
        .expect("s")
        .is_none());
    assert!(env.runs().await.is_empty(), "nothing stored");

    let (status, reply) = post(&base, "hr", &b, Some(sign(SECRET.as_bytes(), b.as_bytes()))).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["observation"]["type"], "person.joined");
    assert_eq!(reply["webhook"]["outcome"], "recorded");
    let person = env
        .engine
        .store()
        .subject("hr", "E77")
        .await
        .expect("s")
        .expect("stored");
    assert_eq!(person["given_name"], "Adele");
    assert_eq!(person["start_date"], "2027-03-01");
    let runs: Vec<String> = env.runs().await.into_iter().map(|(p, _)| p).collect();
    assert_eq!(runs.len(), 2);
    assert!(runs.contains(&"joiner".to_string()) && runs.contains(&"on-hr-hook".to_string()));

    let (status, reply) = post(&base, "hr", &b, Some(sign(SECRET.as_bytes(), b.as_bytes()))).await;
    assert_eq!(status, 202);
    assert_eq!(reply["observation"]["outcome"], "unchanged");
    assert_eq!(reply["webhook"]["outcome"], "duplicate");
    assert_eq!(env.runs().await.len(), 2, "a replay starts nothing");

    // A change in the body is a person.changed.
    let changed = body("adèle");
    let (_, reply) = post(
        &base,
        "hr",
        &changed,
        Some(sign(SECRET.as_bytes(), changed.as_bytes())),
    )
    .await;
    assert_eq!(reply["observation"]["type"], "person.changed");
}

#[tokio::test]
async fn unknown_names_large_bodies_and_unmappable_bodies_are_refused() {
    let (env, base) = env().await;
    let b = body("adele");
    let (status, reply) = post(
        &base,
        "payroll",
        &b,
        Some(sign(SECRET.as_bytes(), b.as_bytes())),
    )
    .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5000));
    let (status, reply) = post(
        &base,
        "hr",
        &big,
        Some(sign(SECRET.as_bytes(), big.as_bytes())),
    )
    .await;
    assert_eq!(status, 413, "{reply}");

    let bad = json!({"employee": {"id": "E78", "first": "x", "start": "2027-03-01"}}).to_string();
    let (status, reply) = post(
        &base,
        "hr",
        &bad,
        Some(sign(SECRET.as_bytes(), bad.as_bytes())),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["details"]["path"], "$.employee.start");
    assert_eq!(reply["error"]["details"]["field"], "start_date");
    assert!(env.runs().await.is_empty());
}

#[test]
fn a_literal_webhook_secret_in_the_config_is_refused() {
    let e = roster::config::Config::from_parts(
        "roster.yaml",
        Some("webhooks:\n  hr:\n    secret: hunter2\n"),
        &[],
        ".".into(),
    )
    .expect_err("refused");
    assert!(e.to_string().contains("webhooks.hr.secret"), "{e}");
    assert!(!e.to_string().contains("hunter2"));
}
