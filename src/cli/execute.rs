//! `check`, `run` and `worker`: loading playbooks and executing runs from the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::watch;

use super::{render, sandboxed, Global, RunArgs, WorkerArgs};
use crate::config::{self, Config};
use crate::engine::status::RunStatus;
use crate::engine::{Engine, Worker, WorkerOptions};
use crate::person::Person;
use crate::playbook::{self, Playbook};
use crate::script::Scripting;

/// The config named by `--config`, or `roster.yaml` if there is one.
pub(super) fn load_config(g: &Global) -> anyhow::Result<Config> {
    let (path, required) = match &g.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(config::DEFAULT_PATH), false),
    };
    Ok(Config::load(&path, required)?)
}

/// The database URL: `--database`/`DATABASE_URL`, else the config's, else `sqlite://roster.db`.
pub(super) fn database_url(g: &Global, config: &Config) -> String {
    g.database
        .clone()
        .or_else(|| config.database.url.clone())
        .unwrap_or_else(|| "sqlite://roster.db".into())
}

pub(super) async fn open_engine(g: &Global) -> anyhow::Result<Arc<Engine>> {
    open_engine_with(g, load_config(g)?).await
}

pub(super) async fn open_engine_with(g: &Global, config: Config) -> anyhow::Result<Arc<Engine>> {
    crate::app::open_engine(&config, &database_url(g, &config)).await
}

pub(super) fn check(g: &Global, paths: &[PathBuf]) -> anyhow::Result<i32> {
    let scripting = Scripting::new();
    match playbook::load_all(paths, &scripting) {
        Ok(loaded) => {
            if g.json {
                let names: Vec<_> = loaded.iter().map(|p| serde_json::json!({"name": p.name, "path": p.path, "steps": p.steps.len()})).collect();
                println!("{}", serde_json::json!({ "ok": true, "playbooks": names }));
            } else {
                for p in &loaded {
                    println!("ok  {}  ({}, {} steps)", p.name, p.path, p.total_steps());
                }
                println!("{} playbook(s) checked, no errors", loaded.len());
            }
            Ok(0)
        }
        Err(diags) => {
            if g.json {
                println!("{}", serde_json::json!({ "ok": false, "errors": diags.0 }));
            } else {
                eprintln!("{diags}");
                eprintln!("{} error(s)", diags.0.len());
            }
            Ok(1)
        }
    }
}

/// A playbook given as a file path, or by name from the playbooks directory.
pub(super) fn find_playbook(
    name: &str,
    dir: &Path,
    scripting: &Scripting,
) -> anyhow::Result<Playbook> {
    let as_path = Path::new(name);
    if as_path.is_file() {
        return playbook::load_file(as_path, scripting).map_err(|d| anyhow::anyhow!("{d}"));
    }
    for f in playbook::files(&[dir.to_path_buf()]).map_err(|d| anyhow::anyhow!("{d}"))? {
        if let Ok(p) = playbook::load_file(&f, scripting) {
            if p.name == name {
                return Ok(p);
            }
        }
    }
    bail!(
        "no playbook file '{name}' and no playbook named '{name}' in {}",
        dir.display()
    )
}

pub(super) async fn run(g: &Global, args: RunArgs) -> anyhow::Result<i32> {
    if !args.sandbox {
        return run_with(g, args, load_config(g)?).await;
    }
    let sandbox = sandboxed::start().await?;
    let before = sandboxed::user_ids(&sandbox);
    if !g.json {
        println!(
            "sandbox: Graph, Google Directory and HR emulators at {}",
            sandbox.url()
        );
    }
    let config = sandboxed::config(load_config(g)?, &sandbox);
    let code = run_with(g, args, config).await;
    if !g.json {
        for line in sandboxed::summary(&sandbox, &before) {
            println!("sandbox: {line}");
        }
    }
    sandbox.shutdown().await;
    code
}

async fn run_with(g: &Global, args: RunArgs, config: Config) -> anyhow::Result<i32> {
    let engine = open_engine_with(g, config).await?;
    let pb = find_playbook(&args.playbook, &args.playbooks, engine.scripting())?;
    let file = args.person.display().to_string();
    let text = std::fs::read_to_string(&args.person).with_context(|| format!("reading {file}"))?;
    let person = Person::from_json(&file, &text)?;
    let pb = engine.register(pb).await?;
    let mut changes = engine.subscribe();
    let Some(run_id) = engine
        .start(&pb, person.to_value(), args.key.clone())
        .await?
    else {
        println!("not started: the key was used before, or the playbook's `where:` is false for this person");
        return Ok(0);
    };
    if args.detach {
        if g.json {
            println!(
                "{}",
                serde_json::json!({ "run": run_id, "status": "queued" })
            );
        } else {
            println!("queued run {run_id}; `roster worker` executes it");
        }
        return Ok(0);
    }
    let (stop, stopped) = watch::channel(false);
    let options = WorkerOptions {
        only_run: Some(run_id.clone()),
        ..WorkerOptions::default()
    };
    let worker = tokio::spawn(Worker::new(engine.clone(), options).run(stopped));
    let follow_ms = args.follow.as_millis() as i64;
    loop {
        let run = engine.store().run(&run_id).await?;
        let settled = match run.status {
            RunStatus::Queued | RunStatus::Running => false,
            RunStatus::Waiting => run
                .wake_at
                .is_none_or(|t| t - crate::clock::now_ms() > follow_ms),
            _ => true,
        };
        if settled {
            break;
        }
        // Wake on this process's commits; re-read on a timer too, for timers that fire.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(250), changes.recv()).await;
    }
    let _ = stop.send(true);
    worker.await.context("worker task")??;
    render::show_run(engine.store(), &run_id, g.json).await
}

pub(super) async fn worker(g: &Global, args: WorkerArgs) -> anyhow::Result<i32> {
    let engine = open_engine(g).await?;
    let config = load_config(g)?;
    let (lease, heartbeat) = config.database.lease(args.lease)?;
    let (stop, stopped) = watch::channel(false);
    let options = WorkerOptions {
        concurrency: args.concurrency,
        lease,
        heartbeat,
        idle_check: args.idle_check,
        only_run: None,
    };
    let worker = Worker::new(engine.clone(), options);
    eprintln!(
        "roster worker {} on {} (concurrency {})",
        worker.owner(),
        crate::store::redact_url(&database_url(g, &config)),
        args.concurrency
    );
    let handle = tokio::spawn(worker.run(stopped));
    let store = engine.store().clone();
    let idle = async {
        loop {
            tokio::time::sleep(args.idle_check).await;
            if args.until_idle && store.active_runs().await.unwrap_or(1) == 0 {
                return;
            }
        }
    };
    tokio::select! {
        _ = shutdown_signal() => eprintln!("stopping: letting in-flight steps finish"),
        _ = idle => {}
    }
    let _ = stop.send(true);
    handle.await.context("worker task")??;
    Ok(0)
}

/// Resolves on SIGTERM or Ctrl-C. SIGTERM's handler is installed when this is called (not when
/// it is first polled), so a SIGTERM that arrives in between is not fatal.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
