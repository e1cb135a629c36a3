-- The engine's durable state on SQLite. Timestamps are Unix milliseconds (INTEGER) so that the
-- claim query compares numbers on both backends; JSON documents are stored as TEXT.

-- Every playbook text a run was started with, so a run pins the version it began with even after
-- the file on disk changes.
CREATE TABLE playbook_versions (
    hash        TEXT PRIMARY KEY,          -- sha256 of the source text
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- The last observed state of every (source, id): the base the next observation is diffed against.
CREATE TABLE subjects (
    source       TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    person       TEXT NOT NULL,
    observed_at  INTEGER NOT NULL,
    PRIMARY KEY (source, subject_id)
);

-- Accepted events. The idempotency key makes a duplicate a no-op.
CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    source           TEXT,
    subject_id       TEXT,
    body             TEXT NOT NULL,       -- the event as playbooks see it (type, source, changes, person, ...)
    received_at      INTEGER NOT NULL
);

-- What each event did to each playbook whose trigger matched: a run, or filtered by `where:`.
CREATE TABLE dispatches (
    event_id  TEXT NOT NULL,
    playbook  TEXT NOT NULL,
    outcome   TEXT NOT NULL,              -- run | filtered
    run_id    TEXT,
    PRIMARY KEY (event_id, playbook)
);

CREATE TABLE runs (
    seq              INTEGER PRIMARY KEY,  -- submission order: FIFO per concurrency key
    id               TEXT NOT NULL UNIQUE,
    playbook         TEXT NOT NULL,
    playbook_hash    TEXT NOT NULL REFERENCES playbook_versions (hash),
    event_id         TEXT,
    subject          TEXT,                 -- the person's id, for listing and filtering
    concurrency_key  TEXT,
    status           TEXT NOT NULL,
    cursor           INTEGER NOT NULL DEFAULT 0,   -- index of the next step to execute
    failed_at        INTEGER,                      -- index of the step that failed, for retry
    attempt          INTEGER NOT NULL DEFAULT 1,   -- bumped by a manual retry
    person           TEXT NOT NULL,
    event            TEXT NOT NULL,
    vars             TEXT NOT NULL,
    error            TEXT,
    wake_at          INTEGER,
    lease_owner      TEXT,
    lease_expires    INTEGER,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX runs_ready ON runs (status, wake_at);
CREATE INDEX runs_key ON runs (concurrency_key, seq) WHERE concurrency_key IS NOT NULL;
CREATE INDEX runs_lease ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_playbook ON runs (playbook, seq);

-- One row per executed step of a run, written in the same transaction that moves the run on.
CREATE TABLE steps (
    run_id       TEXT NOT NULL,
    idx          INTEGER NOT NULL,
    step_id      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    outputs      TEXT,
    error        TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
);
