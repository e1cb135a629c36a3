//! fakegraph and onboard_load: building them, running the server as a child process, asking it
//! what it counted, and running the no-persistence baseline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use serde_json::Value;

/// The endpoints of one onboarding run, as fakegraph names its counters.
const ENDPOINTS: [&str; 5] = [
    "create_user",
    "add_member",
    "assign_license",
    "patch_user",
    "hr_writeback",
];

/// Where the two binaries are once built.
pub struct Binaries {
    pub fakegraph: PathBuf,
    pub onboard_load: PathBuf,
}

/// Builds fakegraph and onboard_load in release mode under `target_dir`.
///
/// `shared/` is read-only and cargo writes a `Cargo.lock` next to the manifest it builds, so the
/// sources are copied under `target_dir` first and built from there.
pub fn build(shared: &Path, target_dir: &Path) -> Result<Binaries> {
    let source = shared.join("bench/fakegraph");
    ensure!(
        source.join("Cargo.toml").is_file(),
        "no fakegraph at {} (set ROSTER_SHARED to the shared/ folder)",
        source.display()
    );
    let out = target_dir.join("fakegraph");
    let copy = out.join("source");
    copy_tree(&source, &copy)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building fakegraph from {} …", source.display());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(copy.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&out)
        .status()
        .context("running cargo to build fakegraph")?;
    ensure!(status.success(), "building fakegraph failed ({status})");
    Ok(Binaries {
        fakegraph: out.join("release/fakegraph"),
        onboard_load: out.join("release/onboard_load"),
    })
}

/// Copies a source tree, leaving alone what is already identical (so cargo sees no change).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            let data = std::fs::read(entry.path())?;
            if std::fs::read(&target).ok().as_deref() != Some(&data[..]) {
                std::fs::write(&target, data)?;
            }
        }
    }
    Ok(())
}

/// A running fakegraph; killed when dropped, also when the benchmark fails.
pub struct FakeGraph {
    child: Child,
    pub url: String,
}

impl FakeGraph {
    pub async fn start(bin: &Path, latency_ms: u64) -> Result<FakeGraph> {
        let port = free_port()?;
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let server = FakeGraph {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if stats(&http, &server.url).await.is_ok() {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("fakegraph did not answer on {} within 10 s", server.url);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now: bind port 0, note what the kernel picked, release it.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn stats(http: &reqwest::Client, url: &str) -> Result<Value> {
    let resp = http
        .get(format!("{url}/admin/stats"))
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.json().await?)
}

/// Zeroes fakegraph's counters.
pub async fn reset_stats(http: &reqwest::Client, url: &str) -> Result<()> {
    http.post(format!("{url}/admin/reset"))
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Fails unless fakegraph counted exactly `runs` calls per endpoint and nothing unknown.
pub async fn check_stats(http: &reqwest::Client, url: &str, runs: usize) -> Result<()> {
    let s = stats(http, url).await?;
    for name in ENDPOINTS {
        let n = s.get(name).and_then(Value::as_u64);
        ensure!(
            n == Some(runs as u64),
            "fakegraph counted {n:?} calls to {name}, expected {runs}: {s}"
        );
    }
    ensure!(
        s.get("not_found").and_then(Value::as_u64) == Some(0),
        "fakegraph answered 404 to some calls: {s}"
    );
    Ok(())
}

/// One onboard_load measurement: steps/s and runs/s of the same workload without persistence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadResult {
    pub wall_s: f64,
    pub runs_per_s: f64,
    pub steps_per_s: f64,
}

pub async fn onboard_load(
    bin: &Path,
    server: &FakeGraph,
    runs: usize,
    concurrency: usize,
) -> Result<LoadResult> {
    let http = reqwest::Client::new();
    reset_stats(&http, &server.url).await?;
    let out = tokio::process::Command::new(bin)
        .args(["--url", &server.url])
        .args(["--runs", &runs.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", bin.display()))?;
    ensure!(out.status.success(), "onboard_load failed ({})", out.status);
    check_stats(&http, &server.url, runs).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| anyhow!("onboard_load printed no JSON: {text}"))?;
    let get = |k: &str| {
        line.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| anyhow!("onboard_load's output has no {k}: {line}"))
    };
    Ok(LoadResult {
        wall_s: get("wall_s")?,
        runs_per_s: get("runs_per_s")?,
        steps_per_s: get("steps_per_s")?,
    })
}
