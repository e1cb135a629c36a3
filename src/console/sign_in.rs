//! `GET`/`POST /sign-in` and `POST /sign-out`.
//!
//! An API token (`roster token create`) signs in as `token:<name>`, the configured admin
//! password as `admin`; decisions made in the console are recorded under that name. The sign-in
//! form has no session yet, so its CSRF token is a cookie of its own compared with the form's
//! copy (double submit).

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;

use super::pages::{page_response, render_text, see_other, ConsoleError};
use super::session::{self, SIGN_IN_COOKIE};
use super::{ConsoleState, Page};

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/sign-in", get(form).post(sign_in))
}

/// Behind the session guard (its form carries the session's CSRF token).
pub(super) fn sign_out_routes() -> Router<ConsoleState> {
    Router::new().route("/sign-out", post(sign_out))
}

#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path of this console, never another site.
fn local(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/runs".into(),
    }
}

async fn form(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Page {
    let next = local(q.next.as_deref());
    if session::current(&state, &headers).await?.is_some() {
        return Ok(see_other(&next));
    }
    Ok(show(&state, &headers, &next, None, StatusCode::OK))
}

/// The form with a fresh CSRF cookie (and a message after a failed attempt).
fn show(
    state: &ConsoleState,
    headers: &HeaderMap,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> axum::response::Response {
    let csrf = session::random_token();
    let html = render_text(
        "sign_in.html",
        context! {
            sign_in_csrf => csrf.clone(),
            next => next,
            error => error,
            admin_password => state.admin_password.is_some(),
        },
    );
    let mut response = match html {
        Ok(html) => page_response(status, html),
        Err(e) => return axum::response::IntoResponse::into_response(e),
    };
    let cookie = session::set_cookie(
        SIGN_IN_COOKIE,
        &csrf,
        "/sign-in",
        3600,
        state.secure(headers),
    );
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

#[derive(Debug, Deserialize)]
struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
    next: Option<String>,
}

async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Page {
    let expected = session::cookie(&headers, SIGN_IN_COOKIE);
    if !expected.is_some_and(|c| !f.csrf.is_empty() && session::same(&c, &f.csrf)) {
        return Err(ConsoleError::csrf());
    }
    let next = local(f.next.as_deref());
    let secret = f.secret.trim();
    let who = if secret.starts_with("rst_") {
        crate::api::auth::verify(
            state.engine.store(),
            secret,
            crate::api::auth::TokenScope::Api,
        )
        .await?
        .map(|c| (format!("token:{}", c.token_name), Some(c.token_id)))
    } else {
        state
            .admin_password
            .as_ref()
            .filter(|p| !secret.is_empty() && session::same(secret, p.expose()))
            .map(|_| ("admin".to_string(), None))
    };
    let Some((principal, token_id)) = who else {
        tracing::warn!("console sign-in refused");
        let message = if state.admin_password.is_some() {
            "That API token or password is not valid."
        } else {
            "That API token is not valid (or has been revoked)."
        };
        return Ok(show(
            &state,
            &headers,
            &next,
            Some(message),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let secure = state.secure(&headers);
    let cookie = session::open(&state, &principal, token_id.as_deref(), secure).await?;
    tracing::info!(principal = %principal, "console sign-in");
    let mut response = see_other(&next);
    response.headers_mut().append(SET_COOKIE, cookie);
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(SIGN_IN_COOKIE, "", "/sign-in", 0, secure),
    );
    Ok(response)
}

async fn sign_out(State(state): State<ConsoleState>, headers: HeaderMap) -> Page {
    session::close(&state, &headers).await?;
    let mut response = see_other("/sign-in");
    response.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, "", "/", 0, state.secure(&headers)),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local(Some("/runs?status=failed")), "/runs?status=failed");
        assert_eq!(local(Some("//evil.example")), "/runs");
        assert_eq!(local(Some("https://evil.example")), "/runs");
        assert_eq!(local(Some("/\\evil.example")), "/runs");
        assert_eq!(local(None), "/runs");
    }
}
