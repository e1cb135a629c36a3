//! Google Directory behaviours of CONTRACT §8: insert, duplicates, keys, patch merge, suspend,
//! search and paging, deletion, nested group membership, and push notifications.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::sandbox_support::*;
use crate::support::eventually;

const USERS: &str = "/admin/directory/v1/users";

fn emails(r: &Resp) -> Vec<String> {
    r.body["users"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["primaryEmail"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn new_google_user(email: &str) -> Value {
    json!({"primaryEmail": email, "name": {"givenName": "Liz", "familyName": "Smith"}, "password": "correct horse battery", "orgUnitPath": "/Sales",
           "externalIds": [{"type": "organization", "value": "E3001"}]})
}

#[tokio::test]
async fn insert_then_get_by_alias_and_a_duplicate_is_409() {
    let env = start().await;
    let t = env.google_token().await;
    let r = env
        .send("POST", USERS, &t, &new_google_user("liz@contoso.com"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], "admin#directory#user");
    assert_eq!(r.body["name"]["fullName"], "Liz Smith");
    assert!(r.body.get("password").is_none());
    let id = r.body["id"].as_str().unwrap_or_default().to_string();
    assert!(id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty());

    let dup = env
        .send("POST", USERS, &t, &new_google_user("LIZ@contoso.com"))
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(
        dup.body,
        json!({"error": {"code": 409, "message": "Entity already exists.", "errors": [{"message": "Entity already exists.", "domain": "global", "reason": "duplicate"}]}})
    );

    let alias = env
        .send(
            "POST",
            &format!("{USERS}/{id}/aliases"),
            &t,
            &json!({"alias": "elizabeth@contoso.com"}),
        )
        .await;
    assert_eq!(alias.status, 200, "{}", alias.text);
    let by_alias = env.get(&format!("{USERS}/Elizabeth@contoso.com"), &t).await;
    assert_eq!(
        (by_alias.status, by_alias.body["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(by_alias.body["aliases"], json!(["elizabeth@contoso.com"]));

    let missing = env.get(&format!("{USERS}/nobody@contoso.com"), &t).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["error"]["message"],
        "Resource Not Found: userKey"
    );
    assert_eq!(missing.body["error"]["errors"][0]["reason"], "notFound");
    let group = env
        .get(&format!("{USERS}/engineering@contoso.com"), &t)
        .await;
    assert_eq!(
        group.body,
        spec_example("google/error.400.badRequest.json"),
        "a group's address is not a userKey"
    );
}

#[tokio::test]
async fn patch_merges_fields_replaces_arrays_and_merges_custom_schemas() {
    let env = start().await;
    let t = env.google_token().await;
    let before = env
        .get(
            &format!("{USERS}/ada.lovelace@contoso.com?projection=full"),
            &t,
        )
        .await;
    assert_eq!(
        before.body["customSchemas"]["employmentData"]["jobLevel"],
        7
    );
    let patch = json!({
        "name": {"givenName": "Augusta"},
        "externalIds": [{"type": "organization", "value": "E2001"}, {"type": "custom", "customType": "badge", "value": "B7"}],
        "customSchemas": {"employmentData": {"jobLevel": 8, "employeeNumber": null}, "Provisioning": {"entraUpn": "ada@contoso.onmicrosoft.com"}},
        "isAdmin": true,
    });
    let r = env
        .send(
            "PATCH",
            &format!("{USERS}/ada.lovelace@contoso.com"),
            &t,
            &patch,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Augusta", "familyName": "Lovelace", "fullName": "Augusta Lovelace"})
    );
    assert_eq!(
        r.body["externalIds"].as_array().map(Vec::len),
        Some(2),
        "arrays are replaced whole"
    );
    assert_eq!(
        r.body["customSchemas"],
        json!({"employmentData": {"jobLevel": 8}, "Provisioning": {"entraUpn": "ada@contoso.onmicrosoft.com"}})
    );
    assert_eq!(r.body["isAdmin"], false, "read-only fields are ignored");
    assert_eq!(
        r.body["organizations"][0]["department"], "Engineering",
        "fields not sent stay"
    );
    assert_ne!(r.body["etag"], before.body["etag"]);
    let basic = env
        .get(&format!("{USERS}/ada.lovelace@contoso.com"), &t)
        .await;
    assert!(
        basic.body.get("customSchemas").is_none(),
        "basic projection omits custom schemas"
    );
    let masked = env
        .get(
            &format!(
                "{USERS}/ada.lovelace@contoso.com?projection=custom&customFieldMask=Provisioning"
            ),
            &t,
        )
        .await;
    assert_eq!(
        masked.body["customSchemas"],
        json!({"Provisioning": {"entraUpn": "ada@contoso.onmicrosoft.com"}})
    );
    let put = env
        .send(
            "PUT",
            &format!("{USERS}/ada.lovelace@contoso.com"),
            &t,
            &spec_example("google/users.update.relations.request.json"),
        )
        .await;
    assert_eq!(
        put.body["relations"][1]["type"], "dotted_line_manager",
        "{}",
        put.text
    );
    let unknown = env
        .send(
            "PATCH",
            &format!("{USERS}/ada.lovelace@contoso.com"),
            &t,
            &json!({"shoeSize": 9}),
        )
        .await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn suspending_shows_in_search_and_queries_filter_and_page() {
    let env = start().await;
    let t = env.google_token().await;
    let q = |query: &str| {
        format!(
            "{USERS}?customer=my_customer&query={}",
            query
                .replace(' ', "%20")
                .replace('=', "%3D")
                .replace('\'', "%27")
        )
    };
    assert_eq!(
        emails(&env.get(&q("isSuspended=true"), &t).await),
        vec!["alan.turing@contoso.com"]
    );
    let r = env
        .send(
            "PATCH",
            &format!("{USERS}/katherine.johnson@contoso.com"),
            &t,
            &json!({"suspended": true}),
        )
        .await;
    assert_eq!(
        (
            r.body["suspended"].as_bool(),
            r.body["suspensionReason"].as_str()
        ),
        (Some(true), Some("ADMIN"))
    );
    assert_eq!(
        emails(&env.get(&q("isSuspended=true"), &t).await),
        vec!["alan.turing@contoso.com", "katherine.johnson@contoso.com"]
    );
    assert_eq!(
        emails(&env.get(&q("orgUnitPath=/Engineering"), &t).await),
        vec!["ada.lovelace@contoso.com", "grace.hopper@contoso.com"]
    );
    assert_eq!(
        emails(&env.get(&q("externalId=E2003"), &t).await),
        vec!["alan.turing@contoso.com"]
    );
    assert_eq!(
        emails(&env.get(&q("email:ada*"), &t).await),
        vec!["ada.lovelace@contoso.com"]
    );
    assert_eq!(
        emails(
            &env.get(&q("orgDepartment='Engineering' orgTitle:admiral"), &t)
                .await
        ),
        vec!["grace.hopper@contoso.com"]
    );
    assert_eq!(
        emails(&env.get(&q("employmentData.jobLevel>=7"), &t).await),
        vec!["ada.lovelace@contoso.com"]
    );
    assert_eq!(env.get(&q("bogus=1"), &t).await.status, 400);

    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = token
            .as_ref()
            .map(|p| format!("&pageToken={p}"))
            .unwrap_or_default();
        let r = env
            .get(
                &format!("{USERS}?domain=contoso.com&maxResults=2{page}"),
                &t,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        all.extend(emails(&r));
        match r.body["nextPageToken"].as_str() {
            Some(n) => token = Some(n.to_string()),
            None => break,
        }
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(
        (all.len(), all == sorted),
        (5, true),
        "every user once, by e-mail: {all:?}"
    );
    assert_eq!(
        env.get(&format!("{USERS}?customer=my_customer&maxResults=501"), &t)
            .await
            .status,
        400
    );
    assert_eq!(
        env.get(USERS, &t).await.status,
        400,
        "customer or domain is required"
    );
    let by_name = env
        .get(
            &format!("{USERS}?customer=my_customer&orderBy=familyName&sortOrder=DESCENDING"),
            &t,
        )
        .await;
    assert_eq!(
        emails(&by_name).first().map(String::as_str),
        Some("alan.turing@contoso.com")
    );
}

#[tokio::test]
async fn deleted_users_list_with_show_deleted_and_undelete_by_id() {
    let env = start().await;
    let t = env.google_token().await;
    assert_eq!(
        env.call(
            "DELETE",
            &format!("{USERS}/grace.hopper@contoso.com"),
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("{USERS}/grace.hopper@contoso.com"), &t)
            .await
            .status,
        404
    );
    let deleted = env
        .get(
            &format!("{USERS}?customer=my_customer&showDeleted=true"),
            &t,
        )
        .await;
    assert_eq!(emails(&deleted), vec!["grace.hopper@contoso.com"]);
    assert_eq!(
        env.call(
            "POST",
            &format!("{USERS}/grace.hopper@contoso.com/undelete"),
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        404,
        "only the id works"
    );
    assert_eq!(
        env.send(
            "POST",
            &format!("{USERS}/100000000000000000103/undelete"),
            &t,
            &json!({"orgUnitPath": "/"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("{USERS}/grace.hopper@contoso.com"), &t)
            .await
            .body["orgUnitPath"],
        "/"
    );
}

#[tokio::test]
async fn nested_groups_expand_in_derived_membership_and_has_member() {
    let env = start().await;
    let t = env.google_token().await;
    let members = |r: &Resp| -> Vec<String> {
        r.body["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["email"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let direct = env
        .get(
            "/admin/directory/v1/groups/all-staff@contoso.com/members",
            &t,
        )
        .await;
    assert_eq!(direct.status, 200, "{}", direct.text);
    assert!(
        members(&direct).contains(&"engineering@contoso.com".to_string())
            && !members(&direct).contains(&"grace.hopper@contoso.com".to_string())
    );
    assert_eq!(direct.body["members"][1]["type"], "GROUP");
    let derived = env.get("/admin/directory/v1/groups/all-staff@contoso.com/members?includeDerivedMembership=true", &t).await;
    assert!(
        members(&derived).contains(&"grace.hopper@contoso.com".to_string()),
        "two levels down: {}",
        derived.text
    );
    let owners = env
        .get(
            "/admin/directory/v1/groups/all-staff@contoso.com/members?roles=OWNER",
            &t,
        )
        .await;
    assert_eq!(members(&owners), vec!["admin@contoso.com"]);
    let has = env
        .get(
            "/admin/directory/v1/groups/all-staff@contoso.com/hasMember/grace.hopper@contoso.com",
            &t,
        )
        .await;
    assert_eq!(has.body, json!({"isMember": true}));
    let paged = env
        .get(
            "/admin/directory/v1/groups/all-staff@contoso.com/members?maxResults=1",
            &t,
        )
        .await;
    assert!(paged.body["nextPageToken"].is_string());

    let add = env
        .send(
            "POST",
            "/admin/directory/v1/groups/platform@contoso.com/members",
            &t,
            &json!({"email": "katherine.johnson@contoso.com", "role": "MEMBER"}),
        )
        .await;
    assert_eq!(
        (add.status, add.body["kind"].as_str()),
        (200, Some("admin#directory#member")),
        "{}",
        add.text
    );
    let dup = env
        .send(
            "POST",
            "/admin/directory/v1/groups/platform@contoso.com/members",
            &t,
            &json!({"email": "katherine.johnson@contoso.com"}),
        )
        .await;
    assert_eq!(dup.status, 409);
    let cycle = env
        .send(
            "POST",
            "/admin/directory/v1/groups/platform@contoso.com/members",
            &t,
            &json!({"email": "all-staff@contoso.com"}),
        )
        .await;
    assert_eq!(cycle.status, 400, "{}", cycle.text);
    assert_eq!(
        env.call(
            "DELETE",
            "/admin/directory/v1/groups/platform@contoso.com/members/katherine.johnson@contoso.com",
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.call(
            "DELETE",
            "/admin/directory/v1/groups/platform@contoso.com/members/katherine.johnson@contoso.com",
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        404
    );
    let groups = env
        .get(
            "/admin/directory/v1/groups?userKey=grace.hopper@contoso.com",
            &t,
        )
        .await;
    assert_eq!(groups.body["groups"][0]["email"], "platform@contoso.com");
}

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A loopback webhook receiver that records what it is sent.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((headers, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn watch_sends_sync_then_change_notifications_until_stopped() {
    let env = start().await;
    let t = env.google_token().await;
    let (address, got) = receiver().await;
    let body = json!({"id": "chan-1", "type": "web_hook", "address": address, "token": "verifier-1", "params": {"ttl": "3600"}});
    let r = env
        .send(
            "POST",
            &format!("{USERS}/watch?customer=my_customer&event=update"),
            &t,
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], "api#channel");
    let resource_id = r.body["resourceId"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    env.send(
        "PATCH",
        &format!("{USERS}/ada@contoso.com"),
        &t,
        &json!({"suspended": true}),
    )
    .await;
    let messages = eventually(
        Duration::from_secs(3),
        "sync and update notifications",
        || async {
            let g = got.lock().unwrap_or_else(|e| e.into_inner()).clone();
            (g.len() >= 2).then_some(g)
        },
    )
    .await;
    let h = |i: usize, name: &str| {
        messages[i]
            .0
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        (
            h(0, "x-goog-resource-state"),
            h(0, "x-goog-message-number"),
            messages[0].1.as_str()
        ),
        ("sync".into(), "1".into(), "")
    );
    assert_eq!(
        (
            h(1, "x-goog-resource-state"),
            h(1, "x-goog-channel-token"),
            h(1, "x-goog-channel-id")
        ),
        ("update".into(), "verifier-1".into(), "chan-1".into())
    );
    assert!(h(1, "x-goog-message-number").parse::<u64>().unwrap_or(0) > 1);
    let event: Value = serde_json::from_str(&messages[1].1).unwrap_or_default();
    assert_shape(
        "push notification",
        &spec_example("google/push-notification.user-delete.body.json"),
        &event,
        &[],
    );
    assert_eq!(event["primaryEmail"], "ada.lovelace@contoso.com");

    let stop = env
        .send(
            "POST",
            "/admin/directory_v1/channels/stop",
            &t,
            &json!({"id": "chan-1", "resourceId": resource_id}),
        )
        .await;
    assert_eq!(stop.status, 204, "{}", stop.text);
    env.send(
        "PATCH",
        &format!("{USERS}/ada@contoso.com"),
        &t,
        &json!({"suspended": false}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        got.lock().unwrap_or_else(|e| e.into_inner()).len(),
        2,
        "nothing after stop"
    );
}
