-- SCIM 2.0: the resources clients (Entra, Google Workspace) push to /scim/v2, and the scope of
-- bearer tokens (an API token does not open /scim/v2, a SCIM token does not open /api/v1).

ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'api';   -- 'api' | 'scim'

-- One row per User or Group. `body` is the resource's attributes as stored (JSON, with
-- `schemas`, without `id` and `meta`); the other columns are what requests look resources up by.
CREATE TABLE scim_resources (
    id             TEXT PRIMARY KEY,           -- the SCIM id (UUIDv7)
    resource_type  TEXT NOT NULL,              -- 'User' | 'Group'
    name_key       TEXT NOT NULL,              -- userName / displayName, lower-cased: unique per type
    external_id    TEXT,
    subject_id     TEXT,                       -- User: the person's id in the observations it makes
    body           TEXT NOT NULL,
    version        BIGINT NOT NULL,           -- meta.version; every write adds one
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX scim_resources_name ON scim_resources (resource_type, name_key);
CREATE INDEX scim_resources_external ON scim_resources (resource_type, external_id);
CREATE INDEX scim_resources_order ON scim_resources (resource_type, created_at, id);
CREATE UNIQUE INDEX scim_resources_subject ON scim_resources (subject_id) WHERE subject_id IS NOT NULL;
