//! Time-based triggers' state: `schedule_ticks` (one row per fired tick, so a tick fires once
//! across processes) and `date_timers` (durable `person.date` timers, kept in step with
//! observations by `Store::observe`).

use rusqlite::{params, TransactionBehavior};
use serde_json::Value;

use super::db::{on_pool, sql_for, Db, Get as _};

use super::events::{record, Dispatch, NewEvent};
use super::{parse_json, Store, StoreError};

/// What one observation means for one playbook's `person.date` trigger on one field.
#[derive(Debug, Clone)]
pub struct DateTimerPlan {
    pub playbook: String,
    pub field: String,
    pub offset_ms: i64,
    /// The field's value and the due time it gives; `None` drops the timer (no date, or the
    /// person left).
    pub target: Option<(String, i64)>,
    /// A timer created or moved with a due time before this is recorded as fired without
    /// firing: a start date two years ago is no reason to run pre-hire provisioning today.
    pub skip_before: i64,
}

/// An armed timer that is due, with the person it is for.
#[derive(Debug, Clone)]
pub struct DueDateTimer {
    pub playbook: String,
    pub field: String,
    pub source: String,
    pub subject_id: String,
    pub date: String,
    pub offset_ms: i64,
    pub due_at: i64,
    pub person: Value,
}

/// A timer as stored (for inspection and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct DateTimerRow {
    pub playbook: String,
    pub field: String,
    pub date: String,
    pub due_at: i64,
    pub fired_at: Option<i64>,
}

/// Applies the timer plans of one observation inside its transaction.
pub(super) fn apply_date_timers(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    subject_id: &str,
    plans: &[DateTimerPlan],
    now: i64,
) -> rusqlite::Result<usize> {
    let mut changed = 0;
    for p in plans {
        changed += match &p.target {
            None => tx
                .prepare_cached(
                    "DELETE FROM date_timers WHERE playbook = ? AND field = ? AND source = ? \
                     AND subject_id = ?",
                )?
                .execute(params![p.playbook, p.field, source, subject_id])?,
            Some((date, due_at)) => tx
                .prepare_cached(
                    "INSERT INTO date_timers (playbook, field, source, subject_id, date, offset_ms, \
                     due_at, fired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
                     CASE WHEN ?7 < ?8 THEN ?9 END) \
                     ON CONFLICT (playbook, field, source, subject_id) DO UPDATE SET \
                     date = excluded.date, offset_ms = excluded.offset_ms, due_at = excluded.due_at, \
                     fired_at = excluded.fired_at, event_id = NULL \
                     WHERE date_timers.due_at != excluded.due_at",
                )?
                .execute(params![
                    p.playbook,
                    p.field,
                    source,
                    subject_id,
                    date,
                    p.offset_ms,
                    due_at,
                    p.skip_before,
                    now
                ])?,
        };
    }
    Ok(changed)
}

impl Store {
    /// The latest tick fired for `playbook`, if any.
    pub async fn last_tick(&self, playbook: &str) -> Result<Option<i64>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar(&sql_for(
                pool,
                "SELECT MAX(tick_at) AS t FROM schedule_ticks WHERE playbook = ?",
            ))
            .bind(playbook)
            .fetch_one(pool)
            .await?)
        })
    }

    /// Records a schedule tick with its event and runs, in one transaction. `None` when the
    /// tick was fired before (by this or another process).
    pub async fn fire_tick(
        &self,
        playbook: String,
        tick_at: i64,
        event: NewEvent,
        dispatches: Vec<Dispatch>,
        now: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO schedule_ticks (playbook, tick_at, event_id, fired_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (playbook, tick_at) DO NOTHING",
            )
            .bind(&playbook)
            .bind(tick_at)
            .bind(&event.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(None);
            }
            let runs = super::pg::record(&mut tx, &event, &dispatches, now).await?;
            tx.commit().await?;
            return Ok(runs);
        }
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO schedule_ticks (playbook, tick_at, event_id, fired_at) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (playbook, tick_at) DO NOTHING",
                )?
                .execute(params![playbook, tick_at, event.id, now])?;
            if inserted == 0 {
                return Ok(None);
            }
            let runs = record(&tx, &event, &dispatches, now)?;
            tx.commit()?;
            Ok(runs)
        })
        .await
    }

    /// The earliest armed date timer's due time.
    pub async fn next_date_timer(&self) -> Result<Option<i64>, StoreError> {
        on_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT MIN(due_at) AS t FROM date_timers WHERE fired_at IS NULL",
            )
            .fetch_one(pool)
            .await?)
        })
    }

    /// Armed timers due at `now`, oldest first.
    pub async fn due_date_timers(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueDateTimer>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql_for(pool,
            "SELECT t.playbook, t.field, t.source, t.subject_id, t.date, t.offset_ms, t.due_at, \
             s.person FROM date_timers t JOIN subjects s \
             ON s.source = t.source AND s.subject_id = t.subject_id \
             WHERE t.fired_at IS NULL AND t.due_at <= ? ORDER BY t.due_at LIMIT ?",
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?;
            rows.iter()
                .map(|r| {
                    Ok(DueDateTimer {
                        playbook: r.try_get("playbook")?,
                        field: r.try_get("field")?,
                        source: r.try_get("source")?,
                        subject_id: r.try_get("subject_id")?,
                        date: r.try_get("date")?,
                        offset_ms: r.try_get("offset_ms")?,
                        due_at: r.try_get("due_at")?,
                        person: parse_json("subject", &r.try_get::<String>("person")?)?,
                    })
                })
                .collect()
        })
    }

    /// Marks a due timer fired and records its event (if any) and runs, in one transaction.
    /// `None` when the timer was fired, moved or dropped meanwhile (by this or another process).
    pub async fn fire_date_timer(
        &self,
        timer: DueDateTimer,
        fired: Option<(NewEvent, Vec<Dispatch>)>,
        now: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        if let Db::Postgres(db) = &self.db {
            let mut tx = db.pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE date_timers SET fired_at = $1, event_id = $2 WHERE playbook = $3 \
                 AND field = $4 AND source = $5 AND subject_id = $6 AND due_at = $7 \
                 AND fired_at IS NULL",
            )
            .bind(now)
            .bind(fired.as_ref().map(|(e, _)| e.id.clone()))
            .bind(&timer.playbook)
            .bind(&timer.field)
            .bind(&timer.source)
            .bind(&timer.subject_id)
            .bind(timer.due_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                return Ok(None);
            }
            let runs = match &fired {
                Some((event, dispatches)) => {
                    super::pg::record(&mut tx, event, dispatches, now).await?
                }
                None => Some(Vec::new()),
            };
            tx.commit().await?;
            return Ok(runs);
        }
        self.with_ingest(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let updated = tx
                .prepare_cached(
                    "UPDATE date_timers SET fired_at = ?, event_id = ? WHERE playbook = ? \
                     AND field = ? AND source = ? AND subject_id = ? AND due_at = ? \
                     AND fired_at IS NULL",
                )?
                .execute(params![
                    now,
                    fired.as_ref().map(|(e, _)| e.id.clone()),
                    timer.playbook,
                    timer.field,
                    timer.source,
                    timer.subject_id,
                    timer.due_at
                ])?;
            if updated == 0 {
                return Ok(None);
            }
            let runs = match &fired {
                Some((event, dispatches)) => record(&tx, event, dispatches, now)?,
                None => Some(Vec::new()),
            };
            tx.commit()?;
            Ok(runs)
        })
        .await
    }

    /// The date timers of one observed person.
    pub async fn date_timers(
        &self,
        source: &str,
        subject_id: &str,
    ) -> Result<Vec<DateTimerRow>, StoreError> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql_for(
                pool,
                "SELECT playbook, field, date, due_at, fired_at FROM date_timers \
             WHERE source = ? AND subject_id = ? ORDER BY playbook, field",
            ))
            .bind(source)
            .bind(subject_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(DateTimerRow {
                        playbook: r.try_get("playbook")?,
                        field: r.try_get("field")?,
                        date: r.try_get("date")?,
                        due_at: r.try_get("due_at")?,
                        fired_at: r.try_get("fired_at")?,
                    })
                })
                .collect()
        })
    }

    /// Every subject last observed from `source`: (id, person).
    pub async fn subjects(&self, source: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(&sql_for(
                pool,
                "SELECT subject_id, person FROM subjects WHERE source = ?",
            ))
            .bind(source)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, person)| Ok((id, parse_json("subject", &person)?)))
            .collect()
    }
}
