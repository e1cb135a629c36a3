//! The inbound SCIM endpoint (`/scim/v2`): the third-party compliance checkers against
//! `roster serve`, its own bearer tokens, RFC 7644's status codes and errors, and pushes shaped
//! like Entra's and Google's becoming observations of the `scim` source.

use roster::api::auth::{issue, TokenScope};
use serde_json::{json, Value};

use crate::support::Workspace;
use crate::support_scim::{
    check_server, entra_user, google_user, patch_op, tools, ScimClient, ENTERPRISE,
};
use crate::support_serve::{create_token, Serve};
use crate::support_triggers::{serve, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compliance_checkers_find_no_failures_behind_scim_tokens() {
    let Some(()) = tools() else { return };
    let ws = Workspace::new();
    let api_token = create_token(&ws, "ops").await;
    let out = ws
        .roster_ok(&["token", "create", "--name", "checker", "--scim"])
        .await;
    let scim_token = out.stdout.trim().to_string();
    let serve = Serve::start(&ws, &[]).await;
    let base = format!("{}/scim/v2", serve.url);

    // Each token opens only its own door.
    let with_api = ScimClient::new(&base, &api_token).get("/Users").await;
    assert_eq!(with_api.status, 401);
    assert_eq!(with_api.header("content-type"), "application/scim+json");
    assert_eq!(
        with_api.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(with_api.body["status"], "401");
    let serve = serve.with_token(&scim_token);
    let (code, _) = serve.get("/api/v1/runs").await;
    assert_eq!(code, 401, "a SCIM token does not open the API");
    let list = ws.roster_ok(&["--json", "token", "list"]).await.json();
    let scopes: Vec<(Value, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].clone(), t["scope"].clone()))
        .collect();
    assert_eq!(
        scopes,
        [
            (json!("ops"), json!("api")),
            (json!("checker"), json!("scim"))
        ]
    );

    let (code, report) = check_server(&base, &scim_token);
    let last = report.lines().last().unwrap_or_default().to_string();
    eprintln!("SCIM compliance checkers against roster serve: {last}");
    assert_eq!(code, 0, "{report}");
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected last line {last:?}:\n{report}"));
    assert!(passed >= 160, "{report}");

    // A revoked token stops working.
    ws.roster_ok(&["token", "revoke", "checker"]).await;
    let after = ScimClient::new(&base, &scim_token).get("/Users").await;
    assert_eq!(after.status, 401);
}

/// The endpoint (the library's router) over an engine with `playbooks` and `config`, and a
/// client holding a SCIM token.
async fn endpoint(playbooks: &[&str], config: &str) -> (Env, ScimClient) {
    let env = Env::new(playbooks, config).await;
    let router = roster::scim::router(
        env.engine.clone(),
        &env.config,
        env.playbooks.clone(),
        1 << 20,
    )
    .expect("the SCIM router");
    let url = serve(axum::Router::new().nest("/scim/v2", router)).await;
    let token = issue(env.engine.store(), "entra", TokenScope::Scim)
        .await
        .expect("a SCIM token")
        .token;
    (env, ScimClient::new(&format!("{url}/scim/v2"), &token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_the_status_codes_and_errors_of_rfc_7644() {
    let (_env, scim) = endpoint(&[], "").await;
    // Entra's "Test connection": a filter on a random value is an empty list, not a 404.
    let probe = scim.get("/Users?filter=userName%20eq%20%22a1b2c3%22").await;
    assert_eq!(
        (probe.status, probe.body["totalResults"].clone()),
        (200, json!(0))
    );
    assert_eq!(probe.header("content-type"), "application/scim+json");

    let created = scim
        .post(
            "/Users",
            &entra_user(
                "adele@contoso.com",
                "adele",
                "Adele",
                "Vance",
                "E2001",
                "Sales",
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.header("location"), created.body["meta"]["location"]);
    assert!(created
        .header("location")
        .ends_with(&format!("/scim/v2/Users/{id}")));
    assert_eq!(created.header("etag"), created.body["meta"]["version"]);
    assert!(
        created.body.get("addresses").is_none(),
        "nulls are not stored"
    );
    assert_eq!(created.body[ENTERPRISE]["employeeNumber"], "E2001");

    let dup = scim
        .post(
            "/Users",
            &entra_user("ADELE@contoso.com", "other", "A", "V", "E9", "Sales"),
        )
        .await;
    assert_eq!(
        (dup.status, dup.body["scimType"].clone()),
        (409, json!("uniqueness"))
    );
    assert_eq!(dup.body["status"], "409");
    let missing = scim.get("/Users/no-such-id").await;
    assert_eq!(
        (missing.status, missing.body["status"].clone()),
        (404, json!("404"))
    );
    let bad_filter = scim.get("/Users?filter=userName%20eq").await;
    assert_eq!(
        (bad_filter.status, bad_filter.body["scimType"].clone()),
        (400, json!("invalidFilter"))
    );
    let mut bad = entra_user("x@contoso.com", "x", "X", "Y", "E1", "Sales");
    bad["active"] = json!("sometimes");
    let bad = scim.post("/Users", &bad).await;
    assert_eq!(
        (bad.status, bad.body["scimType"].clone()),
        (400, json!("invalidValue"))
    );

    // Found by the filters Entra and Google send, with paging.
    for (i, who) in ["b", "c", "d"].iter().enumerate() {
        let r = scim
            .post(
                "/Users",
                &google_user(
                    &format!("{who}@contoso.com"),
                    &format!("g{i}"),
                    "B",
                    "C",
                    "E",
                    "Sales",
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{:#}", r.body);
    }
    let by_name = scim
        .get("/Users?filter=userName%20eq%20%22Adele%40Contoso.com%22")
        .await;
    assert_eq!(by_name.body["Resources"][0]["id"], json!(id));
    let by_external = scim
        .get("/Users?filter=externalId%20eq%20%22adele%22&attributes=userName")
        .await;
    assert_eq!(
        by_external.body["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "id": id, "userName": "adele@contoso.com"})
    );
    let page = scim.get("/Users?startIndex=2&count=2").await;
    assert_eq!(
        (
            page.body["totalResults"].clone(),
            page.body["itemsPerPage"].clone(),
            page.body["startIndex"].clone()
        ),
        (json!(4), json!(2), json!(2))
    );
    assert_eq!(page.body["Resources"][0]["userName"], "b@contoso.com");
    let google_probe = scim.get("/Users?count=1").await;
    assert_eq!(google_probe.body["Resources"].as_array().unwrap().len(), 1);

    // A stale ETag is 412; the current one works.
    let stale = scim
        .send_with(
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch_op(
                json!([{"op": "replace", "path": "title", "value": "x"}]),
            )),
            &[("If-Match", "W/\"99\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let fresh = scim
        .send_with(
            "PATCH",
            &format!("/Users/{id}"),
            Some(&patch_op(
                json!([{"op": "replace", "path": "title", "value": "x"}]),
            )),
            &[("If-Match", "W/\"1\"")],
        )
        .await;
    assert_eq!(
        (fresh.status, fresh.body["title"].clone()),
        (200, json!("x"))
    );
    assert_eq!(fresh.header("etag"), "W/\"2\"");

    // Groups as Entra provisions them: created without members, members by PATCH (204).
    let group = scim
        .post("/Groups", &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "g-sales", "displayName": "Sales", "meta": {"resourceType": "Group"},
        }))
        .await;
    assert_eq!(group.status, 201, "{:#}", group.body);
    let gid = group.body["id"].as_str().unwrap().to_string();
    let add = scim
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]),
            ),
        )
        .await;
    assert_eq!((add.status, add.body.clone()), (204, Value::Null));
    let member = scim
        .get(&format!("/Groups?filter=id%20eq%20%22{gid}%22%20and%20members.value%20eq%20%22{id}%22&excludedAttributes=members"))
        .await;
    assert_eq!(member.body["totalResults"], 1);
    assert!(member.body["Resources"][0].get("members").is_none());
    let same_name = scim
        .post("/Groups", &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "SALES"}))
        .await;
    assert_eq!(same_name.status, 409);
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).await.status, 204);
    assert_eq!(scim.delete(&format!("/Groups/{gid}")).await.status, 404);

    let nowhere = scim.get("/Nothing").await;
    assert_eq!(
        (nowhere.status, nowhere.body["status"].clone()),
        (404, json!("404"))
    );
    let wrong = scim.post("/ServiceProviderConfig", &json!({})).await;
    assert_eq!(wrong.status, 405);
}

const LISTENERS: [&str; 4] = [
    "name: on-join\non: [ { person.joined: { source: scim } } ]\nsteps:\n  - { id: s, uses: script, with: { code: '#{}' } }\n",
    "name: on-change\non: [ { person.changed: { source: scim } } ]\nsteps:\n  - { id: s, uses: script, with: { code: '#{}' } }\n",
    "name: on-leave\non: [ { person.left: { source: scim } } ]\nsteps:\n  - { id: s, uses: script, with: { code: '#{}' } }\n",
    "name: on-return\non: [ { person.returned: { source: scim } } ]\nsteps:\n  - { id: s, uses: script, with: { code: '#{}' } }\n",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_become_observations_of_the_scim_source() {
    let config = "triggers:\n  scim:\n    mapping:\n      org_unit: \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division\"\n      \
                  custom.role: \"urn:ietf:params:scim:schemas:gsuite:1.0:User.authnRole\"\n";
    let (env, scim) = endpoint(&LISTENERS, config).await;
    let store = env.engine.store();
    let playbooks = || async {
        env.runs()
            .await
            .into_iter()
            .map(|(p, _)| p)
            .collect::<Vec<_>>()
    };

    // Entra: a manager, then a report pointing at the manager's SCIM id.
    let boss = scim
        .post(
            "/Users",
            &entra_user(
                "megan@contoso.com",
                "megan",
                "Megan",
                "Bowen",
                "E1000",
                "Sales",
            ),
        )
        .await;
    let boss_id = boss.body["id"].as_str().unwrap().to_string();
    let mut adele = entra_user(
        "adele@contoso.onmicrosoft.com",
        "adele",
        "Adele",
        "Vance",
        "E2001",
        "Sales",
    );
    adele["emails"] =
        json!([{"primary": true, "type": "work", "value": "adele.vance@contoso.com"}]);
    adele[ENTERPRISE]["manager"] = json!({"value": boss_id});
    adele[ENTERPRISE]["division"] = json!("/Staff/Sales");
    let created = scim.post("/Users", &adele).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let person = store
        .subject("scim", "adele")
        .await
        .unwrap()
        .expect("observed under its externalId");
    assert_eq!(person["primary_email"], "adele.vance@contoso.com");
    assert_eq!(
        (person["given_name"].clone(), person["family_name"].clone()),
        (json!("Adele"), json!("Vance"))
    );
    assert_eq!(
        (person["employee_id"].clone(), person["department"].clone()),
        (json!("E2001"), json!("Sales"))
    );
    assert_eq!(person["manager_email"], "megan@contoso.com");
    assert_eq!(person["org_unit"], "/Staff/Sales");
    assert_eq!(person["status"], "active");
    assert_eq!(playbooks().await, ["on-join", "on-join"]);

    // Entra's default job: capitalised ops, many Replace ops with paths.
    let user = format!("/Users/{id}");
    let r = scim
        .patch(
            &user,
            &patch_op(json!([
                {"op": "Replace", "path": "title", "value": "Retail Manager"},
                {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Retail"},
            ])),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    let changed = env.events("person.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["source"], "scim");
    assert_eq!(
        changed[0]["changes"]["department"],
        json!({"from": "Sales", "to": "Retail"})
    );
    assert_eq!(
        changed[0]["changes"]["title"],
        json!({"from": null, "to": "Retail Manager"})
    );
    // An attribute no Person field maps: stored, and nothing fires.
    let r = scim
        .patch(&user, &patch_op(json!([{"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"}])))
        .await;
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"type": "work", "value": "+1 555 0100"}])
    );
    assert_eq!(env.events("person.changed").await.len(), 1);

    // Disabled (the string boolean of Entra's default job), enabled again, then deleted.
    let r = scim
        .patch(
            &user,
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(r.body["active"], false);
    assert_eq!(
        store.subject("scim", "adele").await.unwrap().unwrap()["status"],
        "suspended"
    );
    scim.patch(
        &user,
        &patch_op(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await;
    assert_eq!(scim.delete(&user).await.status, 204);
    assert_eq!(
        store.subject("scim", "adele").await.unwrap().unwrap()["status"],
        "terminated"
    );
    assert_eq!(
        playbooks().await,
        [
            "on-join",
            "on-join",
            "on-change",
            "on-leave",
            "on-return",
            "on-leave"
        ]
    );

    // Google: the 1.0 URN is ignored, its user id is the key, a custom schema lands in custom.
    let mut grace = google_user(
        "grace@contoso.com",
        "1048576",
        "Grace",
        "Hopper",
        "E3001",
        "Engineering",
    );
    grace["urn:ietf:params:scim:schemas:gsuite:1.0:User"] = json!({"authnRole": "staff"});
    let r = scim.post("/Users", &grace).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    assert_eq!(
        r.body["schemas"],
        json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            ENTERPRISE,
            "urn:ietf:params:scim:schemas:gsuite:1.0:User"
        ])
    );
    let gid = r.body["id"].as_str().unwrap().to_string();
    let p = store
        .subject("scim", "1048576")
        .await
        .unwrap()
        .expect("keyed by Google's id");
    assert_eq!(
        (p["primary_email"].clone(), p["custom"]["role"].clone()),
        (json!("grace@contoso.com"), json!("staff"))
    );
    // Renamed in Google: the same person (same key), a change of address.
    let mut renamed = grace.clone();
    renamed["userName"] = json!("grace.hopper@contoso.com");
    renamed["emails"] =
        json!([{"primary": true, "value": "grace.hopper@contoso.com", "type": "work"}]);
    assert_eq!(
        scim.put(&format!("/Users/{gid}"), &renamed).await.status,
        200
    );
    let changed = env.events("person.changed").await;
    assert_eq!(changed.last().unwrap()["subject"], "1048576");
    assert_eq!(
        changed.last().unwrap()["changes"]["primary_email"],
        json!({"from": "grace@contoso.com", "to": "grace.hopper@contoso.com"})
    );
    // Suspended by PUT, the other form Google may use.
    renamed["active"] = json!(false);
    assert_eq!(
        scim.put(&format!("/Users/{gid}"), &renamed).await.status,
        200
    );
    assert_eq!(
        playbooks().await.last().map(String::as_str),
        Some("on-leave")
    );

    // A user pushed already inactive is recorded, and fires nothing.
    let before = playbooks().await.len();
    let mut idle = google_user("idle@contoso.com", "777", "I", "Dle", "E4", "Sales");
    idle["active"] = json!(false);
    assert_eq!(scim.post("/Users", &idle).await.status, 201);
    assert_eq!(playbooks().await.len(), before);
    assert_eq!(
        store.subject("scim", "777").await.unwrap().unwrap()["status"],
        "suspended"
    );
}
