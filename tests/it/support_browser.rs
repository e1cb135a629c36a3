//! A headless Chromium driven over W3C WebDriver (Debian's `chromium` and `chromium-driver`).
//!
//! WebDriver is JSON over HTTP, so the few commands the console tests need are written here on
//! the `reqwest` client the tests already use, instead of a driver crate that would bring a
//! second copy of ICU, http 0.2 and thiserror 1 into the build. `chromedriver` runs in a
//! process group of its own, ended with the browser when the `Browser` is dropped.
//!
//! Without Chromium the tests are skipped with a note, except under CI (`CI=true`), where
//! they fail: `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The screenshots README.md shows (kept in `docs/screenshots/`).
const README_SHOTS: &[&str] = &["import-dry-run", "run-timeline"];

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser tests can run here; panics under CI when they cannot.
pub fn available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is missing ({CHROMIUM}, {CHROMEDRIVER}); `.ci/run` installs it: \
             apt-get install chromium chromium-driver"
        );
        eprintln!(
            "skipped: no {CHROMIUM} or {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    /// Where screenshots go.
    pub shots: PathBuf,
}

/// An element on the current page.
#[derive(Clone)]
pub struct Element {
    id: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a laptop-sized window.
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("port").port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.unwrap_or_default();
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,900", "--lang=en-US", "--no-first-run"],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created:#}"))
            .to_string();
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&shots).expect("screenshots dir");
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            shots,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("webdriver request");
        let status = resp.status();
        let v: Value = resp.json().await.expect("webdriver answer");
        assert!(
            status.is_success(),
            "webdriver {method} {path}: {status} {v:#}"
        );
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        let v = self.command(reqwest::Method::GET, "/url", None).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The page's HTML as it is now.
    pub async fn source(&self) -> String {
        let v = self.command(reqwest::Method::GET, "/source", None).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// The visible text of the page, every run of white space (table cells are separated by
    /// tabs, lines by line breaks) as one space.
    /// Read in one script call: finding `body` and then asking for its text is two requests,
    /// and a page that navigates in between (a form's answer arriving) makes the element stale.
    pub async fn text(&self) -> String {
        let text = self
            .script("return document.body ? document.body.innerText : '';")
            .await;
        text.as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element { id: id.to_string() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waited for up to 10 s.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element '{css}' on {}:\n{}",
                    self.url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.click_on(&e).await;
    }

    pub async fn click_on(&self, e: &Element) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.id),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the field `css` (a file input takes a path).
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.id),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.id),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Chooses a file for the file input `css`.
    pub async fn choose_file(&self, css: &str, path: &Path) {
        let e = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.id),
            Some(json!({ "text": path.display().to_string() })),
        )
        .await;
    }

    /// Runs a script in the page; returns its result.
    pub async fn script(&self, code: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": code, "args": [] })),
        )
        .await
    }

    /// Waits (up to `within`) until the page's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("'{needle}' did not appear on {}:\n{text}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the window as `target/screenshots/NAME.png`; returns its path. With
    /// `ROSTER_DOCS_SCREENSHOTS=1`, the ones the README shows are copied to `docs/screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write screenshot");
        if README_SHOTS.contains(&name)
            && std::env::var("ROSTER_DOCS_SCREENSHOTS").as_deref() == Ok("1")
        {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&docs).expect("docs/screenshots");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("docs screenshot");
        }
        path
    }

    /// The browser's cookies, as WebDriver reports them (`httpOnly`, `sameSite`, …).
    pub async fn cookies(&self) -> Vec<Value> {
        let v = self.command(reqwest::Method::GET, "/cookie", None).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Ends the browser session (and with it Chromium).
    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share the group this process began.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}
