//! The Entra client against Microsoft's own example payloads (`shared/specs/graph/examples`),
//! served verbatim by a loopback server: what the client sends has the documented shape, and
//! what Microsoft documents it receives is read correctly. The sandbox tests show the client and
//! the emulator agree; these show both agree with the documents.

use serde_json::{json, Value};

use crate::support::{Hit, Reply, TestServer, Workspace};

fn example(name: &str) -> Value {
    let path = format!(
        "{}/../shared/specs/graph/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (the specs live in ../shared beside the clone)"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const TENANT: &str = "contoso.onmicrosoft.com";

fn config(ws: &Workspace, server: &TestServer) {
    std::fs::write(ws.path().join("entra.secret"), "s3cr3t").unwrap();
    let yaml = format!(
        "connections:\n  entra:\n    tenant_id: {TENANT}\n    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e\n    \
         client_secret: {{ file: entra.secret }}\n    authority_url: {u}\n    graph_url: {u}\n",
        u = server.url
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

/// Answers the token endpoint with Microsoft's sample response; everything else with `graph`.
fn identity_platform(
    graph: impl Fn(&Hit) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Hit) -> Reply + Send + Sync + 'static {
    move |h: &Hit| {
        if h.path == format!("/{TENANT}/oauth2/v2.0/token") {
            Reply::ok().json(example("token-client-credentials.response.json"))
        } else {
            graph(h)
        }
    }
}

async fn run(ws: &Workspace, yaml: &str) -> (i32, Value) {
    let (code, shown, _) = ws.run_json(yaml, &json!({"id": "E1"}), &[]).await;
    (code, shown)
}

fn outputs<'v>(shown: &'v Value, step: &str) -> &'v Value {
    &shown["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step_id"] == step))
        .unwrap_or_else(|| panic!("no step {step}: {shown:#}"))["outputs"]
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

const CREATE: &str = r#"
name: create
on: [ { manual: {} } ]
steps:
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: AdeleV@contoso.onmicrosoft.com
      display_name: Adele Vance
      mail_nickname: AdeleV
    retry: { attempts: 1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_sends_the_documented_request_and_reads_the_documented_response() {
    let server = TestServer::start(identity_platform(|h| match (h.method.as_str(), h.path.as_str()) {
        ("GET", p) if p.starts_with("/v1.0/users/") => Reply::status(404).json(json!({
            "error": { "code": "Request_ResourceNotFound",
                       "message": "Resource 'AdeleV@contoso.onmicrosoft.com' does not exist or one of its queried reference-property objects are not present." }
        })),
        ("POST", "/v1.0/users") => Reply::status(201).json(example("users-create.response.json")),
        _ => Reply::status(500),
    }))
    .await;
    let ws = Workspace::new();
    config(&ws, &server);
    let (code, shown) = run(&ws, CREATE).await;
    assert_eq!(code, 0, "{shown:#}");
    let out = outputs(&shown, "account");
    assert_eq!(out["id"], "87d349ed-44d7-43e1-9a83-5f2406dee5bd");
    assert_eq!(out["user_principal_name"], "AdeleV@contoso.onmicrosoft.com");
    assert_eq!(out["created"], true);

    // The token request is the client credentials grant for Graph's .default scope.
    let token = &server.hits_to(&format!("/{TENANT}/"))[0];
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&token.body).unwrap();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("grant_type"), Some("client_credentials"));
    assert_eq!(get("scope"), Some("https://graph.microsoft.com/.default"));
    assert_eq!(get("client_secret"), Some("s3cr3t"));
    // The create carries exactly the documented required properties (and the bearer token).
    let post = &server
        .hits_to("/v1.0/users")
        .into_iter()
        .find(|h| h.method == "POST")
        .unwrap();
    let sent: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(keys(&sent), keys(&example("users-create.request.json")));
    assert_eq!(
        keys(&sent["passwordProfile"]),
        keys(&example("users-create.request.json")["passwordProfile"])
    );
    assert!(post.headers["authorization"].starts_with("Bearer eyJ0eXAi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_error_bodies_become_clear_step_errors() {
    for (example_file, status, expect) in [
        (
            "error-upn-conflict.json",
            400,
            "Another object with the same value for property userPrincipalName already exists.",
        ),
        (
            "error-authorization-denied.json",
            403,
            "403 Authorization_RequestDenied: Insufficient privileges to complete the operation.",
        ),
    ] {
        let server = TestServer::start(identity_platform(move |h| {
            match (h.method.as_str(), h.path.as_str()) {
                ("GET", _) => Reply::status(404).json(
                    json!({"error": {"code": "Request_ResourceNotFound", "message": "not found"}}),
                ),
                _ => Reply::status(status).json(example(example_file)),
            }
        }))
        .await;
        let ws = Workspace::new();
        config(&ws, &server);
        let (code, shown) = run(&ws, CREATE).await;
        assert_eq!(code, 1, "{shown:#}");
        let error = shown["run"]["error"].as_str().unwrap_or_default();
        assert!(error.contains(expect), "{example_file}: {error}");
    }
}

const LICENSE: &str = r#"
name: license
on: [ { manual: {} } ]
steps:
  - id: license
    uses: entra.assign_license
    with: { user: 87d349ed-44d7-43e1-9a83-5f2406dee5bd, sku: SKU_PART }
    retry: { attempts: 1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_license_resolves_the_part_number_from_the_documented_sku_list() {
    let skus = example("subscribedskus-list.response.json");
    let first = &skus["value"][0];
    let part = first["skuPartNumber"].as_str().unwrap().to_string();
    let sku_id = first["skuId"].as_str().unwrap().to_string();
    let server = TestServer::start(identity_platform(move |h| {
        match (h.method.as_str(), h.path.as_str()) {
            ("GET", "/v1.0/subscribedSkus") => Reply::ok().json(skus.clone()),
            ("POST", p) if p.ends_with("/assignLicense") => {
                Reply::ok().json(example("assign-license.response.json"))
            }
            _ => Reply::status(500),
        }
    }))
    .await;
    let ws = Workspace::new();
    config(&ws, &server);
    let (code, shown) = run(&ws, &LICENSE.replace("SKU_PART", &part)).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(outputs(&shown, "license")["sku_id"], sku_id.as_str());
    let post = server.hits_to("/v1.0/users/").pop().unwrap();
    let sent: Value = serde_json::from_str(&post.body).unwrap();
    let documented = example("assign-license.request.json");
    assert_eq!(keys(&sent), keys(&documented));
    assert_eq!(
        keys(&sent["addLicenses"][0]),
        keys(&documented["addLicenses"][0])
    );
    assert_eq!(sent["addLicenses"][0]["skuId"], sku_id.as_str());
    assert_eq!(
        sent["removeLicenses"],
        json!([]),
        "both arrays are required and non-null"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_upload_sends_scim_bulk_requests_of_at_most_fifty_operations() {
    let server = TestServer::start(identity_platform(|h| match h.method.as_str() {
        "POST" if h.path.ends_with("/bulkUpload") => Reply::status(202),
        _ => Reply::status(500),
    }))
    .await;
    let ws = Workspace::new();
    config(&ws, &server);
    let documented = example("bulkupload-scim-enterprise.request.json");
    let record = documented["Operations"][0]["data"].clone();
    let yaml = format!(
        r#"name: bulk
on: [ {{ manual: {{}} }} ]
steps:
  - id: build
    uses: script
    with:
      code: |
        let base = from_json(`{record}`);
        let records = [];
        for i in 0..120 {{ let r = base; r.externalId = `E${{i}}`; records.push(r); }}
        #{{ records: records }}
  - id: upload
    uses: entra.bulk_upload
    with:
      service_principal_id: 5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f
      job_id: API2AAD.abc.def
      records: "${{{{ steps.build.records }}}}"
"#
    );
    let (code, shown) = run(&ws, &yaml).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(outputs(&shown, "upload")["requests"], 3);
    let posts = server.hits_to("/v1.0/servicePrincipals/");
    let sizes: Vec<usize> = posts
        .iter()
        .map(|h| {
            assert_eq!(h.headers["content-type"], "application/scim+json");
            let body: Value = serde_json::from_str(&h.body).unwrap();
            assert_eq!(body["schemas"], documented["schemas"]);
            let ops = body["Operations"].as_array().unwrap();
            assert!(ops
                .iter()
                .all(|o| o["method"] == "POST" && o["path"] == "/Users"));
            assert_eq!(keys(&ops[0]), keys(&documented["Operations"][0]));
            ops.len()
        })
        .collect();
    assert_eq!(sizes, vec![50, 50, 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_assertion_has_the_documented_header_and_claims() {
    let server = TestServer::start(identity_platform(|_| {
        Reply::ok().json(json!({"value": [], "@odata.context": "x"}))
    }))
    .await;
    let ws = Workspace::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sandbox");
    let yaml = format!(
        "connections:\n  entra:\n    tenant_id: {TENANT}\n    client_id: 6731de76-14a6-49ae-97bc-6eba6914391e\n    \
         certificate: {{ certificate: {dir}/entra-app.cert.pem, private_key: {{ file: {dir}/entra-app.key.pem }} }}\n    \
         authority_url: {u}\n    graph_url: {u}\n",
        u = server.url
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
    let find = "name: find\non: [ { manual: {} } ]\nsteps:\n  - id: f\n    uses: entra.find_user\n    with: { employee_id: E1 }\n";
    let (code, shown) = run(&ws, find).await;
    assert_eq!(code, 0, "{shown:#}");
    let token = &server.hits_to(&format!("/{TENANT}/"))[0];
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&token.body).unwrap();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        get("client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(get("client_secret").is_empty());
    let jwt = get("client_assertion");
    let part = |i: usize| -> Value {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    let documented = example("client-assertion-jwt.decoded.json");
    let (header, claims) = (part(0), part(1));
    assert_eq!(keys(&header), keys(&documented["header"]));
    assert_eq!(header["alg"], "PS256");
    for k in keys(&documented["payload"]) {
        assert!(claims.get(&k).is_some(), "claim {k} missing from {claims}");
    }
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT}/oauth2/v2.0/token", server.url)
    );
    assert_eq!(claims["iss"], "6731de76-14a6-49ae-97bc-6eba6914391e");
    assert_eq!(claims["sub"], claims["iss"]);
    let lifetime = claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap();
    assert!(
        (60..=600).contains(&lifetime),
        "exp is a short time after nbf: {lifetime} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_fetches_a_new_token_once_and_the_call_succeeds() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let server = TestServer::start(move |h| {
        if h.path.ends_with("/oauth2/v2.0/token") {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::ok().json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("token-{n}")}));
        }
        // The first token was revoked: Graph answers 401 until the client presents a new one.
        if h.headers.get("authorization").map(String::as_str) == Some("Bearer token-1") {
            return Reply::status(401).json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}));
        }
        Reply::ok().json(json!({"value": [{"id": "u1", "userPrincipalName": "a@contoso.com", "employeeId": "E1"}]}))
    })
    .await;
    let ws = Workspace::new();
    config(&ws, &server);
    let find = "name: find\non: [ { manual: {} } ]\nsteps:\n  - id: f\n    uses: entra.find_user\n    with: { employee_id: E1 }\n    retry: { attempts: 1 }\n";
    let (code, shown) = run(&ws, find).await;
    assert_eq!(code, 0, "{shown:#}");
    assert_eq!(outputs(&shown, "f")["id"], "u1");
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "one token, then exactly one renewal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limiter_bounds_requests_in_flight() {
    let server = TestServer::start(identity_platform(|_| {
        Reply::ok()
            .json(json!({"value": []}))
            .delay(std::time::Duration::from_millis(30))
    }))
    .await;
    let ws = Workspace::new();
    config(&ws, &server);
    let mut yaml = std::fs::read_to_string(ws.path().join("roster.yaml")).unwrap();
    yaml.push_str("    limits: { requests_per_second: 1000, concurrency: 2 }\n");
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
    let pb = ws.write_playbook(
        "find",
        "name: find\non: [ { manual: {} } ]\nsteps:\n  - id: f\n    uses: entra.find_user\n    with: { employee_id: E1 }\n",
    );
    let people = (0..20).map(|i| json!({"id": format!("P{i}")})).collect();
    ws.enqueue(&pb, people).await;
    ws.work_until_idle(std::time::Duration::from_secs(60)).await;
    let graph_calls = server.hits_to("/v1.0/").len();
    assert_eq!(graph_calls, 20);
    assert_eq!(
        server.max_in_flight_all(),
        2,
        "20 runs at once, 2 requests in flight at most"
    );
}
