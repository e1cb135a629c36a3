//! `email.send` against a real SMTP server on loopback (aiosmtpd, see `smtp.rs`): what arrives
//! (envelope, From/To/Cc/Subject, body), AUTH, STARTTLS and implicit TLS, transient 4xx vs
//! permanent 5xx, and a first-sign-in password from an earlier step's secret output that reaches
//! the mail but nothing else.

use std::time::Duration;

use serde_json::{json, Value};

use crate::smtp::{certificate, SmtpSink};
use crate::support::{person, Reply, TestServer, Workspace};

/// `roster run` of `yaml` for person E1 (with `roster.yaml` in the workspace): exit code and
/// `{ run, steps }`.
async fn run(ws: &Workspace, yaml: &str, extra: &[&str]) -> (i32, Value, String) {
    let pb = ws.write_playbook("pb", yaml);
    let who = ws.write_person("person", &person("E1"));
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    args.extend([
        "run",
        pb.to_str().unwrap(),
        "--person",
        who.to_str().unwrap(),
    ]);
    let out = ws.roster(&args).await;
    (out.code, out.json(), out.stderr)
}

fn step<'v>(shown: &'v Value, id: &str) -> &'v Value {
    shown["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_id"] == id))
        .unwrap_or_else(|| panic!("no step '{id}' in {shown:#}"))
}

/// `roster.yaml` with an `smtp` connection to the sink; `extra` lines are added to it.
fn config(ws: &Workspace, port: u16, extra: &str) {
    let yaml = format!(
        "connections:\n  smtp:\n    host: 127.0.0.1\n    port: {port}\n    \
         from: \"Roster <roster@example.com>\"\n{extra}"
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

const WELCOME: &str = r#"
name: welcome
on: [ { manual: {} } ]
steps:
  - id: mail
    uses: email.send
    with:
      to: ["${{ person.full_name }} <${{ person.primary_email }}>", manager@example.com]
      cc: hr@example.com
      reply_to: it-help@example.com
      subject: "Welcome, ${{ person.given_name }}"
      body: "Hello ${{ person.given_name }},\nyour account is ready.\n"
    retry: { attempts: 3, initial: 100ms }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_the_message_with_its_headers_and_body() {
    let Some(sink) = SmtpSink::start(&[]).await else {
        return;
    };
    let ws = Workspace::new();
    config(&ws, sink.port, "    security: none\n");
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    let got = sink.wait_for(1).await;
    let m = &got[0];
    assert_eq!(m.envelope["mail_from"], "roster@example.com");
    assert_eq!(
        m.envelope["rcpt_tos"],
        json!(["E1@example.com", "manager@example.com", "hr@example.com"])
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("Roster <roster@example.com>")
    );
    let to = m.header("To").unwrap_or_default();
    assert!(
        to.contains("\"Ada Lovelace\" <E1@example.com>") && to.contains("manager@example.com"),
        "To: {to}"
    );
    assert_eq!(m.header("Cc").as_deref(), Some("hr@example.com"));
    assert_eq!(m.header("Reply-To").as_deref(), Some("it-help@example.com"));
    assert_eq!(m.header("Subject").as_deref(), Some("Welcome, Ada"));
    assert!(
        m.raw.contains("Hello Ada,\r\nyour account is ready."),
        "body: {}",
        m.raw
    );
    let out = &step(&shown, "mail")["outputs"];
    assert_eq!(
        out["message_id"].as_str(),
        m.header("Message-ID").as_deref()
    );
    assert_eq!(out["to"], json!(["E1@example.com", "manager@example.com"]));
    assert!(
        !out.to_string().contains("account is ready"),
        "the body is not an output: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_alternative_goes_with_the_text() {
    let Some(sink) = SmtpSink::start(&[]).await else {
        return;
    };
    let ws = Workspace::new();
    config(&ws, sink.port, "    security: none\n");
    let yaml = r#"
name: html
on: [ { manual: {} } ]
steps:
  - id: mail
    uses: email.send
    with: { to: a@example.com, subject: Hi, body: "plain words", html: "<p>rich words</p>" }
"#;
    let (code, shown, _) = run(&ws, yaml, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    let m = &sink.wait_for(1).await[0];
    assert!(m
        .header("Content-Type")
        .unwrap_or_default()
        .starts_with("multipart/alternative"));
    assert!(
        m.raw.contains("plain words") && m.raw.contains("<p>rich words</p>"),
        "{}",
        m.raw
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticates_with_the_configured_login_and_a_wrong_password_fails_the_step() {
    let Some(sink) = SmtpSink::start(&["--auth", "roster:s3cret-pw"]).await else {
        return;
    };
    let ws = Workspace::new();
    std::fs::write(ws.path().join("smtp.pass"), "s3cret-pw\n").unwrap();
    let login = "    security: none\n    username: roster\n    password: { file: smtp.pass }\n";
    config(&ws, sink.port, login);
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(sink.wait_for(1).await[0].envelope["login"], "roster");

    std::fs::write(ws.path().join("smtp.pass"), "wrong\n").unwrap();
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 1, "{shown:#}");
    let s = step(&shown, "mail");
    assert_eq!(s["status"], "failed");
    assert_eq!(s["attempts"], 1, "a refused login (535) is not retried");
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("535"), "{error}");
    assert!(
        !error.contains("wrong"),
        "the password is not in the error: {error}"
    );
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_reply_is_retried_and_a_5xx_reply_fails_at_once() {
    let Some(sink) = SmtpSink::start(&["--fail-code", "451", "--fail-first", "2"]).await else {
        return;
    };
    let ws = Workspace::new();
    config(&ws, sink.port, "    security: none\n");
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(step(&shown, "mail")["attempts"], 3);
    assert_eq!(sink.wait_for(1).await.len(), 1, "delivered once");

    let Some(sink) = SmtpSink::start(&["--fail-code", "550", "--fail-first", "9"]).await else {
        return;
    };
    config(&ws, sink.port, "    security: none\n");
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "mail")["attempts"], 1);
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("550") && error.contains("sink told to refuse"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_relay_is_transient() {
    // A port nobody listens on: connection refused, retried, then given up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let ws = Workspace::new();
    config(&ws, port, "    security: none\n");
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "mail")["attempts"], 3, "retried: {shown:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_used_and_a_server_without_it_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let Some(sink) = SmtpSink::start(&["--starttls", cert, key, "--auth", "roster:pw"]).await
    else {
        return;
    };
    let ws = Workspace::new();
    std::fs::write(ws.path().join("smtp.pass"), "pw").unwrap();
    let tls = format!(
        "    security: starttls\n    tls_ca: {}\n    username: roster\n    password: {{ file: smtp.pass }}\n",
        ca.display()
    );
    config(&ws, sink.port, &tls);
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    let m = &sink.wait_for(1).await[0];
    assert_eq!(m.envelope["tls"], true, "upgraded before sending");
    assert_eq!(m.envelope["login"], "roster");

    // The same settings against a server that offers no STARTTLS: nothing is sent.
    let Some(plain) = SmtpSink::start(&["--auth", "roster:pw"]).await else {
        return;
    };
    config(&ws, plain.port, &tls);
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "mail")["attempts"], 1, "not retried");
    let error = shown["run"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("STARTTLS"), "{error}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(plain.delivered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_verifies_the_relay_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(certs.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let Some(sink) = SmtpSink::start(&["--tls", cert, key]).await else {
        return;
    };
    let ws = Workspace::new();
    config(
        &ws,
        sink.port,
        &format!("    security: tls\n    tls_ca: {}\n", ca.display()),
    );
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(sink.wait_for(1).await[0].envelope["tls"], true);

    // Without the CA the certificate does not verify: a permanent failure.
    config(&ws, sink.port, "    security: tls\n");
    let (code, shown, _) = run(&ws, WELCOME, &[]).await;
    assert_eq!(code, 1, "{shown:#}");
    assert_eq!(step(&shown, "mail")["attempts"], 1);
    assert_eq!(sink.delivered().len(), 1);
}

/// A Microsoft identity platform and Graph just big enough for `entra.create_user`: the
/// password Roster generated is in the POST it receives.
async fn fake_graph() -> TestServer {
    TestServer::start(|h| match (h.method.as_str(), h.path.as_str()) {
        ("POST", p) if p.ends_with("/oauth2/v2.0/token") => Reply::status(200)
            .json(json!({ "access_token": "t", "expires_in": 3600, "token_type": "Bearer" })),
        ("GET", p) if p.starts_with("/v1.0/users/") => Reply::status(404).json(json!({
            "error": { "code": "Request_ResourceNotFound", "message": "does not exist" }
        })),
        ("POST", "/v1.0/users") => {
            let body: Value = serde_json::from_str(&h.body).unwrap_or_default();
            Reply::status(201).json(json!({
                "id": "11111111-2222-3333-4444-555555555555",
                "userPrincipalName": body["userPrincipalName"],
                "displayName": body["displayName"],
                "accountEnabled": true,
            }))
        }
        _ => Reply::status(404).json(json!({ "error": { "code": "x", "message": "no route" } })),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_output_reaches_the_mail_and_nothing_else() {
    let Some(sink) = SmtpSink::start(&[]).await else {
        return;
    };
    let graph = fake_graph().await;
    let ws = Workspace::new();
    std::fs::write(ws.path().join("entra.secret"), "app-secret").unwrap();
    let entra = format!(
        "    security: none\n  entra:\n    tenant_id: contoso.example\n    client_id: app\n    \
         client_secret: {{ file: entra.secret }}\n    authority_url: {0}\n    graph_url: {0}\n",
        graph.url
    );
    config(&ws, sink.port, &entra);
    let yaml = r#"
name: joiner
on: [ { manual: {} } ]
steps:
  - id: account
    uses: entra.create_user
    with: { user_principal_name: "ada@contoso.example", display_name: "${{ person.full_name }}" }
  - id: note
    uses: script
    with: { code: '#{ seen: steps.account.password.to_string() }' }
  - id: mail
    uses: email.send
    with:
      to: manager@example.com
      subject: "Account for ${{ person.full_name }}"
      body: "User: ${{ steps.account.user_principal_name }}\nPassword: ${{ steps.account.password }}\n"
"#;
    let (code, shown, stderr) = run(&ws, yaml, &["--log", "debug"]).await;
    assert_eq!(code, 0, "{shown:#}\n{stderr}");
    let posted = graph
        .hits()
        .into_iter()
        .find(|h| h.method == "POST" && h.path == "/v1.0/users")
        .expect("the user was created");
    let created: Value = serde_json::from_str(&posted.body).unwrap();
    let password = created["passwordProfile"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(password.len() >= 12);

    let m = &sink.wait_for(1).await[0];
    assert!(
        m.raw.contains(&format!("Password: {password}")),
        "the mail carries the password: {}",
        m.raw
    );
    // Everywhere else it is masked or gone: the run as shown, a later step's view, the logs,
    // and (the run having ended) the stored outputs.
    let shown_text = shown.to_string();
    assert!(!shown_text.contains(&password), "{shown:#}");
    assert_eq!(step(&shown, "account")["outputs"]["password"], "••••••");
    let seen = step(&shown, "note")["outputs"]["seen"].to_string();
    assert!(
        !seen.contains(&password),
        "other steps see it sealed: {seen}"
    );
    assert!(!stderr.contains(&password), "not logged");
    let run_id = shown["run"]["id"].as_str().unwrap();
    let again = ws.show(run_id).await.to_string();
    assert!(!again.contains(&password));
    let stored = ws.db().await.step_outputs(run_id, "account").await;
    assert!(stored.contains("\"$secret\":\"erased\""), "{stored}");
    assert!(!stored.contains(&password));
    let db = std::fs::read(&ws.db_path).unwrap();
    assert!(
        !db.windows(password.len()).any(|w| w == password.as_bytes()),
        "the password is nowhere in the database file"
    );
}
