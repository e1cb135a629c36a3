//! `roster plan PLAYBOOK (--person FILE | --csv FILE --profile P) [--sandbox]`: what a run
//! would do, per person, found with reads only (`crate::plan`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use super::execute::{database_url, find_playbook, load_config};
use super::{sandboxed, Global};
use crate::clock::now_ms;
use crate::config::Config;
use crate::connectors::Connections;
use crate::engine::{dispatch, Engine};
use crate::imports::{self, Upload};
use crate::person::Person;
use crate::plan::{self, Plan, Planner};
use crate::script::Scripting;
use crate::store::{Store, StoreOptions};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("people").required(true).args(["person", "csv"])))]
pub struct PlanArgs {
    /// A playbook file, or the name of a playbook in --playbooks.
    pub playbook: String,
    /// The person, as a JSON file: planned as `roster run` would start it (a `manual` event).
    #[arg(long)]
    pub person: Option<PathBuf>,
    /// A CSV file read with --profile: each valid row is planned for the event the import
    /// would fire (rows the import would start nothing for are listed as such).
    #[arg(long, requires = "profile")]
    pub csv: Option<PathBuf>,
    /// The import profile in the config (`imports.NAME`) that reads --csv.
    #[arg(long, requires = "csv")]
    pub profile: Option<String>,
    /// Where playbooks are looked up by name.
    #[arg(long, default_value = "playbooks")]
    pub playbooks: PathBuf,
    /// Point the entra, google and hr connections at an in-process `roster sandbox` (the
    /// built-in seed), as `roster run --sandbox` does.
    #[arg(long)]
    pub sandbox: bool,
}

/// Exit code 1 when a row is invalid or a person's run would park for review or fail.
pub(super) async fn plan(g: &Global, args: PlanArgs) -> anyhow::Result<i32> {
    let config = load_config(g)?;
    if !args.sandbox {
        return show(g, plan_with(g, &args, &config).await?);
    }
    let sandbox = sandboxed::start().await?;
    let before = data(sandbox.state());
    let result = plan_with(g, &args, &sandboxed::config(config, &sandbox)).await;
    let after = sandbox.state();
    let url = sandbox.url();
    sandbox.shutdown().await;
    let plan = result?;
    if !g.json {
        println!("sandbox: Graph, Google Directory and HR emulators at {url}");
    }
    let code = show(g, plan)?;
    if data(after) != before {
        // The read-only guard makes this impossible; say so loudly if it ever is not.
        eprintln!("sandbox: the plan CHANGED the sandbox's state; please report this as a bug");
        return Ok(2);
    }
    if !g.json {
        println!("sandbox: unchanged");
    }
    Ok(code)
}

fn show(g: &Global, plan: Plan) -> anyhow::Result<i32> {
    if g.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan::text::render(&plan));
    }
    Ok(plan.exit_code())
}

/// A sandbox's state without what reads change too (request counts, the time of the dump).
fn data(mut state: Value) -> Value {
    if let Some(m) = state.as_object_mut() {
        m.remove("requests");
        m.remove("at");
    }
    state
}

async fn plan_with(g: &Global, args: &PlanArgs, config: &Config) -> anyhow::Result<Plan> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")?;
    let connections = Connections::from_config(config, &http)?;
    if let Some(file) = &args.person {
        let scripting = Scripting::new();
        let pb = find_playbook(&args.playbook, &args.playbooks, &scripting)?;
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?;
        let person = Person::from_json(&name, &text)?.to_value();
        let event = dispatch::manual_event(&person, None, now_ms());
        let d = dispatch::plan(&scripting, &pb, &event, &person);
        let planner = Planner {
            scripting: &scripting,
            connections: &connections,
            http: &http,
        };
        let p = planner.plan(&pb, &d, &person).await;
        return Ok(Plan::new(&pb.name, vec![p], Vec::new()));
    }
    let (Some(csv), Some(profile)) = (&args.csv, &args.profile) else {
        anyhow::bail!("give --person FILE, or --csv FILE with --profile NAME");
    };
    let file = csv.display().to_string();
    let profile = imports::profile(config, profile)?;
    let bytes = std::fs::read(csv).with_context(|| format!("reading {file}"))?;
    let upload = Upload {
        profile: profile.name.clone(),
        file_name: csv.file_name().map(|n| n.to_string_lossy().into_owned()),
        dry_run: true,
    };
    let prepared = imports::prepare(profile, &upload, &bytes)
        .with_context(|| format!("{file} was not read"))?;
    // The stored subjects say whether a row is new, changed or unchanged; only read.
    let url = database_url(g, config);
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening the database {url}"))?;
    let engine = Engine::new(store);
    let pb = Arc::new(find_playbook(
        &args.playbook,
        &args.playbooks,
        engine.scripting(),
    )?);
    let planner = Planner {
        scripting: engine.scripting(),
        connections: &connections,
        http: &http,
    };
    Ok(plan::csv::plan(planner, &engine, pb, prepared).await?)
}
