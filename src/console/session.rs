//! Who is signed in to the console, and the checks every request passes.
//!
//! A session is a random 256-bit cookie value whose SHA-256 is stored server-side
//! (`store::sessions`) with the session's CSRF token and who it belongs to. Server-side rather
//! than a signed cookie so that signing out, or revoking the API token the session was opened
//! with, ends it at once. The cookie is `HttpOnly`, `SameSite=Strict` and `Secure` when the
//! request came over TLS.
//!
//! `require_session` guards every page but the sign-in page: without a live session a request
//! is redirected to sign-in; a `POST` must carry the session's CSRF token as the form field
//! `csrf` (the one multipart form, the CSV upload, checks it as its first part in its handler).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::pages::ConsoleError;
use super::ConsoleState;
use crate::clock::now_ms;
use crate::config::SecureCookies;
use crate::store::NewSession;

/// The session cookie.
pub const SESSION_COOKIE: &str = "roster_session";
/// The sign-in form's own CSRF cookie (there is no session yet to hold its token).
pub const SIGN_IN_COOKIE: &str = "roster_sign_in";
/// The largest urlencoded form the console accepts (corrections, comments).
const MAX_FORM_BYTES: usize = 64 * 1024;
/// The paths whose `POST` is a multipart upload that checks its CSRF token itself.
const UPLOAD_PATHS: &[&str] = &["/imports"];

/// The signed-in person, found in a request's extensions behind `require_session`.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who decisions are recorded as: `token:<name>` or `admin`.
    pub principal: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Session {
    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        same(presented, &self.csrf)
    }
}

/// A random value for a cookie or a CSRF token: 32 bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    crate::secret::fill_random(&mut bytes);
    B64.encode(bytes)
}

fn hash(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time equality of two secrets of any length (their digests are compared).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.ct_eq(&b).into()
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether cookies set in answer to this request get `Secure`.
pub fn secure(mode: SecureCookies, headers: &HeaderMap) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    match mode {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            header("x-forwarded-proto").is_some_and(|p| p.split(',').next() == Some("https"))
                || header("forwarded").is_some_and(|f| f.contains("proto=https"))
        }
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Secure` when asked; `max_age` 0
/// deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // Only base64url values and fixed names reach here, so the header is always valid.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Opens a session for `principal` and returns the `Set-Cookie` that carries it.
pub async fn open(
    state: &ConsoleState,
    principal: &str,
    token_id: Option<&str>,
    secure: bool,
) -> Result<HeaderValue, ConsoleError> {
    let value = random_token();
    let now = now_ms();
    let ttl = state.session_ttl.as_secs();
    state
        .engine
        .store()
        .create_session(&NewSession {
            id_hash: &hash(&value),
            csrf: &random_token(),
            principal,
            token_id,
            created_at: now,
            expires_at: now + (ttl as i64) * 1000,
        })
        .await?;
    Ok(set_cookie(SESSION_COOKIE, &value, "/", ttl, secure))
}

/// Ends the request's session, if it has one.
pub async fn close(state: &ConsoleState, headers: &HeaderMap) -> Result<(), ConsoleError> {
    if let Some(value) = cookie(headers, SESSION_COOKIE) {
        state.engine.store().delete_session(&hash(&value)).await?;
    }
    Ok(())
}

/// The live session a request's cookie names.
pub async fn current(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ConsoleError> {
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = state
        .engine
        .store()
        .session(&hash(&value), now_ms())
        .await?;
    Ok(found.map(|s| Session {
        principal: s.principal,
        csrf: s.csrf,
    }))
}

/// The middleware in front of every page but sign-in (see the module docs).
pub async fn require_session(
    State(state): State<ConsoleState>,
    req: Request,
    next: Next,
) -> Response {
    let session = match current(&state, req.headers()).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_sign_in(&req),
        Err(e) => return e.into_response(),
    };
    let req = if req.method() == Method::POST {
        match check_csrf(req, &session).await {
            Ok(req) => req,
            Err(refused) => return refused.into_response(),
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// 303 to the sign-in page, coming back here afterwards (for a page, not a form's target).
fn to_sign_in(req: &Request) -> Response {
    let back = if req.method() == Method::GET {
        req.uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into())
    } else {
        "/".into()
    };
    let location = format!(
        "/sign-in?{}",
        serde_urlencoded::to_string([("next", back)]).unwrap_or_default()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A urlencoded form must carry the session's token as `csrf`; the body is read (up to
/// `MAX_FORM_BYTES`) and handed on unchanged. Multipart is accepted only on the upload paths,
/// whose handler checks the token; anything else is refused.
async fn check_csrf(req: Request, session: &Session) -> Result<Request, ConsoleError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") && UPLOAD_PATHS.contains(&req.uri().path()) {
        return Ok(req);
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(ConsoleError::csrf());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| ConsoleError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    let presented = form_field(&bytes, "csrf");
    if !presented.is_some_and(|p| session.csrf_matches(&p)) {
        return Err(ConsoleError::csrf());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The first value of `name` in a urlencoded body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; roster_session=abc"));
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "roster"), None);
    }

    #[test]
    fn secure_follows_the_proxy_in_auto_mode() {
        let mut h = HeaderMap::new();
        assert!(!secure(SecureCookies::Auto, &h));
        assert!(secure(SecureCookies::Always, &h));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(secure(SecureCookies::Auto, &h));
        assert!(!secure(SecureCookies::Never, &h));
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            HeaderValue::from_static("for=10.0.0.1;proto=https"),
        );
        assert!(secure(SecureCookies::Auto, &h));
    }

    #[test]
    fn set_cookie_has_the_flags() {
        let v = set_cookie(SESSION_COOKIE, "abc", "/", 60, true);
        assert_eq!(
            v.to_str().unwrap(),
            "roster_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn secrets_compare_by_value_whatever_their_length() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "x"));
    }
}
