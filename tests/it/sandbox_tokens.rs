//! The two token endpoints and the bearer checks in front of Graph and the Directory API
//! (Graph CONTRACT §1, Google CONTRACT §1).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use roster::sandbox::{FaultConfig, SandboxSeed};
use serde_json::json;

use crate::sandbox_support::*;

const CERT_GRANT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn assertion_token(env: &Env, assertion: &str) -> Resp {
    env.form(
        &env.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("scope", GRAPH_SCOPE),
            ("client_assertion_type", CERT_GRANT),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn aadsts(r: &Resp) -> (String, i64) {
    (
        r.body["error"].as_str().unwrap_or_default().to_string(),
        r.body["error_codes"][0].as_i64().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_client_secret_gets_a_token_in_the_form_or_by_basic_auth() {
    let env = start().await;
    let r = env
        .form(
            &env.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    let token = r.body["access_token"].as_str().unwrap_or_default();
    assert_eq!(
        env.get("/v1.0/users/admin@contoso.com", token).await.status,
        200
    );

    let basic = STANDARD.encode(format!("{APP}:{APP_SECRET}"));
    let sent = env
        .http
        .post(format!("{}/contoso.com/oauth2/v2.0/token", env.url))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await;
    let r = read(sent.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(
        r.status, 200,
        "basic auth with the tenant's domain: {}",
        r.text
    );
}

#[tokio::test]
async fn certificate_assertions_with_rs256_and_ps256_get_tokens() {
    let env = start().await;
    let key = entra_key();
    let ours = format!("{}/{TENANT}/oauth2/v2.0/token", env.url);
    let r = assertion_token(&env, &client_assertion(Algorithm::RS256, &key, &ours, 600)).await;
    assert_eq!(r.status, 200, "RS256 + x5t: {}", r.text);
    let real = format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token");
    let r = assertion_token(&env, &client_assertion(Algorithm::PS256, &key, &real, 600)).await;
    assert_eq!(
        r.status, 200,
        "PS256 + x5t#S256 with the real audience: {}",
        r.text
    );
}

#[tokio::test]
async fn bad_credentials_get_the_documented_oauth_errors() {
    let env = start().await;
    let wrong = env
        .form(
            &env.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", "nope"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(
        (wrong.status, aadsts(&wrong)),
        (401, ("invalid_client".into(), 7000215)),
        "{}",
        wrong.text
    );
    assert!(wrong.body["error_description"]
        .as_str()
        .unwrap_or_default()
        .starts_with("AADSTS7000215: Invalid client secret provided."));
    for key in ["trace_id", "correlation_id", "timestamp"] {
        assert!(wrong.body[key].is_string(), "{key} in {}", wrong.text);
    }

    let ours = format!("{}/{TENANT}/oauth2/v2.0/token", env.url);
    // Signed with a key whose certificate is not registered for the app, but claiming its thumbprint.
    let forged = client_assertion(Algorithm::RS256, &google_key(), &ours, 600);
    let r = assertion_token(&env, &forged).await;
    assert_eq!(
        (r.status, aadsts(&r)),
        (401, ("invalid_client".into(), 700027)),
        "{}",
        r.text
    );

    let expired = client_assertion(Algorithm::PS256, &entra_key(), &ours, -600);
    let r = assertion_token(&env, &expired).await;
    assert_eq!(
        (r.status, aadsts(&r)),
        (401, ("invalid_client".into(), 700024)),
        "{}",
        r.text
    );

    let wrong_aud = client_assertion(
        Algorithm::RS256,
        &entra_key(),
        "https://login.microsoftonline.com/other/oauth2/v2.0/token",
        600,
    );
    let r = assertion_token(&env, &wrong_aud).await;
    assert_eq!(aadsts(&r), ("invalid_client".into(), 50012), "{}", r.text);

    let scope = env
        .form(
            &env.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(
        (scope.status, aadsts(&scope)),
        (400, ("invalid_scope".into(), 1002012)),
        "{}",
        scope.text
    );
    let other = env
        .form(
            &env.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", APP_SECRET),
                ("scope", "https://foo.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(
        (other.status, aadsts(&other)),
        (400, ("invalid_scope".into(), 70011)),
        "{}",
        other.text
    );

    let unknown = env
        .form(
            &env.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "99999999-9999-4999-8999-999999999999"),
                ("client_secret", "x"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(
        aadsts(&unknown),
        ("unauthorized_client".into(), 700016),
        "{}",
        unknown.text
    );
    let tenant = env
        .form(
            &format!("{}/fabrikam.com/oauth2/v2.0/token", env.url),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        aadsts(&tenant),
        ("invalid_request".into(), 90002),
        "{}",
        tenant.text
    );
}

#[tokio::test]
async fn graph_refuses_missing_unknown_and_expired_tokens_with_401() {
    let mut seed = SandboxSeed::default_seed();
    seed.entra.token_lifetime_s = 1;
    let env = start_with(seed, FaultConfig::default()).await;
    let token = env.graph_token().await;
    let missing = env.call("GET", "/v1.0/users", None, &[], None).await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken")),
        "{}",
        missing.text
    );
    assert!(
        missing.header("request-id").is_some() && missing.header("client-request-id").is_some()
    );
    let unknown = env.get("/v1.0/users", "not-a-token").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(env.get("/v1.0/users", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = env.get("/v1.0/users", &token).await;
    assert_eq!(expired.status, 401, "{}", expired.text);
    assert_eq!(
        expired.body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn a_client_without_the_role_gets_authorization_request_denied() {
    let env = start().await;
    let reader = env.graph_token_for(READER, READER_SECRET).await;
    assert_eq!(
        env.get("/v1.0/users", &reader).await.status,
        200,
        "User.Read.All may read"
    );
    let r = env
        .send("POST", "/v1.0/users", &reader, &new_user("x.y@contoso.com"))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        r.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let groups = env.get("/v1.0/groups", &reader).await;
    assert_eq!(groups.status, 403, "no group role: {}", groups.text);
    assert!(
        env.sandbox.state()["entra"]["users"]
            .as_array()
            .is_some_and(|u| u.len() == 5),
        "nothing was created"
    );
}

#[tokio::test]
async fn the_google_jwt_bearer_flow_issues_tokens_for_delegated_admins() {
    let env = start().await;
    let r = env
        .google_token_with(Some("admin@contoso.com"), &[USER_SCOPE])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["expires_in"].as_i64().is_some_and(|e| e > 3500));
    let token = r.body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let got = env
        .get("/admin/directory/v1/users/ada@contoso.com", &token)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let real_aud = google_assertion(
        &google_key(),
        "https://oauth2.googleapis.com/token",
        Some("admin@contoso.com"),
        &[USER_SCOPE],
        3600,
    );
    let r = env
        .form(
            &format!("{}/token", env.url),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &real_aud),
            ],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "the real token URI is an accepted audience: {}",
        r.text
    );
}

#[tokio::test]
async fn the_google_flow_refuses_bad_assertions_with_oauth_errors() {
    let env = start().await;
    let token_url = format!("{}/token", env.url);
    let post = |a: String| {
        let env = &env;
        let url = token_url.clone();
        async move {
            env.form(
                &url,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", &a),
                ],
            )
            .await
        }
    };
    let unknown_sub = post(google_assertion(
        &google_key(),
        &token_url,
        Some("nobody@contoso.com"),
        &[USER_SCOPE],
        3600,
    ))
    .await;
    assert_eq!(
        (unknown_sub.status, unknown_sub.body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        unknown_sub.text
    );

    let forged = post(google_assertion(
        &entra_key(),
        &token_url,
        Some("admin@contoso.com"),
        &[USER_SCOPE],
        3600,
    ))
    .await;
    assert_eq!(forged.status, 400);
    assert_eq!(
        forged.body,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    );

    let not_allowed = post(google_assertion(
        &google_key(),
        &token_url,
        Some("admin@contoso.com"),
        &["https://www.googleapis.com/auth/admin.directory.orgunit"],
        3600,
    ))
    .await;
    assert_eq!(not_allowed.status, 401);
    assert_eq!(
        not_allowed.body,
        spec_example("google/token.unauthorized_client.json")
    );

    let too_long = post(google_assertion(
        &google_key(),
        &token_url,
        Some("admin@contoso.com"),
        &[USER_SCOPE],
        7200,
    ))
    .await;
    assert_eq!(
        (too_long.status, too_long.body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        too_long.text
    );
}

#[tokio::test]
async fn directory_calls_check_the_token_the_scope_and_admin_rights() {
    let env = start().await;
    let none = env
        .call(
            "GET",
            "/admin/directory/v1/users?customer=my_customer",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error"]["code"], 401);
    assert_eq!(none.body["error"]["errors"][0]["reason"], "authError");

    let groups_only = env
        .google_token_with(Some("admin@contoso.com"), &[GROUP_READ_SCOPE])
        .await;
    let token = groups_only.body["access_token"]
        .as_str()
        .unwrap_or_default();
    let r = env
        .get("/admin/directory/v1/users?customer=my_customer", token)
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        r.body["error"]["errors"][0]["reason"],
        "insufficientPermissions"
    );
    assert_eq!(
        env.get("/admin/directory/v1/groups?customer=my_customer", token)
            .await
            .status,
        200
    );

    let not_admin = env
        .google_token_with(Some("grace.hopper@contoso.com"), &[USER_SCOPE])
        .await;
    assert_eq!(
        not_admin.status, 200,
        "a non-admin subject still gets a token"
    );
    let r = env
        .get(
            "/admin/directory/v1/users?customer=my_customer",
            not_admin.body["access_token"].as_str().unwrap_or_default(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["errors"][0]["reason"].as_str()),
        (403, Some("forbidden")),
        "{}",
        r.text
    );
}
