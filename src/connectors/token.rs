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
