//! Helpers for the `check` and control-action tests: running `roster check` on fixtures and
//! comparing its diagnostics with golden files, and an in-process engine (a temporary SQLite
//! store, an engine and a worker) with a way to wait for a run to settle.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use roster::engine::status::RunStatus;
use roster::engine::{Engine, EngineError, Worker, WorkerOptions};
use roster::playbook::{self, Playbook};
use roster::store::{RunRow, StepRow, Store, StoreOptions};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long any wait for a run may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// What one `roster` invocation printed.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real `roster` binary in `tests/fixtures`, so that it names files relative to it.
pub fn roster(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .current_dir(fixtures())
        .env_remove("DATABASE_URL")
        .env_remove("ROSTER_LOG")
        .output()
        .expect("roster runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One `file:line:column: message` line of `roster check`.
#[derive(Debug, Clone, PartialEq)]
pub struct Diag {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn parse_diag(text: &str) -> Option<Diag> {
    let mut parts = text.splitn(4, ':');
    let file = parts.next()?.to_string();
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    let message = parts.next()?.strip_prefix(' ')?.to_string();
    Some(Diag {
        file,
        line,
        column,
        message,
    })
}

/// The diagnostics `roster check` gave for one fixture.
pub struct Checked {
    pub file: String,
    pub source: String,
    pub diags: Vec<Diag>,
}

/// Runs `roster check check/NAME.yaml`, requires exit code 1 and a stderr identical to
/// `check/NAME.expected` (written instead when `ROSTER_BLESS=1`), and returns the diagnostics.
pub fn check_fixture(name: &str) -> Checked {
    let file = format!("check/{name}.yaml");
    let out = roster(&["check", &file]);
    assert_eq!(
        out.code, 1,
        "`roster check {file}` must fail\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let expected_path = fixtures().join(format!("check/{name}.expected"));
    if std::env::var_os("ROSTER_BLESS").is_some() {
        std::fs::write(&expected_path, &out.stderr).expect("write expected diagnostics");
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (ROSTER_BLESS=1 writes it)",
            expected_path.display()
        )
    });
    assert!(
        out.stderr == expected,
        "diagnostics of {file} differ from {}\n--- expected\n{expected}--- actual\n{}",
        expected_path.display(),
        out.stderr
    );
    let mut lines: Vec<&str> = out.stderr.lines().collect();
    let summary = lines.pop().unwrap_or_default();
    let diags: Vec<Diag> = lines
        .iter()
        .map(|l| parse_diag(l).unwrap_or_else(|| panic!("not file:line:col: message: {l}")))
        .collect();
    assert_eq!(summary, format!("{} error(s)", diags.len()));
    for d in &diags {
        assert_eq!(d.file, file, "every diagnostic names the file");
    }
    let source = std::fs::read_to_string(fixtures().join(&file)).expect("fixture");
    Checked {
        file,
        source,
        diags,
    }
}

impl Checked {
    /// The source line a position is on, with a caret under the column.
    fn show(&self, line: usize, column: usize) -> String {
        let text = self.source.lines().nth(line.wrapping_sub(1)).unwrap_or("");
        format!(
            "{line:>3} | {text}\n    | {}^",
            " ".repeat(column.saturating_sub(1))
        )
    }

    /// Requires diagnostic `index` to be at `line:column` and to contain `fragment`.
    pub fn assert_at(&self, index: usize, line: usize, column: usize, fragment: &str) {
        let d = self
            .diags
            .get(index)
            .unwrap_or_else(|| panic!("{}: no diagnostic #{index}: {:?}", self.file, self.diags));
        assert!(
            (d.line, d.column) == (line, column),
            "{}: diagnostic '{}' is at {}:{}, expected {line}:{column}\nreported:\n{}\nexpected:\n{}",
            self.file,
            d.message,
            d.line,
            d.column,
            self.show(d.line, d.column),
            self.show(line, column)
        );
        assert!(
            d.message.contains(fragment),
            "{}: message '{}' lacks '{fragment}'",
            self.file,
            d.message
        );
    }

    /// Requires exactly one diagnostic, at `line:column`, containing `fragment`.
    pub fn assert_only(&self, line: usize, column: usize, fragment: &str) {
        assert_eq!(
            self.diags.len(),
            1,
            "{}: expected one diagnostic, got {:#?}",
            self.file,
            self.diags
        );
        self.assert_at(0, line, column, fragment);
    }
}

/// A person with every field filled in and valid for the usual rules.
pub fn person() -> Value {
    json!({
        "id": "p-100",
        "primary_email": "jose.muller@contoso.com",
        "personal_email": "jose@example.org",
        "given_name": "José",
        "family_name": "Müller",
        "full_name": "José Müller",
        "department": "Sales",
        "title": "Account Manager",
        "manager_email": "ada@contoso.com",
        "employee_id": "E1234",
        "org_unit": "/Staff/Sales",
        "location": "Berlin",
        "start_date": "2026-03-01",
        "status": "active",
        "custom": { "birthday": "17.05.1990" }
    })
}

/// `person()` with some fields replaced (`null` removes the value).
pub fn person_with(changes: Value) -> Value {
    let mut p = person();
    if let (Some(obj), Some(changes)) = (p.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            obj.insert(k.clone(), v.clone());
        }
    }
    p
}

/// A temporary database, an engine and a running worker.
pub struct Harness {
    _dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    worker: JoinHandle<Result<(), EngineError>>,
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = crate::support_pg::store_url(dir.path());
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store");
        let engine = Arc::new(Engine::new(store));
        let (stop, stopped) = watch::channel(false);
        let options = WorkerOptions {
            concurrency: 8,
            idle_check: Duration::from_millis(50),
            ..WorkerOptions::default()
        };
        let worker = tokio::spawn(Worker::new(engine.clone(), options).run(stopped));
        Harness {
            _dir: dir,
            engine,
            stop,
            worker,
        }
    }

    /// Compiles and registers a playbook; it must have no diagnostics.
    pub async fn playbook(&self, yaml: &str) -> Arc<Playbook> {
        let pb = playbook::load_text("test.yaml", yaml, self.engine.scripting())
            .unwrap_or_else(|d| panic!("the playbook compiles:\n{d}"));
        self.engine.register(pb).await.expect("register")
    }

    /// Starts a run that must be created (not filtered, not a duplicate).
    pub async fn start_run(&self, pb: &Playbook, person: Value) -> String {
        self.engine
            .start(pb, person, None)
            .await
            .expect("start")
            .expect("a run is created")
    }

    pub async fn run(&self, id: &str) -> RunRow {
        self.engine.store().run(id).await.expect("run")
    }

    pub async fn steps(&self, id: &str) -> Vec<StepRow> {
        self.engine.store().steps_of(id).await.expect("steps")
    }

    /// The outputs of step `step_id` of a run.
    pub async fn outputs(&self, id: &str, step_id: &str) -> Value {
        self.steps(id)
            .await
            .into_iter()
            .find(|s| s.step_id == step_id)
            .unwrap_or_else(|| panic!("run {id} has no record of step '{step_id}'"))
            .outputs
    }

    /// Waits until the run's status is one of `wanted`, failing the test after the deadline
    /// or when the run settles in another status.
    pub async fn wait_for(&self, id: &str, wanted: &[RunStatus]) -> RunRow {
        let mut changes = self.engine.subscribe();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let run = self.run(id).await;
            if wanted.contains(&run.status) {
                return run;
            }
            let moving = matches!(run.status, RunStatus::Queued | RunStatus::Running)
                || (run.status == RunStatus::Waiting && !wanted.contains(&RunStatus::Waiting));
            if !moving {
                let steps = self.steps(id).await;
                panic!(
                    "run {id} settled as {} (error: {:?}), expected one of {wanted:?}; steps: {steps:#?}",
                    run.status, run.error
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id} is still {} after {DEADLINE:?}",
                run.status
            );
            // A committed status change wakes us; the timeout covers timers and missed sends.
            let _ = tokio::time::timeout(Duration::from_millis(100), changes.recv()).await;
        }
    }

    /// Stops the worker and requires it to have ended cleanly.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(DEADLINE, self.worker)
            .await
            .expect("the worker stops")
            .expect("worker task")
            .expect("worker result");
    }
}
