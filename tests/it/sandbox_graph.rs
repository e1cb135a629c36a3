//! Graph behaviours of CONTRACT §9: users, queries and paging, groups and `$ref` membership,
//! licenses, deleted items, sessions, bulkUpload and `$batch`.

use std::time::Duration;

use roster::sandbox::{FaultConfig, SandboxSeed};
use serde_json::{json, Value};

use crate::sandbox_support::*;
use crate::support::eventually;

fn ids(r: &Resp) -> Vec<String> {
    r.body["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn create_returns_the_default_properties_and_a_taken_upn_is_refused() {
    let env = start().await;
    let t = env.graph_token().await;
    let mut body = new_user("ada.king@contoso.com");
    body["employeeId"] = json!("E9001");
    let r = env.send("POST", "/v1.0/users", &t, &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keys: Vec<&str> = r
        .body
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for k in [
        "@odata.context",
        "id",
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert!(
        !keys.contains(&"employeeId") && !keys.contains(&"passwordProfile"),
        "only the default set: {keys:?}"
    );
    assert!(roster::sandbox::routes().len() > 10);

    let again = env
        .send("POST", "/v1.0/users", &t, &new_user("ADA.KING@contoso.com"))
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        again.body["error"]["message"],
        "Another object with the same value for property userPrincipalName already exists."
    );
    assert_eq!(
        again.body["error"]["details"],
        json!([{"code": "ObjectConflict", "target": "userPrincipalName"}])
    );

    let foreign = env
        .send("POST", "/v1.0/users", &t, &new_user("x@fabrikam.com"))
        .await;
    assert_eq!(
        foreign.body["error"]["message"],
        "Property userPrincipalName is invalid."
    );
    let mut weak = new_user("weak@contoso.com");
    weak["passwordProfile"]["password"] = json!("password");
    let weak = env.send("POST", "/v1.0/users", &t, &weak).await;
    assert!(
        weak.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("password complexity"),
        "{}",
        weak.text
    );
    let mut missing = new_user("m@contoso.com");
    missing.as_object_mut().map(|m| m.remove("mailNickname"));
    let missing = env.send("POST", "/v1.0/users", &t, &missing).await;
    assert_eq!(
        missing.body["error"]["message"],
        "Invalid value specified for property 'mailNickname' of resource 'User'."
    );
}

#[tokio::test]
async fn hr_properties_come_back_only_with_select() {
    let env = start().await;
    let t = env.graph_token().await;
    let plain = env.get(&format!("/v1.0/users/{ADELE}"), &t).await;
    assert_eq!(plain.status, 200);
    assert!(
        plain.body.get("employeeId").is_none()
            && plain.body["userPrincipalName"] == "adele.vance@contoso.com"
    );
    let by_upn = env.get("/v1.0/users/ADELE.VANCE@contoso.com?$select=id,employeeId,accountEnabled,usageLocation,assignedLicenses", &t).await;
    assert_eq!(by_upn.status, 200, "{}", by_upn.text);
    assert_eq!(by_upn.body["id"], ADELE);
    assert_eq!(by_upn.body["employeeId"], "E1001");
    assert_eq!(by_upn.body["usageLocation"], "DE");
    assert_eq!(
        by_upn.body["assignedLicenses"][0]["skuId"],
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
    );
    assert!(by_upn.body.get("displayName").is_none());
    let bad = env
        .get(&format!("/v1.0/users/{ADELE}?$select=nope"), &t)
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn filters_match_on_eq_startswith_and_in() {
    let env = start().await;
    let t = env.graph_token().await;
    let q = |f: &str| {
        format!(
            "/v1.0/users?$filter={}&$select=id,userPrincipalName,employeeId",
            urlencode(f)
        )
    };
    let r = env.get(&q("employeeId eq 'E1002'"), &t).await;
    assert_eq!(
        r.body["value"][0]["userPrincipalName"], "diego.siciliani@contoso.com",
        "{}",
        r.text
    );
    assert_eq!(
        ids(&env.get(&q("startswith(displayName,'me')"), &t).await).len(),
        1
    );
    assert_eq!(ids(&env.get(&q("userPrincipalName in ('lee.gu@contoso.com','megan.bowen@contoso.com','x@contoso.com')"), &t).await).len(), 2);
    assert_eq!(
        ids(&env.get(&q("mail eq 'ADELE.VANCE@contoso.com'"), &t).await),
        vec![ADELE.to_string()]
    );
    assert_eq!(
        ids(&env.get(&q("mailNickname eq 'lee.gu'"), &t).await),
        vec![LEE.to_string()]
    );
    assert!(ids(&env.get(&q("employeeId eq 'E404'"), &t).await).is_empty());
    let syntax = env.get(&q("employeeId eq"), &t).await;
    assert_eq!(syntax.status, 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn advanced_queries_need_consistency_level_and_count() {
    let env = start().await;
    let t = env.graph_token().await;
    let path = format!(
        "/v1.0/users?$filter={}&$count=true",
        urlencode("endswith(mail,'@contoso.com')")
    );
    let plain = env.get(&path, &t).await;
    assert_eq!(
        (plain.status, plain.body["error"]["code"].as_str()),
        (400, Some("Request_UnsupportedQuery")),
        "{}",
        plain.text
    );
    let eventual = env
        .call(
            "GET",
            &path,
            Some(&t),
            &[("ConsistencyLevel", "eventual")],
            None,
        )
        .await;
    assert_eq!(eventual.status, 200, "{}", eventual.text);
    assert_eq!(
        eventual.body["@odata.count"], 4,
        "four users have a contoso.com mail"
    );
    let ne = env
        .call(
            "GET",
            &format!("/v1.0/users?$filter={}", urlencode("department ne 'Sales'")),
            Some(&t),
            &[("ConsistencyLevel", "eventual")],
            None,
        )
        .await;
    assert_eq!(ne.status, 400, "ne also needs $count=true");
}

#[tokio::test]
async fn top_pages_through_an_opaque_next_link() {
    let env = start().await;
    let t = env.graph_token().await;
    let mut seen = Vec::new();
    let mut next = Some(format!("{}/v1.0/users?$top=2&$select=id", env.url));
    let mut pages = 0;
    while let Some(url) = next {
        let r = env.get(&url, &t).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text);
        assert!(r.body["value"].as_array().is_some_and(|v| v.len() <= 2));
        seen.extend(ids(&r));
        next = r.body["@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every seeded user exactly once");
    assert_eq!(env.get("/v1.0/users?$top=0", &t).await.status, 400);
    assert_eq!(env.get("/v1.0/users?$skip=2", &t).await.status, 400);
}

#[tokio::test]
async fn patch_answers_204_and_changes_the_user() {
    let env = start().await;
    let t = env.graph_token().await;
    let r = env
        .send(
            "PATCH",
            &format!("/v1.0/users/{LEE}"),
            &t,
            &json!({"department": "Finance", "usageLocation": "NL"}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let got = env
        .get(
            &format!("/v1.0/users/{LEE}?$select=department,usageLocation"),
            &t,
        )
        .await;
    assert_eq!(got.body["department"], "Finance");
    assert_eq!(got.body["usageLocation"], "NL");
    let conflict = env
        .send(
            "PATCH",
            &format!("/v1.0/users/{LEE}"),
            &t,
            &json!({"userPrincipalName": "adele.vance@contoso.com"}),
        )
        .await;
    assert_eq!(
        conflict.body["error"]["details"][0]["code"],
        "ObjectConflict"
    );
    let unknown = env
        .send(
            "PATCH",
            "/v1.0/users/ghost@contoso.com",
            &t,
            &json!({"department": "X"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
}

#[tokio::test]
async fn delete_is_soft_and_restore_brings_the_memberships_back() {
    let env = start().await;
    let t = env.graph_token().await;
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1.0/users/{ADELE}"),
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("/v1.0/users/{ADELE}"), &t).await.status,
        404
    );
    let deleted = env
        .get("/v1.0/directory/deletedItems/microsoft.graph.user", &t)
        .await;
    assert_eq!(ids(&deleted), vec![ADELE.to_string()], "{}", deleted.text);
    assert!(deleted.body["value"][0]["deletedDateTime"].is_string());
    let members = env
        .get(&format!("/v1.0/groups/{DEPT_ENGINEERING}/members"), &t)
        .await;
    assert!(!ids(&members).contains(&ADELE.to_string()));

    let restored = env
        .call(
            "POST",
            &format!("/v1.0/directory/deletedItems/{ADELE}/restore"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(
        env.get(&format!("/v1.0/users/{ADELE}"), &t).await.status,
        200
    );
    let member_of = env.get(&format!("/v1.0/users/{ADELE}/memberOf"), &t).await;
    assert!(
        ids(&member_of).contains(&DEPT_ENGINEERING.to_string()),
        "{}",
        member_of.text
    );
    assert_eq!(
        env.call(
            "POST",
            &format!("/v1.0/directory/deletedItems/{ADELE}/restore"),
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        404
    );

    assert_eq!(
        env.call("DELETE", &format!("/v1.0/users/{LEE}"), Some(&t), &[], None)
            .await
            .status,
        204
    );
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1.0/directory/deletedItems/{LEE}"),
            Some(&t),
            &[],
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("/v1.0/directory/deletedItems/{LEE}"), &t)
            .await
            .status,
        404,
        "purged"
    );
}

#[tokio::test]
async fn revoke_sign_in_sessions_answers_true_and_stamps_the_user() {
    let env = start().await;
    let t = env.graph_token().await;
    let r = env
        .call(
            "POST",
            "/v1.0/users/megan.bowen@contoso.com/revokeSignInSessions",
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"], true);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap_or_default()
        .ends_with("$metadata#Edm.Boolean"));
    let got = env
        .get(
            "/v1.0/users/megan.bowen@contoso.com?$select=signInSessionsValidFromDateTime",
            &t,
        )
        .await;
    assert!(
        got.body["signInSessionsValidFromDateTime"].is_string(),
        "{}",
        got.text
    );
}

#[tokio::test]
async fn membership_by_ref_is_added_once_and_removed_once() {
    let env = start().await;
    let t = env.graph_token().await;
    let created = env
        .send("POST", "/v1.0/groups", &t, &json!({"displayName": "Project X", "mailEnabled": false, "mailNickname": "projectx", "securityEnabled": true, "groupTypes": []}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let gid = created.body["id"].as_str().unwrap_or_default().to_string();
    let found = env
        .get(
            "/v1.0/groups?$filter=displayName%20eq%20'Project%20X'&$select=id,displayName",
            &t,
        )
        .await;
    assert_eq!(ids(&found), vec![gid.clone()]);

    let reference =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{LEE}")});
    let add = env
        .send(
            "POST",
            &format!("/v1.0/groups/{gid}/members/$ref"),
            &t,
            &reference,
        )
        .await;
    assert_eq!((add.status, add.text.as_str()), (204, ""));
    let twice = env
        .send(
            "POST",
            &format!("/v1.0/groups/{gid}/members/$ref"),
            &t,
            &reference,
        )
        .await;
    assert_eq!(twice.status, 400);
    assert_eq!(twice.body["error"]["message"], "One or more added object references already exist for the following modified properties: 'members'.");
    let ghost = json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-4000-8000-000000000000"});
    let unknown = env
        .send(
            "POST",
            &format!("/v1.0/groups/{gid}/members/$ref"),
            &t,
            &ghost,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    assert_eq!(
        ids(&env.get(&format!("/v1.0/groups/{gid}/members"), &t).await),
        vec![LEE.to_string()]
    );

    let remove = env
        .call(
            "DELETE",
            &format!("/v1.0/groups/{gid}/members/{LEE}/$ref"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(remove.status, 204);
    let again = env
        .call(
            "DELETE",
            &format!("/v1.0/groups/{gid}/members/{LEE}/$ref"),
            Some(&t),
            &[],
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.body["error"]["message"], "One or more removed object references do not exist for the following modified properties: 'members'.");
}

#[tokio::test]
async fn nested_groups_show_in_transitive_reads() {
    let env = start().await;
    let t = env.graph_token().await;
    let direct = ids(&env.get(&format!("/v1.0/users/{ADELE}/memberOf"), &t).await);
    let transitive = ids(&env
        .get(&format!("/v1.0/users/{ADELE}/transitiveMemberOf"), &t)
        .await);
    assert!(
        !direct.contains(&ALL_STAFF.to_string()) && transitive.contains(&ALL_STAFF.to_string()),
        "{direct:?} {transitive:?}"
    );
    let everyone = env
        .get(&format!("/v1.0/groups/{ALL_STAFF}/transitiveMembers"), &t)
        .await;
    assert!(ids(&everyone).contains(&ADELE.to_string()));
    assert_eq!(
        everyone.body["value"][0]["@odata.type"],
        "#microsoft.graph.group"
    );
}

async fn consumed(env: &Env, t: &str, sku: &str) -> i64 {
    let skus = env.get("/v1.0/subscribedSkus", t).await;
    skus.body["value"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["skuId"] == sku))
        .map(|s| s["consumedUnits"].as_i64().unwrap_or(-1))
        .unwrap_or(-1)
}

#[tokio::test]
async fn licenses_check_usage_location_and_seats_and_move_consumed_units() {
    let env = start().await;
    let t = env.graph_token().await;
    let add = |sku: &str| json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []});
    let no_location = env
        .send(
            "POST",
            &format!("/v1.0/users/{LEE}/assignLicense"),
            &t,
            &add(E3),
        )
        .await;
    assert_eq!(no_location.status, 400);
    assert_eq!(
        no_location.body["error"]["message"],
        "License assignment cannot be done for user with invalid usage location."
    );

    let full = env
        .send(
            "POST",
            &format!("/v1.0/users/{ADELE}/assignLicense"),
            &t,
            &add(ENTERPRISEPACK),
        )
        .await;
    assert_eq!(full.status, 400);
    assert_eq!(
        full.body["error"]["message"],
        format!("Subscription with SKU {ENTERPRISEPACK} does not have any available licenses.")
    );

    let missing = env
        .send(
            "POST",
            &format!("/v1.0/users/{ADELE}/assignLicense"),
            &t,
            &json!({"addLicenses": []}),
        )
        .await;
    assert_eq!(missing.status, 400, "removeLicenses is required");

    let before = consumed(&env, &t, E3).await;
    assert_eq!(before, 2);
    env.send(
        "PATCH",
        &format!("/v1.0/users/{LEE}"),
        &t,
        &json!({"usageLocation": "DE"}),
    )
    .await;
    let ok = env
        .send(
            "POST",
            &format!("/v1.0/users/{LEE}/assignLicense"),
            &t,
            &add(E3),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["assignedLicenses"][0]["skuId"], E3);
    assert_eq!(consumed(&env, &t, E3).await, before + 1);
    let details = env
        .get(&format!("/v1.0/users/{LEE}/licenseDetails"), &t)
        .await;
    assert_eq!(
        details.body["value"][0]["skuPartNumber"], "SPE_E3",
        "{}",
        details.text
    );

    let remove = env
        .send(
            "POST",
            &format!("/v1.0/users/{LEE}/assignLicense"),
            &t,
            &json!({"addLicenses": [], "removeLicenses": [E3]}),
        )
        .await;
    assert_eq!(remove.status, 200);
    assert_eq!(consumed(&env, &t, E3).await, before);
    assert_eq!(remove.body["assignedLicenses"], json!([]));
}

fn bulk_body(records: Vec<Value>) -> Value {
    let ops: Vec<Value> = records.into_iter().enumerate().map(|(i, data)| json!({"method": "POST", "bulkId": i.to_string(), "path": "/Users", "data": data})).collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops, "failOnErrors": null})
}

async fn bulk_upload(env: &Env, t: &str, content_type: &str, body: &Value) -> Resp {
    let path = format!("/v1.0/servicePrincipals/{SP}/synchronization/jobs/{JOB}/bulkUpload");
    let r = env
        .http
        .post(format!("{}{path}", env.url))
        .bearer_auth(t)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await;
    read(r.unwrap_or_else(|e| panic!("{e}"))).await
}

#[tokio::test]
async fn bulk_upload_validates_answers_202_and_logs_each_operation_after_the_delay() {
    let mut seed = SandboxSeed::default_seed();
    seed.entra.bulk_upload_delay_ms = 300;
    let env = start_with(seed, FaultConfig::default()).await;
    let t = env.graph_token().await;
    let record = |ext: &str, upn: &str, active: bool| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "externalId": ext, "userName": upn, "active": active,
               "name": {"givenName": "Barbara", "familyName": "Jensen"},
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour Operations"}})
    };
    let body = bulk_body(vec![
        record("701984", "bjensen@contoso.com", true),
        record("701985", "bad@fabrikam.com", true),
    ]);
    let wrong_type = bulk_upload(&env, &t, "application/json", &body).await;
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.text);
    let too_many = bulk_upload(
        &env,
        &t,
        "application/scim+json",
        &bulk_body(
            (0..51)
                .map(|i| record(&i.to_string(), "a@contoso.com", true))
                .collect(),
        ),
    )
    .await;
    assert_eq!(too_many.status, 400);

    let accepted = bulk_upload(&env, &t, "application/scim+json", &body).await;
    assert_eq!((accepted.status, accepted.text.as_str()), (202, ""));
    let location = accepted.header("location").unwrap_or_default().to_string();
    assert!(
        location.contains("/v1.0/auditLogs/provisioning/?$filter=jobid%20eq%20'API2AAD."),
        "{location}"
    );
    let logs_path = format!("/v1.0/auditLogs/provisioning?$filter=jobId%20eq%20'{JOB}'");
    assert_eq!(
        env.get(&logs_path, &t).await.body["value"],
        json!([]),
        "applied only after the delay"
    );

    let logs = eventually(Duration::from_secs(3), "provisioning logs", || async {
        let r = env.get(&logs_path, &t).await;
        r.body["value"].as_array().filter(|v| v.len() == 2).cloned()
    })
    .await;
    assert_eq!(logs[0]["provisioningAction"], "create");
    assert_eq!(logs[0]["provisioningStatusInfo"]["status"], "success");
    assert_eq!(logs[1]["provisioningStatusInfo"]["status"], "failure");
    assert_eq!(logs[0]["cycleId"], logs[1]["cycleId"]);
    let user = env
        .get(
            "/v1.0/users/bjensen@contoso.com?$select=employeeId,department,accountEnabled",
            &t,
        )
        .await;
    assert_eq!(
        (
            user.body["employeeId"].as_str(),
            user.body["department"].as_str()
        ),
        (Some("701984"), Some("Tour Operations")),
        "{}",
        user.text
    );

    let disable = bulk_body(vec![json!({"externalId": "701984", "active": false})]);
    assert_eq!(
        bulk_upload(&env, &t, "application/scim+json", &disable)
            .await
            .status,
        202
    );
    let logs = eventually(Duration::from_secs(3), "the disable log", || async {
        let r = env.get(&logs_path, &t).await;
        r.body["value"].as_array().filter(|v| v.len() == 3).cloned()
    })
    .await;
    assert_eq!(logs[2]["provisioningAction"], "disable");
    let user = env
        .get("/v1.0/users/bjensen@contoso.com?$select=accountEnabled", &t)
        .await;
    assert_eq!(user.body["accountEnabled"], false);
}

#[tokio::test]
async fn batch_runs_in_dependency_order_and_fails_dependents_with_424() {
    let env = start().await;
    let t = env.graph_token().await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users/ghost@contoso.com"},
        {"id": "2", "method": "PATCH", "url": "/users/ghost@contoso.com", "dependsOn": ["1"], "headers": {"Content-Type": "application/json"}, "body": {"department": "X"}},
        {"id": "3", "method": "GET", "url": format!("/users/{ADELE}?$select=employeeId")},
        {"id": "4", "method": "POST", "url": "/users", "headers": {"Content-Type": "application/json"}, "body": new_user("batch.user@contoso.com")},
    ]});
    let r = env.send("POST", "/v1.0/$batch", &t, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let status = |id: &str| {
        r.body["responses"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == id))
            .map(|x| x["status"].as_i64().unwrap_or(0))
    };
    assert_eq!(
        (status("1"), status("2"), status("3"), status("4")),
        (Some(404), Some(424), Some(200), Some(201))
    );
    assert_eq!(
        env.get("/v1.0/users/batch.user@contoso.com", &t)
            .await
            .status,
        200
    );

    let dup = env.send("POST", "/v1.0/$batch", &t, &json!({"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/users"}]})).await;
    assert_eq!(dup.status, 400, "ids are unique case-insensitively");
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    assert_eq!(
        env.send("POST", "/v1.0/$batch", &t, &json!({"requests": many}))
            .await
            .status,
        400
    );
}
