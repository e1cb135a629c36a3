//! `/metrics` in the Prometheus text format: runs by status and the ready queue's depth (read
//! from the database at scrape time, so they are true for every process sharing it), and this
//! process's step latencies and external calls (counted since it started).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::error::AppError;
use super::ApiState;
use crate::clock::now_ms;
use crate::engine::metrics::{Snapshot, STEP_BUCKETS};
use crate::engine::status::RunStatus;

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

pub(super) const ROUTES: &[(&str, &str)] = &[("get", "/metrics")];

async fn metrics(State(state): State<ApiState>) -> Result<impl IntoResponse, AppError> {
    let store = state.engine.store();
    let counts = store.run_counts().await?;
    let ready = store.ready_runs(now_ms()).await?;
    let text = render(&counts, ready, &state.engine.metrics().snapshot());
    Ok(([(CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// The exposition text. Every run status appears, with 0 when no run has it.
pub fn render(counts: &[(RunStatus, i64)], ready: i64, m: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP roster_runs Runs in the database, by status.");
    let _ = writeln!(out, "# TYPE roster_runs gauge");
    for status in RunStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "roster_runs{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP roster_queue_depth Runs ready to execute now (queued, or their timer is due)."
    );
    let _ = writeln!(out, "# TYPE roster_queue_depth gauge");
    let _ = writeln!(out, "roster_queue_depth {ready}");
    let _ = writeln!(
        out,
        "# HELP roster_step_duration_seconds Time to execute a step, by action (this process)."
    );
    let _ = writeln!(out, "# TYPE roster_step_duration_seconds histogram");
    for (action, h) in &m.steps {
        let mut cumulative = 0;
        for (i, bound) in STEP_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i];
            let _ = writeln!(
                out,
                "roster_step_duration_seconds_bucket{{action=\"{action}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "roster_step_duration_seconds_bucket{{action=\"{action}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "roster_step_duration_seconds_sum{{action=\"{action}\"}} {}",
            h.sum_seconds
        );
        let _ = writeln!(
            out,
            "roster_step_duration_seconds_count{{action=\"{action}\"}} {}",
            h.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP roster_external_calls_total Requests steps sent to other systems, by connection and HTTP status (0: no response)."
    );
    let _ = writeln!(out, "# TYPE roster_external_calls_total counter");
    for (connection, by_status) in &m.calls {
        for (status, n) in by_status {
            let _ = writeln!(
                out,
                "roster_external_calls_total{{connection=\"{}\",status=\"{status}\"}} {n}",
                label(connection)
            );
        }
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
