//! Observations → events → runs: the subjects diff, idempotency and trigger matching.

use std::sync::Arc;

use roster::engine::Engine;
use roster::playbook::{self, Playbook};
use roster::store::{ObservationOutcome, RunFilter, Store, StoreOptions};
use serde_json::{json, Value};

const JOINER: &str = r#"
name: joiner
on:
  - person.joined: { source: google }
steps:
  - id: hello
    uses: script
    with: { code: '#{ greeting: "hello " + person.given_name }' }
"#;

const MOVER: &str = r#"
name: mover
on:
  - person.changed: { fields: [department] }
steps:
  - id: moved
    uses: script
    with: { code: '#{ from: event.changes.department.from, to: event.changes.department.to }' }
"#;

const LEAVER: &str = r#"
name: leaver
on:
  - person.left: {}
  - person.returned: {}
where: person.org_unit != "/Contractors"
steps:
  - id: noted
    uses: script
    with: { code: '#{ kind: event.type }' }
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    playbooks: Vec<Arc<Playbook>>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = crate::support_pg::store_url(dir.path());
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .expect("open store");
    let engine = Arc::new(Engine::new(store));
    let mut playbooks = Vec::new();
    for (name, text) in [
        ("joiner.yaml", JOINER),
        ("mover.yaml", MOVER),
        ("leaver.yaml", LEAVER),
    ] {
        let pb = playbook::load_text(name, text, engine.scripting()).expect("playbook compiles");
        playbooks.push(engine.register(pb).await.expect("register"));
    }
    Fixture {
        _dir: dir,
        engine,
        playbooks,
    }
}

fn person(department: &str, status: &str) -> Value {
    json!({
        "id": "g-100", "given_name": "Ada", "family_name": "Lovelace", "primary_email": "ada@contoso.com",
        "department": department, "status": status, "org_unit": "/Staff", "custom": {}
    })
}

async fn runs_of(f: &Fixture, playbook: &str) -> Vec<roster::store::RunRow> {
    f.engine
        .store()
        .runs(&RunFilter {
            playbook: Some(playbook.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("list runs")
}

fn recorded_runs(outcome: &ObservationOutcome) -> Vec<String> {
    match outcome {
        ObservationOutcome::Recorded { runs, .. } => runs.clone(),
        other => panic!("expected a recorded event, got {other:?}"),
    }
}

#[tokio::test]
async fn first_sighting_is_a_join_for_matching_sources_only() {
    let f = fixture().await;
    let out = f
        .engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    let runs = recorded_runs(&out);
    assert_eq!(
        runs.len(),
        1,
        "only the joiner playbook listens to person.joined"
    );
    let run = f.engine.store().run(&runs[0]).await.expect("run");
    assert_eq!(run.playbook, "joiner");
    assert_eq!(run.event["type"], "person.joined");
    assert_eq!(run.event["source"], "google");

    // The joiner only listens to Google: the same person first seen in the HR source starts nothing.
    let out = f
        .engine
        .observe(&f.playbooks, "hr", person("Sales", "active"))
        .await
        .expect("observe");
    assert_eq!(recorded_runs(&out), Vec::<String>::new());
}

#[tokio::test]
async fn an_unchanged_observation_fires_nothing() {
    let f = fixture().await;
    f.engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    let again = f
        .engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    assert_eq!(again, ObservationOutcome::Unchanged);
    assert_eq!(runs_of(&f, "joiner").await.len(), 1);
}

#[tokio::test]
async fn a_department_change_is_one_changed_event_with_from_and_to() {
    let f = fixture().await;
    f.engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    let out = f
        .engine
        .observe(&f.playbooks, "google", person("Finance", "active"))
        .await
        .expect("observe");
    let runs = recorded_runs(&out);
    assert_eq!(runs.len(), 1);
    let run = f.engine.store().run(&runs[0]).await.expect("run");
    assert_eq!(run.playbook, "mover");
    assert_eq!(run.event["type"], "person.changed");
    assert_eq!(
        run.event["changes"]["department"],
        json!({ "from": "Sales", "to": "Finance" })
    );
    assert_eq!(
        run.event["changes"].as_object().map(|c| c.len()),
        Some(1),
        "only the department changed"
    );

    // A title change is a person.changed too, but the mover only listens to department changes.
    let mut titled = person("Finance", "active");
    titled["title"] = json!("Controller");
    let out = f
        .engine
        .observe(&f.playbooks, "google", titled)
        .await
        .expect("observe");
    assert_eq!(recorded_runs(&out), Vec::<String>::new());
    assert_eq!(runs_of(&f, "mover").await.len(), 1);
}

#[tokio::test]
async fn suspension_is_a_leave_and_reactivation_a_return() {
    let f = fixture().await;
    f.engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    let left = f
        .engine
        .observe(&f.playbooks, "google", person("Sales", "suspended"))
        .await
        .expect("observe");
    let back = f
        .engine
        .observe(&f.playbooks, "google", person("Sales", "active"))
        .await
        .expect("observe");
    let left = f
        .engine
        .store()
        .run(&recorded_runs(&left)[0])
        .await
        .expect("run");
    let back = f
        .engine
        .store()
        .run(&recorded_runs(&back)[0])
        .await
        .expect("run");
    assert_eq!(left.event["type"], "person.left");
    assert_eq!(back.event["type"], "person.returned");
}

#[tokio::test]
async fn someone_already_gone_at_first_sight_is_a_baseline_not_a_leave() {
    let f = fixture().await;
    let out = f
        .engine
        .observe(&f.playbooks, "google", person("Sales", "terminated"))
        .await
        .expect("observe");
    assert_eq!(out, ObservationOutcome::Baseline);
    assert!(runs_of(&f, "leaver").await.is_empty());
    let stored = f
        .engine
        .store()
        .subject("google", "g-100")
        .await
        .expect("subject");
    assert_eq!(
        stored.map(|p| p["status"].clone()),
        Some(json!("terminated"))
    );
}

#[tokio::test]
async fn a_where_filter_records_the_event_without_a_run() {
    let f = fixture().await;
    let mut contractor = person("Sales", "active");
    contractor["org_unit"] = json!("/Contractors");
    f.engine
        .observe(&f.playbooks, "google", contractor.clone())
        .await
        .expect("observe");
    contractor["status"] = json!("terminated");
    let out = f
        .engine
        .observe(&f.playbooks, "google", contractor)
        .await
        .expect("observe");
    assert!(
        matches!(out, ObservationOutcome::Recorded { ref runs, .. } if runs.is_empty()),
        "{out:?}"
    );
    assert!(runs_of(&f, "leaver").await.is_empty());
}

#[tokio::test]
async fn a_manual_start_with_a_used_key_starts_nothing() {
    let f = fixture().await;
    let text = "name: once\non: [ { manual: {} } ]\nsteps:\n  - id: a\n    uses: script\n    with: { code: '#{}' }\n";
    let pb = playbook::load_text("once.yaml", text, f.engine.scripting()).expect("compiles");
    let pb = f.engine.register(pb).await.expect("register");
    let first = f
        .engine
        .start(
            &pb,
            person("Sales", "active"),
            Some("import-7:row-3".into()),
        )
        .await
        .expect("start");
    let second = f
        .engine
        .start(
            &pb,
            person("Sales", "active"),
            Some("import-7:row-3".into()),
        )
        .await
        .expect("start");
    assert!(first.is_some());
    assert_eq!(second, None);
    assert_eq!(runs_of(&f, "once").await.len(), 1);
}
