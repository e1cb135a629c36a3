//! The Microsoft identity platform token endpoint, client-credentials grant only (Graph
//! CONTRACT §1): `POST /{tenant}/oauth2/v2.0/token` with a client secret (form body or HTTP
//! Basic) or a certificate client assertion (RS256 + `x5t`, or PS256 + `x5t#S256`). Errors use
//! OAuth's shape with AADSTS codes, not Graph's.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::dispatch::Call;
use super::ids;
use super::keys::{self, AssertionFault, Expect};
use super::reply::Reply;
use super::seed::EntraClientSeed;
use super::tokens::GraphGrant;
use super::world::World;

const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const REAL_AUTHORITY: &str = "https://login.microsoftonline.com";

/// An OAuth error as Entra writes it.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

fn fail(
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: impl Into<String>,
) -> OAuthError {
    OAuthError {
        status,
        error,
        code,
        description: description.into(),
    }
}

fn missing(param: &str) -> OAuthError {
    fail(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{param}'."),
    )
}

impl OAuthError {
    pub fn reply(self) -> Reply {
        let trace_id = ids::guid();
        let correlation_id = ids::guid();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        Reply::json(
            self.status,
            json!({
                "error": self.error,
                "error_description": format!(
                    "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                    self.code, self.description
                ),
                "error_codes": [self.code],
                "timestamp": timestamp,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": format!("{REAL_AUTHORITY}/error?code={}", self.code),
            }),
        )
    }
}

pub fn handle(world: &World, call: &Call) -> Reply {
    match issue(world, call) {
        Ok(reply) => reply,
        Err(e) => e.reply(),
    }
}

fn issue(world: &World, call: &Call) -> Result<Reply, OAuthError> {
    let entra = &world.seed.entra;
    let tenant = call.param("tenant");
    let known_tenant = tenant.eq_ignore_ascii_case(&entra.tenant_id)
        || entra.domains.iter().any(|d| d.eq_ignore_ascii_case(tenant));
    if !known_tenant {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ));
    }
    let form = call.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    match field("grant_type").as_deref() {
        None => return Err(missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ))
        }
    }
    let basic = basic_credentials(call);
    let assertion = field("client_assertion");
    let client_id = field("client_id")
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .or_else(|| {
            let claims = keys::peek_claims(assertion.as_deref()?)?;
            claims.get("iss")?.as_str().map(str::to_string)
        })
        .ok_or_else(|| missing("client_id"))?;
    let client = entra
        .clients
        .iter()
        .find(|c| c.client_id.eq_ignore_ascii_case(&client_id))
        .ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
            )
        })?;
    check_scope(field("scope"))?;
    let secret = field("client_secret").or_else(|| basic.map(|(_, s)| s));
    match (secret, assertion) {
        (Some(secret), _) => check_secret(client, &secret)?,
        (None, Some(assertion)) => {
            if field("client_assertion_type").as_deref() != Some(JWT_BEARER) {
                return Err(missing("client_assertion_type"));
            }
            check_assertion(world, client, tenant, &assertion)?
        }
        (None, None) => {
            return Err(fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            ))
        }
    }
    let lifetime = entra.token_lifetime_s;
    let token = access_token(&entra.tenant_id, client, lifetime);
    let now = Instant::now();
    let mut st = world.lock();
    st.tokens.sweep(now);
    st.tokens.graph.insert(
        token.clone(),
        GraphGrant {
            client_id: client.client_id.clone(),
            roles: client.roles.clone(),
            expires_at: now + Duration::from_secs(lifetime),
        },
    );
    Ok(Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    })))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(call: &Call) -> Option<(String, String)> {
    let v = call.header("authorization")?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
            .ok()
            .and_then(|v| v.into_iter().next().map(|(_, v)| v))
    };
    Some((decode(id)?, decode(secret)?))
}

fn check_scope(scope: Option<String>) -> Result<(), OAuthError> {
    let scope = scope.ok_or_else(|| missing("scope"))?;
    for s in scope.split_whitespace() {
        if !s.ends_with("/.default") {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                format!("The provided value for scope {s} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            ));
        }
    }
    let graph = [
        "https://graph.microsoft.com/.default",
        "https://graph.microsoft.com//.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ];
    if scope.split_whitespace().count() != 1 || !graph.contains(&scope.trim()) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. This sandbox serves only {GRAPH_DEFAULT_SCOPE}."),
        ));
    }
    Ok(())
}

fn check_secret(client: &EntraClientSeed, secret: &str) -> Result<(), OAuthError> {
    if client.secret.as_deref() == Some(secret) {
        return Ok(());
    }
    Err(fail(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
        format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", client.client_id),
    ))
}

fn check_assertion(
    world: &World,
    client: &EntraClientSeed,
    tenant: &str,
    assertion: &str,
) -> Result<(), OAuthError> {
    let invalid =
        |code: u32, text: String| fail(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| invalid(50027, "JWT token is invalid or malformed.".into()))?;
    let thumbprint = header
        .x5t_s256
        .clone()
        .or(header.x5t.clone())
        .unwrap_or_default();
    let key = world
        .client_keys
        .get(&client.client_id.to_ascii_lowercase())
        .filter(|k| {
            let sha1 = header.x5t.is_some() && header.x5t == k.x5t;
            let sha256 = header.x5t_s256.is_some() && header.x5t_s256 == k.x5t_s256;
            sha1 || sha256
        })
        .ok_or_else(|| invalid(700027, format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", client.client_id)))?;
    let entra = &world.seed.entra;
    let mut audiences = Vec::new();
    for t in std::iter::once(&entra.tenant_id)
        .chain(&entra.domains)
        .map(String::as_str)
        .chain([tenant])
    {
        for base in [world.base_url.as_str(), REAL_AUTHORITY] {
            audiences.push(format!("{base}/{t}/oauth2/v2.0/token"));
        }
    }
    let expect = Expect {
        algorithms: &[Algorithm::RS256, Algorithm::PS256],
        audiences: &audiences,
        issuer: Some(&client.client_id),
        subject: Some(&client.client_id),
    };
    keys::verify(assertion, &key.key, &expect)
        .map(|_| ())
        .map_err(|fault| match fault {
            AssertionFault::Signature => invalid(
                700027,
                "Client assertion failed signature validation.".into(),
            ),
            AssertionFault::Expired => invalid(
                700024,
                "Client assertion is not within its valid time range.".into(),
            ),
            AssertionFault::Audience => invalid(
                50012,
                "Client assertion audience claim does not match Realm issuer.".into(),
            ),
            AssertionFault::Issuer | AssertionFault::Subject => invalid(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter."
                    .into(),
            ),
            AssertionFault::Malformed | AssertionFault::Algorithm => {
                invalid(50027, "JWT token is invalid or malformed.".into())
            }
        })
}

/// An unsigned JWT that carries what a real Graph token does (`roles`, `appid`, `tid`), so a
/// client can inspect it; the sandbox itself only trusts its own record of the token.
fn access_token(tenant_id: &str, client: &EntraClientSeed, lifetime: u64) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = json!({"typ": "JWT", "alg": "none"});
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now, "nbf": now, "exp": now + lifetime as i64,
        "appid": client.client_id, "tid": tenant_id, "roles": client.roles,
        "uti": ids::opaque(16),
    });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
