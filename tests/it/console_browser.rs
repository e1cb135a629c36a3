//! The web console in a real browser: headless Chromium against `roster serve` on SQLite and
//! the sandbox, with the shipped playbooks `onboard-from-hr-csv` and `mirror-groups` and the
//! example config and HR file. One scenario, one browser session: sign in, a CSV dry run and
//! its apply, a run's timeline, a correction in the review queue that lets its run complete, a
//! mass-change guard approved, a form without its CSRF token refused, a page without a session
//! sent to sign-in. Screenshots of the main pages go to `target/screenshots/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use roster::sandbox::{FaultConfig, Sandbox, SandboxOptions, SandboxSeed};
use serde_json::{json, Value};

use crate::support::{eventually, Workspace};
use crate::support_browser::{self, Browser};
use crate::support_serve::{create_token, write_playbook, Serve};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The sandbox with the default seed, except that the Entra side of the mirrored Google group
/// holds a member the Google group does not: mirroring would remove all of its members.
async fn sandbox() -> Sandbox {
    let mut seed = SandboxSeed::default_seed();
    let mirror = seed
        .entra
        .groups
        .iter_mut()
        .find(|g| g.display_name == "Engineering (from Google)")
        .expect("the mirrored group in the seed");
    mirror.members = vec!["lee.gu@contoso.com".into()];
    Sandbox::start(SandboxOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        seed,
        faults: FaultConfig::default(),
    })
    .await
    .expect("start the sandbox")
}

/// `examples/roster.yaml` pointed at this test's sandbox: its address, the sandbox's
/// credentials in files, and no rate limits (the test is not about throttling).
fn example_config(ws: &Workspace, sandbox: &Sandbox) {
    let seed = SandboxSeed::default_seed();
    std::fs::write(
        ws.path().join("entra.secret"),
        seed.entra.clients[0].secret.clone().unwrap_or_default(),
    )
    .unwrap();
    std::fs::write(ws.path().join("hr.token"), &seed.hr.bearer_tokens[0]).unwrap();
    let url = sandbox.url();
    let limits = "    limits: { requests_per_second: 2000, concurrency: 64 }\n";
    let mut text = std::fs::read_to_string(examples().join("roster.yaml")).unwrap();
    let edits = [
        ("http://127.0.0.1:8025".to_string(), url.clone()),
        (
            "{ env: SANDBOX_ENTRA_SECRET }".into(),
            "{ file: entra.secret }".into(),
        ),
        (
            "{ env: SANDBOX_HR_TOKEN }".into(),
            "{ file: hr.token }".into(),
        ),
        (
            "{ file: sandbox/".into(),
            format!("{{ file: {}/sandbox/", examples().display()),
        ),
        (
            format!("    graph_url: {url}\n"),
            format!("    graph_url: {url}\n{limits}"),
        ),
        (
            "    customer_id: my_customer\n".into(),
            format!("    customer_id: my_customer\n    token_url: {url}/token\n{limits}"),
        ),
        (
            "    headers: { X-Client: roster }\n".into(),
            format!("    headers: {{ X-Client: roster }}\n{limits}"),
        ),
    ];
    for (from, to) in edits {
        assert!(text.contains(&from), "examples/roster.yaml has no {from:?}");
        text = text.replace(&from, &to);
    }
    std::fs::write(ws.path().join("roster.yaml"), text).unwrap();
}

/// A shipped playbook; `mirror-groups` without its schedule, so the test decides when it runs.
fn shipped(ws: &Workspace, name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("playbooks/{name}.yaml"));
    let text = std::fs::read_to_string(path).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("- schedule:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write_playbook(ws, name, &text);
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_imports_reviews_and_approves_in_the_browser() {
    if !support_browser::available() {
        return;
    }
    let sandbox = sandbox().await;
    let ws = Workspace::new();
    example_config(&ws, &sandbox);
    shipped(&ws, "onboard-from-hr-csv");
    shipped(&ws, "mirror-groups");
    write_playbook(
        &ws,
        "broken",
        "name: broken\non: [ { manual: {} } ]\nsteps:\n  - id: x\n    uses: nope\n",
    );
    let token = create_token(&ws, "ops").await;
    let (serve, browser) = tokio::join!(Serve::start(&ws, &[]), Browser::start());
    let serve = serve.with_token(&token);
    let url = |path: &str| format!("{}{path}", serve.url);

    // Without a session every page sends the browser to sign in, and back afterwards.
    browser.goto(&url("/runs?status=review")).await;
    assert!(
        browser
            .url()
            .await
            .contains("/sign-in?next=%2Fruns%3Fstatus%3Dreview"),
        "{}",
        browser.url().await
    );
    browser.wait_for_text("Sign in to Roster", WAIT).await;
    browser.screenshot("sign-in").await;
    browser.type_into("#secret", "rst_000000000000_wrong").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("not valid", WAIT).await;
    browser.type_into("#secret", &token).await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("Signed in as token:ops", WAIT).await;
    assert!(browser.url().await.ends_with("/runs?status=review"));
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "roster_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:#?}"));
    assert_eq!(session["httpOnly"], true, "{session:#}");
    assert_eq!(session["sameSite"], "Strict", "{session:#}");
    assert_eq!(session["secure"], false, "plain HTTP: {session:#}");

    // A form whose CSRF token was taken out is refused, and the session lives on.
    browser
        .script("document.querySelector('form.who input[name=csrf]').remove();")
        .await;
    browser.click("form.who button").await;
    browser
        .wait_for_text("did not carry this session's security token", WAIT)
        .await;
    browser.goto(&url("/playbooks")).await;
    let text = browser
        .wait_for_text("Files that failed to load", WAIT)
        .await;
    assert!(text.contains("broken.yaml:5"), "{text}");
    assert!(text.contains("onboard-from-hr-csv"), "{text}");
    assert!(text.contains("person.joined"), "{text}");
    browser.screenshot("playbooks").await;

    // The example HR export. With the strict profile `hr` the bad rows are errors of the
    // import, by row and column; nothing changes in a dry run.
    let csv = examples().join("hr-new-hires.csv");
    browser.click("nav a[href='/imports']").await;
    browser.click("#profile option[value='hr']").await;
    browser.choose_file("#file", &csv).await;
    browser.click("form.upload button[type=submit]").await;
    let text = browser
        .wait_for_text("Dry run of hr-new-hires.csv", WAIT)
        .await;
    assert!(text.contains("Rows with errors"), "{text}");
    assert!(
        text.contains("21 E10020 Start Date '13/19/2027' is not a date"),
        "the bad date, by row and column:\n{text}"
    );
    assert!(text.contains("The plan per person"), "{text}");
    browser.screenshot("import-dry-run").await;
    let (_, runs) = serve.get("/api/v1/runs").await;
    assert_eq!(runs["total"], 0, "a dry run starts nothing: {runs:#}");

    // With `new-hires` the playbook judges the rows: every row's person joins, and the bad
    // ones will wait in the review queue. Checked, then applied.
    browser.click("a[href='/imports']").await;
    browser.click("#profile option[value='new-hires']").await;
    browser.choose_file("#file", &csv).await;
    browser.click("form.upload button[type=submit]").await;
    let text = browser
        .wait_for_text("runs that would start 49", WAIT)
        .await;
    assert!(text.contains("with errors 0"), "{text}");
    browser.click("form.apply button[type=submit]").await;
    browser.find(".summary .status-completed").await;
    let text = browser.text().await;
    assert!(text.contains("runs started 49"), "{text}");
    assert!(browser.url().await.contains("/imports/"));
    browser.screenshot("import-applied").await;

    // The joiners are provisioned in the sandbox; the rows that fail the playbook's checks
    // wait for review.
    // Settled when all 49 runs have come to rest: reads of one status after another are not
    // one snapshot (a retry moves a run from waiting back to queued between two reads), but
    // runs never leave these statuses on their own.
    let settled = eventually(WAIT, "the joiners' runs to settle", || async {
        let mut at_rest = 0;
        let mut counts = Vec::new();
        for status in [
            "succeeded",
            "review",
            "failed",
            "cancelled",
            "rejected",
            "approval",
        ] {
            let (_, page) = serve.get(&format!("/api/v1/runs?status={status}")).await;
            let n = page["total"].as_i64().unwrap_or(0);
            at_rest += n;
            counts.push(n);
        }
        (at_rest == 49).then(|| (Some(counts[0]), Some(counts[1])))
    })
    .await;
    let (Some(succeeded), Some(review)) = settled else {
        panic!("no counts: {settled:?}")
    };
    // Five of the 49 rows are bad (a digit in a name, no department, an unknown location, a
    // malformed date, no last name); the other 44 are provisioned.
    if (succeeded, review) != (44, 5) {
        // Say which runs did not succeed and why, step by step.
        let (_, all) = serve.get("/api/v1/runs?limit=200").await;
        let mut odd = Vec::new();
        for r in all["runs"].as_array().into_iter().flatten() {
            if r["status"] != "succeeded" && r["status"] != "review" {
                let (_, run) = serve
                    .get(&format!("/api/v1/runs/{}", r["id"].as_str().unwrap_or("")))
                    .await;
                odd.push(run);
            }
        }
        panic!(
            "{succeeded} succeeded, {review} in review; the others: {:#}",
            Value::Array(odd)
        );
    }
    browser.goto(&url("/runs")).await;
    let text = browser
        .wait_for_text(&format!("succeeded {succeeded}"), WAIT)
        .await;
    assert!(text.contains(&format!("review {review}")), "{text}");
    browser.screenshot("runs").await;

    // A run's timeline: the trigger, the person, each step and every call to the sandbox.
    browser.goto(&url("/runs?status=succeeded")).await;
    browser.click("table.runs a.id").await;
    let text = browser
        .wait_for_text("External calls of account", WAIT)
        .await;
    for expected in [
        "person.joined",
        "hr",
        "check",
        "address",
        "license",
        "groups",
        "POST",
        "/v1.0/users",
        "201",
    ] {
        assert!(
            text.contains(expected),
            "no '{expected}' in the timeline:\n{text}"
        );
    }
    browser
        .script("document.getElementById('steps-h').scrollIntoView();")
        .await;
    browser.screenshot("run-timeline").await;

    // The review queue: every failing field with its reason; a correction resumes the run,
    // whose page refreshes itself until it has succeeded.
    browser.click("nav a[href='/review']").await;
    let text = browser.wait_for_text("Review queue", WAIT).await;
    for expected in [
        "J0hn",
        "letters, spaces, apostrophes and hyphens only",
        "Atlantis",
        "13/19/2027",
        "department",
    ] {
        assert!(
            text.contains(expected),
            "no '{expected}' in the queue:\n{text}"
        );
    }
    browser.screenshot("review").await;
    browser
        .type_into("input[name='set.given_name']", "John")
        .await;
    browser
        .click("form.corrections:has(input[name='set.given_name']) button[type=submit]")
        .await;
    browser.wait_for_text("refreshes itself", WAIT).await;
    let corrected = browser.url().await;
    eventually(
        WAIT,
        "the corrected run's page to show it succeeded",
        || async {
            let done = !browser
                .find_all(".summary .status-succeeded")
                .await
                .is_empty();
            done.then_some(())
        },
    )
    .await;
    assert_eq!(browser.url().await, corrected, "refreshed in place");
    let text = browser.text().await;
    assert!(text.contains("john.smith"), "{text}");

    // The mass-change guard asks for approval, shows what would change, and is approved.
    let (code, started) = serve
        .post(
            "/api/v1/runs",
            &json!({ "playbook": "mirror-groups", "person": {} }),
        )
        .await;
    assert_eq!(code, 201, "{started:#}");
    let run = started["run"]["id"].as_str().unwrap().to_string();
    serve.wait_status(&run, "approval").await;
    browser.click("nav a[href='/approvals']").await;
    let text = browser.wait_for_text("Mirroring would remove", WAIT).await;
    assert!(text.contains("lee.gu@contoso.com"), "{text}");
    browser.screenshot("approvals").await;
    browser
        .click(&format!("form[action='/runs/{run}/approve'] button"))
        .await;
    let approved = serve.wait_status(&run, "succeeded").await;
    let guard = approved["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "guard"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(guard["outputs"]["by"], "token:ops", "{guard:#}");

    // Signing out ends the session.
    browser.click("form.who button").await;
    browser.wait_for_text("Sign in to Roster", WAIT).await;
    browser.goto(&url("/review")).await;
    assert!(
        browser.url().await.contains("/sign-in"),
        "{}",
        browser.url().await
    );
    browser.close().await;
}
