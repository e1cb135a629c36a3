//! Entra ID as the source, Google as the target, end to end: the Entra delta poller against
//! the sandbox's Graph over real HTTP, the shipped `provision-google-from-entra` and
//! `mirror-groups-to-google` playbooks run by a worker, and the sandbox's Google directory
//! asserted afterwards.

use serde_json::{json, Value};

use crate::support_entra_google::{E2g, MAPPING};
use crate::support_lifecycle::shipped;

fn provision() -> Vec<String> {
    vec![shipped("provision-google-from-entra")]
}

/// The one run of the last poll, settled: (id, status).
async fn last_run(e: &E2g) -> (String, String) {
    let runs = e.settle().await;
    let (id, _, status) = runs.last().cloned().expect("a run");
    (id, status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entra_user_is_created_renamed_suspended_and_restored_in_google() {
    let e = E2g::start(&provision(), MAPPING, "").await;
    let first = e.poll().await;
    assert!(
        first.complete && first.events.is_empty(),
        "baseline: {first:?}"
    );

    // Joined: created under the mapped address, carrying the Entra object id.
    let id = e
        .entra_user("megan.bowen@contoso.onmicrosoft.com", "Megan", "Bowen")
        .await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.joined"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "succeeded", "{:#?}", e.steps(&run).await);
    let users = e.google_users_of(&id);
    assert_eq!(users.len(), 1, "{users:#?}");
    assert_eq!(users[0]["primaryEmail"], "megan.bowen@contoso.com");
    assert_eq!(users[0]["name"]["givenName"], "Megan");

    // A UPN change follows: the same account, renamed.
    e.patch_user(
        &id,
        json!({"userPrincipalName": "megan.b@contoso.onmicrosoft.com"}),
    )
    .await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.changed"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "succeeded", "{:#?}", e.steps(&run).await);
    let users = e.google_users_of(&id);
    assert_eq!(users.len(), 1, "never a second account: {users:#?}");
    assert_eq!(users[0]["primaryEmail"], "megan.b@contoso.com");

    // Disabled in Entra → suspended in Google.
    e.patch_user(&id, json!({"accountEnabled": false})).await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.left"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "succeeded", "{:#?}", e.steps(&run).await);
    assert_eq!(e.google_users_of(&id)[0]["suspended"], true);

    // Enabled again → unsuspended.
    e.patch_user(&id, json!({"accountEnabled": true})).await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.returned"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "succeeded", "{:#?}", e.steps(&run).await);
    assert_eq!(e.google_users_of(&id)[0]["suspended"], false);
    assert_eq!(e.google_users_of(&id).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_is_skipped_with_its_reason() {
    let e = E2g::start(&provision(), MAPPING, "").await;
    e.poll().await;
    let mut body = crate::sandbox_support::new_user("ann_partner.com#EXT#@contoso.onmicrosoft.com");
    body["userType"] = json!("Guest");
    body["mail"] = json!("ann@partner.com");
    body["givenName"] = json!("Ann");
    body["surname"] = json!("Partner");
    let created = e.graph("POST", "/v1.0/users", Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.joined"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "succeeded");
    let steps = e.steps(&run).await;
    let address = &steps["address"]["outputs"];
    assert_eq!(address["outcome"], "skip", "{steps:#?}");
    assert!(
        address["reason"]
            .as_str()
            .is_some_and(|r| r.contains("guest")),
        "{address}"
    );
    assert_eq!(steps["account"]["status"], "skipped", "{steps:#?}");
    assert!(e.google_users_of(&id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onmicrosoft_upn_without_a_domain_mapping_lands_in_review_with_the_reason() {
    let unmapped = "identity:\n  google:\n    users_by: upn\n";
    let e = E2g::start(&provision(), unmapped, "").await;
    e.poll().await;
    let id = e
        .entra_user("lee.gu@contoso.onmicrosoft.com", "Lee", "Gu")
        .await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.joined"], "{r:?}");
    let (run, status) = last_run(&e).await;
    assert_eq!(status, "review", "{:#?}", e.steps(&run).await);
    let steps = e.steps(&run).await;
    let reason = steps["address"]["outputs"]["errors"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("contoso.onmicrosoft.com") && reason.contains("cannot verify"),
        "{reason}"
    );
    assert!(e.google_users_of(&id).is_empty(), "nothing provisioned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_entra_groups_with_one_display_name_are_one_conflict_and_nothing_is_overwritten() {
    let e = E2g::start(&[shipped("mirror-groups-to-google")], MAPPING, "").await;
    let mut ids = Vec::new();
    for nickname in ["finance1", "finance2"] {
        let r = e
            .graph(
                "POST",
                "/v1.0/groups",
                Some(json!({"displayName": "Finance Team", "mailEnabled": false,
                    "mailNickname": nickname, "securityEnabled": true})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap_or_default().to_string());
    }
    let sales = e
        .graph(
            "POST",
            "/v1.0/groups",
            Some(json!({"displayName": "Sales EMEA", "mailEnabled": false,
                "mailNickname": "salesemea", "securityEnabled": true})),
        )
        .await;
    let sales_id = sales.body["id"].as_str().unwrap_or_default().to_string();
    let megan = e
        .entra_user("megan.bowen@contoso.onmicrosoft.com", "Megan", "Bowen")
        .await;
    for g in [&ids[0], &sales_id] {
        let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{megan}", e.sb.url)});
        let r = e
            .graph(
                "POST",
                &format!("/v1.0/groups/{g}/members/$ref"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    // Megan needs a Google account to be a member there.
    let t = e.sb.google_token().await;
    let u = json!({"primaryEmail": "megan.bowen@contoso.com", "password": "sandbox-pass-123",
        "name": {"givenName": "Megan", "familyName": "Bowen"}});
    let r = e.sb.send("POST", "/admin/directory/v1/users", &t, &u).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let scoped = shipped("mirror-groups-to-google").replace(
        "groups: \"[]\"",
        &format!("groups: '[\"{}\", \"{}\", \"{sales_id}\"]'", ids[0], ids[1]),
    );
    // The group ids are known only now: register a copy of the playbook scoped to them.
    let e2 = e;
    let pb = roster::playbook::load_text("mirror.yaml", &scoped, e2.engine.scripting())
        .unwrap_or_else(|d| panic!("{d}"));
    let pb = e2.engine.register(pb).await.expect("register");
    let run = e2
        .engine
        .start(&pb, json!({"id": "manual"}), None)
        .await
        .expect("start")
        .expect("a run");
    let runs = e2.settle().await;
    let status = runs
        .iter()
        .find(|(id, _, _)| id == &run)
        .map(|(_, _, s)| s.clone())
        .unwrap_or_default();
    let steps = e2.steps(&run).await;
    assert_eq!(status, "succeeded", "{steps:#?}");
    let conflicts = steps["map"]["outputs"]["conflicts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conflicts.len(), 1, "{steps:#?}");
    assert_eq!(conflicts[0]["address"], "finance-team@groups.contoso.com");
    let contested: Vec<&str> = conflicts[0]["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(contested.contains(&ids[0].as_str()) && contested.contains(&ids[1].as_str()));
    assert!(
        e2.google_group("finance-team@groups.contoso.com").is_none(),
        "neither group is mirrored onto the contested address"
    );
    let sales = e2
        .google_group("sales-emea@groups.contoso.com")
        .expect("Sales EMEA mirrored");
    let members: Vec<Value> = sales["members"].as_array().cloned().unwrap_or_default();
    assert!(
        members
            .iter()
            .any(|m| m["email"] == "megan.bowen@contoso.com"),
        "{sales:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_sync_resumes_from_the_stored_link_without_reprocessing() {
    // Two users a page, at most two pages a poll: a poll stops mid-round.
    let e = E2g::start(
        &provision(),
        MAPPING,
        "    page_size: 2\n    max_pages: 2\n",
    )
    .await;
    // The baseline, over as many polls as it takes.
    let mut polls = 0;
    loop {
        polls += 1;
        let r = e.poll().await;
        assert!(r.events.is_empty(), "the baseline fires nothing: {r:?}");
        if r.complete {
            break;
        }
        assert!(polls < 50, "the baseline never completed");
    }
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(
            e.entra_user(
                &format!("new.hire{n}@contoso.onmicrosoft.com"),
                "New",
                &format!("Hire{n}"),
            )
            .await,
        );
    }
    let before = delta_requests(&e);
    // One groups page, one users page, then the process "stops".
    let a = e.poller().poll_once().await.expect("poll");
    assert!(!a.complete, "{a:?}");
    assert_eq!(a.events, vec!["person.joined"; 2], "{a:?}");
    drop(a);
    // A new poller (a restarted process) resumes at the stored next link.
    let mut joined = 2;
    loop {
        let r = e.poller().poll_once().await.expect("poll");
        joined += r.events.iter().filter(|k| *k == "person.joined").count();
        assert!(r.events.iter().all(|k| k == "person.joined"), "{r:?}");
        if r.complete {
            break;
        }
    }
    assert_eq!(joined, 5, "each new user joined exactly once");
    let users_pages = delta_requests(&e) - before;
    // Five users at two a page: three pages, each read once.
    assert_eq!(users_pages, 3, "no page was read twice");
    e.settle().await;
    for id in &ids {
        assert_eq!(e.google_users_of(id).len(), 1, "{id}");
    }
    let runs = e.runs().await;
    assert_eq!(runs.len(), 5, "{runs:?}");

    // Graph forgets the tokens: a full round, which finds nothing new.
    e.sb.sandbox.expire_delta_tokens();
    let mut resynced = false;
    loop {
        let r = e.poll().await;
        resynced |= r.resynced;
        assert!(
            r.events.is_empty(),
            "a resync re-observes, it does not re-fire: {r:?}"
        );
        if r.complete {
            break;
        }
    }
    assert!(resynced);
    assert_eq!(e.runs().await.len(), 5);
}

/// `GET /v1.0/users/delta` requests answered 200 so far.
fn delta_requests(e: &E2g) -> u64 {
    e.sb.sandbox.state()["requests"]["GET /v1.0/users/delta"]["200"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_in_entra_is_suspended_then_deleted_after_the_delay() {
    let short = shipped("provision-google-from-entra").replace("duration: 30d", "duration: 1s");
    let e = E2g::start(&[short], MAPPING, "").await;
    e.poll().await;
    let id = e
        .entra_user("joni.sherman@contoso.onmicrosoft.com", "Joni", "Sherman")
        .await;
    e.poll().await;
    e.settle().await;
    assert_eq!(e.google_users_of(&id).len(), 1);
    let r = e.graph("DELETE", &format!("/v1.0/users/{id}"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.left"], "{r:?}");
    let (run, status) = last_run(&e).await;
    let steps = e.steps(&run).await;
    assert_eq!(status, "succeeded", "{steps:#?}");
    assert_eq!(steps["suspend"]["status"], "succeeded", "{steps:#?}");
    assert_eq!(steps["delete"]["outputs"]["deleted"], true, "{steps:#?}");
    assert!(e.google_users_of(&id).is_empty(), "deleted after the delay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_mirror_stops_for_approval_before_a_mass_removal() {
    let e = E2g::start(&[], MAPPING, "").await;
    let r = e
        .graph(
            "POST",
            "/v1.0/groups",
            Some(json!({"displayName": "Platform", "mailEnabled": false,
                "mailNickname": "platformx", "securityEnabled": true})),
        )
        .await;
    let gid = r.body["id"].as_str().unwrap_or_default().to_string();
    // The Google group already has three members the Entra group does not have.
    let t = e.sb.google_token().await;
    let dir = "/admin/directory/v1";
    let made =
        e.sb.send(
            "POST",
            &format!("{dir}/groups"),
            &t,
            &json!({"email": "platform@groups.contoso.com"}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    for m in [
        "ada.lovelace@contoso.com",
        "grace.hopper@contoso.com",
        "alan.turing@contoso.com",
    ] {
        let r =
            e.sb.send(
                "POST",
                &format!("{dir}/groups/platform@groups.contoso.com/members"),
                &t,
                &json!({"email": m}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let scoped = shipped("mirror-groups-to-google")
        .replace("groups: \"[]\"", &format!("groups: '[\"{gid}\"]'"));
    let pb = roster::playbook::load_text("mirror.yaml", &scoped, e.engine.scripting())
        .unwrap_or_else(|d| panic!("{d}"));
    let pb = e.engine.register(pb).await.expect("register");
    let run = e
        .engine
        .start(&pb, json!({"id": "manual"}), None)
        .await
        .expect("start")
        .expect("a run");
    e.settle().await;
    let status = e
        .runs()
        .await
        .into_iter()
        .find(|(id, _, _)| id == &run)
        .map(|(_, _, s)| s)
        .unwrap_or_default();
    let steps = e.steps(&run).await;
    assert_eq!(status, "approval", "{steps:#?}");
    assert_eq!(steps["diff"]["outputs"]["worst_share"], 1.0);
    let group = e
        .google_group("platform@groups.contoso.com")
        .expect("group");
    assert_eq!(
        group["members"].as_array().map(Vec::len),
        Some(3),
        "nothing is removed before the approval"
    );
}
