//! The `scim.*` actions against a third-party SCIM server — the python-scim reference server
//! (`../shared/tools/scim`), started on a loopback port per test — through `roster run`:
//! ensure, ensure again (no duplicate), update, deactivate, reactivate, delete, group
//! membership, and a provider without filters or PATCH whose users span several pages. Then,
//! against a scripted server, a 409 on create adopts the user and a 429 is retried.

use serde_json::{json, Value};

use crate::support::{step, Reply, TestServer, Workspace};
use crate::support_scim::{tools, ReferenceServer};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `roster.yaml` with a `scim` connection named `app` to `url`, its token in a file.
fn config(ws: &Workspace, url: &str, token: &str) {
    std::fs::write(ws.path().join("app.token"), format!("{token}\n")).unwrap();
    let yaml = format!(
        "connections:\n  app:\n    kind: scim\n    base_url: {url}\n    \
         auth: {{ bearer: {{ file: app.token }} }}\n"
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

fn ada(title: &str, department: &str) -> Value {
    json!({
        "id": "E1001", "given_name": "Ada", "family_name": "Lovelace",
        "primary_email": "ada.lovelace@contoso.com", "title": title, "department": department,
    })
}

const ENSURE: &str = r#"
name: provision
on: [ { manual: {} } ]
steps:
  - id: account
    uses: scim.ensure_user
    with:
      connection: app
      user_name: "${{ person.primary_email }}"
      external_id: "${{ person.id }}"
      given_name: "${{ person.given_name }}"
      family_name: "${{ person.family_name }}"
      email: "${{ person.primary_email }}"
      attributes:
        title: "${{ person.title }}"
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "${{ person.department }}" }
    retry: { attempts: 3, backoff: fixed, initial: 10ms }
"#;

async fn run(ws: &Workspace, yaml: &str, person: &Value) -> Value {
    let (code, shown, stderr) = ws.run_json(yaml, person, &[]).await;
    assert_eq!(code, 0, "{shown:#}\n{stderr}");
    shown
}

fn count(server: &ReferenceServer, request: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with(request))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_is_created_once_updated_deactivated_and_deleted() {
    let Some(()) = tools() else { return };
    let app = ReferenceServer::start(&[]);
    let ws = Workspace::new();
    config(&ws, &app.url, &app.token);

    let shown = run(&ws, ENSURE, &ada("Analyst", "Research")).await;
    let out = &step(&shown, "account")["outputs"];
    assert_eq!(
        (out["created"].clone(), out["adopted"].clone()),
        (json!(true), json!(false))
    );
    let users = app.users().await;
    assert_eq!(users.len(), 1, "{users:#?}");
    let u = &users[0];
    assert_eq!(out["id"], u["id"]);
    assert_eq!(u["userName"], "ada.lovelace@contoso.com");
    assert_eq!(u["externalId"], "E1001");
    assert_eq!(u["name"]["givenName"], "Ada");
    assert_eq!(u["emails"][0]["value"], "ada.lovelace@contoso.com");
    assert_eq!(u["title"], "Analyst");
    assert_eq!(u[ENTERPRISE]["department"], "Research");
    assert_eq!(u["active"], true);

    // Again: found by externalId, nothing to write.
    let shown = run(&ws, ENSURE, &ada("Analyst", "Research")).await;
    let out = &step(&shown, "account")["outputs"];
    assert_eq!(
        (out["created"].clone(), out["updated"].clone()),
        (json!(false), json!([]))
    );
    assert_eq!(app.users().await.len(), 1);
    assert_eq!(count(&app, "POST /v2/Users"), 1);
    assert_eq!(count(&app, "PATCH /v2/Users"), 0);

    // A change: only the attributes that differ are written.
    let shown = run(&ws, ENSURE, &ada("Principal Analyst", "Engineering")).await;
    let out = &step(&shown, "account")["outputs"];
    assert_eq!(out["updated"], json!(["title", ENTERPRISE]));
    let u = &app.users().await[0];
    assert_eq!(
        (u["title"].clone(), u[ENTERPRISE]["department"].clone()),
        (json!("Principal Analyst"), json!("Engineering"))
    );
    assert_eq!(count(&app, "PATCH /v2/Users"), 1);

    let deactivate = r#"
name: leave
on: [ { manual: {} } ]
steps:
  - id: off
    uses: scim.deactivate_user
    with: { connection: app, external_id: "${{ person.id }}" }
"#;
    let shown = run(&ws, deactivate, &ada("", "")).await;
    assert_eq!(step(&shown, "off")["outputs"]["changed"], true);
    assert_eq!(app.users().await[0]["active"], false);
    let shown = run(&ws, deactivate, &ada("", "")).await;
    assert_eq!(
        step(&shown, "off")["outputs"]["changed"],
        false,
        "already inactive"
    );

    // A rehire: ensuring the user makes it active again.
    let shown = run(&ws, ENSURE, &ada("Principal Analyst", "Engineering")).await;
    assert_eq!(
        step(&shown, "account")["outputs"]["updated"],
        json!(["active"])
    );
    assert_eq!(app.users().await[0]["active"], true);

    let delete = r#"
name: gone
on: [ { manual: {} } ]
steps:
  - id: del
    uses: scim.delete_user
    with: { connection: app, user_name: "${{ person.primary_email }}" }
"#;
    let shown = run(&ws, delete, &ada("", "")).await;
    assert_eq!(step(&shown, "del")["outputs"]["deleted"], true);
    assert!(app.users().await.is_empty());
    let shown = run(&ws, delete, &ada("", "")).await;
    assert_eq!(step(&shown, "del")["outputs"]["deleted"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_added_and_removed_once() {
    let Some(()) = tools() else { return };
    let app = ReferenceServer::start(&[]);
    let ws = Workspace::new();
    config(&ws, &app.url, &app.token);
    let join = r#"
name: join
on: [ { manual: {} } ]
steps:
  - id: ada
    uses: scim.ensure_user
    with: { connection: app, user_name: ada@contoso.com, external_id: E1 }
  - id: grace
    uses: scim.ensure_user
    with: { connection: app, user_name: grace@contoso.com, external_id: E2 }
  - id: team
    uses: scim.ensure_group
    with: { connection: app, display_name: Engineering }
  - id: members
    uses: scim.add_to_group
    with:
      connection: app
      group: "${{ steps.team.id }}"
      users: '${{ [steps.ada.id, steps.grace.id] }}'
"#;
    let shown = run(&ws, join, &ada("", "")).await;
    assert_eq!(step(&shown, "team")["outputs"]["created"], true);
    let ids = [
        step(&shown, "ada")["outputs"]["id"].clone(),
        step(&shown, "grace")["outputs"]["id"].clone(),
    ];
    assert_eq!(step(&shown, "members")["outputs"]["added"], json!(ids));
    let shown = run(&ws, join, &ada("", "")).await;
    assert_eq!(step(&shown, "team")["outputs"]["created"], false);
    assert_eq!(step(&shown, "members")["outputs"]["added"], json!([]));
    assert_eq!(step(&shown, "members")["outputs"]["already"], json!(ids));

    let (_, groups) = app.get("/Groups").await;
    assert_eq!(groups["totalResults"], 1, "one group, not two: {groups:#}");
    let members: Vec<Value> = groups["Resources"][0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].clone())
        .collect();
    assert_eq!(members, ids);

    // Removal by the group's name; the second time there is nothing to remove.
    let leave = format!(
        r#"
name: leave
on: [ {{ manual: {{}} }} ]
steps:
  - id: out
    uses: scim.remove_from_group
    with: {{ connection: app, group: Engineering, user: "{}" }}
"#,
        ids[0].as_str().unwrap()
    );
    let shown = run(&ws, &leave, &ada("", "")).await;
    assert_eq!(step(&shown, "out")["outputs"]["removed"], json!([ids[0]]));
    let shown = run(&ws, &leave, &ada("", "")).await;
    assert_eq!(
        step(&shown, "out")["outputs"]["not_member"],
        json!([ids[0]])
    );
    let (_, groups) = app.get("/Groups").await;
    assert_eq!(
        groups["Resources"][0]["members"].as_array().unwrap().len(),
        1
    );
    assert_eq!(groups["Resources"][0]["members"][0]["value"], ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_filters_or_patch_users_are_found_over_pages_and_put_whole() {
    let Some(()) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spc = dir.path().join("spc.json");
    std::fs::write(
        &spc,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": false},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": false, "maxResults": 5},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [],
        })
        .to_string(),
    )
    .unwrap();
    let app = ReferenceServer::start(&["--service-provider-config", spc.to_str().unwrap()]);
    for i in 1..=12 {
        let (status, body) = app
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i}@contoso.com"), "externalId": format!("E{i}"),
                    "title": "Clerk",
                }),
            )
            .await;
        assert_eq!(status, 201, "{body:#}");
    }
    let ws = Workspace::new();
    config(&ws, &app.url, &app.token);
    let mut person = ada("Head Clerk", "Records");
    person["id"] = json!("E12");
    person["primary_email"] = json!("user12@contoso.com");
    let shown = run(&ws, ENSURE, &person).await;
    let out = &step(&shown, "account")["outputs"];
    assert_eq!(out["created"], false, "{out:#}");
    assert_eq!(
        out["updated"],
        json!(["name", "emails", "active", "title", ENTERPRISE])
    );
    let users = app.users().await;
    assert_eq!(users.len(), 12, "no duplicate");
    let u = users.iter().find(|u| u["externalId"] == "E12").unwrap();
    assert_eq!(
        (u["title"].clone(), u["name"]["familyName"].clone()),
        (json!("Head Clerk"), json!("Lovelace"))
    );

    let listed: Vec<String> = app
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /v2/Users?"))
        .collect();
    // 12 users in pages of 5 (the provider's maxResults), without a filter.
    for start in ["startIndex=1&", "startIndex=6&", "startIndex=11&"] {
        assert!(
            listed
                .iter()
                .any(|r| r.contains(start) && r.contains("count=5")),
            "{listed:#?}"
        );
    }
    assert!(listed.iter().all(|r| !r.contains("filter=")), "{listed:#?}");
    assert_eq!(count(&app, "PUT /v2/Users/"), 1);
    assert_eq!(count(&app, "PATCH"), 0);
}

/// A scripted provider: users are listed empty twice (the look-ups by externalId and userName),
/// then the user someone else created meanwhile appears; a create is 409, or (with `throttle`)
/// first 429 and then 201.
async fn scripted(throttle: bool) -> TestServer {
    let posts = std::sync::atomic::AtomicUsize::new(0);
    TestServer::start(move |h| {
        let first_post =
            h.method == "POST" && posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u-1",
            "userName": "ada@contoso.com", "externalId": "E1", "active": true,
        });
        let list = |items: Vec<Value>| {
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                   "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(),
                   "Resources": items})
        };
        match (h.method.as_str(), h.path.as_str()) {
            ("GET", "/v2/ServiceProviderConfig") => Reply::status(404),
            ("GET", "/v2/Users") if h.nth < 2 || throttle => Reply::status(200).json(list(vec![])),
            ("GET", "/v2/Users") => Reply::status(200).json(list(vec![user])),
            ("POST", "/v2/Users") if throttle && first_post => Reply::status(429)
                .header("Retry-After", "0")
                .json(json!({"status": "429", "detail": "slow down"})),
            ("POST", "/v2/Users") if throttle => Reply::status(201).json(user),
            ("POST", "/v2/Users") => Reply::status(409).json(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409", "scimType": "uniqueness", "detail": "userName is taken",
            })),
            _ => Reply::status(404),
        }
    })
    .await
}

const ENSURE_ADA: &str = r#"
name: provision
on: [ { manual: {} } ]
steps:
  - id: account
    uses: scim.ensure_user
    with: { connection: app, user_name: ada@contoso.com, external_id: E1 }
    retry: { attempts: 3, backoff: fixed, initial: 10ms }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_create_adopts_the_user_and_a_429_is_retried() {
    let app = scripted(false).await;
    let ws = Workspace::new();
    config(&ws, &format!("{}/v2", app.url), "t0ken");
    let shown = run(&ws, ENSURE_ADA, &ada("", "")).await;
    let out = &step(&shown, "account")["outputs"];
    assert_eq!(
        (
            out["id"].clone(),
            out["created"].clone(),
            out["adopted"].clone()
        ),
        (json!("u-1"), json!(false), json!(true))
    );
    assert_eq!(
        app.hits_to("/v2/Users")
            .iter()
            .filter(|h| h.method == "POST")
            .count(),
        1
    );
    assert!(app
        .hits()
        .iter()
        .all(|h| h.headers["authorization"] == "Bearer t0ken"));

    let app = scripted(true).await;
    config(&ws, &format!("{}/v2", app.url), "t0ken");
    let shown = run(&ws, ENSURE_ADA, &ada("", "")).await;
    let s = step(&shown, "account");
    assert_eq!(
        (s["attempts"].clone(), s["outputs"]["created"].clone()),
        (json!(2), json!(true)),
        "{shown:#}"
    );
    let posts: Vec<String> = app
        .hits_to("/v2/Users")
        .into_iter()
        .filter(|h| h.method == "POST")
        .map(|h| h.headers["content-type"].clone())
        .collect();
    assert_eq!(posts, ["application/scim+json", "application/scim+json"]);
}
