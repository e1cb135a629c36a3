//! Crash = resume: a worker killed with SIGKILL mid-batch loses at most the steps in flight, and
//! the next worker resumes every run at the step that was in flight, never repeating a step whose
//! result was committed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::support::{person, Reply, TestServer, Workspace};

const RUNS: usize = 200;
const STEPS: [&str; 5] = ["create", "license", "groups", "mailbox", "notify"];
const CONCURRENCY: usize = 16;

/// `/step/<step>/<run>` → (run, step).
fn pair(path: &str) -> Option<(String, String)> {
    let mut parts = path.strip_prefix("/step/")?.splitn(2, '/');
    let step = parts.next()?.to_string();
    let run = parts.next()?.to_string();
    Some((run, step))
}

fn playbook(base: &str) -> String {
    let mut yaml = String::from("name: provision\non: [ { manual: {} } ]\nsteps:\n");
    for step in STEPS {
        yaml.push_str(&format!(
            "  - id: {step}\n    uses: http.request\n    with:\n      method: POST\n      \
             url: \"{base}/step/{step}/${{{{ run.id }}}}\"\n      \
             json: {{ person: \"${{{{ person.id }}}}\" }}\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_resumes_without_repeating_completed_steps() {
    // A little latency so that the kill lands while requests are in flight.
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(8))).await;
    let ws = Workspace::new();
    let pb = ws.write_playbook("provision", &playbook(&server.url));
    let people = (0..RUNS).map(|i| person(&format!("P{i:04}"))).collect();
    let runs = ws.enqueue(&pb, people).await;
    assert_eq!(runs.len(), RUNS);

    // Phase 1: a real worker process, killed without warning a third of the way through.
    let concurrency = CONCURRENCY.to_string();
    let mut first = ws.spawn_worker(&["--lease", "2s", "--concurrency", &concurrency]);
    let total = (RUNS * STEPS.len()) as u64;
    server
        .wait_for_hits(total / 3, Duration::from_secs(60))
        .await;
    first.kill().await;
    let db = ws.db().await;
    let committed = db.succeeded_steps().await;
    let boundary = server.seq();
    let phase1: HashSet<(String, String)> =
        server.hits().iter().filter_map(|h| pair(&h.path)).collect();
    assert!(
        !committed.is_empty() && committed.len() < RUNS * STEPS.len(),
        "the kill should land mid-batch: {} of {} steps committed",
        committed.len(),
        RUNS * STEPS.len()
    );
    for done in &committed {
        assert!(
            phase1.contains(done),
            "{done:?} is committed but was never requested"
        );
    }
    // A step's result is committed before the next step starts: per run, the committed steps
    // are a prefix of the playbook, and at most the one step after it was in flight.
    for run in &runs {
        let has = |set: &HashSet<(String, String)>, step: &str| {
            set.contains(&(run.clone(), step.to_string()))
        };
        let done = STEPS.iter().take_while(|s| has(&committed, s)).count();
        let requested = STEPS.iter().take_while(|s| has(&phase1, s)).count();
        assert!(
            STEPS.iter().filter(|s| has(&committed, s)).count() == done
                && STEPS.iter().filter(|s| has(&phase1, s)).count() == requested
                && requested <= done + 1,
            "run {run}: {done} steps committed, {requested} requested before the kill"
        );
    }

    // Phase 2: a fresh worker takes over once the dead worker's leases expire.
    let mut second = ws.spawn_worker(&[
        "--lease",
        "2s",
        "--concurrency",
        &concurrency,
        "--until-idle",
        "--idle-check",
        "100ms",
    ]);
    let exit = tokio::time::timeout(Duration::from_secs(90), second.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the second worker did not finish:\n{}", second.log()))
        .expect("wait for the second worker");
    assert!(exit.success(), "second worker: {exit}\n{}", second.log());

    let statuses = db.statuses().await;
    let unfinished: Vec<_> = statuses.iter().filter(|(_, s)| *s != "succeeded").collect();
    assert!(unfinished.is_empty(), "runs not succeeded: {unfinished:?}");
    assert_eq!(statuses.len(), RUNS);

    let mut requests: HashMap<(String, String), usize> = HashMap::new();
    let mut after_kill: HashSet<(String, String)> = HashSet::new();
    for h in server.hits() {
        let p = pair(&h.path).unwrap_or_else(|| panic!("unexpected request {}", h.path));
        *requests.entry(p.clone()).or_default() += 1;
        if h.seq > boundary {
            after_kill.insert(p);
        }
    }
    for run in &runs {
        for step in STEPS {
            let p = (run.clone(), step.to_string());
            assert!(requests.contains_key(&p), "{p:?} was never requested");
        }
    }
    let repeated_committed: Vec<_> = committed.intersection(&after_kill).collect();
    assert!(
        repeated_committed.is_empty(),
        "steps committed before the kill were executed again: {repeated_committed:?}"
    );
    // The steps in flight at the kill (requested, not committed) resume: requested again.
    let in_flight: Vec<_> = phase1.difference(&committed).collect();
    assert!(
        in_flight.len() <= CONCURRENCY,
        "more steps in flight at the kill ({}) than the worker's concurrency",
        in_flight.len()
    );
    for p in &in_flight {
        assert!(
            after_kill.contains(*p),
            "{p:?} was in flight at the kill but not executed again"
        );
    }
    let repeated: Vec<_> = requests.iter().filter(|(_, &n)| n > 1).collect();
    eprintln!(
        "killed after {boundary} requests: {} steps committed, {} in flight; {} requested twice",
        committed.len(),
        in_flight.len(),
        repeated.len()
    );
    assert!(
        repeated.len() <= CONCURRENCY,
        "{} steps were requested more than once (concurrency {CONCURRENCY}): {repeated:?}",
        repeated.len()
    );
    for &(p, &n) in &repeated {
        assert_eq!(n, 2, "{p:?} was requested {n} times");
        assert!(
            !committed.contains(p),
            "{p:?} was requested twice though committed at the kill"
        );
    }
    // Every run's committed steps are the whole playbook, each once, in order.
    for run in runs.iter().take(20) {
        let steps = db.steps(run).await;
        let ids: Vec<_> = steps.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(ids, STEPS, "run {run}");
        assert!(steps
            .iter()
            .all(|s| s.status == "succeeded" && s.attempts == 1));
    }
}
