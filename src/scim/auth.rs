//! `/scim/v2` takes only SCIM bearer tokens (`roster token create --name entra --scim`): an API
//! token is refused here, and a SCIM token is refused by `/api/v1`. Stored hashed, like API
//! tokens (`api::auth`).

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ScimError;
use crate::api::auth::{verify, TokenScope};
use crate::store::Store;

pub(super) async fn check(State(store): State<Store>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let refused = |detail: &str| {
        let mut resp = ScimError::new(401, None, detail).into_response();
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    };
    let Some(token) = presented else {
        return refused(
            "this endpoint needs `Authorization: Bearer <token>` (create one with `roster token create --name NAME --scim`)",
        );
    };
    match verify(&store, token, TokenScope::Scim).await {
        Ok(Some(caller)) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Ok(None) => refused("the bearer token is unknown, revoked or not a SCIM token"),
        Err(e) => ScimError::from(e).into_response(),
    }
}
