//! The joiner, mover and leaver playbooks shipped in `playbooks/`, end to end against the
//! sandbox: the final state of the sandbox (users, licenses, memberships, HR records, Google
//! fields) is what is asserted.

use serde_json::{json, Map, Value};

use crate::smtp::SmtpSink;
use crate::support_lifecycle::{shipped, Life, GOOGLE_USERS};
use crate::support_sandbox::{licenses, sku_id};

fn hire(id: &str, given: &str, family: &str, dept: &str, title: &str, location: &str) -> Value {
    json!({
        "id": id, "employee_id": id, "given_name": given, "family_name": family,
        "personal_email": format!("{}@example.org", given.to_lowercase()),
        "department": dept, "title": title, "location": location, "start_date": "2026-12-01",
        "status": "active",
    })
}

#[tokio::test]
async fn a_google_joiner_gets_an_account_license_groups_a_write_back_and_a_mail_to_the_manager() {
    let Some(sink) = SmtpSink::start(&[]).await else {
        return;
    };
    let life = Life::start(&[shipped("onboard-from-google")], Some(sink.port)).await;
    let poller = roster::triggers::google_poll::Poller::from_config(
        life.engine.clone(),
        &life.config,
        life.playbooks.clone(),
    )
    .expect("poller")
    .expect("configured");
    poller.poll_once().await.expect("baseline poll");
    // Adele Vance already has adele.vance@ in Entra: a new Google user of that name is
    // another person (another employee id) and gets the next free UPN.
    let t = life.sb.google_token().await;
    for (given, family, eid, ou, title) in [
        (
            "Zoë",
            "Ångström",
            "E7001",
            "/Engineering",
            "Site Reliability Engineer",
        ),
        ("Adele", "Vance", "E7002", "/Sales", "Account Manager"),
        ("Root", "Admin", "E7003", "/", "Admin"),
    ] {
        let body = json!({
            // The Google address differs from the UPN the playbook derives from the name.
            "primaryEmail": format!("{}{}@contoso.com", given[..1].to_lowercase(), eid.to_lowercase()),
            "name": { "givenName": given, "familyName": family },
            "password": "Sandbox-Passw0rd!",
            "orgUnitPath": ou,
            "externalIds": [{ "type": "organization", "value": eid }],
            "organizations": [{ "primary": true, "department": if ou == "/Sales" { "Sales" } else { "Engineering" }, "title": title, "location": "Berlin" }],
            "relations": [{ "type": "manager", "value": "ada.lovelace@contoso.com" }],
        });
        let r = life.sb.send("POST", GOOGLE_USERS, &t, &body).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let report = poller.poll_once().await.expect("poll");
    assert_eq!(
        report
            .events
            .iter()
            .filter(|e| *e == "person.joined")
            .count(),
        3
    );
    let runs = life.settle().await;
    assert_eq!(runs.len(), 2, "the root org unit is out of scope: {runs:?}");
    assert!(runs.iter().all(|(_, _, s)| s == "succeeded"), "{runs:?}");

    let zoe = life
        .user("zoe.angstrom@contoso.com")
        .expect("UPN with the diacritics folded");
    assert_eq!(zoe["usageLocation"], "DE");
    assert_eq!(licenses(&zoe), [sku_id("SPE_E5")]);
    let zoe_id = zoe["id"].as_str().unwrap_or_default();
    assert_eq!(
        life.groups_of(zoe_id),
        [
            "All Staff",
            "Dept Engineering",
            "Engineering On-Call",
            "Location Berlin"
        ]
    );
    let adele2 = life
        .user("adele.vance2@contoso.com")
        .expect("the next free UPN");
    assert_eq!(adele2["employeeId"], "E7002");
    assert_eq!(licenses(&adele2), [sku_id("SPE_E3")]);
    assert!(life
        .groups_of(adele2["id"].as_str().unwrap_or_default())
        .contains(&"Managers".to_string()));

    // The UPN is written back to the Google user.
    let g = life
        .sb
        .get(&format!("{GOOGLE_USERS}/ze7001@contoso.com"), &t)
        .await;
    let ids = g.body["externalIds"].to_string();
    assert!(ids.contains("zoe.angstrom@contoso.com"), "{}", g.text);

    // The manager got the first-sign-in details; the password is masked in the record.
    let mails = sink.wait_for(2).await;
    let to_zoe = mails
        .iter()
        .find(|m| m.raw.contains("zoe.angstrom@contoso.com"))
        .expect("mail about Zoë");
    assert_eq!(
        to_zoe.envelope["rcpt_tos"],
        json!(["ada.lovelace@contoso.com"])
    );
    let mut zoe_run = String::new();
    for (id, _, _) in &runs {
        if life.engine.store().run(id).await.expect("run").person["employee_id"] == "E7001" {
            zoe_run = id.clone();
        }
    }
    let zoe_run = &zoe_run;
    let steps = life.steps(zoe_run).await;
    let password = &steps["account"]["outputs"]["password"];
    assert!(!password.to_string().contains("Sandbox"), "{password}");
    assert!(
        !to_zoe.raw.contains("********"),
        "the mail carries the real password"
    );

    // The same person joining again is adopted, not duplicated.
    let before = life.state()["entra"]["users"]
        .as_array()
        .map_or(0, Vec::len);
    let person = life.engine.store().run(zoe_run).await.expect("run").person;
    let again = life.engine.start(&life.playbooks[0], person, None).await;
    assert!(again.is_ok());
    life.settle().await;
    let after = life.state()["entra"]["users"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(before, after, "no second account");
}

#[tokio::test]
async fn a_mover_swaps_rule_groups_and_license_and_keeps_hand_added_memberships() {
    let life = Life::start(&[shipped("onboard-from-hr-csv"), shipped("mover")], None).await;
    let ana = hire(
        "E10008",
        "Sofia",
        "Rossi",
        "Engineering",
        "Site Reliability Engineer",
        "Berlin",
    );
    life.observe("hr", vec![ana.clone()]).await;
    life.settle().await;
    let user = life.user("sofia.rossi@contoso.com").expect("onboarded");
    let uid = user["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(licenses(&user), [sku_id("SPE_E5")]);
    // Someone adds her to a group by hand.
    life.entra_add_member(&life.group_id("Location London"), &uid)
        .await;

    let mut moved = ana.clone();
    moved["department"] = json!("Finance");
    moved["title"] = json!("Finance Manager");
    let events = life.observe("hr", vec![moved]).await;
    assert_eq!(events, ["person.changed"]);
    let runs = life.settle().await;
    let (mover, status) = life.runs_of("mover").await.remove(0);
    assert_eq!(
        status,
        "succeeded",
        "{runs:?} {:#?}",
        life.steps(&mover).await
    );

    let user = life.user("sofia.rossi@contoso.com").expect("user");
    assert_eq!(user["department"], "Finance");
    assert_eq!(user["jobTitle"], "Finance Manager");
    assert_eq!(
        licenses(&user),
        [sku_id("SPE_E3")],
        "the department's license swapped"
    );
    assert_eq!(
        life.groups_of(&uid),
        [
            "All Staff",
            "Dept Finance",
            "Location Berlin",
            "Location London",
            "Managers"
        ],
        "rule groups follow; the hand-added Location London stays"
    );
}

#[tokio::test]
async fn a_leaver_is_stripped_then_deleted_and_a_return_in_the_window_restores_everything() {
    // The 30-day grace period shortened: 4 s for the one who does not come back is too short
    // to race, and the returner's wait ends by their return long before an hour.
    let quick = shipped("offboard").replace("duration: 30d", "duration: 4s");
    let mut slow = shipped("offboard").replace("duration: 30d", "duration: 1h");
    slow = slow.replace("name: offboard\n", "name: offboard-slow\n");
    let quick = quick.replace(
        "- person.left: { source: hr }",
        "- person.left: { source: hr-quick }",
    );
    let life = Life::start(&[shipped("onboard-from-hr-csv"), quick, slow], None).await;
    let stays = hire(
        "E10001",
        "José",
        "Müller-Lüdenscheidt",
        "Engineering",
        "Engineering Manager",
        "Berlin",
    );
    let goes = hire(
        "E10002",
        "Aisha",
        "Khan",
        "Engineering",
        "Software Engineer",
        "London",
    );
    life.observe("hr", vec![stays.clone()]).await;
    life.observe("hr-quick", vec![goes.clone()]).await;
    // Aisha's source (hr-quick) has no onboarding playbook: start it by hand.
    life.engine
        .start(&life.playbooks[0], goes.clone(), None)
        .await
        .expect("start");
    life.settle().await;
    let jose = life
        .user("jose.muller-ludenscheidt@contoso.com")
        .expect("José");
    let aisha = life.user("aisha.khan@contoso.com").expect("Aisha");
    let (jid, aid) = (
        jose["id"].as_str().unwrap_or_default().to_string(),
        aisha["id"].as_str().unwrap_or_default().to_string(),
    );
    let jose_groups = life.groups_of(&jid);
    assert_eq!(jose_groups.len(), 4, "{jose_groups:?}");

    // Both leave.
    let mut left = stays.clone();
    left["status"] = json!("terminated");
    assert_eq!(life.observe("hr", vec![left]).await, ["person.left"]);
    let mut left = goes.clone();
    left["status"] = json!("terminated");
    assert_eq!(life.observe("hr-quick", vec![left]).await, ["person.left"]);
    life.settle().await;
    let jose = life
        .user("jose.muller-ludenscheidt@contoso.com")
        .expect("José");
    assert_eq!(jose["accountEnabled"], false);
    assert!(licenses(&jose).is_empty());
    assert!(life.groups_of(&jid).is_empty());
    let waiting = life.runs_of("offboard-slow").await;
    assert_eq!(
        waiting[0].1, "waiting",
        "the grace period is a durable timer"
    );

    // José comes back within the window: the deletion is cancelled and all is restored.
    assert_eq!(
        life.observe("hr", vec![stays.clone()]).await,
        ["person.returned"]
    );
    life.settle().await;
    let run = &life.runs_of("offboard-slow").await[0];
    assert_eq!(run.1, "succeeded");
    let steps = life.steps(&run.0).await;
    assert_eq!(steps["grace"]["outputs"]["woken"], true);
    assert_eq!(
        steps["grace"]["outputs"]["woken_by"]["type"],
        "person.returned"
    );
    assert_eq!(steps["delete"]["status"], "skipped");
    let jose = life
        .user("jose.muller-ludenscheidt@contoso.com")
        .expect("not deleted");
    assert_eq!(jose["accountEnabled"], true);
    assert_eq!(licenses(&jose), [sku_id("SPE_E5")]);
    assert_eq!(life.groups_of(&jid), jose_groups);

    // Aisha does not come back: after the (shortened) grace period her account is deleted.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while life.user("aisha.khan@contoso.com").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not deleted after the grace period"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let run = &life.runs_of("offboard").await[0];
    life.settle().await;
    assert_eq!(
        life.engine
            .store()
            .run(&run.0)
            .await
            .expect("run")
            .status
            .as_str(),
        "succeeded"
    );
    assert!(life.state()["entra"]["users"]
        .to_string()
        .find(&aid)
        .is_none());
}

#[tokio::test]
async fn the_mirror_adds_and_removes_the_difference_and_a_mass_removal_waits_for_approval() {
    let life = Life::start(&[shipped("mirror-groups")], None).await;
    let target = life.group_id("Engineering (from Google)");
    // The Google group engineering@ holds Ada and, through the nested Platform group, Grace.
    let ada = life
        .entra_user("ada.lovelace@contoso.com", Some("E2001"))
        .await;
    let grace = life
        .entra_user("grace.hopper@contoso.com", Some("E2002"))
        .await;
    life.entra_add_member(&target, &ada).await;

    // First run: Grace is missing, nobody to remove: no approval needed.
    let pb = life.playbooks[0].clone();
    life.engine
        .start(&pb, json!({}), None)
        .await
        .expect("start");
    life.settle().await;
    let mut members =
        crate::support_sandbox::group_members(&life.sb.sandbox, "Engineering (from Google)");
    members.sort();
    let mut want = vec![ada.clone(), grace.clone()];
    want.sort();
    assert_eq!(members, want);

    // Someone adds Adele by hand in Entra: she is 1 of 3 members (33 % > 10 %) to remove.
    let adele = life
        .user("adele.vance@contoso.com")
        .and_then(|u| u["id"].as_str().map(String::from))
        .expect("Adele");
    life.entra_add_member(&target, &adele).await;
    let before = life.state()["entra"].clone();
    life.engine
        .start(&pb, json!({}), None)
        .await
        .expect("start");
    let runs = life.settle().await;
    let (run, status) = (&runs[1].0, &runs[1].2);
    assert_eq!(status, "approval", "parked by the guard");
    assert!(
        life.state()["entra"] == before,
        "nothing changed before the approval"
    );
    let steps = life.steps(run).await;
    let message = steps["guard"]["outputs"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("33%") && message.contains("adele.vance@contoso.com"),
        "{message}"
    );

    life.engine
        .approve(run, "it-admin", Some("Adele moved teams"), Map::new())
        .await
        .expect("approve");
    life.settle().await;
    assert_eq!(
        life.engine
            .store()
            .run(run)
            .await
            .expect("run")
            .status
            .as_str(),
        "succeeded"
    );
    let mut members =
        crate::support_sandbox::group_members(&life.sb.sandbox, "Engineering (from Google)");
    members.sort();
    assert_eq!(members, want, "Adele removed after the approval");
}

#[tokio::test]
async fn pre_hire_creates_the_account_disabled_before_the_start_and_enables_it_on_the_day() {
    let life = Life::start(&[shipped("pre-hire")], None).await;
    let start = (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let mut p = hire(
        "E60001",
        "Nia",
        "Obi",
        "Sales",
        "Account Executive",
        "London",
    );
    p["start_date"] = json!(start);
    life.observe("hr", vec![p]).await;
    // The timer (start − 3 d) is already due: fire it as the dates trigger does.
    let fired =
        roster::triggers::dates::fire_due(&life.engine, &life.playbooks, roster::clock::now_ms())
            .await
            .expect("fire");
    assert_eq!(fired, 1);
    let runs = life.settle().await;
    assert_eq!(runs[0].2, "waiting", "{runs:?}");
    let nia = life
        .user("nia.obi@contoso.com")
        .expect("created before the start");
    assert_eq!(nia["accountEnabled"], false);
    assert_eq!(licenses(&nia), [sku_id("SPE_E3")]);
    let steps = life.steps(&runs[0].0).await;
    assert_eq!(
        steps["start_day"]["outputs"]["until"],
        format!("{start}T00:00:00.000Z")
    );

    // The start date arrives (the durable timer's moment moved to now).
    let db = crate::support::Db::of(life.engine.store());
    let set_until = match &db {
        crate::support::Db::Sqlite(_) => {
            "UPDATE steps SET outputs = json_set(outputs, '$.until_ms', $1) \
             WHERE run_id = $2 AND step_id = 'start_day'"
        }
        crate::support::Db::Postgres(_) => {
            "UPDATE steps SET outputs = jsonb_set(outputs::jsonb, '{until_ms}', to_jsonb($1::bigint))::text \
             WHERE run_id = $2 AND step_id = 'start_day'"
        }
    };
    crate::support::on_db!(&db, |pool| {
        sqlx::query("UPDATE runs SET wake_at = $1 WHERE id = $2")
            .bind(roster::clock::now_ms())
            .bind(&runs[0].0)
            .execute(pool)
            .await
            .expect("advance");
        sqlx::query(set_until)
            .bind(roster::clock::now_ms())
            .bind(&runs[0].0)
            .execute(pool)
            .await
            .expect("advance");
    });
    life.engine.wake();
    life.settle().await;
    let nia = life.user("nia.obi@contoso.com").expect("user");
    assert_eq!(nia["accountEnabled"], true);
}
