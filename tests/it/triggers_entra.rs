//! The Entra delta poller's scope and membership events against the sandbox's Graph: only the
//! members of the configured groups are observed, leaving the scope is `person.left`, joining
//! it is `person.joined`, and a membership change is a `person.changed` of `custom.groups`.

use serde_json::json;

use crate::support_entra_google::{E2g, MAPPING};
use crate::support_triggers::events;

async fn add(e: &E2g, group: &str, user: &str) {
    let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{user}", e.sb.url)});
    let r = e
        .graph(
            "POST",
            &format!("/v1.0/groups/{group}/members/$ref"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

async fn group(e: &E2g, name: &str, nickname: &str) -> String {
    let r = e
        .graph(
            "POST",
            "/v1.0/groups",
            Some(json!({"displayName": name, "mailEnabled": false,
                "mailNickname": nickname, "securityEnabled": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_of_the_scope_groups_are_observed_and_membership_changes_are_events() {
    let e = E2g::start(&[], MAPPING, "    groups: [Google Users]\n").await;
    let scope = group(&e, "Google Users", "googleusers").await;
    let finance = group(&e, "Finance", "finance").await;
    let base = e.poll().await;
    assert!(base.complete && base.events.is_empty(), "{base:?}");

    // A new user outside the scope is not observed; inside it, they join.
    let outside = e.entra_user("out.side@contoso.com", "Out", "Side").await;
    let inside = e.entra_user("in.side@contoso.com", "In", "Side").await;
    add(&e, &scope, &inside).await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.joined"], "{r:?}");
    let joined = events(&e.engine, "person.joined").await;
    assert_eq!(joined[0]["subject"], inside.as_str(), "{joined:#?}");
    let seen = e
        .engine
        .store()
        .subject("entra", &inside)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen["custom"]["groups"], json!(["Google Users"]));

    // A membership change is a person.changed of custom.groups.
    add(&e, &finance, &inside).await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.changed"], "{r:?}");
    let changed = events(&e.engine, "person.changed").await;
    assert_eq!(
        changed[0]["changes"]["custom.groups"]["to"],
        json!(["Finance", "Google Users"]),
        "{changed:#?}"
    );

    // Someone added to the scope group later joins (fetched, as their user object did not
    // change); someone removed from it leaves.
    add(&e, &scope, &outside).await;
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.joined"], "{r:?}");
    let r = e
        .graph(
            "DELETE",
            &format!("/v1.0/groups/{scope}/members/{inside}/$ref"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = e.poll().await;
    assert_eq!(r.events, vec!["person.left"], "{r:?}");
    let left = events(&e.engine, "person.left").await;
    assert_eq!(left[0]["subject"], inside.as_str());
    let seen = e
        .engine
        .store()
        .subject("entra", &inside)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen["status"], "terminated");

    // Nothing changed: nothing fires, one cheap round each.
    let r = e.poll().await;
    assert!(r.events.is_empty() && r.complete, "{r:?}");

    // Deleted while Graph forgot the tokens: the full round that follows does not list them,
    // so they leave; nobody else fires.
    let r = e
        .graph("DELETE", &format!("/v1.0/users/{outside}"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    e.sb.sandbox.expire_delta_tokens();
    let r = e.poll().await;
    assert!(r.resynced && r.complete, "{r:?}");
    assert_eq!(r.events, vec!["person.left"], "{r:?}");
    let seen = e
        .engine
        .store()
        .subject("entra", &outside)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen["status"], "terminated");
}
