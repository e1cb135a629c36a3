//! The `google.*` ensure actions of the Entra → Google direction through real playbook runs
//! against `roster sandbox`: create (then adopt by external id, follow a rename, refuse an
//! address owned by another source account), unsuspend, delete, ensure a group, add and remove
//! members; every second run changes nothing.

use roster::sandbox::{FaultConfig, SandboxSeed};
use serde_json::{json, Value};

use crate::google::sandbox_with;
use crate::support::{person, step, Workspace};

fn key_file() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sandbox/google-service-account.json")
}

/// A `google` connection with the group write scope the group actions need.
fn config(ws: &Workspace, url: &str) {
    let yaml = format!(
        "connections:\n  google:\n    service_account_key: {{ file: {key} }}\n    \
         admin: admin@contoso.com\n    token_url: {url}/token\n    base_url: {url}\n    \
         scopes:\n      - https://www.googleapis.com/auth/admin.directory.user\n      \
         - https://www.googleapis.com/auth/admin.directory.group\n",
        key = key_file().display()
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

async fn run(ws: &Workspace, yaml: &str) -> (i32, Value) {
    let (code, shown, _) = ws.run_json(yaml, &person("E1"), &[]).await;
    (code, shown)
}

fn users_with(state: &Value, external: &str) -> Vec<Value> {
    state["google"]["users"]
        .as_array()
        .map(|u| {
            u.iter()
                .filter(|u| {
                    u["externalIds"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|e| e["value"] == external))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn create(email: &str) -> String {
    format!(
        r#"
name: create
on: [ {{ manual: {{}} }} ]
steps:
  - id: user
    uses: google.create_user
    with: {{ primary_email: "{email}", given_name: Megan, family_name: Bowen, external_id: "e-0001", org_unit_path: / }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_inserts_once_then_adopts_by_external_id_and_follows_a_rename() {
    let sb = sandbox_with(
        SandboxSeed::default_seed(),
        FaultConfig::default(),
        "127.0.0.1:0",
    )
    .await;
    let ws = Workspace::new();
    config(&ws, &sb.url());

    let (code, shown) = run(&ws, &create("megan.bowen@contoso.com")).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "user")["outputs"];
    assert_eq!(out["created"], true);
    assert_eq!(out["primary_email"], "megan.bowen@contoso.com");

    let (code, shown) = run(&ws, &create("megan.bowen@contoso.com")).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "user")["outputs"];
    assert_eq!(out["created"], false);
    assert_eq!(out["found_by"], "external_id");
    assert_eq!(out["updated"], json!([]), "nothing to change");

    // The source account was renamed: the same Google user follows, the old address stays
    // as an alias.
    let (code, shown) = run(&ws, &create("megan.b@contoso.com")).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "user")["outputs"];
    assert_eq!(out["found_by"], "external_id");
    assert_eq!(out["updated"], json!(["primaryEmail"]));
    let users = users_with(&sb.state(), "e-0001");
    assert_eq!(users.len(), 1, "never a second account: {users:#?}");
    assert_eq!(users[0]["primaryEmail"], "megan.b@contoso.com");
    assert!(users[0]["aliases"]
        .to_string()
        .contains("megan.bowen@contoso.com"));

    // An address held by a user with another external id is not adopted.
    let other = create("megan.b@contoso.com").replace("e-0001", "e-9999");
    let (code, shown) = run(&ws, &other).await;
    assert_ne!(code, 0, "{shown:#}");
    assert!(
        shown
            .to_string()
            .contains("belongs to another entra account"),
        "{shown:#}"
    );
}

const LIFECYCLE: &str = r#"
name: lifecycle
on: [ { manual: {} } ]
steps:
  - { id: suspend, uses: google.suspend_user, with: { user: ada.lovelace@contoso.com } }
  - { id: unsuspend, uses: google.unsuspend_user, with: { user: ada.lovelace@contoso.com } }
  - { id: unsuspend_again, uses: google.unsuspend_user, with: { user: ada.lovelace@contoso.com } }
  - id: group
    uses: google.ensure_group
    with: { email: finance@contoso.com, name: Finance, description: "Mirrored from Entra" }
  - id: group_again
    uses: google.ensure_group
    with: { email: finance@contoso.com, name: Finance }
  - id: add
    uses: google.add_member
    with: { group: finance@contoso.com, member: [ada.lovelace@contoso.com, grace.hopper@contoso.com] }
  - id: add_again
    uses: google.add_member
    with: { members: { "finance@contoso.com": [ada.lovelace@contoso.com] } }
  - id: remove
    uses: google.remove_member
    with: { group: finance@contoso.com, member: grace.hopper@contoso.com }
  - id: remove_again
    uses: google.remove_member
    with: { group: finance@contoso.com, member: grace.hopper@contoso.com }
  - { id: delete, uses: google.delete_user, with: { user: alan.turing@contoso.com } }
  - { id: delete_again, uses: google.delete_user, with: { user: alan.turing@contoso.com } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_unsuspend_delete_and_group_writes_are_idempotent_ensures() {
    let sb = sandbox_with(
        SandboxSeed::default_seed(),
        FaultConfig::default(),
        "127.0.0.1:0",
    )
    .await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let (code, shown) = run(&ws, LIFECYCLE).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = |id: &str| step(&shown, id)["outputs"].clone();
    assert_eq!(out("unsuspend")["changed"], true);
    assert_eq!(out("unsuspend_again")["changed"], false);
    assert_eq!(out("group")["created"], true);
    assert_eq!(out("group_again")["created"], false);
    assert_eq!(out("group_again")["id"], out("group")["id"]);
    assert_eq!(
        out("add")["added"]["finance@contoso.com"],
        json!(["ada.lovelace@contoso.com", "grace.hopper@contoso.com"])
    );
    assert_eq!(
        out("add_again")["already"]["finance@contoso.com"],
        json!(["ada.lovelace@contoso.com"])
    );
    assert_eq!(
        out("remove")["removed"]["finance@contoso.com"],
        json!(["grace.hopper@contoso.com"])
    );
    assert_eq!(
        out("remove_again")["absent"]["finance@contoso.com"],
        json!(["grace.hopper@contoso.com"])
    );
    assert_eq!(out("delete")["deleted"], true);
    assert_eq!(out("delete_again")["deleted"], false);

    let state = sb.state();
    let finance = state["google"]["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["email"] == "finance@contoso.com"))
        .cloned()
        .unwrap();
    let members: Vec<&str> = finance["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["email"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, vec!["ada.lovelace@contoso.com"]);
    let ada = state["google"]["users"]
        .as_array()
        .and_then(|u| {
            u.iter()
                .find(|u| u["primaryEmail"] == "ada.lovelace@contoso.com")
        })
        .cloned()
        .unwrap();
    assert_eq!(ada["suspended"], false);
}

const PLANNED: &str = r#"
name: planned
on: [ { manual: {} } ]
steps:
  - id: new_user
    uses: google.create_user
    with: { primary_email: megan.bowen@contoso.com, given_name: Megan, family_name: Bowen, external_id: "e-1" }
  - id: adopt
    uses: google.create_user
    with: { primary_email: ada.lovelace@contoso.com, given_name: Ada, family_name: Lovelace, external_id: "e-2" }
  - { id: unsuspend, uses: google.unsuspend_user, with: { user: alan.turing@contoso.com } }
  - { id: delete_missing, uses: google.delete_user, with: { user: nobody@contoso.com } }
  - { id: new_group, uses: google.ensure_group, with: { email: finance@contoso.com } }
  - { id: old_group, uses: google.ensure_group, with: { email: all-staff@contoso.com } }
  - { id: join, uses: google.add_member, with: { group: all-staff@contoso.com, member: ada.lovelace@contoso.com } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_previews_the_google_writes_with_reads_only() {
    let sb = sandbox_with(
        SandboxSeed::default_seed(),
        FaultConfig::default(),
        "127.0.0.1:0",
    )
    .await;
    let ws = Workspace::new();
    config(&ws, &sb.url());
    let pb = ws.write_playbook("planned", PLANNED);
    let who = ws.write_person("p", &person("E1"));
    let before = sb.state()["google"].clone();
    let out = ws
        .roster(&[
            "--json",
            "plan",
            pb.to_str().unwrap(),
            "--person",
            who.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(sb.state()["google"], before, "the plan changed nothing");
    let plan = out.json();
    let steps = plan["people"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let effect = |id: &str| {
        steps
            .iter()
            .find(|s| s["step"] == id)
            .map(|s| s["effect"].as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no step {id} in {plan:#}"))
    };
    assert_eq!(effect("new_user"), "create");
    assert_eq!(effect("adopt"), "change", "the external id would be added");
    assert_eq!(effect("unsuspend"), "change");
    assert_eq!(effect("delete_missing"), "unchanged");
    assert_eq!(effect("new_group"), "create");
    assert_eq!(effect("old_group"), "unchanged");
    assert!(["add", "unchanged"].contains(&effect("join").as_str()));
    for route in sb.state()["requests"].as_object().unwrap().keys() {
        assert!(
            route.starts_with("GET ") || route.ends_with("/token"),
            "the plan sent {route}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_address_is_only_reported_when_asked() {
    let ws = Workspace::new();
    config(&ws, "http://127.0.0.1:9");
    let yaml = r#"
name: mapping
on: [ { manual: {} } ]
steps:
  - id: address
    uses: identity.google_user
    with: { upn: x@fabrikam.onmicrosoft.com, on_unusable: report }
  - id: guest
    uses: identity.google_user
    with: { upn: "ann_partner.com#EXT#@fabrikam.onmicrosoft.com" }
"#;
    let (code, shown) = run(&ws, yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = &step(&shown, "address")["outputs"];
    assert_eq!(out["outcome"], "review");
    assert!(
        out["reason"].as_str().unwrap().contains("cannot verify"),
        "{out}"
    );
    assert!(out.get("park").is_none(), "{out}");
    assert_eq!(step(&shown, "guest")["outputs"]["outcome"], "skip");
}
