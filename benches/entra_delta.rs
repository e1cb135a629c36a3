//! The Entra delta poller benchmark (`cargo bench --bench entra_delta`).
//!
//! A sandbox tenant with N generated users (plus the seed's), a fresh SQLite store with the
//! default durability, and the `triggers.entra` poller with no playbooks (observations, diffs
//! and events only). Measured in one run, per repetition:
//!
//! - `list`: the baseline, every user read with `GET /v1.0/users` (paged, same `$select`),
//!   nothing stored: the HTTP floor of reading the tenant;
//! - `full`: the first delta round (the baseline: every user observed and stored);
//! - `incremental`: a poll after `--changed` users had their department changed (one
//!   `person.changed` each);
//! - `resync`: a poll after Graph forgot the delta tokens: a full round that finds nothing new.
//!
//! ```text
//! cargo bench --bench entra_delta                        # 5,000 users, 1% changed, 3 repetitions
//! cargo bench --bench entra_delta -- --users 20000 --changed 200 --reps 1
//! ```
//! Figures are printed as times and as ratios to `list` and `full` of the same repetition.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use clap::Parser;
use serde_json::{json, Value};

use roster::config::Config;
use roster::connectors::Connections;
use roster::engine::Engine;
use roster::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use roster::store::{Store, StoreOptions};
use roster::triggers::entra_delta::Poller;

#[derive(Parser, Debug)]
#[command(name = "entra_delta", about = "Roster's Entra delta poller benchmark")]
struct Args {
    /// Generated users in the tenant.
    #[arg(long, default_value_t = 5_000)]
    users: usize,
    /// Users changed before the incremental poll.
    #[arg(long, default_value_t = 50)]
    changed: usize,
    /// Repetitions.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Items per delta and list page.
    #[arg(long, default_value_t = 500)]
    page_size: u32,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Rep {
    list: Duration,
    full: Duration,
    incremental: Duration,
    resync: Duration,
}

fn seed(users: usize) -> SandboxSeed {
    let mut seed = SandboxSeed::default_seed();
    let template = seed.entra.users[0].clone();
    for i in 0..users {
        let mut u = template.clone();
        u.id = format!("00000000-0000-4000-8000-{i:012}");
        u.user_principal_name = format!("bench{i:06}@contoso.com");
        u.display_name = format!("Bench User {i}");
        u.mail = Some(u.user_principal_name.clone());
        u.mail_nickname = Some(format!("bench{i:06}"));
        u.employee_id = Some(format!("B{i:06}"));
        u.licenses = Vec::new();
        seed.entra.users.push(u);
    }
    seed
}

async fn token(http: &reqwest::Client, url: &str, seed: &SandboxSeed) -> Result<String> {
    let c = &seed.entra.clients[0];
    let r: Value = http
        .post(format!("{url}/{}/oauth2/v2.0/token", seed.entra.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.secret.as_deref().unwrap_or("")),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    Ok(r["access_token"].as_str().unwrap_or_default().to_string())
}

async fn list_all(http: &reqwest::Client, url: &str, token: &str, top: u32) -> Result<usize> {
    let select = roster::triggers::entra_user::SELECT;
    let mut next = format!("{url}/v1.0/users?$select={select}&$top={top}");
    let mut n = 0;
    loop {
        let page: Value = http
            .get(&next)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        n += page["value"].as_array().map_or(0, Vec::len);
        match page["@odata.nextLink"].as_str() {
            Some(l) => next = l.to_string(),
            None => return Ok(n),
        }
    }
}

async fn one(args: &Args) -> Result<Rep> {
    let seed = seed(args.users);
    let sandbox = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse()?,
        seed: seed.clone(),
        faults: FaultConfig::default(),
    })
    .await?;
    let url = sandbox.url();
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("entra.secret"),
        seed.entra.clients[0].secret.as_deref().unwrap_or(""),
    )?;
    let yaml = format!(
        "connections:\n  entra:\n    tenant_id: {tenant}\n    client_id: {client}\n    \
         client_secret: {{ file: entra.secret }}\n    authority_url: {url}\n    graph_url: {url}\n    \
         limits: {{ requests_per_second: 100000, concurrency: 64 }}\n\
         triggers:\n  entra:\n    interval: 1h\n    page_size: {page}\n",
        tenant = seed.entra.tenant_id,
        client = seed.entra.clients[0].client_id,
        page = args.page_size,
    );
    let config = Config::from_parts("roster.yaml", Some(&yaml), &[], dir.path().to_path_buf())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = format!("sqlite://{}", dir.path().join("roster.db").display());
    let store = Store::open(&db, &StoreOptions::default()).await?;
    let engine = Engine::new(store);
    let connections = Connections::from_config(&config, engine.http())?;
    let engine = Arc::new(engine.with_connections(connections));
    let poller = Poller::from_config(engine.clone(), &config, Arc::new(Vec::new()))?
        .context("triggers.entra")?;
    let http = reqwest::Client::new();
    let t = token(&http, &url, &seed).await?;

    let start = Instant::now();
    let listed = list_all(&http, &url, &t, args.page_size.min(999)).await?;
    let list = start.elapsed();
    ensure!(listed >= args.users, "listed {listed} users");

    let start = Instant::now();
    let r = poller.poll_once().await?;
    let full = start.elapsed();
    ensure!(r.complete && r.events.is_empty(), "baseline: {r:?}");

    for i in 0..args.changed {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let status = http
            .patch(format!("{url}/v1.0/users/{id}"))
            .bearer_auth(&t)
            .json(&json!({"department": "Finance"}))
            .send()
            .await?
            .status();
        ensure!(status.as_u16() == 204, "PATCH {id}: {status}");
    }
    let start = Instant::now();
    let r = poller.poll_once().await?;
    let incremental = start.elapsed();
    ensure!(
        r.events.len() == args.changed,
        "{} changes, {} events",
        args.changed,
        r.events.len()
    );

    sandbox.expire_delta_tokens();
    let start = Instant::now();
    let r = poller.poll_once().await?;
    let resync = start.elapsed();
    ensure!(r.resynced && r.events.is_empty(), "resync: {r:?}");
    sandbox.shutdown().await;
    Ok(Rep {
        list,
        full,
        incremental,
        resync,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    println!(
        "entra_delta: {} generated users, {} changed, page size {}, {} repetition(s)",
        args.users, args.changed, args.page_size, args.reps
    );
    println!(
        "{:>4} {:>10} {:>10} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "rep",
        "list ms",
        "full ms",
        "incr ms",
        "resync ms",
        "full/list",
        "incr/full",
        "resync/full"
    );
    for rep in 1..=args.reps {
        let r = one(&args).await?;
        println!(
            "{rep:>4} {:>10.1} {:>10.1} {:>12.1} {:>10.1} {:>10.2} {:>12.4} {:>12.2}",
            ms(r.list),
            ms(r.full),
            ms(r.incremental),
            ms(r.resync),
            ms(r.full) / ms(r.list),
            ms(r.incremental) / ms(r.full),
            ms(r.resync) / ms(r.full),
        );
    }
    Ok(())
}
