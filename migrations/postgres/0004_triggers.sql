-- Triggers that fire on time: schedule ticks and person.date timers.

-- One row per schedule tick fired. The primary key makes a tick fire exactly once, even when
-- several processes run the scheduler: the second insert of (playbook, tick_at) changes nothing.
CREATE TABLE schedule_ticks (
    playbook   TEXT NOT NULL,
    tick_at    BIGINT NOT NULL,          -- the tick's time (Unix ms), not when it was fired
    event_id   TEXT NOT NULL,
    fired_at   BIGINT NOT NULL,
    PRIMARY KEY (playbook, tick_at)
);

-- Durable person.date timers, kept in step with observations: one per playbook, date field and
-- observed person. A changed date moves the timer (and arms it again); a person who left, or
-- whose date is gone, has none.
CREATE TABLE date_timers (
    playbook    TEXT NOT NULL,
    field       TEXT NOT NULL,
    source      TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    date        TEXT NOT NULL,            -- the field's value the timer was computed from
    offset_ms   BIGINT NOT NULL,
    due_at      BIGINT NOT NULL,
    fired_at    BIGINT,                  -- set when fired, or when created already long past (skipped)
    event_id    TEXT,
    PRIMARY KEY (playbook, field, source, subject_id)
);
CREATE INDEX date_timers_due ON date_timers (due_at) WHERE fired_at IS NULL;
