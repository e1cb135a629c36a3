//! An access token cache shared by all runs on one connection: fetched once, reused until
//! shortly before it expires, and dropped when the API answers 401 so the next call fetches a
//! fresh one. Concurrent callers wait for one fetch instead of each starting their own.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::secret::Secret;

/// Renew this long before the provider's expiry, so a token never expires in flight.
const EARLY: Duration = Duration::from_secs(300);

/// A fetched token and how long the provider said it lives.
#[derive(Debug)]
pub struct Fetched {
    pub token: Secret,
    pub expires_in: Duration,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    current: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    /// The cached token, or a new one from `fetch`.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, E>>,
    {
        let mut current = self.current.lock().await;
        if let Some((token, until)) = current.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let fetched = fetch().await?;
        // Short-lived tokens (tests, the sandbox) are renewed at half their life instead.
        let early = EARLY.min(fetched.expires_in / 2);
        let until = Instant::now() + fetched.expires_in.saturating_sub(early);
        *current = Some((fetched.token.clone(), until));
        Ok(fetched.token)
    }

    /// Forgets `token` after a 401 (unless another caller already replaced it).
    pub async fn invalidate(&self, token: &Secret) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|(t, _)| t == token) {
            *current = None;
        }
    }
}

/// An OAuth token endpoint's success answer.
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Posts a token request (client credentials or a JWT bearer grant) and reads the access token.
/// An error says whether trying later can help (network, 429, 5xx, Google's
/// `internal_failure`) and carries `refused` with the provider's error and description.
pub async fn request(
    http: &reqwest::Client,
    connection: &str,
    url: &str,
    form: &[(&str, &str)],
    refused: &str,
) -> Result<Fetched, (bool, String)> {
    let sent = std::time::Instant::now();
    let resp = http.post(url).form(form).send().await;
    let status = resp.as_ref().map_or(0, |r| r.status().as_u16());
    super::calls::record(connection, "POST", url, status, sent);
    let resp = resp.map_err(|e| (true, format!("token request to {url} failed: {e}")))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let error = body.get("error").and_then(|v| v.as_str()).unwrap_or("");
        let transient =
            status.is_server_error() || status.as_u16() == 429 || error == "internal_failure";
        let what = body
            .get("error_description")
            .and_then(|v| v.as_str())
            .unwrap_or("no error description");
        return Err((transient, format!("{refused} ({status} {error}): {what}")));
    }
    let parsed: TokenResponse = serde_json::from_value(body)
        .map_err(|e| (false, format!("unexpected token response: {e}")))?;
    Ok(Fetched {
        token: Secret::new(parsed.access_token),
        expires_in: Duration::from_secs(parsed.expires_in.unwrap_or(3599)),
    })
}
