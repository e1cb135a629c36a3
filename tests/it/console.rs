//! The web console's sign-in, sessions and CSRF checks over plain HTTP against `roster serve`
//! (the browser scenario is `console_browser`): what a request without a session, without a
//! CSRF token, with a revoked token or behind a TLS proxy gets.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};

use crate::support::Workspace;
use crate::support_serve::{create_token, write_playbook, Serve};

const CONFIG: &str =
    "server:\n  console:\n    admin_password: { file: console.password }\n    session_ttl: 1h\n";

/// A client that shows redirects instead of following them.
fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// `name=value` of the cookie `name` a response set.
fn cookie(r: &Response, name: &str) -> String {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next().map(String::from))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", set_cookies(r)))
}

/// The value of the hidden `csrf` field in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

struct Console {
    http: Client,
    url: String,
}

impl Console {
    /// Signs in with `secret` through the form; returns the session cookie.
    async fn sign_in(&self, secret: &str) -> Response {
        let form = self
            .http
            .get(format!("{}/sign-in", self.url))
            .send()
            .await
            .unwrap();
        let pre = cookie(&form, "roster_sign_in");
        let csrf = csrf_of(&form.text().await.unwrap());
        self.http
            .post(format!("{}/sign-in", self.url))
            .header(COOKIE, pre)
            .form(&[
                ("csrf", csrf.as_str()),
                ("secret", secret),
                ("next", "/review"),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str, session: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.url))
            .header(COOKIE, session)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_need_sign_in_and_every_form_its_csrf_token() {
    let ws = Workspace::new();
    std::fs::write(ws.path().join("roster.yaml"), CONFIG).unwrap();
    std::fs::write(
        ws.path().join("console.password"),
        "correct horse battery\n",
    )
    .unwrap();
    write_playbook(
        &ws,
        "hold",
        "name: hold\non: [ { manual: {} } ]\nsteps:\n  - id: ok\n    uses: approval\n",
    );
    let token = create_token(&ws, "ops").await;
    let serve = Serve::start(&ws, &[]).await.with_token(&token);
    let c = Console {
        http: client(),
        url: serve.url.clone(),
    };

    // No session: every page but sign-in and the assets sends the browser to sign in.
    for path in [
        "/",
        "/runs",
        "/runs/x",
        "/review",
        "/approvals",
        "/imports",
        "/playbooks",
    ] {
        let r = c.get(path, "roster_session=forged").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let to = r.headers()[LOCATION].to_str().unwrap();
        assert!(to.starts_with("/sign-in?next="), "{path} → {to}");
    }
    let css = c.get("/assets/console.css", "").await;
    assert_eq!(css.status(), 200);
    // The API is untouched: JSON and bearer tokens, no redirect.
    let api = c.get("/api/v1/runs", "").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // The sign-in form's own CSRF cookie: HttpOnly, SameSite=Strict; Secure behind TLS.
    let form = c
        .http
        .get(format!("{}/sign-in", c.url))
        .send()
        .await
        .unwrap();
    let flags = set_cookies(&form).join(" | ");
    assert!(flags.contains("HttpOnly; SameSite=Strict"), "{flags}");
    assert!(!flags.contains("Secure"), "plain HTTP: {flags}");
    let behind_tls = c
        .http
        .get(format!("{}/sign-in", c.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&behind_tls).join(" ").contains("; Secure"));
    let page = form.text().await.unwrap();
    assert!(page.contains("API token or admin password"), "{page}");
    assert!(page.contains("<label for=\"secret\">"), "labelled: {page}");

    // Sign-in without the form's token, or with a wrong secret, is refused.
    let no_csrf = c
        .http
        .post(format!("{}/sign-in", c.url))
        .form(&[("secret", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    for wrong in ["rst_000000000000_nope", "wrong password", ""] {
        let r = c.sign_in(wrong).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(!set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("roster_session=")));
    }

    // A token signs in: a session cookie, and back to the page asked for.
    let signed = c.sign_in(&token).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed.headers()[LOCATION], "/review");
    let flags = set_cookies(&signed).join(" | ");
    assert!(
        flags.contains("Path=/; Max-Age=3600; HttpOnly; SameSite=Strict"),
        "{flags}"
    );
    let session = cookie(&signed, "roster_session");
    let page = c.get("/runs", &session).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Signed in as <strong>token:ops</strong>"),
        "{html}"
    );
    let csrf = csrf_of(&html);

    // Forms need the session's CSRF token: without it, or with another, nothing happens.
    let (_, started) = serve
        .post(
            "/api/v1/runs",
            &serde_json::json!({ "playbook": "hold", "person": { "id": "P1" } }),
        )
        .await;
    let run = started["run"]["id"].as_str().unwrap().to_string();
    serve.wait_status(&run, "approval").await;
    let post = |form: Vec<(&'static str, String)>| {
        c.http
            .post(format!("{}/runs/{run}/cancel", c.url))
            .header(COOKIE, session.clone())
            .form(&form)
            .send()
    };
    let refused = post(vec![]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("security token"));
    let refused = post(vec![("csrf", "a".repeat(43))]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let upload = c
        .http
        .post(format!("{}/imports", c.url))
        .header(COOKIE, session.clone())
        .multipart(
            reqwest::multipart::Form::new()
                .text("profile", "hr")
                .text("csrf", csrf.clone()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        upload.status(),
        StatusCode::FORBIDDEN,
        "csrf must come first"
    );
    let (_, still) = serve.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(still["status"], "approval", "{still:#}");

    // With it, the form acts (as the signed-in token) and goes back to the run.
    let done = post(vec![("csrf", csrf.clone())]).await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], format!("/runs/{run}"));
    serve.wait_status(&run, "cancelled").await;
    // Twice is a conflict, shown as a page that says why.
    let again = post(vec![("csrf", csrf.clone())]).await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("is cancelled"));

    // Revoking the token ends the sessions opened with it.
    ws.roster_ok(&["token", "revoke", "ops"]).await;
    let r = c.get("/runs", &session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The admin password signs in as `admin`; signing out ends that session.
    let admin = c.sign_in("correct horse battery").await;
    assert_eq!(admin.status(), StatusCode::SEE_OTHER);
    let session = cookie(&admin, "roster_session");
    let html = c.get("/playbooks", &session).await.text().await.unwrap();
    assert!(
        html.contains("Signed in as <strong>admin</strong>"),
        "{html}"
    );
    let out = c
        .http
        .post(format!("{}/sign-out", c.url))
        .header(COOKIE, session.clone())
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&out)
        .join(" ")
        .contains("roster_session=; Path=/; Max-Age=0"));
    let r = c.get("/playbooks", &session).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the session is gone");
}
