//! Graph change tracking (`/users/delta`, `/groups/delta`: opaque tokens, pages, `@removed`,
//! `members@delta`, `syncStateNotFound`) and Google `groups.insert`, as the Entra → Google
//! direction uses them.

use serde_json::{json, Value};

use crate::sandbox_support::*;

/// Follows a round from `first` to its delta link: every item, the pages seen, the link.
async fn round(env: &Env, token: &str, first: &str, page: usize) -> (Vec<Value>, usize, String) {
    let prefer = format!("odata.maxpagesize={page}");
    let mut url = first.to_string();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let r = env
            .call("GET", &url, Some(token), &[("Prefer", &prefer)], None)
            .await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        pages += 1;
        items.extend(r.body["value"].as_array().cloned().unwrap_or_default());
        let next = r.body["@odata.nextLink"].as_str().map(String::from);
        let delta = r.body["@odata.deltaLink"].as_str().map(String::from);
        assert!(
            next.is_some() != delta.is_some(),
            "a page has exactly one of nextLink and deltaLink: {}",
            r.text
        );
        match (next, delta) {
            (Some(n), _) => url = n,
            (_, Some(d)) => return (items, pages, d),
            _ => unreachable!(),
        }
    }
}

fn by_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["id"] == id)
}

#[tokio::test]
async fn user_delta_pages_then_reports_only_what_changed_since_the_token() {
    let env = start().await;
    let t = env.graph_token().await;
    let select = "/v1.0/users/delta?$select=id,userPrincipalName,accountEnabled,mail";
    let (all, pages, link) = round(&env, &t, select, 2).await;
    let seeded = env.get("/v1.0/users?$top=999", &t).await.body["value"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(all.len(), seeded, "the first round lists every user");
    assert!(pages > 1, "small pages: {pages}");
    assert!(link.contains("$deltatoken="), "{link}");
    assert!(all
        .iter()
        .all(|u| u.get("accountEnabled").is_some() && u.get("displayName").is_none()));

    // Nothing changed: an empty round with a new link.
    let (none, _, link) = round(&env, &t, &link, 2).await;
    assert!(none.is_empty(), "{none:?}");

    let created = env
        .send(
            "POST",
            "/v1.0/users",
            &t,
            &new_user("delta.new@contoso.com"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let new_id = created.body["id"].as_str().unwrap_or_default().to_string();
    let patch = env
        .send(
            "PATCH",
            &format!("/v1.0/users/{ADELE}"),
            &t,
            &json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(patch.status, 204, "{}", patch.text);
    let del = env
        .call("DELETE", &format!("/v1.0/users/{LEE}"), Some(&t), &[], None)
        .await;
    assert_eq!(del.status, 204, "{}", del.text);

    let (changed, _, _) = round(&env, &t, &link, 100).await;
    assert_eq!(changed.len(), 3, "{changed:?}");
    let new = by_id(&changed, &new_id).unwrap();
    assert_eq!(new["userPrincipalName"], "delta.new@contoso.com");
    assert_eq!(by_id(&changed, ADELE).unwrap()["accountEnabled"], false);
    assert_eq!(
        by_id(&changed, LEE).unwrap()["@removed"],
        json!({"reason": "changed"}),
        "a soft-deleted user can come back"
    );
}

#[tokio::test]
async fn group_delta_reports_member_additions_and_removals() {
    let env = start().await;
    let t = env.graph_token().await;
    let (all, _, link) = round(
        &env,
        &t,
        "/v1.0/groups/delta?$select=displayName,securityEnabled,mail,members",
        100,
    )
    .await;
    let eng = by_id(&all, DEPT_ENGINEERING).unwrap();
    assert!(eng["members@delta"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));
    assert!(eng.get("securityEnabled").is_some());
    let first = eng["members@delta"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let add = env
        .send(
            "POST",
            &format!("/v1.0/groups/{DEPT_ENGINEERING}/members/$ref"),
            &t,
            &json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{LEE}")}),
        )
        .await;
    assert!(add.status == 204 || add.status == 400, "{}", add.text);
    let remove = env
        .call(
            "DELETE",
            &format!("/v1.0/groups/{DEPT_ENGINEERING}/members/{first}/$ref"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(remove.status, 204, "{}", remove.text);
    let (changed, _, _) = round(&env, &t, &link, 100).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    let delta = changed[0]["members@delta"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let removed: Vec<&Value> = delta
        .iter()
        .filter(|m| m.get("@removed").is_some())
        .collect();
    assert_eq!(removed.len(), 1, "{delta:?}");
    assert_eq!(removed[0]["id"], first.as_str());
    assert_eq!(removed[0]["@removed"]["reason"], "deleted");
    if add.status == 204 {
        assert!(delta.iter().any(|m| m["id"] == LEE
            && m["@odata.type"] == "#microsoft.graph.user"
            && m.get("@removed").is_none()));
    }
}

#[tokio::test]
async fn an_expired_or_unknown_delta_token_answers_sync_state_not_found() {
    let env = start().await;
    let t = env.graph_token().await;
    let (_, _, link) = round(&env, &t, "/v1.0/users/delta", 100).await;
    env.sandbox.expire_delta_tokens();
    for url in [link.as_str(), "/v1.0/users/delta?$deltatoken=never-issued"] {
        let r = env.get(url, &t).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "syncStateNotFound", "{}", r.text);
        assert!(r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("synchronized again")));
    }
    // A group token is not a user token.
    let (_, _, groups) = round(&env, &t, "/v1.0/groups/delta", 100).await;
    let token = groups.split("$deltatoken=").nth(1).unwrap_or_default();
    let r = env
        .get(&format!("/v1.0/users/delta?$deltatoken={token}"), &t)
        .await;
    assert_eq!(r.body["error"]["code"], "syncStateNotFound");
}

#[tokio::test]
async fn google_groups_insert_creates_once_and_refuses_a_taken_or_foreign_address() {
    let env = start().await;
    let t = env.google_token().await;
    let path = "/admin/directory/v1/groups";
    let r = env
        .send(
            "POST",
            path,
            &t,
            &json!({"email": "Finance-Team@contoso.com", "name": "Finance Team", "description": "from Entra"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["kind"], "admin#directory#group");
    assert_eq!(r.body["email"], "finance-team@contoso.com");
    assert_eq!(r.body["name"], "Finance Team");
    assert_eq!(r.body["directMembersCount"], "0");
    let got = env
        .get(&format!("{path}/finance-team@contoso.com"), &t)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["id"], r.body["id"]);

    let again = env
        .send(
            "POST",
            path,
            &t,
            &json!({"email": "finance-team@contoso.com"}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["error"]["errors"][0]["reason"], "duplicate");
    let foreign = env
        .send("POST", path, &t, &json!({"email": "x@elsewhere.example"}))
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
    let missing = env.send("POST", path, &t, &json!({"name": "x"})).await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert_eq!(missing.body["error"]["errors"][0]["reason"], "required");
}
