//! Conformance with the official contracts in `shared/specs`: every route the sandbox serves
//! exists in Microsoft's OpenAPI subset or Google's discovery document; the official example
//! requests are accepted; responses and error bodies have the examples' shapes.

use std::collections::HashSet;
use std::time::Duration;

use roster::sandbox::{routes, Api, FaultConfig, SandboxSeed};
use serde_json::{json, Value};

use crate::sandbox_support::*;
use crate::support::eventually;

/// `/users/{user-id}/x` → `/users/{}/x`.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn openapi_operations() -> HashSet<(String, String)> {
    let text = std::fs::read_to_string(specs_dir().join("graph/openapi-v1.0-subset.yaml"))
        .unwrap_or_default();
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("openapi-v1.0-subset.yaml: {e}"));
    let mut ops = HashSet::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_mapping()) {
        for (path, item) in paths {
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_some() {
                    ops.insert((
                        method.to_ascii_uppercase(),
                        normalize(path.as_str().unwrap_or_default()),
                    ));
                }
            }
        }
    }
    ops
}

fn discovery_operations() -> HashSet<(String, String)> {
    let text = std::fs::read_to_string(specs_dir().join("google/admin-directory_v1.json"))
        .unwrap_or_default();
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("admin-directory_v1.json: {e}"));
    let mut ops = HashSet::new();
    fn walk(resources: &Value, ops: &mut HashSet<(String, String)>) {
        for resource in resources.as_object().into_iter().flat_map(|m| m.values()) {
            for method in resource["methods"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let path = format!("/{}{}", "", method["path"].as_str().unwrap_or_default());
                ops.insert((
                    method["httpMethod"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    normalize(&path),
                ));
            }
            walk(&resource["resources"], ops);
        }
    }
    walk(&doc["resources"], &mut ops);
    let service_path = doc["servicePath"].as_str().unwrap_or_default().to_string();
    ops.into_iter()
        .map(|(m, p)| {
            (
                m,
                normalize(&format!("/{service_path}{}", p.trim_start_matches('/'))),
            )
        })
        .collect()
}

/// Graph routes served although the OpenAPI subset leaves them out, each with the Microsoft
/// page that documents it (delta queries: `sandbox_delta.rs` checks their shapes).
const OUTSIDE_SUBSET: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/v1.0/users/delta",
        "https://learn.microsoft.com/graph/api/user-delta",
    ),
    (
        "GET",
        "/v1.0/groups/delta",
        "https://learn.microsoft.com/graph/api/group-delta",
    ),
];

#[test]
fn every_served_route_exists_in_the_official_specs() {
    let graph = openapi_operations();
    let google = discovery_operations();
    assert!(
        graph.len() > 20 && google.len() > 50,
        "the spec files were read"
    );
    let mut seen = HashSet::new();
    for r in routes() {
        assert!(
            seen.insert((r.method, r.path)),
            "{} {} is listed twice",
            r.method,
            r.path
        );
        let key = (
            r.method.to_string(),
            normalize(r.path.trim_start_matches("/v1.0")),
        );
        match r.api {
            Api::Graph => assert!(
                graph.contains(&key)
                    || OUTSIDE_SUBSET
                        .iter()
                        .any(|(m, p, _)| (*m, *p) == (r.method, r.path)),
                "{} {} is not in openapi-v1.0-subset.yaml",
                r.method,
                r.path
            ),
            Api::GoogleDirectory => {
                let key = (r.method.to_string(), normalize(r.path));
                assert!(
                    google.contains(&key),
                    "{} {} is not in admin-directory_v1.json",
                    r.method,
                    r.path
                );
            }
            Api::MicrosoftToken => assert_eq!(
                (r.method, r.path),
                ("POST", "/{tenant}/oauth2/v2.0/token"),
                "Graph CONTRACT §1"
            ),
            Api::GoogleToken => assert_eq!(
                (r.method, r.path),
                ("POST", "/token"),
                "Google CONTRACT §1.3"
            ),
            Api::Hr => assert!(r.path.starts_with("/hr/")),
            Api::Admin => assert!(r.path.starts_with("/_sandbox/")),
        }
    }
}

#[tokio::test]
async fn the_router_serves_exactly_the_route_table() {
    let env = start().await;
    // A reset clears the counters, so it goes first.
    let resets = routes().iter().filter(|r| r.path == "/_sandbox/reset");
    for r in resets.chain(routes().iter().filter(|r| r.path != "/_sandbox/reset")) {
        let path = r
            .path
            .replace("{tenant}", TENANT)
            .replace("{user-id}", "x")
            .replace("{group-id}", "x");
        let path = normalize(&path).replace("{}", "x");
        env.call(r.method, &path, None, &[], None).await;
    }
    let counts = env.sandbox.state()["requests"].clone();
    for r in routes() {
        let key = format!("{} {}", r.method, r.path);
        assert!(
            counts.get(&key).is_some(),
            "{key} was not routed to its table entry: {counts:#}"
        );
    }
    assert!(counts.get("unmatched").is_none(), "{counts:#}");
    let stray = env
        .call("GET", "/v1.0/servicePrincipals", None, &[], None)
        .await;
    assert_eq!(
        (stray.status, stray.body["error"]["code"].as_str()),
        (400, Some("BadRequest")),
        "{}",
        stray.text
    );
    let wrong_method = env.call("PUT", "/v1.0/users", None, &[], None).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn official_graph_examples_are_accepted_and_answered_in_their_shape() {
    let env = start().await;
    let t = env.graph_token().await;

    let created = env
        .send(
            "POST",
            "/v1.0/users",
            &t,
            &spec_example("graph/users-create.request.json"),
        )
        .await;
    assert_eq!(
        created.status, 201,
        "users-create.request.json: {}",
        created.text
    );
    assert_shape(
        "users-create.response.json",
        &spec_example("graph/users-create.response.json"),
        &created.body,
        &[],
    );
    let adele_v = created.body["id"].as_str().unwrap_or_default().to_string();

    let list = env.get("/v1.0/users", &t).await;
    assert_shape(
        "users-list.response.json",
        &spec_example("graph/users-list.response.json"),
        &list.body,
        &[],
    );
    let advanced = env
        .call("GET", "/v1.0/users?$filter=startswith(displayName,'a')&$orderby=displayName&$count=true&$top=1&$select=displayName,mail,mailNickname,userPrincipalName", Some(&t), &[("ConsistencyLevel", "eventual")], None)
        .await;
    assert_eq!(advanced.status, 200, "{}", advanced.text);
    assert_shape(
        "users-list-startswith-count.response.json",
        &spec_example("graph/users-list-startswith-count.response.json"),
        &advanced.body,
        &[],
    );

    let mut group = spec_example("graph/groups-create-security.request.json");
    group["owners@odata.bind"] = json!([format!("https://graph.microsoft.com/v1.0/users/{ADELE}")]);
    group["members@odata.bind"] = json!([
        format!("https://graph.microsoft.com/v1.0/users/{LEE}"),
        format!("https://graph.microsoft.com/v1.0/users/{adele_v}")
    ]);
    let g = env.send("POST", "/v1.0/groups", &t, &group).await;
    assert_eq!(
        g.status, 201,
        "groups-create-security.request.json: {}",
        g.text
    );
    assert_shape(
        "groups-create-security.response.json",
        &spec_example("graph/groups-create-security.response.json"),
        &g.body,
        &[],
    );
    let gid = g.body["id"].as_str().unwrap_or_default().to_string();

    let mut add = spec_example("graph/groups-add-member.request.json");
    add["@odata.id"] = json!(format!(
        "https://graph.microsoft.com/v1.0/directoryObjects/{ADELE}"
    ));
    assert_eq!(
        env.send(
            "POST",
            &format!("/v1.0/groups/{gid}/members/$ref"),
            &t,
            &add
        )
        .await
        .status,
        204
    );
    let mut bind = spec_example("graph/groups-add-members-bind.request.json");
    bind["members@odata.bind"] = json!([format!(
        "https://graph.microsoft.com/v1.0/directoryObjects/{}",
        "4562bcc8-c436-4f95-b7c0-4f8ce89dca5e"
    )]);
    assert_eq!(
        env.send("PATCH", &format!("/v1.0/groups/{gid}"), &t, &bind)
            .await
            .status,
        204
    );
    assert_eq!(
        env.get(&format!("/v1.0/groups/{gid}/members"), &t)
            .await
            .body["value"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    let mut assign = spec_example("graph/assign-license.request.json");
    assign["addLicenses"][0]["skuId"] = json!(E3);
    assign["removeLicenses"] = json!([]);
    let assigned = env
        .send(
            "POST",
            &format!("/v1.0/users/{ADELE}/assignLicense"),
            &t,
            &assign,
        )
        .await;
    assert_eq!(
        assigned.status, 200,
        "assign-license.request.json: {}",
        assigned.text
    );
    assert_shape(
        "assign-license.response.json",
        &spec_example("graph/assign-license.response.json"),
        &assigned.body,
        &[],
    );

    let skus = env.get("/v1.0/subscribedSkus", &t).await;
    assert_shape(
        "subscribedskus-list.response.json",
        &spec_example("graph/subscribedskus-list.response.json"),
        &skus.body,
        &[],
    );
    let revoked = env
        .call(
            "POST",
            &format!("/v1.0/users/{ADELE}/revokeSignInSessions"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_shape(
        "revoke-signin-sessions.response.json",
        &spec_example("graph/revoke-signin-sessions.response.json"),
        &revoked.body,
        &[],
    );

    env.call(
        "DELETE",
        &format!("/v1.0/users/{adele_v}"),
        Some(&t),
        &[],
        None,
    )
    .await;
    let restored = env
        .call(
            "POST",
            &format!("/v1.0/directory/deletedItems/{adele_v}/restore"),
            Some(&t),
            &[],
            None,
        )
        .await;
    // Microsoft's example restores a group; a user shares the directoryObject keys only.
    let group_only = ["groupTypes", "mailEnabled", "securityEnabled", "visibility"];
    assert_shape(
        "deleteditems-restore.response.json",
        &spec_example("graph/deleteditems-restore.response.json"),
        &restored.body,
        &group_only,
    );

    let batch = env
        .send(
            "POST",
            "/v1.0/$batch",
            &t,
            &spec_example("graph/batch.request.json"),
        )
        .await;
    assert_eq!(batch.status, 200, "batch.request.json: {}", batch.text);
    assert_eq!(batch.body["responses"].as_array().map(Vec::len), Some(5));
    // Item 5 is the one call of Microsoft's example the sandbox serves (the others use /me).
    let example_item = spec_example("graph/batch.response.json")["responses"][4].clone();
    let item = batch.body["responses"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == "5"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(item["status"], 200, "{item:#}");
    assert_shape(
        "batch.response.json",
        &json!({"responses": [example_item]}),
        &json!({"responses": [item]}),
        &[],
    );
    let batch_error = batch.body["responses"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["status"].as_i64().unwrap_or(0) >= 400))
        .cloned()
        .unwrap_or_default();
    assert_shape(
        "batch item error",
        &spec_example("graph/error-authorization-denied.json"),
        &batch_error["body"],
        &[],
    );
}

#[tokio::test]
async fn official_bulk_upload_examples_are_accepted_and_logged_in_their_shape() {
    let mut seed = SandboxSeed::default_seed();
    seed.entra.bulk_upload_delay_ms = 100;
    let env = start_with(seed, FaultConfig::default()).await;
    let t = env.graph_token().await;
    let path = format!(
        "{}/v1.0/servicePrincipals/{SP}/synchronization/jobs/{JOB}/bulkUpload",
        env.url
    );
    let mut sent = 0;
    for example in [
        "graph/bulkupload-scim-enterprise.request.json",
        "graph/bulkupload-update.request.json",
    ] {
        let body = spec_example(example)
            .to_string()
            .replace("@example.com", "@contoso.com");
        let r = read(
            env.http
                .post(&path)
                .bearer_auth(&t)
                .header("content-type", "application/scim+json")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await;
        assert_eq!(r.status, 202, "{example}: {}", r.text);
        let headers = json!({"client-request-id": r.header("client-request-id"), "content-length": r.header("content-length"), "location": r.header("location"), "request-id": r.header("request-id")});
        assert_shape(
            "bulkupload.response-headers.json",
            &spec_example("graph/bulkupload.response-headers.json"),
            &headers,
            &[],
        );
        sent += spec_example(example)["Operations"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
    }
    let logs = eventually(Duration::from_secs(3), "provisioning logs", || async {
        let r = env.get("/v1.0/auditLogs/provisioning", &t).await;
        (r.body["value"].as_array().map(Vec::len) == Some(sent)).then_some(r.body)
    })
    .await;
    assert_shape(
        "provisioning-logs.response.json",
        &spec_example("graph/provisioning-logs.response.json"),
        &logs,
        &[],
    );
    assert_eq!(
        logs["value"][0]["provisioningStatusInfo"]["status"],
        "success"
    );
}

#[tokio::test]
async fn token_and_error_bodies_have_the_documented_shapes() {
    let env = start().await;
    let ok = env
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
    assert_shape(
        "token-client-credentials.response.json",
        &spec_example("graph/token-client-credentials.response.json"),
        &ok.body,
        &[],
    );
    let scope = env
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
    assert_shape(
        "token-error.response.json",
        &spec_example("graph/token-error.response.json"),
        &scope.body,
        &[],
    );
    assert!(scope.body["error_description"]
        .as_str()
        .unwrap_or_default()
        .starts_with(
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
        ));

    let t = env.graph_token().await;
    let conflict = env
        .send("POST", "/v1.0/users", &t, &new_user("admin@contoso.com"))
        .await;
    assert_shape(
        "error-upn-conflict.json",
        &spec_example("graph/error-upn-conflict.json"),
        &conflict.body,
        &[],
    );
    let generic = env.get("/v1.0/users/ghost@contoso.com", &t).await;
    assert_shape(
        "error-generic.json",
        &spec_example("graph/error-generic.json"),
        &generic.body,
        &[],
    );
    let reader = env.graph_token_for(READER, READER_SECRET).await;
    let denied = env
        .call(
            "DELETE",
            &format!("/v1.0/users/{LEE}"),
            Some(&reader),
            &[],
            None,
        )
        .await;
    let mut expected = spec_example("graph/error-authorization-denied.json");
    for k in ["date", "request-id", "client-request-id"] {
        expected["error"]["innerError"][k] = denied.body["error"]["innerError"][k].clone();
    }
    assert_eq!(
        denied.body, expected,
        "the 403 body is Microsoft's, ids aside"
    );
    assert_eq!(
        denied.header("request-id"),
        denied.body["error"]["innerError"]["request-id"].as_str()
    );
    let client = env
        .call(
            "GET",
            "/v1.0/users/ghost@contoso.com",
            Some(&t),
            &[("client-request-id", "abc-123")],
            None,
        )
        .await;
    assert_eq!(
        (
            client.header("client-request-id"),
            client.body["error"]["innerError"]["client-request-id"].as_str()
        ),
        (Some("abc-123"), Some("abc-123"))
    );

    let g = env.google_token().await;
    let bad = env
        .get("/admin/directory/v1/users/all-staff@contoso.com", &g)
        .await;
    assert_eq!(bad.body, spec_example("google/error.400.badRequest.json"));
    let scope = env
        .google_token_with(
            Some("admin@contoso.com"),
            &["https://www.googleapis.com/auth/admin.directory.orgunit"],
        )
        .await;
    assert_eq!(
        scope.body,
        spec_example("google/token.unauthorized_client.json")
    );
}

#[tokio::test]
async fn official_google_examples_are_accepted_and_answered_in_their_shape() {
    let env = start().await;
    let t = env.google_token().await;
    let mut insert = spec_example("google/users.insert.request.json");
    insert["primaryEmail"] = json!("liz@contoso.com");
    insert["emails"][0]["address"] = json!("liz@contoso.com");
    insert["password"] = json!("a sandbox password");
    let created = env
        .send("POST", "/admin/directory/v1/users", &t, &insert)
        .await;
    assert_eq!(
        created.status, 200,
        "users.insert.request.json: {}",
        created.text
    );
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    env.send(
        "POST",
        &format!("/admin/directory/v1/users/{id}/aliases"),
        &t,
        &json!({"alias": "lizsmith@contoso.com"}),
    )
    .await;
    let patched = env
        .send(
            "PATCH",
            &format!("/admin/directory/v1/users/{id}"),
            &t,
            &spec_example("google/users.patch.customSchemas.request.json"),
        )
        .await;
    assert_eq!(
        patched.status, 200,
        "users.patch.customSchemas.request.json: {}",
        patched.text
    );
    assert_eq!(
        patched.body["customSchemas"]["employmentData"]["projects"][2]["customType"],
        "secret"
    );
    let updated = env
        .send(
            "PUT",
            &format!("/admin/directory/v1/users/{id}"),
            &t,
            &spec_example("google/users.update.relations.request.json"),
        )
        .await;
    assert_eq!(
        updated.status, 200,
        "users.update.relations.request.json: {}",
        updated.text
    );

    // nonEditableAliases only exist for secondary-domain aliases, which the sandbox has none of;
    // the insert example sends no organizations[].customType, so none comes back.
    let got = env
        .get(&format!("/admin/directory/v1/users/{id}"), &t)
        .await;
    assert_shape(
        "users.get.response.json",
        &spec_example("google/users.get.response.json"),
        &got.body,
        &["nonEditableAliases", "customType"],
    );
    insert["primaryEmail"] = json!("lizzy@contoso.com");
    assert_eq!(
        env.send("POST", "/admin/directory/v1/users", &t, &insert)
            .await
            .status,
        200
    );
    let list = env
        .get(
            "/admin/directory/v1/users?domain=contoso.com&maxResults=1&query=familyName%3DSmith",
            &t,
        )
        .await;
    assert_shape(
        "users.list.domain.response.json",
        &spec_example("google/users.list.domain.response.json"),
        &list.body,
        &["nonEditableAliases", "customType"],
    );

    env.call(
        "DELETE",
        &format!("/admin/directory/v1/users/{id}"),
        Some(&t),
        &[],
        None,
    )
    .await;
    let deleted = env
        .get(
            "/admin/directory/v1/users?customer=my_customer&showDeleted=true&maxResults=1",
            &t,
        )
        .await;
    let mut example = spec_example("google/users.list.showDeleted.response.json");
    example.as_object_mut().map(|m| m.remove("nextPageToken"));
    assert_shape(
        "users.list.showDeleted.response.json",
        &example,
        &deleted.body,
        &[],
    );

    let mut watch = spec_example("google/users.watch.request.json");
    watch["address"] = json!("https://127.0.0.1:9/notifications");
    let channel = env
        .send(
            "POST",
            "/admin/directory/v1/users/watch?customer=my_customer&event=update",
            &t,
            &watch,
        )
        .await;
    assert_eq!(
        channel.status, 200,
        "users.watch.request.json: {}",
        channel.text
    );
    assert_shape(
        "users.watch.response.json",
        &spec_example("google/users.watch.response.json"),
        &channel.body,
        &[],
    );
    let mut stop = spec_example("google/channels.stop.request.json");
    stop["id"] = watch["id"].clone();
    stop["resourceId"] = channel.body["resourceId"].clone();
    assert_eq!(
        env.send("POST", "/admin/directory_v1/channels/stop", &t, &stop)
            .await
            .status,
        204
    );
}
