//! `/imports`: upload a CSV file with an import profile; it is checked first (a dry run: the
//! per-row report, errors by row and column and the plan per person), then applied from the
//! report page, whose progress refreshes itself until the import completes. The same
//! `imports::start` as `POST /api/v1/imports`.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Form, Router};

use serde::Deserialize;
use serde_json::{json, Value};

use super::pages::{ctx, render, see_other, ConsoleError};
use super::session::Session;
use super::{ConsoleState, Page};
use crate::imports::{self, ImportError, Report, Started, Upload};

/// Rows listed on a report page (the counts cover every row; the API has the whole report).
const SHOWN_ROWS: usize = 2000;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/imports", get(form).post(upload))
        .route("/imports/apply", post(apply))
        .route("/imports/{id}", get(show))
}

fn profiles(state: &ConsoleState) -> Vec<String> {
    state.imports.config.imports.keys().cloned().collect()
}

async fn form(State(state): State<ConsoleState>, Extension(session): Extension<Session>) -> Page {
    show_form(&state, &session, None, None, StatusCode::OK).await
}

async fn show_form(
    state: &ConsoleState,
    session: &Session,
    error: Option<String>,
    details: Option<Value>,
    status: StatusCode,
) -> Page {
    let frame = state.frame(session, "imports").await?;
    let mut response = render(
        "import_form.html",
        &frame,
        ctx(json!({
            "profiles": profiles(state),
            "error": error,
            "details": details,
        })),
    )?;
    *response.status_mut() = status;
    Ok(response)
}

/// The multipart form: `csrf` first (checked before anything else is read), then `profile`,
/// then `file`, read up to the profile's `max_bytes`.
async fn upload(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    mut form: Multipart,
) -> Page {
    let broken = |e: axum::extract::multipart::MultipartError| {
        ConsoleError::new(StatusCode::BAD_REQUEST, e.body_text())
    };
    let first = form.next_field().await.map_err(broken)?;
    let csrf = match first {
        Some(f) if f.name() == Some("csrf") => f.text().await.map_err(broken)?,
        _ => return Err(ConsoleError::csrf()),
    };
    if !session.csrf_matches(&csrf) {
        return Err(ConsoleError::csrf());
    }
    let mut profile_name = None;
    let mut file = None;
    while let Some(mut field) = form.next_field().await.map_err(broken)? {
        match field.name() {
            Some("profile") => profile_name = Some(field.text().await.map_err(broken)?),
            Some("file") => {
                let Some(name) = profile_name.clone() else {
                    break;
                };
                let profile = match imports::profile(&state.imports.config, &name) {
                    Ok(p) => p,
                    Err(e) => return refused(&state, &session, e).await,
                };
                let file_name = field.file_name().map(String::from);
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    if (bytes.len() + chunk.len()) as u64 > profile.max_bytes {
                        let too_large = ImportError::TooLarge {
                            profile: name,
                            limit: profile.max_bytes,
                        };
                        return refused(&state, &session, too_large).await;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((profile, file_name, bytes));
            }
            _ => {}
        }
    }
    let Some((profile, file_name, bytes)) = file.filter(|(_, _, b)| !b.is_empty()) else {
        let message = "Choose an import profile and a CSV file to check.".to_string();
        return show_form(
            &state,
            &session,
            Some(message),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let upload = Upload {
        profile: profile.name.clone(),
        file_name: file_name.clone(),
        dry_run: true,
    };
    let kept = bytes.clone();
    let report = match imports::start(state.imports.clone(), profile, upload, bytes, true).await {
        Ok(Started::Done(report)) => *report,
        Ok(Started::Running { id, .. }) => return Ok(see_other(&format!("/imports/{id}"))),
        Err(e) => return refused(&state, &session, e).await,
    };
    let pending = state
        .pending
        .keep(&session.principal, &report.profile, file_name, kept);
    show_report(&state, &session, &report, pending).await
}

/// The upload form again, saying why the file was refused.
async fn refused(state: &ConsoleState, session: &Session, e: ImportError) -> Page {
    let status = match &e {
        ImportError::UnknownProfile { .. } => StatusCode::BAD_REQUEST,
        ImportError::TooLarge { .. } | ImportError::TooManyRows { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        ImportError::File { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ImportError::Profile(_) | ImportError::Engine(_) | ImportError::Task(_) => {
            return Err(ConsoleError::internal(&e))
        }
    };
    let details = match &e {
        ImportError::File { details, .. } => Some(details.clone()),
        _ => None,
    };
    show_form(state, session, Some(e.to_string()), details, status).await
}

#[derive(Debug, Deserialize)]
struct Apply {
    upload: String,
}

/// Applies a file a dry run checked, and follows its progress.
async fn apply(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Form(f): Form<Apply>,
) -> Page {
    let Some(file) = state.pending.take(&f.upload, &session.principal) else {
        let message = "That checked file is no longer kept (it was applied already, or more \
                       than an hour ago, or the server restarted). Upload it again."
            .to_string();
        return show_form(&state, &session, Some(message), None, StatusCode::GONE).await;
    };
    let profile = match imports::profile(&state.imports.config, &file.profile) {
        Ok(p) => p,
        Err(e) => return refused(&state, &session, e).await,
    };
    let upload = Upload {
        profile: file.profile,
        file_name: file.file_name,
        dry_run: false,
    };
    match imports::start(state.imports.clone(), profile, upload, file.bytes, false).await {
        Ok(Started::Running { id, .. }) => Ok(see_other(&format!("/imports/{id}"))),
        Ok(Started::Done(report)) => Ok(see_other(&format!("/imports/{}", report.id))),
        Err(e) => refused(&state, &session, e).await,
    }
}

async fn show(
    State(state): State<ConsoleState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Page {
    let report = imports::load(&state.engine, &id)
        .await
        .map_err(|e| ConsoleError::internal(&e))?
        .ok_or_else(|| ConsoleError::new(StatusCode::NOT_FOUND, format!("No import '{id}'.")))?;
    show_report(&state, &session, &report, None).await
}

/// A report: counts, the rows with errors, and the plan (or outcome) per person.
async fn show_report(
    state: &ConsoleState,
    session: &Session,
    report: &Report,
    pending: Option<String>,
) -> Page {
    let (invalid, planned): (Vec<_>, Vec<_>) = report
        .rows
        .iter()
        .take(SHOWN_ROWS)
        .partition(|r| !r.errors.is_empty());
    let running = report.status == imports::Status::Running;
    let frame = state.frame(session, "imports").await?;
    render(
        "import_report.html",
        &frame,
        ctx(json!({
            "report": report,
            "invalid": invalid,
            "planned": planned,
            "truncated": report.rows.len() > SHOWN_ROWS,
            "shown_rows": SHOWN_ROWS,
            "pending": pending,
            "refresh": running.then_some(1),
        })),
    )
}
