//! Bearer tokens: `roster token create` issues one, the API checks it on every request.
//! A token has a scope: `api` tokens open `/api/v1`, `scim` tokens (`token create --scim`) open
//! only the inbound SCIM endpoint, so the credential handed to Entra or Google cannot run
//! playbooks.
//!
//! A token is `rst_<id>_<secret>`. Only the SHA-256 of the whole token is stored; `id` finds the
//! row and the hashes are then compared in constant time, so neither the database nor the
//! comparison's timing gives a token away. A revoked token stops working on the next request.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::AppError;
use crate::clock::now_ms;
use crate::store::{Store, StoreError};

const PREFIX: &str = "rst_";

/// What a token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// The HTTP API (`/api/v1`).
    Api,
    /// The inbound SCIM endpoint (`/scim/v2`).
    Scim,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Api => "api",
            TokenScope::Scim => "scim",
        }
    }
}

/// Who made a request: the name of the token it carried (recorded with approvals).
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: String,
    /// The token's id (the public part of `rst_<id>_<secret>`).
    pub token_id: String,
}

/// A new token: the id (shown in `token list`) and the token itself (shown once).
#[derive(Debug)]
pub struct Issued {
    pub id: String,
    pub token: String,
}

/// Creates a token named `name` for `scope` and stores its hash.
pub async fn issue(store: &Store, name: &str, scope: TokenScope) -> Result<Issued, StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Conflict(
            "a token needs a non-empty --name".into(),
        ));
    }
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    crate::secret::fill_random(&mut id);
    crate::secret::fill_random(&mut secret);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("{PREFIX}{id}_{}", B64.encode(secret));
    store
        .create_token(&id, name, &hash(&token), scope.as_str(), now_ms())
        .await?;
    Ok(Issued { id, token })
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The caller a presented token of `scope` belongs to, or `None` for an unknown, malformed or
/// revoked one, or one of another scope.
pub async fn verify(
    store: &Store,
    token: &str,
    scope: TokenScope,
) -> Result<Option<Caller>, StoreError> {
    let Some(id) = token
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
    else {
        return Ok(None);
    };
    let presented = hash(token);
    let Some((name, stored)) = store.token_hash(id, scope.as_str()).await? else {
        return Ok(None);
    };
    let same: bool = presented.as_bytes().ct_eq(stored.as_bytes()).into();
    Ok(same.then(|| Caller {
        token_name: name,
        token_id: id.to_string(),
    }))
}

/// `router` with every route behind a bearer token (`Authorization: Bearer rst_…`); handlers
/// find the `Caller` in the request's extensions. Other pieces wrap their routers with this.
pub fn require_token(router: Router, store: Store) -> Router {
    router.layer(axum::middleware::from_fn_with_state(store, check))
}

async fn check(State(store): State<Store>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = presented else {
        return axum::response::IntoResponse::into_response(AppError::unauthorized(
            "this endpoint needs `Authorization: Bearer <token>` (create one with `roster token create --name NAME`)",
        ));
    };
    match verify(&store, token, TokenScope::Api).await {
        Ok(Some(caller)) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(None) => axum::response::IntoResponse::into_response(AppError::unauthorized(
            "the bearer token is unknown or revoked",
        )),
        Err(e) => axum::response::IntoResponse::into_response(AppError::from(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
