//! When a transient failure is tried again: the retry policy and its backoff.

use std::time::Duration;

/// How a step retries transient failures (timeouts, 5xx, 429, replication delay).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Executions in all, the first one included: `1` never retries.
    pub attempts: u32,
    pub backoff: Backoff,
    /// The delay before the first retry.
    pub initial: Duration,
    /// No delay is longer, whatever the backoff says (a `Retry-After` may still be).
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// initial, 2×, 4×, … capped at `max`.
    Exponential,
    /// initial, 2×, 3×, …
    Linear,
    /// Always `initial`.
    Fixed,
}

impl Backoff {
    pub fn parse(s: &str) -> Option<Backoff> {
        match s {
            "exponential" => Some(Backoff::Exponential),
            "linear" => Some(Backoff::Linear),
            "fixed" | "constant" => Some(Backoff::Fixed),
            _ => None,
        }
    }
}

impl Default for RetryPolicy {
    /// Three executions, 1 s then 2 s apart (±20%): rides out a blip without hiding an outage.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `failures`-th failed execution (1-based). Jitter of ±20% spreads the
    /// retries of many runs that failed together; a server's `Retry-After` is a floor.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let n = failures.max(1);
        let base = match self.backoff {
            Backoff::Exponential => self.initial.saturating_mul(1u32 << (n - 1).min(20)),
            Backoff::Linear => self.initial.saturating_mul(n),
            Backoff::Fixed => self.initial,
        }
        .min(self.max);
        let jittered = base.mul_f64(0.8 + 0.4 * fastrand::f64());
        match retry_after {
            Some(floor) => jittered.max(floor),
            None => jittered,
        }
    }

    /// Whether another execution is allowed after `failures` failures.
    pub fn allows_retry(&self, failures: u32) -> bool {
        failures < self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(2),
            max: Duration::from_secs(10),
        };
        let d1 = p.delay(1, None).as_secs_f64();
        let d3 = p.delay(3, None).as_secs_f64();
        let d9 = p.delay(9, None).as_secs_f64();
        assert!((1.6..=2.4).contains(&d1), "{d1}");
        assert!((6.4..=9.6).contains(&d3), "{d3}");
        assert!((8.0..=12.0).contains(&d9), "{d9}");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    #[test]
    fn attempts_count_the_first_execution() {
        let p = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.allows_retry(1));
        assert!(p.allows_retry(2));
        assert!(!p.allows_retry(3));
    }
}
