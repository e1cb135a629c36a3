//! The imports API: `POST /api/v1/imports?profile=NAME[&dry_run=true][&wait=false]` (the CSV
//! as a `text/csv` body, or `multipart/form-data` with a `file` part) and
//! `GET /api/v1/imports/{id}[?format=csv]`.
//!
//! Authentication: none here. `roster serve` merges this router behind its bearer-token
//! middleware; the handlers do not look at who is calling.
//!
//! The upload is read in chunks and refused with 413 as soon as it passes the profile's
//! `max_bytes` (or at once, when its `Content-Length` says so), so an oversized file is never
//! held in memory and nothing of it is stored. Errors have the API's shape:
//! `{"error": {"code", "message", "details"}}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    begin, execute, load, prepare, profile, ImportDeps, ImportError, Profile, Report, Upload,
};

/// The routes, with their state: merge into the API router.
pub fn router(deps: ImportDeps) -> Router {
    Router::new()
        .route("/api/v1/imports", post(upload))
        .route("/api/v1/imports/{id}", get(show))
        // The profile's `max_bytes` is the limit, enforced while reading (see `read_upload`).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(Arc::new(deps))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    profile: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Answer when the import is done (200 with the report), or at once (202 with its id).
    #[serde(default = "yes")]
    wait: bool,
}

fn yes() -> bool {
    true
}

async fn upload(
    State(deps): State<Arc<ImportDeps>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Response, ErrorReply> {
    let q: UploadQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| ErrorReply::bad_request(format!("the query string: {e}")))?;
    let name = q.profile.ok_or_else(|| {
        ErrorReply::bad_request("say which import profile reads the file: ?profile=NAME")
    })?;
    let profile = profile(&deps.config, &name)?;
    let (bytes, file_name) = read_upload(request, &profile).await?;
    let upload = Upload {
        profile: name,
        file_name,
        dry_run: q.dry_run,
    };
    let (id, rows) = match start(deps, profile, upload, bytes, q.wait).await? {
        Started::Done(report) => return Ok((StatusCode::OK, Json(report)).into_response()),
        Started::Running { id, rows } => (id, rows),
    };
    let location = format!("/api/v1/imports/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location.clone())],
        Json(json!({
            "id": id,
            "status": "running",
            "counts": { "rows": rows, "processed": 0 },
            "report": location,
        })),
    )
        .into_response())
}

/// What `start` did: finished the import (waited for, or a dry run), or left it running.
#[derive(Debug)]
pub enum Started {
    Done(Box<Report>),
    Running { id: String, rows: u64 },
}

/// Imports an uploaded file: checks it, records it as running and applies it in a task of its
/// own (a client that disconnects does not stop an import halfway). Waits for the report when
/// `wait` (a dry run always does). The API's upload and the console's share it.
pub async fn start(
    deps: Arc<ImportDeps>,
    profile: Profile,
    upload: Upload,
    bytes: Vec<u8>,
    wait: bool,
) -> Result<Started, ImportError> {
    let dry_run = upload.dry_run;
    // Parsing a large file is CPU work: off the async threads.
    let prepared = tokio::task::spawn_blocking(move || prepare(profile, &upload, &bytes))
        .await
        .map_err(|e| ImportError::Task(e.to_string()))??;
    begin(&deps.engine, &prepared).await?;
    let id = prepared.id.clone();
    let rows = prepared.rows();
    let task = tokio::spawn(async move {
        let result = execute(&deps.engine, &deps.playbooks, prepared, &|_| {}).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "import failed");
        }
        result
    });
    if wait || dry_run {
        let report = task.await.map_err(|e| ImportError::Task(e.to_string()))??;
        return Ok(Started::Done(Box::new(report)));
    }
    Ok(Started::Running { id, rows })
}

/// The uploaded file and its name, read chunk by chunk up to the profile's `max_bytes`.
async fn read_upload(
    request: Request,
    profile: &Profile,
) -> Result<(Vec<u8>, Option<String>), ErrorReply> {
    let limit = profile.max_bytes;
    let too_large = || {
        ErrorReply::from(ImportError::TooLarge {
            profile: profile.name.clone(),
            limit,
        })
    };
    let headers = request.headers();
    let multipart = content_type(headers).starts_with("multipart/form-data");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    if !multipart {
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = request.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ErrorReply::bad_request(format!("the upload: {e}")))?;
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((bytes, None));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ErrorReply::bad_request(e.body_text()))?;
    let broken = |e: axum::extract::multipart::MultipartError| {
        ErrorReply::bad_request(format!("the multipart upload: {}", e.body_text()))
    };
    while let Some(mut field) = form.next_field().await.map_err(broken)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map(String::from);
        while let Some(chunk) = field.chunk().await.map_err(broken)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((bytes, name));
    }
    Err(ErrorReply::bad_request(
        "the multipart upload has no part named 'file'",
    ))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    format: Option<String>,
}

async fn show(
    State(deps): State<Arc<ImportDeps>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ErrorReply> {
    let q: ShowQuery = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| ErrorReply::bad_request(format!("the query string: {e}")))?;
    let report = load(&deps.engine, &id).await?.ok_or_else(|| ErrorReply {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no import with id '{id}' (dry runs are not stored)"),
        details: json!({ "id": id }),
    })?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"import-{id}.csv\""),
                ),
            ],
            Body::from(report.to_csv()),
        )
            .into_response()),
        Some(other) => Err(ErrorReply::bad_request(format!(
            "format '{other}' is not one of json, csv"
        ))),
    }
}

/// An error in the API's shape: `{"error": {"code", "message", "details"}}`.
#[derive(Debug)]
struct ErrorReply {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl ErrorReply {
    fn bad_request(message: impl Into<String>) -> ErrorReply {
        ErrorReply {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
            details: json!({}),
        }
    }

    fn internal(e: impl std::fmt::Display) -> ErrorReply {
        tracing::error!(error = %e, "import request failed");
        ErrorReply {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "the import failed on the server; retrying may help".into(),
            details: json!({ "retryable": true }),
        }
    }
}

impl From<ImportError> for ErrorReply {
    fn from(e: ImportError) -> ErrorReply {
        let message = e.to_string();
        let (status, code, details) = match e {
            ImportError::UnknownProfile { name, .. } => (
                StatusCode::BAD_REQUEST,
                "unknown_profile",
                json!({ "profile": name }),
            ),
            ImportError::TooLarge { profile, limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                json!({ "profile": profile, "max_bytes": limit }),
            ),
            ImportError::TooManyRows { profile, limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                json!({ "profile": profile, "max_rows": limit }),
            ),
            ImportError::File { details, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file", details)
            }
            ImportError::Profile(_) | ImportError::Engine(_) | ImportError::Task(_) => {
                return ErrorReply::internal(e)
            }
        };
        ErrorReply {
            status,
            code,
            message,
            details,
        }
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        });
        (self.status, Json(body)).into_response()
    }
}
