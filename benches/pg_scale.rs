//! The onboarding benchmark on PostgreSQL, across processes (`cargo bench --bench pg_scale`).
//!
//! The workload of `shared/bench/README.md` (N onboarding runs, five sequential `http.request`
//! steps against fakegraph, each committed before the next starts), executed by 1, 2 and 4
//! `roster worker` processes sharing one PostgreSQL database. In the same invocation it
//! measures the baselines the figures are read against: PostgreSQL's own single-row commit
//! rate (one connection, and eight at once) and `onboard_load` (the same HTTP calls, no
//! persistence).
//!
//! ```text
//! cargo bench --bench pg_scale                                   # N = 2,000, 1/2/4 workers, 0 and 20 ms
//! cargo bench --bench pg_scale -- --runs 5000 --workers 2 --latency-ms 0 --reps 3
//! ```
//! Each measurement runs in a fresh schema of `ROSTER_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards. The bench process submits
//! the runs (one `start_many`) and polls for their completion; the workers are the real
//! `roster` binary.

#[allow(dead_code)]
#[path = "onboarding/child.rs"]
mod child;
#[allow(dead_code)]
#[path = "onboarding/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "onboarding/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use clap::Parser;
use roster::engine::Engine;
use roster::store::{Store, StoreOptions};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use servers::FakeGraph;

#[derive(Parser, Debug)]
#[command(
    name = "pg_scale",
    about = "Roster on PostgreSQL: throughput by worker processes"
)]
struct Args {
    /// Runs per measurement
    #[arg(long, default_value_t = 2000)]
    runs: usize,
    /// Worker processes; several values separated by commas
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4])]
    workers: Vec<usize>,
    /// fakegraph's latency per call in ms; several values separated by commas
    #[arg(long = "latency-ms", value_delimiter = ',', default_values_t = vec![0, 20])]
    latency_ms: Vec<u64>,
    /// Each worker process's concurrency (and onboard_load's requests in flight)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Repetitions of every measurement (the median is reported)
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Single-row transactions in the PostgreSQL baseline
    #[arg(long = "pg-commits", default_value_t = 4000)]
    pg_commits: usize,
    #[arg(long, hide = true)]
    bench: bool,
    #[arg(hide = true)]
    filters: Vec<String>,
}

const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

fn main() -> Result<()> {
    let args = Args::parse();
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("ROSTER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../shared"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"));
    let bins = servers::build(&shared, &target_dir)?;
    let base = std::env::var("ROSTER_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let tmp = tempfile::Builder::new()
        .prefix("roster-pg-bench-")
        .tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(async {
        let (one, eight) = commit_rates(&base, args.pg_commits).await?;
        println!(
            "PostgreSQL single-row commits: {one:.0}/s on 1 connection, {eight:.0}/s on 8 \
             (load {:.2})",
            process::load_average()
        );
        for &latency in &args.latency_ms {
            let server = FakeGraph::start(&bins.fakegraph, latency).await?;
            let load = servers::onboard_load(&bins.onboard_load, &server, args.runs, args.concurrency)
                .await?;
            println!(
                "{latency:>3} ms  onboard_load (no persistence, {} in flight): {:>8.0} runs/s {:>8.0} steps/s",
                args.concurrency, load.runs_per_s, load.steps_per_s
            );
            for &workers in &args.workers {
                let mut steps = Vec::new();
                for _ in 0..args.reps.max(1) {
                    let s = measure(&base, &server, tmp.path(), &args, workers).await?;
                    steps.push(s);
                }
                steps.sort_by(f64::total_cmp);
                let median = steps[steps.len() / 2];
                println!(
                    "{latency:>3} ms  {workers} worker process(es) × {}: {:>7.0} runs/s {:>8.0} steps/s \
                     (min {:.0}, max {:.0}; {:.2} × onboard_load, {:.2} steps per single-connection commit)",
                    args.concurrency,
                    median / 5.0,
                    median,
                    steps[0],
                    steps[steps.len() - 1],
                    median / load.steps_per_s,
                    median / one,
                );
            }
        }
        Ok::<(), anyhow::Error>(())
    });
    if outcome.is_err() {
        // The failed measurement's worker logs say why; they outlive the benchmark.
        let kept = tmp.keep();
        eprintln!("worker logs kept in {}", kept.display());
    }
    outcome
}

/// A fresh schema: its URL and a pool on it.
async fn schema(base: &str) -> Result<(String, String, PgPool)> {
    let name = format!("bench_{}", uuid::Uuid::now_v7().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(base)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={name}");
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await?;
    Ok((name, url, pool))
}

async fn drop_schema(name: &str, pool: PgPool) -> Result<()> {
    sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

/// Single-row transactions per second: on one connection, and on eight at once.
async fn commit_rates(base: &str, n: usize) -> Result<(f64, f64)> {
    let (name, _, pool) = schema(base).await?;
    sqlx::query("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let body = "x".repeat(300);
    let mut conn = pool.acquire().await?;
    let t0 = Instant::now();
    for i in 0..n {
        sqlx::query("INSERT INTO t VALUES ($1, $2)")
            .bind(i as i64)
            .bind(&body)
            .execute(&mut *conn)
            .await?;
    }
    let one = n as f64 / t0.elapsed().as_secs_f64();
    drop(conn);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..8usize {
        let pool = pool.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 8 {
                sqlx::query("INSERT INTO t VALUES ($1, $2)")
                    .bind((n + k * n + i) as i64)
                    .bind(&body)
                    .execute(&pool)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let eight = (n / 8 * 8) as f64 / t0.elapsed().as_secs_f64();
    drop_schema(&name, pool).await?;
    Ok((one, eight))
}

/// One measurement: steps/s of `workers` processes executing `args.runs` runs.
async fn measure(
    base: &str,
    server: &FakeGraph,
    dir: &Path,
    args: &Args,
    workers: usize,
) -> Result<f64> {
    let (name, url, pool) = schema(base).await?;
    let store = Store::open(&url, &StoreOptions::default()).await?;
    let engine = Arc::new(Engine::new(store));
    let pb = roster::playbook::load_text(
        "bench-onboard.yaml",
        &child::playbook_text(&server.url),
        engine.scripting(),
    )
    .map_err(|d| anyhow::anyhow!("the benchmark playbook does not compile:\n{d}"))?;
    let pb = engine.register(pb).await?;
    let mut procs = Vec::new();
    for i in 0..workers {
        let log = std::fs::File::create(dir.join(format!("worker-{i}.log")))?;
        procs.push(
            tokio::process::Command::new(ROSTER)
                .args(["worker", "--concurrency", &args.concurrency.to_string()])
                .args(["--idle-check", "200ms"])
                .env("DATABASE_URL", &url)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .context("starting roster worker")?,
        );
    }
    // The workers are listening once each has logged its start line.
    let started = Instant::now();
    while (0..workers).any(|i| {
        !std::fs::read_to_string(dir.join(format!("worker-{i}.log")))
            .unwrap_or_default()
            .contains("roster worker")
    }) {
        ensure!(
            started.elapsed() < Duration::from_secs(20),
            "workers did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::new();
    servers::reset_stats(&http, &server.url).await?;
    let people = (0..args.runs).map(|i| (child::person(i), None)).collect();
    let t0 = Instant::now();
    let ids = engine.start_many(&pb, people).await?;
    ensure!(ids.iter().all(Option::is_some), "not every run started");
    // The completion poll is part of the measuring instrument, not of the engine, and shares
    // PostgreSQL's CPU with it: it reads the first entry of each active status in `runs_ready (status, wake_at)`
    // (a count, or an EXISTS the planner answers with a sequential scan, read the whole table:
    // 19 ms per poll at 10,000 runs).
    let first = |status: &str| {
        format!("(SELECT seq FROM runs WHERE status = '{status}' ORDER BY wake_at LIMIT 1)")
    };
    let poll = format!(
        "SELECT COALESCE({}, {}, {}, {}, {}) IS NOT NULL",
        first("queued"),
        first("running"),
        first("waiting"),
        first("review"),
        first("approval")
    );
    loop {
        let active: bool = sqlx::query_scalar(&poll).fetch_one(&pool).await?;
        if !active {
            break;
        }
        ensure!(
            t0.elapsed() < Duration::from_secs(300),
            "runs still unfinished after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let (done, failed): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FILTER (WHERE status <> 'succeeded') \
         FROM runs",
    )
    .fetch_one(&pool)
    .await?;
    ensure!(
        done as usize == args.runs && failed == 0,
        "{done} runs succeeded and {failed} did not, of {}",
        args.runs
    );
    for mut p in procs {
        let _ = p.kill().await;
    }
    servers::check_stats(&http, &server.url, args.runs).await?;
    let steps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM steps WHERE status = 'succeeded'")
        .fetch_one(&pool)
        .await?;
    ensure!(
        steps == 5 * args.runs as i64,
        "{steps} step rows, expected {}",
        5 * args.runs
    );
    engine.store().close().await;
    drop_schema(&name, pool).await?;
    Ok(5.0 * args.runs as f64 / wall)
}
