//! A per-connection limiter: at most `concurrency` requests in flight and requests started at
//! most `requests_per_second` apart on average, so a burst of runs stays under the provider's
//! throttling limits instead of collecting 429s.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Limits;

#[derive(Debug)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    interval: Duration,
    /// When the next request may start.
    next: Mutex<Instant>,
}

/// Held while a request is in flight.
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        let rps = if limits.requests_per_second > 0.0 {
            limits.requests_per_second
        } else {
            f64::INFINITY
        };
        Limiter {
            slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            interval: Duration::from_secs_f64(1.0 / rps),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for a slot and for the request's start time.
    pub async fn acquire(&self) -> Permit {
        let slot = match self.slots.clone().acquire_owned().await {
            Ok(s) => s,
            Err(_) => unreachable_permit(),
        };
        if !self.interval.is_zero() {
            let start = {
                let mut next = self.next.lock().await;
                let now = Instant::now();
                let start = (*next).max(now);
                *next = start + self.interval;
                start
            };
            tokio::time::sleep_until(start).await;
        }
        Permit { _slot: slot }
    }
}

/// The semaphore is never closed, so acquiring cannot fail.
#[allow(clippy::panic)]
fn unreachable_permit() -> OwnedSemaphorePermit {
    panic!("the limiter's semaphore is never closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_and_bounds_concurrency() {
        let l = Arc::new(Limiter::new(Limits {
            requests_per_second: 10.0,
            concurrency: 2,
        }));
        let t0 = Instant::now();
        for _ in 0..5 {
            drop(l.acquire().await);
        }
        // Five starts 100 ms apart: the fifth at 400 ms.
        assert!(t0.elapsed() >= Duration::from_millis(400));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let l2 = l.clone();
        let third = tokio::spawn(async move { l2.acquire().await });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(!third.is_finished(), "a third request waits for a slot");
        drop(a);
        let got = tokio::time::timeout(Duration::from_secs(1), third).await;
        assert!(got.is_ok(), "the third request gets the freed slot");
    }
}
