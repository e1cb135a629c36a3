-- Indexes and page space for the claim and the step commits, from the onboarding benchmark
-- (10,000 runs queued at once; pg_stat_statements and auto_explain):
--
-- * The claim takes the first `limit` due runs in (wake_at, seq) order. Searched through
--   `runs_ready (status, wake_at)`, PostgreSQL read every queued run and sorted them to find
--   the first few: 23 ms per claim with 4,000 queued, more than half of the database's time.
--   This partial index holds the due-able runs in claim order, so the scan stops after
--   `limit` entries. (SQLite's `runs_ready` ends with the rowid, which is `seq`.)
CREATE INDEX runs_due ON runs (wake_at, seq) WHERE status IN ('queued', 'waiting', 'approval');

-- * Expired leases and the next lease to expire are found through this index of the running
--   runs. It replaces `runs_lease`: every look-up by lease owner is one of running runs.
CREATE INDEX runs_lease_expiry ON runs (lease_expires) WHERE status = 'running';
DROP INDEX runs_lease;

-- * Every step commit updates its run. In full pages those updates could not be HOT, so each
--   one added an entry to every index of `runs`: the 'running' range of `runs_ready` grew by
--   one dead entry per step, and the look-ups of leases read them all (6,618 entries for 55
--   running runs). Free space in each page lets a step's update stay on its page (status,
--   wake_at and the lease do not change between steps) and touch no index.
ALTER TABLE runs SET (fillfactor = 50);
