//! A real SMTP server for the `email.send` tests: `tests/smtp_sink.py` (aiosmtpd) on a loopback
//! port, writing each accepted message to a directory. Without Python and aiosmtpd the tests
//! that need it are skipped locally and fail when `CI=true`.

// Not every test uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::eventually;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");

/// A running sink; it stops when dropped.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

/// A message the sink accepted.
#[derive(Debug)]
pub struct Delivered {
    /// The DATA as received: headers, blank line, body.
    pub raw: String,
    /// `mail_from`, `rcpt_tos`, `login`, `tls`.
    pub envelope: Value,
}

impl Delivered {
    /// The value of the header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Whether the sink can run here; panics under CI when it cannot (a skipped test proves nothing).
pub async fn available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but python3 with aiosmtpd is not available (python3 -m pip install aiosmtpd)"
        );
        eprintln!("skipped: python3 with aiosmtpd is not available");
    }
    ok
}

impl SmtpSink {
    /// Starts the sink with extra `smtp_sink.py` options; `None` when it cannot run here.
    pub async fn start(options: &[&str]) -> Option<SmtpSink> {
        if !available().await {
            return None;
        }
        let dir = tempfile::tempdir().expect("sink directory");
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg("--dir")
            .arg(dir.path())
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink did not start within 20 s")
            .expect("read the sink's port")
            .unwrap_or_default();
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink printed {first:?} instead of its port"));
        Some(SmtpSink {
            port,
            dir,
            _child: child,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The messages accepted so far, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        (1..)
            .map(|n| self.dir.path().join(format!("{n}.eml")))
            .take_while(|p| p.exists())
            .map(|p: PathBuf| {
                let raw = std::fs::read_to_string(&p).expect("read a delivered message");
                let meta = std::fs::read_to_string(p.with_extension("json")).expect("envelope");
                Delivered {
                    raw,
                    envelope: serde_json::from_str(&meta).expect("envelope JSON"),
                }
            })
            .collect()
    }

    /// Waits until `n` messages were accepted and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        eventually(
            Duration::from_secs(10),
            &format!("{n} delivered e-mails"),
            || async {
                let got = self.delivered();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

/// A CA and a certificate for 127.0.0.1 it signed, made with the `openssl` command:
/// `(ca.pem, cert.pem, key.pem)` in `dir`.
pub fn certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Roster test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    run(&ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend(ec);
    csr.extend(["-keyout", "key.pem", "-out", "leaf.csr"]);
    run(&csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write leaf.ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
