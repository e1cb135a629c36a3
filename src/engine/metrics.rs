//! What this process's workers measured since it started: step latency by action and external
//! calls by connection and status. Cheap to update on the hot path (a short, rarely contended
//! lock per step); `/metrics` renders a snapshot, together with counts it reads from the store.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::connectors::calls::ExternalCall;

/// Upper bounds of the step latency buckets, in seconds.
pub const STEP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram with `STEP_BUCKETS`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    pub buckets: [u64; STEP_BUCKETS.len() + 1],
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = STEP_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(STEP_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }
}

/// A copy of the metrics at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// By action name.
    pub steps: BTreeMap<&'static str, Histogram>,
    /// By connection, then HTTP status (0 for no response).
    pub calls: BTreeMap<String, BTreeMap<u16, u64>>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Snapshot>,
}

impl Metrics {
    /// Records one executed step and the external calls it made.
    pub fn step(&self, action: &'static str, took: Duration, calls: &[ExternalCall]) {
        if let Ok(mut m) = self.inner.lock() {
            m.steps
                .entry(action)
                .or_default()
                .observe(took.as_secs_f64());
            for c in calls {
                // Look up by reference: no allocation per call once a connection is known.
                let by_status = match m.calls.get_mut(c.connection.as_str()) {
                    Some(s) => s,
                    None => m.calls.entry(c.connection.clone()).or_default(),
                };
                *by_status.entry(c.status).or_default() += 1;
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn steps_land_in_their_bucket_and_calls_are_counted() {
        let m = Metrics::default();
        let call = ExternalCall {
            connection: "entra".into(),
            method: "GET".into(),
            url: "http://g/".into(),
            status: 200,
            duration_ms: 1,
            at: 0,
        };
        m.step("validate", Duration::from_millis(3), &[]);
        m.step(
            "entra.find_user",
            Duration::from_secs(60),
            &[call.clone(), call],
        );
        let s = m.snapshot();
        assert_eq!(s.steps["validate"].buckets[0], 1);
        assert_eq!(s.steps["entra.find_user"].buckets[STEP_BUCKETS.len()], 1);
        assert_eq!(s.calls["entra"][&200], 2);
    }
}
