-- Durable state of polling triggers, by trigger and key: the Entra delta poller keeps here the
-- link it requests next (`users.link`, `groups.link`: an @odata.nextLink mid-round or the
-- @odata.deltaLink between rounds) and the last seen state of each group in scope
-- (`group:<id>`), so a restart resumes where it stopped instead of reading the tenant again.
CREATE TABLE trigger_state (
    trigger     TEXT NOT NULL,            -- e.g. `entra:entra` (kind:connection)
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,            -- a link or a JSON document
    updated_at  BIGINT NOT NULL,          -- Unix ms
    PRIMARY KEY (trigger, key)
);
