//! Fault injection (5xx, 429, latency, replication delay), the admin surface, and the HR API.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use roster::sandbox::FaultConfig;
use roster::sandbox::SandboxSeed;
use serde_json::{json, Value};

use crate::sandbox_support::*;

fn users(env: &Env) -> usize {
    env.sandbox.state()["entra"]["users"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[tokio::test]
async fn with_error_rate_one_every_workload_call_fails_in_its_own_shape_and_changes_nothing() {
    let env = start().await;
    let graph = env.graph_token().await;
    let google = env.google_token().await;
    let before = env.sandbox.state();
    env.sandbox.set_faults(FaultConfig {
        error_rate: 1.0,
        retry_after_s: 3,
        rng_seed: Some(1),
        ..FaultConfig::default()
    });

    let g = env
        .send(
            "POST",
            "/v1.0/users",
            &graph,
            &new_user("faulted@contoso.com"),
        )
        .await;
    assert_eq!(g.status, 503, "{}", g.text);
    assert_eq!(g.body["error"]["code"], "serviceNotAvailable");
    assert!(g.body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(g.header("retry-after"), Some("3"));
    let d = env
        .send(
            "PATCH",
            "/admin/directory/v1/users/ada@contoso.com",
            &google,
            &json!({"suspended": true}),
        )
        .await;
    assert_eq!(
        (
            d.status,
            d.body["error"]["code"].as_i64(),
            d.body["error"]["errors"][0]["reason"].as_str()
        ),
        (503, Some(503), Some("backendError")),
        "{}",
        d.text
    );
    let h = env
        .call(
            "PATCH",
            "/hr/employees/E1001",
            Some("sandbox-hr-token"),
            &[],
            Some(&json!({"department": "X"})),
        )
        .await;
    assert_eq!(
        (h.status, h.body["error"]["code"].as_str()),
        (503, Some("unavailable"))
    );

    // Token endpoints and the admin surface are never faulted.
    assert!(!env.graph_token().await.is_empty());
    let after = env.sandbox.state();
    for key in ["entra", "google", "hr"] {
        assert_eq!(before[key], after[key], "{key} changed under a fault");
    }
    env.sandbox.set_faults(FaultConfig {
        error_rate: 1.0,
        error_statuses: vec![504],
        ..FaultConfig::default()
    });
    let timeout = env.get("/v1.0/users", &graph).await;
    assert_eq!(
        (timeout.status, timeout.body["error"]["code"].as_str()),
        (504, Some("gatewayTimeout"))
    );
}

#[tokio::test]
async fn with_throttle_rate_one_calls_get_429_with_retry_after() {
    let env = start().await;
    let graph = env.graph_token().await;
    let google = env.google_token().await;
    env.sandbox.set_faults(FaultConfig {
        throttle_rate: 1.0,
        retry_after_s: 7,
        ..FaultConfig::default()
    });
    let g = env.get("/v1.0/users", &graph).await;
    assert_eq!(
        (
            g.status,
            g.header("retry-after"),
            g.body["error"]["code"].as_str()
        ),
        (429, Some("7"), Some("TooManyRequests"))
    );
    assert!(g
        .header("x-ms-throttle-scope")
        .is_some_and(|s| s.starts_with("Tenant_Application/")));
    let d = env
        .get("/admin/directory/v1/users?customer=my_customer", &google)
        .await;
    assert_eq!(
        (
            d.status,
            d.header("retry-after"),
            d.body["error"]["errors"][0]["reason"].as_str()
        ),
        (429, Some("7"), Some("rateLimitExceeded"))
    );
    let h = env
        .call("GET", "/hr/employees", Some("sandbox-hr-token"), &[], None)
        .await;
    assert_eq!((h.status, h.header("retry-after")), (429, Some("7")));
}

#[tokio::test]
async fn latency_delays_workload_calls() {
    let env = start().await;
    let t = env.graph_token().await;
    env.sandbox.set_faults(FaultConfig {
        latency_ms: 150,
        ..FaultConfig::default()
    });
    let started = Instant::now();
    assert_eq!(env.get("/v1.0/subscribedSkus", &t).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn replication_delay_hides_a_new_user_then_shows_it() {
    let faults = FaultConfig {
        replication_delay_ms: 400,
        ..FaultConfig::default()
    };
    let env = start_with(SandboxSeed::default_seed(), faults).await;
    let t = env.graph_token().await;
    let mut body = new_user("fresh@contoso.com");
    body["usageLocation"] = json!("US");
    let created = env.send("POST", "/v1.0/users", &t, &body).await;
    assert_eq!(created.status, 201, "the write itself succeeds");
    let id = created.body["id"].as_str().unwrap_or_default().to_string();
    let get = env.get(&format!("/v1.0/users/{id}"), &t).await;
    assert_eq!(
        (get.status, get.body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    let reference =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")});
    assert_eq!(
        env.send(
            "POST",
            &format!("/v1.0/groups/{ALL_STAFF}/members/$ref"),
            &t,
            &reference
        )
        .await
        .status,
        404
    );
    let license =
        json!({"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []});
    assert_eq!(
        env.send(
            "POST",
            &format!("/v1.0/users/{id}/assignLicense"),
            &t,
            &license
        )
        .await
        .status,
        404
    );
    let filtered = env
        .get(
            "/v1.0/users?$filter=userPrincipalName%20eq%20'fresh@contoso.com'",
            &t,
        )
        .await;
    assert_eq!(filtered.body["value"], json!([]), "filters omit it too");

    let g = env.google_token().await;
    let inserted = env.send("POST", "/admin/directory/v1/users", &g, &json!({"primaryEmail": "fresh@contoso.com", "name": {"givenName": "F", "familyName": "R"}, "password": "long enough pw"})).await;
    assert_eq!(inserted.status, 200);
    assert_eq!(
        env.get("/admin/directory/v1/users/fresh@contoso.com", &g)
            .await
            .status,
        404
    );

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(env.get(&format!("/v1.0/users/{id}"), &t).await.status, 200);
    assert_eq!(
        env.send(
            "POST",
            &format!("/v1.0/groups/{ALL_STAFF}/members/$ref"),
            &t,
            &reference
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get("/admin/directory/v1/users/fresh@contoso.com", &g)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn reset_restores_the_seed_and_the_faults_endpoint_round_trips() {
    let env = start().await;
    let t = env.graph_token().await;
    let seeded = env.sandbox.state();
    assert_eq!(
        env.send("POST", "/v1.0/users", &t, &new_user("temp@contoso.com"))
            .await
            .status,
        201
    );
    assert_eq!(users(&env), 6);
    let counts = env.admin("GET", "/_sandbox/state", None).await;
    assert_eq!(
        counts.body["requests"]["POST /v1.0/users"]["201"], 1,
        "{}",
        counts.text
    );
    let reset = env.admin("POST", "/_sandbox/reset", None).await;
    assert_eq!(reset.status, 200);
    // Creation times are stamped when the seed is (re)loaded; everything else is the seed's.
    let stable = |users: &serde_json::Value| {
        let mut users = users.clone();
        for u in users.as_array_mut().into_iter().flatten() {
            if let Some(o) = u.as_object_mut() {
                o.remove("createdDateTime");
            }
        }
        users
    };
    assert_eq!(
        stable(&env.sandbox.state()["entra"]["users"]),
        stable(&seeded["entra"]["users"])
    );
    assert_eq!(
        env.get("/v1.0/users/temp@contoso.com", &t).await.status,
        404,
        "tokens survive a reset, the user does not"
    );

    let put = env
        .admin(
            "PUT",
            "/_sandbox/faults",
            Some(&json!({"throttle_rate": 0.25, "retry_after_s": 4})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let got = env.admin("GET", "/_sandbox/faults", None).await;
    assert_eq!(
        (
            got.body["throttle_rate"].as_f64(),
            got.body["retry_after_s"].as_u64()
        ),
        (Some(0.25), Some(4))
    );
    let bad = env
        .admin("PUT", "/_sandbox/faults", Some(&json!({"error_rate": 2.0})))
        .await;
    assert_eq!(bad.status, 400);
    let unknown = env
        .admin("PUT", "/_sandbox/faults", Some(&json!({"chaos": true})))
        .await;
    assert_eq!(unknown.status, 400);
}

#[tokio::test]
async fn the_hr_api_authenticates_and_applies_merge_patches() {
    let env = start().await;
    let none = env.call("GET", "/hr/employees", None, &[], None).await;
    assert_eq!(none.status, 401);
    assert!(none.header("www-authenticate").is_some());
    assert_eq!(
        env.call("GET", "/hr/employees", Some("wrong"), &[], None)
            .await
            .status,
        401
    );
    let basic = format!("Basic {}", STANDARD.encode("roster:sandbox-hr-password"));
    let list = env
        .call(
            "GET",
            "/hr/employees?department=Engineering",
            None,
            &[("authorization", &basic)],
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> = list.body["employees"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        vec![
            "E1001", "E1005", "E3001", "E10001", "E10002", "E10008", "E10009", "E10011", "E10016",
            "E10018", "E10022", "E10025", "E10028", "E10031", "E10032", "E10037", "E10039",
            "E10045", "E10047"
        ]
    );

    let patch = json!({"status": "active", "accounts": {"entra_upn": "nestor.wilke@contoso.com"}, "personal_email": null});
    let r = env
        .call(
            "PATCH",
            "/hr/employees/E1005",
            Some("sandbox-hr-token"),
            &[],
            Some(&patch),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let e = env
        .call(
            "GET",
            "/hr/employees/E1005",
            Some("sandbox-hr-token"),
            &[],
            None,
        )
        .await;
    assert_eq!(e.body["status"], "active");
    assert_eq!(e.body["accounts"]["entra_upn"], "nestor.wilke@contoso.com");
    assert_eq!(e.body.get("personal_email"), None::<&Value>);
    assert_eq!(
        env.call(
            "GET",
            "/hr/employees/E404",
            Some("sandbox-hr-token"),
            &[],
            None
        )
        .await
        .status,
        404
    );
    let id_change = env
        .call(
            "PATCH",
            "/hr/employees/E1005",
            Some("sandbox-hr-token"),
            &[],
            Some(&json!({"id": "E1"})),
        )
        .await;
    assert_eq!(id_change.status, 400);
}
