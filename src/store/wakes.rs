//! Parked `wait` steps woken by an event (`wake_on: [person.returned]`): an offboarding's grace
//! period ends early when the person comes back, in the same transaction that records the event.

use rusqlite::params;

use super::events::NewEvent;
use super::json_text;

/// Marks every `wait` step parked for `event.subject_id` that listens for `event.kind` as woken
/// by the event and makes its run due now. Returns how many runs were woken.
pub(super) fn wake_waiting(
    tx: &rusqlite::Transaction<'_>,
    event: &NewEvent,
    now: i64,
) -> rusqlite::Result<usize> {
    let Some(subject) = event.subject_id.as_deref() else {
        return Ok(0);
    };
    // The step at the run's cursor is the parked one; a step woken once keeps its first event.
    let mut woken = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE steps SET outputs = json_set(outputs, '$.woken_by', json(?3)) \
             WHERE (run_id, idx) IN (SELECT id, cursor FROM runs \
                                     WHERE subject = ?1 AND status = 'waiting') \
               AND status = 'waiting' \
               AND json_extract(outputs, '$.woken_by') IS NULL \
               AND EXISTS (SELECT 1 FROM json_each(outputs, '$.wake_on') WHERE value = ?2) \
             RETURNING run_id",
        )?;
        let rows = stmt.query_map(
            params![subject, event.kind, json_text(&event.body)],
            |row| row.get::<_, String>(0),
        )?;
        for r in rows {
            woken.push(r?);
        }
    }
    for run in &woken {
        tx.prepare_cached(
            "UPDATE runs SET wake_at = ?1, updated_at = ?1 WHERE id = ?2 AND status = 'waiting'",
        )?
        .execute(params![now, run])?;
    }
    Ok(woken.len())
}
