//! The README's quick start, as a new user runs it: the shipped example playbook provisions
//! José into an in-process sandbox with one command.

use crate::support::Workspace;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_provisions_jose_into_the_sandbox() {
    let ws = Workspace::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = ws
        .roster(&[
            "run",
            &format!("{root}/examples/onboard-entra.yaml"),
            "--person",
            &format!("{root}/examples/jose.json"),
            "--sandbox",
        ])
        .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("status    succeeded"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "sandbox: created jose.muller-ludenscheidt@contoso.com (José Müller-Lüdenscheidt), \
             licenses: SPE_E5, groups: All Staff, Dept Engineering, Location Berlin"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "sandbox: HR record E3001 has work_email jose.muller-ludenscheidt@contoso.com"
        ),
        "{}",
        out.stdout
    );
    // The generated password never reaches the terminal.
    assert!(!out.stdout.contains("password\":\""), "{}", out.stdout);
}

/// The README's first command: `roster demo` finishes on its own, and what it reports is what
/// its database holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_completes_and_its_summary_matches_its_database() {
    let ws = Workspace::new();
    let dir = ws.path().join("demo");
    let dir_arg = dir.display().to_string();
    let out = ws.roster(&["demo", "--dir", &dir_arg]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    for line in [
        "50 rows → 49 joined, 1 remembered without a run",
        "Entra ID accounts created: 46 (1 disabled by an offboarding)",
        "ada.lovelace2@contoso.com",
        "HR records given their corporate address: 44",
        "Google users given their Entra UPN: 2",
        "E10020 Lucas Silva",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in:\n{}",
            out.stdout
        );
    }
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let store = roster::store::Store::open(&url, &Default::default())
        .await
        .expect("the demo's database");
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT playbook, status, COUNT(*) FROM runs GROUP BY playbook, status ORDER BY playbook, status",
    )
    .fetch_all(store.sqlite_pool().expect("a SQLite store"))
    .await
    .expect("runs");
    for (playbook, status, n) in &rows {
        let line = format!("{playbook:<22} {status:<10} {n}");
        assert!(
            out.stdout.contains(&line),
            "missing {line:?} in:\n{}",
            out.stdout
        );
    }
    let expect = [
        ("mover", "succeeded", 1),
        ("offboard", "waiting", 1),
        ("onboard-from-google", "succeeded", 2),
        ("onboard-from-hr-csv", "review", 5),
        ("onboard-from-hr-csv", "succeeded", 44),
    ];
    let got: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|(p, s, n)| (p.as_str(), s.as_str(), *n))
        .collect();
    assert_eq!(got, expect);
}
