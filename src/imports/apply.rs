//! Applying a prepared file: valid rows go through `Engine::observe_many` in batches (one
//! transaction each: subjects, events and runs), and each batch's row outcomes and the running
//! counts are stored right after it. A dry run goes through the same code in
//! `ObserveMode::Plan`: the same report, the events and runs it would produce, nothing written.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::report::{CellError, Counts, Outcome, PlaybookOutcome, Report, RowReport, Status};
use super::{ImportError, Prepared, PreparedRow};
use crate::clock::{now_ms, rfc3339};
use crate::engine::{Engine, EngineError};
use crate::playbook::Playbook;
use crate::store::{
    Dispatch, ImportRecord, ImportRowRecord, ObservationOutcome, ObservationRecord, ObserveMode,
};

/// Rows per transaction: large enough that commits cost little (a 10,000-row file is ten
/// commits), small enough that the engine's workers are not kept from the database for long
/// and the report's counts move while a large file is imported.
const BATCH: usize = 1000;

pub(super) async fn begin(engine: &Engine, prepared: &Prepared) -> Result<(), ImportError> {
    if prepared.dry_run {
        return Ok(());
    }
    let counts = Counts {
        rows: prepared.rows(),
        ..Counts::default()
    };
    engine
        .store()
        .create_import(ImportRecord {
            id: prepared.id.clone(),
            profile: prepared.profile.name.clone(),
            source: prepared.profile.source.clone(),
            file_name: prepared.file_name.clone(),
            status: Status::Running.as_str().into(),
            counts: counts.to_value(),
            error: None,
            created_at: prepared.created_at,
            finished_at: None,
        })
        .await?;
    Ok(())
}

pub(super) async fn execute(
    engine: &Engine,
    playbooks: &[Arc<Playbook>],
    mut prepared: Prepared,
    progress: &(dyn Fn(&Counts) + Send + Sync),
) -> Result<Report, ImportError> {
    let rows = std::mem::take(&mut prepared.rows);
    let mut counts = Counts {
        rows: rows.len() as u64,
        ..Counts::default()
    };
    let mut reports = Vec::with_capacity(rows.len());
    let result = batches(
        engine,
        playbooks,
        &prepared,
        rows,
        &mut counts,
        &mut reports,
        progress,
    )
    .await;
    let finished = now_ms();
    let (status, error) = match &result {
        Ok(()) => (Status::Completed, None),
        Err(e) => (Status::Failed, Some(e.to_string())),
    };
    if !prepared.dry_run {
        let ended = engine
            .store()
            .finish_import(
                prepared.id.clone(),
                status.as_str(),
                counts.to_value(),
                error.clone(),
                finished,
            )
            .await;
        // The batch's own error says more than a failure to record it.
        result?;
        ended?;
    } else {
        result?;
    }
    Ok(Report {
        id: prepared.id,
        profile: prepared.profile.name,
        source: prepared.profile.source,
        file: prepared.file_name,
        dry_run: prepared.dry_run,
        status,
        counts,
        error,
        created_at: rfc3339(prepared.created_at),
        finished_at: Some(rfc3339(finished)),
        rows: reports,
    })
}

async fn batches(
    engine: &Engine,
    playbooks: &[Arc<Playbook>],
    prepared: &Prepared,
    rows: Vec<PreparedRow>,
    counts: &mut Counts,
    reports: &mut Vec<RowReport>,
    progress: &(dyn Fn(&Counts) + Send + Sync),
) -> Result<(), ImportError> {
    let mode = if prepared.dry_run {
        ObserveMode::Plan
    } else {
        ObserveMode::Apply
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut people = Vec::new();
        let mut slots: Vec<(u64, Option<String>, Option<Vec<CellError>>)> = Vec::new();
        for row in rows.by_ref().take(BATCH) {
            match row.person {
                Ok(person) => {
                    people.push(person);
                    slots.push((row.number, row.id, None));
                }
                Err(errors) => slots.push((row.number, row.id, Some(errors))),
            }
        }
        let records = if people.is_empty() {
            Vec::new()
        } else {
            engine
                .observe_many(playbooks, &prepared.profile.source, people, mode)
                .await?
        };
        let mut records = records.into_iter();
        let first = reports.len();
        for (number, id, errors) in slots {
            let report = match errors {
                Some(errors) => RowReport {
                    row: number,
                    id,
                    outcome: Outcome::Invalid,
                    event: None,
                    changes: Map::new(),
                    playbooks: Vec::new(),
                    errors,
                },
                None => match records.next() {
                    Some(record) => row_report(number, id, record, prepared.dry_run),
                    None => {
                        return Err(ImportError::Engine(EngineError::Invalid(
                            "the engine returned fewer outcomes than observations".into(),
                        )))
                    }
                },
            };
            counts.add(&report);
            reports.push(report);
        }
        if !prepared.dry_run {
            let stored = reports[first..]
                .iter()
                .map(|r| ImportRowRecord {
                    row_number: r.row as i64,
                    subject_id: r.id.clone(),
                    outcome: r.outcome.as_str().into(),
                    event_id: r.event.clone(),
                    detail: serde_json::to_value(r).unwrap_or(Value::Null),
                })
                .collect();
            engine
                .store()
                .add_import_rows(prepared.id.clone(), stored, counts.to_value(), now_ms())
                .await?;
        }
        progress(counts);
    }
    Ok(())
}

fn row_report(
    number: u64,
    id: Option<String>,
    record: ObservationRecord,
    dry_run: bool,
) -> RowReport {
    let kind = record.event.as_ref().map(|(e, _)| e.kind.as_str());
    let outcome = Outcome::of_observation(&record.outcome, kind);
    let mut report = RowReport {
        row: number,
        id,
        outcome,
        event: None,
        changes: Map::new(),
        playbooks: Vec::new(),
        errors: Vec::new(),
    };
    if let (ObservationOutcome::Recorded { event_id, .. }, Some((event, dispatches))) =
        (&record.outcome, &record.event)
    {
        report.event = (!dry_run).then(|| event_id.clone());
        report.changes = event
            .body
            .get("changes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        report.playbooks = dispatches
            .iter()
            .map(|d| match d {
                Dispatch::Run(run) => PlaybookOutcome {
                    playbook: run.playbook.clone(),
                    run: (!dry_run).then(|| run.id.clone()),
                    filtered: false,
                },
                Dispatch::Filtered { playbook } => PlaybookOutcome {
                    playbook: playbook.clone(),
                    run: None,
                    filtered: true,
                },
            })
            .collect();
    }
    report
}
