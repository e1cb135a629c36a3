//! The `roster` command line: what the user typed (clap), and one function per command.

mod execute;
mod import;
mod plan;
mod render;
mod runs;
mod sandbox;
pub(crate) mod sandboxed;
mod serve;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::status::RunStatus;

/// Roster: durable identity-lifecycle playbooks.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST/DB
    /// [default: the config's `database`, else sqlite://roster.db]
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database: Option<String>,
    /// The config file with the connections (optional unless given).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Log filter, e.g. `info` or `roster=debug` (also RUST_LOG).
    #[arg(long, global = true, env = "ROSTER_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and check playbooks; report every error with file:line:column.
    Check {
        /// Playbook files or directories.
        #[arg(default_value = "playbooks")]
        paths: Vec<PathBuf>,
    },
    /// The whole product in under a minute: the sandbox, `serve` on SQLite, an HR CSV upload,
    /// Google joiners, a mover and a leaver, then a summary of what happened.
    Demo {
        /// Where the demo keeps its database, config and playbooks.
        #[arg(long, default_value = "roster-demo")]
        dir: PathBuf,
    },
    /// Start a playbook for one person, execute it here and print its steps.
    Run(RunArgs),
    /// A dry run: what a playbook would create, change, add and remove per person (a JSON
    /// person or the rows of a CSV file), found with read calls only; nothing is changed.
    Plan(plan::PlanArgs),
    /// Execute queued and parked runs until stopped (Ctrl-C); several may run at once.
    Worker(WorkerArgs),
    /// List, show, retry and cancel runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Approve a run waiting for review or approval (optionally correcting the person first).
    Approve {
        /// Run id (or a unique prefix).
        run: String,
        /// Corrected person fields, e.g. --set department=Finance (custom.x for custom fields).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
        /// Who approves (recorded with the decision).
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
    /// Import a CSV file with an import profile of the config: each valid row is an
    /// observation (joined, changed, left, returned or unchanged); exit code 1 when any row
    /// had errors.
    Import(import::ImportArgs),
    /// Serve the HTTP API and execute runs (workers and triggers) until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Create, list and revoke bearer tokens for the HTTP API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Serve local emulators of Graph, Google Directory, their token endpoints and an HR API.
    Sandbox(sandbox::SandboxArgs),
    /// Reject a run waiting for review or approval: it ends without executing further.
    Reject {
        run: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, env = "USER", default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A playbook file, or the name of a playbook in --playbooks.
    pub playbook: String,
    /// The person, as a JSON file.
    #[arg(long)]
    pub person: PathBuf,
    /// Where playbooks are looked up by name.
    #[arg(long, default_value = "playbooks")]
    pub playbooks: PathBuf,
    /// Only enqueue the run; a `roster worker` executes it.
    #[arg(long)]
    pub detach: bool,
    /// An idempotency key: a second run with the same key is not started.
    #[arg(long)]
    pub key: Option<String>,
    /// Point the entra, google and hr connections at an in-process `roster sandbox` (the
    /// built-in seed) and show what the run created there.
    #[arg(long)]
    pub sandbox: bool,
    /// Keep executing while the run waits for a retry or timer at most this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub follow: Duration,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Runs executed at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Lease length: a killed worker's runs resume this long after its last heartbeat
    /// [default: the config's `database.lease`, else 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lease: Option<Duration>,
    /// How often an idle worker checks for work submitted by other processes.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub idle_check: Duration,
    /// Stop once no run is queued, running or waiting on a timer (for batch jobs and tests).
    #[arg(long)]
    pub until_idle: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on [default: the config's `server.listen`, else 127.0.0.1:8080];
    /// port 0 picks a free port. The bound address is printed on stdout.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The playbooks directory [default: the config's `server.playbooks`, else playbooks/].
    #[arg(long)]
    pub playbooks: Option<PathBuf>,
    /// Runs executed at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Lease length: a killed server's runs resume this long after its last heartbeat
    /// [default: the config's `database.lease`, else 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lease: Option<Duration>,
    /// How often idle workers check for work submitted by other processes.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub idle_check: Duration,
    /// How long a shutdown waits for in-flight steps; later ones resume after their lease.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        name: String,
        /// A token for the inbound SCIM endpoint (`/scim/v2`, for Entra or Google Workspace
        /// provisioning) instead of the API.
        #[arg(long)]
        scim: bool,
    },
    /// The tokens, without their secrets.
    List,
    /// Revoke a token by name or id: it stops working at once.
    Revoke { token: String },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The most recent runs.
    List {
        #[arg(long)]
        playbook: Option<String>,
        #[arg(long)]
        status: Option<RunStatus>,
        /// The person's id.
        #[arg(long)]
        person: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One run with its steps, outputs and errors.
    Show { run: String },
    /// Queue a failed run again from the step that failed.
    Retry { run: String },
    /// Cancel a run that has not finished.
    Cancel { run: String },
}

/// Runs the command; the exit code says whether it succeeded (1 for a failed run or check).
pub async fn main(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    match cli.command {
        Command::Check { paths } => execute::check(g, &paths),
        Command::Demo { dir } => crate::demo::run(&dir).await,
        Command::Run(args) => execute::run(g, args).await,
        Command::Plan(args) => plan::plan(g, args).await,
        Command::Worker(args) => execute::worker(g, args).await,
        Command::Runs(cmd) => runs::runs(g, cmd).await,
        Command::Sandbox(args) => sandbox::sandbox(args).await,
        Command::Import(args) => import::import(g, args).await,
        Command::Serve(args) => serve::serve(g, args).await,
        Command::Token(cmd) => token::token(g, cmd).await,
        Command::Approve {
            run,
            set,
            comment,
            by,
        } => runs::approve(g, &run, &set, comment.as_deref(), &by).await,
        Command::Reject { run, reason, by } => runs::reject(g, &run, reason.as_deref(), &by).await,
    }
}
