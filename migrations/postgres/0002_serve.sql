-- `roster serve`: API tokens and the record of every external call a step made.

-- Bearer tokens for the HTTP API. Only the SHA-256 of a token is stored; `id` is the public part
-- of the token (`rst_<id>_<secret>`) that finds the row before the hash is compared.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,             -- hex SHA-256 of the whole token
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- The audit trail: every request a step sent, written in the transaction that records the step.
-- No headers or bodies; the URL has no query string. Clustered by run (WITHOUT ROWID): one
-- b-tree insert per call on the step writer's hot path, and a run's calls are read in one range.
-- (`execution`, `seq`) is unique per step: an execution's calls are committed once, and a later
-- execution of the same step starts after that commit.
CREATE TABLE external_calls (
    run_id       TEXT NOT NULL,
    step_idx     BIGINT NOT NULL,
    execution    BIGINT NOT NULL,          -- when the step's execution that sent it started (Unix ms)
    seq          BIGINT NOT NULL,          -- its place among that execution's calls
    attempt      BIGINT NOT NULL,          -- the step's attempt that made the call
    connection   TEXT NOT NULL,
    method       TEXT NOT NULL,
    url          TEXT NOT NULL,
    status       BIGINT NOT NULL,          -- 0: no response (network error, timeout)
    duration_ms  BIGINT NOT NULL,
    at           BIGINT NOT NULL,          -- when it was sent (Unix ms)
    PRIMARY KEY (run_id, step_idx, execution, seq)
);
