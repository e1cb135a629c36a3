-- The web console's sign-in sessions, kept on the server so that signing out, or revoking the
-- API token a session was opened with, ends it at once (a signed cookie could not be recalled
-- before it expired). The cookie holds a random 256-bit value; only its SHA-256 is stored, so
-- reading this table does not give a session away.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,           -- hex SHA-256 of the cookie's value
    csrf        TEXT NOT NULL,              -- the token every form of the session carries
    principal   TEXT NOT NULL,              -- who decisions are recorded as: token:<name> or admin
    token_id    TEXT REFERENCES api_tokens (id),   -- the API token signed in with, if any
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
