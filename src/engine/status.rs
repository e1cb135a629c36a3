//! The states a run and a step can be in, and their names in the database.
//!
//! The store writes these names and every status change is guarded by the expected previous
//! status (see `store::runs`), so the database enforces the state machine.

use std::fmt;
use std::str::FromStr;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Ready to be claimed by a worker once `wake_at` has passed.
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Parked on a durable timer: a retry backoff or a `wait` step.
    Waiting,
    /// Parked by `validate` with `on_invalid: review` until a person corrects or rejects it.
    Review,
    /// Parked by an `approval` step until approved, rejected or timed out.
    Approval,
    Succeeded,
    Failed,
    Cancelled,
    Rejected,
}

impl RunStatus {
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Waiting,
        RunStatus::Review,
        RunStatus::Approval,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Review => "review",
            RunStatus::Approval => "approval",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Rejected => "rejected",
        }
    }

    /// A terminal run never changes again (except a manual retry of a failed one).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Rejected
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run status '{s}' (expected one of: {})",
                    RunStatus::ALL.map(|s| s.as_str()).join(", ")
                )
            })
    }
}

/// What happened to one step of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Succeeded,
    /// Its `if:` was false.
    Skipped,
    /// A transient failure; the run waits for the retry timer.
    Retrying,
    /// A `wait` step whose time has not come.
    Waiting,
    /// `validate` found invalid fields and parked the run for review.
    Review,
    /// An `approval` step waiting for a decision.
    Approval,
    Failed,
    Rejected,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Skipped => "skipped",
            StepStatus::Retrying => "retrying",
            StepStatus::Waiting => "waiting",
            StepStatus::Review => "review",
            StepStatus::Approval => "approval",
            StepStatus::Failed => "failed",
            StepStatus::Rejected => "rejected",
        }
    }

    /// A finished step's outputs are visible to later steps and it is never executed again.
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Skipped)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            StepStatus::Succeeded,
            StepStatus::Skipped,
            StepStatus::Retrying,
            StepStatus::Waiting,
            StepStatus::Review,
            StepStatus::Approval,
            StepStatus::Failed,
            StepStatus::Rejected,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown step status '{s}'"))
    }
}
