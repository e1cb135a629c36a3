//! Concurrency keys serialise the runs of one person, in submission order, while runs for
//! different people proceed side by side; cancelling a parked run ends it and frees its key.

use std::time::Duration;

use crate::support::{person, Reply, TestServer, Workspace};

/// Two slow steps per run; every request carries the run id in its path and the key in `x-key`.
const MOVER: &str = r#"
name: mover
on: [ { manual: {} } ]
concurrency: person.id
steps:
  - id: disable
    uses: http.request
    with:
      method: POST
      url: "BASE/disable/${{ run.id }}"
      headers: { x-key: "${{ person.id }}" }
  - id: enable
    uses: http.request
    with:
      method: POST
      url: "BASE/enable/${{ run.id }}"
      headers: { x-key: "${{ person.id }}" }
"#;

fn run_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

/// Submits `n` runs for one person and checks they ran one after another, in order.
async fn runs_for_one_person_are_serialised(n: usize) {
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(200))).await;
    let ws = Workspace::new();
    let pb = ws.write_playbook("mover", &MOVER.replace("BASE", &server.url));
    let runs = ws.enqueue(&pb, vec![person("P1"); n]).await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let db = ws.db().await;
    for run in &runs {
        assert_eq!(db.run_status(run).await, "succeeded");
    }
    assert_eq!(server.max_in_flight("P1"), 1, "two runs of P1 overlapped");
    // Whole runs, one after another, in the order they were submitted.
    let order: Vec<String> = server
        .hits()
        .iter()
        .map(|h| run_of(&h.path).to_string())
        .collect();
    let expected: Vec<String> = runs.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_for_one_person_never_overlap() {
    runs_for_one_person_are_serialised(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_runs_for_one_person_run_one_at_a_time_in_submission_order() {
    runs_for_one_person_are_serialised(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_for_different_people_overlap() {
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(200))).await;
    let ws = Workspace::new();
    let pb = ws.write_playbook("mover", &MOVER.replace("BASE", &server.url));
    let people = ["A", "B", "C", "D"].map(person).to_vec();
    let runs = ws.enqueue(&pb, people).await;
    ws.work_until_idle(Duration::from_secs(20)).await;

    let db = ws.db().await;
    for run in &runs {
        assert_eq!(db.run_status(run).await, "succeeded");
    }
    for key in ["A", "B", "C", "D"] {
        assert_eq!(server.max_in_flight(key), 1, "runs of {key} overlapped");
    }
    assert!(
        server.max_in_flight_all() > 1,
        "runs of different people were serialised as if by a global lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_waiting_run_ends_it_and_frees_its_key() {
    let server = TestServer::start(|_| Reply::ok()).await;
    let ws = Workspace::new();
    let yaml = r#"
name: offboard
on: [ { manual: {} } ]
concurrency: person.id
steps:
  - id: suspend
    uses: http.request
    with: { method: POST, url: "BASE/suspend/${{ run.id }}" }
  - id: grace
    uses: wait
    with: { duration: 3s }
  - id: delete
    uses: http.request
    with: { method: POST, url: "BASE/delete/${{ run.id }}" }
"#
    .replace("BASE", &server.url);
    let pb = ws.write_playbook("offboard", &yaml);
    let runs = ws.enqueue(&pb, vec![person("P9"); 2]).await;
    let (first, second) = (&runs[0], &runs[1]);
    let mut worker = ws.spawn_worker(&["--idle-check", "50ms"]);
    let db = ws.db().await;
    db.wait_status(first, "waiting", Duration::from_secs(10))
        .await;
    assert_eq!(db.run_status(second).await, "queued", "blocked by the key");

    let out = ws.roster_ok(&["runs", "cancel", first]).await;
    assert!(out.stdout.contains("cancelled"), "{out:?}");
    assert_eq!(db.run_status(first).await, "cancelled");
    // The key is free: the second run starts, waits its own 3 s and finishes, by which time the
    // first run's timer is long past with a worker running.
    db.wait_status(second, "succeeded", Duration::from_secs(15))
        .await;
    worker.kill().await;

    assert_eq!(db.run_status(first).await, "cancelled");
    assert_eq!(server.hits_to(&format!("/suspend/{first}")).len(), 1);
    assert!(
        server.hits_to(&format!("/delete/{first}")).is_empty(),
        "a step after the cancel executed"
    );
    assert_eq!(server.hits_to(&format!("/delete/{second}")).len(), 1);
    let again = ws.roster(&["runs", "cancel", first]).await;
    assert_ne!(again.code, 0, "a finished run cannot be cancelled again");
    assert!(again.stderr.contains("cancelled"), "{again:?}");
}
