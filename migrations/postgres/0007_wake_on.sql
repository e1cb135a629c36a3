-- A `wait` step with `wake_on:` ends early when an event of those types arrives for the run's
-- person: events look up the parked runs of their subject, so index exactly those.
CREATE INDEX runs_waiting_subject ON runs (subject) WHERE status = 'waiting';
