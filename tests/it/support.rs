//! What the integration tests share: a workspace per test (temporary directory, SQLite file,
//! playbook and person files), the real `roster` binary as CLI and as worker processes, a
//! read-only view of the database, and a programmable HTTP server on a loopback port.

// Not every area uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// The `roster` binary cargo built for these tests.
pub const ROSTER: &str = env!("CARGO_BIN_EXE_roster");

/// Polls `probe` every 20 ms until it yields a value; panics naming `what` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A person record as `roster run --person` and `Engine::start` take it.
pub fn person(id: &str) -> Value {
    json!({
        "id": id,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "full_name": "Ada Lovelace",
        "department": "Engineering",
        "primary_email": format!("{id}@example.com"),
    })
}

/// The step `id` of a `{ run, steps }` that `run_json` or `show` returned.
pub fn step<'v>(shown: &'v Value, id: &str) -> &'v Value {
    shown["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_id"] == id))
        .unwrap_or_else(|| panic!("no step '{id}' in {shown:#}"))
}

/// One test's private world: a temporary directory holding its database and files.
pub struct Workspace {
    dir: tempfile::TempDir,
    pub db_path: PathBuf,
    pub db_url: String,
}

/// What a finished `roster` command printed.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout parsed as JSON (for `--json` commands).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl Workspace {
    /// A workspace on SQLite, or on a fresh PostgreSQL schema when `ROSTER_TEST_BACKEND` is
    /// `postgres` (see `support_pg`).
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db_path = dir.path().join("roster.db");
        let db_url = match crate::support_pg::backend_schema() {
            Some(url) => url,
            None => format!("sqlite://{}", db_path.display()),
        };
        Workspace {
            dir,
            db_path,
            db_url,
        }
    }

    /// A workspace whose database is `url` (a PostgreSQL schema) instead of a SQLite file.
    pub fn with_database(url: &str) -> Workspace {
        let mut ws = Workspace::new();
        ws.db_url = url.to_string();
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a playbook file and returns its path.
    pub fn write_playbook(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).expect("write playbook");
        path
    }

    /// Writes a person file and returns its path.
    pub fn write_person(&self, name: &str, person: &Value) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, person.to_string()).expect("write person");
        path
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ROSTER);
        cmd.arg("--database")
            .arg(&self.db_url)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("ROSTER_LOG")
            .env_remove("RUST_LOG")
            .env_remove("ROSTER_CONFIG")
            .current_dir(self.dir.path())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `roster --database <this db> ARGS…` to completion.
    pub async fn roster(&self, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run roster");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Like `roster`, but fails the test unless the command exits 0.
    pub async fn roster_ok(&self, args: &[&str]) -> Output {
        let out = self.roster(args).await;
        assert_eq!(out.code, 0, "roster {args:?} failed: {out:#?}");
        out
    }

    /// `roster [EXTRA…] --json run PLAYBOOK --person PERSON` with both written into the workspace
    /// (a `roster.yaml` there is the config): exit code, `{ run, steps }` and stderr.
    pub async fn run_json(
        &self,
        yaml: &str,
        person: &Value,
        extra: &[&str],
    ) -> (i32, Value, String) {
        let pb = self.write_playbook("pb", yaml);
        let who = self.write_person("person", person);
        let (pb, who) = (pb.display().to_string(), who.display().to_string());
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        args.extend(["run", pb.as_str(), "--person", who.as_str()]);
        let out = self.roster(&args).await;
        assert!(
            !out.stdout.is_empty(),
            "roster run printed nothing: {out:#?}"
        );
        (out.code, out.json(), out.stderr)
    }

    /// `roster runs show RUN --json`: `{ run, steps }`.
    pub async fn show(&self, run: &str) -> Value {
        self.roster(&["--json", "runs", "show", run]).await.json()
    }

    /// Starts `roster worker ARGS…` in the background; its stderr goes to a log file.
    pub fn spawn_worker(&self, args: &[&str]) -> WorkerProcess {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.path().join(format!("worker-{n}.log"));
        let file = std::fs::File::create(&log).expect("worker log");
        let mut all = vec!["worker"];
        all.extend_from_slice(args);
        let child = self
            .command(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn roster worker");
        WorkerProcess { child, log }
    }

    /// Runs `roster worker --until-idle` to completion (bounded by `within`).
    pub async fn work_until_idle(&self, within: Duration) {
        let mut w = self.spawn_worker(&["--until-idle", "--idle-check", "50ms"]);
        let status = tokio::time::timeout(within, w.child.wait())
            .await
            .unwrap_or_else(|_| panic!("worker still busy after {within:?}:\n{}", w.log()))
            .expect("wait for worker");
        assert!(status.success(), "worker failed: {status}\n{}", w.log());
    }

    /// Enqueues one run per person through the library (`Engine::start_many`, one transaction),
    /// as a bulk import does. Returns the run ids in submission order.
    pub async fn enqueue(&self, playbook: &Path, people: Vec<Value>) -> Vec<String> {
        use roster::engine::Engine;
        use roster::store::{Store, StoreOptions};
        let store = Store::open(&self.db_url, &StoreOptions::default())
            .await
            .expect("open store");
        let engine = Engine::new(store);
        let pb = roster::playbook::load_file(playbook, engine.scripting())
            .unwrap_or_else(|d| panic!("playbook does not load:\n{d}"));
        let pb = engine.register(pb).await.expect("register playbook");
        let ids = engine
            .start_many(&pb, people.into_iter().map(|p| (p, None)).collect())
            .await
            .expect("start runs");
        engine.store().close().await;
        ids.into_iter()
            .map(|id| id.expect("a run was started"))
            .collect()
    }

    /// A read-only view of this workspace's database (it must exist).
    pub async fn db(&self) -> Db {
        if roster::store::is_postgres_url(&self.db_url) {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&self.db_url)
                .await
                .expect("connect to the workspace's schema");
            return Db::Postgres(pool);
        }
        let options = SqliteConnectOptions::new()
            .filename(&self.db_path)
            .read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("open the database read-only");
        Db::Sqlite(pool)
    }
}

/// A `roster worker` child process.
pub struct WorkerProcess {
    pub child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id().expect("worker is running")
    }

    /// What the worker wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process dies at once, without any chance to clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill worker");
    }

    /// Waits until the worker has opened the database and is ready to claim.
    pub async fn wait_started(&self) {
        eventually(Duration::from_secs(10), "the worker to start", || async {
            self.log().contains("roster worker").then_some(())
        })
        .await;
    }
}

/// Read-only queries against a workspace's database (SQLite or PostgreSQL). Queries number
/// their parameters `$1`, `$2`, … in order, which both databases accept.
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of either database.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::support::Db::Sqlite($pool) => $body,
            $crate::support::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// One row of `steps`.
#[derive(Debug, Clone)]
pub struct StepView {
    pub step_id: String,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
}

impl Db {
    /// The database of a store opened by the test itself.
    pub fn of(store: &roster::store::Store) -> Db {
        match (store.sqlite_pool(), store.pg_pool()) {
            (Some(pool), _) => Db::Sqlite(pool.clone()),
            (None, Some(pool)) => Db::Postgres(pool.clone()),
            (None, None) => panic!("a store on neither database"),
        }
    }

    pub async fn run_status(&self, run: &str) -> String {
        on_db!(self, |pool| sqlx::query(
            "SELECT status FROM runs WHERE id = $1"
        )
        .bind(run)
        .fetch_one(pool)
        .await
        .expect("run status")
        .get("status"))
    }

    /// Waits until the run has `status`, failing the test after `within`.
    pub async fn wait_status(&self, run: &str, status: &str, within: Duration) {
        eventually(within, &format!("run {run} to be {status}"), || async {
            (self.run_status(run).await == status).then_some(())
        })
        .await;
    }

    pub async fn run_error(&self, run: &str) -> Option<String> {
        on_db!(self, |pool| sqlx::query(
            "SELECT error FROM runs WHERE id = $1"
        )
        .bind(run)
        .fetch_one(pool)
        .await
        .expect("run error")
        .get("error"))
    }

    /// Every run id with its status.
    pub async fn statuses(&self) -> HashMap<String, String> {
        on_db!(self, |pool| sqlx::query("SELECT id, status FROM runs")
            .fetch_all(pool)
            .await
            .expect("run statuses")
            .iter()
            .map(|r| (r.get("id"), r.get("status")))
            .collect())
    }

    /// `(run, step)` pairs whose success is committed.
    pub async fn succeeded_steps(&self) -> std::collections::HashSet<(String, String)> {
        on_db!(self, |pool| sqlx::query(
            "SELECT run_id, step_id FROM steps WHERE status = 'succeeded'"
        )
        .fetch_all(pool)
        .await
        .expect("succeeded steps")
        .iter()
        .map(|r| (r.get("run_id"), r.get("step_id")))
        .collect())
    }

    pub async fn steps(&self, run: &str) -> Vec<StepView> {
        on_db!(self, |pool| sqlx::query(
            "SELECT step_id, status, attempts, error FROM steps WHERE run_id = $1 ORDER BY idx",
        )
        .bind(run)
        .fetch_all(pool)
        .await
        .expect("steps of a run")
        .iter()
        .map(|r| StepView {
            step_id: r.get("step_id"),
            status: r.get("status"),
            attempts: r.get("attempts"),
            error: r.get("error"),
        })
        .collect())
    }

    /// A step's outputs as stored (secrets sealed or erased).
    pub async fn step_outputs(&self, run: &str, step: &str) -> String {
        on_db!(self, |pool| sqlx::query(
            "SELECT outputs FROM steps WHERE run_id = $1 AND step_id = $2"
        )
        .bind(run)
        .bind(step)
        .fetch_one(pool)
        .await
        .expect("step outputs")
        .get::<Option<String>, _>("outputs")
        .unwrap_or_default())
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn column(&self, sql: &str) -> Vec<String> {
        on_db!(self, |pool| sqlx::query(sql)
            .fetch_all(pool)
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    pub async fn step(&self, run: &str, step: &str) -> StepView {
        self.steps(run)
            .await
            .into_iter()
            .find(|s| s.step_id == step)
            .unwrap_or_else(|| panic!("run {run} has no record of step {step}"))
    }
}

/// What the test server answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Held this long (counted as in flight) before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::status(200).json(json!({ "ok": true }))
    }

    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Value::Null,
            delay: Duration::ZERO,
        }
    }

    pub fn json(mut self, body: Value) -> Reply {
        self.body = body;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Arrival order, from 1, across all paths.
    pub seq: u64,
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// Earlier requests to the same path.
    pub nth: usize,
}

type Responder = dyn Fn(&Hit) -> Reply + Send + Sync;

struct ServerState {
    respond: Box<Responder>,
    hits: Mutex<Vec<Hit>>,
    arrivals: watch::Sender<u64>,
    /// Requests being answered, per `x-key` header ("" for none), and the most ever at once.
    in_flight: Mutex<HashMap<String, (i64, i64)>>,
    /// Requests being answered, of any key, and the most ever at once.
    in_flight_all: Mutex<(i64, i64)>,
}

/// A loopback HTTP server whose answers a closure decides; it records every request.
#[derive(Clone)]
pub struct TestServer {
    pub url: String,
    state: Arc<ServerState>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves `respond` on every method and path.
    pub async fn start(respond: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> TestServer {
        let (arrivals, _) = watch::channel(0);
        let state = Arc::new(ServerState {
            respond: Box::new(respond),
            hits: Mutex::new(Vec::new()),
            arrivals,
            in_flight: Mutex::new(HashMap::new()),
            in_flight_all: Mutex::new((0, 0)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { url, state }
    }

    /// Every request so far, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits").clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn hits_to(&self, prefix: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.path.starts_with(prefix))
            .collect()
    }

    /// The arrival number of the latest request (0 before any).
    pub fn seq(&self) -> u64 {
        *self.state.arrivals.borrow()
    }

    /// Waits (without polling) until at least `n` requests have arrived.
    pub async fn wait_for_hits(&self, n: u64, within: Duration) {
        let mut rx = self.state.arrivals.subscribe();
        let reached = tokio::time::timeout(within, rx.wait_for(|&seen| seen >= n)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "timed out after {within:?} waiting for {n} requests (got {})",
            self.seq()
        );
    }

    /// The most requests with this `x-key` header ever answered at once.
    pub fn max_in_flight(&self, key: &str) -> i64 {
        let map = self.state.in_flight.lock().expect("in flight");
        map.get(key).map_or(0, |&(_, max)| max)
    }

    /// The most requests ever answered at once.
    pub fn max_in_flight_all(&self) -> i64 {
        self.state.in_flight_all.lock().expect("in flight").1
    }
}

/// Counts a request as in flight until dropped (also when the client goes away mid-answer).
struct InFlight {
    state: Arc<ServerState>,
    key: String,
}

impl InFlight {
    fn enter(state: Arc<ServerState>, key: String) -> InFlight {
        {
            let mut map = state.in_flight.lock().expect("in flight");
            let entry = map.entry(key.clone()).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
            let mut all = state.in_flight_all.lock().expect("in flight");
            all.0 += 1;
            all.1 = all.1.max(all.0);
        }
        InFlight { state, key }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut map) = self.state.in_flight.lock() {
            if let Some(entry) = map.get_mut(&self.key) {
                entry.0 -= 1;
            }
        }
        if let Ok(mut all) = self.state.in_flight_all.lock() {
            all.0 -= 1;
        }
    }
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let key = headers.get("x-key").cloned().unwrap_or_default();
    let hit = {
        let mut hits = state.hits.lock().expect("hits");
        let path = uri.path().to_string();
        let nth = hits.iter().filter(|h| h.path == path).count();
        let hit = Hit {
            seq: hits.len() as u64 + 1,
            at: Instant::now(),
            method: method.to_string(),
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            nth,
        };
        hits.push(hit.clone());
        hit
    };
    state.arrivals.send_replace(hit.seq);
    let reply = (state.respond)(&hit);
    let guard = InFlight::enter(state.clone(), key);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    drop(guard);
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(reply.body)).into_response();
    for (k, v) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
