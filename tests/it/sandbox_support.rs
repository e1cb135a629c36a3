//! What the sandbox tests share: a sandbox per test on a loopback port, the seed's test
//! credentials, token helpers for both identity platforms, JSON-over-HTTP calls, and a shape
//! comparison for the official example payloads.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use roster::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const TENANT: &str = "7d9a4c1e-2b3f-4a5d-8e6f-0a1b2c3d4e5f";
pub const APP: &str = "11111111-2222-4333-8444-555555555555";
pub const APP_SECRET: &str = "sandbox-secret-not-for-production";
pub const READER: &str = "22222222-3333-4444-8555-666666666666";
pub const READER_SECRET: &str = "sandbox-reader-secret";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const SA_EMAIL: &str = "roster-sandbox@roster-sandbox.iam.gserviceaccount.com";
pub const SA_KID: &str = "5a0d1c2e3f405162738495a6b7c8d9e0f1a2b3c4";
pub const USER_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user";
pub const GROUP_READ_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";
pub const JOB: &str =
    "API2AAD.b16687d38faf42adb29892cdcaf01c6e.1a03de52-b9c3-4e2c-a1e3-9145aaa8e530";
pub const SP: &str = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f";
pub const E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
pub const ENTERPRISEPACK: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";
pub const ADELE: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
pub const LEE: &str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
pub const DEPT_ENGINEERING: &str = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e801";
pub const ALL_STAFF: &str = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A file in `examples/sandbox/`.
pub fn example_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sandbox")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `shared/specs`, beside the clone (as in CI) — fails clearly when it is missing.
pub fn specs_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs");
    assert!(
        dir.join("graph/openapi-v1.0-subset.yaml").is_file()
            && dir.join("google/admin-directory_v1.json").is_file(),
        "the official specs are missing: expected them in {} (shared/ beside the clone)",
        dir.display()
    );
    dir
}

/// An official example payload, e.g. `graph/users-create.request.json`.
pub fn spec_example(path: &str) -> Value {
    let (api, file) = path.split_once('/').unwrap_or(("", path));
    let full = specs_dir().join(api).join("examples").join(file);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", full.display()))
}

pub fn thumbprint_sha1(cert_pem: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha1::digest(pem_der(cert_pem)))
}

pub fn thumbprint_sha256(cert_pem: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(pem_der(cert_pem)))
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap_or_default()
}

pub fn entra_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(example_file("entra-app.key.pem").as_bytes())
        .unwrap_or_else(|e| panic!("entra key: {e}"))
}

pub fn google_key() -> EncodingKey {
    let file: Value =
        serde_json::from_str(&example_file("google-service-account.json")).unwrap_or_default();
    let pem = file["private_key"].as_str().unwrap_or_default().to_string();
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("google key: {e}"))
}

/// A certificate client assertion for the Roster app.
pub fn client_assertion(alg: Algorithm, key: &EncodingKey, aud: &str, exp_in: i64) -> String {
    let cert = example_file("entra-app.cert.pem");
    let mut header = Header::new(alg);
    match alg {
        Algorithm::PS256 => header.x5t_s256 = Some(thumbprint_sha256(&cert)),
        _ => header.x5t = Some(thumbprint_sha1(&cert)),
    }
    let t = now();
    let claims = json!({"aud": aud, "iss": APP, "sub": APP, "jti": "8e4b3c1a-0000-4000-8000-000000000001", "nbf": t, "iat": t, "exp": t + exp_in});
    jsonwebtoken::encode(&header, &claims, key).unwrap_or_else(|e| panic!("sign: {e}"))
}

/// A service-account assertion for Google's JWT bearer flow.
pub fn google_assertion(
    key: &EncodingKey,
    aud: &str,
    sub: Option<&str>,
    scopes: &[&str],
    lifetime: i64,
) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(SA_KID.into());
    let t = now();
    let mut claims = json!({"iss": SA_EMAIL, "scope": scopes.join(" "), "aud": aud, "iat": t, "exp": t + lifetime});
    if let Some(s) = sub {
        claims["sub"] = json!(s);
    }
    jsonwebtoken::encode(&header, &claims, key).unwrap_or_else(|e| panic!("sign: {e}"))
}

/// One test's sandbox and an HTTP client.
pub struct Env {
    pub sandbox: Sandbox,
    pub url: String,
    pub http: reqwest::Client,
}

/// A JSON response: status, headers, body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn start() -> Env {
    start_with(SandboxSeed::default_seed(), FaultConfig::default()).await
}

pub async fn start_with(seed: SandboxSeed, faults: FaultConfig) -> Env {
    let listen = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    let sandbox = Sandbox::start(SandboxOptions {
        listen,
        seed,
        faults,
    })
    .await
    .unwrap_or_else(|e| panic!("sandbox: {e:#}"));
    let url = sandbox.url();
    Env {
        sandbox,
        url,
        http: reqwest::Client::new(),
    }
}

impl Env {
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.url)
    }

    pub async fn form(&self, url: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        read(r).await
    }

    pub async fn graph_token_for(&self, client: &str, secret: &str) -> String {
        let r = self
            .form(
                &self.token_url(),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client),
                    ("client_secret", secret),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn graph_token(&self) -> String {
        self.graph_token_for(APP, APP_SECRET).await
    }

    pub async fn google_token_with(&self, sub: Option<&str>, scopes: &[&str]) -> Resp {
        let assertion = google_assertion(
            &google_key(),
            &format!("{}/token", self.url),
            sub,
            scopes,
            3600,
        );
        self.form(
            &format!("{}/token", self.url),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ],
        )
        .await
    }

    pub async fn google_token(&self) -> String {
        let r = self
            .google_token_with(
                Some("admin@contoso.com"),
                &[
                    USER_SCOPE,
                    "https://www.googleapis.com/auth/admin.directory.group",
                ],
            )
            .await;
        assert_eq!(r.status, 200, "google token: {}", r.text);
        r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A call with a bearer token, extra headers and an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let mut req = self.http.request(method, &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        read(req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"))).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), &[], None).await
    }

    pub async fn send(&self, method: &str, path: &str, token: &str, body: &Value) -> Resp {
        self.call(method, path, Some(token), &[], Some(body)).await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.call(method, path, None, &[], body).await
    }
}

pub async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// A valid new-user body.
pub fn new_user(upn: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": "Test User",
        "mailNickname": upn.split('@').next().unwrap_or("x"),
        "userPrincipalName": upn,
        "passwordProfile": {"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"},
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between an official example and an actual payload: every key of the example
/// must be present with the same JSON type (`null` matches anything, as Graph properties are
/// nullable; an int64 may be a number or a numeric string, as Google's discovery types them).
/// Keys listed in `absent_ok` may be missing. Arrays compare their first elements.
pub fn shape_diff(example: &Value, actual: &Value, absent_ok: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    diff(example, actual, "$", absent_ok, &mut out);
    out
}

fn diff(e: &Value, a: &Value, at: &str, absent_ok: &[&str], out: &mut Vec<String>) {
    match (e, a) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Number(_), Value::String(s)) if s.parse::<i64>().is_ok() => {}
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                match am.get(k) {
                    Some(av) => diff(ev, av, &format!("{at}.{k}"), absent_ok, out),
                    None if absent_ok.contains(&k.as_str()) => {}
                    None => out.push(format!("{at}.{k} is missing")),
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) => {
            if let (Some(e0), Some(a0)) = (ea.first(), aa.first()) {
                diff(e0, a0, &format!("{at}[0]"), absent_ok, out);
            }
        }
        _ if kind(e) != kind(a) => out.push(format!(
            "{at} is {} where the example has {}",
            kind(a),
            kind(e)
        )),
        _ => {}
    }
}

pub fn assert_shape(name: &str, example: &Value, actual: &Value, absent_ok: &[&str]) {
    let d = shape_diff(example, actual, absent_ok);
    assert!(
        d.is_empty(),
        "{name}: the response differs from the official example:\n  {}\nactual: {actual:#}",
        d.join("\n  ")
    );
}
