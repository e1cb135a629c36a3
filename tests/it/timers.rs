//! Durable timers: a `wait` and a retry backoff are rows in the database, not sleeps in a
//! process, so a killed worker neither loses nor shortens them; and a worker with nothing ready
//! sleeps instead of polling.

use std::time::Duration;

use serde_json::json;

use crate::support::{person, Reply, TestServer, Workspace};

/// Enqueues one run with `roster run --detach`, runs a worker until the run parks on its timer,
/// kills that worker with SIGKILL and finishes the run with a fresh worker.
async fn park_kill_resume(ws: &Workspace, yaml: &str) -> String {
    let pb = ws.write_playbook("pb", yaml);
    let who = ws.write_person("person", &person("E7"));
    let out = ws
        .roster_ok(&[
            "--json",
            "run",
            pb.to_str().unwrap(),
            "--person",
            who.to_str().unwrap(),
            "--detach",
        ])
        .await;
    let id = out.json()["run"].as_str().expect("run id").to_string();
    let mut first = ws.spawn_worker(&["--lease", "2s", "--idle-check", "50ms"]);
    let db = ws.db().await;
    db.wait_status(&id, "waiting", Duration::from_secs(10))
        .await;
    first.kill().await;
    assert_eq!(db.run_status(&id).await, "waiting");
    ws.work_until_idle(Duration::from_secs(20)).await;
    assert_eq!(db.run_status(&id).await, "succeeded");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_survives_a_killed_worker_and_ends_on_time() {
    let server = TestServer::start(|_| Reply::ok()).await;
    let ws = Workspace::new();
    let yaml = r#"
name: timed
on: [ { manual: {} } ]
steps:
  - id: before
    uses: http.request
    with: { method: POST, url: "BASE/before/${{ run.id }}" }
  - id: pause
    uses: wait
    with: { duration: 3s }
  - id: after
    uses: http.request
    with: { method: POST, url: "BASE/after/${{ run.id }}" }
"#
    .replace("BASE", &server.url);
    let id = park_kill_resume(&ws, &yaml).await;

    let before = server.hits_to("/before/");
    let after = server.hits_to("/after/");
    assert_eq!(before.len(), 1, "the step before the wait ran again");
    assert_eq!(after.len(), 1);
    assert_eq!(before[0].path, format!("/before/{id}"));
    let waited = after[0].at - before[0].at;
    assert!(
        waited >= Duration::from_secs(3),
        "the 3s wait ended after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(9),
        "the wait was not woken on time: {waited:?}"
    );
    let pause = ws.db().await.step(&id, "pause").await;
    assert_eq!((pause.status.as_str(), pause.attempts), ("succeeded", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_backoff_survives_a_killed_worker() {
    let server = TestServer::start(|h| match (h.path.as_str(), h.nth) {
        ("/license", 0) => Reply::status(503)
            .header("retry-after", "3")
            .json(json!({ "error": "replication delay" })),
        _ => Reply::ok(),
    })
    .await;
    let ws = Workspace::new();
    let yaml = r#"
name: backoff
on: [ { manual: {} } ]
steps:
  - id: account
    uses: http.request
    with: { method: POST, url: "BASE/account" }
  - id: license
    uses: http.request
    with: { method: POST, url: "BASE/license" }
    retry: { attempts: 3, backoff: fixed, initial: 3s }
"#
    .replace("BASE", &server.url);
    let id = park_kill_resume(&ws, &yaml).await;

    assert_eq!(server.hits_to("/account").len(), 1);
    let license = server.hits_to("/license");
    assert_eq!(license.len(), 2);
    let gap = license[1].at - license[0].at;
    assert!(
        gap >= Duration::from_secs(3),
        "retried {gap:?} after the first attempt"
    );
    assert!(
        gap < Duration::from_secs(9),
        "the retry timer was not woken on time: {gap:?}"
    );
    let step = ws.db().await.step(&id, "license").await;
    assert_eq!((step.status.as_str(), step.attempts), ("succeeded", 2));
}

/// User plus system CPU time of a process, from /proc/<pid>/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on every Linux architecture Rust supports.
    Duration::from_millis(ticks * 10)
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_with_only_parked_runs_does_not_spin() {
    let ws = Workspace::new();
    let yaml = r#"
name: parked
on: [ { manual: {} } ]
concurrency: person.id
steps:
  - id: check
    uses: validate
    with:
      rules: [ { field: family_name, pattern: "[A-Z][a-z]+" } ]
      on_invalid: review
  - id: later
    uses: wait
    with: { duration: 1h }
"#;
    let pb = ws.write_playbook("parked", yaml);
    let mut bad = person("X1");
    bad["family_name"] = json!("d03");
    // In review; a second run for the same person, blocked behind it; another on a 1h timer.
    let runs = ws.enqueue(&pb, vec![bad.clone(), bad, person("Y1")]).await;
    let worker = ws.spawn_worker(&[]);
    let db = ws.db().await;
    db.wait_status(&runs[0], "review", Duration::from_secs(10))
        .await;
    db.wait_status(&runs[2], "waiting", Duration::from_secs(10))
        .await;
    assert_eq!(db.run_status(&runs[1]).await, "queued");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = worker.pid();
    let start = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_time(pid) - start;
    eprintln!("an idle worker used {used:?} of CPU in 2s");
    assert!(
        used < Duration::from_millis(200),
        "an idle worker used {used:?} of CPU in 2s"
    );
    assert_eq!(db.run_status(&runs[1]).await, "queued");
}
