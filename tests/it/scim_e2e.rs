//! End to end: `roster serve` receives request sequences shaped exactly like Google
//! Workspace's and Entra's SCIM clients (probe, create, update, suspend, delete) at `/scim/v2`,
//! and the shipped playbooks they fire (`onboard-from-google`, `mover`, `offboard`, which listen
//! to the `scim` source) act on the sandbox's Entra ID.

use std::time::Duration;

use serde_json::json;

use crate::support::{eventually, Workspace};
use crate::support_sandbox::{
    group_members, licenses, sku_id, start, user_by_upn, users, write_config, Credential,
};
use crate::support_scim::{entra_user, google_user, patch_op, ScimClient};
use crate::support_serve::{create_token, write_playbook, Serve};

/// Waits until `expected` runs exist and each has finished or waits for more than a day (the
/// offboarding's grace period); returns (playbook, status, person) of each, oldest first.
async fn settled(serve: &Serve, expected: usize) -> Vec<(String, String, String)> {
    let day_from_now = chrono::Utc::now() + chrono::Duration::days(1);
    eventually(Duration::from_secs(60), "the runs to settle", || async {
        let (code, page) = serve.get("/api/v1/runs?limit=500").await;
        assert_eq!(code, 200, "{page:#}");
        let runs: Vec<(String, String, String)> = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                let parked = r["wake_at"]
                    .as_str()
                    .and_then(|w| chrono::DateTime::parse_from_rfc3339(w).ok())
                    .is_some_and(|w| w > day_from_now);
                let status = match s("status").as_str() {
                    "waiting" if parked => "parked".to_string(),
                    other => other.to_string(),
                };
                (s("playbook"), status, s("person_id"))
            })
            .collect();
        let done = runs.len() == expected
            && runs
                .iter()
                .all(|(_, s, _)| ["succeeded", "failed", "parked"].contains(&s.as_str()));
        done.then_some(runs)
    })
    .await
}

fn run(playbook: &str, status: &str, person: &str) -> (String, String, String) {
    (playbook.into(), status.into(), person.into())
}

fn shipped(name: &str) -> String {
    let path = format!("{}/playbooks/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_and_entra_pushes_fire_onboarding_and_offboarding_against_the_sandbox() {
    let sandbox = start(Default::default()).await;
    let ws = Workspace::new();
    write_config(&ws, &sandbox, Credential::Secret);
    for name in ["onboard-from-google", "mover", "offboard"] {
        write_playbook(&ws, name, &shipped(name));
    }
    let api = create_token(&ws, "ops").await;
    let out = ws
        .roster_ok(&["token", "create", "--name", "google", "--scim"])
        .await;
    let serve = Serve::start(&ws, &[]).await.with_token(&api);
    let scim = ScimClient::new(&format!("{}/scim/v2", serve.url), out.stdout.trim());

    // Google: the connection probe, then a user created, changed in title, suspended, deleted.
    let probe = scim.get("/Users?count=1").await;
    assert_eq!(
        (probe.status, probe.body["totalResults"].clone()),
        (200, json!(0))
    );
    let mut mary = google_user(
        "mary@contoso.com",
        "1048576",
        "Mary",
        "Jackson",
        "E9101",
        "Engineering",
    );
    mary["title"] = json!("Mathematician");
    let created = scim.post("/Users", &mary).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let mary_id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        settled(&serve, 1).await,
        [run("onboard-from-google", "succeeded", "1048576")]
    );
    let account = user_by_upn(&sandbox, "mary.jackson@contoso.com").expect("an Entra account");
    assert_eq!(
        (account["employeeId"].clone(), account["jobTitle"].clone()),
        (json!("E9101"), json!("Mathematician"))
    );
    assert_eq!(account["accountEnabled"], true);
    assert_eq!(
        licenses(&account),
        [sku_id("SPE_E5")],
        "Engineering's license"
    );
    let entra_id = account["id"].as_str().unwrap().to_string();
    for group in ["All Staff", "Dept Engineering"] {
        assert!(
            group_members(&sandbox, group).contains(&entra_id),
            "{group}"
        );
    }

    mary["title"] = json!("Aerospace Engineer");
    assert_eq!(
        scim.put(&format!("/Users/{mary_id}"), &mary).await.status,
        200
    );
    settled(&serve, 2).await;
    assert_eq!(
        user_by_upn(&sandbox, "mary.jackson@contoso.com").unwrap()["jobTitle"],
        "Aerospace Engineer"
    );

    let suspend = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        scim.patch(&format!("/Users/{mary_id}"), &suspend)
            .await
            .status,
        200
    );
    settled(&serve, 3).await;
    let account = user_by_upn(&sandbox, "mary.jackson@contoso.com").unwrap();
    assert_eq!(account["accountEnabled"], false);
    assert!(licenses(&account).is_empty());
    assert!(!group_members(&sandbox, "All Staff").contains(&entra_id));
    assert_eq!(scim.delete(&format!("/Users/{mary_id}")).await.status, 204);

    // Entra: "Test connection", the matching query, then create, update, disable, delete.
    let test = scim
        .get("/Users?filter=userName+eq+%2236a6bd7c-1d9b-4c4e-9d8f-2b7b6f1c0e7a%22")
        .await;
    assert_eq!(
        (test.status, test.body["totalResults"].clone()),
        (200, json!(0))
    );
    let matching = scim
        .get("/Users?filter=userName+eq+%22dorothy%40contoso.onmicrosoft.com%22")
        .await;
    assert_eq!(matching.body["totalResults"], 0);
    let mut dorothy = entra_user(
        "dorothy@contoso.onmicrosoft.com",
        "dorothy",
        "Dorothy",
        "Vaughan",
        "E9102",
        "Sales",
    );
    dorothy["title"] = json!("Analyst");
    let created = scim.post("/Users", &dorothy).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let dorothy_id = created.body["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{dorothy_id}");
    let update = patch_op(json!([
        {"op": "Replace", "path": "title", "value": "Sales Lead"},
        {"op": "Replace", "path": "displayName", "value": "Dorothy Vaughan"},
    ]));
    assert_eq!(scim.patch(&user, &update).await.status, 200);
    let disable = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(scim.patch(&user, &disable).await.status, 200);
    // Entra still finds the disabled user, and deletes it later.
    let found = scim.get("/Users?filter=externalId+eq+%22dorothy%22").await;
    assert_eq!(found.body["Resources"][0]["active"], false);
    assert_eq!(scim.delete(&user).await.status, 204);

    let runs = settled(&serve, 6).await;
    assert_eq!(
        runs,
        [
            run("onboard-from-google", "succeeded", "1048576"),
            run("mover", "succeeded", "1048576"),
            run("offboard", "parked", "1048576"),
            run("onboard-from-google", "succeeded", "dorothy"),
            run("mover", "succeeded", "dorothy"),
            run("offboard", "parked", "dorothy"),
        ],
        "a delete after a suspension starts nothing more; the offboardings wait out their grace period"
    );
    let dorothy = user_by_upn(&sandbox, "dorothy.vaughan@contoso.com").expect("an Entra account");
    assert_eq!(
        (
            dorothy["employeeId"].clone(),
            dorothy["jobTitle"].clone(),
            dorothy["accountEnabled"].clone()
        ),
        (json!("E9102"), json!("Sales Lead"), json!(false))
    );
    let mut upns: Vec<String> = users(&sandbox)
        .into_iter()
        .filter_map(|u| u["userPrincipalName"].as_str().map(String::from))
        .filter(|u| u.starts_with("mary") || u.starts_with("dorothy"))
        .collect();
    upns.sort();
    assert_eq!(
        upns,
        ["dorothy.vaughan@contoso.com", "mary.jackson@contoso.com"],
        "one account each"
    );
}
