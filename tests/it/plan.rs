//! `roster plan`: a dry run against the sandbox over real HTTP. The plan changes nothing there
//! (the state dump is the same before and after, and only GETs and token requests were
//! served), and the real run or import afterwards executes exactly the steps it listed, with
//! the targets it named. The read-only guard refuses writes before they leave the process.

use std::collections::BTreeMap;

use roster::connectors::args::ArgMap;
use roster::connectors::{read_only, Connections};
use roster::sandbox::{FaultConfig, Sandbox, SandboxSeed};
use serde_json::{json, Value};

use crate::support::{step, Reply, TestServer, Workspace};
use crate::support_sandbox::{self, group_members, user_by_upn};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `roster.yaml` with `entra`, `google` and `hr` connections to the sandbox and the example
/// import profiles (`examples/roster.yaml`).
fn config(ws: &Workspace, sb: &Sandbox) {
    let seed = SandboxSeed::default_seed();
    let app = &seed.entra.clients[0];
    std::fs::write(
        ws.path().join("entra.secret"),
        app.secret.as_deref().unwrap(),
    )
    .unwrap();
    std::fs::write(ws.path().join("hr.token"), &seed.hr.bearer_tokens[0]).unwrap();
    let example = std::fs::read_to_string(format!("{ROOT}/examples/roster.yaml")).unwrap();
    let imports = &example[example.find("\nimports:").expect("imports in the example")..];
    let url = sb.url();
    let yaml = format!(
        "connections:\n  entra:\n    tenant_id: {tenant}\n    client_id: {client}\n    \
         client_secret: {{ file: entra.secret }}\n    authority_url: {url}\n    graph_url: {url}\n  \
         google:\n    service_account_key: {{ file: {ROOT}/examples/sandbox/google-service-account.json }}\n    \
         admin: admin@contoso.com\n    token_url: {url}/token\n    base_url: {url}\n  \
         hr:\n    kind: http\n    base_url: {url}/hr\n    auth: {{ bearer: {{ file: hr.token }} }}\n{imports}",
        tenant = seed.entra.tenant_id,
        client = app.client_id,
    );
    std::fs::write(ws.path().join("roster.yaml"), yaml).unwrap();
}

/// The sandbox's data: its state without the request counts and the time of the dump.
fn data(sb: &Sandbox) -> Value {
    let mut state = sb.state();
    let m = state.as_object_mut().unwrap();
    m.remove("requests");
    m.remove("at");
    state
}

/// Requests served since `before` (a `requests` dump), by route, with how many.
fn served_since(before: &Value, sb: &Sandbox) -> BTreeMap<String, u64> {
    let total = |routes: &Value, route: &str| -> u64 {
        routes[route]
            .as_object()
            .map(|by_status| by_status.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    };
    let after = sb.state()["requests"].clone();
    after
        .as_object()
        .unwrap()
        .keys()
        .map(|route| (route.clone(), total(&after, route) - total(before, route)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Fails unless every route served is a read or a token request.
fn assert_only_reads(served: &BTreeMap<String, u64>) {
    assert!(!served.is_empty(), "the plan read nothing");
    for route in served.keys() {
        assert!(
            route.starts_with("GET ") || route.ends_with("/token"),
            "the plan sent {route}: {served:#?}"
        );
    }
}

/// `roster --json plan ARGS…`: the exit code and the plan.
async fn plan(ws: &Workspace, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json", "plan"];
    all.extend_from_slice(args);
    let out = ws.roster(&all).await;
    assert!(
        !out.stdout.is_empty(),
        "roster plan printed nothing: {out:#?}"
    );
    (out.code, out.json())
}

/// The steps of a person's plan that a run would execute, as (step, action).
fn executed(person: &Value) -> Vec<(String, String)> {
    person["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["effect"] != "skipped")
        .map(|s| {
            (
                s["step"].as_str().unwrap().into(),
                s["action"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn planned<'p>(person: &'p Value, id: &str) -> &'p Value {
    person["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {person:#}"))
}

fn employee(sb: &Sandbox, id: &str) -> Value {
    sb.state()["hr"]["employees"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no employee {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_changes_nothing_and_the_run_then_does_what_it_listed() {
    let sb = support_sandbox::start(FaultConfig::default()).await;
    let ws = Workspace::new();
    config(&ws, &sb);
    let (pb, jose) = (
        format!("{ROOT}/examples/onboard-entra.yaml"),
        format!("{ROOT}/examples/jose.json"),
    );
    let (before, requests) = (data(&sb), sb.state()["requests"].clone());

    let (code, p) = plan(&ws, &[&pb, "--person", &jose]).await;
    assert_eq!(code, 0, "{p:#}");
    assert_eq!(data(&sb), before, "the plan changed the sandbox");
    assert_only_reads(&served_since(&requests, &sb));
    assert!(
        !ws.db_path.exists(),
        "a plan for one person needs no database"
    );

    let jose_plan = &p["people"][0];
    assert_eq!(jose_plan["outcome"], "completes", "{jose_plan:#}");
    let upn = "jose.muller-ludenscheidt@contoso.com";
    let effects: Vec<(&str, &str)> = jose_plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["effect"].as_str().unwrap()))
        .collect();
    assert_eq!(
        effects,
        [
            ("check", "read"),
            ("account", "create"),
            ("license", "add"),
            ("groups", "add"),
            ("write_back", "change"),
        ]
    );
    assert_eq!(planned(jose_plan, "account")["target"], upn);
    assert_eq!(planned(jose_plan, "license")["detail"]["sku"], "SPE_E5");
    let groups = json!(["All Staff", "Dept Engineering", "Location Berlin"]);
    assert_eq!(planned(jose_plan, "groups")["detail"]["added"], groups);
    let changes = &planned(jose_plan, "write_back")["changes"];
    assert_eq!(
        changes[0],
        json!({ "field": "work_email", "from": null, "to": upn }),
        "{changes:#}"
    );
    assert_eq!(
        (
            p["summary"]["people"].as_u64(),
            p["summary"]["effects"]["create"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // The real run executes the same steps with the same targets.
    let out = ws.roster(&["--json", "run", &pb, "--person", &jose]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let shown = out.json();
    let ran: Vec<(String, String)> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "succeeded")
        .map(|s| {
            let id = s["step_id"].as_str().unwrap();
            (
                id.to_string(),
                planned(jose_plan, id)["action"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(ran, executed(jose_plan));
    assert_eq!(
        step(&shown, "account")["outputs"]["user_principal_name"],
        upn
    );
    assert_eq!(step(&shown, "license")["outputs"]["sku"], "SPE_E5");
    assert_eq!(step(&shown, "groups")["outputs"]["added"], groups);
    assert_eq!(employee(&sb, "E3001")["work_email"], upn);
    let id = user_by_upn(&sb, upn).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(group_members(&sb, "Location Berlin").contains(&id));

    // Planned again, everything is there already: nothing to create, add or change.
    let requests = sb.state()["requests"].clone();
    let before = data(&sb);
    let (code, again) = plan(&ws, &[&pb, "--person", &jose]).await;
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(data(&sb), before);
    assert_only_reads(&served_since(&requests, &sb));
    let effects: Vec<&str> = again["people"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["effect"].as_str().unwrap())
        .collect();
    assert_eq!(
        effects,
        ["read", "unchanged", "unchanged", "unchanged", "unchanged"]
    );
    let account = planned(&again["people"][0], "account");
    assert!(
        account["summary"].as_str().unwrap().starts_with(&format!(
            "adopt existing user {upn} ({id}), same employeeId E3001"
        )),
        "{account:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_the_same_employee_id_is_adopted_and_only_what_is_missing_is_added() {
    let sb = support_sandbox::start(FaultConfig::default()).await;
    let ws = Workspace::new();
    config(&ws, &sb);
    // Adele (E1001) exists with SPE_E5; the HR record now calls her Adele Vance-Smith.
    let adele = ws.write_person(
        "adele",
        &json!({
            "id": "E1001", "employee_id": "E1001", "given_name": "Adele",
            "family_name": "Vance-Smith", "department": "Engineering", "location": "London",
        }),
    );
    let pb = format!("{ROOT}/examples/onboard-entra.yaml");
    let adele = adele.display().to_string();
    let before = data(&sb);
    let (code, p) = plan(&ws, &[&pb, "--person", &adele]).await;
    assert_eq!(code, 0, "{p:#}");
    assert_eq!(data(&sb), before);
    let person = &p["people"][0];
    let account = planned(person, "account");
    assert_eq!(account["effect"], "unchanged", "{account:#}");
    assert_eq!(account["target"], "adele.vance@contoso.com");
    assert!(account["summary"]
        .as_str()
        .unwrap()
        .contains("same employeeId E1001"));
    let license = planned(person, "license");
    assert_eq!(
        (&license["effect"], &license["summary"]),
        (
            &json!("unchanged"),
            &json!("adele.vance@contoso.com already has SPE_E5")
        )
    );
    let groups = planned(person, "groups");
    let already_in =
        |g: &str| group_members(&sb, g).contains(&"87d349ed-44d7-43e1-9a83-5f2406dee5bd".into());
    let wanted = ["All Staff", "Dept Engineering", "Location London"];
    let (already, added): (Vec<&str>, Vec<&str>) = wanted.iter().partition(|g| already_in(g));
    assert!(
        !added.is_empty(),
        "the seed puts Adele in every group: pick another location"
    );
    assert_eq!(groups["detail"]["already"], json!(already), "{groups:#}");
    assert_eq!(groups["detail"]["added"], json!(added), "{groups:#}");

    let out = ws.roster(&["--json", "run", &pb, "--person", &adele]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let shown = out.json();
    let account = &step(&shown, "account")["outputs"];
    assert_eq!(
        (&account["id"], &account["created"]),
        (
            &json!("87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
            &json!(false)
        )
    );
    assert_eq!(step(&shown, "groups")["outputs"]["added"], json!(added));
    assert_eq!(step(&shown, "groups")["outputs"]["already"], json!(already));
}

/// The shipped HR onboarding playbook over the example CSV, read with the example `hr`
/// profile: the plan lists the rows the import rejects (row and column) and what it makes of
/// the others, changes nothing, and the import then starts the runs it listed, which execute
/// the steps it listed and create the accounts it named (the second Mei Chen included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_plan_lists_invalid_rows_and_the_import_then_does_what_it_listed() {
    let sb = support_sandbox::start(FaultConfig::default()).await;
    let ws = Workspace::new();
    config(&ws, &sb);
    let playbooks = ws.path().join("playbooks");
    std::fs::create_dir(&playbooks).unwrap();
    std::fs::copy(
        format!("{ROOT}/playbooks/onboard-from-hr-csv.yaml"),
        playbooks.join("onboard-from-hr-csv.yaml"),
    )
    .unwrap();
    let csv = format!("{ROOT}/examples/hr-new-hires.csv");
    let (before, requests) = (data(&sb), sb.state()["requests"].clone());

    let (code, p) = plan(
        &ws,
        &["onboard-from-hr-csv", "--csv", &csv, "--profile", "hr"],
    )
    .await;
    assert_eq!(code, 1, "invalid rows make the exit code 1");
    assert_eq!(data(&sb), before, "the plan changed the sandbox");
    assert_only_reads(&served_since(&requests, &sb));
    let invalid: Vec<(u64, Option<String>)> = p["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["errors"].as_array().unwrap().iter().map(|e| {
                (
                    r["row"].as_u64().unwrap(),
                    e["column"].as_str().map(String::from),
                )
            })
        })
        .collect();
    assert!(
        invalid.contains(&(6, Some("First Name".into()))),
        "J0hn is rejected: {invalid:?}"
    );
    let people = p["people"].as_array().unwrap();
    let jose = people.iter().find(|x| x["id"] == "E10001").unwrap();
    assert_eq!(
        (jose["row"].as_u64(), &jose["event"]),
        (Some(2), &json!("person.joined"))
    );
    assert_eq!(
        planned(jose, "account")["target"],
        "jose.muller-ludenscheidt@contoso.com"
    );
    let meis: Vec<&Value> = people.iter().filter(|x| x["name"] == "Mei Chen").collect();
    let mei_accounts: Vec<&Value> = meis
        .iter()
        .map(|m| &planned(m, "account")["target"])
        .collect();
    assert_eq!(
        mei_accounts,
        [
            &json!("mei.chen@contoso.com"),
            &json!("mei.chen2@contoso.com")
        ]
    );

    // The import reports the same rows: rejected with the same columns, the others with the
    // outcome the plan gave them, and as many runs started as the plan planned.
    let out = ws
        .roster(&["--json", "import", &csv, "--profile", "hr"])
        .await;
    let report = out.json();
    let rejected: Vec<(u64, Option<String>)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "invalid")
        .flat_map(|r| {
            r["errors"].as_array().unwrap().iter().map(|e| {
                (
                    r["row"].as_u64().unwrap(),
                    e["column"].as_str().map(String::from),
                )
            })
        })
        .collect();
    assert_eq!(invalid, rejected);
    let outcomes = |rows: &[Value], key: &str| -> Vec<(u64, String)> {
        rows.iter()
            .filter(|r| r[key] != "invalid")
            .map(|r| {
                (
                    r["row"].as_u64().unwrap(),
                    r[key].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        outcomes(people, "observation"),
        outcomes(report["rows"].as_array().unwrap(), "outcome")
    );
    let started = people
        .iter()
        .filter(|x| x["outcome"] != "not_started")
        .count();
    assert_eq!(
        report["counts"]["runs"].as_u64(),
        Some(started as u64),
        "{report:#}"
    );

    // The runs execute the steps the plan listed, and create the accounts it named.
    ws.work_until_idle(std::time::Duration::from_secs(60)).await;
    let db = ws.db().await;
    let mut ran = db
        .column(
            "SELECT r.subject || ' ' || s.step_id || ' ' || s.status \
             FROM runs r JOIN steps s ON s.run_id = r.id",
        )
        .await;
    let mut created = db
        .column(
            "SELECT json_extract(outputs, '$.user_principal_name') FROM steps \
             WHERE step_id = 'account' AND json_extract(outputs, '$.created')",
        )
        .await;
    let (mut expected, mut accounts) = (Vec::new(), Vec::new());
    for person in people.iter().filter(|x| x["outcome"] != "not_started") {
        for s in person["steps"].as_array().unwrap() {
            let status = match s["effect"].as_str().unwrap() {
                "review" => "review",
                "fail" => "failed",
                "skipped" => "skipped",
                _ => "succeeded",
            };
            let (id, step) = (person["id"].as_str().unwrap(), s["step"].as_str().unwrap());
            expected.push(format!("{id} {step} {status}"));
            if s["effect"] == "create" {
                accounts.push(s["target"].as_str().unwrap().to_string());
            }
        }
    }
    for list in [&mut ran, &mut expected, &mut created, &mut accounts] {
        list.sort();
    }
    assert_eq!(ran, expected);
    // Which of two same-named people runs first is the workers' business; the names are not.
    assert_eq!(created, accounts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_flag_plans_against_an_in_process_sandbox() {
    let ws = Workspace::new();
    let out = ws
        .roster(&[
            "plan",
            &format!("{ROOT}/examples/onboard-entra.yaml"),
            "--person",
            &format!("{ROOT}/examples/jose.json"),
            "--sandbox",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    for line in [
        "  + account     entra.create_user     create user jose.muller-ludenscheidt@contoso.com (José Müller-Lüdenscheidt)",
        "  + license     entra.assign_license  assign SPE_E5 to the new user jose.muller-ludenscheidt@contoso.com",
        "  ~ write_back  hr.update_employee    update employee E3001",
        "work_email: (none) → jose.muller-ludenscheidt@contoso.com",
        "nothing was changed",
        "sandbox: unchanged",
    ] {
        assert!(out.stdout.contains(line), "no {line:?} in:\n{}", out.stdout);
    }
}

/// Whatever a preview might call by mistake, the guard refuses every write before it is sent:
/// the reads of `entra.create_user` go out, its POST does not; nor does HR's PATCH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_guard_refuses_writes_before_they_are_sent() {
    let sb = support_sandbox::start(FaultConfig::default()).await;
    let ws = Workspace::new();
    config(&ws, &sb);
    let text = std::fs::read_to_string(ws.path().join("roster.yaml")).unwrap();
    let config = roster::config::Config::from_parts(
        "roster.yaml",
        Some(&text),
        &Vec::new(),
        ws.path().into(),
    )
    .unwrap();
    let connections = Connections::from_config(&config, &reqwest::Client::new()).unwrap();
    let args = |v: Value| ArgMap(v.as_object().unwrap().clone());
    let (before, requests) = (data(&sb), sb.state()["requests"].clone());

    let create = args(
        json!({ "user_principal_name": "new.person@contoso.com", "display_name": "New Person" }),
    );
    let entra = connections.entra("entra").unwrap();
    let refused = read_only::scope(entra.execute("entra.create_user", &create))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("refused to send POST") && refused.contains("/v1.0/users"),
        "{refused}"
    );
    let patch = args(json!({ "employee": "E1001", "set": { "work_email": "x@contoso.com" } }));
    let hr = connections.http("hr").unwrap();
    let refused = read_only::scope(hr.execute("hr.update_employee", &patch))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("refused to send PATCH"), "{refused}");

    assert_eq!(data(&sb), before);
    let served = served_since(&requests, &sb);
    assert_only_reads(&served);
    assert!(
        served.contains_key("GET /v1.0/users/{user-id}"),
        "{served:#?}"
    );
    // Outside the guard the same write goes through.
    entra.execute("entra.create_user", &create).await.unwrap();
    assert!(user_by_upn(&sb, "new.person@contoso.com").is_some());
}

/// Control steps are planned as a run would take them: pure actions run, a false `if:` is
/// skipped, a wait and an approval are reported and passed, `http.request` sends its GET but
/// not its POST, a mail is described but not sent (nothing listens at the relay), and a `fail`
/// leads to the `on_failure` steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_steps_are_evaluated_and_only_reads_are_sent() {
    let server = TestServer::start(|h| match h.method.as_str() {
        "GET" => Reply::ok().json(json!({ "manager": "grace@contoso.com" })),
        _ => Reply::status(500),
    })
    .await;
    let ws = Workspace::new();
    std::fs::write(
        ws.path().join("roster.yaml"),
        "connections:\n  smtp:\n    host: 127.0.0.1\n    port: 9\n    security: none\n    \
         from: roster@contoso.com\n",
    )
    .unwrap();
    let url = &server.url;
    let yaml = format!(
        r#"
name: controls
on: [ {{ manual: {{}} }} ]
vars:
  upn: '"${{{{ email_local(person.given_name, person.family_name) }}}}@contoso.com"'
steps:
  - id: lookup
    uses: http.request
    with: {{ method: GET, url: "{url}/people/${{{{ person.id }}}}" }}
  - id: names
    uses: script
    with:
      code: '#{{ manager: steps.lookup.body.manager, upper: person.given_name.to_upper() }}'
  - id: never
    uses: http.request
    if: person.department == "Nowhere"
    with: {{ method: DELETE, url: "{url}/never" }}
  - id: notify
    uses: http.request
    with: {{ method: POST, url: "{url}/hook?token=s3cret", json: {{ to: "${{{{ steps.names.manager }}}}" }} }}
  - id: cool_off
    uses: wait
    with: {{ duration: 2d }}
  - id: sign_off
    uses: approval
    with: {{ message: "Onboard ${{{{ steps.names.upper }}}}?" }}
  - id: tell
    uses: email.send
    if: steps.sign_off.approved
    with: {{ to: "${{{{ steps.names.manager }}}}", subject: "Welcome ${{{{ person.given_name }}}}", body: "…" }}
  - id: stop
    uses: fail
    with: {{ message: "stopped for ${{{{ person.id }}}}" }}
  - id: after
    uses: script
    with: {{ code: '#{{ never: true }}' }}
on_failure:
  - id: report
    uses: http.request
    with: {{ method: POST, url: "{url}/report", json: {{ error: "${{{{ error.message }}}}" }} }}
"#
    );
    let pb = ws.write_playbook("controls", &yaml);
    let who = ws.write_person("ada", &crate::support::person("E7"));
    let (code, p) = plan(
        &ws,
        &[pb.to_str().unwrap(), "--person", who.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1, "a run that would fail: {p:#}");
    let person = &p["people"][0];
    assert_eq!(person["outcome"], "fails");
    let lines: Vec<(&str, &str, &str)> = person["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap(),
                s["effect"].as_str().unwrap(),
                s["summary"].as_str().unwrap(),
            )
        })
        .collect();
    let by_id = |id: &str| lines.iter().find(|l| l.0 == id).copied().unwrap();
    assert_eq!(by_id("lookup").1, "read");
    assert_eq!(by_id("names").2, "computes manager, upper");
    assert_eq!(by_id("never").1, "skipped");
    assert_eq!(
        by_id("notify"),
        (
            "notify",
            "call",
            format!("would send POST {url}/hook").as_str()
        )
    );
    assert_eq!(by_id("cool_off").1, "wait");
    assert_eq!(
        by_id("sign_off"),
        (
            "sign_off",
            "approval",
            "would ask for approval: Onboard ADA?"
        )
    );
    assert_eq!(
        by_id("tell"),
        (
            "tell",
            "send",
            "send mail to grace@contoso.com through 127.0.0.1:9: Welcome Ada"
        )
    );
    assert_eq!(
        by_id("stop"),
        ("stop", "fail", "would fail: stopped for E7")
    );
    assert!(lines.iter().all(|l| l.0 != "after"), "{lines:?}");
    let report = planned(person, "report");
    assert_eq!(
        (&report["effect"], &report["on_failure"]),
        (&json!("call"), &json!(true))
    );
    // Only the GET reached the server.
    let hits: Vec<String> = server
        .hits()
        .iter()
        .map(|h| format!("{} {}", h.method, h.path))
        .collect();
    assert_eq!(hits, ["GET /people/E7"]);
}
