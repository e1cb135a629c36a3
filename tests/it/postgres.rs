//! The engine on PostgreSQL: the two migration sets describe the same tables, runs execute end
//! to end, and several `roster worker` processes on one database share the work — claims never
//! overlap, a concurrency key holds across processes, and a worker killed with SIGKILL loses
//! only the steps it had in flight, which another process resumes once its leases expire.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use roster::store::{Store, StoreOptions};

use crate::support::{person, Reply, TestServer, Workspace};
use crate::support_pg::PgSchema;

const STEPS: [&str; 3] = ["create", "license", "notify"];

fn playbook(base: &str, keyed: bool) -> String {
    let mut yaml = String::from("name: provision\non: [ { manual: {} } ]\n");
    if keyed {
        yaml.push_str("concurrency: person.department\n");
    }
    yaml.push_str("steps:\n");
    for step in STEPS {
        yaml.push_str(&format!(
            "  - id: {step}\n    uses: http.request\n    with:\n      method: POST\n      \
             url: \"{base}/step/{step}/${{{{ run.id }}}}\"\n      \
             headers: {{ x-key: \"${{{{ person.department }}}}\" }}\n"
        ));
    }
    yaml
}

/// `/step/<step>/<run>` → (run, step).
fn pair(path: &str) -> Option<(String, String)> {
    let mut parts = path.strip_prefix("/step/")?.splitn(2, '/');
    let step = parts.next()?.to_string();
    let run = parts.next()?.to_string();
    Some((run, step))
}

async fn statuses(pg: &PgSchema) -> HashMap<String, String> {
    sqlx::query_as::<_, (String, String)>("SELECT id, status FROM runs")
        .fetch_all(&pg.pool)
        .await
        .expect("read statuses")
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_sets_make_the_same_tables_and_columns() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let ws = Workspace::new();
    let sqlite = Store::open(&ws.db_url, &StoreOptions::default())
        .await
        .expect("open SQLite");
    let postgres = Store::open(&pg.url, &StoreOptions::default())
        .await
        .expect("open PostgreSQL");
    assert_eq!(postgres.backend(), "postgres");
    let lite = sqlite.sqlite_pool().expect("SQLite pool");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(lite)
    .await
    .unwrap();
    let mut on_sqlite = BTreeSet::new();
    for t in &tables {
        let cols: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(lite)
                .await
                .unwrap();
        on_sqlite.extend(cols.into_iter().map(|c| (t.clone(), c)));
    }
    let on_pg: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name NOT LIKE '_sqlx%'",
    )
    .bind(&pg.name)
    .fetch_all(&pg.pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(
        on_sqlite, on_pg,
        "migrations/sqlite and migrations/postgres differ"
    );
    let versions = |n: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("migrations/{n}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(versions("sqlite"), versions("postgres"));
    pg.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_executes_end_to_end_on_postgres() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let server = TestServer::start(|_| Reply::ok()).await;
    let ws = Workspace::with_database(&pg.url);
    let pb = ws.write_playbook("provision", &playbook(&server.url, false));
    let runs = ws.enqueue(&pb, vec![person("P1"), person("P2")]).await;
    ws.work_until_idle(Duration::from_secs(30)).await;
    let statuses = statuses(&pg).await;
    for run in &runs {
        assert_eq!(statuses[run], "succeeded");
    }
    let shown = ws
        .roster_ok(&["runs", "show", &runs[0], "--json"])
        .await
        .json();
    assert_eq!(shown["steps"].as_array().map(Vec::len), Some(STEPS.len()));
    assert_eq!(server.hits().len(), runs.len() * STEPS.len());
    pg.drop_schema().await;
}

/// Three worker processes share 2,000 runs on one database; one is killed with SIGKILL in the
/// middle. Every run succeeds, every step was requested, and a step was requested twice only
/// when it was in flight in the killed worker (at most its concurrency).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_in_three_processes_share_the_runs_and_survive_a_sigkill() {
    const RUNS: usize = 2000;
    const CONCURRENCY: usize = 16;
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(5))).await;
    let ws = Workspace::with_database(&pg.url);
    let pb = ws.write_playbook("provision", &playbook(&server.url, false));
    let people = (0..RUNS).map(|i| person(&format!("P{i:05}"))).collect();
    let runs = ws.enqueue(&pb, people).await;
    assert_eq!(runs.len(), RUNS);

    let c = CONCURRENCY.to_string();
    let args = [
        "--lease",
        "2s",
        "--concurrency",
        &c,
        "--idle-check",
        "100ms",
    ];
    let mut workers: Vec<_> = (0..3).map(|_| ws.spawn_worker(&args)).collect();
    let total = (RUNS * STEPS.len()) as u64;
    server
        .wait_for_hits(total / 3, Duration::from_secs(120))
        .await;
    workers[0].kill().await;
    let boundary = server.seq();

    let done = crate::support::eventually(Duration::from_secs(240), "every run to end", || async {
        let s = statuses(&pg).await;
        let ended = ["succeeded", "failed", "cancelled"];
        s.values().all(|s| ended.contains(&s.as_str())).then_some(s)
    })
    .await;
    for w in workers.iter_mut().skip(1) {
        w.kill().await;
    }
    let mut by_status: HashMap<&str, usize> = HashMap::new();
    for s in done.values() {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    assert_eq!(
        by_status.get("succeeded"),
        Some(&RUNS),
        "runs by status: {by_status:?}\nsurviving worker:\n{}",
        workers[1].log()
    );

    let mut requests: HashMap<(String, String), usize> = HashMap::new();
    for h in server.hits() {
        let p = pair(&h.path).unwrap_or_else(|| panic!("unexpected request {}", h.path));
        *requests.entry(p).or_default() += 1;
    }
    for run in &runs {
        for step in STEPS {
            assert!(
                requests.contains_key(&(run.clone(), step.to_string())),
                "{run}/{step} was never requested"
            );
        }
    }
    // Exactly one `create` per run that got through: no duplicate users.
    let created: HashSet<&String> = requests
        .keys()
        .filter(|(_, s)| s == "create")
        .map(|(r, _)| r)
        .collect();
    assert_eq!(created.len(), RUNS);
    let repeated: Vec<_> = requests.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        repeated.len() <= CONCURRENCY && repeated.iter().all(|(_, &n)| n == 2),
        "steps executed again beyond the killed worker's in-flight ones: {repeated:?}"
    );
    // Repeats happen only after the kill: a step repeated was in flight at the kill.
    for ((run, step), _) in &repeated {
        let after = server
            .hits()
            .iter()
            .filter(|h| h.seq > boundary && pair(&h.path) == Some((run.clone(), step.clone())))
            .count();
        assert_eq!(after, 1, "{run}/{step} repeated before the kill");
    }
    eprintln!(
        "{RUNS} runs on 3 processes, one killed: {} step executions repeated",
        repeated.len()
    );
    pg.drop_schema().await;
}

/// A concurrency key holds across processes: runs of one key never overlap, however many
/// worker processes claim them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_key_holds_across_processes() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(20))).await;
    let ws = Workspace::with_database(&pg.url);
    let pb = ws.write_playbook("provision", &playbook(&server.url, true));
    let people = (0..40)
        .map(|i| {
            let mut p = person(&format!("P{i:03}"));
            p["department"] = serde_json::json!(format!("D{}", i % 4));
            p
        })
        .collect();
    let runs = ws.enqueue(&pb, people).await;
    let args = ["--concurrency", "8", "--idle-check", "50ms"];
    let mut workers: Vec<_> = (0..3).map(|_| ws.spawn_worker(&args)).collect();
    crate::support::eventually(Duration::from_secs(60), "every run to finish", || async {
        let s = statuses(&pg).await;
        (s.len() == runs.len() && s.values().all(|s| s == "succeeded")).then_some(())
    })
    .await;
    for w in &mut workers {
        w.kill().await;
    }
    for d in 0..4 {
        assert_eq!(server.max_in_flight(&format!("D{d}")), 1, "D{d} overlapped");
    }
    pg.drop_schema().await;
}

/// Tests that read the SQLite file itself (its bytes, or its tables through rusqlite): they
/// check SQLite's storage, not the engine, and are not run again on PostgreSQL.
const SQLITE_FILE_TESTS: &[&str] = &[
    "postgres::",
    "console_browser::",
    "email::a_secret_output_reaches_the_mail_and_nothing_else",
    "imports::a_changed_department_is_one_change_and_terminated_is_a_leaver",
    "imports::row_errors_name_row_and_column_and_the_rest_is_imported",
    "imports::the_same_file_twice_starts_nothing_twice",
    "plan::a_csv_plan_lists_invalid_rows_and_the_import_then_does_what_it_listed",
];

/// The whole suite again with every workspace and test store on PostgreSQL: this test binary
/// runs itself with `ROSTER_TEST_BACKEND=postgres`, each test in a fresh schema, and the
/// schemas are dropped at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_suite_passes_on_postgres() {
    if std::env::var("ROSTER_TEST_BACKEND").is_ok() {
        return;
    }
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let prefix = format!("n{}_", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let mut args = vec!["--test-threads".to_string(), "2".to_string()];
    for skip in SQLITE_FILE_TESTS {
        args.push("--skip".into());
        args.push(skip.to_string());
    }
    let out = tokio::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(&args)
        .env("ROSTER_TEST_BACKEND", "postgres")
        .env("ROSTER_TEST_SCHEMA_PREFIX", &prefix)
        .output()
        .await
        .expect("run the suite on PostgreSQL");
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(&prefix)
            .fetch_all(&pg.pool)
            .await
            .expect("the suite's schemas");
    for s in &schemas {
        sqlx::query(&format!("DROP SCHEMA {s} CASCADE"))
            .execute(&pg.pool)
            .await
            .expect("drop a schema of the suite");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result") || l.ends_with("FAILED"))
        .collect();
    assert!(
        out.status.success(),
        "the suite failed on PostgreSQL:\n{}\n{}",
        summary.join("\n"),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!("on PostgreSQL: {}", summary.join(" "));
    pg.drop_schema().await;
}

const ONBOARD: &str = r#"
name: onboard
on: [ { manual: {} } ]
steps:
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: "${{ person.primary_email }}"
      display_name: "${{ person.full_name }}"
      employee_id: "${{ person.employee_id }}"
      department: Engineering
      usage_location: DE
      on_conflict: adopt
  - id: profile
    uses: entra.update_user
    with: { user: "${{ steps.account.id }}", set: { jobTitle: Engineer } }
  - id: groups
    uses: entra.add_to_groups
    with: { user: "${{ steps.account.id }}", groups: ["All Staff"] }
"#;

/// The issue's scale-out scenario: one `roster serve` (taking the submissions over its API)
/// and three `roster worker` processes on one PostgreSQL database onboard 2,000 people into
/// the sandbox; one worker is killed with SIGKILL in the middle. Every run succeeds and the
/// sandbox holds exactly 2,000 new users, each in its group once. (The sandbox's seed has
/// licences for a few hundred users, so this workload sets a profile field instead.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_three_workers_onboard_2000_people_into_the_sandbox() {
    use crate::support_sandbox::{start as start_sandbox, users, write_config, Credential};
    use crate::support_serve::{create_token, write_playbook, Serve};
    const PEOPLE: usize = 2000;
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sandbox = start_sandbox(roster::sandbox::FaultConfig::default()).await;
    let before = users(&sandbox).len();
    let ws = Workspace::with_database(&pg.url);
    write_config(&ws, &sandbox, Credential::Secret);
    write_playbook(&ws, "onboard", ONBOARD);
    let token = create_token(&ws, "ops").await;
    let serve = Serve::start(&ws, &["--concurrency", "16", "--lease", "3s"])
        .await
        .with_token(&token);
    let args = [
        "--lease",
        "3s",
        "--concurrency",
        "16",
        "--idle-check",
        "100ms",
    ];
    let mut workers: Vec<_> = (0..3).map(|_| ws.spawn_worker(&args)).collect();

    // Submissions over the API, a few at a time.
    let people: Vec<usize> = (0..PEOPLE).collect();
    for (n, chunk) in people.chunks(8).enumerate() {
        let posts = chunk.iter().map(|i| {
            let person = serde_json::json!({
                "id": format!("E{i:05}"), "employee_id": format!("E{i:05}"),
                "full_name": format!("Employee {i}"), "primary_email": format!("emp{i:05}@contoso.com"),
            });
            let serve = &serve;
            async move {
                serve
                    .post(
                        "/api/v1/runs",
                        &serde_json::json!({ "playbook": "onboard", "person": person }),
                    )
                    .await
            }
        });
        for (code, body) in futures_util::future::join_all(posts).await {
            assert_eq!(code, 201, "{body:#}");
        }
        // (The sandbox's state is a copy of every user: looked at now and then.)
        if n % 20 == 0
            && workers[0].child.id().is_some()
            && users(&sandbox).len() >= before + PEOPLE / 3
        {
            workers[0].kill().await;
        }
    }
    if workers[0].child.id().is_some() {
        crate::support::eventually(Duration::from_secs(120), "a third of the users", || async {
            (users(&sandbox).len() >= before + PEOPLE / 3).then_some(())
        })
        .await;
        workers[0].kill().await;
    }
    let done = crate::support::eventually(Duration::from_secs(240), "every run to end", || async {
        let s = statuses(&pg).await;
        let ended = ["succeeded", "failed", "cancelled"];
        (s.len() == PEOPLE && s.values().all(|s| ended.contains(&s.as_str()))).then_some(s)
    })
    .await;
    let failed: Vec<_> = done.iter().filter(|(_, s)| *s != "succeeded").collect();
    assert!(
        failed.is_empty(),
        "runs not succeeded: {failed:?}\n{}",
        serve.log()
    );
    for w in workers.iter_mut().skip(1) {
        w.kill().await;
    }

    let all = users(&sandbox);
    let upns: Vec<&str> = all
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .filter(|u| u.starts_with("emp"))
        .collect();
    let distinct: HashSet<&str> = upns.iter().copied().collect();
    assert_eq!(all.len(), before + PEOPLE, "users in the sandbox");
    assert_eq!(
        (upns.len(), distinct.len()),
        (PEOPLE, PEOPLE),
        "no duplicates"
    );
    let new_ids: HashSet<&str> = all
        .iter()
        .filter(|u| {
            u["userPrincipalName"]
                .as_str()
                .is_some_and(|n| n.starts_with("emp"))
        })
        .filter_map(|u| u["id"].as_str())
        .collect();
    let members = crate::support_sandbox::group_members(&sandbox, "All Staff");
    let joined: Vec<&String> = members
        .iter()
        .filter(|m| new_ids.contains(m.as_str()))
        .collect();
    let once: HashSet<&&String> = joined.iter().collect();
    assert_eq!(
        (joined.len(), once.len()),
        (PEOPLE, PEOPLE),
        "every new user in All Staff once"
    );
    pg.drop_schema().await;
}

/// A schedule tick fires once however many processes fire it at the same moment: eight stores
/// (eight pools, as eight processes would have) race for each of 20 ticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_schedule_tick_fires_once_across_processes() {
    use roster::store::{Dispatch, NewEvent};
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..8 {
        stores.push(
            Store::open(&pg.url, &StoreOptions::default())
                .await
                .expect("open"),
        );
    }
    for tick in 0..20i64 {
        let races = stores.iter().enumerate().map(|(p, store)| {
            let event = NewEvent {
                id: format!("ev-{tick}-{p}"),
                idempotency_key: format!("tick:{tick}:{p}"),
                kind: "schedule.tick".into(),
                source: None,
                subject_id: None,
                body: serde_json::json!({ "type": "schedule.tick" }),
                received_at: 1,
            };
            let dispatches = vec![Dispatch::Filtered {
                playbook: "nightly".into(),
            }];
            store.fire_tick("nightly".into(), tick * 60_000, event, dispatches, 1)
        });
        let fired = futures_util::future::join_all(races)
            .await
            .into_iter()
            .map(|r| r.expect("fire_tick"))
            .filter(Option::is_some)
            .count();
        assert_eq!(fired, 1, "tick {tick} fired {fired} times");
    }
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pg.pool)
        .await
        .unwrap();
    assert_eq!(events, 20);
    for s in &stores {
        s.close().await;
    }
    pg.drop_schema().await;
}

/// A run that ends keeps no usable secret on PostgreSQL either: the generated password is
/// sealed while the run is parked and erased once it ends (written by the batched writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_erased_when_a_run_ends_on_postgres() {
    use crate::support_sandbox::{start as start_sandbox, write_config, Credential};
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sandbox = start_sandbox(roster::sandbox::FaultConfig::default()).await;
    let ws = Workspace::with_database(&pg.url);
    write_config(&ws, &sandbox, Credential::Secret);
    let yaml = r#"
name: onboard
on: [ { manual: {} } ]
steps:
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: "ada.lovelace@contoso.com"
      display_name: "Ada Lovelace"
      employee_id: "E1"
  - id: after
    uses: script
    with: { code: '#{ done: true }' }
"#;
    let who = serde_json::json!({ "id": "E1", "employee_id": "E1", "full_name": "Ada Lovelace" });
    let (code, shown, stderr) = ws.run_json(yaml, &who, &[]).await;
    assert_eq!(code, 0, "{shown:#}\n{stderr}");
    let run = shown["run"]["id"].as_str().expect("run id");
    let stored = ws.db().await.step_outputs(run, "account").await;
    assert!(stored.contains("\"$secret\":\"erased\""), "{stored}");
    assert!(!stored.contains("v1:"), "{stored}");
    pg.drop_schema().await;
}

/// A lost database connection does not fail runs: for a second, the server terminates every
/// connection of a worker process executing 300 runs; its step commits are written again once
/// it reconnects, its claims wait, its listener reconnects, and every run succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_out_lost_connections() {
    const RUNS: usize = 300;
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let server = TestServer::start(|_| Reply::ok().delay(Duration::from_millis(10))).await;
    let app = format!(
        "roster_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let url = format!("{}&application_name={app}", pg.url);
    let ws = Workspace::with_database(&url);
    let pb = ws.write_playbook("provision", &playbook(&server.url, false));
    let people = (0..RUNS).map(|i| person(&format!("P{i:04}"))).collect();
    let runs = ws.enqueue(&pb, people).await;
    let mut worker = ws.spawn_worker(&["--concurrency", "16", "--idle-check", "100ms"]);
    server
        .wait_for_hits((RUNS * STEPS.len() / 4) as u64, Duration::from_secs(60))
        .await;
    // For a second, every connection the worker has (pool, listener) is terminated as soon
    // as it appears, in the middle of its statements.
    let mut terminated = 0;
    let until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < until {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_all(&pg.pool)
        .await
        .expect("terminate the worker's connections");
        terminated += killed.len();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(terminated > 0, "the worker had no connection to terminate");
    let done = crate::support::eventually(Duration::from_secs(120), "every run to end", || async {
        let s = statuses(&pg).await;
        let ended = ["succeeded", "failed", "cancelled"];
        (s.len() == RUNS && s.values().all(|s| ended.contains(&s.as_str()))).then_some(s)
    })
    .await;
    let log = worker.log();
    worker.kill().await;
    eprintln!("{terminated} connections terminated; the worker's log:\n{log}");
    let failed: Vec<_> = done.iter().filter(|(_, s)| *s != "succeeded").collect();
    assert!(failed.is_empty(), "runs not succeeded: {failed:?}\n{log}");
    assert_eq!(done.len(), runs.len());
    pg.drop_schema().await;
}
