//! Rendering: the templates (embedded in the binary, compiled once), the frame every page
//! shares, the console's error page and the security headers of every answer.

use std::sync::LazyLock;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment, Value};

use super::session::Session;
use crate::api::AppError;
use crate::engine::EngineError;
use crate::store::StoreError;

/// Every template, by name; `.html` names are HTML-escaped by default.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("review.html", include_str!("templates/review.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    (
        "import_form.html",
        include_str!("templates/import_form.html"),
    ),
    (
        "import_report.html",
        include_str!("templates/import_report.html"),
    ),
    ("playbooks.html", include_str!("templates/playbooks.html")),
    ("error.html", include_str!("templates/error.html")),
];

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // A broken template is caught by the tests (each one is rendered); at run time it
        // turns into an error page, never a crash.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not compile");
        }
    }
    env.add_filter("json", |v: Value| -> String {
        serde_json::to_string_pretty(&v).unwrap_or_default()
    });
    env.add_filter("time", time);
    env.add_filter("ms", duration);
    env
});

/// An RFC 3339 time as `2026-05-01 10:30:12 UTC` (anything else as it is).
fn time(v: Value) -> String {
    let text = v
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| v.to_string());
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) if v.is_none() || v.is_undefined() => String::new(),
        Err(_) => text,
    }
}

/// Milliseconds as `850 ms`, `2.4 s` or `3 min 20 s`.
fn duration(v: Value) -> String {
    let ms = i64::try_from(v).unwrap_or(0).max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A page's values from anything serializable (the API's JSON, mostly).
pub fn ctx(values: impl serde::Serialize) -> Value {
    Value::from(minijinja::value::Serde(values))
}

/// What every page's frame shows: who is signed in, their CSRF token for the forms, the
/// section, and the queue lengths in the navigation.
pub struct Frame<'a> {
    pub session: &'a Session,
    pub section: &'static str,
    pub review: i64,
    pub approvals: i64,
}

/// Renders `template` with the frame's values and `page`'s.
pub fn render(template: &str, frame: &Frame<'_>, page: Value) -> Result<Response, ConsoleError> {
    let ctx = context! {
        principal => frame.session.principal.clone(),
        csrf => frame.session.csrf.clone(),
        section => frame.section,
        queue_review => frame.review,
        queue_approvals => frame.approvals,
        ..page
    };
    Ok(page_response(StatusCode::OK, render_text(template, ctx)?))
}

/// A template rendered to text.
pub fn render_text(template: &str, ctx: Value) -> Result<String, ConsoleError> {
    PAGES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ConsoleError::internal(&e))
}

/// An HTML answer with the console's headers.
pub fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    secure_headers(&mut response);
    response
}

/// The headers every console answer carries: no scripts, styles or frames but its own, no
/// caching of pages that show personal data.
pub fn secure_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// 303 See Other to `location` (after a form: the browser then loads the page with GET).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A request the console cannot answer with its page: shown as the error page with a message
/// for people. Internal failures are logged once and say nothing of their cause.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub message: String,
}

impl ConsoleError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status,
            message: message.into(),
        }
    }

    /// A form without this session's CSRF token.
    pub fn csrf() -> ConsoleError {
        ConsoleError::new(
            StatusCode::FORBIDDEN,
            "This form was refused: it did not carry this session's security token. \
             Reload the page and send it again.",
        )
    }

    pub fn internal(error: &dyn std::fmt::Display) -> ConsoleError {
        tracing::error!(error = %error, "console request failed");
        ConsoleError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; it is logged there. Trying again may help.",
        )
    }
}

impl From<AppError> for ConsoleError {
    fn from(e: AppError) -> ConsoleError {
        // The API already logged an internal error and chose a message for people.
        ConsoleError::new(e.status, e.message)
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> ConsoleError {
        AppError::from(e).into()
    }
}

impl From<EngineError> for ConsoleError {
    fn from(e: EngineError) -> ConsoleError {
        AppError::from(e).into()
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let html = render_text(
            "error.html",
            context! { title => title.clone(), message => self.message, status => self.status.as_u16() },
        )
        .unwrap_or_else(|_| format!("<!doctype html><title>{title}</title><p>{title}</p>"));
        page_response(self.status, html)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(PAGES.get_template(name).is_ok(), "{name} does not compile");
        }
    }

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(
            time(Value::from("2026-05-01T10:30:12.345Z")),
            "2026-05-01 10:30:12 UTC"
        );
        assert_eq!(time(Value::from(())), "");
        assert_eq!(duration(Value::from(850)), "850 ms");
        assert_eq!(duration(Value::from(2400)), "2.4 s");
        assert_eq!(duration(Value::from(200_000)), "3 min 20 s");
    }

    #[test]
    fn values_are_escaped() {
        let html = render_text(
            "error.html",
            context! { title => "x", message => "<script>alert(1)</script>", status => 400 },
        )
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
