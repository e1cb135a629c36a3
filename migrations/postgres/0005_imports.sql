-- CSV imports: one row per import with its running counts, and the outcome of every data row.
-- Dry runs are not stored: their report is the answer to the request.

CREATE TABLE imports (
    id           TEXT PRIMARY KEY,
    profile      TEXT NOT NULL,
    source       TEXT NOT NULL,
    file_name    TEXT,
    status       TEXT NOT NULL,            -- running | completed | failed
    counts       TEXT NOT NULL,            -- JSON: rows, processed, invalid, joined, changed, ...
    error        TEXT,                     -- why a failed import stopped
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX imports_created ON imports (created_at);

-- One row per data row of the file, written with the batch that processed it.
CREATE TABLE import_rows (
    import_id   TEXT NOT NULL REFERENCES imports (id),
    row_number  BIGINT NOT NULL,          -- as a spreadsheet shows it: the header is row 1
    subject_id  TEXT,
    outcome     TEXT NOT NULL,             -- joined | changed | left | returned | unchanged | baseline | duplicate | invalid
    event_id    TEXT,
    detail      TEXT NOT NULL,             -- JSON: the row's report (errors, changes, runs)
    PRIMARY KEY (import_id, row_number)
);
