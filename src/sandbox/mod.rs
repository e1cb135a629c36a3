//! `roster sandbox`: local, stateful emulators of the identity APIs Roster talks to, served side
//! by side on one port so tests, the quick start and playbook authors need no real tenant.
//!
//! With base URL `U` the real endpoints map as: Entra authority `https://login.microsoftonline.com`
//! → `U` (`U/{tenant}/oauth2/v2.0/token`), Graph `https://graph.microsoft.com` → `U`
//! (`U/v1.0/users`), Google's token endpoint → `U/token`, Google Directory
//! `https://admin.googleapis.com` → `U` (`U/admin/directory/v1/users`), the HR API → `U/hr`, and
//! the unauthenticated admin surface → `U/_sandbox/{state,reset,faults}`.
//!
//! Layout: `seed` (the YAML world a sandbox starts from) is compiled into `world` (the mutable
//! state behind one lock); `routes` is the table of every route served, and `dispatch` turns a
//! table entry plus a request into a `Call`, applies authentication and `faults`, and hands it to
//! the API's module (`graph`, `google`, `hr`, the token endpoints, `admin`). Handlers are plain
//! functions over `&World` and `&Call` returning a `Reply`, so no lock is held across an await.

mod admin;
mod dispatch;
mod faults;
mod google;
mod google_token;
mod graph;
mod hr;
mod ids;
mod keys;
mod microsoft_token;
mod reply;
mod routes;
mod seed;
mod tokens;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::FaultConfig;
pub use routes::{routes, Api, RouteSpec};
pub use seed::{SandboxSeed, SeedError};

use world::World;

/// How to start a sandbox: where to listen, the world to start from, and the faults to inject.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The address to bind; port 0 picks a free port (what tests use).
    pub listen: SocketAddr,
    /// The initial state; `POST /_sandbox/reset` returns to it.
    pub seed: SandboxSeed,
    /// Latency, error and throttle rates and replication delay; changeable while running.
    pub faults: FaultConfig,
}

/// A running sandbox server, spawned on the current tokio runtime.
pub struct Sandbox {
    addr: SocketAddr,
    world: Arc<World>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Sandbox {
    /// Validates the seed and faults, binds `options.listen` and starts serving.
    pub async fn start(options: SandboxOptions) -> anyhow::Result<Sandbox> {
        options.faults.validate()?;
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let world = Arc::new(World::new(options.seed, options.faults, base_url)?);
        let router = routes::router(world.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox {
            addr,
            world,
            stop,
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:8025` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The whole state as JSON: the same dump as `GET /_sandbox/state`.
    pub fn state(&self) -> serde_json::Value {
        admin::dump(&self.world)
    }

    /// Replaces the fault configuration (also possible with `PUT /_sandbox/faults`).
    pub fn set_faults(&self, faults: FaultConfig) {
        self.world.set_faults(faults);
    }

    /// Restores the seed (also possible with `POST /_sandbox/reset`).
    pub fn reset(&self) {
        self.world.reset();
    }

    /// Forgets every Graph delta token: the next use of one answers `syncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        self.world.expire_delta_tokens();
    }

    /// Stops accepting connections, lets in-flight requests finish and waits for the server.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
