//! `runs list|show|retry|cancel`, `approve` and `reject`.

use anyhow::bail;
use serde_json::{Map, Value};

use super::execute::open_engine;
use super::{render, Global, RunsCommand};
use crate::store::RunFilter;

pub(super) async fn runs(g: &Global, cmd: RunsCommand) -> anyhow::Result<i32> {
    let engine = open_engine(g).await?;
    let store = engine.store();
    match cmd {
        RunsCommand::List {
            playbook,
            status,
            person,
            limit,
        } => {
            let runs = store
                .runs(&RunFilter {
                    playbook,
                    status,
                    subject: person,
                    limit,
                    ..RunFilter::default()
                })
                .await?;
            if g.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                render::print_runs(&runs);
            }
            Ok(0)
        }
        RunsCommand::Show { run } => {
            let id = store.resolve_run_id(&run).await?;
            render::show_run(store, &id, g.json).await
        }
        RunsCommand::Retry { run } => {
            let id = store.resolve_run_id(&run).await?;
            engine.retry(&id).await?;
            println!("run {id} queued again from the step that failed");
            Ok(0)
        }
        RunsCommand::Cancel { run } => {
            let id = store.resolve_run_id(&run).await?;
            engine.cancel(&id).await?;
            println!("run {id} cancelled");
            Ok(0)
        }
    }
}

/// `field=value` pairs; a value that parses as JSON (a number, `true`, a quoted string) is
/// taken as JSON, anything else as text.
fn corrections(set: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for (i, pair) in set.iter().enumerate() {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--set #{}: '{pair}' is not FIELD=VALUE", i + 1);
        };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        out.insert(k.trim().to_string(), value);
    }
    Ok(out)
}

pub(super) async fn approve(
    g: &Global,
    run: &str,
    set: &[String],
    comment: Option<&str>,
    by: &str,
) -> anyhow::Result<i32> {
    let fixes = corrections(set)?;
    let engine = open_engine(g).await?;
    let id = engine.store().resolve_run_id(run).await?;
    let corrected = !fixes.is_empty();
    engine.approve(&id, by, comment, fixes).await?;
    if corrected {
        println!("run {id}: corrections saved; it validates again when a worker picks it up");
    } else {
        println!("run {id} approved; a worker continues it");
    }
    Ok(0)
}

pub(super) async fn reject(
    g: &Global,
    run: &str,
    reason: Option<&str>,
    by: &str,
) -> anyhow::Result<i32> {
    let engine = open_engine(g).await?;
    let id = engine.store().resolve_run_id(run).await?;
    engine.reject(&id, by, reason).await?;
    println!("run {id} rejected");
    Ok(0)
}
