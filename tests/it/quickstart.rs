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
