//! `/playbooks`: the loaded playbooks with their triggers and steps, and the errors of the
//! files that failed to load (the API's catalog).

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};

use super::pages::{ctx, render};
use super::session::Session;
use super::{ConsoleState, Page};
use crate::api::playbooks::catalog;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/playbooks", get(list))
}

async fn list(State(state): State<ConsoleState>, Extension(session): Extension<Session>) -> Page {
    let frame = state.frame(&session, "playbooks").await?;
    render(
        "playbooks.html",
        &frame,
        ctx(catalog(&state.playbooks, &state.load_errors)),
    )
}
