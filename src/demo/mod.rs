//! `roster demo`: the whole product in under a minute on a fresh machine. It starts the
//! sandbox (Entra tenant, Google directory, HR system), runs `roster serve` on SQLite against
//! it with the shipped playbooks, uploads the example HR CSV through the API, lets two Google
//! users join, moves one to another department, suspends the other, and prints what happened —
//! read back from the sandbox and the database, not from the demo's own bookkeeping.

mod summary;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::app::{self, ServeOptions};
use crate::cli::sandboxed;
use crate::clock::now_ms;
use crate::config::Config;
use crate::connectors::Connections;
use crate::engine::WorkerOptions;
use crate::store::{Store, StoreOptions};

/// The playbooks the demo serves (those a Google poll and an HR upload fire).
const PLAYBOOKS: &[(&str, &str)] = &[
    (
        "onboard-from-google.yaml",
        include_str!("../../playbooks/onboard-from-google.yaml"),
    ),
    (
        "onboard-from-hr-csv.yaml",
        include_str!("../../playbooks/onboard-from-hr-csv.yaml"),
    ),
    ("mover.yaml", include_str!("../../playbooks/mover.yaml")),
    (
        "offboard.yaml",
        include_str!("../../playbooks/offboard.yaml"),
    ),
];
const CSV: &[u8] = include_bytes!("../../examples/hr-new-hires.csv");
const EXAMPLE_CONFIG: &str = include_str!("../../examples/roster.yaml");
const USERS: &str = "/admin/directory/v1/users";

/// Runs the demo in `dir` (its database, config and playbooks stay there to look at).
pub async fn run(dir: &Path) -> anyhow::Result<i32> {
    let started = Instant::now();
    let dir = prepare(dir)?;
    println!("Roster demo in {}\n", dir.display());
    let sandbox = sandboxed::start().await?;
    println!(
        "· sandbox (Entra ID, Google Workspace, HR API) at {}",
        sandbox.url()
    );
    let config = sandboxed::config(config(&dir)?, &sandbox);
    let db = format!("sqlite://{}", dir.join("roster.db").display());

    let (bound_tx, bound_rx) = oneshot::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let options = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        playbooks: Some(dir.join("playbooks")),
        worker: WorkerOptions {
            idle_check: Duration::from_millis(100),
            ..WorkerOptions::default()
        },
        shutdown_timeout: Duration::from_secs(5),
    };
    let server = {
        let (config, db) = (config.clone(), db.clone());
        tokio::spawn(async move {
            app::serve(
                config,
                &db,
                options,
                move |a| {
                    let _ = bound_tx.send(a);
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
            .await
        })
    };
    let addr = bound_rx.await.context("roster serve did not start")?;
    let base = format!("http://{addr}");
    println!(
        "· roster serve on {base} (SQLite {}, {} playbooks)",
        dir.join("roster.db").display(),
        PLAYBOOKS.len()
    );
    let store = Store::open(&db, &StoreOptions::default()).await?;
    let token = crate::api::auth::issue(
        &store,
        &format!("demo-{}", now_ms()),
        crate::api::auth::TokenScope::Api,
    )
    .await?
    .token;
    let http = reqwest::Client::new();
    let google = Connections::from_config(&config, &http)?;
    let google = google
        .google("google")
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // The Google poller's first pass records the directory as it is (no runs for old staff).
    wait_for(
        &store,
        "the first Google poll",
        "SELECT COUNT(*) FROM subjects WHERE source = 'google'",
        1,
    )
    .await?;

    // 1. HR uploads its new hires.
    let report: Value = http
        .post(format!("{base}/api/v1/imports?profile=new-hires"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(CSV)
        .send()
        .await?
        .json()
        .await?;
    let c = &report["counts"];
    println!(
        "· uploaded examples/hr-new-hires.csv: {} rows → {} joined, {} remembered without a run",
        c["rows"], c["joined"], c["baseline"]
    );
    settle(&store).await?;

    // 2. Two people join in Google Workspace.
    for (given, family, email, eid, ou, dept, title, location) in [
        (
            "Zoë",
            "Ångström",
            "zoe.angstrom",
            "E7001",
            "/Engineering",
            "Engineering",
            "Site Reliability Engineer",
            "Berlin",
        ),
        (
            "Karl",
            "Nguyen",
            "karl.nguyen",
            "E7002",
            "/Sales",
            "Sales",
            "Account Manager",
            "London",
        ),
    ] {
        let body = json!({
            "primaryEmail": format!("{email}@contoso.com"),
            "name": { "givenName": given, "familyName": family },
            "password": "Demo-only-Passw0rd!",
            "orgUnitPath": ou,
            "externalIds": [{ "type": "organization", "value": eid }],
            "organizations": [{ "primary": true, "department": dept, "title": title, "location": location }],
        });
        google.directory(Method::POST, USERS, Some(&body)).await?;
    }
    println!("· Zoë Ångström and Karl Nguyen joined in Google Workspace");
    wait_for(
        &store,
        "the joiners' runs",
        "SELECT COUNT(*) FROM runs WHERE playbook = 'onboard-from-google'",
        2,
    )
    .await?;
    settle(&store).await?;

    // 3. Zoë moves to Sales; Karl is suspended.
    let moved = json!({ "organizations": [{ "primary": true, "department": "Sales", "title": "Sales Engineer", "location": "Berlin" }] });
    google
        .directory(
            Method::PATCH,
            &format!("{USERS}/zoe.angstrom@contoso.com"),
            Some(&moved),
        )
        .await?;
    google
        .directory(
            Method::PATCH,
            &format!("{USERS}/karl.nguyen@contoso.com"),
            Some(&json!({ "suspended": true })),
        )
        .await?;
    println!("· Zoë moved from Engineering to Sales; Karl was suspended");
    wait_for(
        &store,
        "the mover and leaver runs",
        "SELECT COUNT(*) FROM runs WHERE playbook IN ('mover', 'offboard')",
        2,
    )
    .await?;
    settle(&store).await?;

    let text = summary::render(&store, &sandbox.state(), &base).await?;
    let _ = stop_tx.send(());
    server.await??;
    sandbox.shutdown().await;
    println!("\n{text}");
    println!("Finished in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(0)
}

/// A fresh demo directory: the playbooks written out, an old database removed.
fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir.join("playbooks"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for f in ["roster.db", "roster.db-wal", "roster.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for (name, text) in PLAYBOOKS {
        std::fs::write(dir.join("playbooks").join(name), text)?;
    }
    Ok(std::fs::canonicalize(dir)?)
}

/// The demo's roster.yaml: the example's import profiles, a Google poll every second.
fn config(dir: &Path) -> anyhow::Result<Config> {
    let imports = EXAMPLE_CONFIG
        .find("\nimports:")
        .map(|i| &EXAMPLE_CONFIG[i + 1..])
        .unwrap_or_default();
    let yaml = format!(
        "# Written by `roster demo`; the connections pointed at its in-process sandbox.\n\
         triggers:\n  google:\n    interval: 1s\n{imports}"
    );
    std::fs::write(dir.join("roster.yaml"), &yaml)?;
    Config::from_parts("roster.yaml", Some(&yaml), &[], dir.to_path_buf())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Waits until `sql` counts at least `n`.
async fn wait_for(store: &Store, what: &str, sql: &str, n: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: i64 = sqlx::query_scalar(sql).fetch_one(sqlite(store)?).await?;
        if got >= n {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no run is queued, running or retrying soon (parked ones may stay parked).
async fn settle(store: &Store) -> anyhow::Result<()> {
    let sql = "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running') \
               OR (status = 'waiting' AND wake_at < ?)";
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let busy: i64 = sqlx::query_scalar(sql)
            .bind(now_ms() + 60_000)
            .fetch_one(sqlite(store)?)
            .await?;
        if busy == 0 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "runs did not settle within 40 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The demo's database is always SQLite (it creates it); its summary reads it directly.
pub(crate) fn sqlite(store: &Store) -> anyhow::Result<&sqlx::SqlitePool> {
    store
        .sqlite_pool()
        .ok_or_else(|| anyhow::anyhow!("the demo runs on SQLite"))
}
