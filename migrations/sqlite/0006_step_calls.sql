-- A step's external calls move into the step's own row: recording them then costs no second
-- insert on the step writer's hot path (measured: a separate `external_calls` row per call
-- cost ≈ 8 % of the onboarding benchmark at 0 ms). `calls` is a JSON array of
-- {attempt, connection, method, url, status, duration_ms, at}, every execution's calls appended
-- in order; NULL when the step made none.
ALTER TABLE steps ADD COLUMN calls TEXT;

UPDATE steps SET calls = (
    SELECT json_group_array(json_object(
        'attempt', attempt, 'connection', connection, 'method', method, 'url', url,
        'status', status, 'duration_ms', duration_ms, 'at', at))
    FROM (SELECT * FROM external_calls e
          WHERE e.run_id = steps.run_id AND e.step_idx = steps.idx
          ORDER BY execution, seq))
WHERE EXISTS (SELECT 1 FROM external_calls e WHERE e.run_id = steps.run_id AND e.step_idx = steps.idx);

DROP TABLE external_calls;
