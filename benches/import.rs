//! The CSV import benchmark (`cargo bench --bench import`).
//!
//! Generates a 10,000-row HR export and imports it through `POST /api/v1/imports` (the
//! `imports::router`, served on a loopback port) into a fresh SQLite store with the default
//! durability (WAL, synchronous=FULL): parse, validate, diff against `subjects`, record the
//! events and enqueue the runs of a small playbook (no worker executes them). The clock runs
//! from the start of the upload to the answer, which is sent after the last batch is committed.
//! Scenarios, each in a fresh child process (this binary with `--child`) so that its peak RSS
//! is its own:
//!
//! - `parse`: the baseline, `imports::prepare` only (parse and validate; no store, no HTTP);
//! - `first`: every row joins and starts a run;
//! - `again`: the same file a second time (imported once, untimed, before): all unchanged;
//! - `changed`: a file where 10 % of the rows have a new department: that many changes and runs.
//!
//! ```text
//! cargo bench --bench import                   # 10,000 rows, 3 repetitions
//! cargo bench --bench import -- --rows 50000 --reps 1
//! ```
//! A table goes to stdout, a JSON summary to `target/bench-import.json`.

#[allow(dead_code)]
#[path = "onboarding/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context as _, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use roster::config::Config;
use roster::engine::Engine;
use roster::imports::{self, ImportDeps, Upload};
use roster::store::{Store, StoreOptions};

const SCENARIOS: &[&str] = &["parse", "first", "again", "changed"];

const CONFIG: &str = r#"
imports:
  hr:
    source: hr
    key: Employee ID
    columns:
      Employee ID: { field: employee_id, required: true }
      First Name: { field: given_name, required: true, case: title, pattern: "^[\\p{L}' -]+$" }
      Last Name: { field: family_name, required: true }
      Email: { field: primary_email, case: lower }
      Department: { field: department, required: true, one_of: [Engineering, Finance, Sales, Research] }
      Location: { field: location, map: { NYC: New York } }
      Start Date: { field: start_date, date_formats: ["%m/%d/%Y"] }
      Status: { field: status }
"#;

const PLAYBOOK: &str = r#"
name: bench-joiner
on:
  - person.joined: { source: hr }
  - person.changed: { source: hr, fields: [department] }
concurrency: person.id
vars:
  local_part: email_local(person.given_name, person.family_name)
steps:
  - id: hello
    uses: script
    with: { code: '#{ hi: person.given_name }' }
"#;

#[derive(Parser, Debug)]
#[command(name = "import", about = "Roster's CSV import benchmark")]
struct Args {
    /// Rows in the generated file.
    #[arg(long, default_value_t = 10_000)]
    rows: usize,
    /// Repetitions of every scenario.
    #[arg(long, default_value_t = 3)]
    reps: usize,

    // Passed by `cargo bench`, and the arguments of a child measurement.
    #[arg(long, hide = true)]
    bench: bool,
    #[arg(long, hide = true)]
    child: Option<String>,
    #[arg(long, hide = true)]
    dir: Option<PathBuf>,
    /// Name filters cargo may pass on; ignored.
    #[arg(hide = true)]
    filters: Vec<String>,
}

/// What one child reports.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct Measurement {
    scenario: String,
    rows: usize,
    wall_s: f64,
    rows_per_s: f64,
    peak_rss_mib: f64,
    /// Events recorded and runs enqueued by the timed import.
    events: u64,
    runs: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(scenario) = &args.child {
        let dir = args
            .dir
            .as_deref()
            .ok_or_else(|| anyhow!("--child needs --dir"))?;
        let m = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(child(scenario, dir, args.rows))?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let tmp = tempfile::Builder::new()
        .prefix("roster-bench-import-")
        .tempdir()?;
    std::fs::write(tmp.path().join("hr.csv"), csv(args.rows, false))?;
    std::fs::write(tmp.path().join("hr-changed.csv"), csv(args.rows, true))?;
    let (cpus, mem_kib, model) = process::machine();
    eprintln!(
        "{} rows, {} KiB file; {cpus} CPUs ({model}), {} MiB; load {:.2}",
        args.rows,
        std::fs::metadata(tmp.path().join("hr.csv"))?.len() / 1024,
        mem_kib / 1024,
        process::load_average()
    );
    let mut all: Vec<Measurement> = Vec::new();
    for scenario in SCENARIOS {
        for rep in 0..args.reps.max(1) {
            let _ = std::fs::remove_file(tmp.path().join("roster.db"));
            let _ = std::fs::remove_file(tmp.path().join("roster.db-wal"));
            let _ = std::fs::remove_file(tmp.path().join("roster.db-shm"));
            let m = measure(scenario, tmp.path(), args.rows)
                .with_context(|| format!("scenario {scenario}, repetition {}", rep + 1))?;
            eprintln!(
                "  {scenario:<8} rep {}: {:>8.3} s  {:>9.0} rows/s  {:>6.1} MiB  {} events, {} runs",
                rep + 1,
                m.wall_s,
                m.rows_per_s,
                m.peak_rss_mib,
                m.events,
                m.runs
            );
            all.push(m);
        }
    }
    println!(
        "\n| scenario | rows | wall s (median, min–max) | rows/s (median) | peak RSS MiB | events | runs |"
    );
    println!("|---|---|---|---|---|---|---|");
    for scenario in SCENARIOS {
        let mut ms: Vec<&Measurement> = all.iter().filter(|m| m.scenario == *scenario).collect();
        ms.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
        let (Some(first), Some(last)) = (ms.first(), ms.last()) else {
            continue;
        };
        let median = ms[ms.len() / 2];
        println!(
            "| {scenario} | {} | {:.3} ({:.3}–{:.3}) | {:.0} | {:.1} | {} | {} |",
            median.rows,
            median.wall_s,
            first.wall_s,
            last.wall_s,
            median.rows_per_s,
            median.peak_rss_mib,
            median.events,
            median.runs
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let json_path = target.join("bench-import.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&all)?)?;
    eprintln!("JSON written to {}", json_path.display());
    Ok(())
}

fn measure(scenario: &str, dir: &Path, rows: usize) -> Result<Measurement> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--child", scenario, "--rows", &rows.to_string(), "--dir"])
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()?;
    ensure!(out.status.success(), "the child failed: {}", out.status);
    let line = String::from_utf8(out.stdout)?;
    Ok(serde_json::from_str(line.trim())?)
}

/// The HR export: `changed` moves every tenth person to another department.
fn csv(rows: usize, changed: bool) -> String {
    const DEPARTMENTS: [&str; 3] = ["Engineering", "Finance", "Sales"];
    let mut out = String::from(
        "\u{feff}Employee ID,First Name,Last Name,Email,Department,Location,Start Date,Status\r\n",
    );
    for i in 0..rows {
        let department = if changed && i % 10 == 0 {
            "Research"
        } else {
            DEPARTMENTS[i % 3]
        };
        out.push_str(&format!(
            "E{i:06},ada,\"Lovelace-{}\",Ada.Lovelace{i}@Example.com,{department},NYC,{:02}/{:02}/2024,Active\r\n",
            (b'A' + (i % 26) as u8) as char,
            1 + i % 12,
            1 + i % 28,
        ));
    }
    out
}

async fn child(scenario: &str, dir: &Path, rows: usize) -> Result<Measurement> {
    let config = Config::from_parts("bench.yaml", Some(CONFIG), &[], dir.to_path_buf())?;
    let base = std::fs::read(dir.join("hr.csv"))?;
    let changed = std::fs::read(dir.join("hr-changed.csv"))?;
    let upload = Upload {
        profile: "hr".into(),
        file_name: None,
        dry_run: false,
    };
    if scenario == "parse" {
        let t0 = Instant::now();
        let prepared = imports::prepare(imports::profile(&config, "hr")?, &upload, &base)?;
        let wall_s = t0.elapsed().as_secs_f64();
        ensure!(
            prepared.rows() == rows as u64,
            "parsed {} rows",
            prepared.rows()
        );
        return measurement(scenario, rows, wall_s, 0, 0);
    }
    let db = dir.join("roster.db");
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &StoreOptions::default(),
    )
    .await?;
    let engine = Arc::new(Engine::new(store));
    let pb = roster::playbook::load_text("bench-joiner.yaml", PLAYBOOK, engine.scripting())
        .map_err(|d| anyhow!("the benchmark playbook does not compile:\n{d}"))?;
    let deps = ImportDeps {
        playbooks: Arc::new(vec![engine.register(pb).await?]),
        engine: engine.clone(),
        config: Arc::new(config),
    };
    if scenario != "first" {
        let r = imports::import(&deps, &upload, &base, &|_| {}).await?;
        ensure!(r.counts.joined == rows as u64, "the untimed first import");
    }
    let body = if scenario == "changed" { changed } else { base };
    let (events_before, runs_before) = totals(&engine).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/api/v1/imports?profile=hr",
        listener.local_addr()?
    );
    let router = imports::router(deps);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let res = http
        .post(&url)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let report: Value = res.json().await?;
    let wall_s = t0.elapsed().as_secs_f64();
    server.abort();
    ensure!(status == 200, "the upload answered {status}: {report}");

    let (events, runs) = totals(&engine).await?;
    let (events, runs) = (events - events_before, runs - runs_before);
    let c = &report["counts"];
    let expected = match scenario {
        "first" => ("joined", rows as u64),
        "again" => ("unchanged", rows as u64),
        _ => ("changed", rows.div_ceil(10) as u64),
    };
    ensure!(
        c[expected.0] == expected.1 && c["invalid"] == 0,
        "expected {} {}, got {c}",
        expected.1,
        expected.0
    );
    let expected_runs = if scenario == "again" { 0 } else { expected.1 };
    ensure!(
        events == expected_runs && runs == expected_runs,
        "the store holds {events} new events and {runs} new runs, expected {expected_runs}"
    );
    measurement(scenario, rows, wall_s, events, runs)
}

async fn totals(engine: &Engine) -> Result<(u64, u64)> {
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events")
        .fetch_one(engine.store().sqlite_pool().expect("a SQLite store"))
        .await?;
    let (runs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs")
        .fetch_one(engine.store().sqlite_pool().expect("a SQLite store"))
        .await?;
    Ok((events as u64, runs as u64))
}

fn measurement(
    scenario: &str,
    rows: usize,
    wall_s: f64,
    events: u64,
    runs: u64,
) -> Result<Measurement> {
    Ok(Measurement {
        scenario: scenario.into(),
        rows,
        wall_s,
        rows_per_s: rows as f64 / wall_s,
        peak_rss_mib: process::peak_rss_kib()? as f64 / 1024.0,
        events,
        runs,
    })
}
