//! The people of a CSV file, as the import would see them: the rows are read with the import
//! profile (`imports::prepare`), invalid ones listed with their row and column errors, and the
//! valid ones observed in `ObserveMode::Plan` (diffed against the stored subjects, nothing
//! written) to find the event each would fire. A row is planned when that event is one of the
//! playbook's triggers; a playbook without person triggers (run by hand) is planned for every
//! valid row, as `roster run` would start it. Two rows that would create the same account are
//! told apart as their runs would: the later one takes the next free name.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use super::model::{InvalidRow, PersonOutcome, PersonPlan, Plan};
use super::Planner;
use crate::clock::now_ms;
use crate::engine::{dispatch, Engine};
use crate::imports::{ImportError, Outcome, Prepared};
use crate::playbook::{Playbook, Trigger};
use crate::store::{Dispatch, ObservationOutcome, ObserveMode};

/// Rows observed per read transaction (as the import batches them).
const BATCH: usize = 1000;

/// People planned at once: reads to the targets overlap, within the connections' limits.
const CONCURRENT: usize = 8;

/// What to plan for one valid row.
struct Row {
    number: u64,
    person: Value,
    observation: Outcome,
    dispatch: Option<Dispatch>,
}

/// Plans `pb` for every row of `prepared`. `engine` reads the stored subjects (and its
/// scripting engine evaluates the dispatch: load `pb` with it).
pub async fn plan(
    planner: Planner<'_>,
    engine: &Engine,
    pb: Arc<Playbook>,
    prepared: Prepared,
) -> Result<Plan, ImportError> {
    let source = prepared.profile.source.clone();
    let mut invalid = Vec::new();
    let mut valid = Vec::new();
    for row in prepared.into_rows() {
        match row.person {
            Ok(person) => valid.push((row.number, person)),
            Err(errors) => invalid.push(InvalidRow {
                row: row.number,
                id: row.id,
                errors,
            }),
        }
    }
    let manual_only = !pb
        .triggers
        .iter()
        .any(|t| matches!(t, Trigger::Person { .. }))
        && pb.triggers.contains(&Trigger::Manual);
    let playbooks = [pb.clone()];
    let mut rows = Vec::with_capacity(valid.len());
    for chunk in valid.chunks(BATCH) {
        let people: Vec<Value> = chunk.iter().map(|(_, p)| p.clone()).collect();
        let records = engine
            .observe_many(&playbooks, &source, people, ObserveMode::Plan)
            .await?;
        for ((number, person), record) in chunk.iter().zip(records) {
            let kind = record.event.as_ref().map(|(e, _)| e.kind.clone());
            let observation = Outcome::of_observation(&record.outcome, kind.as_deref());
            let fires = matches!(record.outcome, ObservationOutcome::Recorded { .. });
            let dispatch = match record.event {
                Some((_, dispatches)) if fires && !dispatches.is_empty() => {
                    dispatches.into_iter().next()
                }
                _ if manual_only => {
                    let event = dispatch::manual_event(person, None, now_ms());
                    Some(dispatch::plan(engine.scripting(), &pb, &event, person))
                }
                _ => None,
            };
            rows.push(Row {
                number: *number,
                person: person.clone(),
                observation,
                dispatch,
            });
        }
    }
    let plan_row = |row: &Row, reserved: Arc<HashSet<String>>| {
        let pb = pb.clone();
        let (dispatch, person) = (row.dispatch.clone(), row.person.clone());
        let (number, observation) = (row.number, row.observation.as_str());
        async move {
            let mut p = match &dispatch {
                Some(d) => planner.plan_reserving(&pb, d, &person, reserved).await,
                None => {
                    let mut p = PersonPlan::new(&person, None, PersonOutcome::NotStarted);
                    p.message = Some(format!(
                        "the import would start no run for it ({observation})"
                    ));
                    p
                }
            };
            p.row = Some(number);
            p.observation = Some(observation.to_string());
            p
        }
    };
    // Everyone at once: the reads overlap.
    let mut people: Vec<PersonPlan> = stream::iter(&rows)
        .map(|row| plan_row(row, Arc::default()))
        .buffered(CONCURRENT)
        .collect()
        .await;
    // Then in row order: a person whose new account an earlier row would create first is
    // planned again with those accounts taken (the next free name, as their run would find).
    let mut reserved: HashSet<String> = HashSet::new();
    for (row, p) in rows.iter().zip(people.iter_mut()) {
        if p.creates().any(|name| reserved.contains(&name)) {
            *p = plan_row(row, Arc::new(reserved.clone())).await;
        }
        reserved.extend(p.creates());
    }
    Ok(Plan::new(&pb.name, people, invalid))
}
