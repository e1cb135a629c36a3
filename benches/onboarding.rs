//! The onboarding throughput benchmark (`cargo bench --bench onboarding`).
//!
//! Runs the workload of `shared/bench/README.md` against fakegraph: N onboarding runs of five
//! sequential `http.request` steps, each step durably committed (SQLite, WAL,
//! synchronous=FULL) before the next starts. In the same invocation it measures the two
//! baselines Roster's figures are read against: `onboard_load` (the same HTTP calls with no
//! persistence) and SQLite's raw commit rate on the same disk. Every Roster repetition runs in
//! a fresh child process (this binary with `--child`) so that its peak RSS is its own.
//!
//! ```text
//! cargo bench --bench onboarding                      # the full matrix (a few minutes)
//! cargo bench --bench onboarding -- --quick           # N = 1,000, one repetition
//! cargo bench --bench onboarding -- --runs 1000 --latency-ms 0 --reps 3 --concurrency 64
//! ```
//! A readable table goes to stdout, a JSON summary to `target/bench-onboarding.json`.

#[path = "onboarding/child.rs"]
mod child;
#[path = "onboarding/process.rs"]
mod process;
#[path = "onboarding/report.rs"]
mod report;
#[path = "onboarding/servers.rs"]
mod servers;
#[path = "onboarding/sqlite.rs"]
mod sqlite;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, ensure, Context as _, Result};
use clap::Parser;

use child::Measurement;
use report::{Configuration, Report};
use servers::{FakeGraph, LoadResult};

#[derive(Parser, Debug)]
#[command(
    name = "onboarding",
    about = "Roster's onboarding throughput benchmark"
)]
struct Args {
    /// Runs per measurement; several values separated by commas [default: 1000,10000]
    #[arg(long, value_delimiter = ',')]
    runs: Vec<usize>,
    /// fakegraph's latency per call in ms; several values separated by commas [default: 0,20]
    #[arg(long = "latency-ms", value_delimiter = ',')]
    latency_ms: Vec<u64>,
    /// Repetitions of every measurement [default: 3, 1 with --quick]
    #[arg(long)]
    reps: Option<usize>,
    /// The worker's concurrency (and onboard_load's requests in flight)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// A second concurrency measured at latencies above 0 ms, to show that throughput follows
    /// concurrency there (0: none)
    #[arg(long = "scale-concurrency", default_value_t = 256)]
    scale_concurrency: usize,
    /// N = 1,000 only, one repetition
    #[arg(long)]
    quick: bool,
    /// Single-row transactions in the SQLite baseline
    #[arg(long = "sqlite-commits", default_value_t = 5000)]
    sqlite_commits: usize,

    // Passed by `cargo bench`, and the arguments of a child measurement.
    #[arg(long, hide = true)]
    bench: bool,
    #[arg(long, hide = true)]
    child: bool,
    #[arg(long, hide = true)]
    url: Option<String>,
    #[arg(long, hide = true)]
    db: Option<PathBuf>,
    #[arg(long = "clk-tck", hide = true, default_value_t = 100)]
    clk_tck: u64,
    /// Name filters cargo may pass on; ignored.
    #[arg(hide = true)]
    filters: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.child {
        let url = args
            .url
            .as_deref()
            .ok_or_else(|| anyhow!("--child needs --url"))?;
        let db = args
            .db
            .as_deref()
            .ok_or_else(|| anyhow!("--child needs --db"))?;
        let runs = *args
            .runs
            .first()
            .ok_or_else(|| anyhow!("--child needs --runs"))?;
        return child::run(url, db, runs, args.concurrency, args.clk_tck);
    }
    parent(args)
}

fn parent(args: Args) -> Result<()> {
    let runs = match (&args.runs[..], args.quick) {
        ([], true) => vec![1000],
        ([], false) => vec![1000, 10_000],
        (r, _) => r.to_vec(),
    };
    let latencies = if args.latency_ms.is_empty() {
        vec![0, 20]
    } else {
        args.latency_ms.clone()
    };
    let reps = args.reps.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let concurrency = args.concurrency.max(1);

    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("ROSTER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../shared"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"));
    let bins = servers::build(&shared, &target_dir)?;
    let clk_tck = process::clk_tck();
    let tmp = tempfile::Builder::new()
        .prefix("roster-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let mut report = Report::new(process::machine(), reps);
    eprintln!("SQLite commit rates on {} …", tmp.path().display());
    for rep in 0..reps {
        let path = tmp.path().join(format!("sqlite-baseline-{rep}.db"));
        let rates = rt.block_on(sqlite::commit_rates(&path, args.sqlite_commits, 200))?;
        remove_db(&path);
        report.sqlite.push(rates);
    }

    for &latency in &latencies {
        let server = rt.block_on(FakeGraph::start(&bins.fakegraph, latency))?;
        let mut levels = vec![concurrency];
        if latency > 0 && args.scale_concurrency > 0 && args.scale_concurrency != concurrency {
            levels.push(args.scale_concurrency);
        }
        for &n in &runs {
            for &c in &levels {
                let mut config = Configuration::new(latency, n, c);
                for rep in 0..reps {
                    report.load.push(process::load_average());
                    let db = tmp
                        .path()
                        .join(format!("roster-{latency}ms-{n}-c{c}-{rep}.db"));
                    let m = measure_roster(&server, &db, n, c, clk_tck)
                        .with_context(|| format!("Roster, {latency} ms, N = {n}, C = {c}"))?;
                    remove_db(&db);
                    let l: LoadResult = rt
                        .block_on(servers::onboard_load(&bins.onboard_load, &server, n, c))
                        .with_context(|| format!("onboard_load, {latency} ms, N = {n}, C = {c}"))?;
                    eprintln!(
                        "  {latency:>2} ms  N={n:<6} C={c:<4} rep {}: roster {:>8.0} steps/s \
                         ({:.2} s, {:.0} MiB, {:.2} CPU s)   onboard_load {:>8.0} steps/s",
                        rep + 1,
                        m.steps_per_s,
                        m.wall_s,
                        m.peak_rss_mib,
                        m.cpu_s,
                        l.steps_per_s
                    );
                    config.roster.push(m);
                    config.onboard_load.push(l);
                }
                report.configurations.push(config);
            }
        }
        drop(server);
    }

    print!("{}", report.render());
    let json_path = target_dir.join("bench-onboarding.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report.json())?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("JSON summary written to {}", json_path.display());
    Ok(())
}

/// One Roster repetition, in a fresh child process.
fn measure_roster(
    server: &FakeGraph,
    db: &Path,
    runs: usize,
    concurrency: usize,
    clk_tck: u64,
) -> Result<Measurement> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .arg("--child")
        .args(["--url", &server.url])
        .arg("--db")
        .arg(db)
        .args(["--runs", &runs.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--clk-tck", &clk_tck.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("starting a child measurement")?;
    ensure!(
        out.status.success(),
        "the child measurement failed ({})",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| anyhow!("the child printed no measurement: {text}"))
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
