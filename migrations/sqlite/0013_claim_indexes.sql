-- Kept in step with migrations/postgres/0013_claim_indexes.sql, which changes PostgreSQL's
-- indexes and page space only: SQLite's `runs_ready (status, wake_at)` already ends with the
-- rowid (`seq`), so a claim reads just the entries it takes, and SQLite updates rows in place.
SELECT 1;
