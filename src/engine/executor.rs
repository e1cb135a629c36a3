//! Executes one claimed run, step by step, until it finishes or parks.
//!
//! Each step's result and the run's next position are committed together (group commit through
//! the store's `StepWriter`) before the next step starts, so a crash loses at most the step in
//! flight, which then executes again: steps are at-least-once, and actions are written as
//! idempotent "ensure" operations so the effect is once. Retries and waits never sleep here:
//! they park the run with a `wake_at` and give the worker slot back.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::status::{RunStatus, StepStatus};
use super::worker::Shared;
use super::EngineError;
use crate::actions::{ActionEnv, ActionError, Outcome, Park, Previous, Ready, StepContext};
use crate::clock::{now_ms, rfc3339};
use crate::connectors::calls::{self, ExternalCall};
use crate::playbook::{Playbook, Step};
use crate::script::Context;
use crate::store::{Claimed, RunUpdate, StepCommit, StepRecord, StepRow};

/// Drives a run and logs why it stopped early, if it did (it resumes once its lease expires).
pub(super) async fn drive(shared: Arc<Shared>, claimed: Claimed, claimed_at: i64) {
    let id = claimed.id.clone();
    if let Err(e) = Execution::start(&shared, claimed, claimed_at).await {
        tracing::warn!(run = %id, error = %e, "run interrupted; it resumes when its lease expires");
    }
}

/// How a step ended, as the run records it.
enum StepEnd {
    Done(Value),
    Skipped,
    Parked(Park),
    Retry { message: String, wake_at: i64 },
    Failed(String),
}

struct Execution<'s> {
    shared: &'s Shared,
    claimed: Claimed,
    playbook: Arc<Playbook>,
    /// `steps.<id>` as later steps see them.
    steps: Value,
    /// Earlier records of steps at or after the cursor (parked or retrying steps).
    previous: HashMap<i64, StepRow>,
    run_info: Value,
    /// The failure the `on_failure` steps are handling.
    error: Option<Value>,
    cursor: usize,
}

impl<'s> Execution<'s> {
    async fn start(
        shared: &'s Shared,
        claimed: Claimed,
        claimed_at: i64,
    ) -> Result<(), EngineError> {
        let playbook = match shared.engine.version(&claimed.playbook_hash).await {
            Ok(p) => p,
            Err(e) => {
                // The pinned version cannot run any more; fail the run visibly.
                let update = run_update(
                    RunStatus::Failed,
                    claimed.cursor,
                    None,
                    Some(e.to_string()),
                    Some(claimed.cursor),
                );
                let commit = StepCommit {
                    run_id: claimed.id.clone(),
                    owner: shared.owner.clone(),
                    expected_cursor: claimed.cursor,
                    step: None,
                    run: update,
                };
                shared.writer.commit(commit).await?;
                shared.engine.notify_change(&claimed.id, RunStatus::Failed);
                return Ok(());
            }
        };
        // A run claimed for the first time has no step records yet: skip the read.
        let first_claim =
            claimed.cursor == 0 && claimed.attempt == 1 && claimed.started_at == claimed_at;
        let rows = if first_claim {
            Vec::new()
        } else {
            shared.engine.store().steps_of(&claimed.id).await?
        };
        // The failed step's own record holds the failure as the handler first saw it; the run's
        // error is the same message prefixed with the step.
        let error = claimed.error.as_ref().map(|m| {
            rows.iter()
                .filter(|r| {
                    r.status == StepStatus::Failed && (r.idx as usize) < playbook.steps.len()
                })
                .max_by_key(|r| r.idx)
                .map_or_else(
                    || json!({ "message": m }),
                    |r| json!({ "step": r.step_id, "message": r.error.as_deref().unwrap_or(m) }),
                )
        });
        let mut steps = Map::new();
        let mut previous = HashMap::new();
        for r in rows {
            if r.idx < claimed.cursor && r.status.is_done() {
                steps.insert(r.step_id.clone(), r.outputs.clone());
            } else if r.idx >= claimed.cursor {
                previous.insert(r.idx, r);
            }
        }
        let run_info = json!({
            "id": claimed.id, "attempt": claimed.attempt,
            "started_at": rfc3339(claimed.started_at), "playbook": playbook.name,
        });
        let cursor = claimed.cursor.max(0) as usize;
        let mut exec = Execution {
            shared,
            claimed,
            playbook,
            steps: Value::Object(steps),
            previous,
            run_info,
            error,
            cursor,
        };
        exec.run().await
    }

    async fn run(&mut self) -> Result<(), EngineError> {
        loop {
            if self.shared.stopping.load(Ordering::Relaxed) {
                return Ok(()); // Left for the next worker; the lease is released on shutdown.
            }
            let playbook = self.playbook.clone();
            let Some(step) = playbook.step_at(self.cursor) else {
                // Defensive: the last step's commit normally finishes the run; a cursor past the
                // end (a pinned version shorter than the cursor) finishes it here instead.
                let status = if self.error.is_some() {
                    RunStatus::Failed
                } else {
                    RunStatus::Succeeded
                };
                let update = run_update(status, self.cursor as i64, None, None, None);
                self.commit(None, update).await?;
                return Ok(());
            };
            let started = now_ms();
            let prev = self.previous.remove(&(self.cursor as i64));
            let attempt = match &prev {
                Some(p) if p.status == StepStatus::Retrying => p.attempts + 1,
                Some(p)
                    if matches!(
                        p.status,
                        StepStatus::Waiting | StepStatus::Approval | StepStatus::Review
                    ) =>
                {
                    p.attempts
                }
                _ => 1,
            };
            let (end, calls) = self.execute(step, prev.as_ref(), attempt).await;
            let finished = now_ms();
            self.shared.engine.metrics.step(
                step.action.name(),
                std::time::Duration::from_millis((finished - started).max(0) as u64),
                &calls,
            );
            let mut calls = calls::to_json(&calls, attempt);
            let in_failure = playbook.in_failure_handler(self.cursor);
            let mut record =
                |status: StepStatus, outputs: Option<&Value>, error: Option<String>| StepRecord {
                    idx: 0,
                    step_id: step.id.clone(),
                    status,
                    attempts: attempt,
                    outputs: outputs.map(Value::to_string),
                    error,
                    started_at: started,
                    finished_at: finished,
                    calls: calls.take(),
                };
            let cursor = self.cursor as i64;
            match end {
                StepEnd::Done(_) | StepEnd::Skipped => {
                    let (step_status, outputs) = match end {
                        StepEnd::Done(outputs) => (StepStatus::Succeeded, outputs),
                        _ => (StepStatus::Skipped, json!({ "skipped": true })),
                    };
                    let next = self.cursor + 1;
                    let status = if !in_failure && next == playbook.steps.len() {
                        RunStatus::Succeeded
                    } else if in_failure && next == playbook.total_steps() {
                        RunStatus::Failed
                    } else {
                        RunStatus::Running
                    };
                    let rec = record(step_status, Some(&outputs), None);
                    if !self
                        .commit(Some(rec), run_update(status, next as i64, None, None, None))
                        .await?
                    {
                        return Ok(());
                    }
                    if let Some(m) = self.steps.as_object_mut() {
                        m.insert(step.id.clone(), outputs);
                    }
                    self.cursor = next;
                    if status != RunStatus::Running {
                        return Ok(());
                    }
                }
                StepEnd::Parked(park) => {
                    let (step_status, run_status, wake_at, outputs) = match park {
                        Park::Until { wake_at, outputs } => (
                            StepStatus::Waiting,
                            RunStatus::Waiting,
                            Some(wake_at),
                            outputs,
                        ),
                        Park::Review { outputs } => {
                            (StepStatus::Review, RunStatus::Review, None, outputs)
                        }
                        Park::Approval {
                            timeout_at,
                            outputs,
                        } => (
                            StepStatus::Approval,
                            RunStatus::Approval,
                            timeout_at,
                            outputs,
                        ),
                    };
                    let rec = record(step_status, Some(&outputs), None);
                    self.commit(
                        Some(rec),
                        run_update(run_status, cursor, wake_at, None, None),
                    )
                    .await?;
                    return Ok(());
                }
                StepEnd::Retry { message, wake_at } => {
                    let rec = record(StepStatus::Retrying, None, Some(message));
                    self.commit(
                        Some(rec),
                        run_update(RunStatus::Waiting, cursor, Some(wake_at), None, None),
                    )
                    .await?;
                    return Ok(());
                }
                StepEnd::Failed(message) => {
                    let rec = record(StepStatus::Failed, None, Some(message.clone()));
                    let handler = !in_failure && !playbook.on_failure.is_empty();
                    let update = if in_failure {
                        // The original failure stays the run's error; this one is on the step.
                        run_update(RunStatus::Failed, cursor, None, None, None)
                    } else if handler {
                        let msg = format!("step '{}' failed: {message}", step.id);
                        run_update(
                            RunStatus::Running,
                            playbook.steps.len() as i64,
                            None,
                            Some(msg),
                            Some(cursor),
                        )
                    } else {
                        let msg = format!("step '{}' failed: {message}", step.id);
                        run_update(RunStatus::Failed, cursor, None, Some(msg), Some(cursor))
                    };
                    if !self.commit(Some(rec), update).await? || !handler {
                        return Ok(());
                    }
                    self.error = Some(json!({ "step": step.id, "message": message }));
                    self.cursor = playbook.steps.len();
                }
            }
        }
    }

    /// Evaluates the step's condition and arguments: `None` when its `if:` is false.
    fn prepare(&self, step: &Step, prev: Option<&StepRow>) -> Result<Option<Ready>, String> {
        let extra_storage;
        let extra: &[(&str, &Value)] = match &self.error {
            Some(e) => {
                extra_storage = [("error", e)];
                &extra_storage
            }
            None => &[],
        };
        // Only actions that deliver a secret to its recipient (email.send) see it opened;
        // every other step sees the sealed value.
        let revealed;
        let steps = if step.action.reveals_secrets() {
            revealed = self.shared.engine.secrets.reveal(&self.steps);
            &revealed
        } else {
            &self.steps
        };
        let vars = Context::new(
            &self.claimed.person,
            &self.claimed.event,
            &self.claimed.vars,
            steps,
            &self.run_info,
        )
        .with_extra(extra);
        let scripting = &self.shared.engine.scripting;
        if let Some(cond) = &step.condition {
            match scripting.eval_bool(cond, &vars) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(format!("if: {e}")),
            }
        }
        let cx = StepContext {
            scripting,
            vars,
            previous: prev.map(|p| Previous {
                status: p.status,
                outputs: &p.outputs,
            }),
            now: now_ms(),
        };
        // Preparing does no I/O, so whatever fails here fails the same way again.
        step.action
            .prepare(&cx)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Executes one step (its condition, then its action under its timeout); returns how it
    /// ended and the external calls it made.
    async fn execute(
        &self,
        step: &Step,
        prev: Option<&StepRow>,
        attempt: i64,
    ) -> (StepEnd, Vec<ExternalCall>) {
        let ready = match self.prepare(step, prev) {
            Ok(Some(ready)) => ready,
            Ok(None) => return (StepEnd::Skipped, Vec::new()),
            Err(e) => return (StepEnd::Failed(e), Vec::new()),
        };
        if let Ready::Done(outcome) = ready {
            // A control action: nothing external to record.
            return (self.end(step, attempt, Ok(outcome)), Vec::new());
        }
        let (result, calls) = calls::collect(self.call(step, ready)).await;
        (self.end(step, attempt, result), calls)
    }

    /// The action's external work, under the step's timeout.
    async fn call(&self, step: &Step, ready: Ready) -> Result<Outcome, ActionError> {
        let engine = &self.shared.engine;
        let call = ready.finish(ActionEnv {
            http: &engine.http,
            connections: &engine.connections,
        });
        match step.timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(r) => r,
                Err(_) => Err(ActionError::Transient {
                    message: format!("timed out after {}", humantime::format_duration(limit)),
                    retry_after: None,
                }),
            },
            None => call.await,
        }
    }

    /// What an action's result means for the step: sealed outputs, a park, a retry or a failure.
    fn end(&self, step: &Step, attempt: i64, result: Result<Outcome, ActionError>) -> StepEnd {
        let engine = &self.shared.engine;
        match result {
            Ok(Outcome::Done(mut outputs)) => {
                // Secret outputs (a generated password) are stored sealed, never in clear text.
                engine.secrets.seal_outputs(&mut outputs);
                StepEnd::Done(outputs)
            }
            Ok(Outcome::Park(p)) => StepEnd::Parked(p),
            Err(ActionError::Permanent(m)) => StepEnd::Failed(m),
            Err(ActionError::Transient {
                message,
                retry_after,
            }) => {
                let failures = attempt.max(1) as u32;
                if step.retry.allows_retry(failures) {
                    let delay = step.retry.delay(failures, retry_after);
                    tracing::debug!(run = %self.claimed.id, step = %step.id, attempt, ?delay, %message, "transient failure; retrying");
                    StepEnd::Retry {
                        message: format!("attempt {attempt} of {}: {message}", step.retry.attempts),
                        wake_at: now_ms() + delay.as_millis() as i64,
                    }
                } else {
                    StepEnd::Failed(format!("{message} (gave up after {attempt} attempts)"))
                }
            }
        }
    }

    /// Commits a step and the run's new position; `false` when the run was cancelled or another
    /// worker holds it now (nothing was written; this execution stops).
    async fn commit(&self, step: Option<StepRecord>, run: RunUpdate) -> Result<bool, EngineError> {
        let status = run.status;
        let step = step.map(|mut s| {
            s.idx = self.cursor as i64;
            s
        });
        let applied = self
            .shared
            .writer
            .commit(StepCommit {
                run_id: self.claimed.id.clone(),
                owner: self.shared.owner.clone(),
                expected_cursor: self.cursor as i64,
                step,
                run,
            })
            .await?;
        if !applied {
            tracing::info!(run = %self.claimed.id, "run was cancelled or taken over; stopping");
            return Ok(false);
        }
        if status != RunStatus::Running {
            self.shared.engine.notify_change(&self.claimed.id, status);
        }
        Ok(true)
    }
}

fn run_update(
    status: RunStatus,
    cursor: i64,
    wake_at: Option<i64>,
    error: Option<String>,
    failed_at: Option<i64>,
) -> RunUpdate {
    RunUpdate {
        status,
        cursor,
        wake_at,
        error,
        failed_at,
        now: now_ms(),
    }
}
