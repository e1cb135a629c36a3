//! `playbooks/onboard-from-hr-csv.yaml` end to end: the example HR CSV imported with the
//! `new-hires` profile into an engine connected to the sandbox.

use std::collections::BTreeSet;
use std::sync::Arc;

use roster::imports::{self, ImportDeps, Upload};
use serde_json::{Map, Value};

use crate::support_lifecycle::{shipped, Life};

const CSV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hr-new-hires.csv");

pub async fn import(life: &Life, dry_run: bool) -> imports::Report {
    let deps = ImportDeps {
        engine: life.engine.clone(),
        config: life.config.clone(),
        playbooks: Arc::clone(&life.playbooks),
    };
    let upload = Upload {
        profile: "new-hires".into(),
        file_name: Some("hr-new-hires.csv".into()),
        dry_run,
    };
    let bytes = std::fs::read(CSV).expect("csv");
    imports::import(&deps, &upload, &bytes, &|_| {})
        .await
        .expect("import")
}

/// Employee id → UPN of the Entra users with employee ids from the CSV.
fn new_hires(life: &Life) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = life.state()["entra"]["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| {
            u["employeeId"]
                .as_str()
                .is_some_and(|e| e.len() == 6 && e.starts_with("E100"))
        })
        .map(|u| {
            (
                u["employeeId"].as_str().unwrap_or_default().to_string(),
                u["userPrincipalName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_hr_csv_onboards_the_valid_rows_and_parks_the_bad_ones_for_review() {
    let life = Life::start(&[shipped("onboard-from-hr-csv")], None).await;
    let before = life.state();
    let t = std::time::Instant::now();
    import(&life, false).await;
    let runs = life.settle().await;
    eprintln!("settled in {:?}", t.elapsed());
    let statuses = life.statuses().await;
    for (id, _, s) in &runs {
        if s == "failed" {
            let r = life.engine.store().run(id).await.expect("run");
            eprintln!("FAILED {:?} {:?}", r.error, r.person);
        }
    }
    assert_eq!(statuses.get("succeeded"), Some(&44), "{statuses:?}");
    assert_eq!(statuses.get("review"), Some(&5), "{statuses:?}");

    // Every valid hire has exactly one account: no duplicates, no account for a bad row.
    let hires = new_hires(&life);
    assert_eq!(hires.len(), 44, "{hires:?}");
    let ids: BTreeSet<&str> = hires.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(ids.len(), 44);
    for bad in ["E10005", "E10010", "E10015", "E10020", "E10041"] {
        assert!(
            !ids.contains(bad),
            "{bad} was provisioned despite failing validation"
        );
        assert!(life.hr_employee(bad).get("work_email").is_none());
    }
    let upn = |e: &str| {
        hires
            .iter()
            .find(|(id, _)| id == e)
            .map(|(_, u)| u.clone())
            .unwrap_or_default()
    };
    // Diacritics folded; an address taken in Google (ada.lovelace@ is a Workspace user) is
    // skipped although Entra has no such user; two people with one name get two addresses.
    assert_eq!(upn("E10001"), "jose.muller-ludenscheidt@contoso.com");
    assert_eq!(upn("E10031"), "ada.lovelace2@contoso.com");
    let chens: BTreeSet<String> = [upn("E10004"), upn("E10032")].into();
    assert_eq!(
        chens,
        BTreeSet::from([
            "mei.chen@contoso.com".to_string(),
            "mei.chen2@contoso.com".to_string()
        ])
    );

    // License by department, usage location by office, groups by department, office and title.
    let jose = life
        .user("jose.muller-ludenscheidt@contoso.com")
        .expect("José");
    assert_eq!(jose["usageLocation"], "DE");
    assert_eq!(
        crate::support_sandbox::licenses(&jose),
        [crate::support_sandbox::sku_id("SPE_E5")]
    );
    let jose_id = jose["id"].as_str().unwrap_or_default();
    assert_eq!(
        life.groups_of(jose_id),
        [
            "All Staff",
            "Dept Engineering",
            "Location Berlin",
            "Managers"
        ]
    );
    let mei = life.user(&upn("E10004")).expect("Mei");
    assert_eq!(
        crate::support_sandbox::licenses(&mei),
        [crate::support_sandbox::sku_id("SPE_E3")]
    );
    assert_eq!(mei["usageLocation"], "US");

    // The corporate address is written back to the HR system.
    let hr = life.hr_employee("E10001");
    assert_eq!(hr["work_email"], "jose.muller-ludenscheidt@contoso.com");
    assert_eq!(hr["status"], "provisioned");
    assert_eq!(
        life.hr_employee("E10031")["work_email"],
        "ada.lovelace2@contoso.com"
    );

    // Each parked run says why; nothing else changed in the directory for them.
    let mut reasons = Vec::new();
    for (id, _, status) in &runs {
        if status != "review" {
            continue;
        }
        let steps = life.steps(id).await;
        let errors = &steps["check"]["outputs"]["errors"];
        let run = life.engine.store().run(id).await.expect("run");
        let who = run.person["employee_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let fields: Vec<String> = errors
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["field"].as_str().unwrap_or(""),
                    e["reason"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert!(
            !steps.contains_key("account"),
            "{who}: nothing after the check ran"
        );
        reasons.push((who, fields, id.clone()));
    }
    reasons.sort();
    let summary: Vec<(&str, Vec<&str>)> = reasons
        .iter()
        .map(|(w, f, _)| (w.as_str(), f.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "E10005",
                vec!["given_name: letters, spaces, apostrophes and hyphens only"]
            ),
            ("E10010", vec!["department: is required"]),
            (
                "E10015",
                vec!["location: 'Atlantis' is not one of: Berlin, London, New York, San Francisco"]
            ),
            (
                "E10020",
                vec!["start_date: '13/19/2027' is not a date in the format %Y-%m-%d"]
            ),
            ("E10041", vec!["family_name: is required"]),
        ]
    );
    let users_before = before["entra"]["users"].as_array().map_or(0, Vec::len);
    let users_after = life.state()["entra"]["users"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(users_after - users_before, 44);

    // A reviewer corrects the misspelled name: the run validates again and completes.
    let j0hn = &reasons[0].2;
    let mut fix = Map::new();
    fix.insert("given_name".into(), Value::String("John".into()));
    life.engine
        .approve(j0hn, "reviewer", Some("typo in the HR system"), fix)
        .await
        .expect("approve");
    life.settle().await;
    assert_eq!(
        life.engine
            .store()
            .run(j0hn)
            .await
            .expect("run")
            .status
            .as_str(),
        "succeeded"
    );
    assert!(life.user("john.smith@contoso.com").is_some());
    assert_eq!(
        life.hr_employee("E10005")["work_email"],
        "john.smith@contoso.com"
    );
}
