//! End to end: `roster serve` receives request sequences shaped exactly like Google
//! Workspace's and Entra's SCIM clients (probe, create, update, suspend, delete) at `/scim/v2`,
//! and the onboarding, mover and offboarding playbooks they fire act on the sandbox's Entra ID.
//!
//! The playbooks are small ones written here, listening to the `scim` source the way the
//! shipped playbooks do (`person.joined`/`person.left: { source: scim }`).

use std::time::Duration;

use serde_json::json;

use crate::support::{eventually, Workspace};
use crate::support_sandbox::{group_members, start, user_by_upn, write_config, Credential};
use crate::support_scim::{entra_user, google_user, patch_op, ScimClient};
use crate::support_serve::{create_token, write_playbook, Serve};

const ONBOARD: &str = r#"
name: onboard
on: [ { person.joined: { source: scim } } ]
concurrency: person.id
vars:
  local_part: email_local(person.given_name, person.family_name)
steps:
  - id: check
    uses: validate
    with:
      rules:
        - { field: employee_id, required: true }
        - { field: department, required: true, one_of: [Engineering, Finance, Sales, People] }
      on_invalid: fail
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: "${{ vars.local_part }}@contoso.com"
      display_name: "${{ person.full_name }}"
      given_name: "${{ person.given_name }}"
      surname: "${{ person.family_name }}"
      employee_id: "${{ person.employee_id }}"
      department: "${{ person.department }}"
      job_title: "${{ person.title }}"
      usage_location: US
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
  - id: license
    uses: entra.assign_license
    with: { user: "${{ steps.account.id }}", sku: SPE_E3 }
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
  - id: groups
    uses: entra.add_to_groups
    with: { user: "${{ steps.account.id }}", groups: '${{ ["All Staff", "Dept " + person.department] }}' }
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
"#;

const MOVER: &str = r#"
name: mover
on: [ { person.changed: { source: scim, fields: [title, department] } } ]
concurrency: person.id
steps:
  - id: account
    uses: entra.find_user
    with: { employee_id: "${{ person.employee_id }}" }
  - id: update
    uses: entra.update_user
    with: { user: "${{ steps.account.id }}", set: { jobTitle: "${{ person.title }}", department: "${{ person.department }}" } }
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
"#;

const OFFBOARD: &str = r#"
name: offboard
on: [ { person.left: { source: scim } } ]
concurrency: person.id
steps:
  - id: account
    uses: entra.find_user
    with: { employee_id: "${{ person.employee_id }}" }
  - id: disable
    uses: entra.disable_user
    with: { user: "${{ steps.account.id }}" }
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
  - id: sign_out
    uses: entra.revoke_sessions
    with: { user: "${{ steps.account.id }}" }
    retry: { attempts: 10, backoff: fixed, initial: 50ms }
"#;

/// Waits until the runs of every playbook have finished; returns (playbook, status, subject)
/// of each, oldest first.
async fn settled(serve: &Serve, expected: usize) -> Vec<(String, String, String)> {
    eventually(Duration::from_secs(30), "the runs to finish", || async {
        let (code, page) = serve.get("/api/v1/runs?limit=500").await;
        assert_eq!(code, 200, "{page:#}");
        let runs: Vec<(String, String, String)> = page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (s("playbook"), s("status"), s("person_id"))
            })
            .collect();
        let done = runs.len() == expected
            && runs.iter().all(|(_, s, _)| s == "succeeded" || s == "failed");
        done.then_some(runs)
    })
    .await
}

fn run(playbook: &str, subject: &str) -> (String, String, String) {
    (playbook.into(), "succeeded".into(), subject.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_and_entra_pushes_fire_onboarding_and_offboarding_against_the_sandbox() {
    let sandbox = start(Default::default()).await;
    let ws = Workspace::new();
    write_config(&ws, &sandbox, Credential::Secret);
    for (name, yaml) in [("onboard", ONBOARD), ("mover", MOVER), ("offboard", OFFBOARD)] {
        write_playbook(&ws, name, yaml);
    }
    let api = create_token(&ws, "ops").await;
    let out = ws.roster_ok(&["token", "create", "--name", "google", "--scim"]).await;
    let serve = Serve::start(&ws, &[]).await.with_token(&api);
    let scim = ScimClient::new(&format!("{}/scim/v2", serve.url), out.stdout.trim());

    // Google: the connection probe, then a user created, renamed in title, suspended, deleted.
    let probe = scim.get("/Users?count=1").await;
    assert_eq!((probe.status, probe.body["totalResults"].clone()), (200, json!(0)));
    let mut grace = google_user("grace@contoso.com", "1048576", "Grace", "Hopper", "E3001", "Engineering");
    grace["title"] = json!("Commander");
    let created = scim.post("/Users", &grace).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let grace_id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&serve, 1).await, [run("onboard", "1048576")]);
    let account = user_by_upn(&sandbox, "grace.hopper@contoso.com").expect("an Entra account");
    assert_eq!((account["employeeId"].clone(), account["jobTitle"].clone()), (json!("E3001"), json!("Commander")));
    assert_eq!(account["accountEnabled"], true);
    let entra_id = account["id"].as_str().unwrap().to_string();
    assert!(group_members(&sandbox, "Dept Engineering").contains(&entra_id));

    grace["title"] = json!("Rear Admiral");
    assert_eq!(scim.put(&format!("/Users/{grace_id}"), &grace).await.status, 200);
    settled(&serve, 2).await;
    assert_eq!(user_by_upn(&sandbox, "grace.hopper@contoso.com").unwrap()["jobTitle"], "Rear Admiral");

    let suspend = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(scim.patch(&format!("/Users/{grace_id}"), &suspend).await.status, 200);
    settled(&serve, 3).await;
    assert_eq!(user_by_upn(&sandbox, "grace.hopper@contoso.com").unwrap()["accountEnabled"], false);
    assert_eq!(scim.delete(&format!("/Users/{grace_id}")).await.status, 204);

    // Entra: "Test connection", the matching query, then create, update, disable, delete.
    let test = scim.get("/Users?filter=userName+eq+%2236a6bd7c-1d9b-4c4e-9d8f-2b7b6f1c0e7a%22").await;
    assert_eq!((test.status, test.body["totalResults"].clone()), (200, json!(0)));
    let matching = scim.get("/Users?filter=userName+eq+%22nestor.wilke%40contoso.onmicrosoft.com%22").await;
    assert_eq!(matching.body["totalResults"], 0);
    let nestor = entra_user("nestor.wilke@contoso.onmicrosoft.com", "nestor", "Nestor", "Wilke", "E3002", "Sales");
    let created = scim.post("/Users", &nestor).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let nestor_id = created.body["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{nestor_id}");
    let update = patch_op(json!([
        {"op": "Replace", "path": "title", "value": "Sales Lead"},
        {"op": "Replace", "path": "displayName", "value": "Nestor Wilke"},
    ]));
    assert_eq!(scim.patch(&user, &update).await.status, 200);
    let disable = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    assert_eq!(scim.patch(&user, &disable).await.status, 200);
    // Entra still finds the disabled user, and deletes it later.
    let found = scim.get("/Users?filter=externalId+eq+%22nestor%22").await;
    assert_eq!(found.body["Resources"][0]["active"], false);
    assert_eq!(scim.delete(&user).await.status, 204);

    let runs = settled(&serve, 6).await;
    assert_eq!(
        runs,
        [
            run("onboard", "1048576"),
            run("mover", "1048576"),
            run("offboard", "1048576"),
            run("onboard", "nestor"),
            run("mover", "nestor"),
            run("offboard", "nestor"),
        ],
        "a delete after a suspension starts nothing more"
    );
    let nestor = user_by_upn(&sandbox, "nestor.wilke@contoso.com").expect("an Entra account");
    assert_eq!(
        (nestor["employeeId"].clone(), nestor["jobTitle"].clone(), nestor["accountEnabled"].clone()),
        (json!("E3002"), json!("Sales Lead"), json!(false))
    );
    let mut upns: Vec<String> = crate::support_sandbox::users(&sandbox)
        .into_iter()
        .filter_map(|u| u["userPrincipalName"].as_str().map(String::from))
        .filter(|u| u.starts_with("grace") || u.starts_with("nestor"))
        .collect();
    upns.sort();
    assert_eq!(upns, ["grace.hopper@contoso.com", "nestor.wilke@contoso.com"], "one account each");
}
