//! `roster serve`: one process that wires the store, the engine and its connections, the
//! playbooks, the workers, the triggers and the HTTP server, and shuts them down gracefully.
//!
//! Composition: other pieces plug in at two places, both in this file. A piece with HTTP routes
//! exposes `pub fn router(deps) -> axum::Router` (its state applied) and is merged in `routes`;
//! a piece that runs in the background exposes `pub async fn run(deps, shutdown)` and is started
//! in `background`. Both get a `Deps`. Routes that need a bearer token wrap their router with
//! `api::require_token(router, store)`.
//!
//! Shutdown (SIGTERM or Ctrl-C): the server stops accepting connections and finishes the
//! requests in flight (every accepted request was committed before it was answered); the
//! workers let their in-flight steps commit, then hand their runs back; whatever is still
//! running after `shutdown_timeout` is left to resume when its lease expires.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::connectors::Connections;
use crate::engine::{Engine, Worker, WorkerOptions};
use crate::playbook::{self, Diagnostics, Playbook};
use crate::secret::SecretBox;
use crate::store::Store;

/// What every piece of the server is built from.
#[derive(Clone)]
pub struct Deps {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    /// The playbooks loaded at start-up (registered with the engine).
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
}

/// How `roster serve` runs (the command line's choices over the config's).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `server.playbooks`.
    pub playbooks: Option<PathBuf>,
    pub worker: WorkerOptions,
    /// How long shutdown waits for in-flight steps before leaving them to their leases.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: None,
            playbooks: None,
            worker: WorkerOptions::default(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The engine on `database_url` with the config's connections and secrets key.
pub async fn open_engine(config: &Config, database_url: &str) -> anyhow::Result<Arc<Engine>> {
    let store = Store::open(database_url, &config.database.store_options()?)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                crate::store::redact_url(database_url)
            )
        })?;
    let engine = Engine::new(store);
    let connections = Connections::from_config(config, engine.http())?;
    let secrets = match &config.secrets_key {
        Some(key) => {
            let key = key
                .resolve(&config.base_dir)
                .map_err(|e| anyhow::anyhow!("secrets_key: {e}"))?;
            SecretBox::from_base64(&key).map_err(|e| anyhow::anyhow!("secrets_key: {e}"))?
        }
        None => SecretBox::from_key_file(&key_file_beside(database_url))
            .map_err(|e| anyhow::anyhow!(e))?,
    };
    Ok(Arc::new(
        engine.with_connections(connections).with_secrets(secrets),
    ))
}

/// `roster.key` in the database's directory: the default secrets key, kept with the data.
fn key_file_beside(url: &str) -> PathBuf {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("roster.db");
    let path = Path::new(path.split('?').next().unwrap_or(path));
    path.parent().unwrap_or(Path::new(".")).join("roster.key")
}

/// Every playbook in `dir` that loads, registered with the engine, and the diagnostics of the
/// files that do not (the server starts without them and reports them).
pub async fn load_playbooks(
    engine: &Engine,
    dir: &Path,
) -> anyhow::Result<(Vec<Arc<Playbook>>, Diagnostics)> {
    let mut loaded: Vec<Arc<Playbook>> = Vec::new();
    let mut errors = Vec::new();
    let files = if dir.exists() {
        playbook::files(&[dir.to_path_buf()]).map_err(|d| anyhow::anyhow!("{d}"))?
    } else {
        tracing::warn!(dir = %dir.display(), "the playbooks directory does not exist; no playbooks loaded");
        Vec::new()
    };
    for file in files {
        match playbook::load_file(&file, engine.scripting()) {
            Ok(p) if loaded.iter().any(|o| o.name == p.name) => {
                errors.push(playbook::Diagnostic {
                    file: p.path.clone(),
                    line: 1,
                    column: 1,
                    message: format!("playbook name '{}' is already used", p.name),
                });
            }
            Ok(p) => loaded.push(engine.register(p).await?),
            Err(d) => errors.extend(d.0),
        }
    }
    for e in &errors {
        tracing::warn!(diagnostic = %e, "playbook not loaded");
    }
    Ok((loaded, Diagnostics(errors)))
}

/// The HTTP application: the API and every piece's routes. The merge point for new routers.
pub fn routes(deps: &Deps, load_errors: Diagnostics) -> anyhow::Result<Router> {
    let load_errors = Arc::new(load_errors);
    let state = ApiState {
        engine: deps.engine.clone(),
        playbooks: deps.playbooks.clone(),
        load_errors: load_errors.clone(),
    };
    // `/hooks/...`: authenticated by signature or channel token, not by bearer token.
    let hooks = crate::triggers::router(
        deps.engine.clone(),
        deps.config.clone(),
        deps.playbooks.clone(),
    )?;
    // `/api/v1/imports`: bearer token, and the import profile's own size limit instead of the
    // API's (a CSV upload is far larger than any JSON request).
    let imports = api::require_token(
        crate::imports::router(crate::imports::ImportDeps {
            engine: deps.engine.clone(),
            config: deps.config.clone(),
            playbooks: deps.playbooks.clone(),
        }),
        deps.engine.store().clone(),
    );
    // `/scim/v2`: SCIM bearer tokens (not API tokens), SCIM errors, its own 404.
    let scim = crate::scim::router(
        deps.engine.clone(),
        &deps.config,
        deps.playbooks.clone(),
        deps.config.server.max_body_bytes,
    )?;
    let mut app = api::router(state, deps.config.server.max_body_bytes)
        .merge(imports)
        .merge(hooks)
        .nest("/scim/v2", scim);
    // `/`: the web console, behind its own sign-in (sessions, not bearer tokens).
    if deps.config.server.console.enabled {
        app = app.merge(crate::console::router(
            deps.engine.clone(),
            deps.config.clone(),
            deps.playbooks.clone(),
            load_errors,
        )?);
    }
    Ok(app.fallback(|| async { api::not_found() }))
}

/// A background task and its name (for the log when it fails).
pub type Task = (&'static str, JoinHandle<anyhow::Result<()>>);

/// The tasks that run beside the server until `shutdown`: the workers, then the triggers. The
/// merge point for new background pieces.
pub fn background(
    deps: &Deps,
    worker: WorkerOptions,
    shutdown: watch::Receiver<bool>,
) -> Vec<Task> {
    let workers = Worker::new(deps.engine.clone(), worker);
    let mut tasks: Vec<Task> = Vec::new();
    let stop = shutdown.clone();
    tasks.push((
        "workers",
        tokio::spawn(async move { workers.run(stop).await.map_err(anyhow::Error::from) }),
    ));
    tasks.push((
        "triggers",
        tokio::spawn(crate::triggers::run(
            deps.engine.clone(),
            deps.config.clone(),
            deps.playbooks.clone(),
            shutdown,
        )),
    ));
    tasks
}

/// Runs the server until `stop` resolves, then shuts down gracefully. `on_listening` learns the
/// bound address (the port may have been 0).
pub async fn serve(
    config: Config,
    database_url: &str,
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let engine = open_engine(&config, database_url).await?;
    let dir = options
        .playbooks
        .clone()
        .unwrap_or_else(|| config.server.playbooks.clone());
    let (playbooks, load_errors) = load_playbooks(&engine, &dir).await?;
    let listen = options.listen.unwrap_or(config.server.listen);
    let deps = Deps {
        engine,
        config: Arc::new(config),
        playbooks: Arc::new(playbooks),
    };
    let app = routes(&deps, load_errors)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, playbooks = deps.playbooks.len(), "roster serve listening");

    let (shutdown, shutdown_rx) = watch::channel(false);
    let tasks = background(&deps, options.worker.clone(), shutdown_rx.clone());
    on_listening(bound);

    let mut http_stop = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    stop.await;
    tracing::info!("shutting down: no new connections; letting in-flight steps finish");
    let _ = shutdown.send(true);
    let finished = tokio::time::timeout(options.shutdown_timeout, async {
        match server.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "the HTTP server task failed"),
            Ok(Ok(())) => {}
        }
        for (name, task) in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "background task failed"),
                Err(e) => tracing::error!(task = name, error = %e, "background task panicked"),
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            timeout = ?options.shutdown_timeout,
            "steps still in flight at the shutdown timeout; they resume when their leases expire"
        );
    }
    deps.engine.store().close().await;
    Ok(())
}
