//! The import report: running counts and, per data row, the event it produced (or would, in a
//! dry run) and the runs it started, or every error with its column and reason. Exported as
//! JSON (the API, `--json`) and as CSV with spreadsheet formulas neutralised.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::{ImportRecord, ImportRowRecord, ObservationOutcome};

/// What one row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Joined,
    Changed,
    Left,
    Returned,
    /// Same as the last import: nothing recorded, nothing started.
    Unchanged,
    /// First seen already gone (suspended or terminated): remembered, nothing started.
    Baseline,
    /// The same change was recorded before (its idempotency key): nothing started.
    Duplicate,
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Joined => "joined",
            Outcome::Changed => "changed",
            Outcome::Left => "left",
            Outcome::Returned => "returned",
            Outcome::Unchanged => "unchanged",
            Outcome::Baseline => "baseline",
            Outcome::Duplicate => "duplicate",
            Outcome::Invalid => "invalid",
        }
    }

    /// The outcome of an event type.
    pub fn of_event(kind: &str) -> Outcome {
        match kind {
            "person.joined" => Outcome::Joined,
            "person.left" => Outcome::Left,
            "person.returned" => Outcome::Returned,
            _ => Outcome::Changed,
        }
    }

    pub fn of_observation(outcome: &ObservationOutcome, kind: Option<&str>) -> Outcome {
        match outcome {
            ObservationOutcome::Unchanged => Outcome::Unchanged,
            ObservationOutcome::Baseline => Outcome::Baseline,
            ObservationOutcome::Duplicate => Outcome::Duplicate,
            ObservationOutcome::Recorded { .. } => Outcome::of_event(kind.unwrap_or_default()),
        }
    }
}

/// A problem with one row: the column (when it is about one cell) and the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub reason: String,
}

impl CellError {
    pub fn row(reason: String) -> CellError {
        CellError {
            column: None,
            reason,
        }
    }

    pub fn column(column: &str, reason: String) -> CellError {
        CellError {
            column: Some(column.to_string()),
            reason,
        }
    }
}

/// What a row's event does to one playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybookOutcome {
    pub playbook: String,
    /// The run started (`None` in a dry run, or when filtered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The playbook's `where:` was false: no run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filtered: bool,
}

/// One data row of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowReport {
    /// As a spreadsheet shows it: the header is row 1.
    pub row: u64,
    /// The person's id (the key column), when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outcome: Outcome,
    /// The event recorded (`None` in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// For `changed`: `{field: {from, to}}`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub changes: Map<String, Value>,
    /// The playbooks the event starts (or would start) or that filtered it out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub playbooks: Vec<PlaybookOutcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<CellError>,
}

/// Running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Data rows in the file.
    pub rows: u64,
    /// Rows processed so far.
    pub processed: u64,
    pub invalid: u64,
    pub joined: u64,
    pub changed: u64,
    pub left: u64,
    pub returned: u64,
    pub unchanged: u64,
    pub baseline: u64,
    pub duplicate: u64,
    /// Runs started (or, in a dry run, that would start).
    pub runs: u64,
}

impl Counts {
    pub fn add(&mut self, row: &RowReport) {
        self.processed += 1;
        let n = match row.outcome {
            Outcome::Joined => &mut self.joined,
            Outcome::Changed => &mut self.changed,
            Outcome::Left => &mut self.left,
            Outcome::Returned => &mut self.returned,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Baseline => &mut self.baseline,
            Outcome::Duplicate => &mut self.duplicate,
            Outcome::Invalid => &mut self.invalid,
        };
        *n += 1;
        self.runs += row.playbooks.iter().filter(|p| !p.filtered).count() as u64;
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// An import's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "completed" => Status::Completed,
            "failed" => Status::Failed,
            _ => Status::Running,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The import's id (a dry run's is not stored).
    pub id: String,
    pub profile: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub dry_run: bool,
    pub status: Status,
    pub counts: Counts,
    /// Why a failed import stopped (the rows before it are processed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub rows: Vec<RowReport>,
}

impl Report {
    /// A stored import and its rows.
    pub fn from_records(import: ImportRecord, rows: Vec<ImportRowRecord>) -> Report {
        Report {
            id: import.id,
            profile: import.profile,
            source: import.source,
            file: import.file_name,
            dry_run: false,
            status: Status::parse(&import.status),
            counts: serde_json::from_value(import.counts).unwrap_or_default(),
            error: import.error,
            created_at: crate::clock::rfc3339(import.created_at),
            finished_at: import.finished_at.map(crate::clock::rfc3339),
            rows: rows
                .into_iter()
                .filter_map(|r| serde_json::from_value(r.detail).ok())
                .collect(),
        }
    }

    /// One CSV line per row (per error for an invalid row): `row, id, outcome, column, reason,
    /// event, playbooks`. Cells a spreadsheet would run as a formula are neutralised.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut line = |cells: [&str; 7]| {
            let cells = cells.map(neutralise);
            // Writing to memory cannot fail.
            let _ = w.write_record(cells.iter().map(String::as_str));
        };
        line([
            "row",
            "id",
            "outcome",
            "column",
            "reason",
            "event",
            "playbooks",
        ]);
        for r in &self.rows {
            let row = r.row.to_string();
            let id = r.id.as_deref().unwrap_or_default();
            let event = r.event.as_deref().unwrap_or_default();
            let playbooks = r
                .playbooks
                .iter()
                .map(|p| match (&p.run, p.filtered) {
                    (_, true) => format!("{} (filtered)", p.playbook),
                    (Some(run), _) => format!("{} ({run})", p.playbook),
                    (None, _) => p.playbook.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            if r.errors.is_empty() {
                let changed = r.changes.keys().cloned().collect::<Vec<_>>().join("; ");
                line([
                    &row,
                    id,
                    r.outcome.as_str(),
                    &changed,
                    "",
                    event,
                    &playbooks,
                ]);
            }
            for e in &r.errors {
                line([
                    &row,
                    id,
                    r.outcome.as_str(),
                    e.column.as_deref().unwrap_or_default(),
                    &e.reason,
                    event,
                    &playbooks,
                ]);
            }
        }
        w.into_inner().unwrap_or_default()
    }
}

/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`
/// so a spreadsheet shows it as text instead of evaluating it (OWASP: CSV injection).
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("Jane"), "Jane");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn csv_has_one_line_per_error() {
        let report = Report {
            id: "i".into(),
            profile: "hr".into(),
            source: "hr".into(),
            file: None,
            dry_run: false,
            status: Status::Completed,
            counts: Counts::default(),
            error: None,
            created_at: String::new(),
            finished_at: None,
            rows: vec![RowReport {
                row: 3,
                id: Some("=HYPERLINK(\"x\")".into()),
                outcome: Outcome::Invalid,
                event: None,
                changes: Map::new(),
                playbooks: vec![],
                errors: vec![
                    CellError::column("Start Date", "bad".into()),
                    CellError::row("short".into()),
                ],
            }],
        };
        let text = String::from_utf8(report.to_csv()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("3,\"'=HYPERLINK(\"\"x\"\")\",invalid,Start Date,bad"));
    }
}
