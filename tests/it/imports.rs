//! CSV imports through the real `roster import` command: row-level errors with row and
//! column, file-level errors that store nothing, idempotent re-imports, changes and leavers,
//! and dry runs that change nothing. (`imports_http` drives the same code over HTTP.)

use std::path::PathBuf;

use serde_json::Value;

use crate::support::Workspace;

/// The `hr` profile the tests import with, and `tiny` with a small `max_bytes`.
pub const CONFIG: &str = r#"
imports:
  hr:
    source: hr
    key: Employee ID
    columns:
      Employee ID: { field: employee_id, required: true }
      First Name: { field: given_name, required: true, case: title }
      Last Name: { field: family_name, required: true }
      Email: { field: primary_email, case: lower }
      Department: { field: department, required: true }
      Start Date: { field: start_date, date_formats: ["%m/%d/%Y", "%Y-%m-%d"] }
      Status: { field: status }
    status: { active: [Active], suspended: [On Leave], terminated: [Terminated] }
  tiny:
    source: hr
    key: Employee ID
    columns:
      Employee ID: { field: employee_id }
    max_bytes: 64
    max_rows: 2
"#;

/// One playbook per event type, all listening to the `hr` source.
pub const PLAYBOOKS: &[(&str, &str)] = &[
    (
        "joiner",
        "name: joiner\non: [ { person.joined: { source: hr } } ]\nconcurrency: person.id\nsteps:\n  - id: hello\n    uses: script\n    with: { code: '#{ hi: person.given_name }' }\n",
    ),
    (
        "mover",
        "name: mover\non: [ { person.changed: { source: hr, fields: [department] } } ]\nsteps:\n  - id: moved\n    uses: script\n    with: { code: '#{ to: person.department }' }\n",
    ),
    (
        "leaver",
        "name: leaver\non: [ { person.left: { source: hr } } ]\nsteps:\n  - id: bye\n    uses: script\n    with: { code: '#{ bye: person.id }' }\n",
    ),
];

/// A BOM, CRLF, a quoted comma (row 2), a quoted line break (row 3), a bad date (row 4), a
/// wrong column count (row 5) and a missing required value (row 6); rows 2, 3 and 7 are valid.
pub const MIXED: &str =
    "\u{feff}Employee ID,First Name,Last Name,Email,Department,Start Date,Status\r\n\
E1,ada,Lovelace,Ada@Example.com,\"Research, Analytical Engines\",03/01/2024,Active\r\n\
E2,Grace,\"Hopper\r\nUSN\",grace@example.com,Engineering,2024-02-01,Active\r\n\
E3,Alan,Turing,alan@example.com,Engineering,2024-02-30,Active\r\n\
E4,Edsger,Dijkstra,edsger@example.com,Engineering\r\n\
E5,Barbara,Liskov,barbara@example.com,,2024-01-15,Active\r\n\
E6,Frances,Allen,frances@example.com,Compilers,2024-01-15,Active\r\n";

/// A workspace with the config and playbooks written.
pub fn workspace() -> Workspace {
    let ws = Workspace::new();
    std::fs::write(ws.path().join("roster.yaml"), CONFIG).expect("write config");
    std::fs::create_dir_all(ws.path().join("playbooks")).expect("playbooks dir");
    for (name, text) in PLAYBOOKS {
        std::fs::write(ws.path().join(format!("playbooks/{name}.yaml")), text)
            .expect("write playbook");
    }
    ws
}

fn write(ws: &Workspace, name: &str, text: &str) -> PathBuf {
    let path = ws.path().join(name);
    std::fs::write(&path, text).expect("write csv");
    path
}

async fn import(ws: &Workspace, file: &str, extra: &[&str]) -> crate::support::Output {
    let mut args = vec!["--json", "import", file, "--profile", "hr"];
    args.extend_from_slice(extra);
    ws.roster(&args).await
}

/// Every row of the tables an import may write, as text: equal before and after means
/// nothing was stored.
pub fn snapshot(db: &std::path::Path) -> String {
    if !db.exists() {
        return String::new();
    }
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut out = String::new();
    for table in [
        "subjects",
        "events",
        "dispatches",
        "runs",
        "steps",
        "playbook_versions",
        "imports",
        "import_rows",
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
            .expect("select");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            let cells: Vec<String> = (0..n)
                .map(|i| match row.get_ref(i).expect("cell") {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            out.push_str(&format!("{table}: {}\n", cells.join(" | ")));
        }
    }
    out
}

pub fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row(sql, [], |r| r.get(0)).expect("count")
}

pub fn rows(report: &Value) -> &Vec<Value> {
    report["rows"].as_array().expect("rows")
}

pub fn row(report: &Value, n: u64) -> &Value {
    rows(report)
        .iter()
        .find(|r| r["row"] == n)
        .unwrap_or_else(|| panic!("no row {n} in {report:#}"))
}

#[tokio::test]
async fn row_errors_name_row_and_column_and_the_rest_is_imported() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    let out = import(&ws, "hr.csv", &[]).await;
    assert_eq!(out.code, 1, "rows with errors exit 1: {out:#?}");
    let report = out.json();
    let c = &report["counts"];
    assert_eq!(
        (
            c["rows"].as_u64(),
            c["joined"].as_u64(),
            c["invalid"].as_u64()
        ),
        (Some(6), Some(3), Some(3)),
        "{report:#}"
    );
    assert_eq!(c["runs"], 3);
    assert_eq!(report["status"], "completed");

    // The quoted comma and line break are one cell each; the line break keeps row 3 one row.
    assert_eq!(row(&report, 2)["outcome"], "joined");
    assert_eq!(row(&report, 3)["outcome"], "joined");
    assert_eq!(row(&report, 7)["outcome"], "joined");
    let bad_date = &row(&report, 4)["errors"][0];
    assert_eq!(bad_date["column"], "Start Date");
    assert!(
        bad_date["reason"]
            .as_str()
            .unwrap()
            .contains("'2024-02-30' is not a date"),
        "{bad_date}"
    );
    let short = &row(&report, 5)["errors"][0];
    assert!(short.get("column").is_none());
    assert!(short["reason"]
        .as_str()
        .unwrap()
        .contains("has 5 columns, the header has 7"));
    let missing = &row(&report, 6)["errors"][0];
    assert_eq!(missing["column"], "Department");
    assert_eq!(row(&report, 6)["id"], "E5");

    // The stored people carry the transformed values.
    let db = &ws.db_path;
    let e1: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT person FROM subjects WHERE source = 'hr' AND subject_id = 'E1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let e1: Value = serde_json::from_str(&e1).unwrap();
    assert_eq!(e1["department"], "Research, Analytical Engines");
    assert_eq!(e1["given_name"], "Ada");
    assert_eq!(e1["primary_email"], "ada@example.com");
    assert_eq!(e1["start_date"], "2024-03-01");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM runs WHERE playbook = 'joiner'"),
        3
    );

    // The plain report says the same, one line per error.
    let text = ws
        .roster(&["import", "hr.csv", "--profile", "hr", "--dry-run"])
        .await;
    assert!(
        text.stdout
            .contains("row 4, column \"Start Date\": '2024-02-30' is not a date"),
        "{text:#?}"
    );
    assert!(text.stdout.contains("row 6, column \"Department\": empty"));
}

#[tokio::test]
async fn the_same_file_twice_starts_nothing_twice() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    import(&ws, "hr.csv", &[]).await;
    let runs = count(&ws.db_path, "SELECT COUNT(*) FROM runs");
    let events = count(&ws.db_path, "SELECT COUNT(*) FROM events");
    let report = import(&ws, "hr.csv", &[]).await.json();
    let c = &report["counts"];
    assert_eq!(c["unchanged"], 3, "{report:#}");
    assert_eq!(
        (c["joined"].as_u64(), c["runs"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(count(&ws.db_path, "SELECT COUNT(*) FROM runs"), runs);
    assert_eq!(count(&ws.db_path, "SELECT COUNT(*) FROM events"), events);
    assert_eq!(count(&ws.db_path, "SELECT COUNT(*) FROM imports"), 2);
}

#[tokio::test]
async fn a_changed_department_is_one_change_and_terminated_is_a_leaver() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    import(&ws, "hr.csv", &[]).await;
    let next = MIXED
        .replace(
            "frances@example.com,Compilers,",
            "frances@example.com,Research,",
        )
        .replace(
            "grace@example.com,Engineering,2024-02-01,Active",
            "grace@example.com,Engineering,2024-02-01,Terminated",
        );
    write(&ws, "hr-2.csv", &next);
    let report = import(&ws, "hr-2.csv", &[]).await.json();
    let changed = row(&report, 7);
    assert_eq!(changed["outcome"], "changed", "{report:#}");
    assert_eq!(
        changed["changes"]["department"],
        serde_json::json!({ "from": "Compilers", "to": "Research" })
    );
    assert_eq!(changed["playbooks"][0]["playbook"], "mover");
    let left = row(&report, 3);
    assert_eq!(left["outcome"], "left");
    assert_eq!(left["playbooks"][0]["playbook"], "leaver");
    assert_eq!(row(&report, 2)["outcome"], "unchanged");

    let db = &ws.db_path;
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM events WHERE type = 'person.changed'"
        ),
        1
    );
    let changes: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT body FROM events WHERE type = 'person.changed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let body: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(
        body["changes"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["department"]
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM events WHERE type = 'person.left' AND subject_id = 'E2'"
        ),
        1
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM runs WHERE playbook = 'leaver'"),
        1
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_changes_nothing() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    // A database with history, so "nothing changed" is about real rows.
    import(&ws, "hr.csv", &[]).await;
    let next = MIXED.replace(",Compilers,", ",Research,");
    write(&ws, "hr-2.csv", &next);
    let before = snapshot(&ws.db_path);
    let out = import(&ws, "hr-2.csv", &["--dry-run"]).await;
    assert_eq!(
        snapshot(&ws.db_path),
        before,
        "a dry run wrote to the database"
    );
    let report = out.json();
    assert_eq!(report["dry_run"], true);
    let planned = row(&report, 7);
    assert_eq!(planned["outcome"], "changed");
    assert_eq!(planned["playbooks"][0]["playbook"], "mover");
    assert!(planned["playbooks"][0].get("run").is_none(), "{planned}");
    assert!(planned.get("event").is_none());
    assert_eq!(report["counts"]["runs"], 1);
    assert_eq!(report["counts"]["unchanged"], 2);
    assert_eq!(report["counts"]["invalid"], 3);

    // On a fresh database, the plan is three joiners.
    let fresh = workspace();
    write(&fresh, "hr.csv", MIXED);
    let report = import(&fresh, "hr.csv", &["--dry-run"]).await.json();
    assert_eq!(report["counts"]["joined"], 3);
    assert_eq!(
        snapshot(&fresh.db_path),
        "",
        "a dry run wrote to a fresh database"
    );
}

#[tokio::test]
async fn a_missing_required_column_refuses_the_file_and_stores_nothing() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    import(&ws, "hr.csv", &[]).await;
    let before = snapshot(&ws.db_path);
    let without = MIXED.replace(",Department,Start Date", ",Division,Start Date");
    write(&ws, "bad.csv", &without);
    let out = ws.roster(&["import", "bad.csv", "--profile", "hr"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("no column \"Department\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("profile 'hr'"), "{}", out.stderr);
    assert_eq!(snapshot(&ws.db_path), before);
}

#[tokio::test]
async fn an_unknown_profile_names_the_configured_ones() {
    let ws = workspace();
    write(&ws, "hr.csv", MIXED);
    let out = ws
        .roster(&["import", "hr.csv", "--profile", "payroll"])
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no import profile 'payroll'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("configured: hr, tiny"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn the_example_hr_file_imports_with_its_invalid_rows_reported() {
    let ws = Workspace::new();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let out = ws
        .roster(&[
            "--json",
            "--config",
            &format!("{examples}/roster.yaml"),
            "import",
            &format!("{examples}/hr-new-hires.csv"),
            "--profile",
            "hr",
        ])
        .await;
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    let c = &report["counts"];
    assert_eq!(c["rows"], 50, "{report:#}");
    assert_eq!(c["invalid"], 5, "{report:#}");
    assert_eq!(c["joined"], 44);
    assert_eq!(
        c["baseline"], 1,
        "a withdrawn hire is remembered, not started"
    );
    let reasons: Vec<(u64, &str)> = rows(&report)
        .iter()
        .filter(|r| r["outcome"] == "invalid")
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["errors"][0]["column"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (6, "First Name"),
            (11, "Department"),
            (16, "Location"),
            (21, "Start Date"),
            (42, "Last Name")
        ]
    );
    // Names are title-cased and locations mapped.
    assert_eq!(row(&report, 3)["outcome"], "joined");
}
