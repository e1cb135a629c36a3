//! `roster serve`: the API, the workers and the triggers in one process, until SIGTERM/Ctrl-C.

use std::io::Write as _;

use super::execute::{database_url, load_config, shutdown_signal};
use super::{Global, ServeArgs};
use crate::app::{self, ServeOptions};
use crate::engine::WorkerOptions;

pub(super) async fn serve(g: &Global, args: ServeArgs) -> anyhow::Result<i32> {
    let config = load_config(g)?;
    let url = database_url(g, &config);
    let (lease, heartbeat) = config.database.lease(args.lease)?;
    let options = ServeOptions {
        listen: args.listen,
        playbooks: args.playbooks,
        worker: WorkerOptions {
            concurrency: args.concurrency,
            lease,
            heartbeat,
            idle_check: args.idle_check,
            only_run: None,
        },
        shutdown_timeout: args.shutdown_timeout,
    };
    let json = g.json;
    let signal = shutdown_signal();
    app::serve(
        config,
        &url,
        options,
        move |addr| {
            // Scripts and tests read the bound address (the port may have been 0) from here.
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "listening": format!("http://{addr}") })
                );
            } else {
                println!("roster serve listening on http://{addr}");
            }
            let _ = std::io::stdout().flush();
        },
        async {
            signal.await;
            eprintln!("stopping: no new requests; letting in-flight steps finish");
        },
    )
    .await?;
    Ok(0)
}
