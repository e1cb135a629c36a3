//! The web console of `roster serve`, at `/`: runs and a run's timeline, the review and
//! approval queues, CSV imports and the loaded playbooks, for the people who operate Roster.
//!
//! Server-rendered HTML (`pages`: minijinja templates embedded in the binary) with a little
//! JavaScript that only refreshes pages that are still changing; no front-end build and no
//! asset from anywhere else (`assets`). The pages call the same functions as the HTTP API
//! (`api::runs`, `api::review`, `api::playbooks`, `imports::start`) and the engine's
//! approve, reject, retry and cancel: the console is another view of one code path.
//!
//! `session` signs people in (an API token, or the configured admin password) and guards every
//! page but `sign_in`; one file per area holds its routes and handlers.

mod assets;
mod imports;
mod pages;
mod pending;
mod playbooks;
mod queues;
mod runs;
mod session;
mod sign_in;

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::config::{Config, SecureCookies};
use crate::engine::status::RunStatus;
use crate::engine::Engine;
use crate::imports::ImportDeps;
use crate::playbook::{Diagnostics, Playbook};
use crate::secret::Secret;
pub use pages::ConsoleError;
use pages::Frame;
use session::Session;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    engine: Arc<Engine>,
    imports: Arc<ImportDeps>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    load_errors: Arc<Diagnostics>,
    /// Signs in as `admin` when configured.
    admin_password: Option<Secret>,
    session_ttl: Duration,
    secure_cookies: SecureCookies,
    /// Files checked by a dry run, kept until they are applied.
    pending: Arc<pending::Pending>,
}

/// The console's routes with their state; `app.rs` merges them beside the API.
pub fn router(
    engine: Arc<Engine>,
    config: Arc<Config>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    load_errors: Arc<Diagnostics>,
) -> anyhow::Result<Router> {
    let console = &config.server.console;
    let admin_password = console
        .admin_password
        .as_ref()
        .map(|r| r.resolve(&config.base_dir))
        .transpose()
        .map_err(|e| anyhow::anyhow!("server.console.admin_password: {e}"))?;
    let session_ttl = console
        .session_ttl()
        .map_err(|(key, message)| anyhow::anyhow!("{key}: {message}"))?;
    let state = ConsoleState {
        imports: Arc::new(ImportDeps {
            engine: engine.clone(),
            config: config.clone(),
            playbooks: playbooks.clone(),
        }),
        engine,
        playbooks,
        load_errors,
        admin_password,
        session_ttl,
        secure_cookies: console.secure_cookies,
        pending: Arc::new(pending::Pending::default()),
    };
    let pages = Router::new()
        .route("/", get(|| async { pages::see_other("/runs") }))
        .merge(runs::routes())
        .merge(queues::routes())
        .merge(imports::routes())
        .merge(playbooks::routes())
        .merge(sign_in::sign_out_routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    Ok(Router::new()
        .merge(pages)
        .merge(sign_in::routes())
        .merge(assets::routes())
        .with_state(state))
}

impl ConsoleState {
    /// The frame of a page in `section` for `session`, with the queue lengths.
    async fn frame<'a>(
        &self,
        session: &'a Session,
        section: &'static str,
    ) -> Result<Frame<'a>, ConsoleError> {
        let counts = self.engine.store().run_counts().await?;
        let count = |status: RunStatus| {
            counts
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n)
        };
        Ok(Frame {
            session,
            section,
            review: count(RunStatus::Review),
            approvals: count(RunStatus::Approval),
        })
    }

    /// Whether cookies set in answer to a request with these headers are `Secure`.
    fn secure(&self, headers: &HeaderMap) -> bool {
        session::secure(self.secure_cookies, headers)
    }
}

/// A page's outcome.
type Page = Result<Response, ConsoleError>;
