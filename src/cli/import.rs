//! `roster import FILE --profile NAME [--dry-run]`: the same import the API runs, with a
//! progress bar on a terminal and the report's summary (or, with `--json`, the whole report).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::execute::{database_url, load_config};
use super::Global;
use crate::engine::Engine;
use crate::imports::{self, Counts, Outcome, Report, Upload};
use crate::playbook::{self, Playbook};
use crate::store::{Store, StoreOptions};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The import profile in the config (`imports.NAME`) that reads it.
    #[arg(long)]
    pub profile: String,
    /// Report what would happen (events, the playbooks they would start) and store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The playbooks whose triggers the rows' events start (a missing default directory means
    /// none).
    #[arg(long)]
    pub playbooks: Option<PathBuf>,
}

/// Exit code 1 when any row had errors.
pub(super) async fn import(g: &Global, args: ImportArgs) -> anyhow::Result<i32> {
    let config = load_config(g)?;
    let profile = imports::profile(&config, &args.profile)?;
    let file = args.file.display().to_string();
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {file}"))?
        .len();
    if size > profile.max_bytes {
        return Err(imports::ImportError::TooLarge {
            profile: profile.name.clone(),
            limit: profile.max_bytes,
        }
        .into());
    }
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {file}"))?;
    let upload = Upload {
        profile: args.profile.clone(),
        file_name: args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        dry_run: args.dry_run,
    };
    let prepared = imports::prepare(profile, &upload, &bytes)
        .with_context(|| format!("{file} was not imported"))?;
    drop(bytes);

    // An import records observations and enqueues runs; the workers that execute them hold
    // the connections, so their credentials are not needed (nor resolved) here.
    let url = database_url(g, &config);
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening the database {url}"))?;
    let engine = Engine::new(store);
    let dir = args.playbooks.clone().unwrap_or_else(|| "playbooks".into());
    let loaded = load_playbooks(&dir, args.playbooks.is_some(), engine.scripting())?;
    // A dry run writes nothing, not even the playbook versions runs would pin.
    let mut playbooks: Vec<Arc<Playbook>> = Vec::with_capacity(loaded.len());
    for pb in loaded {
        playbooks.push(if args.dry_run {
            Arc::new(pb)
        } else {
            engine.register(pb).await?
        });
    }

    let bar = progress_bar(prepared.rows());
    imports::begin(&engine, &prepared).await?;
    let report = imports::execute(&engine, &playbooks, prepared, &|c: &Counts| {
        bar.set_position(c.processed);
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    if g.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&file, &report);
    }
    Ok(if report.counts.invalid > 0 { 1 } else { 0 })
}

fn load_playbooks(
    dir: &Path,
    named: bool,
    scripting: &crate::script::Scripting,
) -> anyhow::Result<Vec<Playbook>> {
    if !named && !dir.exists() {
        return Ok(Vec::new());
    }
    playbook::load_all(&[dir.to_path_buf()], scripting).map_err(|d| anyhow::anyhow!("{d}"))
}

/// A bar on a terminal; nothing when stderr is a file or a pipe.
fn progress_bar(rows: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rows);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn print_summary(file: &str, r: &Report) {
    let c = &r.counts;
    if r.dry_run {
        println!(
            "dry run of {file} (profile {}, source {}): nothing was stored",
            r.profile, r.source
        );
    } else {
        println!(
            "import {} of {file} (profile {}, source {})",
            r.id, r.profile, r.source
        );
    }
    println!(
        "{} rows: {} joined, {} changed, {} left, {} returned, {} unchanged, {} invalid{}{}",
        c.rows,
        c.joined,
        c.changed,
        c.left,
        c.returned,
        c.unchanged,
        c.invalid,
        if c.baseline > 0 {
            format!(", {} already gone (baseline)", c.baseline)
        } else {
            String::new()
        },
        if c.duplicate > 0 {
            format!(", {} seen before (duplicate)", c.duplicate)
        } else {
            String::new()
        },
    );
    println!(
        "{} {} run(s)",
        if r.dry_run { "would start" } else { "started" },
        c.runs
    );
    if r.dry_run {
        for row in r.rows.iter().filter(|row| !row.playbooks.is_empty()) {
            let plan: Vec<String> = row
                .playbooks
                .iter()
                .map(|p| {
                    if p.filtered {
                        format!("{} (filtered by where:)", p.playbook)
                    } else {
                        p.playbook.clone()
                    }
                })
                .collect();
            println!(
                "  row {}  {}  {}  → {}",
                row.row,
                row.id.as_deref().unwrap_or("?"),
                row.outcome.as_str(),
                plan.join(", ")
            );
        }
    }
    let invalid: Vec<_> = r
        .rows
        .iter()
        .filter(|row| row.outcome == Outcome::Invalid)
        .collect();
    if !invalid.is_empty() {
        println!("errors:");
        for row in invalid {
            for e in &row.errors {
                match &e.column {
                    Some(column) => {
                        println!("  row {}, column \"{column}\": {}", row.row, e.reason)
                    }
                    None => println!("  row {}: {}", row.row, e.reason),
                }
            }
        }
    }
}
