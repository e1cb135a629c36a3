//! The web console in a real browser: headless Chromium against `roster serve` on SQLite and
//! the sandbox. One scenario, one browser session: sign in, a CSV dry run and its apply, a
//! run's timeline, a correction in the review queue that lets its run complete, a mass-change
//! guard approved, a form without its CSRF token refused, a page without a session sent to
//! sign-in. Screenshots of the main pages go to `target/screenshots/`.

use std::path::Path;
use std::time::Duration;

use roster::sandbox::FaultConfig;
use serde_json::{json, Value};

use crate::support::{eventually, Workspace};
use crate::support_browser::{self, Browser};
use crate::support_sandbox::{self, Credential};
use crate::support_serve::{create_token, write_playbook, Serve};

/// A lenient profile for the example file: the checks are the playbook's, so bad rows become
/// runs parked in the review queue (only an unreadable date is an error of the import).
const IMPORTS: &str = r#"
imports:
  hr:
    source: hr
    key: Employee ID
    columns:
      Employee ID: { field: employee_id, required: true }
      First Name: { field: given_name, required: true }
      Last Name: { field: family_name, required: true }
      Personal Email: { field: personal_email, case: lower }
      Department: { field: department }
      Job Title: { field: title }
      Location: { field: location, map: { NYC: New York, SF: San Francisco } }
      Start Date: { field: start_date, date_formats: ["%m/%d/%Y", "%Y-%m-%d"] }
      Status: { field: status }
    status: { active: [Active, Hired, Pre-hire], terminated: [Terminated, Withdrawn] }
"#;

/// Onboarding of the HR file's joiners: validation (bad rows to review), then an Entra
/// account and its group in the sandbox.
const ONBOARD: &str = r#"
name: onboard-from-hr-csv
on: [ { person.joined: { source: hr } } ]
concurrency: person.id
vars:
  local_part: email_local(person.given_name, person.family_name)
steps:
  - id: check
    uses: validate
    with:
      rules:
        - { field: given_name, required: true, pattern: "[\\p{L}' -]+", message: "letters, spaces, apostrophes and hyphens only" }
        - { field: department, required: true, one_of: [Engineering, Finance, Sales, Marketing, People] }
        - { field: location, required: true, one_of: [Berlin, London, New York, San Francisco] }
      on_invalid: review
  - id: account
    uses: entra.create_user
    with:
      user_principal_name: "${{ vars.local_part }}@contoso.com"
      display_name: "${{ person.given_name }} ${{ person.family_name }}"
      employee_id: "${{ person.employee_id }}"
      department: "${{ person.department }}"
      on_conflict: next_free
  - id: groups
    uses: entra.add_to_groups
    with: { user: "${{ steps.account.id }}", groups: '${{ ["All Staff"] }}' }
"#;

/// A group mirror whose mass-change guard (an `approval` when too large a share of a group
/// would be removed) parks the run.
const MIRROR: &str = r#"
name: mirror-groups
on: [ { manual: {} } ]
concurrency: '"mirror-groups"'
vars:
  max_removal_share: "0.10"
steps:
  - id: diff
    uses: script
    with:
      code: '#{ remove: #{ "Dept Sales": ["diego@contoso.com", "megan@contoso.com"] }, worst_share: 0.4 }'
  - id: guard
    uses: approval
    if: steps.diff.worst_share > vars.max_removal_share
    with:
      message: "Mirroring would remove 40% of a group's members (more than 10%). Remove: ${{ to_json(steps.diff.remove) }}."
      timeout: 7d
  - id: apply
    uses: script
    with: { code: '#{ removed: 2 }' }
"#;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_imports_reviews_and_approves_in_the_browser() {
    if !support_browser::available() {
        return;
    }
    let sandbox = support_sandbox::start(FaultConfig::default()).await;
    let ws = Workspace::new();
    support_sandbox::write_config(&ws, &sandbox, Credential::Secret);
    let config = std::fs::read_to_string(ws.path().join("roster.yaml")).unwrap();
    std::fs::write(ws.path().join("roster.yaml"), format!("{config}{IMPORTS}")).unwrap();
    write_playbook(&ws, "onboard-from-hr-csv", ONBOARD);
    write_playbook(&ws, "mirror-groups", MIRROR);
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

    // The example HR export: checked first (nothing changes), then applied.
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hr-new-hires.csv");
    browser.click("nav a[href='/imports']").await;
    browser.choose_file("#file", &csv).await;
    browser.click("form.upload button[type=submit]").await;
    let text = browser
        .wait_for_text("Dry run of hr-new-hires.csv", WAIT)
        .await;
    assert!(text.contains("Rows with errors"), "{text}");
    assert!(
        text.contains("21 E10020 Start Date"),
        "the bad date, by row and column:\n{text}"
    );
    assert!(text.contains("The plan per person"), "{text}");
    assert!(text.contains("runs that would start 28"), "{text}");
    browser.screenshot("import-dry-run").await;
    let (_, runs) = serve.get("/api/v1/runs").await;
    assert_eq!(runs["total"], 0, "a dry run starts nothing: {runs:#}");

    browser.click("form.apply button[type=submit]").await;
    browser.find(".summary .status-completed").await;
    let text = browser.text().await;
    assert!(text.contains("runs started 28"), "{text}");
    assert!(browser.url().await.contains("/imports/"));
    browser.screenshot("import-applied").await;

    // 25 joiners are provisioned; three rows fail the playbook's checks and wait for review.
    eventually(WAIT, "the joiners' runs to settle", || async {
        let (_, done) = serve.get("/api/v1/runs?status=succeeded").await;
        let (_, review) = serve.get("/api/v1/runs?status=review").await;
        (done["total"] == 25 && review["total"] == 3).then_some(())
    })
    .await;
    browser.goto(&url("/runs")).await;
    let text = browser.wait_for_text("succeeded 25", WAIT).await;
    assert!(text.contains("review 3"), "{text}");
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
    assert!(text.contains("john.smith@contoso.com"), "{text}");

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
    let text = browser
        .wait_for_text("Mirroring would remove 40% of a group's members", WAIT)
        .await;
    assert!(text.contains("megan@contoso.com"), "{text}");
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
