-- A step's external calls move into the step's own row: recording them then costs no second
-- insert on the step writer's hot path (measured: a separate `external_calls` row per call
-- cost ≈ 8 % of the onboarding benchmark at 0 ms). `calls` is a JSON array of
-- {attempt, connection, method, url, status, duration_ms, at}, every execution's calls appended
-- in order; NULL when the step made none.
ALTER TABLE steps ADD COLUMN calls TEXT;

-- (No data to move: PostgreSQL support began after this migration, so its table is empty.)
DROP TABLE external_calls;
