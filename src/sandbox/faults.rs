//! Fault injection: added latency, a share of requests answered 5xx or 429, and replication
//! delay. Faults are decided in `dispatch` before a handler runs, so a faulted write never
//! touches state. They apply to the Graph, Google Directory and HR routes, never to the token or
//! admin endpoints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to inject; set with CLI flags, `PUT /_sandbox/faults` or `Sandbox::set_faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Added to every workload request before it is answered.
    pub latency_ms: u64,
    /// Share (0–1) of requests answered with a server error in the API's own error shape.
    pub error_rate: f64,
    /// Share (0–1) of requests answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// The `Retry-After` (seconds) sent with injected 429s and 503s.
    pub retry_after_s: u64,
    /// For this long after a user or group is created, reads of it and references to it answer
    /// 404 (Graph §5.3; the same for Google gets after insert).
    pub replication_delay_ms: u64,
    /// The statuses injected errors are drawn from: any of 500, 503, 504.
    pub error_statuses: Vec<u16>,
    /// Seeds the random draws so a test sees the same faults every run.
    pub rng_seed: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            latency_ms: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            retry_after_s: 1,
            replication_delay_ms: 0,
            error_statuses: vec![503],
            rng_seed: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid fault configuration: {0}")]
pub struct FaultConfigError(String);

impl FaultConfig {
    pub fn validate(&self) -> Result<(), FaultConfigError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultConfigError(format!(
                    "{name} must be between 0 and 1, not {rate}"
                )));
            }
        }
        if self.error_statuses.is_empty() && self.error_rate > 0.0 {
            return Err(FaultConfigError(
                "error_statuses is empty but error_rate is above 0".into(),
            ));
        }
        if let Some(s) = self
            .error_statuses
            .iter()
            .find(|s| ![500, 503, 504].contains(*s))
        {
            return Err(FaultConfigError(format!(
                "error_statuses may hold 500, 503 and 504, not {s}"
            )));
        }
        Ok(())
    }
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle { retry_after_s: u64 },
    ServerError { status: u16, retry_after_s: u64 },
}

/// The live configuration and the random source its draws come from.
pub struct Faults {
    config: FaultConfig,
    rng: fastrand::Rng,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Faults {
        let rng = match config.rng_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Faults { config, rng }
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.config.latency_ms)
    }

    pub fn replication_delay(&self) -> Duration {
        Duration::from_millis(self.config.replication_delay_ms)
    }

    /// Draws whether this request is throttled, fails, or goes through.
    pub fn draw(&mut self) -> Option<Fault> {
        let c = &self.config;
        if c.throttle_rate > 0.0 && self.rng.f64() < c.throttle_rate {
            return Some(Fault::Throttle {
                retry_after_s: c.retry_after_s,
            });
        }
        if c.error_rate > 0.0 && self.rng.f64() < c.error_rate {
            let status = c.error_statuses[self.rng.usize(..c.error_statuses.len())];
            return Some(Fault::ServerError {
                status,
                retry_after_s: c.retry_after_s,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat() {
        let config = FaultConfig {
            error_rate: 0.5,
            rng_seed: Some(7),
            ..FaultConfig::default()
        };
        let draws = |c: &FaultConfig| {
            let mut f = Faults::new(c.clone());
            (0..32).map(|_| f.draw().is_some()).collect::<Vec<_>>()
        };
        let first = draws(&config);
        assert_eq!(first, draws(&config));
        assert!(first.contains(&true) && first.contains(&false));
    }

    #[test]
    fn rates_outside_zero_to_one_are_rejected() {
        let bad = FaultConfig {
            throttle_rate: 1.5,
            ..FaultConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = FaultConfig {
            error_statuses: vec![502],
            ..FaultConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
