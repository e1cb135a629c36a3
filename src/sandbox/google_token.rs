//! Google's OAuth token endpoint for service accounts with domain-wide delegation (Google
//! CONTRACT §1): `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
//! an RS256 `assertion` signed by the service account's key. Errors are
//! `{"error", "error_description"}`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::dispatch::Call;
use super::ids;
use super::keys::{self, AssertionFault, Expect};
use super::reply::Reply;
use super::tokens::GoogleGrant;
use super::world::World;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const REAL_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Google refuses assertions meant to live longer than an hour.
const MAX_LIFETIME_S: i64 = 3600;
const UNAUTHORIZED_CLIENT: &str = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.";
const SHORT_LIVED: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";

fn error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

pub fn handle(world: &World, call: &Call) -> Reply {
    match issue(world, call) {
        Ok(r) | Err(r) => r,
    }
}

fn issue(world: &World, call: &Call) -> Result<Reply, Reply> {
    let form = call.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some(JWT_BEARER) => {}
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            ))
        }
        None => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type: ",
            ))
        }
    }
    let assertion = field("assertion").ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        )
    })?;
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid_grant("Invalid JWT: Malformed."))?;
    let claims =
        keys::peek_claims(assertion).ok_or_else(|| invalid_grant("Invalid JWT: Malformed."))?;
    let claim = |name: &str| claims.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let issuer = claim("iss").to_string();
    let google = &world.seed.google;
    let account = google
        .service_accounts
        .iter()
        .find(|sa| sa.client_email.eq_ignore_ascii_case(&issuer))
        .ok_or_else(|| invalid_grant("Invalid grant: account not found"))?;
    let key = world
        .service_account_keys
        .get(&account.client_email.to_ascii_lowercase())
        .ok_or_else(|| invalid_grant("Invalid grant: account not found"))?;
    if let (Some(expected), Some(kid)) = (&account.key_id, &header.kid) {
        if expected != kid {
            return Err(invalid_grant("Invalid JWT Signature."));
        }
    }
    let audiences = [
        format!("{}/token", world.base_url),
        REAL_TOKEN_URI.to_string(),
    ];
    let expect = Expect {
        algorithms: &[Algorithm::RS256],
        audiences: &audiences,
        issuer: Some(&issuer),
        subject: None,
    };
    let claims = keys::verify(assertion, &key.key, &expect).map_err(|fault| match fault {
        AssertionFault::Signature | AssertionFault::Malformed | AssertionFault::Algorithm => {
            invalid_grant("Invalid JWT Signature.")
        }
        AssertionFault::Expired => invalid_grant(SHORT_LIVED),
        AssertionFault::Audience => invalid_grant(&format!(
            "Invalid JWT: Failed audience check. The right audience is {REAL_TOKEN_URI}"
        )),
        AssertionFault::Issuer | AssertionFault::Subject => {
            invalid_grant("Invalid grant: account not found")
        }
    })?;
    let iat = claims.get("iat").and_then(|v| v.as_i64());
    let exp = claims.get("exp").and_then(|v| v.as_i64()).unwrap_or(0);
    match iat {
        Some(iat) if exp - iat <= MAX_LIFETIME_S && iat <= chrono::Utc::now().timestamp() + 60 => {}
        _ => return Err(invalid_grant(SHORT_LIVED)),
    }
    let scope = claims.get("scope").and_then(|v| v.as_str()).unwrap_or("");
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
    if scopes.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Empty or missing scope not allowed.",
        ));
    }
    if scopes.iter().any(|s| !account.scopes.contains(s)) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            UNAUTHORIZED_CLIENT,
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut st = world.lock();
    if let Some(sub) = &subject {
        // Impersonating someone the domain does not know fails here; impersonating a user who is
        // not an admin succeeds, and the Directory API then refuses the calls (403).
        if st.google.find_user_index(sub).is_none() {
            return Err(invalid_grant("Invalid email or User ID"));
        }
    }
    let now = Instant::now();
    let lifetime = google.token_lifetime_s;
    let token = format!("ya29.sbx-{}", ids::opaque(32));
    st.tokens.sweep(now);
    st.tokens.google.insert(
        token.clone(),
        GoogleGrant {
            subject,
            scopes,
            expires_at: now + Duration::from_secs(lifetime),
        },
    );
    Ok(Reply::ok(json!({
        "access_token": token,
        "expires_in": lifetime,
        "token_type": "Bearer",
    })))
}
