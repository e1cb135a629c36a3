//! CSV imports over real HTTP: `imports::router` served by axum on a loopback port, as
//! `roster serve` merges it. Uploads as `text/csv` and multipart, the limits (413, nothing
//! stored, an oversized stream not read to its end), dry runs, the report while it
//! progresses, and the CSV export with formulas neutralised.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use roster::config::Config;
use roster::engine::Engine;
use roster::imports::{self, ImportDeps};
use roster::store::{Store, StoreOptions};
use serde_json::Value;

use crate::imports::{count, row, snapshot, CONFIG, MIXED, PLAYBOOKS};
use crate::support::eventually;

struct Api {
    _dir: tempfile::TempDir,
    db: PathBuf,
    base: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve() -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("roster.db");
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &StoreOptions::default(),
    )
    .await
    .expect("open store");
    let engine = Arc::new(Engine::new(store));
    let config = Config::from_parts("roster.yaml", Some(CONFIG), &[], dir.path().to_path_buf())
        .expect("config");
    let mut playbooks = Vec::new();
    for (name, text) in PLAYBOOKS {
        let pb = roster::playbook::load_text(&format!("{name}.yaml"), text, engine.scripting())
            .expect("playbook compiles");
        playbooks.push(engine.register(pb).await.expect("register"));
    }
    let router = imports::router(ImportDeps {
        engine,
        config: Arc::new(config),
        playbooks: Arc::new(playbooks),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Api {
        _dir: dir,
        db,
        base,
        http: reqwest::Client::new(),
        server,
    }
}

impl Api {
    async fn upload(&self, query: &str, csv: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/api/v1/imports?{query}", self.base))
            .header("content-type", "text/csv")
            .body(csv.to_string())
            .send()
            .await
            .expect("upload");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON answer"))
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get")
    }
}

#[tokio::test]
async fn a_text_csv_upload_imports_and_its_report_can_be_read_back() {
    let api = serve().await;
    let (status, report) = api.upload("profile=hr", MIXED).await;
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["counts"]["joined"], 3);
    assert_eq!(report["counts"]["invalid"], 3);
    assert_eq!(row(&report, 4)["errors"][0]["column"], "Start Date");
    let id = report["id"].as_str().expect("id");

    let stored: Value = api
        .get(&format!("/api/v1/imports/{id}"))
        .await
        .json()
        .await
        .expect("report");
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["counts"], report["counts"]);
    assert_eq!(stored["rows"], report["rows"]);

    // The same file again: nothing new.
    let (_, again) = api.upload("profile=hr", MIXED).await;
    assert_eq!(again["counts"]["unchanged"], 3, "{again:#}");
    assert_eq!(again["counts"]["runs"], 0);
    assert_eq!(count(&api.db, "SELECT COUNT(*) FROM runs"), 3);
}

#[tokio::test]
async fn a_multipart_upload_reads_the_file_part() {
    let api = serve().await;
    let form = reqwest::multipart::Form::new()
        .text("comment", "weekly export")
        .part(
            "file",
            reqwest::multipart::Part::bytes(MIXED.as_bytes().to_vec())
                .file_name("hr-week-12.csv")
                .mime_str("text/csv")
                .expect("mime"),
        );
    let res = api
        .http
        .post(format!("{}/api/v1/imports?profile=hr", api.base))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.expect("report");
    assert_eq!(report["file"], "hr-week-12.csv");
    assert_eq!(report["counts"]["joined"], 3, "{report:#}");
}

#[tokio::test]
async fn a_dry_run_over_http_changes_nothing() {
    let api = serve().await;
    api.upload("profile=hr", MIXED).await;
    let before = snapshot(&api.db);
    let changed = MIXED.replace(",Compilers,", ",Research,");
    let (status, plan) = api.upload("profile=hr&dry_run=true", &changed).await;
    assert_eq!(status, 200);
    assert_eq!(snapshot(&api.db), before);
    assert_eq!(row(&plan, 7)["outcome"], "changed");
    assert_eq!(row(&plan, 7)["playbooks"][0]["playbook"], "mover");
    let id = plan["id"].as_str().expect("id");
    assert_eq!(
        api.get(&format!("/api/v1/imports/{id}")).await.status(),
        404
    );
}

#[tokio::test]
async fn over_the_configured_limits_is_413_and_nothing_is_stored() {
    let api = serve().await;
    let before = snapshot(&api.db);
    let big = format!("Employee ID\n{}", "E1234567\n".repeat(10));
    let (status, body) = api.upload("profile=tiny", &big).await;
    assert_eq!(status, 413, "{body:#}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(body["error"]["details"]["max_bytes"], 64);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("max_bytes"));

    let (status, body) = api.upload("profile=tiny", "Employee ID\n1\n2\n3\n").await;
    assert_eq!(status, 413, "{body:#}");
    assert_eq!(body["error"]["details"]["max_rows"], 2);
    assert_eq!(snapshot(&api.db), before);
}

#[tokio::test]
async fn a_50_mb_stream_is_refused_without_being_read_to_its_end() {
    let api = serve().await;
    let before = snapshot(&api.db);
    const CHUNK: usize = 64 * 1024;
    const TOTAL: u64 = 50 * 1024 * 1024;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let line = b"E0000001,Ada,Lovelace,ada@example.com,Engineering,2024-01-01,Active\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(CHUNK).collect();
    let chunks = futures_util::stream::iter(0..TOTAL / CHUNK as u64).map(move |_| {
        counter.fetch_add(CHUNK as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(chunk.clone())
    });
    // No Content-Length: the server has to count.
    let res = api
        .http
        .post(format!("{}/api/v1/imports?profile=hr", api.base))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("the server answers before the upload ends");
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.expect("error body");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(
        body["error"]["details"]["max_bytes"],
        roster::config::DEFAULT_MAX_BYTES
    );
    let read = sent.load(Ordering::Relaxed);
    assert!(
        read < TOTAL,
        "the client sent all {read} bytes: the server read past its limit"
    );
    assert_eq!(snapshot(&api.db), before);
}

#[tokio::test]
async fn an_import_that_does_not_wait_can_be_followed_by_its_id() {
    let api = serve().await;
    let mut csv = String::from("Employee ID,First Name,Last Name,Department\n");
    for i in 0..3000 {
        csv.push_str(&format!("E{i},Ada,Lovelace,Engineering\n"));
    }
    let (status, accepted) = api.upload("profile=hr&wait=false", &csv).await;
    assert_eq!(status, 202, "{accepted:#}");
    assert_eq!(accepted["counts"]["rows"], 3000);
    let id = accepted["id"].as_str().expect("id").to_string();
    let done: Value = eventually(Duration::from_secs(20), "the import to complete", || {
        let api = &api;
        let id = id.clone();
        async move {
            let r: Value = api
                .get(&format!("/api/v1/imports/{id}"))
                .await
                .json()
                .await
                .ok()?;
            // While it runs, the counts it has are consistent with the rows it shows.
            assert_eq!(
                r["counts"]["processed"].as_u64(),
                Some(r["rows"].as_array()?.len() as u64)
            );
            (r["status"] == "completed").then_some(r)
        }
    })
    .await;
    assert_eq!(done["counts"]["joined"], 3000);
}

#[tokio::test]
async fn the_csv_export_neutralises_formulas() {
    let api = serve().await;
    let csv = "Employee ID,First Name,Last Name,Department\n\
               =HYPERLINK(\"http://evil.test\"),Ada,Lovelace,Engineering\n\
               @SUM(A1),Grace,Hopper,\n\
               -42,Alan,Turing,+Ops\n";
    let (_, report) = api.upload("profile=hr", csv).await;
    let id = report["id"].as_str().expect("id");
    let res = api.get(&format!("/api/v1/imports/{id}?format=csv")).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let cells: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("record").iter().map(String::from).collect())
        .collect();
    assert_eq!(cells.len(), 3, "{text}");
    assert_eq!(cells[0][1], "'=HYPERLINK(\"http://evil.test\")");
    assert_eq!(cells[1][1], "'@SUM(A1)");
    assert_eq!(cells[1][3], "Department");
    assert_eq!(cells[2][1], "'-42");
    for line in &cells {
        for cell in line {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {text}"
            );
        }
    }
}

#[tokio::test]
async fn errors_have_the_api_shape() {
    let api = serve().await;
    let before = snapshot(&api.db);
    let (status, body) = api.upload("profile=payroll", MIXED).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "unknown_profile");
    let (status, body) = api.upload("", MIXED).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("profile"));
    let (status, body) = api
        .upload("profile=hr", &MIXED.replace("Department", "Division"))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "invalid_file");
    assert_eq!(body["error"]["details"]["missing_columns"][0], "Department");
    assert_eq!(snapshot(&api.db), before);
    let res = api.get("/api/v1/imports/nope").await;
    assert_eq!(res.status(), 404);
}
