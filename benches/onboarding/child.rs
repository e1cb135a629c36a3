//! One measurement of Roster, in a process of its own so that its peak RSS is its own.
//!
//! The parent re-executes the bench binary with `--child`; this module opens a fresh SQLite
//! store (the default options: WAL, synchronous=FULL), registers the onboarding playbook,
//! submits N people in one `start_many` and lets one `Worker` execute them, then checks what
//! fakegraph counted and what the store holds, and prints one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use roster::engine::status::RunStatus;
use roster::engine::{Engine, Worker, WorkerOptions};
use roster::store::{Store, StoreOptions};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::process::{cpu_ticks, peak_rss_kib};
use crate::servers::{check_stats, reset_stats};

/// No measurement may take longer than this; a stuck run fails the benchmark loudly.
const DEADLINE: Duration = Duration::from_secs(300);

/// What one child reports.
#[derive(Debug, Serialize, serde::Deserialize, Clone)]
pub struct Measurement {
    pub runs: usize,
    pub concurrency: usize,
    /// From just before `start_many` until the last run succeeded.
    pub wall_s: f64,
    /// How long `start_many` (one transaction of N runs) took, included in `wall_s`.
    pub submit_s: f64,
    pub runs_per_s: f64,
    pub steps_per_s: f64,
    /// VmHWM of the child process.
    pub peak_rss_mib: f64,
    /// User + system CPU of the whole child process (setup included).
    pub cpu_s: f64,
    /// User + system CPU during the measured interval only.
    pub cpu_window_s: f64,
    /// Runs that parked on a retry timer at least once (0 in a clean measurement).
    pub parked: usize,
}

/// The workload's playbook: five sequential `http.request` steps, each expecting its status.
pub fn playbook_text(base: &str) -> String {
    format!(
        r#"name: bench-onboard
description: The onboarding benchmark workload (shared/bench/README.md).
on: [ {{ manual: {{}} }} ]
steps:
  - id: create
    uses: http.request
    with:
      method: POST
      url: "{base}/v1.0/users"
      json:
        accountEnabled: true
        displayName: "${{{{ person.full_name }}}}"
        mailNickname: "${{{{ person.custom.mailNickname }}}}"
        userPrincipalName: "${{{{ person.primary_email }}}}"
        passwordProfile: {{ forceChangePasswordNextSignIn: true, password: "x" }}
      expect: [201]
  - id: group
    uses: http.request
    with:
      method: POST
      url: "{base}/v1.0/groups/grp-onboarding/members/$ref"
      json:
        "@odata.id": "https://graph.example.test/v1.0/directoryObjects/${{{{ steps.create.body.id }}}}"
      expect: [204]
  - id: license
    uses: http.request
    with:
      method: POST
      url: "{base}/v1.0/users/${{{{ steps.create.body.id }}}}/assignLicense"
      json:
        addLicenses: [ {{ skuId: sku-e3, disabledPlans: [] }} ]
        removeLicenses: []
      expect: [200]
  - id: profile
    uses: http.request
    with:
      method: PATCH
      url: "{base}/v1.0/users/${{{{ steps.create.body.id }}}}"
      json:
        department: "${{{{ person.department }}}}"
        jobTitle: "${{{{ person.title }}}}"
        usageLocation: US
      expect: [204]
  - id: writeback
    uses: http.request
    with:
      method: PATCH
      url: "{base}/hr/employees/${{{{ person.employee_id }}}}"
      json:
        directoryId: "${{{{ steps.create.body.id }}}}"
        upn: "${{{{ person.primary_email }}}}"
        status: provisioned
      expect: [204]
"#
    )
}

/// Row `i` of the synthetic HR import.
pub fn person(i: usize) -> Value {
    json!({
        "id": format!("E{i:05}"),
        "employee_id": format!("E{i:05}"),
        "primary_email": format!("emp{i:05}@contoso.test"),
        "full_name": format!("Employee {i}"),
        "department": "Engineering",
        "title": "Engineer",
        "custom": { "mailNickname": format!("emp{i:05}") },
    })
}

pub fn run(url: &str, db: &Path, runs: usize, concurrency: usize, clk_tck: u64) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let m = rt.block_on(measure(url, db, runs, concurrency, clk_tck))?;
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

async fn measure(
    url: &str,
    db: &Path,
    runs: usize,
    concurrency: usize,
    clk_tck: u64,
) -> Result<Measurement> {
    let http = reqwest::Client::new();
    reset_stats(&http, url).await?;
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &StoreOptions::default(),
    )
    .await?;
    let engine = Arc::new(Engine::new(store));
    let pb = roster::playbook::load_text(
        "bench-onboard.yaml",
        &playbook_text(url),
        engine.scripting(),
    )
    .map_err(|d| anyhow!("the benchmark playbook does not compile:\n{d}"))?;
    let pb = engine.register(pb).await?;
    let people: Vec<(Value, Option<String>)> = (0..runs).map(|i| (person(i), None)).collect();

    let mut changes = engine.subscribe();
    let (stop, stop_rx) = watch::channel(false);
    let options = WorkerOptions {
        concurrency,
        ..Default::default()
    };
    let worker = tokio::spawn(Worker::new(engine.clone(), options).run(stop_rx));

    let cpu_before = cpu_ticks()?;
    let t0 = Instant::now();
    let ids = engine.start_many(&pb, people).await?;
    let submit_s = t0.elapsed().as_secs_f64();
    ensure!(
        ids.iter().all(Option::is_some),
        "start_many did not start every run"
    );
    let waited = wait_for_all(&engine, &mut changes, runs, t0 + DEADLINE).await;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_after = cpu_ticks()?;
    let _ = stop.send(true);
    let stopped = worker.await;
    let parked = waited?;
    stopped.context("worker task")??;

    check_stats(&http, url, runs).await?;
    let (steps_done,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM steps WHERE status = 'succeeded'")
            .fetch_one(engine.store().sqlite_pool().expect("a SQLite store"))
            .await?;
    ensure!(
        steps_done == 5 * runs as i64,
        "the store holds {steps_done} succeeded steps, expected {}",
        5 * runs
    );
    let cpu_end = cpu_ticks()?;
    let tck = clk_tck as f64;
    Ok(Measurement {
        runs,
        concurrency,
        wall_s,
        submit_s,
        runs_per_s: runs as f64 / wall_s,
        steps_per_s: 5.0 * runs as f64 / wall_s,
        peak_rss_mib: peak_rss_kib()? as f64 / 1024.0,
        cpu_s: cpu_end as f64 / tck,
        cpu_window_s: (cpu_after - cpu_before) as f64 / tck,
        parked,
    })
}

/// Waits until `runs` runs have succeeded; fails on the first run that ends otherwise.
/// Returns how many times a run parked (a retry), which a clean measurement never does.
async fn wait_for_all(
    engine: &Engine,
    changes: &mut broadcast::Receiver<roster::engine::RunChange>,
    runs: usize,
    deadline: Instant,
) -> Result<usize> {
    let mut succeeded = 0usize;
    let mut parked = 0usize;
    while succeeded < runs {
        let next = tokio::time::timeout_at(deadline.into(), changes.recv()).await;
        match next {
            Err(_) => bail!(
                "timed out after {DEADLINE:?}: {succeeded} of {runs} runs succeeded; by status: {:?}",
                engine.store().run_counts().await?
            ),
            Ok(Ok(change)) => match change.status {
                RunStatus::Succeeded => succeeded += 1,
                RunStatus::Waiting => parked += 1,
                RunStatus::Running | RunStatus::Queued => {}
                other => {
                    let run = engine.store().run(&change.run_id).await?;
                    bail!(
                        "run {} ended {other}: {}",
                        change.run_id,
                        run.error.unwrap_or_default()
                    );
                }
            },
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                // Missed notifications: count from the database instead.
                let counts = engine.store().run_counts().await?;
                for (status, n) in &counts {
                    if !matches!(
                        status,
                        RunStatus::Succeeded
                            | RunStatus::Running
                            | RunStatus::Queued
                            | RunStatus::Waiting
                    ) && *n > 0
                    {
                        bail!("{n} runs ended {status}; by status: {counts:?}");
                    }
                }
                succeeded = counts
                    .iter()
                    .find(|(s, _)| *s == RunStatus::Succeeded)
                    .map_or(0, |(_, n)| *n as usize);
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                bail!("the engine's change channel closed")
            }
        }
    }
    Ok(parked)
}
