//! `roster sandbox`: serve the local emulators until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8025")]
    pub listen: SocketAddr,
    /// A seed file (YAML); the built-in contoso.com seed if absent.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Milliseconds added to every Graph, Google Directory and HR request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share (0–1) of requests answered with a 5xx in the API's own error shape.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share (0–1) of requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Seconds sent in Retry-After with injected 429s and 503s.
    #[arg(long = "retry-after", default_value_t = 1)]
    pub retry_after_s: u64,
    /// How long a new user or group stays invisible (404) to reads and references.
    #[arg(long, default_value_t = 0)]
    pub replication_delay_ms: u64,
    /// Seed for the fault draws, to repeat a run exactly.
    #[arg(long)]
    pub fault_seed: Option<u64>,
}

pub async fn sandbox(args: SandboxArgs) -> anyhow::Result<i32> {
    let seed = match &args.seed {
        Some(path) => SandboxSeed::from_file(path)?,
        None => SandboxSeed::default_seed(),
    };
    let faults = FaultConfig {
        latency_ms: args.latency_ms,
        error_rate: args.error_rate,
        throttle_rate: args.throttle_rate,
        retry_after_s: args.retry_after_s,
        replication_delay_ms: args.replication_delay_ms,
        rng_seed: args.fault_seed,
        ..FaultConfig::default()
    };
    let tenant = seed.entra.tenant_id.clone();
    let clients: Vec<String> = seed
        .entra
        .clients
        .iter()
        .map(|c| c.client_id.clone())
        .collect();
    let sandbox = Sandbox::start(SandboxOptions {
        listen: args.listen,
        seed,
        faults,
    })
    .await?;
    let u = sandbox.url();
    println!("Roster sandbox listening on {u}");
    println!(
        "  Entra authority   {u}   (instead of https://login.microsoftonline.com; tenant {tenant})"
    );
    println!(
        "  Token endpoint    {u}/{tenant}/oauth2/v2.0/token   clients: {}",
        clients.join(", ")
    );
    println!(
        "  Microsoft Graph   {u}   (instead of https://graph.microsoft.com, so {u}/v1.0/users)"
    );
    println!("  Google token      {u}/token   (instead of https://oauth2.googleapis.com/token)");
    println!("  Google Directory  {u}   (instead of https://admin.googleapis.com, so {u}/admin/directory/v1/users)");
    println!("  HR API            {u}/hr");
    println!("  Admin             {u}/_sandbox/state, POST {u}/_sandbox/reset, GET|PUT {u}/_sandbox/faults");
    println!("Sandbox-only test credentials: examples/sandbox/README.md. Ctrl-C stops.");
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping the sandbox");
    sandbox.shutdown().await;
    Ok(0)
}
