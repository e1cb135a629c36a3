//! `roster plan`: a dry run of a playbook. It evaluates every condition and template as a run
//! would, performs only read calls against the targets, and says per person what would be
//! created, changed, added and removed — without changing anything, not even the database.
//!
//! `planner` walks a compiled playbook for one person (the executor's own `Action::prepare`
//! renders each step); `classify` is the table of connector actions a plan may execute (reads)
//! or must preview (writes); `preview` is the vocabulary of a write's preview, which each
//! connector implements beside its actions with its own look-ups; `connectors::read_only`
//! refuses any request but GET and HEAD while planning, so a bug cannot write. `csv` finds the
//! people of a CSV file as the import would; `model` is the plan and `text` prints it.

mod classify;
pub mod csv;
mod model;
mod planner;
pub mod preview;
pub mod text;

pub use model::{InvalidRow, PersonOutcome, PersonPlan, Plan, PlannedStep, Summary};
pub use planner::Planner;
