//! The guard that keeps `roster plan` to reads. Inside `scope`, every place that sends a request
//! to another system checks it here first: anything but GET and HEAD is refused before it
//! leaves the process, and `email.send` sends nothing. A bug in a preview then fails the plan
//! with a clear message instead of writing to a tenant. The token endpoints' POSTs are not
//! checked: asking for a token changes nothing in the target.
//!
//! Like the call log in `calls`, the flag is task-local, so the connector clients shared by all
//! runs need no plumbing and a run executing beside a plan in the same process is unaffected.

use std::future::Future;

tokio::task_local! {
    static READ_ONLY: ();
}

/// Runs `f` with every write refused.
pub async fn scope<F: Future>(f: F) -> F::Output {
    READ_ONLY.scope((), f).await
}

/// Whether the current task is planning (writes are refused).
pub fn active() -> bool {
    READ_ONLY.try_with(|_| ()).is_ok()
}

/// `Err` with the reason when `method` may change something and writes are refused here.
pub fn check(method: &str, url: &str) -> Result<(), String> {
    if !active() || method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return Ok(());
    }
    Err(format!(
        "refused to send {method} {}: a plan sends only GET and HEAD requests",
        super::calls::redact(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_refused_only_inside_the_scope() {
        let url = "https://graph.example/v1.0/users?$filter=x";
        assert!(check("POST", url).is_ok(), "outside a plan");
        scope(async {
            assert!(check("GET", url).is_ok());
            assert!(check("head", url).is_ok());
            for method in ["POST", "PATCH", "PUT", "DELETE"] {
                let e = check(method, url).err().unwrap_or_default();
                assert_eq!(
                    e,
                    format!(
                        "refused to send {method} https://graph.example/v1.0/users: \
                         a plan sends only GET and HEAD requests"
                    )
                );
            }
        })
        .await;
        assert!(!active());
    }
}
