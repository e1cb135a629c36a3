//! Google Workspace triggers against the sandbox's Directory API over real HTTP: the first
//! poll records a baseline, a department change is exactly one `person.changed` (by the poller
//! and by push through `users.watch`), a deleted user is `person.left`, and a notification
//! with a wrong channel token is 401.

use std::sync::Arc;
use std::time::Duration;

use roster::triggers::google_poll::Poller;
use roster::triggers::google_push::Channels;
use serde_json::{json, Value};

use crate::sandbox_support::{self, Env as Sandbox};
use crate::support::eventually;
use crate::support_triggers::{config, engine, events};

const USERS: &str = "/admin/directory/v1/users";
const TOKEN: &str = "channel-verifier-7f3a";

const MOVER: &str = r#"
name: mover
on:
  - person.changed: { source: google, fields: [department] }
steps:
  - id: moved
    uses: script
    with: { code: '#{ to: event.changes.department.to }' }
"#;

struct Google {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    engine: Arc<roster::engine::Engine>,
    playbooks: Arc<Vec<Arc<roster::playbook::Playbook>>>,
    config: Arc<roster::config::Config>,
    base: String,
}

/// A sandbox, an engine with a `google` connection to it, and the hooks served on a port that
/// `triggers.google.push.address` names.
async fn google() -> Google {
    let sandbox = sandbox_support::start().await;
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("channel.token"), TOKEN).expect("token");
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sandbox/google-service-account.json"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let yaml = format!(
        "connections:\n  google:\n    service_account_key: {{ file: {key} }}\n    admin: admin@contoso.com\n    \
         customer_id: my_customer\n    token_url: {url}/token\n    base_url: {url}\n\
         triggers:\n  google:\n    interval: 1h\n    push: {{ address: {base}/hooks/google, token: {{ file: channel.token }}, ttl: 1h }}\n",
        url = sandbox.url
    );
    let config = config(dir.path(), &yaml);
    let url = crate::support_pg::store_url(dir.path());
    let (engine, playbooks) = engine(&url, &config, &[MOVER]).await;
    let config = Arc::new(config);
    let router = roster::triggers::router(engine.clone(), config.clone(), playbooks.clone())
        .expect("router");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Google {
        sandbox,
        _dir: dir,
        engine,
        playbooks,
        config,
        base,
    }
}

impl Google {
    fn poller(&self) -> Poller {
        Poller::from_config(self.engine.clone(), &self.config, self.playbooks.clone())
            .expect("poller")
            .expect("configured")
    }

    async fn patch(&self, user: &str, body: Value) {
        let t = self.sandbox.google_token().await;
        let r = self
            .sandbox
            .send("PATCH", &format!("{USERS}/{user}"), &t, &body)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

#[tokio::test]
async fn the_first_poll_is_a_baseline_then_a_department_change_is_one_person_changed() {
    let g = google().await;
    let poller = g.poller();
    let first = poller.poll_once().await.expect("poll");
    assert!(first.baseline);
    assert_eq!(first.users, 5);
    assert!(
        first.events.is_empty(),
        "the seeded directory fires nothing: {first:?}"
    );
    let ada = g
        .engine
        .store()
        .subject("google", "100000000000000000102")
        .await
        .expect("subject")
        .expect("recorded as the baseline");
    assert_eq!(ada["department"], "Engineering");
    assert_eq!(ada["employee_id"], "E2001");

    g.patch(
        "ada.lovelace@contoso.com",
        json!({"organizations": [{"department": "Finance", "title": "Analyst", "primary": true}]}),
    )
    .await;
    let second = poller.poll_once().await.expect("poll");
    assert!(!second.baseline);
    assert_eq!(second.events, ["person.changed"]);
    let changed = events(&g.engine, "person.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0]["changes"]["department"],
        json!({"from": "Engineering", "to": "Finance"})
    );
    assert_eq!(changed[0]["subject"], "100000000000000000102");
    let third = poller.poll_once().await.expect("poll");
    assert!(third.events.is_empty(), "nothing new: {third:?}");
    assert_eq!(events(&g.engine, "person.changed").await.len(), 1);

    // A deleted user is missing from the next listing: person.left.
    let t = g.sandbox.google_token().await;
    let r = g
        .sandbox
        .call(
            "DELETE",
            &format!("{USERS}/katherine.johnson@contoso.com"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let fourth = poller.poll_once().await.expect("poll");
    assert_eq!(fourth.events, ["person.left"]);
}

#[tokio::test]
async fn push_notifications_observe_the_change_once_and_channels_stop_on_shutdown() {
    let g = google().await;
    g.poller().poll_once().await.expect("baseline");
    let channels = Channels::from_config(g.engine.clone(), &g.config)
        .expect("channels")
        .expect("configured");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(channels.run(stopped));
    eventually(Duration::from_secs(5), "four watch channels", || async {
        let n = g.sandbox.sandbox.state()["google"]["channels"]
            .as_array()
            .map_or(0, Vec::len);
        (n == 4).then_some(())
    })
    .await;

    g.patch(
        "grace.hopper@contoso.com",
        json!({"organizations": [{"department": "Research", "primary": true}]}),
    )
    .await;
    let changed = eventually(Duration::from_secs(5), "person.changed by push", || async {
        let e = events(&g.engine, "person.changed").await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(changed[0]["changes"]["department"]["to"], "Research");
    assert_eq!(changed[0]["source"], "google");
    // The poller, and a repeated notification, find nothing new.
    assert!(g
        .poller()
        .poll_once()
        .await
        .expect("poll")
        .events
        .is_empty());
    let again = reqwest::Client::new()
        .post(format!("{}/hooks/google", g.base))
        .header("X-Goog-Channel-Token", TOKEN)
        .header("X-Goog-Resource-State", "update")
        .body(json!({"kind": "admin#directory#user", "id": "100000000000000000103"}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 200);
    assert_eq!(
        events(&g.engine, "person.changed").await.len(),
        1,
        "exactly one"
    );

    stop.send(true).expect("shutdown");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("join")
        .expect("ok");
    let left = g.sandbox.sandbox.state()["google"]["channels"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(left, 0, "channels.stop on shutdown");
}

#[tokio::test]
async fn a_notification_with_a_wrong_channel_token_is_401() {
    let g = google().await;
    let post = |token: Option<&str>| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/hooks/google", g.base))
            .header("X-Goog-Resource-State", "update")
            .body(
                json!({"kind": "admin#directory#user", "id": "100000000000000000102"}).to_string(),
            );
        if let Some(t) = token {
            req = req.header("X-Goog-Channel-Token", t);
        }
        req.send()
    };
    assert_eq!(
        post(Some("channel-verifier-0000"))
            .await
            .expect("post")
            .status(),
        401
    );
    assert_eq!(post(None).await.expect("post").status(), 401);
    assert!(
        g.engine
            .store()
            .subjects("google")
            .await
            .expect("s")
            .is_empty(),
        "nothing observed"
    );
    let sync = reqwest::Client::new()
        .post(format!("{}/hooks/google", g.base))
        .header("X-Goog-Channel-Token", TOKEN)
        .header("X-Goog-Resource-State", "sync")
        .send()
        .await
        .expect("post");
    assert_eq!(sync.status(), 200);
}
